// The machine side of the benchmark: cores to pin to, free ports, process memory.
import { createServer, connect } from 'node:net';
import { availableParallelism, cpus, release, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Broker on one core, load generator on another, so neither steals the other's CPU. With a
 * single core there is nothing to separate and both run unpinned.
 */
export function pinning() {
  const allowed = allowedCpus();
  const n = allowed.length || availableParallelism();
  if (allowed.length < 2 || !hasCommand('taskset')) return { broker: null, generator: null, cores: n };
  return { broker: allowed[allowed.length - 1], generator: allowed[0], cores: n };
}

/** CPUs this process may run on (a container or cgroup may allow only some), e.g. "0-1,4". */
function allowedCpus() {
  try {
    const m = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (!m) return [];
    return m[1].split(',').flatMap((part) => {
      const [a, b] = part.split('-').map(Number);
      return b === undefined ? [a] : Array.from({ length: b - a + 1 }, (_, i) => a + i);
    });
  } catch {
    return [];
  }
}

/** Prefixes a command with `taskset -c <core>` when a core is given. */
export function pinned(core, argv) {
  return core === null ? argv : ['taskset', '-c', String(core), ...argv];
}

export function hasCommand(name) {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export async function waitForPort(port, timeoutMs = 15000, isAlive = () => true) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (!isAlive()) throw new Error('exited before listening');
    if (Date.now() > deadline) throw new Error(`nothing listening on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await sleep(10);
  }
}

/** Resident memory of a process in KB (VmRSS), or null once it is gone. */
export function rssKb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** CPU time (user + system) a process has used so far, in seconds. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return null;
  }
}

export function machine() {
  const c = cpus();
  let mosquitto = 'not installed';
  try {
    execFileSync('/usr/sbin/mosquitto', ['-h'], { encoding: 'utf8' });
  } catch (err) {
    const m = /mosquitto version (\S+)/.exec(String(err.stdout ?? ''));
    if (m) mosquitto = m[1];
  }
  let aedes = 'not installed';
  try {
    aedes = JSON.parse(readFileSync('node_modules/aedes/package.json', 'utf8')).version;
  } catch {}
  return {
    date: new Date().toISOString(),
    cpu: c[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    memoryGb: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    mosquitto,
    aedes,
    load: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
  };
}

// Node's own floor, measured the way the bench measures brokers: a bare `net` server that
// answers any bytes with a CONNACK and does nothing else. No Node broker can go below these
// figures on this machine, so they bound what mqttd's targets can reach.
// Usage: node bench/node-floor.mjs [--clients N] [--reps N] [--node-flags "<flags>"]
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildLoadgen, runLoadgen } from './lib/loadgen.mjs';
import { freePort, waitForPort, rssKb, cpuSeconds, sleep, pinning, pinned } from './lib/system.mjs';
import { summarize } from './lib/stats.mjs';

const root = resolve(fileURLToPath(import.meta.url), '..', '..');
process.chdir(root);
const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const clients = Number(opt('--clients', 5000));
const reps = Number(opt('--reps', 3));
const flags = opt('--node-flags', '').split(/\s+/).filter(Boolean);

const dir = resolve('bench', 'results', 'node-floor');
mkdirSync(dir, { recursive: true });
const server = join(dir, 'bare-server.js');
writeFileSync(
  server,
  `const ack = Buffer.from([0x20, 2, 0, 0]);
require('net').createServer((s) => { s.setNoDelay(true); s.on('data', () => s.write(ack)); s.on('error', () => {}); })
  .listen(Number(process.argv[2]), '127.0.0.1', () => console.log('listening'));
`,
);
const pin = pinning();
const loadgen = buildLoadgen(join('bench', 'results', 'bin'));
const results = { start_ms: [], start_cpu_ms: [], idle_mb: [], kb_per_conn: [], cpu_us_per_conn: [], connects_per_s: [] };

for (let r = 0; r < reps; r++) {
  const p0 = await freePort();
  const s = await runLoadgen(loadgen, ['startup', '--port', String(p0), '--cpu', String(pin.broker ?? -1), '--', process.execPath, ...flags, server, String(p0)], { core: pin.generator });
  results.start_ms.push(s.listening_ms);
  results.start_cpu_ms.push(s.cpu_ms_to_listening);

  const port = await freePort();
  const argv = pinned(pin.broker, [process.execPath, ...flags, server, String(port)]);
  const child = spawn(argv[0], argv.slice(1), { stdio: 'ignore' });
  const exited = new Promise((res) => child.once('exit', res));
  try {
    await waitForPort(port);
    await sleep(1000);
    const idle = rssKb(child.pid);
    const cpu0 = cpuSeconds(child.pid);
    let cpu1 = 0;
    let during = 0;
    const c = await runLoadgen(loadgen, ['conns', '--port', String(port), '--count', String(clients)], {
      core: pin.generator,
      onPause: async () => {
        cpu1 = cpuSeconds(child.pid);
        await sleep(1000);
        during = rssKb(child.pid);
      },
    });
    results.idle_mb.push(idle / 1024);
    results.kb_per_conn.push((during - idle) / clients);
    results.cpu_us_per_conn.push(((cpu1 - cpu0) * 1e6) / clients);
    results.connects_per_s.push(c.connects_per_s);
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
}

console.log(`Node ${process.version}${flags.length ? ` ${flags.join(' ')}` : ''}: bare net server, ${clients} idle clients, medians of ${reps} (min–max)`);
for (const [k, v] of Object.entries(results)) {
  const s = summarize(v);
  console.log(`  ${k.padEnd(16)} ${s.median.toFixed(2).padStart(10)}  (${s.min.toFixed(2)}–${s.max.toFixed(2)})`);
}

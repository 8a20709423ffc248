/**
 * A small OpenWrt-like root filesystem for running the init script under busybox ash in a
 * chroot: Debian's busybox and its libraries, the stand-ins of procd, rc.common,
 * /lib/functions.sh, procd.sh, network.sh and uci from fixtures/root (each cites the OpenWrt
 * source it follows), and the real files/etc/init.d/mqttd at its real path. With `broker`,
 * also node and the real bundle at /usr/lib/mqttd, so the procd stand-in runs the real
 * broker from the command line the init script registered.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { hasCommand, underCi } from '../helpers/processes';

export const REPO = join(__dirname, '..', '..', '..');
const FIXTURES = join(REPO, 'test', 'openwrt', 'fixtures', 'root');
/** The init script as shipped in 0.1.0, whose reload never restarted the broker. */
export const LEGACY_INIT_SCRIPT = join(REPO, 'test', 'openwrt', 'fixtures', 'legacy', 'init.d-mqttd-0.1.0');

/** Whether this machine can run the chroot tests (root and busybox); under CI it must. */
export function canChroot(): boolean {
  if (!hasCommand('busybox')) return false;
  if (process.getuid?.() !== 0) {
    if (underCi()) throw new Error('the init script tests need root (chroot) under CI');
    return false;
  }
  return true;
}

function copyWithLibraries(root: string, binary: string): void {
  mkdirSync(join(root, dirname(binary)), { recursive: true });
  copyFileSync(binary, join(root, binary));
  const ldd = execFileSync('ldd', [binary], { encoding: 'utf8' });
  for (const m of ldd.matchAll(/(\/[^\s]+\.so[^\s]*)/g)) {
    mkdirSync(join(root, dirname(m[1])), { recursive: true });
    if (!existsSync(join(root, m[1]))) copyFileSync(m[1], join(root, m[1]));
  }
}

export interface OpenwrtRoot {
  root: string;
  /** Runs `/etc/init.d/mqttd <action>` inside the chroot; returns its output. */
  initd(action: string, env?: Record<string, string>): { status: number; stdout: string; stderr: string };
  /** Runs any command inside the chroot (e.g. `/sbin/procd event ...`). */
  run(argv: string[], env?: Record<string, string>): { status: number; stdout: string; stderr: string };
  write(path: string, text: string, mode?: number): void;
  read(path: string): string;
  /** procd calls recorded since the last call, one array of words per call. */
  takeProcdCalls(): string[][];
  /** The pid of the mqttd instance the procd stand-in runs, if it runs. */
  pid(): number | undefined;
  /** Lines syslogd received (with `syslog`), as "<facility>.<priority> <tag>: <text>". */
  syslog(): string[];
  /** Kills everything running in the chroot and unmounts /proc. */
  close(): void;
}

const roots = new Set<OpenwrtRoot>();
process.on('exit', () => {
  for (const r of roots) r.close();
});

export interface RootOptions {
  /** node, the bundle and /proc, so the registered command really runs. */
  broker?: boolean;
  /** busybox syslogd on /dev/log, writing what it receives for `syslog()`. */
  syslog?: boolean;
  /** The init script to install; the shipped one by default. */
  initScript?: string;
}

/** Processes whose root directory is `root`: what the chroot started. */
function processesIn(root: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readlinkSync(`/proc/${name}/root`) === root) out.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

export function makeOpenwrtRoot(uciConfig: string, networks: string, options: RootOptions = {}): OpenwrtRoot {
  const root = mkdtempSync(join(tmpdir(), 'mqttd-openwrt-'));
  // The broker runs as user mqttd in there: / must be searchable.
  chmodSync(root, 0o755);
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'usr/lib/mqttd', 'tmp', 'var/run', 'var/log', 'var/lock', 'etc/config', 'etc/init.d', 'etc/rc.d', 'etc/mqttd', 'proc']) {
    mkdirSync(join(root, d), { recursive: true });
  }
  chmodSync(join(root, 'tmp'), 0o1777);
  mkdirSync(join(root, 'dev'));
  // A real /dev/null where mknod is allowed; a plain file sink where it is not.
  if (spawnSync('mknod', ['-m', '666', join(root, 'dev/null'), 'c', '1', '3']).status !== 0) {
    writeFileSync(join(root, 'dev/null'), '', { mode: 0o666 });
  }
  copyWithLibraries(root, '/usr/bin/busybox');
  copyFileSync(join(root, 'usr/bin/busybox'), join(root, 'bin/busybox'));
  execFileSync('chroot', [root, '/bin/busybox', '--install', '-s']);
  cpSync(FIXTURES, root, { recursive: true });
  copyFileSync(options.initScript ?? join(REPO, 'files/etc/init.d/mqttd'), join(root, 'etc/init.d/mqttd'));
  chmodSync(join(root, 'etc/init.d/mqttd'), 0o755);
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/ash\nmqttd:x:1883:1883:mqttd:/var/run/mqttd:/bin/false\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nmqttd:x:1883:\n');
  writeFileSync(join(root, 'etc/config/mqttd'), uciConfig);
  writeFileSync(join(root, 'etc/test-networks'), networks);
  writeFileSync(join(root, 'etc/mqttd/passwd'), '', { mode: 0o600 });
  writeFileSync(join(root, 'etc/mqttd/acl'), 'topic read #\n', { mode: 0o600 });
  let mounted = false;
  let syslogd: ChildProcess | undefined;
  if (options.broker) {
    copyWithLibraries(root, process.execPath);
    if (process.execPath !== '/usr/bin/node') symlinkSync(process.execPath, join(root, 'usr/bin/node'));
    for (const c of ['mqttd', 'mqttd_pub', 'mqttd_sub', 'mqttd_passwd']) {
      copyFileSync(join(REPO, 'dist', `${c}.js`), join(root, 'usr/lib/mqttd', `${c}.js`));
      chmodSync(join(root, 'usr/lib/mqttd', `${c}.js`), 0o755);
      rmSync(join(root, 'usr/bin', c), { force: true });
      symlinkSync(`../lib/mqttd/${c}.js`, join(root, 'usr/bin', c));
    }
    // The init script reads /proc/<pid>/status before it signals; node reads /proc too.
    execFileSync('mount', ['-t', 'proc', 'proc', join(root, 'proc')]);
    mounted = true;
  }
  if (options.syslog) {
    writeFileSync(join(root, 'var/log/messages'), '');
    syslogd = spawn('chroot', [root, '/sbin/syslogd', '-n', '-O', '/var/log/messages'], { stdio: 'ignore' });
    // It creates /dev/log before it reads; wait for that.
    const deadline = Date.now() + 5000;
    while (!existsSync(join(root, 'dev/log')) && Date.now() < deadline) spawnSync('sleep', ['0.05']);
  }
  let seen = 0;
  const run = (argv: string[], env: Record<string, string> = {}) => {
    const r = spawnSync('chroot', [root, ...argv], {
      encoding: 'utf8',
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
      timeout: 60_000,
    });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const box: OpenwrtRoot = {
    root,
    run,
    initd: (action, env) => run(['/etc/init.d/mqttd', action], env),
    write(path, text, mode) {
      writeFileSync(join(root, path), text, mode === undefined ? undefined : { mode });
    },
    read(path) {
      return readFileSync(join(root, path), 'utf8');
    },
    takeProcdCalls() {
      let lines: string[];
      try {
        lines = readFileSync(join(root, 'tmp/procd.log'), 'utf8').split('\n').filter((l) => l !== '');
      } catch {
        lines = [];
      }
      const fresh = lines.slice(seen);
      seen = lines.length;
      return fresh.map((l) => l.split('\t'));
    },
    pid() {
      try {
        const n = Number(readFileSync(join(root, 'var/run/procd/mqttd/instance1/pid'), 'utf8').trim());
        if (!Number.isInteger(n) || n <= 0) return undefined;
        process.kill(n, 0);
        return n;
      } catch {
        return undefined;
      }
    },
    syslog() {
      // busybox syslogd: "<date> <host> <facility>.<priority> <tag>: <text>".
      return readFileSync(join(root, 'var/log/messages'), 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => l.replace(/^\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ /, ''));
    },
    close() {
      if (!roots.delete(box)) return;
      syslogd?.kill('SIGKILL');
      for (let round = 0; round < 3; round++) {
        const pids = processesIn(root);
        if (pids.length === 0) break;
        for (const p of pids) {
          try {
            process.kill(p, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        spawnSync('sleep', ['0.1']);
      }
      // Never remove files under a /proc that is still mounted.
      if (mounted && spawnSync('umount', ['-l', join(root, 'proc')]).status !== 0) return;
      rmSync(root, { recursive: true, force: true });
    },
  };
  roots.add(box);
  return box;
}

/** What a procd instance registration holds, in the order the script set it. */
export interface Registration {
  command: string[];
  params: Map<string, string[]>;
  mdns?: string[];
  reloadTriggers: string[][];
  interfaceTriggers: string[][];
}

export function registrationOf(calls: string[][]): Registration {
  const reg: Registration = { command: [], params: new Map(), reloadTriggers: [], interfaceTriggers: [] };
  for (const [call, ...args] of calls) {
    if (call === 'set_param' && args[0] === 'command') reg.command = args.slice(1);
    else if (call === 'set_param') reg.params.set(args[0], args.slice(1));
    else if (call === 'append_param' && args[0] === 'command') reg.command.push(...args.slice(1));
    else if (call === 'add_mdns') reg.mdns = args;
    else if (call === 'add_reload_trigger') reg.reloadTriggers.push(args);
    else if (call === 'add_interface_trigger') reg.interfaceTriggers.push(args);
  }
  return reg;
}

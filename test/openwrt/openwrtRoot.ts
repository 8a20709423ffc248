/**
 * A tiny OpenWrt-like root filesystem for running the init script under busybox ash in a
 * chroot: Debian's busybox and its libraries, the procd/UCI/network test doubles from
 * fixtures/root, and the real files/etc/init.d/mqttd at its real path.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { hasCommand } from '../helpers/processes';

export const REPO = join(__dirname, '..', '..', '..');
const FIXTURES = join(REPO, 'test', 'openwrt', 'fixtures', 'root');

/** Whether this machine can run the chroot tests (root and busybox); under CI it must. */
export function canChroot(): boolean {
  if (!hasCommand('busybox')) return false;
  if (process.getuid?.() !== 0) {
    if (process.env.CI === 'true') throw new Error('the init script tests need root (chroot) under CI');
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
    copyFileSync(m[1], join(root, m[1]));
  }
}

export interface OpenwrtRoot {
  root: string;
  /** Runs `/etc/init.d/mqttd <action>` inside the chroot; returns its output. */
  initd(action: string): { status: number; stdout: string; stderr: string };
  write(path: string, text: string, mode?: number): void;
  read(path: string): string;
  /** procd calls recorded since the last call, one array of words per call. */
  takeProcdCalls(): string[][];
}

const roots: string[] = [];
process.on('exit', () => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

export function makeOpenwrtRoot(uciConfig: string, networks: string): OpenwrtRoot {
  const root = mkdtempSync(join(tmpdir(), 'mqttd-openwrt-'));
  roots.push(root);
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'tmp', 'var/run', 'etc/config', 'etc/init.d', 'etc/mqttd']) {
    mkdirSync(join(root, d), { recursive: true });
  }
  mkdirSync(join(root, 'dev'));
  // A real /dev/null where mknod is allowed; a plain file sink where it is not.
  if (spawnSync('mknod', ['-m', '666', join(root, 'dev/null'), 'c', '1', '3']).status !== 0) {
    writeFileSync(join(root, 'dev/null'), '', { mode: 0o666 });
  }
  copyWithLibraries(root, '/usr/bin/busybox');
  copyFileSync(join(root, 'usr/bin/busybox'), join(root, 'bin/busybox'));
  execFileSync('chroot', [root, '/bin/busybox', '--install', '-s']);
  cpSync(FIXTURES, root, { recursive: true });
  copyFileSync(join(REPO, 'files/etc/init.d/mqttd'), join(root, 'etc/init.d/mqttd'));
  chmodSync(join(root, 'etc/init.d/mqttd'), 0o755);
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/ash\nmqttd:x:1883:1883:mqttd:/var/run/mqttd:/bin/false\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nmqttd:x:1883:\n');
  writeFileSync(join(root, 'etc/config/mqttd'), uciConfig);
  writeFileSync(join(root, 'etc/test-networks'), networks);
  writeFileSync(join(root, 'etc/mqttd/passwd'), '', { mode: 0o600 });
  writeFileSync(join(root, 'etc/mqttd/acl'), 'topic read #\n', { mode: 0o600 });
  let seen = 0;
  return {
    root,
    initd(action) {
      const r = spawnSync('chroot', [root, '/etc/init.d/mqttd', action], {
        encoding: 'utf8',
        env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
      });
      return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    },
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
  };
}

/** What a procd instance registration holds, in the order the script set it. */
export interface Registration {
  command: string[];
  params: Map<string, string[]>;
  mdns?: string[];
  reloadTriggers: string[][];
  interfaceTriggers: string[][];
  fileMd5: Map<string, string>;
}

export function registrationOf(calls: string[][]): Registration {
  const reg: Registration = { command: [], params: new Map(), reloadTriggers: [], interfaceTriggers: [], fileMd5: new Map() };
  for (const [call, ...args] of calls) {
    if (call === 'set_param' && args[0] === 'command') reg.command = args.slice(1);
    else if (call === 'set_param') reg.params.set(args[0], args.slice(1));
    else if (call === 'append_param' && args[0] === 'command') reg.command.push(...args.slice(1));
    else if (call === 'add_mdns') reg.mdns = args;
    else if (call === 'add_reload_trigger') reg.reloadTriggers.push(args);
    else if (call === 'add_interface_trigger') reg.interfaceTriggers.push(args);
    else if (call === 'file_md5') reg.fileMd5.set(args[0], args[1]);
  }
  return reg;
}

/**
 * What procd does on `reload` with a new registration for a running instance: restart when
 * anything differs (command, params, a watched file's checksum), else send reload_signal.
 */
export function procdReloadAction(before: Registration, after: Registration): string {
  const same =
    JSON.stringify(before.command) === JSON.stringify(after.command) &&
    JSON.stringify([...before.params]) === JSON.stringify([...after.params]) &&
    JSON.stringify([...before.fileMd5]) === JSON.stringify([...after.fileMd5]) &&
    JSON.stringify(before.mdns) === JSON.stringify(after.mdns);
  return same ? `signal ${after.params.get('reload_signal')?.[0] ?? 'none'}` : 'restart';
}

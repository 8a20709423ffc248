/**
 * Runs OpenWrt shell pieces (the rpcd plugin) the way the router does: busybox ash, with a
 * PATH where every tool is a busybox applet, plus node and mqttd_passwd.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from './openwrtRoot';
import { underCi } from '../helpers/processes';

export const PLUGIN = join(REPO, 'luci/root/usr/libexec/rpcd/mqttd');
export const MQTTD_PASSWD_JS = join(REPO, 'dist/mqttd_passwd.js');
export const MQTTD_JS = join(REPO, 'dist/mqttd.js');

/** Whether the bundle is built; under CI its absence fails the run (as hasCommand does for a tool), never skips. */
export function hasBundle(): boolean {
  if (existsSync(MQTTD_JS)) return true;
  if (underCi()) throw new Error(`${MQTTD_JS} is required under CI: run npm run build first`);
  return false;
}

const dirs: string[] = [];
process.on('exit', () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/**
 * A bin directory of busybox applets, node, mqttd, and an mqttd_passwd that records its argv to
 * argv.log (so tests can prove no password is ever passed as an argument) and runs the real
 * one: dist/mqttd_passwd.js when built, else mosquitto_passwd, whose syntax it shares.
 */
export function routerPath(): { bin: string; argvLog: string } {
  const bin = tempDir('mqttd-bin-');
  const list = spawnSync('busybox', ['--list'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  for (const applet of list) symlinkSync('/usr/bin/busybox', join(bin, applet));
  symlinkSync(process.execPath, join(bin, 'node'));
  const argvLog = join(bin, 'argv.log');
  const real = existsSync(MQTTD_PASSWD_JS) ? `${process.execPath} ${MQTTD_PASSWD_JS}` : '/usr/bin/mosquitto_passwd';
  writeFileSync(join(bin, 'mqttd_passwd'), `#!/bin/sh\necho "$*" >> ${argvLog}\nexec ${real} "$@"\n`);
  chmodSync(join(bin, 'mqttd_passwd'), 0o755);
  // The broker's command, for `mqttd --check-acl` (the ACL rules the broker applies).
  writeFileSync(join(bin, 'mqttd'), `#!/bin/sh\nexec ${process.execPath} ${MQTTD_JS} "$@"\n`);
  chmodSync(join(bin, 'mqttd'), 0o755);
  return { bin, argvLog };
}

export interface PluginFiles {
  passwd: string;
  acl: string;
  status: string;
}

export function pluginFiles(): PluginFiles {
  const dir = tempDir('mqttd-etc-');
  mkdirSync(dir, { recursive: true });
  return { passwd: join(dir, 'passwd'), acl: join(dir, 'acl'), status: join(dir, 'status.json') };
}

/**
 * `mqttd call <method>` with the request on stdin, as rpcd runs it; returns parsed JSON. A
 * Buffer request is sent byte for byte. The reply must be valid UTF-8 and valid JSON.
 */
export function callPlugin(bin: string, files: PluginFiles, method: string, request: string | object | Buffer = {}): Record<string, unknown> {
  const input = Buffer.isBuffer(request) ? request : typeof request === 'string' ? request : JSON.stringify(request);
  const r = spawnSync('/usr/bin/busybox', ['ash', PLUGIN, 'call', method], {
    input,
    env: {
      PATH: bin,
      MQTTD_PASSWORD_FILE: files.passwd,
      MQTTD_ACL_FILE: files.acl,
      MQTTD_STATUS_FILE: files.status,
    },
  });
  if (r.status !== 0) throw new Error(`plugin exited ${r.status}: ${r.stderr.toString()}`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(r.stdout);
  } catch {
    throw new Error(`plugin printed bytes that are not UTF-8 for ${method}: ${r.stdout.toString('latin1')}`);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`plugin printed invalid JSON for ${method}: ${text}\n${r.stderr.toString()}`);
  }
}

export function listPlugin(): Record<string, unknown> {
  const r = spawnSync('/usr/bin/busybox', ['ash', PLUGIN, 'list'], { encoding: 'utf8' });
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

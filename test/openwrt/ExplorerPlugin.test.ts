import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitForPort } from '../helpers/ports';
import { hasCommand, startProcess, type RunningProcess } from '../helpers/processes';
import { REPO } from './openwrtRoot';
import { hasBundle, MQTTD_JS, routerPath, tempDir } from './routerShell';

// The rpcd plugin mqttd.explorer under busybox ash, as rpcd runs it (`call <method>`, the
// ubus arguments on stdin), forwarding to a real mqttd's control endpoint with busybox wget.

const PLUGIN = join(REPO, 'luci/root/usr/libexec/rpcd/mqttd.explorer');
const skip = !(hasCommand('busybox') && hasCommand('mosquitto_sub')) ? 'needs busybox and mosquitto-clients' : !hasBundle() && 'needs dist/mqttd.js (npm run build)';

let bin = '';
let wgetLog = '';
let controlFile = '';
let broker: RunningProcess;
let port = 0;

function call(method: string, request: object | string, file = controlFile): Record<string, unknown> {
  const r = spawnSync('/usr/bin/busybox', ['ash', PLUGIN, 'call', method], {
    input: typeof request === 'string' ? request : JSON.stringify(request),
    encoding: 'utf8',
    env: { PATH: bin, MQTTD_CONTROL_FILE: file },
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

before(async () => {
  if (skip) return;
  ({ bin } = routerPath());
  // wget records its arguments, then is busybox's: the secret must never be among them.
  wgetLog = join(bin, 'wget.log');
  rmSync(join(bin, 'wget'));
  writeFileSync(join(bin, 'wget'), `#!/bin/sh\necho "$*" >> ${wgetLog}\nexec /usr/bin/busybox wget "$@"\n`);
  chmodSync(join(bin, 'wget'), 0o755);
  const dir = tempDir('mqttd-explorer-');
  controlFile = join(dir, 'control');
  port = await freePort();
  writeFileSync(join(dir, 'mqttd.conf'), `listener ${port} 127.0.0.1\nallow_anonymous true\ncontrol_file ${controlFile}\n`);
  broker = startProcess(process.execPath, [MQTTD_JS, '-c', join(dir, 'mqttd.conf')]);
  await waitForPort(port);
  for (let i = 0; i < 200 && !existsSync(controlFile); i++) await new Promise((r) => setTimeout(r, 25));
});

after(async () => {
  await broker?.stop();
});

test('explorer plugin: list names exactly the methods its rpcd ACL grants', { skip }, () => {
  const r = spawnSync('/usr/bin/busybox', ['ash', PLUGIN, 'list'], { encoding: 'utf8' });
  const methods = Object.keys(JSON.parse(r.stdout) as object).sort();
  const acl = JSON.parse(readFileSync(join(REPO, 'luci/root/usr/share/rpcd/acl.d/luci-app-mqttd-explorer.json'), 'utf8')) as Record<
    string,
    Record<'read' | 'write', { ubus: Record<string, string[]> }>
  >;
  const group = acl['luci-app-mqttd-explorer'];
  assert.deepEqual(methods, [...group.read.ubus['mqttd.explorer'], ...group.write.ubus['mqttd.explorer']].sort());
});

test('explorer plugin: a publish reaches a real subscriber; the secret is never in a process argument', { skip }, async () => {
  const sub = startProcess('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-t', 'plugin/test', '-C', '1', '-W', '5', '-v']);
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(call('publish', { topic: 'plugin/test', payload: 'from rpcd', ubus_rpc_session: 'abc' }), { result: 'published' });
  await sub.exited;
  assert.equal(sub.output(), 'plugin/test from rpcd\n');
  const token = readFileSync(controlFile, 'utf8').split('\n')[1];
  assert.ok(token.length >= 32);
  assert.match(readFileSync(wgetLog, 'utf8'), /--post-file=/);
  assert.equal(readFileSync(wgetLog, 'utf8').includes(token), false);
});

test('explorer plugin: refuses an unknown method, a missing or non-local control file, and says when the broker is gone', { skip }, () => {
  assert.deepEqual(call('shutdown', {}), { error: 'unknown method' });
  assert.deepEqual(call('clients', {}, '/nonexistent/control'), { error: 'mqttd is not running, or its control_file is not set' });
  const dir = tempDir('mqttd-explorer-bad-');
  const remote = join(dir, 'control');
  writeFileSync(remote, 'http://192.0.2.1:80/\nsecret\n');
  assert.deepEqual(call('clients', {}, remote), { error: 'the control file does not name a local endpoint' });
  // A stale file (broker gone): a clear message, not a hang or invalid JSON.
  const stale = join(dir, 'stale');
  writeFileSync(stale, `http://127.0.0.1:${port === 1 ? 2 : 1}/\nsecret\n`);
  assert.deepEqual(call('clients', {}, stale), { error: 'the broker did not answer (is mqttd running?)' });
  // The broker's own refusals pass through as they are.
  assert.deepEqual(call('publish', { topic: 'a/#' }), { error: 'invalid topic name (no +, # or NUL; 1 to 65535 bytes)' });
});

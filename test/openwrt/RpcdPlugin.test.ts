import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitForPort } from '../helpers/ports';
import { hasCommand, startProcess, type RunningProcess } from '../helpers/processes';
import { REPO } from './openwrtRoot';
import { hasBundle, MQTTD_JS, callPlugin, listPlugin, pluginFiles, routerPath, tempDir, type PluginFiles } from './routerShell';

const skip = !(hasCommand('busybox') && hasCommand('mosquitto_sub') && hasCommand('mosquitto_pub')) && 'needs busybox and mosquitto-clients';

let bin = '';
let argvLog = '';
let files: PluginFiles;
let broker: RunningProcess | undefined;
let port = 0;

/**
 * The broker the plugin manages: mqttd (dist/mqttd.js), with passwd, ACL and status file.
 * The plugin finds its pid in the status file and signals HUP after every edit.
 */
async function startBroker(): Promise<void> {
  port = await freePort();
  const dir = tempDir('mqttd-broker-');
  const conf = join(dir, 'mqttd.conf');
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous false',
      `password_file ${files.passwd}`,
      `acl_file ${files.acl}`,
      `status_file ${files.status}`,
      'sys_interval 1',
      '',
    ].join('\n'),
  );
  broker = startProcess(process.execPath, [MQTTD_JS, '-c', conf]);
  await waitForPort(port);
  // The status file names the pid the plugin will signal.
  for (let i = 0; i < 200 && !existsSync(files.status); i++) await new Promise((r) => setTimeout(r, 25));
}

/** mosquitto_sub -E: connects, subscribes and exits; status 0 only if the broker accepted. */
function connects(user: string, password: string): { status: number | null; out: string } {
  const r = spawnSync('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-u', user, '-P', password, '-t', 'x', '-E'], {
    encoding: 'utf8',
  });
  return { status: r.status, out: r.stdout + r.stderr };
}

function publish(user: string, password: string, topic: string, message: string): void {
  const r = spawnSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-u', user, '-P', password, '-t', topic, '-m', message, '-q', '1', '-r'], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
}

/** Polls until the broker has applied a reload (the plugin's HUP is asynchronous). */
async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`never happened: ${what}`);
}

before(async () => {
  if (skip) return;
  ({ bin, argvLog } = routerPath());
  files = pluginFiles();
  writeFileSync(files.passwd, '# users\n', { mode: 0o640 });
  writeFileSync(files.acl, 'pattern readwrite users/%u/#\n', { mode: 0o640 });
  if (existsSync(MQTTD_JS)) await startBroker();
});

after(async () => {
  await broker?.stop();
});

test('list: exactly the methods that acl.d grants', { skip }, () => {
  const methods = Object.keys(listPlugin()).sort();
  assert.deepEqual(methods, ['add_user', 'delete_user', 'get_acl', 'list_users', 'set_acl', 'set_password', 'status']);
  const acl = JSON.parse(readFileSync(join(REPO, 'luci/root/usr/share/rpcd/acl.d/luci-app-mqttd.json'), 'utf8')) as Record<
    string,
    { read: { ubus: Record<string, string[]>; uci: string[] }; write: { ubus: Record<string, string[]>; uci: string[] } }
  >;
  const grant = acl['luci-app-mqttd'];
  const granted = [...grant.read.ubus.mqttd, ...grant.write.ubus.mqttd].sort();
  assert.deepEqual(granted, methods);
  assert.deepEqual(grant.read.ubus.mqttd.sort(), ['get_acl', 'list_users', 'status']);
  assert.deepEqual(grant.read.uci, ['mqttd']);
  assert.deepEqual(grant.write.uci, ['mqttd']);
});

test('hostile inputs get a clear error and leave passwd and ACL byte for byte as they were', { skip }, () => {
  callPlugin(bin, files, 'add_user', { username: 'keeper', password: 'pw' });
  const passwdBefore = readFileSync(files.passwd);
  const aclBefore = readFileSync(files.acl);
  const cases: [string, string | object | Buffer, RegExp][] = [
    ['add_user', { username: 'a:b', password: 'x' }, /cannot contain ':'/],
    ['add_user', { username: 'a\nb', password: 'x' }, /control characters or newlines/],
    ['add_user', { username: 'a\u0001b', password: 'x' }, /control characters/],
    ['add_user', { username: 'a\u0000b', password: 'x' }, /NUL/],
    ['add_user', { username: '', password: 'x' }, /username is required/],
    ['add_user', { username: ' pad', password: 'x' }, /start or end with a space/],
    ['add_user', { username: '#x', password: 'x' }, /start with '#'/],
    ['add_user', { username: 'new', password: 'two\nlines' }, /password cannot contain/],
    ['add_user', { username: 'new', password: '' }, /password is required/],
    ['add_user', { username: 'new' }, /password is required/],
    ['add_user', { username: 'keeper', password: 'pw2' }, /already exists/],
    ['set_password', { username: 'ghost', password: 'pw' }, /no user 'ghost'/],
    ['delete_user', { username: 'ghost' }, /no user 'ghost'/],
    ['add_user', { username: 5, password: 'x' }, /must be a string/],
    ['add_user', '{"username":"x"', /unterminated|expected/],
    ['add_user', '["x"]', /expected a JSON object/],
    ['add_user', '{"username":"x","password":"y"} trailing', /text after the object/],
    // The broker's own reader (mqttd --check-acl) judges the ACL: its messages, its lines.
    ['set_acl', { acl: 'topic read a/#/b\n' }, /ACL line 1: invalid topic filter: "#" must be a whole level/],
    ['set_acl', { acl: 'user bob\ntopic write a+/b\n' }, /ACL line 2: invalid topic filter: "\+" must be a whole level/],
    ['set_acl', { acl: 'topic read ok\nallow all\n' }, /ACL line 2: unknown keyword "allow"/],
    ['set_acl', { acl: 'topic reed x\n' }, /ACL line 1: unknown access "reed"/],
    ['set_acl', { acl: 'user\n' }, /"user" needs a username/],
    ['set_acl', { acl: 'topic read \u0007bell\n' }, /control character/],
    // Not UTF-8, or half a surrogate pair: refused before anything is written.
    ['set_acl', Buffer.from('{"acl":"topic read caf\xe9\\n"}', 'latin1'), /not UTF-8/],
    ['add_user', Buffer.from('{"username":"\xff\xfe","password":"x"}', 'latin1'), /not UTF-8/],
    ['add_user', Buffer.from('{"username":"\xed\xa0\x80","password":"x"}', 'latin1'), /not UTF-8/],
    ['add_user', '{"username":"\\ud800","password":"x"}', /half of a surrogate pair/],
    ['add_user', '{"username":"a\\udc00b","password":"x"}', /half of a surrogate pair/],
    ['set_acl', {}, /acl is required/],
    ['set_acl', { acl: 'topic read #\n'.repeat(6000) }, /request too large/],
    ['no_such_method', {}, /unknown method/],
  ];
  for (const [method, request, expected] of cases) {
    const reply = callPlugin(bin, files, method, request);
    assert.match(String(reply.error), expected, `${method} ${String(JSON.stringify(request)).slice(0, 80)} -> ${JSON.stringify(reply)}`);
  }
  assert.deepEqual(readFileSync(files.passwd), passwdBefore);
  assert.deepEqual(readFileSync(files.acl), aclBefore);
  assert.equal(callPlugin(bin, files, 'set_acl', { acl: 'user bob\ntopic write a+/b\n' }).line, 2);
  callPlugin(bin, files, 'delete_user', { username: 'keeper' });
});

test('users: add, list, change password and delete keep other lines and mode 0640; no password in argv', { skip }, () => {
  assert.deepEqual(callPlugin(bin, files, 'add_user', { username: 'zoë "z"', password: 'pässword-1' }), { result: 'added' });
  assert.deepEqual(callPlugin(bin, files, 'add_user', { username: 'other', password: 'secret-2' }), { result: 'added' });
  assert.deepEqual((callPlugin(bin, files, 'list_users').users as unknown[]).map((u) => (u as { username: string }).username), ['zoë "z"', 'other']);
  assert.deepEqual(callPlugin(bin, files, 'set_password', { username: 'other', password: 'secret-3' }), { result: 'changed' });
  assert.deepEqual(callPlugin(bin, files, 'delete_user', { username: 'zoë "z"' }), { result: 'deleted' });
  const text = readFileSync(files.passwd, 'utf8');
  assert.match(text, /^# users\nother:\$7\$/);
  assert.equal(statSync(files.passwd).mode & 0o777, 0o640);
  const argv = readFileSync(argvLog, 'utf8');
  for (const secret of ['pässword-1', 'secret-2', 'secret-3']) assert.ok(!argv.includes(secret), argv);
  callPlugin(bin, files, 'delete_user', { username: 'other' });
});

test('ACL: get and set round-trip the text; mode 0640', { skip }, () => {
  const acl = '# sensors\ntopic read public/#\n\nuser alice\ntopic readwrite home/+/temp\npattern write devices/%c/state\n';
  assert.deepEqual(callPlugin(bin, files, 'set_acl', { acl }), { result: 'saved' });
  assert.equal(readFileSync(files.acl, 'utf8'), acl);
  assert.equal(callPlugin(bin, files, 'get_acl').acl, acl.replace(/\n$/, ''));
  assert.equal(statSync(files.acl).mode & 0o777, 0o640);
});

test('delete_user treats the name as data: backslashes, awk escapes and regex characters', { skip }, () => {
  const names = ['HOME\\alice', 'back\\slash', 'back\\\\slash', 'tab\\tname', 'dot.star*', 'a[b]', '^caret$', 'per%cent'];
  for (const username of names) assert.deepEqual(callPlugin(bin, files, 'add_user', { username, password: 'pw' }), { result: 'added' }, username);
  const listed = () => (callPlugin(bin, files, 'list_users').users as { username: string }[]).map((u) => u.username);
  assert.deepEqual(listed(), names);
  // Each delete removes exactly that user: `back\\slash` must not take `back\slash` with it.
  const left = [...names];
  for (const username of ['back\\\\slash', 'HOME\\alice', 'dot.star*', 'tab\\tname', 'a[b]', '^caret$', 'per%cent', 'back\\slash']) {
    assert.deepEqual(callPlugin(bin, files, 'delete_user', { username }), { result: 'deleted' }, username);
    left.splice(left.indexOf(username), 1);
    assert.deepEqual(listed(), left, `after deleting ${username}`);
  }
});

test('files holding bytes that are not UTF-8: get_acl and list_users still print valid JSON (U+FFFD for each bad byte)', { skip }, () => {
  const passwdBefore = readFileSync(files.passwd);
  const aclBefore = readFileSync(files.acl);
  try {
    writeFileSync(files.passwd, Buffer.concat([Buffer.from('# users\n'), Buffer.from('caf\xe9:$7$101$a$b\n', 'latin1'), Buffer.from('\xed\xa0\x80x:$7$101$a$b\nok:$7$101$a$b\n', 'latin1')]));
    writeFileSync(files.acl, Buffer.from('user caf\xe9\ntopic read \xff/#\n', 'latin1'));
    assert.deepEqual(
      (callPlugin(bin, files, 'list_users').users as { username: string }[]).map((u) => u.username),
      ['caf\ufffd', '\ufffd\ufffd\ufffdx', 'ok'],
    );
    assert.equal(callPlugin(bin, files, 'get_acl').acl, 'user caf\ufffd\ntopic read \ufffd/#');
  } finally {
    writeFileSync(files.passwd, passwdBefore);
    writeFileSync(files.acl, aclBefore);
  }
});

test("set_acl takes every line the broker reads, such as 'topic read' (readwrite on the topic named read)", { skip }, () => {
  const aclBefore = readFileSync(files.acl);
  try {
    for (const acl of ['topic read\n', 'pattern write\n', 'user bob\ntopic deny\ntopic readwrite\n', 'topic read a b/#\n']) {
      assert.deepEqual(callPlugin(bin, files, 'set_acl', { acl }), { result: 'saved' }, acl);
      assert.equal(readFileSync(files.acl, 'utf8'), acl);
    }
  } finally {
    writeFileSync(files.acl, aclBefore);
  }
});

const noBroker = skip || (!hasBundle() && 'needs dist/mqttd.js (npm run build)');

test('end to end: an added user connects, an ACL rule is enforced, a deleted user is refused after the reload', { skip: noBroker }, async () => {
  assert.deepEqual(callPlugin(bin, files, 'add_user', { username: 'alice', password: 'alice-pw' }), { result: 'added' });
  assert.deepEqual(callPlugin(bin, files, 'add_user', { username: 'bob', password: 'bob-pw' }), { result: 'added' });
  assert.deepEqual(
    callPlugin(bin, files, 'set_acl', { acl: 'user alice\ntopic read sensors/#\nuser bob\ntopic write sensors/#\ntopic write private/#\n' }),
    { result: 'saved' },
  );
  {
    // The HUP is asynchronous: wait until alice's credentials work.
    await eventually(() => connects('alice', 'alice-pw').status === 0, 'alice can connect');
    // Retained, so no race with the subscription: alice asks for everything, and the
    // ACL lets her read sensors/# only.
    publish('bob', 'bob-pw', 'private/diary', 'hidden');
    publish('bob', 'bob-pw', 'sensors/temp', '21.5');
    const all = spawnSync('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-u', 'alice', '-P', 'alice-pw', '-t', '#', '-v', '-C', '1', '-W', '10'], {
      encoding: 'utf8',
    });
    assert.equal(all.status, 0, all.stderr);
    assert.equal(all.stdout, 'sensors/temp 21.5\n');
    // A filter she can never read is refused in the SUBACK.
    const denied = spawnSync('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-u', 'alice', '-P', 'alice-pw', '-t', 'private/#', '-C', '1', '-W', '10'], {
      encoding: 'utf8',
    });
    assert.match(denied.stderr, /All subscription requests were denied/);
    assert.equal(denied.stdout, '');
  }

  assert.deepEqual(callPlugin(bin, files, 'delete_user', { username: 'alice' }), { result: 'deleted' });
  await eventually(() => {
    const r = connects('alice', 'alice-pw');
    return r.status !== 0 && /not authori[sz]ed|bad user name or password/i.test(r.out);
  }, 'alice is refused after delete + reload');
});

test('status: reads the broker’s status file and checks its pid is alive', { skip: noBroker }, async () => {
  const status = callPlugin(bin, files, 'status') as { running: boolean; status: { pid: number; listeners: { port: number }[] } };
  assert.equal(status.running, true);
  assert.equal(status.status.pid, broker?.child.pid);
  assert.ok(status.status.listeners.some((l) => l.port === port));
  await broker?.stop();
  broker = undefined;
  // The file may remain; the pid is gone, so the broker is reported down.
  assert.equal((callPlugin(bin, files, 'status') as { running: boolean }).running, false);
});

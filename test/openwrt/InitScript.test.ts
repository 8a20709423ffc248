import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { hasCommand } from '../helpers/processes';
import { REPO, canChroot, makeOpenwrtRoot, procdReloadAction, registrationOf } from './openwrtRoot';

const shippedConfig = readFileSync(join(REPO, 'files/etc/config/mqttd'), 'utf8');
const lanNetworks = 'lan ipv4 192.168.1.1\nlan ipv6 fd00::1\nwan ipv4 203.0.113.7\n';
const skip = !canChroot() && 'needs root and busybox for the chroot';

test('files/*.init pass OpenWrt CI’s shfmt -sr -s check', { skip: !hasCommand('shfmt') }, () => {
  for (const f of ['files/etc/init.d/mqttd', 'luci/root/usr/libexec/rpcd/mqttd']) {
    // shfmt -d prints a diff and fails when the file is not formatted as required.
    execFileSync('shfmt', ['-sr', '-s', '-d', join(REPO, f)], { encoding: 'utf8' });
  }
});

test('the shipped config registers the broker on the LAN addresses, as user mqttd, respawning', { skip }, () => {
  const box = makeOpenwrtRoot(shippedConfig, lanNetworks);
  const run = box.initd('start');
  assert.equal(run.status, 0, run.stderr);
  const calls = box.takeProcdCalls();
  assert.deepEqual(calls[0], ['open_service', 'mqttd', '/etc/init.d/mqttd']);
  const reg = registrationOf(calls);
  assert.deepEqual(reg.command, ['/usr/bin/node', '--max-semi-space-size=2', '/usr/lib/mqttd/mqttd.js', '--uci', '/etc/config/mqttd', '--network', 'lan=192.168.1.1,fd00::1']);
  assert.deepEqual(reg.params.get('user'), ['mqttd']);
  assert.deepEqual(reg.params.get('group'), ['mqttd']);
  assert.deepEqual(reg.params.get('respawn'), []);
  assert.deepEqual(reg.params.get('stdout'), ['1']);
  assert.deepEqual(reg.params.get('stderr'), ['1']);
  assert.deepEqual(reg.params.get('reload_signal'), ['HUP']);
  assert.deepEqual(reg.params.get('file'), ['/etc/config/mqttd']);
  assert.deepEqual(reg.mdns, ['mqtt', 'tcp', '1883', 'daemon=mqttd']);
  assert.deepEqual(reg.reloadTriggers, [['mqttd']]);
  assert.deepEqual(reg.interfaceTriggers, [['interface.*', 'lan', '/etc/init.d/mqttd', 'reload']]);
  // Nothing binds WAN by default.
  assert.ok(!reg.command.join(' ').includes('203.0.113.7'));
  // passwd and ACL are readable by the broker's group only; the status directory is its own.
  for (const f of ['etc/mqttd/passwd', 'etc/mqttd/acl', 'etc/config/mqttd']) {
    const st = statSync(join(box.root, f));
    assert.equal(st.mode & 0o777, 0o640, f);
    assert.equal(st.gid, 1883, f);
  }
  assert.equal(statSync(join(box.root, 'var/run/mqttd')).uid, 1883);
  assert.equal(statSync(join(box.root, 'etc/mqttd/data')).uid, 1883);
});

test('listeners on lan and wan, a fixed address and a disabled one: only the named networks are passed', { skip }, () => {
  const box = makeOpenwrtRoot(
    [
      "config mqttd 'general'",
      "\toption status_file '/tmp/mqttd-status/status.json'",
      "config listener 'tls'",
      "\toption port '8883'",
      "\toption interface 'wan'",
      "\toption certfile '/etc/mqttd/c.pem'",
      "\toption keyfile '/etc/mqttd/k.pem'",
      "config listener 'ws'",
      "\toption port '9001'",
      "\toption protocol 'websockets'",
      "\toption interface 'lan'",
      "config listener 'fixed'",
      "\toption port '1884'",
      "\toption address '10.0.0.1'",
      "\toption interface 'guest'",
      "config listener 'off'",
      "\toption enabled '0'",
      "\toption port '1885'",
      "\toption interface 'iot'",
      '',
    ].join('\n'),
    lanNetworks,
  );
  const run = box.initd('start');
  assert.equal(run.status, 0, run.stderr);
  const reg = registrationOf(box.takeProcdCalls());
  assert.deepEqual(reg.command, [
    '/usr/bin/node',
    '--max-semi-space-size=2',
    '/usr/lib/mqttd/mqttd.js',
    '--uci',
    '/etc/config/mqttd',
    '--network',
    'wan=203.0.113.7',
    '--network',
    'lan=192.168.1.1,fd00::1',
  ]);
  assert.deepEqual(
    reg.interfaceTriggers.map((t) => t[1]),
    ['wan', 'lan'],
  );
  // Only a plain MQTT listener is announced; here there is none besides the fixed one.
  assert.deepEqual(reg.mdns, ['mqtt', 'tcp', '1884', 'daemon=mqttd']);
  assert.equal(statSync(join(box.root, 'tmp/mqttd-status')).uid, 1883);
});

test("interface '*' passes no network, and a network that is down is said so on stderr", { skip }, () => {
  const box = makeOpenwrtRoot(
    "config listener 'all'\n\toption port '1883'\n\toption interface '*'\nconfig listener 'iot'\n\toption port '1884'\n\toption interface 'iot'\n",
    lanNetworks,
  );
  const run = box.initd('start');
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stderr, /network 'iot' has no address yet/);
  const reg = registrationOf(box.takeProcdCalls());
  assert.deepEqual(reg.command, ['/usr/bin/node', '--max-semi-space-size=2', '/usr/lib/mqttd/mqttd.js', '--uci', '/etc/config/mqttd']);
  assert.deepEqual(reg.mdns, ['mqtt', 'tcp', '1883', 'daemon=mqttd']);
});

test('reload: a users or ACL change only signals HUP; a listener change restarts; an address change restarts', { skip }, () => {
  const box = makeOpenwrtRoot(shippedConfig, lanNetworks);
  assert.equal(box.initd('start').status, 0);
  const first = registrationOf(box.takeProcdCalls());

  box.write('etc/mqttd/passwd', 'alice:$7$101$abc$def\n');
  box.write('etc/mqttd/acl', 'user alice\ntopic readwrite #\n');
  assert.equal(box.initd('reload').status, 0);
  const afterUsers = registrationOf(box.takeProcdCalls());
  assert.equal(procdReloadAction(first, afterUsers), 'signal HUP');

  box.write('etc/config/mqttd', shippedConfig.replace("option port '1883'", "option port '1884'"));
  assert.equal(box.initd('reload').status, 0);
  const afterPort = registrationOf(box.takeProcdCalls());
  assert.equal(procdReloadAction(afterUsers, afterPort), 'restart');

  box.write('etc/test-networks', 'lan ipv4 192.168.2.1\n');
  assert.equal(box.initd('reload').status, 0);
  const afterAddress = registrationOf(box.takeProcdCalls());
  assert.equal(procdReloadAction(afterPort, afterAddress), 'restart');
  assert.deepEqual(afterAddress.command.slice(-1), ['lan=192.168.2.1']);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { hasCommand } from '../helpers/processes';
import { REPO, canChroot, makeOpenwrtRoot, registrationOf } from './openwrtRoot';

const shippedConfig = readFileSync(join(REPO, 'files/etc/config/mqttd'), 'utf8');
const lanNetworks = 'lan ipv4 192.168.1.1\nlan ipv6 fd00::1\nwan ipv4 203.0.113.7\n';
const skip = !canChroot() && 'needs root and busybox for the chroot';

test('files/*.init pass OpenWrt CI’s shfmt -sr -s check', { skip: !hasCommand('shfmt') }, () => {
  for (const f of ['files/etc/init.d/mqttd', 'luci/root/usr/libexec/rpcd/mqttd']) {
    // shfmt -d prints a diff and fails when the file is not formatted as required.
    execFileSync('shfmt', ['-sr', '-s', '-d', join(REPO, f)], { encoding: 'utf8' });
  }
});

test('the shipped config registers the broker by its own name on the LAN addresses, as user mqttd, respawning', { skip }, (t) => {
  const box = makeOpenwrtRoot(shippedConfig, lanNetworks);
  t.after(() => box.close());
  const run = box.initd('start');
  assert.equal(run.status, 0, run.stderr);
  const calls = box.takeProcdCalls();
  assert.deepEqual(calls[0], ['open_service', 'mqttd', '/etc/init.d/mqttd']);
  const reg = registrationOf(calls);
  // argv[0] is what procd tags the instance's stdout/stderr lines with (instance_stdio).
  assert.deepEqual(reg.command, ['/usr/bin/mqttd', '--uci', '/etc/config/mqttd', '--network', 'lan=192.168.1.1,fd00::1']);
  assert.deepEqual(reg.params.get('env'), ['NODE_OPTIONS=--max-semi-space-size=2']);
  assert.deepEqual(reg.params.get('user'), ['mqttd']);
  assert.deepEqual(reg.params.get('group'), ['mqttd']);
  assert.deepEqual(reg.params.get('pidfile'), ['/var/run/mqttd.pid']);
  assert.deepEqual(reg.params.get('respawn'), []);
  assert.deepEqual(reg.params.get('stdout'), ['1']);
  assert.deepEqual(reg.params.get('stderr'), ['1']);
  // No reload_signal: procd would send it instead of restarting on a changed config.
  assert.equal(reg.params.get('reload_signal'), undefined);
  // The config minus its rule sections: a rule changed in LuCI is reread on HUP, not a restart.
  assert.deepEqual(reg.params.get('file'), ['/var/run/mqttd/config.watched', '/usr/lib/mqttd/mqttd.js']);
  // The LAN listener is announced, not the loopback one.
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

test('listeners on lan and wan, a fixed address and a disabled one: only the named networks are passed', { skip }, (t) => {
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
  t.after(() => box.close());
  const run = box.initd('start');
  assert.equal(run.status, 0, run.stderr);
  const reg = registrationOf(box.takeProcdCalls());
  assert.deepEqual(reg.command, ['/usr/bin/mqttd', '--uci', '/etc/config/mqttd', '--network', 'wan=203.0.113.7', '--network', 'lan=192.168.1.1,fd00::1']);
  assert.deepEqual(
    reg.interfaceTriggers.map((t) => t[1]),
    ['wan', 'lan'],
  );
  // Only a plain MQTT listener is announced; here there is none besides the fixed one.
  assert.deepEqual(reg.mdns, ['mqtt', 'tcp', '1884', 'daemon=mqttd']);
  assert.equal(statSync(join(box.root, 'tmp/mqttd-status')).uid, 1883);
});

test("interface '*' passes no network; a network that is down is passed empty (its listeners wait) and said so", { skip }, (t) => {
  const box = makeOpenwrtRoot(
    "config listener 'all'\n\toption port '1883'\n\toption interface '*'\nconfig listener 'iot'\n\toption port '1884'\n\toption interface 'iot'\n",
    lanNetworks,
  );
  t.after(() => box.close());
  const run = box.initd('start');
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stderr, /network 'iot' has no address yet/);
  const reg = registrationOf(box.takeProcdCalls());
  assert.deepEqual(reg.command, ['/usr/bin/mqttd', '--uci', '/etc/config/mqttd', '--network', 'iot=']);
  assert.deepEqual(reg.mdns, ['mqtt', 'tcp', '1883', 'daemon=mqttd']);
  // The down network's trigger is what brings its listeners up later.
  assert.deepEqual(
    reg.interfaceTriggers.map((t) => t[1]),
    ['iot'],
  );
});

test("options set to '' get the script's defaults, as functions.sh config_get gives them", { skip }, (t) => {
  // config_get is `${CONFIG_x_y:-default}`: an empty protocol is mqtt, an empty enabled is 1.
  const box = makeOpenwrtRoot(
    "config listener 'lan'\n\toption enabled ''\n\toption port '1883'\n\toption protocol ''\n\toption certfile ''\n\toption interface 'lan'\n",
    lanNetworks,
  );
  t.after(() => box.close());
  assert.equal(box.initd('start').status, 0);
  const reg = registrationOf(box.takeProcdCalls());
  assert.deepEqual(reg.command.slice(-2), ['--network', 'lan=192.168.1.1,fd00::1']);
  assert.deepEqual(reg.mdns, ['mqtt', 'tcp', '1883', 'daemon=mqttd']);
});

test('the functions.sh stand-in: config_get, config_get_bool and config_foreach as the real ones', { skip }, (t) => {
  const box = makeOpenwrtRoot("config thing 'a'\n\toption empty ''\n\toption word 'x y'\n\toption flag 'off'\nconfig thing\n\toption word 'anon'\n", '');
  t.after(() => box.close());
  box.write(
    'tmp/probe.sh',
    [
      '. /lib/functions.sh',
      'config_load mqttd',
      'config_get v a empty fallback; echo "empty=$v"',
      'config_get v a missing fallback; echo "missing=$v"',
      'config_get v a word; echo "word=$v"',
      'echo "direct=$(config_get a word)"',
      'config_get_bool b a flag 1; echo "flag=$b"',
      'config_get_bool b a empty 1; echo "emptybool=$b"',
      'config_get_bool b a word 7; echo "badbool=$b"',
      'each() { config_get w "$1" word; echo "each=$1:$w:$2"; }',
      'config_foreach each thing extra',
      '',
    ].join('\n'),
  );
  const r = box.run(['/bin/sh', '/tmp/probe.sh']);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), [
    'empty=fallback',
    'missing=fallback',
    'word=x y',
    'direct=x y',
    'flag=0',
    'emptybool=1',
    'badbool=7',
    'each=a:x y:extra',
    'each=cfg2:anon:extra',
  ]);
});

/**
 * The service lifecycle on OpenWrt, end to end: the real init script, run by the rc.common
 * stand-in, registers with the procd stand-in, which runs the real broker bundle from that
 * command line (as user mqttd, in the chroot). What procd does on each path — reload, Save &
 * Apply's config.change, an interface event, stop — follows openwrt/procd (see
 * fixtures/root/sbin/procd), so these tests fail with the 0.1.0 init script, as the router did.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { freePort, waitForPort } from '../helpers/ports';
import { LEGACY_INIT_SCRIPT, canChroot, makeOpenwrtRoot, type OpenwrtRoot } from './openwrtRoot';
import { hasBundle } from './routerShell';

const skip = !canChroot() ? 'needs root and busybox for the chroot' : !hasBundle() && 'needs dist/ (npm run build)';

/** A router config: loopback and LAN listeners on one port, anonymous allowed, no persistence. */
function routerConfig(port: number, extra = ''): string {
  return [
    "config mqttd 'general'",
    "\toption allow_anonymous '1'",
    "\toption password_file '/etc/mqttd/passwd'",
    "\toption persistence '0'",
    "\toption sys_interval '0'",
    "config listener 'loopback'",
    `\toption port '${port}'`,
    "\toption address '127.0.0.1'",
    "config listener 'lan'",
    `\toption port '${port}'`,
    "\toption interface 'lan'",
    extra,
    '',
  ].join('\n');
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The running broker's pid, once it has installed its SIGHUP handler (it is up). */
async function brokerUp(box: OpenwrtRoot, port: number, host = '127.0.0.1'): Promise<number> {
  await waitForPort(port, host, 20000);
  const pid = box.pid();
  assert.ok(pid, 'procd has a running instance');
  return pid;
}

function connected(host: string, port: number, options: mqtt.IClientOptions = {}): Promise<mqtt.MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect({ host, port, reconnectPeriod: 0, connectTimeout: 5000, ...options });
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

function refusedOrClosed(host: string, port: number): Promise<boolean> {
  return connected(host, port).then(
    (c) => (c.end(true), false),
    () => true,
  );
}

test('reload: a passwd change is reread by SIGHUP (same process, clients stay); a config change restarts with it', { skip }, async (t) => {
  const port = await freePort();
  const box = makeOpenwrtRoot(routerConfig(port), 'lan ipv4 127.0.0.2\n', { broker: true });
  t.after(() => box.close());
  assert.equal(box.initd('start').status, 0);
  const pid = await brokerUp(box, port);
  await waitForPort(port, '127.0.0.2');

  const client = await connected('127.0.0.2', port);
  let dropped = false;
  client.on('close', () => (dropped = true));

  // A user added as the docs say: mqttd_passwd, then reload.
  const made = box.run(['/usr/bin/mqttd_passwd', '-b', '/etc/mqttd/passwd', 'alice', 's3cret']);
  assert.equal(made.status, 0, made.stderr);
  const reload = box.initd('reload');
  assert.equal(reload.status, 0, reload.stderr);
  // alice can log in only once the running broker reread the file.
  await until('alice is accepted', async () => {
    try {
      const c = await connected('127.0.0.1', port, { username: 'alice', password: 's3cret' });
      c.end(true);
      return true;
    } catch {
      return false;
    }
  });
  assert.equal(box.pid(), pid, 'SIGHUP, not a restart');
  assert.equal(dropped, false, 'nobody was disconnected');

  // A changed /etc/config/mqttd (the port) restarts the broker on the new port.
  const port2 = await freePort();
  box.write('etc/config/mqttd', routerConfig(port2));
  assert.equal(box.initd('reload').status, 0);
  const pid2 = await brokerUp(box, port2);
  assert.notEqual(pid2, pid);
  await until('the client of the old broker is gone', () => dropped);
  assert.equal(await refusedOrClosed('127.0.0.1', port), true, 'the old port is closed');
  client.end(true);
});

test("Save & Apply (rpcd's uci apply/commit → config.change) and interface events each end in a restart or a SIGHUP", { skip }, async (t) => {
  const port = await freePort();
  const box = makeOpenwrtRoot(routerConfig(port), 'lan ipv4 127.0.0.2\n', { broker: true });
  t.after(() => box.close());
  assert.equal(box.initd('start').status, 0);
  const pid = await brokerUp(box, port);

  // An interface event with unchanged addresses (netifd sends them on renewals): SIGHUP only.
  assert.equal(box.run(['/sbin/procd', 'event', 'interface.update', 'interface=lan']).status, 0);
  await waitForPort(port, '127.0.0.2');
  assert.equal(box.pid(), pid);

  // The LAN moves to another address: the interface event restarts on it.
  box.write('etc/test-networks', 'lan ipv4 127.0.0.3\n');
  assert.equal(box.run(['/sbin/procd', 'event', 'interface.update', 'interface=lan']).status, 0);
  const pid2 = await brokerUp(box, port, '127.0.0.3');
  assert.notEqual(pid2, pid);
  assert.equal(await refusedOrClosed('127.0.0.2', port), true, 'nothing listens on the vanished address');

  // LuCI's Save & Apply: rpcd writes the file and sends config.change for package mqttd
  // (rpcd uci.c rpc_uci_apply_config → rpc_uci_trigger_event); procd runs reload.
  const port2 = await freePort();
  box.write('etc/config/mqttd', routerConfig(port2).replace("option allow_anonymous '1'", "option allow_anonymous '0'"));
  assert.equal(box.run(['/sbin/procd', 'event', 'config.change', 'package=mqttd']).status, 0);
  const pid3 = await brokerUp(box, port2);
  assert.notEqual(pid3, pid2);
  await assert.rejects(connected('127.0.0.1', port2), 'allow_anonymous 0 is in force');

  // config.change of another package does not touch the broker.
  assert.equal(box.run(['/sbin/procd', 'event', 'config.change', 'package=network']).status, 0);
  assert.equal(box.pid(), pid3);
});

test('reloads right after a (re)start never signal a broker that cannot take SIGHUP yet', { skip }, async (t) => {
  const port = await freePort();
  const box = makeOpenwrtRoot(routerConfig(port), 'lan ipv4 127.0.0.2\n', { broker: true });
  t.after(() => box.close());
  assert.equal(box.initd('start').status, 0);
  // Reload at once, over and over, while node is still loading the bundle: a HUP then would
  // kill it (default action), and procd would respawn it (a new pid) or give up.
  const first = box.pid();
  assert.ok(first);
  for (let i = 0; i < 5; i++) assert.equal(box.initd('reload').status, 0);
  // restart = stop + start; procd starts the new process once the old one exited. Reload the
  // moment it is there, again and again.
  assert.equal(box.initd('restart').status, 0);
  let second: number | undefined;
  await until('the new process runs', () => {
    second = box.pid();
    return second !== undefined && second !== first;
  });
  for (let i = 0; i < 5; i++) assert.equal(box.initd('reload').status, 0);
  assert.equal(await brokerUp(box, port), second, 'the restarted broker still runs: no respawn');
  assert.equal(existsSync(join(box.root, 'var/run/procd/mqttd/instance1/failed')), false);
});

test("reload's SIGHUP goes only to a broker that catches it (SigCgt), never to one still loading", { skip }, async (t) => {
  const box = makeOpenwrtRoot(routerConfig(await freePort()), '', { broker: true });
  t.after(() => box.close());
  // Two stand-ins for the instance, both with mqttd in their command line: one as node is
  // before the bundle installed its handler, one after.
  const loading = spawn('chroot', [box.root, '/usr/bin/node', '-e', 'setInterval(() => {}, 1000)', 'mqttd'], { stdio: 'ignore' });
  const loaded = spawn('chroot', [box.root, '/usr/bin/node', '-e', 'process.on("SIGHUP", () => console.log("reread")); setInterval(() => {}, 1000)', 'mqttd'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  t.after(() => (loading.kill('SIGKILL'), loaded.kill('SIGKILL')));
  let output = '';
  loaded.stdout.on('data', (d: Buffer) => (output += d.toString()));
  const catchesHup = (pid: number) => (BigInt('0x' + (/^SigCgt:\s*(\w+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '0')) & 1n) === 1n;
  await until('the second one handles SIGHUP', () => catchesHup(loaded.pid ?? 0));
  const reread = (pid: number) => {
    box.write('var/run/mqttd.pid', `${pid}\n`);
    // The init script's own function, sourced as rc.common sources it.
    const r = box.run(['/bin/sh', '-c', '. /lib/functions.sh; . /etc/init.d/mqttd; mqttd_reread_files']);
    assert.equal(r.status, 0, r.stderr);
  };
  reread(loading.pid ?? 0);
  reread(loaded.pid ?? 0);
  await until('the loaded one got SIGHUP', () => output.includes('reread'));
  assert.equal(loading.exitCode, null);
  assert.equal(loading.signalCode, null, 'the loading one was not signalled (SIGHUP would have ended it)');
});

test('stop ends the broker and removes its pidfile; start brings it back', { skip }, async (t) => {
  const port = await freePort();
  const box = makeOpenwrtRoot(routerConfig(port), 'lan ipv4 127.0.0.2\n', { broker: true });
  t.after(() => box.close());
  assert.equal(box.initd('start').status, 0);
  const pid = await brokerUp(box, port);
  assert.equal(box.initd('stop').status, 0);
  await until('the broker exited', () => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  });
  await until('procd removed the pidfile', () => !existsSync(join(box.root, 'var/run/mqttd.pid')));
  assert.equal(box.initd('start').status, 0);
  await brokerUp(box, port);
});

test('boot with the LAN down: the broker serves loopback, the LAN listener waits, and ifup brings it', { skip }, async (t) => {
  const port = await freePort();
  const wanPort = await freePort();
  // A disabled WAN listener whose network has no address must not matter at all.
  const extra = ["config listener 'wan'", "\toption enabled '0'", `\toption port '${wanPort}'`, "\toption interface 'wan'"].join('\n');
  const box = makeOpenwrtRoot(routerConfig(port, extra), '', { broker: true, syslog: true });
  t.after(() => box.close());
  const run = box.initd('start');
  assert.equal(run.status, 0);
  assert.match(run.stderr, /network 'lan' has no address yet; its listeners wait/);
  const pid = await brokerUp(box, port);
  await until('the broker said the LAN listener waits', () => box.syslog().some((l) => /daemon\.notice mqttd: listener 'lan' \(port \d+\) waits for network 'lan'/.test(l)));

  box.write('etc/test-networks', 'lan ipv4 127.0.0.2\n');
  assert.equal(box.run(['/sbin/procd', 'event', 'interface.up', 'interface=lan']).status, 0);
  await waitForPort(port, '127.0.0.2', 20000);
  assert.notEqual(box.pid(), pid);
});

test('an address that is not there yet (a tentative IPv6) is retried while loopback serves; one log line, tagged mqttd', { skip }, async (t) => {
  const port = await freePort();
  // 192.0.2.1 (TEST-NET-1) is on no interface: bind() fails with EADDRNOTAVAIL, as for an
  // IPv6 address still in duplicate address detection.
  const box = makeOpenwrtRoot(routerConfig(port), 'lan ipv4 192.0.2.1\n', { broker: true, syslog: true });
  t.after(() => box.close());
  assert.equal(box.initd('start').status, 0);
  const pid = await brokerUp(box, port);
  await until('the broker logged the failed bind', () => box.syslog().some((l) => /mqttd: (Warning: )?cannot listen on 192\.0\.2\.1/.test(l)));
  const lines = box.syslog().filter((l) => / mqttd(\[\d+\])?: /.test(l));
  const bind = lines.filter((l) => l.includes('192.0.2.1'));
  assert.equal(bind.length, 1, lines.join('\n'));
  assert.match(bind[0], /^daemon\.warn mqttd: (Warning: )?cannot listen on 192\.0\.2\.1:\d+: .*EADDRNOTAVAIL.*trying again/);
  // Every broker line reached syslog tagged mqttd at its own priority: none as an error.
  assert.ok(lines.some((l) => /^daemon\.notice mqttd: mqttd version \S+ running$/.test(l)), lines.join('\n'));
  assert.ok(!lines.some((l) => /^daemon\.err /.test(l)), lines.join('\n'));
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(box.pid(), pid, 'the broker keeps running');
});

test('the stand-ins fail the 0.1.0 init script: its reload only sends HUP, so a new port never applies', { skip }, async (t) => {
  const port = await freePort();
  const box = makeOpenwrtRoot(routerConfig(port), 'lan ipv4 127.0.0.2\n', { broker: true, initScript: LEGACY_INIT_SCRIPT });
  t.after(() => box.close());
  assert.match(readFileSync(LEGACY_INIT_SCRIPT, 'utf8'), /procd_set_param reload_signal HUP/);
  assert.equal(box.initd('start').status, 0);
  const pid = await brokerUp(box, port);
  const port2 = await freePort();
  box.write('etc/config/mqttd', routerConfig(port2));
  assert.equal(box.initd('reload').status, 0);
  await new Promise((r) => setTimeout(r, 1500));
  // procd's instance_restart sent reload_signal instead of restarting: the field fault.
  assert.equal(box.pid(), pid);
  await waitForPort(port);
  assert.equal(await refusedOrClosed('127.0.0.1', port2), true, 'the new port is not served');
});

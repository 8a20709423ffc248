/**
 * Users and ACL semantics that decide whether an admin can trust a reload: a SIGHUP
 * re-checks connected clients (as mosquitto 2.0.11 does, run side by side here), `/` in a
 * client id cannot reach another client's pattern topics, an empty password never logs in,
 * and a reload during a CONNECT's password check is not beaten by it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as mqttPacket from 'mqtt-packet';
import { FileSecurity } from '../../src/auth/FileSecurity';
import { hashPassword } from '../../src/auth/PasswordHash';
import { closed, connectClient, eventually, startBroker, startMqttd, subackCodes, waitForCount, type TestClient } from '../helpers/broker';
import { run } from '../helpers/brokerTools';
import { startMosquitto } from '../helpers/mosquitto';
import type { RunningProcess } from '../helpers/processes';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'mqttd-reload-'));
  // mosquitto started as root reads its files as the user mosquitto.
  chmodSync(dir, 0o755);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** mosquitto_passwd with `args`, leaving the file readable by the user mosquitto. */
async function passwd(path: string, args: string[]): Promise<void> {
  const r = await run('mosquitto_passwd', args);
  assert.equal(r.code, 0, r.stderr);
  chmodSync(path, 0o644);
}

/** Sends SIGHUP and waits for the n-th line that shows the reload was applied. */
async function hup(p: RunningProcess, done: RegExp, n: number): Promise<void> {
  p.child.kill('SIGHUP');
  await waitForCount(p, done, n);
}

function disconnectPacket(client: TestClient): Promise<mqttPacket.IDisconnectPacket | undefined> {
  return new Promise((resolve) => {
    client.client.once('disconnect', (packet) => resolve(packet as mqttPacket.IDisconnectPacket));
    client.client.once('close', () => setTimeout(() => resolve(undefined), 50));
  });
}

test('SIGHUP: a deleted user and a changed password are disconnected (no will), others stay — as mosquitto 2.0.11', async () => {
  const files = { mqttd: join(dir, 'passwd-hup-mqttd'), mosquitto: join(dir, 'passwd-hup-mosquitto') };
  for (const pw of Object.values(files)) {
    await passwd(pw, ['-b', '-c', pw, 'keep', 'keep-pw']);
    await passwd(pw, ['-b', pw, 'gone', 'gone-pw']);
    await passwd(pw, ['-b', pw, 'changed', 'old-pw']);
  }
  const conf = (pw: string) => [`password_file ${pw}`, 'allow_anonymous false'];
  const mqttd = await startMqttd(conf(files.mqttd));
  const mosquitto = await startMosquitto([...conf(files.mosquitto), 'log_type all']);
  try {
    for (const [name, port, process, applied] of [
      ['mqttd', mqttd.port, mqttd.process, /Reload applied/],
      ['mosquitto', mosquitto.port, mosquitto.process, /Reloading config/],
    ] as const) {
      const pw = files[name];
      const url = `mqtt://127.0.0.1:${port}`;
      const watcher = await connectClient(url, { username: 'keep', password: 'keep-pw', clientId: `${name}-watch` });
      await watcher.client.subscribeAsync('will/#', { qos: 1 });
      const will = { topic: 'will/gone', payload: Buffer.from('gone'), qos: 1 as const, retain: false };
      const gone = await connectClient(url, { username: 'gone', password: 'gone-pw', clientId: `${name}-gone`, protocolVersion: 5, will });
      const changed = await connectClient(url, { username: 'changed', password: 'old-pw', clientId: `${name}-changed` });
      const goneDisconnect = disconnectPacket(gone);
      const bothClosed = Promise.all([closed(gone.client), closed(changed.client)]);
      // The admin deletes one user and changes another's password.
      await passwd(pw, ['-D', pw, 'gone']);
      await passwd(pw, ['-b', pw, 'changed', 'new-pw']);
      await hup(process, applied, 1);
      await bothClosed;
      if (name === 'mqttd') assert.equal((await goneDisconnect)?.reasonCode, 0x98, 'v5 is told: Administrative action');
      assert.ok(await watcher.nothingWithin(300), `${name}: a revoked client's will is not published`);
      assert.equal(watcher.client.connected, true, `${name}: a user still in the file stays connected`);
      await watcher.end();
      await Promise.all([gone.end(), changed.end()]);
    }
  } finally {
    await Promise.all([mqttd.stop(), mosquitto.stop()]);
  }
});

test('SIGHUP: a subscription the new ACL no longer allows is dropped, not just filtered', async () => {
  const acl = join(dir, 'acl-hup');
  writeFileSync(acl, 'topic readwrite shared/#\n');
  const d = await startMqttd([`acl_file ${acl}`, 'allow_anonymous true']);
  try {
    const url = `mqtt://127.0.0.1:${d.port}`;
    const reader = await connectClient(url, { clientId: 'reader', clean: false });
    const writer = await connectClient(url, { clientId: 'writer' });
    await reader.client.subscribeAsync('shared/#', { qos: 1 });
    writeFileSync(acl, 'topic write shared/#\n');
    await hup(d.process, /Reload applied: 0 client\(s\) disconnected, 1 subscription\(s\) removed/, 1);
    // Read comes back: the dropped subscription does not.
    writeFileSync(acl, 'topic readwrite shared/#\n');
    await hup(d.process, /Reload applied/, 2);
    await writer.client.publishAsync('shared/x', 'after', { qos: 1 });
    assert.ok(await reader.nothingWithin(300), 'the subscription was removed at the first reload');
    assert.equal(reader.client.connected, true);
    await Promise.all([reader.end(), writer.end()]);
  } finally {
    await d.stop();
  }
});

test("a '/' in a client id does not reach another client's %c pattern topics (acl_pattern_allow_slash keeps mosquitto's way)", async () => {
  const acl = join(dir, 'acl-slash');
  writeFileSync(acl, 'pattern readwrite clients/%c/#\n');
  const strict = await startMqttd([`acl_file ${acl}`, 'allow_anonymous true']);
  const lax = await startMqttd([`acl_file ${acl}`, 'allow_anonymous true', 'acl_pattern_allow_slash true']);
  const mosquitto = await startMosquitto([`acl_file ${acl}`, 'allow_anonymous true']);
  try {
    const granted = async (port: number) => {
      const attacker = await connectClient(`mqtt://127.0.0.1:${port}`, { clientId: 'victim/inbox' });
      try {
        return (await subackCodes(attacker.client, 'clients/victim/inbox/#', 1))[0];
      } finally {
        await attacker.end();
      }
    };
    assert.equal(await granted(mosquitto.port), 1, 'mosquitto 2.0.11 substitutes the id as it is');
    assert.equal(await granted(lax.port), 1, 'acl_pattern_allow_slash true: as mosquitto');
    assert.equal(await granted(strict.port), 0x80, 'mqttd by default: refused');
    // The victim itself still owns its topics.
    const victim = await connectClient(`mqtt://127.0.0.1:${strict.port}`, { clientId: 'victim' });
    assert.equal((await subackCodes(victim.client, 'clients/victim/inbox/#', 1))[0], 1);
    await victim.end();
  } finally {
    await Promise.all([strict.stop(), lax.stop(), mosquitto.stop()]);
  }
});

test('a password line holding the hash of "" does not let "" log in, as mosquitto 2.0.11 refuses it', async () => {
  const pw = join(dir, 'passwd-empty');
  await passwd(pw, ['-b', '-c', pw, 'blank', '']);
  const conf = [`password_file ${pw}`, 'allow_anonymous false'];
  const mqttd = await startMqttd(conf);
  const mosquitto = await startMosquitto(conf);
  try {
    for (const port of [mosquitto.port, mqttd.port]) {
      await assert.rejects(connectClient(`mqtt://127.0.0.1:${port}`, { username: 'blank', password: '' }), /Not authorized|Connection refused/i, `port ${port}`);
    }
  } finally {
    await Promise.all([mqttd.stop(), mosquitto.stop()]);
  }
});

test('a reload during a CONNECT\'s password check judges that CONNECT by the new file', async () => {
  const pw = join(dir, 'passwd-race');
  // PBKDF2 runs off the event loop; 500,000 rounds take long enough for the reload's file
  // reads to land while the hash is checked.
  writeFileSync(pw, `slow:${await hashPassword('slow-pw', { iterations: 500_000 })}\n`);
  const security = new FileSecurity({ allowAnonymous: false, passwordFile: pw });
  await security.load();
  const b = await startBroker({ security });
  try {
    const connecting = connectClient(b.url, { username: 'slow', password: 'slow-pw' });
    await eventually(() => b.broker.stats.sockets > 0, 'the CONNECT to arrive');
    await new Promise((r) => setTimeout(r, 20));
    writeFileSync(pw, '');
    const result = await security.reload();
    assert.ok(result.applied);
    await assert.rejects(connecting, /Not authorized/i, 'the user deleted during its check is refused');
  } finally {
    await b.stop();
  }
});

/**
 * Passwords and ACLs through the real daemon (`node dist/mqttd.js -c`), with a password file
 * written by Debian's mosquitto_passwd and clients that are mosquitto_pub/sub and MQTT.js.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as mqttPacket from 'mqtt-packet';
import { connectClient, startMqttd, subackCodes, waitForCount, type MqttdProcess, type TestClient } from '../helpers/broker';
import { haveMosquittoClients, mosquittoPub, mosquittoSub, run } from '../helpers/brokerTools';
import { waitForOutput } from '../helpers/processes';

const enabled = haveMosquittoClients();

const ACL = `# Anonymous clients: before the first user line
topic read public/#

user alice
topic readwrite alice/#
topic read shared/#
topic deny shared/secret

user bob
topic write shared/#
topic write public/#

pattern readwrite users/%u/#
`;

let dir: string;
let passwd: string;

before(async () => {
  if (!enabled) return;
  dir = mkdtempSync(join(tmpdir(), 'mqttd-auth-'));
  passwd = join(dir, 'passwd');
  // Made by the real tool, in the format mosquitto 2 writes.
  assert.equal((await run('mosquitto_passwd', ['-b', '-c', passwd, 'alice', 'alice-pw'])).code, 0);
  assert.equal((await run('mosquitto_passwd', ['-b', passwd, 'bob', 'bob-pw'])).code, 0);
  writeFileSync(join(dir, 'acl'), ACL);
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function canConnect(port: number, user?: string, password?: string): Promise<boolean> {
  const creds = user === undefined ? [] : ['-u', user, '-P', password ?? ''];
  const r = await mosquittoPub(port, [...creds, '-t', 'probe', '-m', 'x']);
  return r.code === 0;
}

describe('allow_anonymous and password_file, as mosquitto 2.0', { skip: !enabled && 'mosquitto clients missing' }, () => {
  test('password file, allow_anonymous false', async () => {
    const d = await startMqttd([`password_file ${passwd}`, 'allow_anonymous false']);
    try {
      assert.equal(await canConnect(d.port), false, 'anonymous refused');
      assert.equal(await canConnect(d.port, 'alice', 'alice-pw'), true, 'right password');
      assert.equal(await canConnect(d.port, 'alice', 'wrong'), false, 'wrong password');
      assert.equal(await canConnect(d.port, 'mallory', 'alice-pw'), false, 'unknown user');
    } finally {
      await d.stop();
    }
  });

  test('password file, allow_anonymous true: anonymous in, unknown usernames still out', async () => {
    const d = await startMqttd([`password_file ${passwd}`, 'allow_anonymous true']);
    try {
      assert.equal(await canConnect(d.port), true);
      assert.equal(await canConnect(d.port, 'bob', 'bob-pw'), true);
      assert.equal(await canConnect(d.port, 'mallory', 'x'), false);
    } finally {
      await d.stop();
    }
  });

  test('no password file, allow_anonymous false: everyone is refused', async () => {
    const d = await startMqttd(['allow_anonymous false']);
    try {
      assert.equal(await canConnect(d.port), false);
      assert.equal(await canConnect(d.port, 'alice', 'alice-pw'), false);
    } finally {
      await d.stop();
    }
  });
});

describe('acl_file through the daemon', { skip: !enabled && 'mosquitto clients missing' }, () => {
  let d: MqttdProcess;
  const url = () => `mqtt://127.0.0.1:${d.port}`;
  const as = (user: string | undefined, protocolVersion: 4 | 5 = 4): Promise<TestClient> =>
    connectClient(url(), {
      protocolVersion,
      ...(user === undefined ? {} : { username: user, password: `${user}-pw` }),
    });

  before(async () => {
    if (!enabled) return;
    d = await startMqttd([`password_file ${passwd}`, `acl_file ${join(dir, 'acl')}`, 'allow_anonymous true']);
  });
  after(async () => {
    await d?.stop();
  });

  test('read is enforced at delivery, for live and retained messages', async () => {
    const bob = await as('bob');
    await bob.client.publishAsync('shared/open', 'retained-open', { qos: 1, retain: true });
    await bob.client.publishAsync('shared/secret', 'retained-secret', { qos: 1, retain: true });
    const alice = await as('alice');
    try {
      const granted = await alice.client.subscribeAsync('shared/#', { qos: 1 });
      assert.equal(granted[0].qos, 1);
      const first = await alice.next();
      assert.equal(first.topic, 'shared/open', 'the denied retained message is not sent');
      await bob.client.publishAsync('shared/secret', 'live-secret', { qos: 1 });
      await bob.client.publishAsync('shared/after', 'live', { qos: 1 });
      assert.equal((await alice.next()).topic, 'shared/after', 'the denied live message is not sent');
    } finally {
      await bob.client.publishAsync('shared/open', '', { qos: 1, retain: true });
      await bob.client.publishAsync('shared/secret', '', { qos: 1, retain: true });
      await Promise.all([alice.end(), bob.end()]);
    }
  });

  test('a filter that can never be read is refused in SUBACK: 0x80 for v3.1.1, 0x87 for v5', async () => {
    const v4 = await as('alice', 4);
    const v5 = await as('alice', 5);
    try {
      // public/# is granted to anonymous clients only: topic lines before the first user.
      for (const filter of ['shared/secret', 'bob/#', 'public/#']) {
        assert.deepEqual(await subackCodes(v4.client, filter), [0x80], `v4 ${filter}`);
        assert.deepEqual(await subackCodes(v5.client, filter), [0x87], `v5 ${filter}`);
      }
      // Partly readable filters are granted (read is then checked per message).
      assert.deepEqual(await subackCodes(v4.client, 'shared/+'), [1]);
      assert.deepEqual(await subackCodes(v4.client, '#'), [1], 'some topics under # are readable');
      assert.deepEqual(await subackCodes(v4.client, 'users/alice/#'), [1]);
      assert.deepEqual(await subackCodes(v4.client, 'users/bob/#'), [0x80], '%u is alice, not bob');
    } finally {
      await Promise.all([v4.end(), v5.end()]);
    }
  });

  test('denied PUBLISH: v3 is acknowledged and dropped, v5 gets 0x87; nothing is delivered', async () => {
    const anon = await as(undefined);
    const v4 = await as('alice', 4);
    const v5 = await as('alice', 5);
    const bob = await as('bob');
    try {
      await anon.client.subscribeAsync('public/#', { qos: 1 });
      await v4.client.publishAsync('public/from-alice', 'x', { qos: 1 });
      const ack = await new Promise<mqttPacket.IPubackPacket>((resolve) =>
        v5.client.publish('public/from-alice5', 'x', { qos: 1 }, (_e, p) => resolve(p as mqttPacket.IPubackPacket)),
      );
      assert.equal(ack.reasonCode, 0x87);
      await bob.client.publishAsync('public/from-bob', 'ok', { qos: 1 });
      assert.equal((await anon.next()).topic, 'public/from-bob', 'anonymous reads public/#; alice could not write there');
      assert.equal(v4.client.connected, true, 'a v3 client is not disconnected for a denied publish');
    } finally {
      await Promise.all([anon.end(), v4.end(), v5.end(), bob.end()]);
    }
  });

  test('a session taken over by another user does not hand over messages that user cannot read', async () => {
    const aliceSession = { clientId: 'shared-device', clean: false, username: 'alice', password: 'alice-pw' };
    const first = await connectClient(url(), aliceSession);
    await first.client.subscribeAsync('alice/#', { qos: 1 });
    await first.end();
    const alice = await as('alice');
    await alice.client.publishAsync('alice/private', 'for alice only', { qos: 1 });
    await alice.end();
    const bob = await connectClient(url(), { clientId: 'shared-device', clean: false, username: 'bob', password: 'bob-pw' });
    try {
      assert.equal(bob.connack?.sessionPresent, true, 'the session itself is taken over, as in mosquitto');
      // bob may write (not read) public/#; alice/# stays subscribed but unreadable for bob.
      await bob.client.subscribeAsync('users/bob/#', { qos: 1 });
      await bob.client.publishAsync('users/bob/marker', 'm', { qos: 1 });
      assert.equal((await bob.next()).topic, 'users/bob/marker', 'alice\'s queued message was not delivered to bob');
    } finally {
      await bob.end();
    }
  });

  test('mosquitto_sub and mosquitto_pub see the same rules', async () => {
    const sub = mosquittoSub(d.port, ['-u', 'alice', '-P', 'alice-pw', '-t', 'users/alice/#', '-C', '1', '-W', '10', '-v']);
    // mosquitto_sub needs a moment to subscribe; retry publishing until it has the message.
    let result;
    for (let i = 0; i < 50; i++) {
      await mosquittoPub(d.port, ['-u', 'alice', '-P', 'alice-pw', '-t', 'users/alice/note', '-m', 'hello', '-q', '1']);
      result = await Promise.race([sub, new Promise<undefined>((r) => setTimeout(() => r(undefined), 100))]);
      if (result) break;
    }
    assert.ok(result, 'mosquitto_sub got nothing');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), 'users/alice/note hello');
  });
});

describe('SIGHUP reload', { skip: !enabled && 'mosquitto clients missing' }, () => {
  test('new users and rules apply to connected clients without dropping them; a failed reload keeps the old ones', async () => {
    const acl = join(dir, 'acl-reload');
    const pw = join(dir, 'passwd-reload');
    writeFileSync(acl, ACL);
    assert.equal((await run('mosquitto_passwd', ['-b', '-c', pw, 'alice', 'alice-pw'])).code, 0);
    assert.equal((await run('mosquitto_passwd', ['-b', pw, 'bob', 'bob-pw'])).code, 0);
    const d = await startMqttd([`password_file ${pw}`, `acl_file ${acl}`, 'allow_anonymous false']);
    const url = `mqtt://127.0.0.1:${d.port}`;
    const alice = await connectClient(url, { username: 'alice', password: 'alice-pw', clientId: 'alice-hup' });
    const bob = await connectClient(url, { username: 'bob', password: 'bob-pw' });
    let reloads = 0;
    const hup = async (expect: RegExp) => {
      reloads++;
      d.process.child.kill('SIGHUP');
      // Wait for the reload's own log line (the n-th).
      await waitForCount(d.process, /Reloading password and ACL files/, reloads);
      await waitForOutput(d.process, expect);
    };
    try {
      assert.equal(await canConnect(d.port, 'carol', 'carol-pw'), false);
      await alice.client.subscribeAsync('shared/#', { qos: 1 });

      // Carol is added; alice loses read on shared/.
      assert.equal((await run('mosquitto_passwd', ['-b', pw, 'carol', 'carol-pw'])).code, 0);
      writeFileSync(acl, ACL.replace('topic read shared/#', 'topic read nothing/#'));
      await hup(/Reloading password and ACL files/);
      assert.equal(await canConnect(d.port, 'carol', 'carol-pw'), true, 'carol, added by mosquitto_passwd, is accepted');
      await bob.client.publishAsync('shared/x', 'after-reload', { qos: 1 });
      await alice.client.publishAsync('alice/marker', 'm', { qos: 1 });
      await alice.client.subscribeAsync('alice/marker', { qos: 1 });
      await alice.client.publishAsync('alice/marker', 'm2', { qos: 1 });
      assert.equal((await alice.next()).topic, 'alice/marker', 'the new rules apply to a live subscription');
      assert.equal(alice.client.connected, true, 'alice was not dropped by the reload');

      // A reload that cannot read the ACL file keeps the rules in force.
      renameSync(acl, `${acl}.away`);
      await hup(/Reload failed; the previous users and ACL rules stay in force/);
      assert.equal(await canConnect(d.port, 'carol', 'carol-pw'), true, 'users are still the reloaded ones');
      await bob.client.publishAsync('shared/y', 'still-denied', { qos: 1 });
      await alice.client.publishAsync('alice/marker', 'm3', { qos: 1 });
      const m = await alice.next();
      assert.equal(m.payload, 'm3', 'alice still has no read on shared/ (previous rules kept)');
      assert.equal(alice.client.connected, true);
    } finally {
      await Promise.all([alice.end(), bob.end()]);
      await d.stop();
    }
  });
});

/**
 * MQTT.js against an in-process mqttd, for MQTT 3.1.1 and 5.0 over TCP and WebSocket:
 * QoS end to end, QoS downgrade, retained messages, wills, persistent sessions, takeover.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IClientOptions } from 'mqtt';
import { closed, connectClient, rawSession, startBroker, type TestBroker, type TestClient } from '../helpers/broker';

let b: TestBroker;
before(async () => {
  b = await startBroker({ websockets: true });
});
after(async () => {
  await b.stop();
});

const combos = [
  { name: 'TCP v3.1.1', ws: false, protocolVersion: 4 as const },
  { name: 'TCP v5', ws: false, protocolVersion: 5 as const },
  { name: 'WebSocket v3.1.1', ws: true, protocolVersion: 4 as const },
  { name: 'WebSocket v5', ws: true, protocolVersion: 5 as const },
];

let unique = 0;

for (const combo of combos) {
  describe(combo.name, () => {
    const id = (what: string) => `${what}-${combo.protocolVersion}${combo.ws ? 'w' : 't'}-${++unique}`;
    const open = (options: IClientOptions = {}): Promise<TestClient> =>
      connectClient(combo.ws ? b.wsUrl : b.url, { protocolVersion: combo.protocolVersion, ...options });

    test('QoS 0, 1 and 2 arrive once each with the QoS they were published at', async () => {
      const topic = id('qos');
      const sub = await open();
      const pub = await open();
      try {
        await sub.client.subscribeAsync(`${topic}/#`, { qos: 2 });
        for (const qos of [0, 1, 2] as const) await pub.client.publishAsync(`${topic}/${qos}`, `m${qos}`, { qos });
        for (const qos of [0, 1, 2]) {
          const m = await sub.next();
          assert.equal(m.topic, `${topic}/${qos}`);
          assert.equal(m.payload, `m${qos}`);
          assert.equal(m.packet.qos, qos);
          assert.equal(m.packet.retain, false);
        }
        await pub.client.publishAsync(`${topic}/end`, 'end', { qos: 1 });
        assert.equal((await sub.next()).topic, `${topic}/end`, 'no duplicate came before the marker');
      } finally {
        await sub.end();
        await pub.end();
      }
    });

    test('QoS is downgraded to the granted subscription QoS', async () => {
      const topic = id('down');
      const sub0 = await open();
      const sub1 = await open();
      const pub = await open();
      try {
        const g0 = await sub0.client.subscribeAsync(topic, { qos: 0 });
        const g1 = await sub1.client.subscribeAsync(topic, { qos: 1 });
        assert.equal(g0[0].qos, 0);
        assert.equal(g1[0].qos, 1);
        await pub.client.publishAsync(topic, 'x', { qos: 2 });
        assert.equal((await sub0.next()).packet.qos, 0);
        assert.equal((await sub1.next()).packet.qos, 1);
      } finally {
        await Promise.all([sub0.end(), sub1.end(), pub.end()]);
      }
    });

    test('retained: set, replace, clear; sent on subscribe with RETAIN set, live copies without it', async () => {
      const topic = id('retained');
      const pub = await open();
      const live = await open();
      try {
        await live.client.subscribeAsync(topic, { qos: 1 });
        await pub.client.publishAsync(topic, 'first', { qos: 1, retain: true });
        await pub.client.publishAsync(topic, 'second', { qos: 1, retain: true });
        const l1 = await live.next();
        assert.equal(l1.payload, 'first');
        assert.equal(l1.packet.retain, false, 'a live subscriber sees RETAIN 0 [MQTT-3.3.1-9]');
        await live.next();

        const late = await open();
        await late.client.subscribeAsync(topic, { qos: 1 });
        const r = await late.next();
        assert.equal(r.payload, 'second', 'the replacement is what a new subscriber gets');
        assert.equal(r.packet.retain, true);
        assert.equal(r.packet.qos, 1);
        await late.end();

        await pub.client.publishAsync(topic, '', { qos: 1, retain: true });
        const after = await open();
        await after.client.subscribeAsync([topic, `${topic}-marker`], { qos: 1 });
        await pub.client.publishAsync(`${topic}-marker`, 'm', { qos: 1 });
        assert.equal((await after.next()).topic, `${topic}-marker`, 'a cleared topic sends nothing on subscribe');
        await after.end();
      } finally {
        await Promise.all([pub.end(), live.end()]);
      }
    });

    test('will: published when the socket is destroyed, not after DISCONNECT', async () => {
      const topic = id('will');
      const watcher = await open();
      try {
        await watcher.client.subscribeAsync(`${topic}/#`, { qos: 1 });
        const polite = await open({ will: { topic: `${topic}/polite`, payload: Buffer.from('bye'), qos: 1, retain: false } });
        await polite.end();
        const rude = await open({ will: { topic: `${topic}/rude`, payload: Buffer.from('gone'), qos: 1, retain: false } });
        rude.client.stream.destroy();
        const w = await watcher.next();
        assert.equal(w.topic, `${topic}/rude`);
        assert.equal(w.payload, 'gone');
        assert.equal(watcher.received.length, 1, 'the politely disconnected client left no will');
        await rude.end();
      } finally {
        await watcher.end();
      }
    });

    test('persistent session: subscriptions and QoS 1/2 messages wait while offline, come on reconnect', async () => {
      const clientId = id('persist');
      const topic = id('persist-topic');
      const session: IClientOptions =
        combo.protocolVersion === 5
          ? { clientId, clean: false, properties: { sessionExpiryInterval: 60 } }
          : { clientId, clean: false };
      const first = await open(session);
      assert.equal(first.connack?.sessionPresent, false);
      await first.client.subscribeAsync(topic, { qos: 2 });
      await first.end();

      const pub = await open();
      await pub.client.publishAsync(topic, 'q0', { qos: 0 });
      await pub.client.publishAsync(topic, 'q1', { qos: 1 });
      await pub.client.publishAsync(topic, 'q2', { qos: 2 });
      await pub.end();

      const again = await open(session);
      try {
        assert.equal(again.connack?.sessionPresent, true);
        const got = [await again.next(), await again.next()];
        assert.deepEqual(
          got.map((m) => [m.payload, m.packet.qos]),
          [
            ['q1', 1],
            ['q2', 2],
          ],
          'QoS 0 is not queued for an offline client (queue_qos0_messages false)',
        );
      } finally {
        await again.end();
      }
      // Clean start throws the session away.
      const clean = await open({ clientId, clean: true });
      assert.equal(clean.connack?.sessionPresent, false);
      await clean.end();
    });

    test('takeover: a second connection with the same client id closes the first', async () => {
      const clientId = id('takeover');
      const first = await open({ clientId });
      const gone = closed(first.client);
      let reason: number | undefined;
      first.client.on('disconnect', (p) => (reason = p.reasonCode));
      const second = await open({ clientId });
      await gone;
      if (combo.protocolVersion === 5) assert.equal(reason, 0x8e, 'v5 is told: Session taken over');
      assert.equal(second.client.connected, true);
      await second.client.subscribeAsync(id('still-works'), { qos: 1 });
      await Promise.all([first.end(), second.end()]);
    });

    test('takeover of a persistent session keeps it: session present, subscriptions still deliver', async () => {
      const clientId = id('takeover-persistent');
      const topic = id('tp');
      const session: IClientOptions =
        combo.protocolVersion === 5
          ? { clientId, clean: false, properties: { sessionExpiryInterval: 60 } }
          : { clientId, clean: false };
      const first = await open(session);
      await first.client.subscribeAsync(topic, { qos: 1 });
      const second = await open(session);
      await closed(first.client);
      assert.equal(second.connack?.sessionPresent, true);
      const pub = await open();
      await pub.client.publishAsync(topic, 'still subscribed', { qos: 1 });
      assert.equal((await second.next()).payload, 'still subscribed');
      await Promise.all([first.end(), second.end(), pub.end()]);
      const cleanUp = await open({ clientId, clean: true });
      await cleanUp.end();
    });
  });
}

test('will after a keepalive timeout (1.5 × keepalive of silence)', async () => {
  const watcher = await connectClient(b.url);
  try {
    await watcher.client.subscribeAsync('keepalive/will', { qos: 1 });
    const silent = await rawSession(b.port, 'silent', 4, {
      keepalive: 1,
      will: { topic: 'keepalive/will', payload: Buffer.from('timed out'), qos: 1, retain: false },
    });
    const openedAt = Date.now();
    await silent.closed;
    const elapsed = Date.now() - openedAt;
    const w = await watcher.next();
    assert.equal(w.payload, 'timed out');
    // 1.5 s is the earliest the broker may give up; the sweep runs once a second.
    assert.ok(elapsed >= 1500, `closed after ${elapsed} ms, before 1.5 × keepalive`);
  } finally {
    await watcher.end();
  }
});

test('a client that keeps pinging within its keepalive is not disconnected', async () => {
  // 3 × 1.2 s is longer than 1.5 × keepalive: only the pings keep the connection open.
  const peer = await rawSession(b.port, 'pinger', 4, { keepalive: 2 });
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 1200));
    peer.sendPacket({ cmd: 'pingreq' });
    assert.equal((await peer.next()).cmd, 'pingresp');
  }
  assert.equal(peer.isClosed(), false);
  peer.destroy();
});

/**
 * MQTT 5 features clients rely on, against an in-process mqttd with MQTT.js (and a raw
 * socket where the client library would hide what the broker did).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IClientOptions } from 'mqtt';
import type * as mqttPacket from 'mqtt-packet';
import { closed, connectClient, rawSession, startBroker, type TestBroker, type TestClient } from '../helpers/broker';

let b: TestBroker;
before(async () => {
  b = await startBroker({ limits: { maxKeepalive: 30, maxPacketSize: 4096 } });
});
after(async () => {
  await b.stop();
});

const v5 = (options: IClientOptions = {}): Promise<TestClient> => connectClient(b.url, { protocolVersion: 5, ...options });

test('No Local: a client does not get its own messages back, others do', async () => {
  const self = await v5();
  const other = await v5();
  try {
    await self.client.subscribeAsync('nl/t', { qos: 1, nl: true });
    await other.client.subscribeAsync('nl/t', { qos: 1 });
    await self.client.publishAsync('nl/t', 'mine', { qos: 1 });
    await other.client.publishAsync('nl/t', 'theirs', { qos: 1 });
    assert.equal((await other.next()).payload, 'mine');
    assert.equal((await self.next()).payload, 'theirs', 'the first message self receives is the other client\'s');
  } finally {
    await Promise.all([self.end(), other.end()]);
  }
});

test('subscribing again to the same filter replaces its options, No Local included [MQTT-3.8.4-3]', async () => {
  // mosquitto 2.0 keeps the first No Local here; mqttd follows the spec.
  const self = await v5();
  try {
    await self.client.subscribeAsync('nl2/t', { qos: 1, nl: false });
    await self.client.subscribeAsync('nl2/t', { qos: 1, nl: true });
    await self.client.subscribeAsync('nl2/marker', { qos: 1 });
    await self.client.publishAsync('nl2/t', 'own', { qos: 1 });
    await self.client.publishAsync('nl2/marker', 'm', { qos: 1 });
    assert.equal((await self.next()).topic, 'nl2/marker');
  } finally {
    await self.end();
  }
});

test('Retain As Published: live copies keep RETAIN only when asked', async () => {
  const keep = await v5();
  const clear = await v5();
  const pub = await v5();
  try {
    await keep.client.subscribeAsync('rap/t', { qos: 1, rap: true });
    await clear.client.subscribeAsync('rap/t', { qos: 1, rap: false });
    await pub.client.publishAsync('rap/t', 'r', { qos: 1, retain: true });
    assert.equal((await keep.next()).packet.retain, true);
    assert.equal((await clear.next()).packet.retain, false);
  } finally {
    await pub.client.publishAsync('rap/t', '', { qos: 1, retain: true });
    await Promise.all([keep.end(), clear.end(), pub.end()]);
  }
});

test('Retain Handling 0, 1, 2: every subscribe, new subscriptions only, never', async () => {
  const pub = await v5();
  await pub.client.publishAsync('rh/t', 'kept', { qos: 1, retain: true });
  await pub.client.publishAsync('rh/marker', 'k', { qos: 1, retain: true });
  // Subscribing to the marker after each attempt proves whether rh/t's retained message came.
  const retainedAfter = async (c: TestClient, rh: 0 | 1 | 2): Promise<string[]> => {
    await c.client.subscribeAsync('rh/t', { qos: 1, rh });
    await c.client.unsubscribeAsync('rh/marker');
    await c.client.subscribeAsync('rh/marker', { qos: 1 });
    const got: string[] = [];
    for (;;) {
      const m = await c.next();
      if (m.topic === 'rh/marker') return got;
      got.push(m.payload);
    }
  };
  const c = await v5();
  try {
    assert.deepEqual(await retainedAfter(c, 0), ['kept']);
    assert.deepEqual(await retainedAfter(c, 0), ['kept'], 'rh 0: again on a repeated subscribe');
    await c.client.unsubscribeAsync('rh/t');
    assert.deepEqual(await retainedAfter(c, 1), ['kept'], 'rh 1: sent for a new subscription');
    assert.deepEqual(await retainedAfter(c, 1), [], 'rh 1: not for an existing one');
    await c.client.unsubscribeAsync('rh/t');
    assert.deepEqual(await retainedAfter(c, 2), [], 'rh 2: never');
  } finally {
    await pub.client.publishAsync('rh/t', '', { qos: 1, retain: true });
    await pub.client.publishAsync('rh/marker', '', { qos: 1, retain: true });
    await Promise.all([c.end(), pub.end()]);
  }
});

test('subscription identifiers: each matching subscription delivers its own copy with its id', async () => {
  const c = await v5();
  const pub = await v5();
  try {
    await c.client.subscribeAsync('sid/+', { qos: 1, properties: { subscriptionIdentifier: 7 } });
    await c.client.subscribeAsync('sid/#', { qos: 1, properties: { subscriptionIdentifier: 268435455 } });
    await c.client.subscribeAsync('sid/none', { qos: 1 });
    await pub.client.publishAsync('sid/x', 'a', { qos: 1 });
    const ids = [await c.next(), await c.next()].map((m) => m.packet.properties?.subscriptionIdentifier).sort();
    assert.deepEqual(ids, [268435455, 7].sort());
    await pub.client.publishAsync('sid/none', 'b', { qos: 1 });
    const seen = [await c.next(), await c.next(), await c.next()];
    const plain = seen.find((m) => m.packet.properties?.subscriptionIdentifier === undefined);
    assert.ok(plain, 'the subscription without an id delivers without one');
  } finally {
    await Promise.all([c.end(), pub.end()]);
  }
});

test('shared subscriptions: round robin between the members of a group over real connections', async () => {
  const m1 = await v5();
  const m2 = await v5();
  const pub = await v5();
  try {
    await m1.client.subscribeAsync('$share/workers/jobs/#', { qos: 1 });
    await m2.client.subscribeAsync('$share/workers/jobs/#', { qos: 1 });
    for (let i = 0; i < 6; i++) await pub.client.publishAsync(`jobs/${i}`, String(i), { qos: 1 });
    const a = [await m1.next(), await m1.next(), await m1.next()].map((m) => m.payload);
    const c = [await m2.next(), await m2.next(), await m2.next()].map((m) => m.payload);
    assert.deepEqual([...a, ...c].sort(), ['0', '1', '2', '3', '4', '5']);
    assert.ok(
      (a.join() === '0,2,4' && c.join() === '1,3,5') || (a.join() === '1,3,5' && c.join() === '0,2,4'),
      `alternating, got ${a} and ${c}`,
    );
  } finally {
    await Promise.all([m1.end(), m2.end(), pub.end()]);
  }
});

test('Message Expiry: an expired queued message is not delivered; a live one carries what is left', async () => {
  const clientId = 'expiry-client';
  const first = await v5({ clientId, clean: false, properties: { sessionExpiryInterval: 60 } });
  await first.client.subscribeAsync('exp/t', { qos: 1 });
  await first.end();
  const pub = await v5();
  await pub.client.publishAsync('exp/t', 'short', { qos: 1, properties: { messageExpiryInterval: 1 } });
  await pub.client.publishAsync('exp/t', 'long', { qos: 1, properties: { messageExpiryInterval: 100 } });
  await pub.end();
  await new Promise((r) => setTimeout(r, 1100));
  const again = await v5({ clientId, clean: false, properties: { sessionExpiryInterval: 0 } });
  try {
    const m = await again.next();
    assert.equal(m.payload, 'long');
    const left = m.packet.properties?.messageExpiryInterval;
    assert.ok(left !== undefined && left <= 100 && left >= 1, `expiry left: ${left}`);
  } finally {
    await again.end();
  }
});

test('Topic Alias from the client: set with a topic, then used alone; an alias over the maximum is refused', async () => {
  const sub = await v5();
  const pub = await v5();
  try {
    assert.ok((pub.connack?.properties?.topicAliasMaximum ?? 0) > 0, 'CONNACK announces Topic Alias Maximum');
    await sub.client.subscribeAsync('alias/#', { qos: 1 });
    await pub.client.publishAsync('alias/long/topic', 'one', { qos: 1, properties: { topicAlias: 1 } });
    await pub.client.publishAsync('', 'two', { qos: 1, properties: { topicAlias: 1 } });
    assert.deepEqual([await sub.next(), await sub.next()].map((m) => `${m.topic}=${m.payload}`), [
      'alias/long/topic=one',
      'alias/long/topic=two',
    ]);
  } finally {
    await Promise.all([sub.end(), pub.end()]);
  }
  const raw = await rawSession(b.port, 'alias-abuser', 5);
  raw.sendPacket({ cmd: 'publish', topic: 'alias/x', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: 60000 } });
  const d = (await raw.next()) as mqttPacket.IDisconnectPacket;
  assert.equal(d.cmd, 'disconnect');
  assert.equal(d.reasonCode, 0x94);
  await raw.closed;
});

test('Receive Maximum: no more unacknowledged QoS 1 messages than the client allows', async () => {
  const raw = await rawSession(b.port, 'small-window', 5, { properties: { receiveMaximum: 2 } });
  raw.sendPacket({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'rm/#', qos: 1 }] });
  assert.equal((await raw.next()).cmd, 'suback');
  const pub = await v5();
  try {
    for (let i = 1; i <= 4; i++) await pub.client.publishAsync(`rm/${i}`, String(i), { qos: 1 });
    // QoS 0 is outside the window: it overtakes the held messages and shows the window is full.
    await pub.client.publishAsync('rm/marker', 'm', { qos: 0 });
    const got = [(await raw.next()) as mqttPacket.IPublishPacket, (await raw.next()) as mqttPacket.IPublishPacket];
    const marker = (await raw.next()) as mqttPacket.IPublishPacket;
    assert.deepEqual(got.map((p) => p.topic), ['rm/1', 'rm/2']);
    assert.equal(marker.topic, 'rm/marker');
    raw.sendPacket({ cmd: 'puback', messageId: got[0].messageId });
    assert.equal(((await raw.next()) as mqttPacket.IPublishPacket).topic, 'rm/3');
  } finally {
    raw.destroy();
    await pub.end();
  }
});

test('Maximum Packet Size: the client\'s limit drops what it cannot take; the broker\'s is announced and enforced', async () => {
  const small = await v5({ properties: { maximumPacketSize: 200 } });
  const pub = await v5();
  try {
    assert.equal(small.connack?.properties?.maximumPacketSize, 4096);
    await small.client.subscribeAsync('mps/#', { qos: 1 });
    await pub.client.publishAsync('mps/big', Buffer.alloc(500, 1), { qos: 1 });
    await pub.client.publishAsync('mps/small', 'ok', { qos: 1 });
    assert.equal((await small.next()).topic, 'mps/small', 'the oversize message was skipped, not sent');
  } finally {
    await Promise.all([small.end(), pub.end()]);
  }
  const raw = await rawSession(b.port, 'too-big', 5);
  raw.sendPacket({ cmd: 'publish', topic: 'mps/x', payload: Buffer.alloc(5000), qos: 0, retain: false, dup: false });
  const d = (await raw.next()) as mqttPacket.IDisconnectPacket;
  assert.equal(d.cmd, 'disconnect');
  assert.equal(d.reasonCode, 0x95);
  await raw.closed;
});

test('server keep alive: a v5 keepalive above max_keepalive is lowered in CONNACK', async () => {
  const c = await v5({ keepalive: 120 });
  assert.equal(c.connack?.properties?.serverKeepAlive, 30);
  await c.end();
  const raw = await rawSession(b.port, 'zero-keepalive', 5, { keepalive: 0 });
  const connack = raw.packets[0] as mqttPacket.IConnackPacket;
  assert.equal(connack.properties?.serverKeepAlive, 30, 'keepalive 0 (none) is also above the limit');
  raw.destroy();
});

test('server keep alive is enforced: a silent client is closed after 1.5 × the server\'s value, not its own', async () => {
  const strict = await startBroker({ limits: { maxKeepalive: 1 } });
  try {
    const raw = await rawSession(strict.port, 'sleepy', 5, { keepalive: 600 });
    assert.equal((raw.packets[0] as mqttPacket.IConnackPacket).properties?.serverKeepAlive, 1);
    await raw.closed;
    const d = raw.packets.find((p) => p.cmd === 'disconnect') as mqttPacket.IDisconnectPacket | undefined;
    assert.equal(d?.reasonCode, 0x8d, 'Keep Alive timeout');
  } finally {
    await strict.stop();
  }
});

test('will delay: published after the delay, cancelled by a reconnect within it', async () => {
  const watcher = await v5();
  await watcher.client.subscribeAsync('wd/#', { qos: 1 });
  const will = (name: string, delay: number): IClientOptions => ({
    clientId: name,
    clean: false,
    properties: { sessionExpiryInterval: 30 },
    will: { topic: `wd/${name}`, payload: Buffer.from(name), qos: 1, retain: false, properties: { willDelayInterval: delay } },
  });
  try {
    const delayed = await v5(will('delayed', 1));
    const cancelled = await v5(will('cancelled', 2));
    delayed.client.stream.destroy();
    cancelled.client.stream.destroy();
    await Promise.all([closed(delayed.client), closed(cancelled.client)]);
    const back = await v5({ clientId: 'cancelled', clean: false, properties: { sessionExpiryInterval: 30 } });
    const w = await watcher.next();
    assert.equal(w.topic, 'wd/delayed');
    // The cancelled will's delay (2 s) plus a sweep has passed once this arrives.
    await new Promise((r) => setTimeout(r, 2500));
    assert.deepEqual(watcher.received.map((m) => m.topic), ['wd/delayed']);
    await back.client.endAsync();
    await Promise.all([delayed.end(), cancelled.end()]);
  } finally {
    await watcher.end();
  }
});

test('will delay and takeover: Clean Start 0 cancels the old connection\'s will, Clean Start 1 sends it at once', async () => {
  const watcher = await v5();
  await watcher.client.subscribeAsync('wt/#', { qos: 1 });
  const withWill = (name: string): IClientOptions => ({
    clientId: name,
    clean: false,
    properties: { sessionExpiryInterval: 60 },
    // Long enough that only the takeover can make it go out during the test.
    will: { topic: `wt/${name}`, payload: Buffer.from(name), qos: 1, retain: false, properties: { willDelayInterval: 600 } },
  });
  try {
    const kept = await v5(withWill('kept'));
    const resumed = await v5({ clientId: 'kept', clean: false, properties: { sessionExpiryInterval: 60 } });
    await closed(kept.client);
    const replaced = await v5(withWill('replaced'));
    const fresh = await v5({ clientId: 'replaced', clean: true });
    await closed(replaced.client);
    const w = await watcher.next();
    assert.equal(w.topic, 'wt/replaced', 'the session ended, so its will went out without waiting');
    // The marker comes after anything the takeovers published: 'kept' must not be there.
    await fresh.client.publishAsync('wt/marker', 'm', { qos: 1 });
    assert.equal((await watcher.next()).topic, 'wt/marker');
    await Promise.all([kept.end(), resumed.end(), replaced.end(), fresh.end()]);
  } finally {
    await watcher.end();
  }
});

test('reason strings: a refused CONNECT and a refused PUBLISH say why', async () => {
  const refusing = await startBroker({
    hooks: { authenticate: (r) => (r.username === 'ok' ? 'ok' : 'bad-credentials'), authorizePublish: (_c, t) => t !== 'forbidden' },
  });
  try {
    const raw = await rawSession(refusing.port, 'who', 5, { username: 'nobody', password: Buffer.from('x') });
    const connack = raw.packets[0] as mqttPacket.IConnackPacket;
    assert.equal(connack.reasonCode, 0x87);
    assert.ok((connack.properties?.reasonString ?? '').length > 0, 'CONNACK carries a reason string');
    await raw.closed;
    const c = await connectClient(refusing.url, { protocolVersion: 5, username: 'ok', password: 'x' });
    const puback = await new Promise<mqttPacket.IPubackPacket>((resolve) => {
      c.client.publish('forbidden', 'x', { qos: 1 }, (_err, packet) => resolve(packet as mqttPacket.IPubackPacket));
    });
    assert.equal(puback.reasonCode, 0x87);
    assert.equal(puback.properties?.reasonString, 'not authorised to publish to this topic');
    await c.end();
    // A client that asks for no problem information gets the code alone (§3.1.2.11.7).
    const quiet = await connectClient(refusing.url, { protocolVersion: 5, username: 'ok', password: 'x', properties: { requestProblemInformation: false } });
    const bare = await new Promise<mqttPacket.IPubackPacket>((resolve) => {
      quiet.client.publish('forbidden', 'x', { qos: 1 }, (_err, packet) => resolve(packet as mqttPacket.IPubackPacket));
    });
    assert.equal(bare.reasonCode, 0x87);
    assert.equal(bare.properties?.reasonString, undefined);
    await quiet.end();
  } finally {
    await refusing.stop();
  }
});

/**
 * Session behaviour seen on the wire, with raw sockets where a client library would hide
 * it: DUP resend on reconnect, QoS 2 exactly once, overlapping subscriptions, session
 * expiry, and the limits that refuse cleanly.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type * as mqttPacket from 'mqtt-packet';
import { connectClient, rawConnect, rawSession, startBroker, type TestBroker } from '../helpers/broker';

let b: TestBroker;
before(async () => {
  b = await startBroker({ limits: { maxQueuedMessages: 3, maxInflightMessages: 2 } });
});
after(async () => {
  await b.stop();
});

const publish = (topic: string, payload: string, qos: 0 | 1 | 2, messageId?: number): mqttPacket.IPublishPacket => ({
  cmd: 'publish',
  topic,
  payload: Buffer.from(payload),
  qos,
  retain: false,
  dup: false,
  messageId,
});

async function nextPublish(peer: Awaited<ReturnType<typeof rawConnect>>): Promise<mqttPacket.IPublishPacket> {
  for (;;) {
    const p = await peer.next();
    if (p.cmd === 'publish') return p as mqttPacket.IPublishPacket;
  }
}

test('reconnect: unacknowledged QoS 1 is resent with DUP and its id; QoS 2 after PUBREC gets PUBREL', async () => {
  const persist = { clean: false };
  let peer = await rawSession(b.port, 'dup-client', 4, persist);
  peer.sendPacket({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'dup/#', qos: 2 }] });
  await peer.next();
  const pub = await connectClient(b.url);
  await pub.client.publishAsync('dup/one', 'q1', { qos: 1 });
  await pub.client.publishAsync('dup/two', 'q2', { qos: 2 });
  const first = await nextPublish(peer);
  const second = await nextPublish(peer);
  assert.equal(first.dup, false);
  // Acknowledge only the first half of the QoS 2 exchange, then drop the connection.
  peer.sendPacket({ cmd: 'pubrec', messageId: second.messageId });
  const pubrel = await peer.next();
  assert.equal(pubrel.cmd, 'pubrel');
  peer.destroy();
  await peer.closed;

  peer = await rawSession(b.port, 'dup-client', 4, persist);
  assert.equal((peer.packets[0] as mqttPacket.IConnackPacket).sessionPresent, true);
  const again = await nextPublish(peer);
  assert.equal(again.topic, 'dup/one');
  assert.equal(again.dup, true, 'DUP set on the resend [MQTT-3.3.1-1]');
  assert.equal(again.messageId, first.messageId);
  const rel = await peer.next();
  assert.deepEqual([rel.cmd, (rel as mqttPacket.IPubrelPacket).messageId], ['pubrel', second.messageId]);
  peer.sendPacket({ cmd: 'puback', messageId: again.messageId });
  peer.sendPacket({ cmd: 'pubcomp', messageId: second.messageId });
  // Nothing more is owed: a third message arrives as new.
  await pub.client.publishAsync('dup/three', 'q3', { qos: 1 });
  const third = await nextPublish(peer);
  assert.equal(third.topic, 'dup/three');
  assert.equal(third.dup, false);
  peer.destroy();
  await pub.end();
});

test('incoming QoS 2: a resent PUBLISH before PUBREL is not delivered twice', async () => {
  const watcher = await connectClient(b.url);
  await watcher.client.subscribeAsync('once/#', { qos: 2 });
  const peer = await rawSession(b.port, 'qos2-sender', 4);
  peer.sendPacket(publish('once/x', 'exactly', 2, 42));
  assert.equal((await peer.next()).cmd, 'pubrec');
  peer.sendPacket({ ...publish('once/x', 'exactly', 2, 42), dup: true });
  assert.equal((await peer.next()).cmd, 'pubrec');
  peer.sendPacket({ cmd: 'pubrel', messageId: 42 });
  assert.equal((await peer.next()).cmd, 'pubcomp');
  peer.sendPacket(publish('once/end', 'marker', 1, 43));
  await peer.next();
  const topics = [(await watcher.next()).topic, (await watcher.next()).topic];
  assert.deepEqual(topics, ['once/x', 'once/end']);
  peer.destroy();
  await watcher.end();
});

test('overlapping subscriptions: a v3 client gets one copy at the highest QoS, a v5 client one per subscription', async () => {
  const pub = await connectClient(b.url);
  for (const version of [4, 5] as const) {
    const peer = await rawSession(b.port, `overlap-${version}`, version);
    peer.sendPacket({
      cmd: 'subscribe',
      messageId: 1,
      subscriptions: [
        { topic: `ov${version}/#`, qos: 0 },
        { topic: `ov${version}/+`, qos: 2 },
        { topic: '+/x', qos: 1 },
      ],
    });
    assert.deepEqual(((await peer.next()) as mqttPacket.ISubackPacket).granted, [0, 2, 1]);
    await pub.client.publishAsync(`ov${version}/x`, 'x', { qos: 2 });
    await pub.client.publishAsync(`ov${version}/end`, 'end', { qos: 0 });
    const got: string[] = [];
    for (;;) {
      const p = await nextPublish(peer);
      if (p.topic.endsWith('/end')) break;
      got.push(`q${p.qos}`);
      if (p.qos === 1) peer.sendPacket({ cmd: 'puback', messageId: p.messageId });
      if (p.qos === 2) peer.sendPacket({ cmd: 'pubrec', messageId: p.messageId });
    }
    if (version === 4) assert.deepEqual(got, ['q2'], 'one copy, at the highest granted QoS [MQTT-3.3.5-1]');
    else assert.deepEqual(got.sort(), ['q0', 'q1', 'q2']);
    peer.destroy();
  }
  await pub.end();
});

test('max_queued_messages bounds an offline session; the oldest are kept', async () => {
  const sub = await connectClient(b.url, { clientId: 'bounded', clean: false });
  await sub.client.subscribeAsync('bounded/#', { qos: 1 });
  await sub.end();
  const pub = await connectClient(b.url);
  for (let i = 1; i <= 6; i++) await pub.client.publishAsync(`bounded/${i}`, String(i), { qos: 1 });
  await pub.end();
  const back = await connectClient(b.url, { clientId: 'bounded', clean: false });
  const got = [await back.next(), await back.next(), await back.next()].map((m) => m.payload);
  assert.deepEqual(got, ['1', '2', '3']);
  assert.equal(await back.nothingWithin(300), true, 'messages beyond the limit were dropped');
  await back.end();
});

test('v5 Session Expiry: the session is gone once the interval has passed', async () => {
  const opts = { protocolVersion: 5 as const, clientId: 'short-lived', clean: false, properties: { sessionExpiryInterval: 1 } };
  const c = await connectClient(b.url, opts);
  await c.end();
  const soon = await connectClient(b.url, opts);
  assert.equal(soon.connack?.sessionPresent, true);
  await soon.end();
  // The sweep runs once a second; 1 s of expiry is certainly over after 2.2 s.
  await new Promise((r) => setTimeout(r, 2200));
  const late = await connectClient(b.url, opts);
  assert.equal(late.connack?.sessionPresent, false);
  await late.end();
});

test('limits refuse cleanly: max_connections, message_size_limit, retain_available false', async () => {
  const small = await startBroker({ limits: { maxConnections: 1, messageSizeLimit: 10, retainAvailable: false } });
  try {
    const one = await connectClient(small.url, { protocolVersion: 5 });
    const twoRaw = await rawConnect(small.port, 5);
    twoRaw.sendPacket({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'second', clean: true, keepalive: 0 });
    const refused = (await twoRaw.next()) as mqttPacket.IConnackPacket;
    assert.equal(refused.reasonCode, 0x89, 'Server Busy');
    await twoRaw.closed;

    await one.client.subscribeAsync('lim/#', { qos: 1 });
    const big = await new Promise<mqttPacket.IPubackPacket>((resolve) =>
      one.client.publish('lim/big', 'x'.repeat(11), { qos: 1 }, (_e, p) => resolve(p as mqttPacket.IPubackPacket)),
    );
    // 0x97 Quota exceeded: Packet Too Large (0x95) is not a valid PUBACK reason code (mosquitto sends it anyway).
    assert.equal(big.reasonCode, 0x97, 'payload over message_size_limit is refused');
    await one.client.publishAsync('lim/ok', 'x'.repeat(10), { qos: 1 });
    assert.equal((await one.next()).topic, 'lim/ok');
    assert.equal(one.connack?.properties?.retainAvailable, false);
    await one.end();
  } finally {
    await small.stop();
  }
});

/**
 * Every resource a client can make the broker hold is bounded (issue 12): these tests prove
 * each bound over real sockets by the broker's own accounting (`broker.memory`, session and
 * retained counts) and by the refusal it sends, never by timing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as mqttPacket from 'mqtt-packet';
import WebSocket from 'ws';
import { connectClient, eventually, rawConnect, rawSession, startBroker, subackCodes, type RawPeer } from '../helpers/broker';
import type { BrokerLimits } from '../../src/broker/Broker';

/** The first bytes of a PUBLISH whose payload has `payloadLength` bytes: everything but the payload. */
function publishHead(topic: string, payloadLength: number, qos: 0 | 1 | 2, packetId: number, v5: boolean): Buffer {
  const packet: mqttPacket.IPublishPacket = { cmd: 'publish', topic, payload: Buffer.alloc(payloadLength), qos, messageId: packetId, dup: false, retain: false };
  const whole = mqttPacket.generate(packet, { protocolVersion: v5 ? 5 : 4 });
  return whole.subarray(0, whole.length - payloadLength);
}

async function openWebSocket(port: number): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/mqtt`, 'mqtt');
  await new Promise<void>((r, j) => {
    ws.once('open', () => r());
    ws.once('error', j);
  });
  return ws;
}

async function brokerWith(limits: Partial<BrokerLimits>, websockets = false) {
  return startBroker({ limits, websockets });
}

async function nextOf(peer: RawPeer, cmd: string): Promise<mqttPacket.Packet> {
  for (;;) {
    const p = await peer.next();
    if (p.cmd === cmd) return p;
  }
}

test('a PUBLISH over message_size_limit is refused from its head and skipped unbuffered; the connection goes on', async () => {
  const b = await brokerWith({ messageSizeLimit: 1000 });
  try {
    const peer = await rawSession(b.port, 'big5', 5);
    const bodyLength = 4 * 1024 * 1024;
    peer.send(publishHead('t/big', bodyLength, 1, 7, true));
    // The refusal comes before a byte of the 4 MB payload was sent.
    const ack = (await nextOf(peer, 'puback')) as mqttPacket.IPubackPacket;
    assert.equal(ack.messageId, 7);
    assert.equal(ack.reasonCode, 0x97, 'v5 hears Quota exceeded');
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    for (let sent = 0; sent < bodyLength; sent += chunk.length) {
      peer.send(chunk.subarray(0, Math.min(chunk.length, bodyLength - sent)));
      assert.equal(b.broker.memory.bufferedBytes, 0, 'nothing of the refused packet is buffered');
    }
    // The skipped bytes were exactly the refused packet's: the next PUBLISH is read normally.
    peer.sendPacket({ cmd: 'publish', topic: 't/small', payload: Buffer.from('ok'), qos: 1, messageId: 8, dup: false, retain: false }, 5);
    const ok = (await nextOf(peer, 'puback')) as mqttPacket.IPubackPacket;
    assert.equal(ok.messageId, 8);
    assert.ok((ok.reasonCode ?? 0) < 0x80, 'a small PUBLISH after the skipped one is accepted');
    assert.equal(peer.isClosed(), false);
    peer.destroy();
  } finally {
    await b.stop();
  }
});

test('a v3 PUBLISH over message_size_limit is acknowledged and dropped unbuffered, as mosquitto does', async () => {
  const b = await brokerWith({ messageSizeLimit: 1000 });
  try {
    const sub = await connectClient(b.url);
    await sub.client.subscribeAsync('t/#', { qos: 1 });
    const peer = await rawSession(b.port, 'big3', 4);
    peer.send(publishHead('t/big', 200_000, 1, 3, false));
    const ack = await nextOf(peer, 'puback');
    assert.equal((ack as mqttPacket.IPubackPacket).messageId, 3);
    peer.send(Buffer.alloc(200_000));
    assert.equal(b.broker.memory.bufferedBytes, 0);
    peer.sendPacket({ cmd: 'publish', topic: 't/after', payload: Buffer.from('x'), qos: 1, messageId: 4, dup: false, retain: false });
    await nextOf(peer, 'puback');
    const got = await sub.next();
    assert.equal(got.topic, 't/after', 'the refused message was not routed');
    peer.destroy();
    await sub.end();
  } finally {
    await b.stop();
  }
});

test('a packet over max_packet_size is refused from its fixed header: DISCONNECT 0x95, nothing buffered', async () => {
  const b = await brokerWith({ maxPacketSize: 100_000 });
  try {
    const peer = await rawSession(b.port, 'huge', 5);
    peer.send(publishHead('t/x', 50 * 1024 * 1024, 0, 0, true));
    const d = (await nextOf(peer, 'disconnect')) as mqttPacket.IDisconnectPacket;
    assert.equal(d.reasonCode, 0x95);
    await peer.closed;
    assert.equal(b.broker.memory.bufferedBytes, 0);
  } finally {
    await b.stop();
  }
});

test('a big allowed packet is held once: one buffer of its size while it arrives, and its payload is that buffer', async () => {
  const b = await brokerWith({});
  try {
    const sub = await connectClient(b.url);
    await sub.client.subscribeAsync('big', { qos: 0 });
    const peer = await rawSession(b.port, 'bigok', 4);
    const payload = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = i % 251;
    const head = publishHead('big', payload.length, 0, 0, false);
    const total = head.length + payload.length;
    peer.send(head);
    peer.send(payload.subarray(0, 1024 * 1024));
    await eventually(() => b.broker.memory.bufferedBytes > 0, 'the first megabyte read');
    assert.equal(b.broker.memory.bufferedBytes, total, 'exactly one buffer of the packet size, not chunks plus a copy');
    peer.send(payload.subarray(1024 * 1024));
    const got = await sub.next(10000);
    assert.ok((got.packet.payload as Buffer).equals(payload), 'the payload arrives intact');
    assert.equal(b.broker.memory.bufferedBytes, 0);
    peer.destroy();
    await sub.end();
  } finally {
    await b.stop();
  }
});

test('a v5 message with a 30 KB user property keeps a payload of its own, not a view of the whole packet', async () => {
  const b = await brokerWith({});
  try {
    const c = await connectClient(b.url, { protocolVersion: 5 });
    await c.client.publishAsync('props/t', Buffer.from('0123456789'), {
      qos: 1,
      retain: true,
      properties: { userProperties: { big: 'x'.repeat(30 * 1024) } },
    });
    const stored = b.broker.retained.get('props/t');
    assert.ok(stored);
    assert.equal(stored.payload.length, 10);
    assert.ok(stored.payload.buffer.byteLength < 30 * 1024, `payload pins ${stored.payload.buffer.byteLength} bytes`);
    await c.end();
  } finally {
    await b.stop();
  }
});

test('WebSocket: a message before login is bounded by the pre-CONNECT limit; after login max_packet_size applies', async () => {
  const b = await brokerWith({}, true);
  try {
    const ws = await openWebSocket(b.wsPort);
    const code = new Promise<number>((r) => ws.once('close', (c) => r(c)));
    // A 2 MiB frame that starts like a CONNECT: refused by ws before it is buffered whole.
    const frame = Buffer.alloc(2 * 1024 * 1024);
    frame[0] = 0x10;
    ws.send(frame);
    assert.equal(await code, 1009, 'Message Too Big');

    // The same in fragments: ws counts the whole message, so 3 × 600 KiB unfinished frames are refused too.
    const fragmented = await openWebSocket(b.wsPort);
    const fragmentedCode = new Promise<number>((r) => fragmented.once('close', (c) => r(c)));
    fragmented.on('error', () => undefined);
    const piece = Buffer.alloc(600 * 1024);
    piece[0] = 0x10;
    for (let i = 0; i < 3; i++) fragmented.send(piece, { fin: false });
    assert.equal(await fragmentedCode, 1009, 'a fragmented message over the limit is refused');

    // A logged-in client may send a 2 MiB PUBLISH (the limit was raised for it).
    const sub = await connectClient(b.url);
    await sub.client.subscribeAsync('ws/big', { qos: 0 });
    const pub = await connectClient(b.wsUrl);
    pub.client.publish('ws/big', Buffer.alloc(2 * 1024 * 1024, 7));
    const got = await sub.next(10000);
    assert.equal((got.packet.payload as Buffer).length, 2 * 1024 * 1024);
    await pub.end();
    await sub.end();
  } finally {
    await b.stop();
  }
});

test('max_persistent_sessions: a new persistent session beyond it is refused (v5 0x97, v3 3); existing ones resume, clean ones connect', async () => {
  const b = await brokerWith({ maxPersistentSessions: 2 });
  try {
    for (const id of ['p1', 'p2']) {
      const c = await connectClient(b.url, { clientId: id, clean: false });
      await c.end();
    }
    const v5 = await rawConnect(b.port, 5);
    v5.sendPacket({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'p3', clean: true, keepalive: 0, properties: { sessionExpiryInterval: 3600 } });
    assert.equal(((await v5.next()) as mqttPacket.IConnackPacket).reasonCode, 0x97);
    const v3 = await rawConnect(b.port, 4);
    v3.sendPacket({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'p4', clean: false, keepalive: 0 });
    assert.equal(((await v3.next()) as mqttPacket.IConnackPacket).returnCode, 3);
    assert.equal(b.broker.sessions.size, 2);
    const again = await connectClient(b.url, { clientId: 'p1', clean: false });
    await again.end();
    const clean = await connectClient(b.url, { clientId: 'c1', clean: true });
    await clean.end();
    v5.destroy();
    v3.destroy();
  } finally {
    await b.stop();
  }
});

test('persistent_client_expiration caps every session, a v5 Session Expiry of 136 years included', async () => {
  const b = await brokerWith({ persistentClientExpiration: 1 });
  try {
    const c = await connectClient(b.url, { clientId: 'v5long', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 0xfffffffe } });
    await c.end();
    assert.ok(b.broker.sessions.has('v5long'));
    await eventually(() => !b.broker.sessions.has('v5long'), 'the session expired at persistent_client_expiration', 5000);
  } finally {
    await b.stop();
  }
});

test('memory_limit: PUBLISHes are refused once the broker holds more than the limit (v5 0x97; v3 QoS 1 disconnected unacknowledged)', async () => {
  const limit = 200_000;
  const b = await brokerWith({ memoryLimit: limit });
  try {
    const peer = await rawSession(b.port, 'mem5', 5);
    let refused: mqttPacket.IPubackPacket | undefined;
    for (let id = 1; id < 100 && refused === undefined; id++) {
      peer.sendPacket({ cmd: 'publish', topic: `mem/${id}`, payload: Buffer.alloc(10_000), qos: 1, messageId: id, dup: false, retain: true }, 5);
      const ack = (await nextOf(peer, 'puback')) as mqttPacket.IPubackPacket;
      if ((ack.reasonCode ?? 0) >= 0x80) refused = ack;
    }
    assert.ok(refused, 'a PUBLISH was refused');
    assert.equal(refused.reasonCode, 0x97);
    const used = b.broker.memory.used;
    assert.ok(used <= limit + 11_000, `held ${used} bytes, limit ${limit}`);
    assert.equal(b.broker.memory.retainedBytes, b.broker.memory.used, 'retained messages are what is held');

    const v3 = await rawSession(b.port, 'mem3', 4);
    v3.sendPacket({ cmd: 'publish', topic: 'mem/v3', payload: Buffer.alloc(10_000), qos: 1, messageId: 1, dup: false, retain: false });
    await v3.closed;
    assert.equal(v3.packets.filter((p) => p.cmd === 'puback').length, 0, 'not acknowledged: the client keeps it to send again');

    // Clearing retained messages gives the memory back, and PUBLISHes are accepted again.
    for (let id = 1; id < 100 && b.broker.retained.size > 0; id++) {
      peer.sendPacket({ cmd: 'publish', topic: `mem/${id}`, payload: Buffer.alloc(0), qos: 0, dup: false, retain: true }, 5);
    }
    await eventually(() => b.broker.retained.size === 0, 'retained cleared');
    assert.equal(b.broker.memory.used, 0);
    peer.sendPacket({ cmd: 'publish', topic: 'mem/x', payload: Buffer.alloc(10), qos: 1, messageId: 200, dup: false, retain: false }, 5);
    const ok = (await nextOf(peer, 'puback')) as mqttPacket.IPubackPacket;
    assert.ok((ok.reasonCode ?? 0) < 0x80);
    peer.destroy();
  } finally {
    await b.stop();
  }
});

test('memory_limit counts queued messages and lets go of them when the session ends', async () => {
  const b = await brokerWith({ memoryLimit: 10_000_000, maxQueuedMessages: 0 });
  try {
    const sub = await connectClient(b.url, { clientId: 'q', clean: false });
    await sub.client.subscribeAsync('q/#', { qos: 1 });
    await sub.end();
    const pub = await connectClient(b.url);
    for (let i = 0; i < 20; i++) await pub.client.publishAsync('q/t', Buffer.alloc(1000), { qos: 1 });
    assert.ok(b.broker.memory.queuedBytes >= 20 * 1000, `queued ${b.broker.memory.queuedBytes}`);
    const clean = await connectClient(b.url, { clientId: 'q', clean: true });
    await clean.end();
    assert.equal(b.broker.memory.queuedBytes, 0, 'the ended session gave its queue back');
    await pub.end();
  } finally {
    await b.stop();
  }
});

test('memory_limit counts a message queued for many offline sessions once, and each queue entry', async () => {
  const b = await brokerWith({ memoryLimit: 10_000_000 });
  try {
    for (let i = 0; i < 20; i++) {
      const sub = await connectClient(b.url, { clientId: `fan-${i}`, clean: false });
      await sub.client.subscribeAsync('fan/t', { qos: 1 });
      await sub.end();
    }
    const pub = await connectClient(b.url);
    await pub.client.publishAsync('fan/t', Buffer.alloc(10_000), { qos: 1 });
    const queued = b.broker.memory.queuedBytes;
    assert.ok(queued >= 10_000 + 20 * 50, `queued ${queued}: the payload and the 20 entries`);
    assert.ok(queued < 2 * 10_000, `queued ${queued}: the payload is counted once, not 20 times`);
    await pub.end();
  } finally {
    await b.stop();
  }
});

test('QoS 2 messages awaiting PUBREL are bounded: v5 is told the Receive Maximum and DISCONNECTed 0x93 beyond it, v3 closed', async () => {
  const b = await brokerWith({ maxInflightMessages: 2, maxQueuedMessages: 3 });
  try {
    const peer = await rawConnect(b.port, 5);
    peer.sendPacket({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'q2', clean: true, keepalive: 0 });
    const connack = (await peer.next()) as mqttPacket.IConnackPacket;
    assert.equal(connack.properties?.receiveMaximum, 5);
    for (let id = 1; id <= 6; id++) {
      peer.sendPacket({ cmd: 'publish', topic: 'q2/t', payload: Buffer.from('x'), qos: 2, messageId: id, dup: false, retain: false }, 5);
    }
    const d = (await nextOf(peer, 'disconnect')) as mqttPacket.IDisconnectPacket;
    assert.equal(d.reasonCode, 0x93);
    assert.equal(peer.packets.filter((p) => p.cmd === 'pubrec').length, 5);

    // v3 is told nothing and held to the same bound: closed at the sixth.
    const v3 = await rawSession(b.port, 'q2v3', 4);
    for (let id = 1; id <= 6; id++) {
      v3.sendPacket({ cmd: 'publish', topic: 'q2/t', payload: Buffer.from('x'), qos: 2, messageId: id, dup: false, retain: false });
    }
    await v3.closed;
    assert.equal(v3.packets.filter((p) => p.cmd === 'pubrec').length, 5);
  } finally {
    await b.stop();
  }
});

test('max_subscriptions_per_client and max_retained_messages refuse what is beyond them with 0x97', async () => {
  const b = await brokerWith({ maxSubscriptionsPerClient: 2, maxRetainedMessages: 2 });
  try {
    const c = await connectClient(b.url, { protocolVersion: 5 });
    assert.deepEqual(await subackCodes(c.client, 'a'), [1]);
    assert.deepEqual(await subackCodes(c.client, 'b'), [1]);
    assert.deepEqual(await subackCodes(c.client, 'c'), [0x97]);
    assert.deepEqual(await subackCodes(c.client, 'a', 0), [0], 'replacing a subscription is no new one');
    const v3 = await connectClient(b.url);
    await subackCodes(v3.client, 'a');
    await subackCodes(v3.client, 'b');
    assert.deepEqual(await subackCodes(v3.client, 'c'), [0x80]);

    const puback = (topic: string, payload: string) =>
      new Promise<number>((r, j) =>
        c.client.publish(topic, payload, { qos: 1, retain: true }, (err, packet) => {
          const code = (err as { code?: number } | undefined)?.code ?? (packet as mqttPacket.IPubackPacket | undefined)?.reasonCode ?? 0;
          if (err && code === 0) j(err);
          else r(code);
        }),
      );
    assert.ok((await puback('r/1', 'x')) < 0x80);
    assert.ok((await puback('r/2', 'x')) < 0x80);
    assert.equal(await puback('r/3', 'x'), 0x97, 'a third retained topic is refused');
    assert.ok((await puback('r/1', 'y')) < 0x80, 'replacing a retained message is allowed');
    assert.equal(b.broker.retained.size, 2);
    assert.equal(b.broker.retained.get('r/1')?.payload.toString(), 'y');
    await c.end();
    await v3.end();
  } finally {
    await b.stop();
  }
});

test('memory_limit counts subscriptions and refuses new ones over it (0x97); unsubscribing gives the bytes back', async () => {
  const b = await brokerWith({ memoryLimit: 20_000 });
  try {
    const c = await connectClient(b.url, { protocolVersion: 5 });
    const codes: number[] = [];
    for (let i = 0; i < 200 && !codes.includes(0x97); i++) codes.push(...(await subackCodes(c.client, `subs/${i}/#`)));
    assert.equal(codes.at(-1), 0x97, 'a subscription over memory_limit is refused');
    assert.ok(b.broker.memory.subscriptionBytes > 0 && b.broker.memory.used <= 20_000);
    for (let i = 0; i < codes.length - 1; i++) await c.client.unsubscribeAsync(`subs/${i}/#`);
    assert.equal(b.broker.memory.subscriptionBytes, 0);
    await c.end();
  } finally {
    await b.stop();
  }
});

test('memory_limit bounds packets being read too: a packet that would not fit is refused before it is buffered', async () => {
  const b = await brokerWith({ memoryLimit: 400_000 });
  try {
    // Two unauthenticated clients each start a CONNECT of 260 KB (every field near its 64 KB maximum).
    const first = await rawConnect(b.port);
    const second = await rawConnect(b.port);
    const field = 'x'.repeat(65_000);
    const connect = mqttPacket.generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clientId: field,
      clean: true,
      keepalive: 0,
      username: field,
      password: Buffer.from(field),
      will: { topic: 'w', payload: Buffer.from(field), qos: 0, retain: false },
    });
    first.send(connect.subarray(0, 100_000));
    await eventually(() => b.broker.memory.bufferedBytes === connect.length, 'the first CONNECT buffered');
    second.send(connect.subarray(0, 100_000));
    await second.closed;
    assert.equal(b.broker.memory.bufferedBytes, connect.length, 'only the first is held');
    first.send(connect.subarray(100_000));
    const ack = (await first.next()) as mqttPacket.IConnackPacket;
    assert.equal(ack.returnCode, 0, 'the first completes and connects');
    first.destroy();
  } finally {
    await b.stop();
  }
});

test('the broker holds nothing for a client once it has gone', async () => {
  const b = await brokerWith({});
  try {
    const peer = await rawSession(b.port, 'gone', 4);
    peer.send(publishHead('t', 1_000_000, 0, 0, false));
    peer.send(Buffer.alloc(100_000));
    await eventually(() => b.broker.memory.bufferedBytes > 0, 'the partial packet buffered');
    peer.destroy();
    await eventually(() => b.broker.memory.bufferedBytes === 0, 'the buffer let go');
  } finally {
    await b.stop();
  }
});


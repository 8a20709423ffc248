/**
 * Overload: connection floods beyond max_connections, sockets that never send CONNECT or
 * send it byte by byte, and a subscriber that stops reading while a publisher floods
 * (password guessing: PasswordGuessing.test.ts). In-process broker over real sockets, so
 * its memory and its own counters can be read; figures are printed as `# figure:` lines.
 *
 * Rounds: MQTTD_HARDENING_ROUNDS (default 10 for the flood).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectClient, eventually, rawSession, startBroker } from '../helpers/broker';
import { budgetRounds, figure, sleep } from './hardeningKit';
import { connectPacket, heapKiB, openSocket, tryConnect } from './overloadKit';

test('connection flood beyond max_connections: extras refused at once, existing clients unaffected, nothing kept after 10 rounds', async () => {
  const LIMIT = 20;
  const EXTRA = 30;
  const rounds = budgetRounds(10);
  const b = await startBroker({ listener: { maxConnections: LIMIT } });
  const sub = await connectClient(b.url, { clientId: 'flood-canary-sub' });
  const pub = await connectClient(b.url, { clientId: 'flood-canary-pub' });
  let canaryCloses = 0;
  sub.client.on('close', () => canaryCloses++);
  pub.client.on('close', () => canaryCloses++);
  await sub.client.subscribeAsync('canary', { qos: 1 });
  let heapAfterFirst = 0;
  const heapBefore = heapKiB();
  let refused = 0;
  let slowestRefusalMs = 0;
  try {
    for (let round = 1; round <= rounds; round++) {
      // Fill the listener to its limit (two places are the canaries').
      const members = await Promise.all(Array.from({ length: LIMIT - 2 }, (_, i) => rawSession(b.port, `member-${i}`)));
      // Everyone beyond the limit is closed without a CONNACK.
      const extras = await Promise.all(Array.from({ length: EXTRA }, (_, i) => tryConnect(b.port, `extra-${i}`)));
      for (const e of extras) {
        assert.equal(e.outcome, 'closed', `round ${round}: a connection beyond max_connections got CONNACK ${e.outcome}`);
        slowestRefusalMs = Math.max(slowestRefusalMs, e.ms);
        e.socket.destroy();
      }
      refused += extras.length;
      // The canaries are still served while the listener is full.
      await pub.client.publishAsync('canary', `round ${round}`, { qos: 1 });
      assert.equal((await sub.next()).payload, `round ${round}`);
      for (const m of members) m.destroy();
      await eventually(() => b.server.registry.connections.size === 2 && b.broker.stats.sockets === 2, `round ${round}: only the canaries left`);
      if (round === 1) heapAfterFirst = heapKiB();
    }
    assert.equal(canaryCloses, 0, 'an existing client was disconnected by the flood');
    assert.equal(b.broker.sessions.size, 2, 'clean sessions of the flood were kept');
    const heapAfter = heapKiB();
    // 48 connections a round: a leak of even one small object per connection would show as
    // steady growth; allow for V8's own caches and the test's bookkeeping.
    assert.ok(heapAfter - heapAfterFirst < 1536, `heap grew by ${heapAfter - heapAfterFirst} KiB over ${rounds - 1} rounds`);
    figure('connection-flood', {
      rounds,
      max_connections: LIMIT,
      refused,
      accepted_beyond_limit: 0,
      slowest_refusal_ms: slowestRefusalMs,
      canary_disconnects: 0,
      heap_kib_before: heapBefore,
      heap_kib_after_round_1: heapAfterFirst,
      heap_kib_after_last_round: heapAfter,
    });
  } finally {
    await sub.end();
    await pub.end();
    await b.stop();
  }
});

test('sockets that send nothing, or CONNECT one byte at a time, are closed after connect_timeout', async () => {
  const b = await startBroker({ limits: { connectTimeout: 1 } });
  const N = 10;
  try {
    const started = Date.now();
    const silent = await Promise.all(Array.from({ length: N }, () => openSocket(b.port)));
    const loris = await Promise.all(Array.from({ length: N }, () => openSocket(b.port)));
    const closedAt = new Map<unknown, number>();
    let connacks = 0;
    for (const s of [...silent, ...loris]) {
      s.on('error', () => undefined);
      s.on('data', () => connacks++);
      s.once('close', () => closedAt.set(s, Date.now() - started));
    }
    // Each loris sends its CONNECT (about 20 bytes) at 4 bytes a second: 5 s in all.
    const bytes = connectPacket('slow-loris');
    let sentByLoris = 0;
    const trickle = (async () => {
      for (let i = 0; i < bytes.length; i++) {
        for (const s of loris) if (!s.destroyed) s.write(bytes.subarray(i, i + 1));
        sentByLoris = i + 1;
        await sleep(250);
        if (loris.every((s) => closedAt.has(s))) return;
      }
    })();
    // A normal client gets in meanwhile.
    const good = await connectClient(b.url, { clientId: 'patient' });
    await eventually(() => closedAt.size === 2 * N, 'every silent and slow socket closed', 8000);
    await trickle;
    assert.equal(connacks, 0);
    assert.ok(sentByLoris < bytes.length, `a slow loris completed its CONNECT (${sentByLoris} of ${bytes.length} bytes)`);
    assert.equal(good.client.connected, true);
    await good.end();
    await eventually(() => b.server.registry.connections.size === 0, 'no connection left');
    const times = [...closedAt.values()];
    figure('connect-timeout', {
      connect_timeout_s: 1,
      silent_sockets: N,
      slow_loris_sockets: N,
      closed: closedAt.size,
      loris_bytes_sent_of: `${sentByLoris}/${bytes.length}`,
      first_close_ms: Math.min(...times),
      last_close_ms: Math.max(...times),
    });
  } finally {
    await b.stop();
  }
});

test('a subscriber that stops reading: QoS 0 beyond 1 MB backlog is dropped, others keep every message, the stalled one is disconnected', async () => {
  const b = await startBroker({ limits: { stallTimeout: 2, maxQueuedMessages: 100 } });
  const PAYLOAD = Buffer.alloc(8 * 1024, 0x61);
  const MESSAGES = 1500;
  try {
    const healthy = await connectClient(b.url, { clientId: 'healthy' });
    await healthy.client.subscribeAsync('flood/#', { qos: 1 });
    const stalled = await rawSession(b.port, 'stalled', 4);
    stalled.sendPacket({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood/#', qos: 1 }] });
    assert.equal((await stalled.next()).cmd, 'suback');
    stalled.socket.pause();
    const pub = await connectClient(b.url, { clientId: 'flooder' });
    const heapBefore = heapKiB();
    let maxBacklog = 0;
    const stalledConn = [...b.server.registry.connections].find((c) => c.clientId === 'stalled')!;
    const sampler = setInterval(() => (maxBacklog = Math.max(maxBacklog, stalledConn.backlog)), 5);
    // The publisher keeps at most 50 messages ahead of the healthy subscriber (as a real
    // sensor would not outrun its readers by much); the stalled one reads nothing at all.
    for (let i = 0; i < MESSAGES; i++) {
      await pub.client.publishAsync('flood/q0', PAYLOAD, { qos: 0 });
      if (i - healthy.received.length > 50) await eventually(() => i - healthy.received.length <= 10, 'the healthy subscriber to catch up');
    }
    await eventually(() => healthy.received.length >= MESSAGES, `healthy subscriber got all ${MESSAGES} QoS 0 messages (has ${healthy.received.length})`, 15000);
    const droppedQos0 = b.broker.stats.publishDropped;
    assert.ok(droppedQos0 > 0, 'nothing was dropped for the stalled subscriber');
    assert.equal(b.broker.sessions.get('healthy')!.dropped, 0, 'the healthy subscriber lost messages');
    // The backlog the broker holds for the stalled client stays near the 1 MB limit.
    assert.ok(maxBacklog <= 1024 * 1024 + 2 * (PAYLOAD.length + 64), `backlog reached ${maxBacklog} bytes`);

    // The stalled client is disconnected after stallTimeout, which frees its backlog.
    // (Seen from the broker: the paused client socket would not notice its own close.)
    await eventually(() => !b.server.registry.connections.has(stalledConn), 'the stalled subscriber disconnected', 10000);
    stalled.destroy();
    clearInterval(sampler);
    await eventually(() => b.server.registry.connections.size === 2, 'the stalled connection released');
    const healthyReceived = healthy.received.length;
    // The test's own copies of the messages are not the broker's memory.
    healthy.received.length = 0;
    const heapAfter = heapKiB();
    await pub.end();
    await healthy.end();
    figure('slow-subscriber-qos0', {
      messages: MESSAGES,
      payload_bytes: PAYLOAD.length,
      healthy_received: healthyReceived,
      healthy_lost: 0,
      dropped_for_stalled: droppedQos0,
      max_backlog_bytes: maxBacklog,
      stalled_disconnected: 'yes',
      heap_kib_before: heapBefore,
      heap_kib_after: heapAfter,
    });
  } finally {
    await b.stop();
  }
});

test('a QoS 1 subscriber that stops reading: its queue stops at the limit, publishers pause, and are released when it is disconnected', async () => {
  const b = await startBroker({ limits: { stallTimeout: 2, maxQueuedMessages: 100 } });
  const PAYLOAD = Buffer.alloc(1024, 0x62);
  const MESSAGES = 400;
  try {
    const healthy = await connectClient(b.url, { clientId: 'healthy1' });
    await healthy.client.subscribeAsync('flood/#', { qos: 1 });
    const stalled = await rawSession(b.port, 'stalled1', 4);
    stalled.sendPacket({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood/#', qos: 1 }] });
    assert.equal((await stalled.next()).cmd, 'suback');
    stalled.socket.pause();
    const pub = await connectClient(b.url, { clientId: 'flooder1' });
    const session = b.broker.sessions.get('stalled1')!;
    const stalledConn = [...b.server.registry.connections].find((c) => c.clientId === 'stalled1')!;
    let maxQueued = 0;
    const sampler = setInterval(() => (maxQueued = Math.max(maxQueued, session.queuedCount)), 5);
    const sending = (async () => {
      for (let i = 0; i < MESSAGES; i++) await pub.client.publishAsync('flood/q1', PAYLOAD, { qos: 1 });
    })();
    await eventually(() => !b.server.registry.connections.has(stalledConn), 'the stalled subscriber disconnected', 10000);
    stalled.destroy();
    await sending;
    clearInterval(sampler);
    await eventually(() => healthy.received.length >= MESSAGES, `healthy got all ${MESSAGES} QoS 1 messages (has ${healthy.received.length})`, 15000);
    assert.ok(maxQueued <= 100, `queue reached ${maxQueued}`);
    await pub.end();
    await healthy.end();
    figure('slow-subscriber-qos1', { messages: MESSAGES, max_queued: maxQueued, healthy_received: healthy.received.length, stalled_disconnected: 'yes' });
  } finally {
    await b.stop();
  }
});

/**
 * Flow control over real sockets: a slow subscriber costs only itself, a paused publisher
 * is not timed out for keepalive, a queue of messages too large for the client drains
 * without recursion, and a fan-out writes each payload as it is, never a copy per subscriber.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IPublishPacket } from 'mqtt-packet';
import * as mqttPacket from 'mqtt-packet';
import type { Message } from '../../src/broker/Message';
import { connectClient, eventually, rawSession, startBroker, type RawPeer } from '../helpers/broker';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A raw QoS 1 subscriber that acknowledges one message every `everyMs`, as a weak ESP8266 might. */
function ackSlowly(peer: RawPeer, everyMs: number): { stop(): void; acked: () => number } {
  let acked = 0;
  let taken = 0;
  const timer = setInterval(() => {
    const publishes = peer.packets.filter((p) => p.cmd === 'publish') as IPublishPacket[];
    const p = publishes[taken];
    if (p === undefined) return;
    taken++;
    if (p.qos > 0) peer.sendPacket({ cmd: 'puback', messageId: p.messageId });
    acked++;
  }, everyMs);
  return { stop: () => clearInterval(timer), acked: () => acked };
}

test('a subscriber acking every 3 s costs only itself: its publisher goes on, the healthy pair keeps flowing, nobody is disconnected', async () => {
  const b = await startBroker({ limits: { maxInflightMessages: 1, maxQueuedMessages: 40 } });
  const closes: string[] = [];
  try {
    const slow = await rawSession(b.port, 'slow-sub', 4);
    slow.sendPacket({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'slow/#', qos: 1 }] });
    assert.equal((await slow.next()).cmd, 'suback');
    const slowAcks = ackSlowly(slow, 3000);
    const healthy = await connectClient(b.url, { clientId: 'healthy-sub' });
    await healthy.client.subscribeAsync('healthy/#', { qos: 1 });
    // One publisher feeds the slow subscriber and the healthy one; another only the healthy one.
    const both = await connectClient(b.url, { clientId: 'pub-both' });
    const other = await connectClient(b.url, { clientId: 'pub-other' });
    for (const [name, c] of [['healthy-sub', healthy], ['pub-both', both], ['pub-other', other]] as const) c.client.on('close', () => closes.push(name));

    const ROUNDS = 150;
    const sending = (async () => {
      for (let i = 0; i < ROUNDS; i++) {
        await both.client.publishAsync('slow/data', `s${i}`, { qos: 1 });
        await both.client.publishAsync('healthy/a', `a${i}`, { qos: 1 });
        await other.client.publishAsync('healthy/b', `b${i}`, { qos: 1 });
      }
    })();
    // The publisher gets through all of it while the slow subscriber has acknowledged a few
    // (the old hold, renewed by every ack, kept it paused for minutes).
    await eventually(() => healthy.received.length >= 2 * ROUNDS, `the healthy subscriber got ${2 * ROUNDS} (has ${healthy.received.length})`, 20_000);
    await sending;
    const slowSession = b.broker.sessions.get('slow-sub')!;
    assert.ok(slowAcks.acked() < 10, `the slow subscriber acknowledged ${slowAcks.acked()}`);
    assert.deepEqual(healthy.received.filter((r) => r.topic === 'healthy/a').map((r) => r.payload), Array.from({ length: ROUNDS }, (_, i) => `a${i}`));
    assert.deepEqual(healthy.received.filter((r) => r.topic === 'healthy/b').map((r) => r.payload), Array.from({ length: ROUNDS }, (_, i) => `b${i}`));
    // What the slow one could not take was queued to its limit and then dropped, for it alone.
    assert.ok(slowSession.queuedCount <= 40 && slowSession.queuedCount >= 39, `queued ${slowSession.queuedCount}`);
    assert.ok(slowSession.dropped > 0);
    assert.equal(slowSession.dropped, b.broker.stats.publishDropped);
    assert.equal(b.broker.sessions.get('healthy-sub')!.dropped, 0);
    assert.equal(slowSession.holdsPublishers, false);
    assert.deepEqual(closes, []);
    assert.equal(slow.isClosed(), false, 'the slow subscriber was disconnected');
    slowAcks.stop();
    slow.destroy();
    for (const c of [healthy, both, other]) await c.end();
  } finally {
    await b.stop();
  }
});

test('a publisher the broker paused is not disconnected for keepalive: its PINGREQs were not read', async () => {
  // A long hold, so the pause outlasts 1.5 × the publisher's keepalive of 1 s.
  const b = await startBroker({ limits: { maxInflightMessages: 1, maxQueuedMessages: 4, publisherHoldTimeout: 30 } });
  try {
    const sub = await rawSession(b.port, 'stuck-sub', 4);
    sub.sendPacket({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 't', qos: 1 }] });
    assert.equal((await sub.next()).cmd, 'suback');
    const pub = await rawSession(b.port, 'paused-pub', 4, { keepalive: 1 });
    const pubConn = [...b.server.registry.connections].find((c) => c.clientId === 'paused-pub')!;
    for (let i = 1; i <= 6; i++) pub.sendPacket({ cmd: 'publish', topic: 't', payload: Buffer.from(`m${i}`), qos: 1, messageId: i, retain: false, dup: false });
    await eventually(() => pubConn.readingPaused, 'the publisher paused');
    // 3.5 s of PINGREQs the broker does not read: more than 1.5 × keepalive + the sweep's slack.
    const pinger = setInterval(() => pub.sendPacket({ cmd: 'pingreq' }), 500);
    await sleep(3500);
    assert.equal(pub.isClosed(), false, 'the paused publisher was disconnected');
    assert.ok(b.server.registry.connections.has(pubConn));
    // The subscriber acknowledges: the queue drains, the publisher is released and answered.
    const acks = setInterval(() => {
      for (const p of sub.packets) if (p.cmd === 'publish') sub.sendPacket({ cmd: 'puback', messageId: (p as IPublishPacket).messageId });
    }, 50);
    await eventually(() => !pubConn.readingPaused, 'the publisher resumed');
    await eventually(() => pub.packets.some((p) => p.cmd === 'pingresp'), 'PINGRESP after the pause');
    assert.equal(pub.packets.filter((p) => p.cmd === 'puback').length, 6);
    clearInterval(pinger);
    clearInterval(acks);
    assert.equal(pub.isClosed(), false);
    pub.destroy();
    sub.destroy();
  } finally {
    await b.stop();
  }
});

test('a subscriber that makes no progress at all (nothing acknowledged, nothing more taken by its socket) is disconnected after stall_timeout; one with nothing outstanding is not', async () => {
  const b = await startBroker({ limits: { stallTimeout: 2, maxQueuedMessages: 100 } });
  try {
    const dead = await rawSession(b.port, 'dead-sub', 4);
    const alive = await rawSession(b.port, 'idle-sub', 4);
    for (const p of [dead, alive]) {
      p.sendPacket({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'x', qos: 1 }] });
      assert.equal((await p.next()).cmd, 'suback');
    }
    b.broker.publish('x', 'one', { qos: 1 });
    const ack = await alive.next();
    alive.sendPacket({ cmd: 'puback', messageId: (ack as IPublishPacket).messageId });
    await eventually(() => dead.isClosed(), 'the dead subscriber disconnected', 10_000);
    assert.equal(alive.isClosed(), false, 'a subscriber with nothing outstanding is not stalled');
    alive.destroy();
  } finally {
    await b.stop();
  }
});

test('20,000 queued messages larger than a v5 client\'s Maximum Packet Size: discarded in a loop, live and on resume, never a stack overflow', async () => {
  const N = 20_000;
  const big = Buffer.alloc(300, 0x62);
  const b = await startBroker({ limits: { maxInflightMessages: 1, maxQueuedMessages: 0 } });
  try {
    const connect = { clean: false, properties: { maximumPacketSize: 128, sessionExpiryInterval: 600 } };
    const sub = await rawSession(b.port, 'tiny-mps', 5, connect);
    sub.sendPacket({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'q/#', qos: 1 }] });
    assert.equal((await sub.next()).cmd, 'suback');
    // Live: one small message fills the window, the big ones queue behind it, then one more small.
    b.broker.publish('q/first', 'small', { qos: 1 });
    for (let i = 0; i < N; i++) b.broker.publish('q/big', big, { qos: 1 });
    b.broker.publish('q/last', 'small', { qos: 1 });
    const session = b.broker.sessions.get('tiny-mps')!;
    assert.equal(session.queuedCount, N + 1);
    const first = (await sub.next()) as IPublishPacket;
    assert.equal(first.topic, 'q/first');
    sub.sendPacket({ cmd: 'puback', messageId: first.messageId }, 5);
    const last = (await sub.next()) as IPublishPacket;
    assert.equal(last.topic, 'q/last', 'the one that fits comes after the discarded ones');
    assert.equal(session.queuedCount, 0);

    // Offline: the same queue waits for the client, which resumes it.
    sub.destroy();
    await eventually(() => session.link === null, 'the session detached');
    for (let i = 0; i < N; i++) b.broker.publish('q/big', big, { qos: 1 });
    b.broker.publish('q/after', 'small', { qos: 1 });
    const again = await rawSession(b.port, 'tiny-mps', 5, connect);
    const packets: IPublishPacket[] = [];
    for (;;) {
      const p = (await again.next()) as IPublishPacket;
      if (p.cmd !== 'publish') continue;
      packets.push(p);
      if (p.topic === 'q/after') break;
      again.sendPacket({ cmd: 'puback', messageId: p.messageId }, 5);
    }
    assert.deepEqual(packets.map((p) => p.topic), ['q/last', 'q/after'], 'q/last (unacknowledged) again, then the one that fits');
    assert.equal(session.queuedCount, 0);
    again.destroy();
  } finally {
    await b.stop();
  }
});

test('a QoS 1 fan-out hands every subscriber socket the same payload buffer: no copy per subscriber', async () => {
  let routed: Message | undefined;
  const b = await startBroker({ hooks: { onMessage: (m) => (routed = m) } });
  try {
    const subs = await Promise.all([1, 2, 3].map((i) => connectClient(b.url, { clientId: `fan-${i}` })));
    for (const s of subs) await s.client.subscribeAsync('fan', { qos: 1 });
    // What each subscriber's socket is given, as Node's writev sees it.
    const handed = new Map<string, Buffer[]>();
    for (const c of b.server.registry.connections) {
      if (!c.clientId.startsWith('fan-')) continue;
      const chunks: Buffer[] = [];
      handed.set(c.clientId, chunks);
      const stream = c.stream as unknown as { write: (chunk: Buffer, ...rest: unknown[]) => boolean };
      const write = stream.write.bind(stream);
      stream.write = (chunk: Buffer, ...rest: unknown[]) => {
        chunks.push(chunk);
        return write(chunk, ...rest);
      };
    }
    const pub = await connectClient(b.url, { clientId: 'fan-pub' });
    const payload = Buffer.alloc(64 * 1024, 0x70);
    await pub.client.publishAsync('fan', payload, { qos: 1 });
    for (const s of subs) {
      const m = await s.next();
      assert.equal(m.packet.payload.length, payload.length);
      assert.ok(Buffer.from(m.packet.payload).equals(payload));
    }
    assert.ok(routed !== undefined);
    for (const [id, chunks] of handed) assert.ok(chunks.includes(routed!.payload), `${id}: the payload was copied`);
    for (const s of [...subs, pub]) await s.end();
  } finally {
    await b.stop();
  }
});

/** How many messages were routed by each turn's check phase, sampled until `total` arrived. */
function turnSampler(count: () => number, total: number): { start(): void; turns(): number[] } {
  const samples: number[] = [];
  const sample = (): void => {
    samples.push(count());
    if (count() < total) setImmediate(sample);
  };
  return {
    start: () => setImmediate(sample),
    turns: () => samples.map((n, i) => n - (samples[i - 1] ?? 0)).filter((n) => n > 0),
  };
}

test('a publisher flooding the broker is read in turns of at most 256 KB: the event loop runs between them, every message arrives in order', async () => {
  const b = await startBroker();
  try {
    const total = 2_000;
    const got: number[] = [];
    b.broker.subscribe('flood/+', (topic) => void got.push(Number(topic.slice(6))));
    const pub = await rawSession(b.port, 'flood-pub');
    // 2 MB of 1 KB PUBLISHes in one write: libuv would read it in one turn (32 reads of 64 KB).
    const packets = Array.from({ length: total }, (_, i) =>
      mqttPacket.generate({ cmd: 'publish', topic: `flood/${i}`, payload: Buffer.alloc(1000, 0x78), qos: 0, retain: false, dup: false }),
    );
    const sampler = turnSampler(() => got.length, total);
    pub.send(Buffer.concat(packets));
    sampler.start();
    await eventually(() => got.length === total, `${total} messages routed`, 20_000);
    assert.deepEqual(got, Array.from({ length: total }, (_, i) => i), 'in order, none lost');
    // A turn ends after the read (64 KB at most) that passes 256 KB: 320 KB of 1,016-byte packets.
    const turns = sampler.turns();
    assert.ok(Math.max(...turns) <= Math.ceil((320 * 1024) / packets[0]!.length), `messages per turn: ${turns.join(', ')}`);
    assert.ok(turns.length >= 6, `${turns.length} turns`);
    pub.destroy();
  } finally {
    await b.stop();
  }
});

test('a publish with many subscribers ends its client\'s turn by time: a million copies are routed over many turns', async () => {
  const b = await startBroker();
  try {
    const subscribers = 200;
    const total = 5_000;
    let copies = 0;
    for (let i = 0; i < subscribers; i++) b.broker.subscribe('wide/#', () => void copies++);
    const pub = await rawSession(b.port, 'wide-pub');
    // 70 KB in one write: under the byte budget, so only the time spent can end the turn.
    const packets = Array.from({ length: total }, () => mqttPacket.generate({ cmd: 'publish', topic: 'wide/t', payload: Buffer.from('x'), qos: 0, retain: false, dup: false }));
    const sampler = turnSampler(() => copies, total * subscribers);
    pub.send(Buffer.concat(packets));
    sampler.start();
    await eventually(() => copies === total * subscribers, 'every copy routed', 60_000);
    // 1,000,000 copies cost far more than one turn (TURN_MS 4 ms) on any machine this runs on.
    assert.ok(sampler.turns().length >= 2, `${sampler.turns().length} turns`);
    pub.destroy();
  } finally {
    await b.stop();
  }
});

test('stopTakingWork (shutdown) while a flood waits in the reader for its next turn: nothing more is routed', async () => {
  let routed = 0;
  let stoppedAt = -1;
  let stop = (): void => undefined;
  const b = await startBroker({
    hooks: {
      onMessage: () => {
        // The first message takes longer than a turn (TURN_MS): the read stops a few packets
        // later with the rest of it held in the reader; the shutdown comes before the next turn.
        if (routed++ !== 0) return;
        const until = performance.now() + 10;
        while (performance.now() < until);
        setImmediate(() => {
          stop();
          stoppedAt = routed;
        });
      },
    },
  });
  stop = () => b.server.stopTakingWork();
  try {
    const pub = await rawSession(b.port, 'held-pub');
    const packets = Array.from({ length: 2_000 }, (_, i) =>
      // 700 B: the clock is looked at after 64 packets, in the middle of a 64 KB read.
      mqttPacket.generate({ cmd: 'publish', topic: `held/${i}`, payload: Buffer.alloc(700, 0x78), qos: 0, retain: false, dup: false }),
    );
    pub.send(Buffer.concat(packets));
    await eventually(() => stoppedAt >= 0, 'the shutdown after the first turn', 10_000);
    assert.ok(stoppedAt < 2_000, `${stoppedAt} routed in the first turn`);
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(routed, stoppedAt, 'a packet held for the next turn was routed after the broker stopped reading');
  } finally {
    await b.stop();
  }
});

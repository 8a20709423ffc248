/**
 * A new subscription's retained messages, over real sockets with real clients (MQTT.js,
 * mosquitto_sub): discovery-sized sets arrive complete with the default limits, at QoS 0
 * and 1, paced by the subscriber's socket and window, across a reconnect mid-way.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IPublishPacket } from 'mqtt-packet';
import { connectClient, eventually, rawSession, startBroker, type TestBroker } from '../helpers/broker';
import { execFile } from 'node:child_process';
import { haveMosquittoClients } from '../helpers/brokerTools';

/** Home Assistant–sized discovery configs, and a crowd of tiny sensor values. */
const LARGE = { prefix: 'disc2k', count: 5_000, bytes: 2048 };
const SMALL = { prefix: 'disc20', count: 100_000, bytes: 20 };

let b: TestBroker;

before(async () => {
  b = await startBroker({ websockets: true });
  for (const set of [LARGE, SMALL]) {
    for (let i = 0; i < set.count; i++) {
      const body = Buffer.alloc(set.bytes, 0x61);
      body.write(String(i));
      b.broker.publish(`${set.prefix}/dev${i}/config`, body, { retain: true, qos: 1 });
    }
  }
  assert.equal(b.broker.retained.size, LARGE.count + SMALL.count);
});

after(async () => {
  await b.stop();
});

/** Subscribes and waits for `count` messages; returns how many distinct topics came, all with RETAIN set. */
async function discover(prefix: string, count: number, qos: 0 | 1, clientId: string, url = b.url): Promise<number> {
  const c = await connectClient(url, { clientId });
  try {
    await c.client.subscribeAsync(`${prefix}/#`, { qos });
    await eventually(() => c.received.length >= count, `${count} retained messages (have ${c.received.length})`, 60_000);
    const topics = new Set(c.received.map((r) => r.topic));
    assert.ok(c.received.every((r) => r.packet.retain), 'a retained message arrived without RETAIN');
    assert.ok(c.received.every((r) => r.packet.qos === qos));
    return topics.size;
  } finally {
    await c.end();
  }
}

for (const set of [LARGE, SMALL]) {
  for (const qos of [0, 1] as const) {
    test(`MQTT.js, QoS ${qos}: all ${set.count} retained messages of ${set.bytes} B arrive, none dropped`, async () => {
      const dropped = b.broker.stats.publishDropped;
      assert.equal(await discover(set.prefix, set.count, qos, `discover-${set.prefix}-${qos}`), set.count);
      assert.equal(b.broker.stats.publishDropped, dropped, 'messages were dropped');
    });
  }
}

test('MQTT.js over WebSocket, QoS 0: all 5000 retained messages of 2 KB arrive (paced by the drain of the WebSocket stream)', async () => {
  assert.equal(await discover(LARGE.prefix, LARGE.count, 0, 'discover-ws', b.wsUrl), LARGE.count);
});

describe('mosquitto_sub', { skip: !haveMosquittoClients() && 'mosquitto clients missing' }, () => {
  for (const [set, qos] of [[LARGE, 0], [SMALL, 0], [LARGE, 1], [SMALL, 1]] as const) {
    test(`mosquitto_sub -q ${qos}: all ${set.count} retained messages of ${set.bytes} B arrive`, async () => {
      const args = ['-h', '127.0.0.1', '-p', String(b.port), '-t', `${set.prefix}/#`, '-q', String(qos), '-C', String(set.count), '-W', '60', '-F', '%r %t'];
      // 100,000 lines are more than execFile's default 1 MB of output.
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile('mosquitto_sub', args, { maxBuffer: 64 * 1024 * 1024, timeout: 70_000 }, (err, out, errOut) =>
          err ? reject(new Error(`mosquitto_sub: ${err.message} ${errOut}`)) : resolve(out),
        ),
      );
      const lines = stdout.trim().split('\n');
      assert.equal(lines.length, set.count);
      assert.ok(lines.every((l) => l.startsWith('1 ')), 'a message without RETAIN');
      assert.equal(new Set(lines).size, set.count, 'a topic came twice');
    });
  }
});

test('a persistent session that leaves mid-discovery gets the rest when it comes back, the unacknowledged ones again', async () => {
  const clientId = 'discover-reconnect';
  const raw = await rawSession(b.port, clientId, 4, { clean: false });
  raw.sendPacket({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `${LARGE.prefix}/#`, qos: 1 }] });
  assert.equal((await raw.next()).cmd, 'suback');
  // The window (max_inflight_messages 20) fills and nothing more comes without a PUBACK.
  const first: IPublishPacket[] = [];
  for (let i = 0; i < 20; i++) first.push((await raw.next()) as IPublishPacket);
  const session = b.broker.sessions.get(clientId)!;
  assert.equal(session.inflightCount, 20);
  assert.equal(session.retainedPending, 1);
  raw.destroy();
  await eventually(() => session.link === null, 'the session detached');

  const c = await connectClient(b.url, { clientId, clean: false });
  try {
    await eventually(() => c.received.length >= LARGE.count, `all ${LARGE.count} after the reconnect (have ${c.received.length})`, 30_000);
    const topics = new Set(c.received.map((r) => r.topic));
    assert.equal(topics.size, LARGE.count);
    for (const p of first) assert.ok(topics.has(p.topic), `${p.topic} (unacknowledged before) was not resent`);
    assert.equal(c.received.filter((r) => r.packet.dup).length, 20, 'the 20 in flight come again with DUP');
    await eventually(() => session.retainedPending === 0 && session.inflightCount === 0, 'the cursor done, everything acknowledged');
  } finally {
    await c.end();
  }
});

test('retained messages cleared or changed while a subscriber walks them: each topic once, at its latest value', async () => {
  const c = await connectClient(b.url, { clientId: 'discover-changing' });
  const writer = await connectClient(b.url, { clientId: 'discover-writer' });
  try {
    const touched = (i: number): boolean => i >= LARGE.count - 200;
    const final = (i: number): string => (i >= LARGE.count - 100 ? '' : `changed ${i}`);
    const latest = new Map<string, string>();
    const count = new Map<string, number>();
    c.client.on('message', (t, p) => {
      latest.set(t, p.toString());
      count.set(t, (count.get(t) ?? 0) + 1);
    });
    await c.client.subscribeAsync(`${LARGE.prefix}/#`, { qos: 1 });
    // Meanwhile: clear the last 100 topics and change the 100 before them.
    for (let i = LARGE.count - 200; i < LARGE.count; i++) {
      const clear = i >= LARGE.count - 100;
      writer.client.publish(`${LARGE.prefix}/dev${i}/config`, clear ? '' : `changed ${i}`, { retain: true, qos: 1 });
    }
    const settled = (): boolean => {
      for (let i = 0; i < LARGE.count; i++) {
        const t = `${LARGE.prefix}/dev${i}/config`;
        if (touched(i) ? latest.get(t) !== final(i) : !latest.has(t)) return false;
      }
      return true;
    };
    await eventually(settled, 'every topic at its latest value', 30_000);
    for (let i = 0; i < LARGE.count; i++) {
      const n = count.get(`${LARGE.prefix}/dev${i}/config`) ?? 0;
      // A changed topic may come twice: its old retained value (reached before the change), then the change.
      if (touched(i)) assert.ok(n >= 1 && n <= 2, `dev${i}: ${n} messages`);
      else assert.equal(n, 1, `dev${i}: ${n} messages`);
    }
  } finally {
    // Put the set back as it was for any test after this one.
    for (let i = LARGE.count - 200; i < LARGE.count; i++) {
      const body = Buffer.alloc(LARGE.bytes, 0x61);
      body.write(String(i));
      b.broker.publish(`${LARGE.prefix}/dev${i}/config`, body, { retain: true, qos: 1 });
    }
    await writer.end();
    await c.end();
  }
});

test('UNSUBSCRIBE mid-discovery stops the rest: only the messages already in flight come', async () => {
  const raw = await rawSession(b.port, 'discover-unsubscribe', 4);
  try {
    raw.sendPacket({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `${LARGE.prefix}/#`, qos: 1 }] });
    assert.equal((await raw.next()).cmd, 'suback');
    const inFlight: IPublishPacket[] = [];
    for (let i = 0; i < 20; i++) inFlight.push((await raw.next()) as IPublishPacket);
    raw.sendPacket({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: [`${LARGE.prefix}/#`] });
    assert.equal((await raw.next()).cmd, 'unsuback');
    for (const p of inFlight) raw.sendPacket({ cmd: 'puback', messageId: p.messageId });
    const session = b.broker.sessions.get('discover-unsubscribe')!;
    await eventually(() => session.inflightCount === 0, 'the 20 acknowledged');
    assert.equal(session.retainedPending, 0);
    // A marker published now is the next thing to arrive: no retained message slipped in.
    raw.sendPacket({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'marker', qos: 0 }] });
    assert.equal((await raw.next()).cmd, 'suback');
    b.broker.publish('marker', 'm');
    assert.equal(((await raw.next()) as IPublishPacket).topic, 'marker');
  } finally {
    raw.destroy();
  }
});

test('a wildcard walk that looks at many topics to find few is spread over turns: the event loop runs in between', async () => {
  // `disc20/+/never` looks at each of the 100,000 `disc20/devN` nodes and matches none.
  const raw = await rawSession(b.port, 'walk-wide', 4);
  const session = (): { retainedPending: number } | undefined => b.broker.sessions.get('walk-wide');
  let turns = 0;
  let sampling = true;
  const countTurns = (): void => {
    turns++;
    if (sampling) setImmediate(countTurns);
  };
  try {
    raw.sendPacket({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `${SMALL.prefix}/+/never`, qos: 0 }] });
    assert.equal((await raw.next()).cmd, 'suback');
    setImmediate(countTurns);
    await eventually(() => session()?.retainedPending === 0, 'the walk done', 30_000);
    // 2,048 nodes per turn (DRAIN_VISITS): the walk of 100,000 takes dozens of turns, never one.
    assert.ok(turns >= 20, `the walk took ${turns} turns`);
    raw.sendPacket({ cmd: 'pingreq' });
    assert.equal((await raw.next()).cmd, 'pingresp', 'nothing matched, nothing was sent');
  } finally {
    sampling = false;
    raw.destroy();
  }
});

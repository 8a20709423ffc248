/**
 * Differential property test: fast-check generates random sequences of SUBSCRIBE,
 * UNSUBSCRIBE, PUBLISH (retained or not, QoS 0–2), going offline (persistent sessions
 * queue meanwhile) and session takeover by a few clients; the same sequence
 * runs against Debian's mosquitto and against mqttd, and every client must end up with the
 *  same messages (topic, payload, QoS, RETAIN, DUP, subscription id) from both. FC_SEED and
 * FC_RUNS explore further.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type * as mqttPacket from 'mqtt-packet';
import { rawSession, startBroker, type RawPeer, type TestBroker } from '../helpers/broker';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto';
import { hasCommand } from '../helpers/processes';

const enabled = hasCommand('/usr/sbin/mosquitto');
let mosquitto: MosquittoBroker | undefined;
let mqttd: TestBroker | undefined;

before(async () => {
  if (!enabled) return;
  mosquitto = await startMosquitto(['allow_anonymous true']);
  mqttd = await startBroker();
});
after(async () => {
  await mosquitto?.stop();
  await mqttd?.stop();
});

type Op =
  | { kind: 'away'; client: number }
  | { kind: 'takeover'; client: number }
  | { kind: 'sub'; client: number; filter: string; qos: 0 | 1 | 2; rh: 0 | 1 | 2; sid: number }
  | { kind: 'unsub'; client: number; filter: string }
  | { kind: 'pub'; client: number; topic: string; qos: 0 | 1 | 2; retain: boolean; payload: string };

const CLIENTS = 3;
/**
 * No Local and Retain As Published are fixed per client: mosquitto 2.0 keeps the old No
 * Local when a subscription is replaced, where the spec replaces every option [MQTT-3.8.4-3]
 * and mqttd does (test/integration/MqttV5Features.test.ts checks No Local itself).
 */
const NO_LOCAL = [true, false, false];
const RETAIN_AS_PUBLISHED = [true, true, false];
const filters = ['#', '+', 'a', 'a/#', 'a/+', '+/b', 'a/b', 'a/b/#', '+/+', 'c'];
const topics = ['a', 'a/b', 'a/c', 'c', 'c/b', 'a/b/c'];

const opArb: fc.Arbitrary<Op> = fc.oneof(
  // The client disconnects (DISCONNECT); its persistent session collects messages until its next operation.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('away' as const), client: fc.nat(CLIENTS - 1) }) },
  // A second connection with the same client id (Clean Start 0) replaces the first.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('takeover' as const), client: fc.nat(CLIENTS - 1) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('sub' as const),
      client: fc.nat(CLIENTS - 1),
      filter: fc.constantFrom(...filters),
      qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
      // MQTT 5 subscription options (v3 runs ignore them); sid 0 means none.
      rh: fc.constantFrom(0 as const, 1 as const, 2 as const),
      sid: fc.constantFrom(0, 1, 7, 300),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('unsub' as const), client: fc.nat(CLIENTS - 1), filter: fc.constantFrom(...filters) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('pub' as const),
      client: fc.nat(CLIENTS - 1),
      topic: fc.constantFrom(...topics),
      qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
      retain: fc.boolean(),
      payload: fc.constantFrom('x', 'y', ''),
    }),
  },
);

/**
 * Reads until the broker answers a PINGREQ: everything it sent before is in. Deliveries are
 * recorded and acknowledged; this client's own QoS 2 publish gets its PUBREL.
 */
async function sync(peer: RawPeer, got: string[]): Promise<void> {
  peer.sendPacket({ cmd: 'pingreq' });
  for (;;) {
    const p = await peer.next();
    if (p.cmd === 'pingresp') return;
    if (p.cmd === 'publish') {
      got.push(`${p.topic} '${p.payload.toString()}' q${p.qos} r${p.retain ? 1 : 0} d${p.dup ? 1 : 0} sid=${String(p.properties?.subscriptionIdentifier ?? '-')}`);
      if (p.qos === 1) peer.sendPacket({ cmd: 'puback', messageId: p.messageId });
      if (p.qos === 2) peer.sendPacket({ cmd: 'pubrec', messageId: p.messageId });
    } else if (p.cmd === 'pubrel') {
      peer.sendPacket({ cmd: 'pubcomp', messageId: p.messageId });
    } else if (p.cmd === 'pubrec') {
      peer.sendPacket({ cmd: 'pubrel', messageId: p.messageId });
      // The PUBCOMP comes after this PINGRESP: sync once more for it.
      peer.sendPacket({ cmd: 'pingreq' });
      for (let q = await peer.next(); q.cmd !== 'pingresp'; q = await peer.next()) {
        if (q.cmd === 'publish') got.push(`${q.topic} '${q.payload.toString()}' q${q.qos} r${q.retain ? 1 : 0} d${q.dup ? 1 : 0}`);
      }
    }
  }
}

let run = 0;

async function play(port: number, ops: Op[], version: 4 | 5, v4Qos: 0 | 1 | 2, prefix: string): Promise<string[][]> {
  const connect = (c: number) =>
    rawSession(port, `${prefix}-c${c}`, version, {
      clean: false,
      ...(version === 5 ? { properties: { sessionExpiryInterval: 300 } } : {}),
    });
  const peers: RawPeer[] = [];
  for (let c = 0; c < CLIENTS; c++) peers.push(await connect(c));
  const online = peers.map(() => true);
  const got: string[][] = peers.map(() => []);
  let id = 1;
  try {
    for (const op of ops) {
      if (!online[op.client]) {
        peers[op.client] = await connect(op.client);
        online[op.client] = true;
      }
      const peer = peers[op.client];
      if (op.kind === 'takeover') {
        const replacement = await connect(op.client);
        await peer.closed;
        // What reached the old connection and was never acknowledged is resent to the new one.
        for (let p = await peer.next().catch(() => undefined); p; p = await peer.next().catch(() => undefined)) {
          if (p.cmd === 'publish') got[op.client].push(`${p.topic} '${p.payload.toString()}' q${p.qos} r${p.retain ? 1 : 0} d${p.dup ? 1 : 0} (old)`);
        }
        peers[op.client] = replacement;
        await sync(replacement, got[op.client]);
        continue;
      }
      if (op.kind === 'away') {
        await sync(peer, got[op.client]);
        peer.sendPacket({ cmd: 'disconnect' });
        await peer.closed;
        online[op.client] = false;
        continue;
      }
      const at = (t: string) => `${prefix}/${t}`;
      if (op.kind === 'sub') {
        // v3 gets one copy per client for overlapping subscriptions; mosquitto picks which
        // subscription's QoS by tree order, so v3 runs use one QoS for every subscription.
        if (version === 5) {
          peer.sendPacket({
            cmd: 'subscribe',
            messageId: id++,
            ...(op.sid > 0 ? { properties: { subscriptionIdentifier: op.sid } } : {}),
            subscriptions: [{ topic: at(op.filter), qos: op.qos, nl: NO_LOCAL[op.client], rap: RETAIN_AS_PUBLISHED[op.client], rh: op.rh }],
          });
        } else {
          peer.sendPacket({ cmd: 'subscribe', messageId: id++, subscriptions: [{ topic: at(op.filter), qos: v4Qos }] });
        }
      } else if (op.kind === 'unsub') {
        peer.sendPacket({ cmd: 'unsubscribe', messageId: id++, unsubscriptions: [at(op.filter)] });
      } else {
        peer.sendPacket({
          cmd: 'publish',
          topic: at(op.topic),
          payload: Buffer.from(op.payload),
          qos: op.qos,
          retain: op.retain,
          dup: false,
          messageId: op.qos > 0 ? id++ : undefined,
        });
      }
      // The broker has finished this operation before the next one starts.
      await sync(peer, got[op.client]);
    }
    for (let c = 0; c < CLIENTS; c++) {
      if (!online[c]) peers[c] = await connect(c);
      await sync(peers[c], got[c]);
    }
  } finally {
    for (const peer of peers) {
      if (!peer.isClosed()) peer.sendPacket({ cmd: 'disconnect' });
      peer.destroy();
    }
    // Clear what this run retained, on both brokers alike.
    const cleaner = await rawSession(port, `${prefix}-clean`, 4);
    for (const t of topics) cleaner.sendPacket({ cmd: 'publish', topic: `${prefix}/${t}`, payload: Buffer.alloc(0), qos: 0, retain: true, dup: false });
    await sync(cleaner, []);
    cleaner.destroy();
  }
  return got.map((g) => g.sort());
}

test('random subscribe/unsubscribe/publish sequences: every client gets what mosquitto would give it', { skip: !enabled && 'mosquitto missing' }, async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(opArb, { minLength: 3, maxLength: 14 }),
      fc.constantFrom(4 as const, 5 as const),
      fc.constantFrom(0 as const, 1 as const, 2 as const),
      async (ops, version, v4Qos) => {
        const prefix = `d${++run}`;
        const expected = await play(mosquitto!.port, ops, version, v4Qos, prefix);
        const actual = await play(mqttd!.port, ops, version, v4Qos, prefix);
        assert.deepEqual(actual, expected);
      },
    ),
    { numRuns: Number(process.env.FC_RUNS ?? 30), seed: Number(process.env.FC_SEED ?? 20241122) },
  );
});

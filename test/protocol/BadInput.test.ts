/**
 * Malformed and forbidden input over raw sockets: the offending client is disconnected
 * (v5 is told why), its will is published, and a bystander keeps being served.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type * as mqttPacket from 'mqtt-packet';
import { connectClient, rawConnect, rawSession, startBroker, type RawPeer, type TestBroker, type TestClient } from '../helpers/broker';

let b: TestBroker;
let bystander: TestClient;
let publisher: TestClient;
let round = 0;

before(async () => {
  b = await startBroker({ limits: { maxPacketSize: 1024 } });
  bystander = await connectClient(b.url, { clientId: 'bystander' });
  publisher = await connectClient(b.url, { clientId: 'publisher' });
  await bystander.client.subscribeAsync(['alive/#', 'will/#'], { qos: 1 });
});
after(async () => {
  await Promise.all([bystander.end(), publisher.end()]);
  await b.stop();
});

/** The bystander still gets messages routed by the broker. */
async function brokerStillServes(): Promise<void> {
  const topic = `alive/${++round}`;
  await publisher.client.publishAsync(topic, 'yes', { qos: 1 });
  for (;;) {
    const m = await bystander.next();
    if (m.topic === topic) return;
  }
}

function publishBytes(topic: Buffer, payload = Buffer.from('x')): number[] {
  let remaining = 2 + topic.length + payload.length;
  const length: number[] = [];
  do {
    length.push((remaining & 0x7f) | (remaining > 0x7f ? 0x80 : 0));
    remaining >>= 7;
  } while (remaining > 0);
  return [0x30, ...length, topic.length >> 8, topic.length & 0xff, ...topic, ...payload];
}

const cases: { name: string; bytes: number[]; v5Reason?: number }[] = [
  { name: 'a PUBLISH whose topic length runs past the packet', bytes: [0x30, 4, 0x00, 0x20, 0x61, 0x62], v5Reason: 0x81 },
  { name: 'a remaining length of five bytes', bytes: [0x30, 0xff, 0xff, 0xff, 0xff, 0x7f] },
  { name: 'a topic that is not valid UTF-8', bytes: publishBytes(Buffer.from([0x61, 0xc3, 0x28])) },
  { name: 'a wildcard in a PUBLISH topic', bytes: publishBytes(Buffer.from('a/+')) },
  { name: 'a # in a PUBLISH topic', bytes: publishBytes(Buffer.from('a/#')) },
  { name: 'an empty PUBLISH topic (no alias)', bytes: publishBytes(Buffer.alloc(0)) },
  { name: 'QoS 3', bytes: [0x36, 5, 0, 1, 0x61, 0, 1] },
  { name: 'SUBSCRIBE with reserved flags 0', bytes: [0x80, 6, 0, 1, 0, 1, 0x61, 0] },
  { name: 'a SUBSCRIBE with no filters', bytes: [0x82, 2, 0, 1] },
  { name: 'a packet type the server never receives (CONNACK)', bytes: [0x20, 2, 0, 0] },
  { name: 'reserved packet type 0', bytes: [0x00, 0] },
  { name: 'a second CONNECT', bytes: [0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 0, 0, 0] },
];

for (const version of [4, 5] as const) {
  for (const c of cases) {
    test(`v${version}: ${c.name} disconnects that client, publishes its will, and others are still served`, async () => {
      const id = `bad-${version}-${++round}`;
      const peer = await rawSession(b.port, id, version, {
        will: { topic: `will/${id}`, payload: Buffer.from('w'), qos: 1, retain: false },
      });
      peer.send(c.bytes);
      await peer.closed;
      const extra = peer.packets.slice(1);
      if (version === 5) {
        const d = extra.find((p) => p.cmd === 'disconnect') as mqttPacket.IDisconnectPacket | undefined;
        assert.ok(d !== undefined && (d.reasonCode ?? 0) >= 0x80, 'v5 gets a DISCONNECT with an error reason');
        if (c.v5Reason !== undefined) assert.equal(d.reasonCode, c.v5Reason, 'v5 is told why');
      }
      assert.ok(!extra.some((p) => p.cmd === 'suback' || p.cmd === 'connack'), 'nothing was accepted');
      for (;;) {
        const m = await bystander.next();
        if (m.topic === `will/${id}`) break;
      }
      await brokerStillServes();
    });
  }
}

test('a subscription and a PUBLISH thousands of levels deep are refused, and the broker lives on', async () => {
  // Before the 200-level limit, matching this topic against this filter overflowed the stack.
  const roomy = await startBroker();
  try {
    const sub = await rawSession(roomy.port, 'deep-sub', 5);
    sub.sendPacket({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '+/'.repeat(30000) + '#', qos: 0 }] });
    assert.deepEqual(((await sub.next()) as mqttPacket.ISubackPacket).granted, [0x8f]);
    const pub = await rawSession(roomy.port, 'deep-pub', 4);
    pub.send(publishBytes(Buffer.from('a' + '/a'.repeat(30000))));
    await pub.closed;
    const alive = await rawSession(roomy.port, 'alive', 4);
    alive.sendPacket({ cmd: 'pingreq' });
    assert.equal((await alive.next()).cmd, 'pingresp');
    sub.destroy();
    alive.destroy();
  } finally {
    await roomy.stop();
  }
});

test('packets before CONNECT close the connection without an answer', async () => {
  for (const bytes of [
    [0xc0, 0],
    publishBytes(Buffer.from('early')),
    [0x82, 6, 0, 1, 0, 1, 0x61, 0],
  ]) {
    const peer = await rawConnect(b.port);
    peer.send(bytes);
    await peer.closed;
    assert.deepEqual(peer.packets, []);
  }
  await brokerStillServes();
});

test('oversize against max_packet_size: refused from the header, before the body is sent', async () => {
  const peer = await rawSession(b.port, 'oversize', 5);
  // Header only: a PUBLISH of 1 MB. The broker must not wait for (or buffer) the body.
  peer.send([0x30, 0x80, 0x80, 0x40]);
  await peer.closed;
  const d = peer.packets.find((p) => p.cmd === 'disconnect') as mqttPacket.IDisconnectPacket | undefined;
  assert.equal(d?.reasonCode, 0x95);
  const atLimit = await rawSession(b.port, 'at-limit', 4);
  // 1024 bytes in all: fixed header 3 + topic 2+5 + payload 1014.
  atLimit.send([0x30, ...[0x80 | (1021 & 0x7f), 1021 >> 7], 0, 5, ...Buffer.from('alive'), ...Buffer.alloc(1014, 0x41)]);
  const m = await bystander.next();
  assert.equal(m.topic, 'alive');
  assert.equal(m.packet.payload.length, 1014);
  assert.equal(atLimit.isClosed(), false);
  atLimit.destroy();
});

test('a CONNECT split across many TCP segments and a PUBLISH glued to it are both handled', async () => {
  const peer = await rawConnect(b.port);
  const connect = [0x10, 13, 0, 4, ...Buffer.from('MQTT'), 4, 2, 0, 0, 0, 1, 0x73];
  const publish = publishBytes(Buffer.from('alive/split'), Buffer.from('ok'));
  const all = [...connect, ...publish];
  for (const byte of all.slice(0, 5)) {
    peer.send([byte]);
    await new Promise((r) => setImmediate(r));
  }
  peer.send(all.slice(5));
  assert.equal((await peer.next()).cmd, 'connack');
  let m;
  do m = await bystander.next();
  while (m.topic !== 'alive/split');
  assert.equal(m.payload, 'ok');
  peer.destroy();
});

test('garbage instead of CONNECT (an HTTP request) is refused at once, not after the CONNECT timeout', async () => {
  const patient = await startBroker({ limits: { connectTimeout: 3600 } });
  try {
    const peers: RawPeer[] = [];
    for (let i = 0; i < 20; i++) {
      const p = await rawConnect(patient.port);
      p.send(Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\n\r\n${i}`));
      peers.push(p);
    }
    // With an hour of CONNECT timeout these close only if the first byte is judged.
    await Promise.all(peers.map((p) => p.closed));
  } finally {
    await patient.stop();
  }
  await brokerStillServes();
});

test('a CONNECT announcing more than 1 MiB is refused from its header even with no max_packet_size', async () => {
  const open = await startBroker({ limits: { connectTimeout: 3600 } });
  try {
    const peer = await rawConnect(open.port);
    // CONNECT fixed header claiming 2 MiB (remaining length 0x200000): only the header is sent.
    peer.send([0x10, 0x80, 0x80, 0x80, 0x01]);
    await peer.closed;
    assert.deepEqual(peer.packets, []);
    // A CONNECT with a will payload well under the cap is still fine.
    const ok = await connectClient(open.url, { clientId: 'big-will', will: { topic: 'w', payload: Buffer.alloc(60_000, 1), qos: 0, retain: false } });
    await ok.end();
  } finally {
    await open.stop();
  }
});

test('a socket that sends no CONNECT is closed after the CONNECT timeout', async () => {
  const strict = await startBroker({ limits: { connectTimeout: 1 } });
  try {
    const idle = await rawConnect(strict.port);
    const half = await rawConnect(strict.port);
    half.send([0x10, 20, 0, 4]); // a CONNECT that never completes
    await Promise.all([idle.closed, half.closed]);
    assert.deepEqual([...idle.packets, ...half.packets], []);
  } finally {
    await strict.stop();
  }
});

test('stopping the server does not wait for a socket that never sent CONNECT', async () => {
  const other = await startBroker({ limits: { connectTimeout: 3600 } });
  const idle = await rawConnect(other.port);
  // With an hour of CONNECT timeout, this resolves only if the idle socket is closed for us.
  await other.stop();
  await idle.closed;
});

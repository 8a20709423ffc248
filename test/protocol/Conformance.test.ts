/**
 * MUSTs of MQTT 3.1.1 and 5.0 that independent conformance suites probe, each sent as exact
 * bytes over a raw socket. Where mosquitto 2.0.11's answer is the reference, the same bytes
 * go to the real /usr/sbin/mosquitto and both answers must agree.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import * as mqttPacket from 'mqtt-packet';
import { Logger, type LogLevel } from '../../src/log/Logger';
import { connectClient, startBroker, type TestBroker } from '../helpers/broker';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto';

const MESSAGE_SIZE_LIMIT = 100;
let mqttd: TestBroker;
let mosquitto: MosquittoBroker;
const logLines: string[] = [];
let round = 0;

before(async () => {
  const logger = new Logger([{ write: (_level: LogLevel, line: string) => void logLines.push(line) }], ['error', 'warning', 'notice', 'information'], false);
  mqttd = await startBroker({ limits: { messageSizeLimit: MESSAGE_SIZE_LIMIT }, logger });
  mosquitto = await startMosquitto(['allow_anonymous true', `message_size_limit ${MESSAGE_SIZE_LIMIT}`]);
});
after(async () => {
  await mqttd.stop();
  await mosquitto.stop();
});

// ---- Bytes -----------------------------------------------------------------------------

function varint(n: number): number[] {
  const out: number[] = [];
  do {
    out.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return out;
}

function str(s: string | Buffer): number[] {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  return [b.length >> 8, b.length & 0xff, ...b];
}

function frame(firstByte: number, body: number[]): number[] {
  return [firstByte, ...varint(body.length), ...body];
}

const PROTOCOL = { 3: str('MQIsdp'), 4: str('MQTT'), 5: str('MQTT') } as const;

/** A CONNECT by hand: `props` (v5) is the raw property block without its length. */
function connectBytes(o: {
  version: 3 | 4 | 5;
  flags?: number;
  clientId: string | Buffer;
  props?: number[];
  will?: { topic: string; payload: Buffer; props?: number[] };
  username?: string | Buffer;
  trailer?: number[];
}): number[] {
  let flags = o.flags ?? 0x02;
  if (o.will) flags |= 0x04;
  if (o.username !== undefined) flags |= 0x80;
  const body = [...PROTOCOL[o.version], o.version, flags, 0, 60];
  if (o.version === 5) body.push(...varint(o.props?.length ?? 0), ...(o.props ?? []));
  body.push(...str(o.clientId));
  if (o.will) {
    if (o.version === 5) body.push(...varint(o.will.props?.length ?? 0), ...(o.will.props ?? []));
    body.push(...str(o.will.topic), ...str(o.will.payload));
  }
  if (o.username !== undefined) body.push(...str(o.username));
  body.push(...(o.trailer ?? []));
  return frame(0x10, body);
}

interface Answer {
  /** Every byte the broker sent. */
  bytes: Buffer;
  packets: mqttPacket.Packet[];
  closed: boolean;
}

/**
 * Sends `steps` in order, each once the broker has answered the one before (or 300 ms of
 * quiet), and returns what came back by the time the broker closed or went quiet.
 */
async function exchange(port: number, version: 3 | 4 | 5, steps: number[][], quietMs = 400): Promise<Answer> {
  const socket = netConnect(port, '127.0.0.1');
  await new Promise<void>((r, j) => socket.once('connect', r).once('error', j));
  const parser = mqttPacket.parser({ protocolVersion: version });
  const packets: mqttPacket.Packet[] = [];
  const chunks: Buffer[] = [];
  let closed = false;
  let wake: (() => void) | undefined;
  parser.on('packet', (p: mqttPacket.Packet) => packets.push(p));
  parser.on('error', () => undefined);
  socket.on('data', (d) => {
    chunks.push(d);
    parser.parse(d);
    wake?.();
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    closed = true;
    wake?.();
  });
  const settle = async (ms: number) => {
    const before = packets.length;
    await new Promise<void>((r) => {
      const t = setTimeout(r, ms);
      wake = () => {
        if (closed || packets.length > before) {
          clearTimeout(t);
          r();
        }
      };
    });
    wake = undefined;
  };
  for (const step of steps) {
    if (closed) break;
    socket.write(Buffer.from(step));
    await settle(3000);
  }
  if (!closed) await settle(quietMs);
  // A close may follow the last packet by a moment.
  if (!closed) await new Promise((r) => setTimeout(r, 100));
  socket.destroy();
  return { bytes: Buffer.concat(chunks), packets, closed };
}

function id(): string {
  return `conf-${process.pid}-${++round}`;
}

function connack(a: Answer): mqttPacket.IConnackPacket | undefined {
  return a.packets.find((p) => p.cmd === 'connack') as mqttPacket.IConnackPacket | undefined;
}

function disconnectReason(a: Answer): number | undefined {
  const d = a.packets.find((p) => p.cmd === 'disconnect') as mqttPacket.IDisconnectPacket | undefined;
  return d?.reasonCode;
}

/** Runs the same bytes against mqttd and mosquitto 2.0.11. */
async function both(version: 3 | 4 | 5, steps: (clientId: string) => number[][]): Promise<{ mqttd: Answer; mosquitto: Answer }> {
  const [a, b] = await Promise.all([exchange(mqttd.port, version, steps(id())), exchange(mosquitto.port, version, steps(id()))]);
  return { mqttd: a, mosquitto: b };
}

function closedWithoutConnack(a: Answer, who: string): void {
  assert.ok(a.closed, `${who} closes the connection`);
  assert.equal(connack(a), undefined, `${who} sends no CONNACK`);
}

// ---- CONNECT ---------------------------------------------------------------------------

test('CONNECT with a username but username flag 0 (surplus bytes) closes without CONNACK, as mosquitto', async () => {
  const r = await both(4, (clientId) => [connectBytes({ version: 4, clientId, trailer: str('intruder') })]);
  closedWithoutConnack(r.mosquitto, 'mosquitto');
  closedWithoutConnack(r.mqttd, 'mqttd');
});

test('v5 CONNECT with surplus bytes closes without CONNACK, as mosquitto', async () => {
  const r = await both(5, (clientId) => [connectBytes({ version: 5, clientId, trailer: [0, 0] })]);
  closedWithoutConnack(r.mosquitto, 'mosquitto');
  closedWithoutConnack(r.mqttd, 'mqttd');
});

for (const version of [4, 5] as const) {
  test(`v${version}: U+0000 in the client id closes without CONNACK [MQTT-1.5.3-2], as mosquitto`, async () => {
    const r = await both(version, (clientId) => [connectBytes({ version, clientId: Buffer.from(`${clientId}\0x`) })]);
    closedWithoutConnack(r.mosquitto, 'mosquitto');
    closedWithoutConnack(r.mqttd, 'mqttd');
  });

  test(`v${version}: U+0000 in the username closes without CONNACK [MQTT-1.5.3-2], as mosquitto`, async () => {
    const r = await both(version, (clientId) => [connectBytes({ version, clientId, username: Buffer.from('us\0er') })]);
    closedWithoutConnack(r.mosquitto, 'mosquitto');
    closedWithoutConnack(r.mqttd, 'mqttd');
  });

  test(`v${version}: a will topic with a wildcard closes without CONNACK [MQTT-3.1.4-1], as mosquitto`, async () => {
    const r = await both(version, (clientId) => [
      connectBytes({ version, clientId, will: { topic: 'will/+', payload: Buffer.from('w') } }),
    ]);
    closedWithoutConnack(r.mosquitto, 'mosquitto');
    closedWithoutConnack(r.mqttd, 'mqttd');
  });

  test(`v${version}: Will QoS 3 closes without CONNACK [MQTT-3.1.2-14], as mosquitto`, async () => {
    const r = await both(version, (clientId) => [
      connectBytes({ version, clientId, flags: 0x02 | 0x18, will: { topic: 'will/x', payload: Buffer.from('w') } }),
    ]);
    closedWithoutConnack(r.mosquitto, 'mosquitto');
    closedWithoutConnack(r.mqttd, 'mqttd');
  });

  test(`v${version}: a will payload above message_size_limit is refused as mosquitto (CONNACK ${version === 5 ? '0x95' : '5'})`, async () => {
    const r = await both(version, (clientId) => [
      connectBytes({ version, clientId, will: { topic: 'will/x', payload: Buffer.alloc(MESSAGE_SIZE_LIMIT + 1, 0x61) } }),
    ]);
    const expected = version === 5 ? 0x95 : 5;
    for (const [who, a] of [['mosquitto', r.mosquitto], ['mqttd', r.mqttd]] as const) {
      const ack = connack(a);
      assert.ok(ack, `${who} answers with a CONNACK`);
      assert.equal(version === 5 ? ack.reasonCode : ack.returnCode, expected, `${who}'s code`);
      assert.ok(a.closed, `${who} closes`);
    }
  });
}

test('v5 CONNECT with Maximum Packet Size 0 is a Protocol Error [MQTT-3.1.2-24]: closed without CONNACK, as mosquitto', async () => {
  const r = await both(5, (clientId) => [connectBytes({ version: 5, clientId, props: [0x27, 0, 0, 0, 0] })]);
  closedWithoutConnack(r.mosquitto, 'mosquitto');
  closedWithoutConnack(r.mqttd, 'mqttd');
});

test('v5 CONNECT with a property that belongs to PUBLISH (Payload Format Indicator) is refused, as mosquitto', async () => {
  const r = await both(5, (clientId) => [connectBytes({ version: 5, clientId, props: [0x01, 1] })]);
  closedWithoutConnack(r.mosquitto, 'mosquitto');
  closedWithoutConnack(r.mqttd, 'mqttd');
});

test('v5 CONNECT with Request Problem Information 2 is a Protocol Error, as mosquitto', async () => {
  const r = await both(5, (clientId) => [connectBytes({ version: 5, clientId, props: [0x17, 2] })]);
  closedWithoutConnack(r.mosquitto, 'mosquitto');
  closedWithoutConnack(r.mqttd, 'mqttd');
});

test('MQTT 3.1: a client id longer than 23 characters is accepted, as mosquitto 2.0.11', async () => {
  const long = (clientId: string) => `${clientId}-${'x'.repeat(30)}`;
  const r = await both(3, (clientId) => [connectBytes({ version: 3, clientId: long(clientId) })]);
  for (const [who, a] of [['mosquitto', r.mosquitto], ['mqttd', r.mqttd]] as const) {
    assert.equal(connack(a)?.returnCode, 0, `${who} accepts`);
  }
});

test('MQTT 3.1: the CONNACK never sets session-present (reserved in 3.1), as mosquitto', async () => {
  for (const port of [mqttd.port, mosquitto.port]) {
    const clientId = id();
    const first = await exchange(port, 3, [connectBytes({ version: 3, clientId, flags: 0 })]);
    assert.equal(connack(first)?.returnCode, 0);
    const again = await exchange(port, 3, [connectBytes({ version: 3, clientId, flags: 0 })]);
    assert.deepEqual([...again.bytes.subarray(0, 4)], [0x20, 2, 0, 0], `port ${port}: CONNACK flags byte is 0`);
  }
  // 3.1.1 does set it for the same sequence (the session exists).
  const clientId = id();
  await exchange(mqttd.port, 4, [connectBytes({ version: 4, clientId, flags: 0 })]);
  const again = await exchange(mqttd.port, 4, [connectBytes({ version: 4, clientId, flags: 0 })]);
  assert.deepEqual([...again.bytes.subarray(0, 4)], [0x20, 2, 1, 0]);
});

test('every CONNECT refusal leaves a log line', async () => {
  const cases: { what: string; bytes: number[]; version: 3 | 4 | 5 }[] = [
    { what: 'empty 3.1 id', version: 3, bytes: connectBytes({ version: 3, clientId: '' }) },
    { what: '3.1.1 empty id without clean session', version: 4, bytes: connectBytes({ version: 4, clientId: '', flags: 0 }) },
    { what: 'NUL in client id', version: 4, bytes: connectBytes({ version: 4, clientId: Buffer.from('a\0b') }) },
    { what: 'will topic with a wildcard', version: 4, bytes: connectBytes({ version: 4, clientId: 'w+', will: { topic: 'a/#', payload: Buffer.from('w') } }) },
    { what: 'too large will', version: 5, bytes: connectBytes({ version: 5, clientId: 'big-will', will: { topic: 'a', payload: Buffer.alloc(200) } }) },
    { what: 'enhanced authentication', version: 5, bytes: connectBytes({ version: 5, clientId: 'auth', props: [0x15, ...str('SCRAM')] }) },
  ];
  for (const c of cases) {
    const before = logLines.length;
    const a = await exchange(mqttd.port, c.version, [c.bytes]);
    assert.ok(a.closed, `${c.what}: closed`);
    const added = logLines.slice(before);
    assert.ok(added.some((l) => /refused|disconnected/.test(l)), `${c.what}: a log line (got ${JSON.stringify(added)})`);
  }
});

// ---- After CONNECT ---------------------------------------------------------------------

for (const version of [4, 5] as const) {
  test(`v${version}: SUBSCRIBE with packet id 0 closes the connection [MQTT-2.2.1-3], as mosquitto`, async () => {
    const r = await both(version, (clientId) => [
      connectBytes({ version, clientId }),
      frame(0x82, [0, 0, ...(version === 5 ? [0] : []), ...str('a/b'), 1]),
    ]);
    for (const [who, a] of [['mosquitto', r.mosquitto], ['mqttd', r.mqttd]] as const) {
      assert.ok(a.closed, `${who} closes`);
      assert.ok(!a.packets.some((p) => p.cmd === 'suback'), `${who} sends no SUBACK`);
    }
    if (version === 5) assert.equal(disconnectReason(r.mqttd), 0x81);
  });

  test(`v${version}: UNSUBSCRIBE with packet id 0 closes the connection [MQTT-2.2.1-3], as mosquitto`, async () => {
    const r = await both(version, (clientId) => [
      connectBytes({ version, clientId }),
      frame(0xa2, [0, 0, ...(version === 5 ? [0] : []), ...str('a/b')]),
    ]);
    for (const [who, a] of [['mosquitto', r.mosquitto], ['mqttd', r.mqttd]] as const) {
      assert.ok(a.closed, `${who} closes`);
      assert.ok(!a.packets.some((p) => p.cmd === 'unsuback'), `${who} sends no UNSUBACK`);
    }
  });
}

/** A v5 session's CONNECT, then `packet`; returns mqttd's answer. */
async function v5After(packet: number[], connectProps: number[] = []): Promise<Answer> {
  return exchange(mqttd.port, 5, [connectBytes({ version: 5, clientId: id(), props: connectProps }), packet]);
}

test('v5: a SUBSCRIBE filter with U+0000 gets DISCONNECT 0x81, not a SUBACK', async () => {
  const a = await v5After(frame(0x82, [0, 1, 0, ...str(Buffer.from('a/\0b')), 1]));
  assert.ok(a.closed);
  assert.equal(disconnectReason(a), 0x81);
  assert.ok(!a.packets.some((p) => p.cmd === 'suback'));
});

test('v5: an UNSUBSCRIBE filter with U+0000 gets DISCONNECT 0x81, not an UNSUBACK', async () => {
  const a = await v5After(frame(0xa2, [0, 1, 0, ...str(Buffer.from('a/\0b'))]));
  assert.ok(a.closed);
  assert.equal(disconnectReason(a), 0x81);
});

test('v5: UNSUBSCRIBE of a malformed filter answers 0x8F (Topic Filter invalid), not 0x11', async () => {
  const a = await v5After(frame(0xa2, [0, 7, 0, ...str('a/#/b'), ...str('$share/+/x')]));
  const unsuback = a.packets.find((p) => p.cmd === 'unsuback') as mqttPacket.IUnsubackPacket | undefined;
  assert.deepEqual(unsuback?.granted, [0x8f, 0x8f]);
  assert.ok(!a.closed);
});

test('v5: No Local on a shared subscription is a Protocol Error [MQTT-3.8.3-4]', async () => {
  const a = await v5After(frame(0x82, [0, 1, 0, ...str('$share/g/a'), 0x04 | 1]));
  assert.ok(a.closed);
  assert.equal(disconnectReason(a), 0x82);
  assert.ok(!a.packets.some((p) => p.cmd === 'suback'));
});

/** A v5 QoS 1 PUBLISH to `topic` with the given raw property block. */
function publishV5(topic: string, props: number[], payload = 'x'): number[] {
  return frame(0x32, [...str(topic), 0, 1, ...varint(props.length), ...props, ...Buffer.from(payload)]);
}

const badPublishes: { name: string; props: number[]; reason: number }[] = [
  { name: 'a Session Expiry Interval (a CONNECT/DISCONNECT property)', props: [0x11, 0, 0, 0, 10], reason: 0x82 },
  { name: 'a Subscription Identifier (only the server sends it in PUBLISH) [MQTT-3.3.4-6]', props: [0x0b, 5], reason: 0x82 },
  { name: 'Payload Format Indicator twice', props: [0x01, 1, 0x01, 1], reason: 0x82 },
  { name: 'Payload Format Indicator 0xED', props: [0x01, 0xed], reason: 0x82 },
  { name: 'a property length running past the packet', props: [0x01], reason: 0x81 },
  { name: 'a Content Type with U+0000', props: [0x03, ...str(Buffer.from('text\0'))], reason: 0x81 },
];

for (const c of badPublishes) {
  test(`v5: a PUBLISH with ${c.name} is refused with DISCONNECT 0x${c.reason.toString(16)} and never forwarded`, async () => {
    const topic = `conf/pub/${++round}`;
    const watcher = await connectClient(mqttd.url, { protocolVersion: 5, clientId: id() });
    try {
      await watcher.client.subscribeAsync(topic, { qos: 1 });
      // The property block's length byte is written by publishV5; a block "running past the
      // packet" claims one byte more than the packet holds.
      const bytes = c.reason === 0x81 && c.props.length === 1 ? frame(0x32, [...str(topic), 0, 1, 5, 0x01]) : publishV5(topic, c.props);
      const a = await v5After(bytes);
      assert.ok(a.closed, 'the publisher is disconnected');
      assert.equal(disconnectReason(a), c.reason);
      assert.ok(!a.packets.some((p) => p.cmd === 'puback'), 'no PUBACK');
      assert.ok(await watcher.nothingWithin(200), 'nothing was forwarded');
    } finally {
      await watcher.end();
    }
  });
}

test('v5: a PUBACK whose property length runs past the packet is Malformed (DISCONNECT 0x81)', async () => {
  const a = await v5After(frame(0x40, [0, 1, 0x10, 20]));
  assert.ok(a.closed);
  assert.equal(disconnectReason(a), 0x81);
});

test('v5: a PUBACK carrying a property only CONNECT may carry is a Protocol Error', async () => {
  const a = await v5After(frame(0x40, [0, 1, 0x00, 5, 0x11, 0, 0, 0, 1]));
  assert.ok(a.closed);
  assert.equal(disconnectReason(a), 0x82);
});

test('v3.1.1: a PUBACK longer than 2 bytes is malformed and closes', async () => {
  const a = await exchange(mqttd.port, 4, [connectBytes({ version: 4, clientId: id() }), frame(0x40, [0, 1, 0])]);
  assert.ok(a.closed);
});

test('a PUBREC for an unknown packet id gets a PUBREL (v5: reason 0x92), as mosquitto sends one', async () => {
  const v5 = await v5After(frame(0x50, [0x12, 0x34]));
  const rel5 = v5.packets.find((p) => p.cmd === 'pubrel') as mqttPacket.IPubrelPacket | undefined;
  assert.equal(rel5?.messageId, 0x1234);
  assert.equal(rel5?.reasonCode, 0x92);
  const r = await both(4, (clientId) => [connectBytes({ version: 4, clientId }), frame(0x50, [0x12, 0x34])]);
  for (const [who, a] of [['mosquitto', r.mosquitto], ['mqttd', r.mqttd]] as const) {
    const rel = a.packets.find((p) => p.cmd === 'pubrel') as mqttPacket.IPubrelPacket | undefined;
    assert.equal(rel?.messageId, 0x1234, `${who} sends PUBREL`);
  }
});

test("v5: a refused PUBLISH's PUBACK drops its Reason String to fit the client's Maximum Packet Size [MQTT-3.1.2-25]", async () => {
  // $SYS is refused with 0x87 and a reason string of some 30 bytes.
  const wide = await v5After(publishV5('$SYS/x', []));
  const wideAck = wide.packets.find((p) => p.cmd === 'puback') as mqttPacket.IPubackPacket;
  assert.equal(wideAck.reasonCode, 0x87);
  assert.ok(wideAck.properties?.reasonString, 'without a limit the reason is given');
  const narrow = await v5After(publishV5('$SYS/x', []), [0x27, 0, 0, 0, 16]);
  const start = narrow.bytes.indexOf(0x40, 1);
  const ack = narrow.packets.find((p) => p.cmd === 'puback') as mqttPacket.IPubackPacket;
  assert.equal(ack.reasonCode, 0x87);
  assert.equal(ack.properties?.reasonString, undefined);
  assert.ok(narrow.bytes.length - start <= 16, 'the PUBACK fits 16 bytes');
});

test("v5: no CONNACK is larger than the client's Maximum Packet Size", async () => {
  // A refusal (enhanced auth) carries a reason string; with room for 8 bytes it goes.
  const refused = await exchange(mqttd.port, 5, [
    connectBytes({ version: 5, clientId: id(), props: [0x27, 0, 0, 0, 8, 0x15, ...str('SCRAM-SHA-1')] }),
  ]);
  assert.ok(refused.bytes.length > 0 && refused.bytes.length <= 8, `CONNACK of ${refused.bytes.length} bytes`);
  assert.equal(connack(refused)?.reasonCode, 0x8c);
  // An accepting CONNACK that cannot fit (an assigned id needs ~30 bytes) is not sent at all.
  const tiny = await exchange(mqttd.port, 5, [connectBytes({ version: 5, clientId: '', props: [0x27, 0, 0, 0, 12] })]);
  assert.ok(tiny.closed);
  assert.equal(tiny.bytes.length, 0);
});

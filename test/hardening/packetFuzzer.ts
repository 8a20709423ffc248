/**
 * Adversarial MQTT byte streams for the protocol fuzz test: valid packets of every type and
 * protocol version (made by mqtt-packet), random mutations of them, and hand-made attacks
 * the issue lists (bad remaining lengths, invalid UTF-8, NUL, wildcards in PUBLISH topics,
 * reserved flags, topic alias abuse, oversize properties, thousands of levels).
 */
import * as mqttPacket from 'mqtt-packet';
import type { Random } from './hardeningKit';

export type Version = 3 | 4 | 5;

/** Topics and filters, valid and not; fuzz clients never use the canary's topics. */
const TOPICS = ['fz/a', 'fz/b/c', '', '/', 'fz/+', 'fz/#', '#', '+', '$SYS/broker/x', 'fz/\u0000x', 'fz/é', 'fz/\ud800', 'a'.repeat(300)];
const FILTERS = ['fz/#', 'fz/+/c', '#', '+/+', '', 'fz/#/x', 'fz/a+', '$share/g/fz/#', '$share//fz', '$share/g', '$SYS/#', 'fz/\u0000', 'x/'.repeat(2000) + '#'];
const CLIENT_IDS = ['fz1', 'fz2', 'fz3', '', 'fz-' + 'x'.repeat(100), 'fz\u0000nul', 'fz\nline', 'fz\ufffd'];

function str(r: Random, pool: readonly string[]): string {
  return r.chance(0.85) ? r.pick(pool) : r.bytes(r.int(12)).toString('latin1');
}

function userProperties(r: Random): Record<string, string | string[]> {
  if (r.chance(0.1)) return { big: 'v'.repeat(r.range(1000, 60000)) };
  const out: Record<string, string | string[]> = {};
  for (let i = r.int(4); i > 0; i--) out[`k${r.int(5)}`] = r.chance(0.2) ? ['a', 'b'] : `v${r.int(100)}`;
  return out;
}

/** One valid-looking packet object; mqtt-packet may still refuse to encode it. */
function packetObject(r: Random, version: Version): mqttPacket.Packet {
  const v5 = version === 5;
  const id = r.chance(0.05) ? 0 : r.range(1, 65535);
  const qos = r.int(3) as 0 | 1 | 2;
  switch (r.int(15)) {
    case 0:
      return connectPacket(r, version);
    case 1:
    case 2:
    case 3: {
      const p: mqttPacket.IPublishPacket = { cmd: 'publish', topic: str(r, TOPICS), payload: r.bytes(r.int(64)), qos, retain: r.chance(0.2), dup: r.chance(0.1) };
      if (qos > 0) p.messageId = id;
      if (v5 && r.chance(0.6)) {
        p.properties = {};
        if (r.chance(0.5)) p.properties.topicAlias = r.pick([0, 1, 2, 10, 11, 65535]);
        if (r.chance(0.3)) p.properties.messageExpiryInterval = r.pick([0, 1, 0xffffffff]);
        if (r.chance(0.3)) p.properties.payloadFormatIndicator = r.chance(0.5);
        if (r.chance(0.2)) p.properties.responseTopic = str(r, TOPICS);
        if (r.chance(0.2)) p.properties.correlationData = r.bytes(r.int(20));
        if (r.chance(0.2)) p.properties.contentType = 'text/plain';
        if (r.chance(0.2)) p.properties.subscriptionIdentifier = r.range(1, 268435455);
        if (r.chance(0.3)) p.properties.userProperties = userProperties(r);
        if (p.properties.topicAlias !== undefined && r.chance(0.5)) p.topic = '';
      }
      return p;
    }
    case 4:
      return { cmd: 'puback', messageId: id, ...(v5 && r.chance(0.5) ? { reasonCode: r.pick([0, 0x10, 0x80, 0x97]) } : {}) };
    case 5:
      return { cmd: 'pubrec', messageId: id };
    case 6:
      return { cmd: 'pubrel', messageId: id };
    case 7:
      return { cmd: 'pubcomp', messageId: id };
    case 8:
    case 9: {
      const subscriptions = Array.from({ length: r.range(1, 4) }, () => ({
        topic: str(r, FILTERS),
        qos: r.int(3) as 0 | 1 | 2,
        ...(v5 ? { nl: r.chance(0.3), rap: r.chance(0.3), rh: r.int(3) } : {}),
      }));
      const p: mqttPacket.ISubscribePacket = { cmd: 'subscribe', messageId: id, subscriptions };
      if (v5 && r.chance(0.3)) p.properties = { subscriptionIdentifier: r.range(1, 268435455), userProperties: userProperties(r) };
      return p;
    }
    case 10:
      return { cmd: 'unsubscribe', messageId: id, unsubscriptions: [str(r, FILTERS)] };
    case 11:
      return { cmd: 'pingreq' };
    case 12:
      return v5 && r.chance(0.5)
        ? { cmd: 'disconnect', reasonCode: r.pick([0, 4, 0x80]), properties: { sessionExpiryInterval: r.pick([0, 10, 0xffffffff]) } }
        : { cmd: 'disconnect' };
    case 13:
      return { cmd: 'auth', reasonCode: r.pick([0, 0x18, 0x19]), properties: { authenticationMethod: 'x' } } as mqttPacket.Packet;
    default:
      // Packets only a server sends.
      return r.pick<mqttPacket.Packet>([
        { cmd: 'connack', returnCode: 0, sessionPresent: false },
        { cmd: 'suback', messageId: id, granted: [0] },
        { cmd: 'unsuback', messageId: id } as mqttPacket.Packet,
        { cmd: 'pingresp' },
      ]);
  }
}

export function connectPacket(r: Random, version: Version, clientId?: string): mqttPacket.IConnectPacket {
  const p: mqttPacket.IConnectPacket = {
    cmd: 'connect',
    protocolId: version === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion: version,
    clientId: clientId ?? str(r, CLIENT_IDS),
    clean: r.chance(0.7),
    keepalive: r.pick([0, 0, 1, 60, 65535]),
  };
  if (r.chance(0.2)) p.username = str(r, ['fz', '', 'ü']);
  if (p.username !== undefined && r.chance(0.5)) p.password = r.bytes(r.int(10));
  if (r.chance(0.2)) {
    p.will = { topic: str(r, TOPICS), payload: r.bytes(r.int(16)), qos: r.int(3) as 0 | 1 | 2, retain: r.chance(0.3) };
    if (version === 5 && r.chance(0.5)) p.will.properties = { willDelayInterval: r.pick([0, 1, 100]), userProperties: userProperties(r) };
  }
  if (version === 5 && r.chance(0.6)) {
    p.properties = {};
    if (r.chance(0.4)) p.properties.sessionExpiryInterval = r.pick([0, 10, 0xffffffff]);
    if (r.chance(0.3)) p.properties.receiveMaximum = r.pick([0, 1, 65535]);
    if (r.chance(0.3)) p.properties.maximumPacketSize = r.pick([1, 20, 100, 0xffffffff]);
    if (r.chance(0.3)) p.properties.topicAliasMaximum = r.pick([0, 5, 65535]);
    if (r.chance(0.1)) p.properties.authenticationMethod = 'SCRAM';
    if (r.chance(0.3)) p.properties.userProperties = userProperties(r);
    if (r.chance(0.1)) p.properties.requestProblemInformation = r.chance(0.5);
  }
  return p;
}

/** Encodes, or falls back to random bytes behind a random header when mqtt-packet refuses. */
export function encode(r: Random, packet: mqttPacket.Packet, version: Version): Buffer {
  try {
    return mqttPacket.generate(packet, { protocolVersion: version });
  } catch {
    return Buffer.concat([Buffer.from([r.int(256), 4]), r.bytes(4)]);
  }
}

/** Fixed header + Remaining Length + body, with the remaining length computed honestly. */
function frame(first: number, body: Buffer): Buffer {
  const len: number[] = [];
  let n = body.length;
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    len.push(b);
  } while (n > 0);
  return Buffer.concat([Buffer.from([first, ...len]), body]);
}

function utf8Field(bytes: Buffer): Buffer {
  const b = Buffer.alloc(2 + bytes.length);
  b.writeUInt16BE(bytes.length, 0);
  bytes.copy(b, 2);
  return b;
}

/** Encodes a v5 Variable Byte Integer. */
function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

const BAD_UTF8 = [Buffer.from([0xc3, 0x28]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xff]), Buffer.from([0x61, 0x00, 0x62]), Buffer.from([0xc0, 0xaf])];

/** The hand-made attacks, by name, so a failure says which one. */
export const ATTACKS: Record<string, (r: Random, version: Version) => Buffer> = {
  'remaining length of 5 bytes': () => Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]),
  'remaining length larger than what follows': (r) => Buffer.concat([Buffer.from([0x30, 0xff, 0xff, 0x7f]), r.bytes(r.int(50))]),
  'zero remaining length for every type': (r) => Buffer.from([r.int(16) << 4, 0]),
  'reserved flags set': (r) => frame((r.range(1, 14) << 4) | r.range(0, 15), r.bytes(r.int(8))),
  'packet type 0 and 15': (r) => frame(r.pick([0x00, 0xf0]), r.bytes(r.int(8))),
  'PUBLISH with QoS 3': (r) => frame(0x36, Buffer.concat([utf8Field(Buffer.from('fz/a')), Buffer.from([0, 1]), r.bytes(4)])),
  'PUBLISH with invalid UTF-8 topic': (r) => frame(0x30, Buffer.concat([utf8Field(r.pick(BAD_UTF8)), r.bytes(4)])),
  'PUBLISH with wildcard topic': (r, v) => frame(0x30, Buffer.concat([utf8Field(Buffer.from(r.pick(['fz/#', 'fz/+', '+', '#']))), v === 5 ? Buffer.from([0]) : Buffer.alloc(0), Buffer.from('x')])),
  'PUBLISH topic length beyond the packet': () => frame(0x30, Buffer.from([0xff, 0xff, 0x61])),
  'PUBLISH QoS 1 with packet id 0': () => frame(0x32, Buffer.concat([utf8Field(Buffer.from('fz/a')), Buffer.from([0, 0]), Buffer.from('x')])),
  'CONNECT with invalid UTF-8 client id': (r) => {
    const body = Buffer.concat([utf8Field(Buffer.from('MQTT')), Buffer.from([4, 0x02, 0, 0]), utf8Field(r.pick(BAD_UTF8))]);
    return frame(0x10, body);
  },
  'CONNECT with reserved flag bit': () => frame(0x10, Buffer.concat([utf8Field(Buffer.from('MQTT')), Buffer.from([4, 0x03, 0, 0]), utf8Field(Buffer.from('fz1'))])),
  'CONNECT with unknown level': (r) => frame(0x10, Buffer.concat([utf8Field(Buffer.from('MQTT')), Buffer.from([r.pick([0, 2, 6, 255]), 0x02, 0, 0]), utf8Field(Buffer.from('fz1'))])),
  'CONNECT with property length past the end': () =>
    frame(0x10, Buffer.concat([utf8Field(Buffer.from('MQTT')), Buffer.from([5, 0x02, 0, 0]), varint(100000), Buffer.from([0x11, 0, 0, 0, 1])])),
  'v5 PUBLISH with oversize user property': (r) => {
    const value = Buffer.alloc(r.range(30000, 65535), 0x61);
    const prop = Buffer.concat([Buffer.from([0x26]), utf8Field(Buffer.from('k')), utf8Field(value)]);
    return frame(0x30, Buffer.concat([utf8Field(Buffer.from('fz/a')), varint(prop.length), prop, Buffer.from('x')]));
  },
  'v5 PUBLISH with an unset topic alias': (r) => {
    const prop = Buffer.from([0x23, 0, r.range(1, 10)]);
    return frame(0x30, Buffer.concat([utf8Field(Buffer.alloc(0)), varint(prop.length), prop, Buffer.from('x')]));
  },
  'v5 PUBLISH with topic alias 0 or over the maximum': (r) => {
    const alias = r.pick([0, 11, 65535]);
    const prop = Buffer.from([0x23, alias >> 8, alias & 0xff]);
    return frame(0x30, Buffer.concat([utf8Field(Buffer.from('fz/a')), varint(prop.length), prop, Buffer.from('x')]));
  },
  'v5 property given twice': () => {
    const prop = Buffer.from([0x01, 1, 0x01, 0]);
    return frame(0x30, Buffer.concat([utf8Field(Buffer.from('fz/a')), varint(prop.length), prop, Buffer.from('x')]));
  },
  'v5 unknown property id': (r) => {
    const prop = Buffer.from([r.pick([0x00, 0x04, 0x7f, 0xff]), 1]);
    return frame(0x30, Buffer.concat([utf8Field(Buffer.from('fz/a')), varint(prop.length), prop, Buffer.from('x')]));
  },
  'SUBSCRIBE with thousands of levels': (r) => {
    const filter = Buffer.from('l/'.repeat(r.range(1000, 20000)) + '#');
    return frame(0x82, Buffer.concat([Buffer.from([0, 7]), utf8Field(filter), Buffer.from([1])]));
  },
  'SUBSCRIBE with no filters': () => frame(0x82, Buffer.from([0, 7])),
  'SUBSCRIBE with options reserved bits': () => frame(0x82, Buffer.concat([Buffer.from([0, 7]), utf8Field(Buffer.from('fz/#')), Buffer.from([0xc3])])),
  'many SUBSCRIBE filters in one packet': (r) => {
    const parts: Buffer[] = [Buffer.from([0, 8])];
    for (let i = r.range(500, 3000); i > 0; i--) parts.push(utf8Field(Buffer.from(`fz/${i}`)), Buffer.from([r.int(3)]));
    return frame(0x82, Buffer.concat(parts));
  },
};

const ATTACK_NAMES = Object.keys(ATTACKS);

/** Changes a packet the ways a buggy firmware or an attacker would. */
export function mutate(r: Random, input: Buffer): Buffer {
  let b = Buffer.from(input);
  for (let n = r.range(1, 4); n > 0; n--) {
    switch (r.int(7)) {
      case 0:
        if (b.length > 0) b[r.int(b.length)] ^= 1 << r.int(8);
        break;
      case 1:
        if (b.length > 0) b[r.int(b.length)] = r.int(256);
        break;
      case 2: {
        const at = r.int(b.length + 1);
        b = Buffer.concat([b.subarray(0, at), r.bytes(r.range(1, 8)), b.subarray(at)]);
        break;
      }
      case 3: {
        const at = r.int(b.length + 1);
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + r.range(1, 8))]);
        break;
      }
      case 4:
        b = b.subarray(0, r.int(b.length + 1));
        break;
      case 5:
        // The remaining length byte: the most sensitive place of all.
        if (b.length > 1) b[1] = r.int(256);
        break;
      default: {
        const at = r.int(b.length + 1);
        b = Buffer.concat([b.subarray(0, at), b.subarray(r.int(b.length + 1))]);
      }
    }
  }
  return b;
}

export interface FuzzInput {
  /** What the stream starts with: a valid CONNECT, or straight to the attack. */
  version: Version;
  connectFirst: boolean;
  /** Packets (possibly mangled) to send, in order. */
  packets: Buffer[];
  /** How many of them are hand-made attacks, by name (for the figures). */
  attacks: string[];
}

/** One fuzz connection's worth of input. */
export function fuzzInput(r: Random): FuzzInput {
  const version = r.pick<Version>([3, 4, 5, 5]);
  const connectFirst = r.chance(0.85);
  const packets: Buffer[] = [];
  const attacks: string[] = [];
  if (connectFirst) packets.push(encode(r, connectPacket(r, version, `fz${r.int(6)}`), version));
  for (let n = r.range(1, 8); n > 0; n--) {
    const kind = r.int(10);
    if (kind < 4) {
      packets.push(encode(r, packetObject(r, version), version));
    } else if (kind < 7) {
      packets.push(mutate(r, encode(r, packetObject(r, version), version)));
    } else if (kind < 9) {
      const name = r.pick(ATTACK_NAMES);
      attacks.push(name);
      packets.push(ATTACKS[name](r, version));
    } else {
      packets.push(r.bytes(r.range(1, 40)));
    }
  }
  return { version, connectFirst, packets, attacks };
}

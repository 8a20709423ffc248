/**
 * MQTT 5 properties a client may send (§2.2.2.2, table 2-4), checked on the packet's own
 * bytes: mqtt-packet reads every byte property as a boolean, turns a repeated property
 * into an array and accepts any property in any packet, so 0xED would be forwarded as a
 * Payload Format Indicator of 1 and a Session Expiry in a PUBLISH would pass unseen.
 * The checks are mosquitto 2.0's (lib/property_mosq.c, mosquitto_property_check_all):
 * a property in the wrong packet, a repeated one, a 0/1 byte above 1 or a zero Receive
 * Maximum / Maximum Packet Size is a Protocol Error; a property that runs past its block or
 * packet, or a string that is not UTF-8 without U+0000, is a Malformed Packet.
 */
import { isUtf8 } from 'node:buffer';
import type { FramingError } from './PacketReader';
import { ReasonCode } from './reasonCodes';

/** The property blocks a client can send; Will Properties are a block of their own. */
const CONNECT = 1;
const WILL = 2;
const PUBLISH = 4;
const ACK = 8; // PUBACK, PUBREC, PUBREL, PUBCOMP
const SUBSCRIBE = 16;
const UNSUBSCRIBE = 32;
const DISCONNECT = 64;
const AUTH = 128;
const EVERY = CONNECT | WILL | PUBLISH | ACK | SUBSCRIBE | UNSUBSCRIBE | DISCONNECT | AUTH;

type ValueType = 'flag' | 'byte' | 'u16' | 'u16-nonzero' | 'u32' | 'u32-nonzero' | 'varint' | 'string' | 'pair' | 'binary';

interface PropertyRule {
  name: string;
  type: ValueType;
  /** The blocks a client may put it in. */
  places: number;
}

/**
 * Table 2-4 as seen from the server: properties only a server sends (CONNACK's, Subscription
 * Identifier in a PUBLISH [MQTT-3.3.4-6]) have no place in a client's packet.
 */
const RULES = new Map<number, PropertyRule>([
  [0x01, { name: 'Payload Format Indicator', type: 'flag', places: PUBLISH | WILL }],
  [0x02, { name: 'Message Expiry Interval', type: 'u32', places: PUBLISH | WILL }],
  [0x03, { name: 'Content Type', type: 'string', places: PUBLISH | WILL }],
  [0x08, { name: 'Response Topic', type: 'string', places: PUBLISH | WILL }],
  [0x09, { name: 'Correlation Data', type: 'binary', places: PUBLISH | WILL }],
  [0x0b, { name: 'Subscription Identifier', type: 'varint', places: SUBSCRIBE }],
  [0x11, { name: 'Session Expiry Interval', type: 'u32', places: CONNECT | DISCONNECT }],
  [0x12, { name: 'Assigned Client Identifier', type: 'string', places: 0 }],
  [0x13, { name: 'Server Keep Alive', type: 'u16', places: 0 }],
  [0x15, { name: 'Authentication Method', type: 'string', places: CONNECT | AUTH }],
  [0x16, { name: 'Authentication Data', type: 'binary', places: CONNECT | AUTH }],
  [0x17, { name: 'Request Problem Information', type: 'flag', places: CONNECT }],
  [0x18, { name: 'Will Delay Interval', type: 'u32', places: WILL }],
  [0x19, { name: 'Request Response Information', type: 'flag', places: CONNECT }],
  [0x1a, { name: 'Response Information', type: 'string', places: 0 }],
  [0x1c, { name: 'Server Reference', type: 'string', places: DISCONNECT }],
  [0x1f, { name: 'Reason String', type: 'string', places: ACK | DISCONNECT | AUTH }],
  [0x21, { name: 'Receive Maximum', type: 'u16-nonzero', places: CONNECT }],
  [0x22, { name: 'Topic Alias Maximum', type: 'u16', places: CONNECT }],
  [0x23, { name: 'Topic Alias', type: 'u16', places: PUBLISH }],
  [0x24, { name: 'Maximum QoS', type: 'flag', places: 0 }],
  [0x25, { name: 'Retain Available', type: 'flag', places: 0 }],
  [0x26, { name: 'User Property', type: 'pair', places: EVERY }],
  [0x27, { name: 'Maximum Packet Size', type: 'u32-nonzero', places: CONNECT }],
  [0x28, { name: 'Wildcard Subscription Available', type: 'flag', places: 0 }],
  [0x29, { name: 'Subscription Identifier Available', type: 'flag', places: 0 }],
  [0x2a, { name: 'Shared Subscription Available', type: 'flag', places: 0 }],
]);

const USER_PROPERTY = 0x26;

const PLACE_NAMES = new Map<number, string>([
  [CONNECT, 'CONNECT'],
  [WILL, 'Will Properties'],
  [PUBLISH, 'PUBLISH'],
  [ACK, 'acknowledgement'],
  [SUBSCRIBE, 'SUBSCRIBE'],
  [UNSUBSCRIBE, 'UNSUBSCRIBE'],
  [DISCONNECT, 'DISCONNECT'],
  [AUTH, 'AUTH'],
]);

function malformed(reason: string): FramingError {
  return { reasonCode: ReasonCode.MalformedPacket, reason };
}

function protocolError(reason: string): FramingError {
  return { reasonCode: ReasonCode.ProtocolError, reason };
}

/** A Variable Byte Integer at `pos`: [value, position after it], or undefined when cut off or longer than 4 bytes. */
function readVarint(data: Buffer, pos: number, end: number): [number, number] | undefined {
  let value = 0;
  let multiplier = 1;
  for (let n = 0; n < 4 && pos < end; n++) {
    const byte = data[pos++];
    value += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return [value, pos];
    multiplier *= 128;
  }
  return undefined;
}

/**
 * A string mqtt-packet decoded that holds U+0000, or U+FFFD (what it makes of bytes that are
 * not UTF-8): the packet is malformed [MQTT-1.5.4-1, MQTT-1.5.4-2].
 */
export function hasIllFormedText(s: string): boolean {
  return s.includes('\u0000') || s.includes('\ufffd');
}

/** The end of the UTF-8 string at `pos`, or a fault. */
function skipString(data: Buffer, pos: number, end: number, what: string): number | FramingError {
  if (pos + 2 > end) return malformed(`${what} runs past its property block`);
  const stop = pos + 2 + ((data[pos] << 8) | data[pos + 1]);
  if (stop > end) return malformed(`${what} runs past its property block`);
  const bytes = data.subarray(pos + 2, stop);
  // [MQTT-1.5.4-1, MQTT-1.5.4-2]
  if (!isUtf8(bytes) || bytes.includes(0)) return malformed(`${what} is not valid UTF-8 or contains U+0000`);
  return stop;
}

/**
 * Checks one property block starting at `pos` (its length first) that belongs to `place`.
 * Returns the position after the block, or what is wrong.
 */
function checkBlock(data: Buffer, pos: number, end: number, place: number): number | FramingError {
  const length = readVarint(data, pos, end);
  if (length === undefined) return malformed('property length cut off');
  const start = length[1];
  const blockEnd = start + length[0];
  if (blockEnd > end) return malformed('property length runs past the packet');
  // Ids 0x01–0x2a: one bit each over two words.
  let seenLow = 0;
  let seenHigh = 0;
  let p = start;
  while (p < blockEnd) {
    const id = data[p++];
    const rule = RULES.get(id);
    if (rule === undefined) return malformed(`unknown property 0x${id.toString(16)}`);
    if ((rule.places & place) === 0) return protocolError(`${rule.name} is not allowed in ${PLACE_NAMES.get(place)}`);
    if (id !== USER_PROPERTY) {
      const bit = 1 << (id & 31);
      const seen = id < 32 ? seenLow : seenHigh;
      if ((seen & bit) !== 0) return protocolError(`${rule.name} given more than once`);
      if (id < 32) seenLow |= bit;
      else seenHigh |= bit;
    }
    const left = blockEnd - p;
    switch (rule.type) {
      case 'flag':
      case 'byte':
        if (left < 1) return malformed(`${rule.name} runs past its property block`);
        if (rule.type === 'flag' && data[p] > 1) return protocolError(`${rule.name} of ${data[p]} (only 0 and 1 are defined)`);
        p += 1;
        break;
      case 'u16':
      case 'u16-nonzero':
        if (left < 2) return malformed(`${rule.name} runs past its property block`);
        if (rule.type === 'u16-nonzero' && data[p] === 0 && data[p + 1] === 0) return protocolError(`${rule.name} of 0`);
        p += 2;
        break;
      case 'u32':
      case 'u32-nonzero':
        if (left < 4) return malformed(`${rule.name} runs past its property block`);
        if (rule.type === 'u32-nonzero' && data.readUInt32BE(p) === 0) return protocolError(`${rule.name} of 0`);
        p += 4;
        break;
      case 'varint': {
        const v = readVarint(data, p, blockEnd);
        if (v === undefined) return malformed(`${rule.name} runs past its property block`);
        if (v[0] === 0) return protocolError(`${rule.name} of 0`);
        p = v[1];
        break;
      }
      case 'binary': {
        if (left < 2) return malformed(`${rule.name} runs past its property block`);
        p += 2 + ((data[p] << 8) | data[p + 1]);
        if (p > blockEnd) return malformed(`${rule.name} runs past its property block`);
        break;
      }
      case 'string':
      case 'pair': {
        let next = skipString(data, p, blockEnd, rule.name);
        if (typeof next !== 'number') return next;
        if (rule.type === 'pair') {
          next = skipString(data, next, blockEnd, rule.name);
          if (typeof next !== 'number') return next;
        }
        p = next;
        break;
      }
    }
  }
  return blockEnd;
}

/**
 * Checks every property block of one MQTT 5 packet from a client, given as its whole bytes
 * (fixed header included) after mqtt-packet has parsed it. Returns what is wrong, if anything.
 */
export function checkClientProperties(data: Buffer): FramingError | undefined {
  const end = data.length;
  const header = readVarint(data, 1, end);
  if (header === undefined) return malformed('remaining length cut off');
  const body = header[1];
  const remaining = end - body;
  const first = data[0];
  let result: number | FramingError | undefined;
  switch (first >> 4) {
    case 1: {
      // Protocol Name, Level, Flags, Keep Alive, then the CONNECT properties.
      let pos = body + 2 + ((data[body] << 8) | data[body + 1]);
      const flags = data[pos + 1];
      result = checkBlock(data, pos + 4, end, CONNECT);
      if (typeof result !== 'number' || (flags & 0x04) === 0) break;
      pos = result + 2 + ((data[result] << 8) | data[result + 1]); // past the Client Identifier
      result = checkBlock(data, pos, end, WILL);
      break;
    }
    case 3: {
      const qos = (first >> 1) & 3;
      result = checkBlock(data, body + 2 + ((data[body] << 8) | data[body + 1]) + (qos > 0 ? 2 : 0), end, PUBLISH);
      break;
    }
    case 4:
    case 5:
    case 6:
    case 7:
      if (remaining > 3) result = checkBlock(data, body + 3, end, ACK);
      break;
    case 8:
      result = checkBlock(data, body + 2, end, SUBSCRIBE);
      break;
    case 10:
      result = checkBlock(data, body + 2, end, UNSUBSCRIBE);
      break;
    case 14:
      if (remaining > 1) result = checkBlock(data, body + 1, end, DISCONNECT);
      break;
    case 15:
      if (remaining > 1) result = checkBlock(data, body + 1, end, AUTH);
      break;
  }
  return typeof result === 'object' ? result : undefined;
}

import type { Message, QoS } from '../broker/Message';
import type { StoredMessageProperties } from '../persistence/StoreSnapshot';

/**
 * Encodes outgoing PUBLISH packets by hand: this is the hot path. Only the header is
 * encoded (fixed header, topic, packet id, v5 properties); the payload is written after it
 * as it is, the same buffer for every subscriber. The common forms (no subscription id, no
 * expiry to count down) are encoded once per fan-out and kept for the message being fanned
 * out, keyed by protocol family, retain flag and QoS 0 or not: a QoS 1/2 header is a copy of
 * a few bytes with the flags and packet id patched in. The message itself carries no cache,
 * so a retained message keeps no encodings for the rest of its life.
 */

const PUBLISH = 0x30;

/** Cache slots: [v3/v4 | v5] × [retain 0 | 1] × [QoS 0 form | QoS 1/2 form]. */
function slot(v5: boolean, retain: boolean, withId: boolean): number {
  return (v5 ? 2 : 0) + (retain ? 1 : 0) + (withId ? 4 : 0);
}

/** The headers of the message being fanned out; replaced when the next message is encoded. */
const fanOut = {
  message: undefined as Message | undefined,
  headers: new Array<Buffer | undefined>(8),
  /** Where the packet id sits in the QoS 1/2 headers, per protocol family. */
  packetIdOffset: [0, 0],
};

/**
 * The header of a PUBLISH of `message`; the packet on the wire is this header followed by
 * `message.payload`. A QoS 0 header may be shared with other subscribers: do not modify it.
 */
export function publishHeader(
  message: Message,
  v5: boolean,
  qos: QoS,
  retain: boolean,
  packetId: number,
  dup: boolean,
  subscriptionId: number | undefined,
  now: number,
): Buffer {
  const cacheable = subscriptionId === undefined && (!v5 || message.expiresAt === undefined);
  if (!cacheable) return encodeHeader(message, v5, qos, retain, packetId, dup, subscriptionId, now).header;
  if (fanOut.message !== message) {
    fanOut.message = message;
    fanOut.headers.fill(undefined);
  }
  const withId = qos > 0;
  const key = slot(v5, retain, withId);
  let template = fanOut.headers[key];
  if (template === undefined) {
    const encoded = encodeHeader(message, v5, withId ? 1 : 0, retain, 0, false, undefined, now);
    template = encoded.header;
    fanOut.headers[key] = template;
    if (withId) fanOut.packetIdOffset[v5 ? 1 : 0] = encoded.packetIdOffset;
  }
  if (!withId) return template;
  const out = Buffer.allocUnsafe(template.length);
  template.copy(out);
  out[0] = PUBLISH | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 1 : 0);
  out.writeUInt16BE(packetId, fanOut.packetIdOffset[v5 ? 1 : 0]);
  return out;
}

function encodeHeader(
  message: Message,
  v5: boolean,
  qos: QoS,
  retain: boolean,
  packetId: number,
  dup: boolean,
  subscriptionId: number | undefined,
  now: number,
): { header: Buffer; packetIdOffset: number } {
  const topicLength = Buffer.byteLength(message.topic);
  let properties: Buffer | undefined;
  if (v5) properties = encodeProperties(message.properties, message.expiresAt, subscriptionId, now);
  const propertiesLength = properties ? properties.length : 0;
  const beforePayload = 2 + topicLength + (qos > 0 ? 2 : 0) + (v5 ? varIntSize(propertiesLength) + propertiesLength : 0);
  const remaining = beforePayload + message.payload.length;
  const header = Buffer.allocUnsafe(1 + varIntSize(remaining) + beforePayload);
  header[0] = PUBLISH | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 1 : 0);
  let pos = writeVarInt(header, 1, remaining);
  header.writeUInt16BE(topicLength, pos);
  pos += 2;
  pos += header.write(message.topic, pos, 'utf8');
  const packetIdOffset = pos;
  if (qos > 0) {
    header.writeUInt16BE(packetId, pos);
    pos += 2;
  }
  if (v5) {
    pos = writeVarInt(header, pos, propertiesLength);
    if (properties) properties.copy(header, pos);
  }
  return { header, packetIdOffset };
}

/** MQTT 5 PUBLISH properties forwarded to a receiver (§3.3.2.3). */
function encodeProperties(
  p: StoredMessageProperties | undefined,
  expiresAt: number | undefined,
  subscriptionId: number | undefined,
  now: number,
): Buffer | undefined {
  const parts: Buffer[] = [];
  if (p?.payloadFormatIndicator !== undefined) parts.push(Buffer.from([0x01, p.payloadFormatIndicator ? 1 : 0]));
  if (expiresAt !== undefined) {
    // The receiver gets what is left of the interval [MQTT-3.3.2-6].
    const b = Buffer.allocUnsafe(5);
    b[0] = 0x02;
    b.writeUInt32BE(Math.max(0, Math.ceil((expiresAt - now) / 1000)), 1);
    parts.push(b);
  }
  if (p?.contentType !== undefined) parts.push(stringProperty(0x03, p.contentType));
  if (p?.responseTopic !== undefined) parts.push(stringProperty(0x08, p.responseTopic));
  if (p?.correlationData !== undefined) parts.push(binaryProperty(0x09, p.correlationData));
  if (subscriptionId !== undefined) {
    const b = Buffer.allocUnsafe(1 + varIntSize(subscriptionId));
    b[0] = 0x0b;
    writeVarInt(b, 1, subscriptionId);
    parts.push(b);
  }
  if (p?.userProperties) {
    for (const { key, value } of p.userProperties) {
      parts.push(stringProperty(0x26, key), stringProperty(-1, value));
    }
  }
  return parts.length === 0 ? undefined : Buffer.concat(parts);
}

function stringProperty(id: number, value: string): Buffer {
  return binaryProperty(id, Buffer.from(value, 'utf8'));
}

/** `id` -1 writes only the length-prefixed value (second half of a user property). */
function binaryProperty(id: number, value: Buffer): Buffer {
  const head = id >= 0 ? 1 : 0;
  const b = Buffer.allocUnsafe(head + 2 + value.length);
  if (head) b[0] = id;
  b.writeUInt16BE(value.length, head);
  value.copy(b, head + 2);
  return b;
}

export function varIntSize(n: number): number {
  return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4;
}

export function writeVarInt(buf: Buffer, pos: number, n: number): number {
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    buf[pos++] = byte;
  } while (n > 0);
  return pos;
}

import * as mqtt from 'mqtt-packet';
import { keptPayload, type FramingError } from './PacketReader';
import { checkClientProperties } from './propertyRules';
import { ReasonCode } from './reasonCodes';

/** Where a parsed control packet (or the reason it could not be parsed) goes. */
export interface ControlPacketSink {
  onPacket(packet: mqtt.Packet): void;
  /** mqtt-packet refused the packet. */
  onParseError(error: Error): void;
  /** mqtt-packet took the packet, but its bytes break a rule it does not check. */
  onFramingError(error: FramingError): void;
}

interface ParserInternals {
  settings: { protocolVersion: number };
  _pos: number;
  _resetState(): void;
}

// mqtt-packet pre-builds 65,536 packet-id Buffers (about 6 MB of heap) on its first
// generate() unless told not to; mqttd writes its hot packets itself and can do without.
(mqtt.writeToStream as unknown as { cacheNumbers: boolean }).cacheNumbers = false;

/**
 * One mqtt-packet parser shared by every connection. PacketReader hands it exactly one
 * whole packet at a time, so no state is left between calls, and an idle connection does
 * not carry a parser of its own (a stream, a buffer list and two packet objects, about 1 KB).
 */
const parser = mqtt.parser();
const internals = parser as unknown as ParserInternals;
let parsed: mqtt.Packet | undefined;
/** How far mqtt-packet read into the packet's body when it emitted it. */
let bodyRead = 0;
let failure: Error | undefined;

parser.on('packet', (packet: mqtt.Packet) => {
  parsed = packet;
  bodyRead = internals._pos;
});
parser.on('error', (error: Error) => {
  failure = error;
});

/** Drops what the listeners above kept of the last packet. */
function forget(): void {
  parsed = undefined;
  failure = undefined;
}

/**
 * A parsed PUBLISH's payload and correlation data are views of the bytes parsed: a message
 * that kept them would pin the whole packet (a 10-byte payload, a 30 KB user property) or
 * the socket's read chunk. Keep a copy of just those, or the view when it is most of a
 * buffer of the packet's own.
 */
function detachPublish(packet: mqtt.IPublishPacket, bytes: Buffer, owned: boolean): void {
  const payload = packet.payload as Buffer;
  if (payload.length > 0 && payload.buffer === bytes.buffer) {
    const start = payload.byteOffset - bytes.byteOffset;
    packet.payload = keptPayload(bytes, start, start + payload.length, owned);
  }
  const correlation = packet.properties?.correlationData;
  if (correlation !== undefined) packet.properties!.correlationData = Buffer.from(correlation);
}

/** A will is kept for the whole connection: it must not pin the read chunk its CONNECT came in. */
function detachWill(packet: mqtt.IConnectPacket): void {
  const will = packet.will;
  if (will === undefined) return;
  if (Buffer.isBuffer(will.payload)) will.payload = Buffer.from(will.payload);
  const correlation = will.properties?.correlationData;
  if (correlation !== undefined) will.properties!.correlationData = Buffer.from(correlation);
}

/**
 * Parses one complete packet (fixed header included) for a connection of this protocol level.
 * `owned`: the bytes are a buffer of this packet alone, whose views a message may keep.
 */
export function parseControlPacket(bytes: Buffer, protocolVersion: number, sink: ControlPacketSink, owned = false): void {
  forget();
  internals.settings = { protocolVersion };
  // _resetState() leaves the read offset where a failed packet stopped; the next packet's
  // Remaining Length would be read from there, breaking every later connection.
  internals._pos = 0;
  const left = parser.parse(bytes);
  const packet = parsed;
  const error = failure;
  forget();
  if (error !== undefined) return sink.onParseError(error);
  if (packet === undefined || left !== 0) {
    // The packet's own fields claimed more (or fewer) bytes than its Remaining Length.
    internals._resetState();
    return sink.onParseError(new Error(packet === undefined ? 'packet shorter than its fields' : 'bytes left over after the packet'));
  }
  // mqtt-packet skips bytes its fields did not claim (a username whose flag is 0, a v3
  // PUBACK with a reason code); they make the packet malformed [MQTT-3.1.4-1]. A PUBLISH's
  // payload is the rest of the packet, so it never leaves any.
  if (packet.cmd !== 'publish' && bodyRead !== (packet as { length: number }).length) {
    return sink.onFramingError({ reasonCode: ReasonCode.MalformedPacket, reason: `${packet.cmd} with bytes after its last field` });
  }
  const v5 = packet.cmd === 'connect' ? packet.protocolVersion === 5 : protocolVersion === 5;
  if (v5) {
    const fault = checkClientProperties(bytes);
    if (fault !== undefined) return sink.onFramingError(fault);
  }
  if (packet.cmd === 'publish') detachPublish(packet, bytes, owned);
  else if (packet.cmd === 'connect') detachWill(packet);
  sink.onPacket(packet);
}

import * as mqtt from 'mqtt-packet';

/** Where a parsed control packet (or the reason it could not be parsed) goes. */
export interface ControlPacketSink {
  onPacket(packet: mqtt.Packet): void;
  onParseError(error: Error): void;
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
let current: ControlPacketSink | undefined;
let answered = false;

parser.on('packet', (packet: mqtt.Packet) => {
  answered = true;
  current!.onPacket(packet);
});
parser.on('error', (error: Error) => {
  answered = true;
  current!.onParseError(error);
});

/** Parses one complete packet (fixed header included) for a connection of this protocol level. */
export function parseControlPacket(bytes: Buffer, protocolVersion: number, sink: ControlPacketSink): void {
  current = sink;
  answered = false;
  internals.settings = { protocolVersion };
  // _resetState() leaves the read offset where a failed packet stopped; the next packet's
  // Remaining Length would be read from there, breaking every later connection.
  internals._pos = 0;
  const left = parser.parse(bytes);
  if (!answered || left !== 0) {
    // The packet's own fields claimed more (or fewer) bytes than its Remaining Length.
    internals._resetState();
    if (!answered) sink.onParseError(new Error('packet shorter than its fields'));
    else sink.onParseError(new Error('bytes left over after the packet'));
  }
  current = undefined;
}

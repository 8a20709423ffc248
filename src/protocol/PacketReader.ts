import { isUtf8 } from 'node:buffer';
import type * as mqtt from 'mqtt-packet';

/** What the reader found wrong, as an MQTT 5 reason code and a sentence for the log. */
export interface FramingError {
  reasonCode: number;
  reason: string;
}

/** Receives whole packets: PUBLISH and PUBACK decoded here, the rest as raw bytes. */
export interface PacketSink {
  onPublish(packet: mqtt.IPublishPacket): void;
  onPuback(packetId: number): void;
  /** Any other packet, exactly its bytes, for mqtt-packet's parser. */
  onOtherPacket(bytes: Buffer): void;
  onFramingError(error: FramingError): void;
}

const MALFORMED = 0x81;
const PROTOCOL_ERROR = 0x82;
const TOO_LARGE = 0x95;

/**
 * Cuts the byte stream into packets. The hot packets (PUBLISH without v5 properties,
 * PUBACK) are decoded in place without intermediate buffers; everything else goes to
 * mqtt-packet's parser one whole packet at a time. A packet announcing more than
 * `maxPacketSize` bytes is refused from its header, before its body is buffered.
 */
export class PacketReader {
  /** Bytes of an incomplete packet, kept until the rest arrives. */
  private pending: Buffer[] = [];
  private pendingLength = 0;
  /** Total length of the incomplete packet, once its header has been read (0: unknown). */
  private needed = 0;
  private failed = false;
  /** Until the first packet's type byte has been seen. */
  private first = true;
  protocolVersion = 4;

  constructor(
    private readonly sink: PacketSink,
    private readonly maxPacketSize: () => number,
  ) {}

  push(chunk: Buffer): void {
    if (this.failed) return;
    let data = chunk;
    if (this.pendingLength > 0) {
      this.pending.push(chunk);
      this.pendingLength += chunk.length;
      // Wait for the whole packet before joining pieces: a large payload arriving in many
      // chunks is copied once, not once per chunk.
      if (this.needed > 0 && this.pendingLength < this.needed) return;
      data = Buffer.concat(this.pending, this.pendingLength);
      this.pending = [];
      this.pendingLength = 0;
    }
    this.needed = 0;
    const end = data.length;
    let pos = 0;
    if (this.first && end > 0) {
      // The first packet must be CONNECT [MQTT-3.1.0-1]: refuse anything else (an HTTP
      // probe, a port scan) from its first byte instead of waiting for a body until the
      // CONNECT timeout, as mosquitto does.
      if (data[0] !== 0x10) return this.fail(PROTOCOL_ERROR, 'first packet is not CONNECT');
      this.first = false;
    }
    while (pos < end && !this.failed) {
      // Fixed header: type/flags byte, then 1–4 bytes of Remaining Length (§2.2.3).
      let remaining = 0;
      let multiplier = 1;
      let i = pos + 1;
      let complete = false;
      for (let n = 0; n < 4 && i < end; n++) {
        const byte = data[i++];
        remaining += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
        if (n === 3) return this.fail(MALFORMED, 'remaining length longer than 4 bytes');
      }
      if (!complete) break;
      const total = i - pos + remaining;
      const limit = this.maxPacketSize();
      if (limit > 0 && total > limit) return this.fail(TOO_LARGE, `packet of ${total} bytes exceeds max_packet_size`);
      if (pos + total > end) {
        this.needed = total;
        break;
      }
      this.dispatch(data, pos, i, pos + total);
      pos += total;
    }
    if (pos < end && !this.failed) {
      this.pending.push(pos === 0 ? data : data.subarray(pos));
      this.pendingLength = end - pos;
    }
  }

  private dispatch(data: Buffer, start: number, body: number, end: number): void {
    const first = data[start];
    const type = first >> 4;
    if (type === 3) {
      if (this.decodePublish(data, first, body, end)) return;
      // A v5 PUBLISH with properties goes to mqtt-packet, whose payload is a view of what it is
      // given: give it a copy of this one packet, so a stored message never pins the read buffer.
      this.sink.onOtherPacket(Buffer.from(data.subarray(start, end)));
      return;
    } else if (type === 4 && first === 0x40 && end - body === 2) {
      // A bare PUBACK; one with a reason code or properties is checked by the parser.
      this.sink.onPuback((data[body] << 8) | data[body + 1]);
      return;
    }
    this.sink.onOtherPacket(data.subarray(start, end));
  }

  /** Decodes a PUBLISH in place; false hands it to mqtt-packet (v5 with properties). */
  private decodePublish(data: Buffer, first: number, body: number, end: number): boolean {
    const qos = (first >> 1) & 3;
    if (qos === 3) {
      this.fail(MALFORMED, 'PUBLISH with QoS 3');
      return true;
    }
    if (end - body < 2) {
      this.fail(MALFORMED, 'PUBLISH too short');
      return true;
    }
    const topicLength = (data[body] << 8) | data[body + 1];
    let pos = body + 2 + topicLength;
    if (qos > 0) pos += 2;
    if (pos > end) {
      this.fail(MALFORMED, 'PUBLISH shorter than its topic');
      return true;
    }
    if (this.protocolVersion === 5) {
      if (pos >= end) {
        this.fail(MALFORMED, 'PUBLISH without properties length');
        return true;
      }
      if (data[pos] !== 0) return false;
      pos++;
    }
    const topicBytes = data.subarray(body + 2, body + 2 + topicLength);
    // Invalid UTF-8 in a topic closes the connection [MQTT-1.5.3-1].
    if (!isUtf8(topicBytes)) {
      this.fail(MALFORMED, 'topic is not valid UTF-8');
      return true;
    }
    const packetId = qos > 0 ? (data[body + 2 + topicLength] << 8) | data[body + 3 + topicLength] : undefined;
    if (qos > 0 && packetId === 0) {
      this.fail(PROTOCOL_ERROR, 'PUBLISH with packet id 0');
      return true;
    }
    // A copy, so a stored message never pins the socket's whole read buffer.
    const payload = Buffer.allocUnsafe(end - pos);
    data.copy(payload, 0, pos, end);
    this.sink.onPublish({
      cmd: 'publish',
      topic: topicBytes.toString('utf8'),
      payload,
      qos: qos as 0 | 1 | 2,
      retain: (first & 1) === 1,
      dup: (first & 8) === 8,
      messageId: packetId,
    });
    return true;
  }

  private fail(reasonCode: number, reason: string): void {
    this.failed = true;
    this.pending = [];
    this.pendingLength = 0;
    this.sink.onFramingError({ reasonCode, reason });
  }
}

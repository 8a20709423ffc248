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
  /**
   * Any other packet, exactly its bytes, for mqtt-packet's parser. `owned`: the bytes are a
   * buffer of this packet alone (not the socket's read chunk), so a view of them may be kept.
   */
  onOtherPacket(bytes: Buffer, owned: boolean): void;
  onFramingError(error: FramingError): void;
  /**
   * A PUBLISH's payload size is known from its first bytes, before its payload is read:
   * 0 reads it, a reason code (≥ 0x80) skips the rest of the packet unbuffered.
   */
  admitPublish(payloadLength: number): number;
  /** A PUBLISH that admitPublish refused; its bytes were skipped. */
  onRefusedPublish(qos: 0 | 1 | 2, packetId: number, reasonCode: number): void;
}

/** Where the reader reports the bytes it holds for incomplete packets, and asks for room (memory_limit). */
export interface BufferAccount {
  bufferedBytes: number;
  admits(bytes: number): boolean;
}

const MALFORMED = 0x81;
const PROTOCOL_ERROR = 0x82;
const TOO_LARGE = 0x95;
const QUOTA_EXCEEDED = 0x97;

const enum Head {
  Complete,
  /** More bytes are needed to read the PUBLISH's topic, packet id and properties length. */
  Incomplete,
  Failed,
}

/**
 * Cuts the byte stream into packets. The hot packets (PUBLISH without v5 properties,
 * PUBACK) are decoded in place without intermediate buffers; everything else goes to
 * mqtt-packet's parser one whole packet at a time.
 *
 * Memory: a packet announcing more than `maxPacketSize` is refused from its fixed header; a
 * PUBLISH is offered to `admitPublish` as soon as its topic and properties length are in, and
 * a refused one is skipped without being buffered. A packet that spans reads is copied once
 * into a buffer of its exact size, and its payload is a view of that buffer: a big packet is
 * held once, not as chunks, a concatenation and a payload copy.
 */
export class PacketReader {
  /** Bytes of a packet whose fixed header or PUBLISH head is incomplete (a few KB at most). */
  private pending: Buffer[] = [];
  private pendingLength = 0;
  /** Bytes `pending` must reach before the packet is looked at again (0: any). */
  private needed = 0;
  /** A packet that spans reads, filled as its bytes arrive. */
  private assembly: Buffer | undefined;
  private assembled = 0;
  /** Offset of the assembled packet's body (after its fixed header). */
  private assemblyBody = 0;
  /** Bytes of a refused PUBLISH still to skip. */
  private skipping = 0;
  /** Where the payload of the PUBLISH last looked at by readHead starts, and its packet id. */
  private payloadStart = 0;
  private packetId = 0;
  private failed = false;
  /** The sink asked to stop after the packet it was handed (its turn is spent); resume() reads on. */
  private paused = false;
  /** While paused: the rest of the read that was stopped, then every read since, in order. */
  private held: Buffer[] = [];
  private heldLength = 0;
  /** Until the first packet's type byte has been seen. */
  private first = true;
  protocolVersion = 4;

  constructor(
    private readonly sink: PacketSink,
    private readonly maxPacketSize: () => number,
    private readonly account: BufferAccount = { bufferedBytes: 0, admits: () => true },
  ) {}

  /** Bytes held for incomplete packets. */
  get bufferedBytes(): number {
    return (this.assembly?.length ?? 0) + this.pendingLength + this.heldLength;
  }

  push(chunk: Buffer): void {
    if (this.failed) return;
    if (this.paused) {
      // Kept as it came, after what the pause left: resume() reads them in order.
      this.hold(chunk, false);
      return;
    }
    let data = chunk;
    let pos = 0;
    if (this.skipping > 0) {
      pos = Math.min(this.skipping, data.length);
      this.skipping -= pos;
      if (pos === data.length) return;
    } else if (this.assembly !== undefined) {
      const assembly = this.assembly;
      pos = Math.min(assembly.length - this.assembled, data.length);
      data.copy(assembly, this.assembled, 0, pos);
      this.assembled += pos;
      if (this.assembled < assembly.length) return;
      this.assembly = undefined;
      this.account.bufferedBytes -= assembly.length;
      this.dispatch(assembly, 0, this.assemblyBody, assembly.length, true);
      if (pos === data.length || this.failed) return;
    } else if (this.pendingLength > 0) {
      this.pending.push(chunk);
      this.pendingLength += chunk.length;
      this.account.bufferedBytes += chunk.length;
      // Wait for the bytes the header needs before joining pieces.
      if (this.pendingLength < this.needed) return;
      data = Buffer.concat(this.pending, this.pendingLength);
      this.account.bufferedBytes -= this.pendingLength;
      this.pending = [];
      this.pendingLength = 0;
    }
    this.needed = 0;
    if (this.first && data.length > pos) {
      // The first packet must be CONNECT [MQTT-3.1.0-1]: refuse anything else (an HTTP
      // probe, a port scan) from its first byte instead of waiting for a body until the
      // CONNECT timeout, as mosquitto does.
      if (data[pos] !== 0x10) return this.fail(PROTOCOL_ERROR, 'first packet is not CONNECT');
      this.first = false;
    }
    this.frame(data, pos);
  }

  /**
   * Stops after the packet being handed to the sink: the rest of the read, and what push()
   * gets meanwhile, waits (counted as buffered) until resume().
   */
  pause(): void {
    this.paused = true;
  }

  /**
   * Reads on from where pause() stopped: the held reads go through push() one by one, so a
   * packet that was being assembled or skipped when the pause came goes on as it would have.
   */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    while (!this.paused && !this.failed && this.held.length > 0) {
      const chunk = this.held.shift()!;
      this.heldLength -= chunk.length;
      this.account.bufferedBytes -= chunk.length;
      this.push(chunk);
    }
  }

  private hold(chunk: Buffer, first: boolean): void {
    if (first) this.held.unshift(chunk);
    else this.held.push(chunk);
    this.heldLength += chunk.length;
    this.account.bufferedBytes += chunk.length;
  }

  /** Lets go of what is buffered (the connection closed). */
  discard(): void {
    this.failed = true;
    this.release();
  }

  private frame(data: Buffer, from: number): void {
    const end = data.length;
    let pos = from;
    while (pos < end && !this.failed && !this.paused) {
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
      const packetEnd = pos + total;
      const available = packetEnd < end ? packetEnd : end;
      if (data[pos] >> 4 === 3) {
        const head = this.readHead(data, pos, i, available, packetEnd);
        if (head === Head.Failed) return;
        if (head === Head.Incomplete) break;
        const code = this.sink.admitPublish(packetEnd - this.payloadStart);
        if (code !== 0) {
          this.sink.onRefusedPublish(((data[pos] >> 1) & 3) as 0 | 1 | 2, this.packetId, code);
          if (packetEnd > end) {
            this.skipping = packetEnd - end;
            return;
          }
          pos = packetEnd;
          continue;
        }
      }
      if (packetEnd > end) {
        // The packet spans reads: one buffer of its size, filled as the rest arrives, if the
        // broker has room for it (64 slow CONNECTs of 1 MiB must not add up unbounded).
        if (!this.account.admits(total)) return this.fail(QUOTA_EXCEEDED, `no room for a packet of ${total} bytes (memory_limit)`);
        const assembly = Buffer.allocUnsafe(total);
        data.copy(assembly, 0, pos, end);
        this.assembly = assembly;
        this.assembled = end - pos;
        this.assemblyBody = i - pos;
        this.payloadStart -= pos;
        this.account.bufferedBytes += total;
        return;
      }
      this.dispatch(data, pos, i, packetEnd, false);
      pos = packetEnd;
    }
    if (pos < end && !this.failed && this.paused) {
      // Stopped at a packet boundary: the rest goes first when the reader resumes.
      this.hold(pos === 0 ? data : data.subarray(pos), true);
    } else if (pos < end && !this.failed) {
      this.pending.push(pos === 0 ? data : data.subarray(pos));
      this.pendingLength = end - pos;
      this.account.bufferedBytes += this.pendingLength;
    }
  }

  /**
   * Reads a PUBLISH's topic length, packet id and (v5) properties length, to learn where its
   * payload starts (`payloadStart`) before the payload has arrived. At most 65,543 bytes of
   * the packet are needed for that, whatever its size.
   */
  private readHead(data: Buffer, start: number, body: number, available: number, packetEnd: number): Head {
    const qos = (data[start] >> 1) & 3;
    if (qos === 3) return this.headFailure(MALFORMED, 'PUBLISH with QoS 3');
    if (packetEnd - body < 2) return this.headFailure(MALFORMED, 'PUBLISH too short');
    if (available - body < 2) return this.headIncomplete(start, body + 2, packetEnd);
    const topicLength = (data[body] << 8) | data[body + 1];
    let pos = body + 2 + topicLength;
    if (qos > 0) pos += 2;
    if (pos > packetEnd) return this.headFailure(MALFORMED, 'PUBLISH shorter than its topic');
    if (this.protocolVersion === 5) {
      if (pos >= packetEnd) return this.headFailure(MALFORMED, 'PUBLISH without properties length');
      // Properties length: a Variable Byte Integer of up to 4 bytes (§1.5.5).
      let length = 0;
      let multiplier = 1;
      for (let n = 0; ; n++) {
        if (n === 4 || pos >= packetEnd) return this.headFailure(MALFORMED, 'malformed properties length');
        if (pos >= available) return this.headIncomplete(start, pos + 1, packetEnd);
        const byte = data[pos++];
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) break;
      }
      pos += length;
      if (pos > packetEnd) return this.headFailure(MALFORMED, 'PUBLISH shorter than its properties');
    } else if (available < pos) {
      return this.headIncomplete(start, pos, packetEnd);
    }
    this.packetId = qos > 0 ? (data[body + 2 + topicLength] << 8) | data[body + 3 + topicLength] : 0;
    if (qos > 0 && this.packetId === 0) return this.headFailure(PROTOCOL_ERROR, 'PUBLISH with packet id 0');
    this.payloadStart = pos;
    return Head.Complete;
  }

  private headIncomplete(start: number, upTo: number, packetEnd: number): Head {
    this.needed = (upTo < packetEnd ? upTo : packetEnd) - start;
    return Head.Incomplete;
  }

  private headFailure(reasonCode: number, reason: string): Head {
    this.fail(reasonCode, reason);
    return Head.Failed;
  }

  private dispatch(data: Buffer, start: number, body: number, end: number, owned: boolean): void {
    const first = data[start];
    const type = first >> 4;
    if (type === 3) {
      if (this.decodePublish(data, first, body, end, owned)) return;
      // A v5 PUBLISH with properties goes to mqtt-packet, which copies what it keeps.
      this.sink.onOtherPacket(data.subarray(start, end), owned);
      return;
    } else if (type === 4 && first === 0x40 && end - body === 2) {
      // A bare PUBACK; one with a reason code or properties is checked by the parser.
      this.sink.onPuback((data[body] << 8) | data[body + 1]);
      return;
    }
    this.sink.onOtherPacket(data.subarray(start, end), owned);
  }

  /** Decodes a PUBLISH in place (readHead has read it); false hands it to mqtt-packet (v5 with properties). */
  private decodePublish(data: Buffer, first: number, body: number, end: number, owned: boolean): boolean {
    const qos = (first >> 1) & 3;
    const topicLength = (data[body] << 8) | data[body + 1];
    const payloadStart = body + 2 + topicLength + (qos > 0 ? 2 : 0) + (this.protocolVersion === 5 ? 1 : 0);
    // v5 with properties: the properties length byte is not 0.
    if (payloadStart !== this.payloadStart) return false;
    const topicBytes = data.subarray(body + 2, body + 2 + topicLength);
    // Invalid UTF-8 in a topic closes the connection [MQTT-1.5.3-1].
    if (!isUtf8(topicBytes)) {
      this.fail(MALFORMED, 'topic is not valid UTF-8');
      return true;
    }
    this.sink.onPublish({
      cmd: 'publish',
      topic: topicBytes.toString('utf8'),
      payload: keptPayload(data, payloadStart, end, owned),
      qos: qos as 0 | 1 | 2,
      retain: (first & 1) === 1,
      dup: (first & 8) === 8,
      messageId: qos > 0 ? this.packetId : undefined,
    });
    return true;
  }

  private fail(reasonCode: number, reason: string): void {
    this.failed = true;
    this.release();
    this.sink.onFramingError({ reasonCode, reason });
  }

  private release(): void {
    this.account.bufferedBytes -= this.bufferedBytes;
    this.pending = [];
    this.pendingLength = 0;
    this.held = [];
    this.heldLength = 0;
    this.assembly = undefined;
    this.skipping = 0;
  }
}

/**
 * The payload a stored message may keep: a view of the packet's own buffer when the payload
 * is most of it, else a copy, so a message never pins a socket's read chunk or a packet's
 * large topic or properties.
 */
export function keptPayload(data: Buffer, start: number, end: number, owned: boolean): Buffer {
  if (owned && (end - start) * 2 >= data.length) return data.subarray(start, end);
  const payload = Buffer.allocUnsafe(end - start);
  data.copy(payload, 0, start, end);
  return payload;
}

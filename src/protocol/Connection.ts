import type { Duplex } from 'node:stream';
import * as mqtt from 'mqtt-packet';
import type { Broker, BrokerLimits } from '../broker/Broker';
import type { ClientLink, ProtocolVersion } from '../broker/ClientLink';
import { Message, type QoS } from '../broker/Message';
import type { Session } from '../broker/Session';
import type { Will } from '../broker/Will';
import { escape } from '../log/Logger';
import type { ConnectionRegistry } from './ConnectionRegistry';
import { handleConnect } from './handleConnect';
import { handleDisconnect } from './handleDisconnect';
import { handlePuback, handlePubcomp, handlePubrec } from './handleOutgoingAcks';
import { admitPublish, handlePublish, refusePublish } from './handlePublish';
import { handlePubrel } from './handlePubrel';
import { handleSubscribe } from './handleSubscribe';
import { handleUnsubscribe } from './handleUnsubscribe';
import { parseControlPacket, type ControlPacketSink } from './ControlPacketParser';
import { TURN_MS } from './InputTurns';
import { PacketReader, type FramingError, type PacketSink } from './PacketReader';
import { publishHeader } from './PublishEncoder';
import { ReasonCode } from './reasonCodes';

/** What the transport tells the protocol layer about a new connection. */
export interface ConnectionInfo {
  remoteAddress: string;
  /** The verified client certificate's CN, when the listener uses it as the username. */
  certificateIdentity?: string;
  useIdentityAsUsername: boolean;
  /** mount_point: prefix on every topic this connection uses. */
  mountPoint?: string;
  /** WebSocket: lets the transport take messages up to this many bytes once logged in. */
  raiseMessageLimit?(bytes: number): void;
}

export type ConnectionState = 'awaiting-connect' | 'authenticating' | 'connected' | 'closed';

/** The largest CONNECT accepted (a will payload included) before anyone is authenticated. */
const MAX_CONNECT_BYTES = 1024 * 1024;

/**
 * Chunks of at least this size (payloads, shared by every subscriber of a fan-out) are
 * handed to the socket as they are; smaller ones (headers, acks, small payloads) are joined,
 * since copying a few bytes costs less than one more entry in the writev.
 */
const SHARED_CHUNK_BYTES = 1024;

/**
 * max_packet_size, and before CONNECT at most 1 MiB whatever it says: an unauthenticated
 * client must not make the broker buffer MQTT's 256 MB maximum.
 */
export function firstPacketLimit(limits: BrokerLimits): number {
  const limit = limits.maxPacketSize;
  return limit > 0 && limit < MAX_CONNECT_BYTES ? limit : MAX_CONNECT_BYTES;
}

/** MQTT's largest packet: 256 MB of Remaining Length and a 5-byte fixed header (§2.2.3). */
const MQTT_MAX_PACKET = 268_435_455 + 5;

const PINGRESP = Buffer.from([0xd0, 0x00]);

/**
 * What one client may make the broker do before it waits a turn of the event loop for the
 * others: 256 KB read, and TURN_MS (InputTurns) of time spent on its packets in one read
 * (what they cost varies a hundredfold: a copy to a live QoS 0 subscriber, or to an offline
 * session through the journal). libuv reads
 * a ready socket up to 32 times per turn, 64 KB each, so a fast publisher of big packets, or
 * of packets with many subscribers, would otherwise hold everyone else up for tens of ms.
 * The clock is read once per CLOCK_EVERY_WORK units of Broker.work (packets read, copies
 * routed, filters subscribed), not per packet.
 */
const TURN_INPUT_BYTES = 256 * 1024;
const CLOCK_EVERY_WORK = 64;
/** v3 CONNACK 0x01: what a client with an unknown protocol level gets [MQTT-3.1.2-2]. */
const CONNACK_BAD_PROTOCOL_LEVEL = Buffer.from([0x20, 0x02, 0x00, 0x01]);

/**
 * One client connection's MQTT state machine: bytes in, packets dispatched to one handler
 * per packet type, packets out. It is the broker's ClientLink for this client.
 */
export class Connection implements ClientLink, PacketSink, ControlPacketSink {
  private version: ProtocolVersion = 4;
  state: ConnectionState = 'awaiting-connect';
  session: Session | null = null;
  clientId = '';
  will: Will | undefined;
  keepalive = 0;
  lastSeen: number;
  /** Bytes read from the client (bytes to it: `transmitted`). */
  bytesReceived = 0;
  readonly openedAt: number;
  /** v5 Topic Alias → topic, client to server (§3.3.2.3.4). */
  topicAliases: Map<number, string> | undefined;
  topicAliasMaximum = 10;
  /** A v3.x bridge (mosquitto's try_private bit): its subscriptions get No Local and Retain As Published. */
  isBridge = false;
  /** v5 Request Problem Information: reason strings may be sent on acknowledgements. */
  problemInformation = true;
  /** The largest packet the client accepts (v5 Maximum Packet Size); 0: no limit. */
  clientMaximumPacketSize = 0;
  /** Packets that arrived while CONNECT was being authenticated. */
  private held: mqtt.Packet[] | undefined;
  private readonly reader: PacketReader;
  /** Chunks written this event-loop turn, handed to the stream together when the turn ends. */
  private outbox: Buffer[] | undefined;
  private outboxBytes = 0;
  /** Bytes handed to the stream since the connection opened. */
  private written = 0;
  /** Whether the stream takes many buffers in one call (TCP and TLS sockets: writev). */
  private readonly gathersWrites: boolean;
  /** The session asked to be told when the stream has taken what it was given. */
  private drainNoticeWanted = false;
  private pauses = 0;
  /** Input since this connection last let the others go first (see TURN_INPUT_BYTES). */
  private turnBytes = 0;
  /** Broker.work at which the clock is read next, within the read being handled. */
  private nextClockCheck = 0;
  /** performance.now() at the read's first clock check; 0: not looked at yet. */
  private readClock = 0;
  private yielding = false;
  /** Its last read cost CLOCK_EVERY_WORK units or more, or used up a turn: see InputTurns. */
  private busy = false;
  private gracefulClose = false;
  private accepted = false;
  private tornDown = false;

  constructor(
    readonly stream: Duplex,
    readonly broker: Broker,
    readonly info: ConnectionInfo,
    readonly registry: ConnectionRegistry,
  ) {
    this.openedAt = this.lastSeen = registry.now;
    this.reader = new PacketReader(this, () => this.packetSizeLimit(), broker.memory);
    // A WebSocket stream has no writev: each write would be a frame of its own.
    this.gathersWrites = typeof (stream as { _writev?: unknown })._writev === 'function';
    // Shared listeners find their connection on the stream: no closures per connection.
    (stream as ConnectedStream)[CONNECTION] = this;
    stream.on('data', onStreamData);
    stream.on('error', onStreamError);
    stream.on('close', onStreamClose);
    stream.on('end', onStreamEnd);
    stream.on('drain', onStreamDrain);
    registry.add(this);
    broker.stats.sockets++;
  }

  private packetSizeLimit(): number {
    return this.state === 'awaiting-connect' ? firstPacketLimit(this.broker.limits) : this.broker.limits.maxPacketSize;
  }

  get protocolVersion(): ProtocolVersion {
    return this.version;
  }

  /** Set from CONNECT, before the packets after it are decoded. */
  set protocolVersion(version: ProtocolVersion) {
    this.version = version;
    this.reader.protocolVersion = version;
  }

  get remoteAddress(): string {
    return this.info.remoteAddress;
  }

  get backlog(): number {
    return this.stream.writableLength + this.outboxBytes;
  }

  get transmitted(): number {
    return this.written - this.stream.writableLength;
  }

  /** The broker paused reading this client (flow control, or CONNECT being decided). */
  get readingPaused(): boolean {
    return this.pauses > 0;
  }

  // ---- Input -----------------------------------------------------------------------

  onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.lastSeen = this.registry.now;
    this.broker.stats.bytesReceived += chunk.length;
    this.bytesReceived += chunk.length;
    this.turnBytes += chunk.length;
    if (this.busy && !this.yielding && !this.registry.turns.mayRead()) {
      // A busy client, and the turn's time is spent: this read waits for the next turn.
      this.reader.pause();
      this.reader.push(chunk);
      this.yieldTurn();
      return;
    }
    const broker = this.broker;
    const workBefore = broker.work;
    this.startRead(workBefore);
    this.reader.push(chunk);
    this.busy = broker.work - workBefore >= CLOCK_EVERY_WORK || this.yielding;
    if (this.turnBytes >= TURN_INPUT_BYTES && !this.yielding) this.yieldTurn();
  }

  /**
   * A read (or the rest of one) begins: a read that costs less than CLOCK_EVERY_WORK (a
   * sensor's PUBLISH) never looks at the clock.
   */
  private startRead(work: number): void {
    this.nextClockCheck = work + CLOCK_EVERY_WORK;
    this.readClock = 0;
  }

  /** After each packet: one whose handling used up the client's share stops the read there. */
  private spent(): void {
    const broker = this.broker;
    if (++broker.work < this.nextClockCheck) return;
    this.nextClockCheck = broker.work + CLOCK_EVERY_WORK;
    const now = performance.now();
    if (this.readClock === 0) this.readClock = now;
    // One read gets at most the time all busy clients share per turn.
    else if (!this.yielding && now - this.readClock >= TURN_MS) this.yieldTurn();
  }

  /** Stops reading this client (the rest of the read waits in the reader) until the next turn. */
  private yieldTurn(): void {
    this.yielding = true;
    this.reader.pause();
    this.pauseReading();
    setImmediate(endInputTurn, this);
  }

  /** The others had their turn: this client is read again, from where it stopped (see resumeReading). */
  endInputTurn(): void {
    if (this.state === 'closed') return;
    if (!this.registry.turns.mayRead()) {
      // Busy clients that stopped earlier took this turn: wait for the next.
      setImmediate(endInputTurn, this);
      return;
    }
    this.yielding = false;
    this.turnBytes = 0;
    this.startRead(this.broker.work);
    this.resumeReading();
  }

  // PacketSink: what the reader hands over.

  onPublish(packet: mqtt.IPublishPacket): void {
    this.onPacket(packet);
    this.spent();
  }

  onPuback(packetId: number): void {
    if (this.state === 'connected') {
      this.broker.stats.messagesReceived++;
      this.broker.acknowledge(this.session!, packetId);
    } else {
      this.onPacket({ cmd: 'puback', messageId: packetId });
    }
    this.spent();
  }

  onOtherPacket(bytes: Buffer, owned: boolean): void {
    parseControlPacket(bytes, this.version, this, owned);
    this.spent();
  }

  admitPublish(payloadLength: number): number {
    if (this.state !== 'connected') return 0;
    return admitPublish(this, payloadLength);
  }

  onRefusedPublish(qos: QoS, packetId: number, reasonCode: number): void {
    if (this.state === 'connected') refusePublish(this, qos, packetId, reasonCode);
  }

  onFramingError(error: FramingError): void {
    this.protocolViolation(error.reasonCode, error.reason);
  }

  onParseError(err: Error): void {
    // mqtt-packet refuses an unknown level while parsing CONNECT; the spec wants a CONNACK first.
    if (this.state === 'awaiting-connect' && err.message === 'Invalid protocol version') {
      this.write(CONNACK_BAD_PROTOCOL_LEVEL);
    }
    this.protocolViolation(ReasonCode.MalformedPacket, err.message);
  }

  onPacket(packet: mqtt.Packet): void {
    if (this.state === 'closed') return;
    // mqtt-packet reads a packet id cut off by a short Remaining Length as -1; answering it
    // would throw inside the encoder and take the whole broker down.
    if ((packet as { messageId?: number }).messageId === -1) {
      this.protocolViolation(ReasonCode.MalformedPacket, `${packet.cmd} without a packet identifier`);
      return;
    }
    this.broker.stats.messagesReceived++;
    if (this.state === 'authenticating') {
      (this.held ??= []).push(packet);
      return;
    }
    if (this.state === 'awaiting-connect') {
      if (packet.cmd !== 'connect') {
        // The first packet must be CONNECT [MQTT-3.1.0-1].
        this.protocolViolation(ReasonCode.ProtocolError, `${packet.cmd} before CONNECT`);
        return;
      }
      this.state = 'authenticating';
      // Stop reading until CONNECT is decided: a client kept waiting by the password
      // throttle must not make the broker buffer whatever it sends meanwhile.
      this.pauseReading();
      handleConnect(this, packet).catch((err: unknown) => {
        this.broker.log.error(`CONNECT from ${this.remoteAddress} failed: ${String(err)}`);
        this.destroy();
      });
      return;
    }
    this.dispatch(packet);
  }

  private dispatch(packet: mqtt.Packet): void {
    switch (packet.cmd) {
      case 'publish':
        handlePublish(this, packet);
        break;
      case 'puback':
        handlePuback(this, packet);
        break;
      case 'pubrec':
        handlePubrec(this, packet);
        break;
      case 'pubrel':
        handlePubrel(this, packet);
        break;
      case 'pubcomp':
        handlePubcomp(this, packet);
        break;
      case 'subscribe':
        handleSubscribe(this, packet);
        break;
      case 'unsubscribe':
        handleUnsubscribe(this, packet);
        break;
      case 'pingreq':
        this.write(PINGRESP);
        break;
      case 'disconnect':
        handleDisconnect(this, packet);
        break;
      case 'connect':
        // A second CONNECT is a protocol violation [MQTT-3.1.0-2].
        this.protocolViolation(ReasonCode.ProtocolError, 'second CONNECT');
        break;
      default:
        this.protocolViolation(ReasonCode.ProtocolError, `unexpected ${packet.cmd} from a client`);
    }
  }

  /** Called by handleConnect when the CONNECT was accepted: process what arrived meanwhile. */
  connected(): void {
    this.state = 'connected';
    this.accepted = true;
    // A WebSocket message may carry one whole packet (and a few more), now up to max_packet_size.
    const limit = this.broker.limits.maxPacketSize;
    this.info.raiseMessageLimit?.(limit > 0 ? limit * 2 : MQTT_MAX_PACKET);
    const held = this.held;
    this.held = undefined;
    if (held) for (const p of held) if (this.state === 'connected') this.dispatchHeld(p);
    this.resumeReading();
  }

  /** A packet read while CONNECT was being decided, before admitPublish could be asked. */
  private dispatchHeld(packet: mqtt.Packet): void {
    if (packet.cmd === 'publish') {
      const code = admitPublish(this, (packet.payload as Buffer).length);
      if (code !== 0) return refusePublish(this, packet.qos, packet.messageId ?? 0, code);
    }
    this.dispatch(packet);
  }

  // ---- Output ----------------------------------------------------------------------

  /**
   * Writes a packet. The packets of one event-loop turn are handed to the stream together
   * when the turn ends: a fan-out to a subscriber costs one writev per turn, not one per message.
   */
  write(packet: Buffer): void {
    if (this.state === 'closed') return;
    this.enqueue(packet);
    const stats = this.broker.stats;
    stats.bytesSent += packet.length;
    stats.messagesSent++;
  }

  private enqueue(chunk: Buffer): void {
    const outbox = this.outbox;
    if (outbox === undefined) {
      this.outbox = [chunk];
      process.nextTick(flush, this);
    } else {
      outbox.push(chunk);
    }
    this.outboxBytes += chunk.length;
  }

  writePacket(packet: mqtt.Packet): void {
    const version = this.protocolVersion;
    let bytes = mqtt.generate(packet, { protocolVersion: version });
    const max = this.clientMaximumPacketSize;
    if (max > 0 && bytes.length > max) {
      // Reason String and User Properties go first [MQTT-3.1.2-25]; a packet still too
      // large is not sent at all (the caller closes or carries on as if it had been).
      const properties = (packet as { properties?: { reasonString?: string; userProperties?: unknown } }).properties;
      if (properties !== undefined) {
        delete properties.reasonString;
        delete properties.userProperties;
        bytes = mqtt.generate(packet, { protocolVersion: version });
      }
      if (bytes.length > max) {
        this.broker.log.notice(`Not sending ${packet.cmd} to ${escape(this.clientId)}: larger than its Maximum Packet Size ${max}.`);
        return;
      }
    }
    this.write(bytes);
  }

  /**
   * Writes the PUBLISH header, then the message's payload itself: the payload is never
   * copied per subscriber, whatever the QoS. False when the packet is larger than the client
   * accepts: the session then discards it as if delivered [MQTT-3.1.2-25].
   */
  sendPublish(message: Message, qos: QoS, retain: boolean, packetId: number, dup: boolean, subscriptionId: number | undefined): boolean {
    if (this.state === 'closed') return true;
    const mountPoint = this.info.mountPoint;
    let m = message;
    if (mountPoint !== undefined) m = stripMountPoint(message, mountPoint);
    const now = m.expiresAt === undefined ? 0 : Date.now();
    const header = publishHeader(m, this.protocolVersion === 5, qos, retain, packetId, dup, subscriptionId, now);
    const payload = m.payload;
    const size = header.length + payload.length;
    const max = this.clientMaximumPacketSize;
    if (max > 0 && size > max) return false;
    this.enqueue(header);
    if (payload.length > 0) this.enqueue(payload);
    const stats = this.broker.stats;
    stats.publishSent++;
    stats.publishBytesSent += payload.length;
    stats.bytesSent += size;
    stats.messagesSent++;
    return true;
  }

  sendPubrel(packetId: number): void {
    this.write(ack(0x62, packetId));
  }

  requestDrainNotice(): void {
    if (this.drainNoticeWanted || this.state === 'closed') return;
    this.drainNoticeWanted = true;
    // With a write still in the outbox, flushNow looks once it has handed it over.
    if (this.outbox === undefined) this.awaitDrain();
  }

  /** 'drain' comes only after the stream went over its high-water mark; below it, there is room now. */
  private awaitDrain(): void {
    if (!this.stream.writableNeedDrain) setImmediate(drained, this);
  }

  /** The stream has taken what it was given: the session may send more. */
  onDrain(): void {
    if (!this.drainNoticeWanted) return;
    this.drainNoticeWanted = false;
    if (this.state === 'connected') this.session?.drain();
  }

  pauseReading(): void {
    if (this.pauses++ === 0) this.stream.pause();
  }

  resumeReading(): void {
    if (this.pauses > 0 && --this.pauses === 0 && this.state !== 'closed') {
      // Keepalive counts silence from here: the client's PINGREQs were not read while paused.
      this.lastSeen = Date.now();
      // What a turn's end left in the reader comes first, and only now: a pause for any
      // other reason (flow control, CONNECT being decided, shutdown saving the store) holds
      // it too, so nothing is read while the broker is not reading.
      this.reader.resume();
      // (The reader may have closed the connection or paused it again.)
      if (this.pauses === 0 && (this.state as ConnectionState) !== 'closed') this.stream.resume();
    }
  }

  // ---- Closing ---------------------------------------------------------------------

  /** Server-initiated close (takeover, shutdown, keepalive, stall): will is published unless told not to. */
  close(reasonCode: number, reason: string, publishWill = true): void {
    if (this.state === 'closed') return;
    this.gracefulClose = !publishWill;
    if (this.protocolVersion === 5 && this.state === 'connected') {
      this.writePacket({ cmd: 'disconnect', reasonCode, properties: { reasonString: reason } } as mqtt.IDisconnectPacket);
    }
    if (this.broker.log.isEnabled('notice')) this.broker.log.notice(`Client ${escape(this.clientId)} disconnected: ${reason}.`);
    this.finish();
  }

  /** A client's DISCONNECT: no will unless v5 reason 0x04 asked for it. */
  closeGracefully(sendWill: boolean): void {
    this.gracefulClose = !sendWill;
    this.finish();
  }

  /** Malformed or forbidden input: v5 gets a DISCONNECT with the reason, then the socket closes. */
  protocolViolation(reasonCode: number, reason: string): void {
    if (this.state === 'closed') return;
    if (this.broker.log.isEnabled('notice')) {
      this.broker.log.notice(`Client ${escape(this.clientId || '<unknown>')} from ${this.remoteAddress} disconnected: ${escape(reason)}.`);
    }
    if (this.protocolVersion === 5 && this.state === 'connected') {
      this.writePacket({ cmd: 'disconnect', reasonCode } as mqtt.IDisconnectPacket);
    }
    // Read no more (the rest of a refused 100 MB packet would only be garbage to collect),
    // so do not wait for the client's FIN either: close once the last packet is written.
    this.stream.pause();
    this.stream.once('finish', onStreamFinished);
    this.finish();
  }

  destroy(): void {
    this.stream.destroy();
  }

  /** Stops input, lets a final packet flush, but never waits on a client that stopped reading. */
  private finish(): void {
    this.flushNow();
    this.state = 'closed';
    // Not reading this client (flow control, a shutdown): its FIN would never be seen, so
    // the socket closes once the last packet is written, as after a protocol violation.
    if (this.pauses > 0) this.stream.once('finish', onStreamFinished);
    this.stream.end();
    const timer = setTimeout(() => this.stream.destroy(), 1000);
    timer.unref();
    this.stream.once('close', () => clearTimeout(timer));
    // The session lets go now, not when the socket has closed: messages routed meanwhile
    // are queued for the next connection instead of "sent" into a closing socket.
    this.teardown();
  }

  /** Sends what this turn wrote. */
  flushNow(): void {
    const outbox = this.outbox;
    if (outbox === undefined) return;
    this.outbox = undefined;
    const bytes = this.outboxBytes;
    this.outboxBytes = 0;
    const stream = this.stream;
    if (stream.destroyed) return;
    // What these packets acknowledge is journaled before they leave (persistence's write-ahead).
    this.broker.commitChanges();
    this.written += bytes;
    if (outbox.length === 1) stream.write(outbox[0]);
    else if (this.gathersWrites) writeGathered(stream, outbox);
    else stream.write(Buffer.concat(outbox, bytes));
    if (this.drainNoticeWanted) this.awaitDrain();
  }

  teardown(): void {
    if (this.tornDown) return;
    this.tornDown = true;
    this.state = 'closed';
    this.registry.remove(this);
    this.reader.discard();
    this.broker.stats.sockets--;
    const session = this.session;
    if (session && this.accepted) {
      this.broker.disconnect(session, this, this.gracefulClose ? undefined : this.will);
    }
    this.will = undefined;
    this.session = null;
  }
}

const CONNECTION = Symbol('connection');

type ConnectedStream = Duplex & { [CONNECTION]: Connection };

function onStreamData(this: ConnectedStream, chunk: Buffer): void {
  this[CONNECTION].onData(chunk);
}

function endInputTurn(connection: Connection): void {
  connection.endInputTurn();
}

function onStreamError(this: ConnectedStream): void {
  this.destroy();
}

function onStreamClose(this: ConnectedStream): void {
  this[CONNECTION].teardown();
}

function onStreamEnd(this: ConnectedStream): void {
  this.end();
}

function onStreamDrain(this: ConnectedStream): void {
  this[CONNECTION].onDrain();
}

function onStreamFinished(this: ConnectedStream): void {
  this.destroy();
}

function flush(connection: Connection): void {
  connection.flushNow();
}

function drained(connection: Connection): void {
  connection.onDrain();
}

/** One writev: runs of small chunks joined, large ones (shared payloads) as they are. */
function writeGathered(stream: Duplex, chunks: Buffer[]): void {
  stream.cork();
  let runStart = 0;
  let runBytes = 0;
  for (let i = 0; i < chunks.length; i++) {
    const chunk = chunks[i];
    if (chunk.length < SHARED_CHUNK_BYTES) {
      runBytes += chunk.length;
      continue;
    }
    if (runBytes > 0) stream.write(joined(chunks, runStart, i, runBytes));
    stream.write(chunk);
    runStart = i + 1;
    runBytes = 0;
  }
  if (runBytes > 0) stream.write(joined(chunks, runStart, chunks.length, runBytes));
  stream.uncork();
}

function joined(chunks: Buffer[], from: number, to: number, bytes: number): Buffer {
  if (to - from === 1) return chunks[from];
  const out = Buffer.allocUnsafe(bytes);
  let pos = 0;
  for (let i = from; i < to; i++) pos += chunks[i].copy(out, pos);
  return out;
}

/** PUBACK/PUBREC/PUBREL/PUBCOMP with reason Success: the same four bytes in every version. */
export function ack(firstByte: number, packetId: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b[0] = firstByte;
  b[1] = 2;
  b[2] = packetId >> 8;
  b[3] = packetId & 0xff;
  return b;
}

function stripMountPoint(message: Message, mountPoint: string): Message {
  if (!message.topic.startsWith(mountPoint)) return message;
  return new Message(
    message.topic.slice(mountPoint.length),
    message.payload,
    message.qos,
    message.retain,
    message.properties,
    message.expiresAt,
    message.origin,
  );
}

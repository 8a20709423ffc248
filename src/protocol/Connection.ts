import type { Duplex } from 'node:stream';
import * as mqtt from 'mqtt-packet';
import type { Broker } from '../broker/Broker';
import type { ClientLink, ProtocolVersion } from '../broker/ClientLink';
import { Message, type QoS } from '../broker/Message';
import type { Session } from '../broker/Session';
import type { Will } from '../broker/Will';
import { escape } from '../log/Logger';
import type { ConnectionRegistry } from './ConnectionRegistry';
import { handleConnect } from './handleConnect';
import { handleDisconnect } from './handleDisconnect';
import { handlePuback, handlePubcomp, handlePubrec } from './handleOutgoingAcks';
import { handlePublish } from './handlePublish';
import { handlePubrel } from './handlePubrel';
import { handleSubscribe } from './handleSubscribe';
import { handleUnsubscribe } from './handleUnsubscribe';
import { parseControlPacket, type ControlPacketSink } from './ControlPacketParser';
import { PacketReader, type FramingError, type PacketSink } from './PacketReader';
import { encodePublish } from './PublishEncoder';
import { ReasonCode } from './reasonCodes';

/** What the transport tells the protocol layer about a new connection. */
export interface ConnectionInfo {
  remoteAddress: string;
  /** The verified client certificate's CN, when the listener uses it as the username. */
  certificateIdentity?: string;
  useIdentityAsUsername: boolean;
  /** mount_point: prefix on every topic this connection uses. */
  mountPoint?: string;
}

export type ConnectionState = 'awaiting-connect' | 'authenticating' | 'connected' | 'closed';

/** The largest CONNECT accepted (a will payload included) before anyone is authenticated. */
const MAX_CONNECT_BYTES = 1024 * 1024;

const PINGRESP = Buffer.from([0xd0, 0x00]);
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
  readonly openedAt: number;
  /** When the transport backlog first went over the limit (0: it is not). */
  backlogSince = 0;
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
  /** Packets written this event-loop turn, sent as one buffer when the turn ends. */
  private outbox: Buffer[] | undefined;
  private outboxBytes = 0;
  private pauses = 0;
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
    this.reader = new PacketReader(this, () => this.packetSizeLimit());
    // Shared listeners find their connection on the stream: no closures per connection.
    (stream as ConnectedStream)[CONNECTION] = this;
    stream.on('data', onStreamData);
    stream.on('error', onStreamError);
    stream.on('close', onStreamClose);
    stream.on('end', onStreamEnd);
    registry.add(this);
    broker.stats.sockets++;
  }

  /**
   * max_packet_size, and before CONNECT at most 1 MiB whatever it says: an unauthenticated
   * client must not make the broker buffer MQTT's 256 MB maximum.
   */
  private packetSizeLimit(): number {
    const limit = this.broker.limits.maxPacketSize;
    if (this.state !== 'awaiting-connect') return limit;
    return limit > 0 && limit < MAX_CONNECT_BYTES ? limit : MAX_CONNECT_BYTES;
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

  // ---- Input -----------------------------------------------------------------------

  onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.lastSeen = this.registry.now;
    this.broker.stats.bytesReceived += chunk.length;
    this.reader.push(chunk);
  }

  // PacketSink: what the reader hands over.

  onPublish(packet: mqtt.IPublishPacket): void {
    this.onPacket(packet);
  }

  onPuback(packetId: number): void {
    if (this.state === 'connected') {
      this.broker.stats.messagesReceived++;
      this.broker.acknowledge(this.session!, packetId);
    } else {
      this.onPacket({ cmd: 'puback', messageId: packetId });
    }
  }

  onOtherPacket(bytes: Buffer): void {
    parseControlPacket(bytes, this.version, this);
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
    const held = this.held;
    this.held = undefined;
    if (held) for (const p of held) if (this.state === 'connected') this.dispatch(p);
    this.resumeReading();
  }

  // ---- Output ----------------------------------------------------------------------

  /**
   * Writes a packet. The packets of one event-loop turn are joined and written once: a
   * fan-out to a subscriber then costs one stream write per turn, not one per message.
   */
  write(packet: Buffer): void {
    if (this.state === 'closed') return;
    const outbox = this.outbox;
    if (outbox === undefined) {
      this.outbox = [packet];
      process.nextTick(flush, this);
    } else {
      outbox.push(packet);
    }
    this.outboxBytes += packet.length;
    const stats = this.broker.stats;
    stats.bytesSent += packet.length;
    stats.messagesSent++;
  }

  writePacket(packet: mqtt.Packet): void {
    this.write(mqtt.generate(packet, { protocolVersion: this.protocolVersion }));
  }

  sendPublish(message: Message, qos: QoS, retain: boolean, packetId: number, dup: boolean, subscriptionId: number | undefined): void {
    const mountPoint = this.info.mountPoint;
    let m = message;
    if (mountPoint !== undefined) m = stripMountPoint(message, mountPoint);
    const packet = encodePublish(m, this.protocolVersion === 5, qos, retain, packetId, dup, subscriptionId, Date.now());
    const max = this.clientMaximumPacketSize;
    // A packet larger than the client accepts is discarded as if delivered [MQTT-3.1.2-25].
    if (max > 0 && packet.length > max) {
      if (qos > 0) this.broker.acknowledge(this.session!, packetId);
      return;
    }
    const stats = this.broker.stats;
    stats.publishSent++;
    stats.publishBytesSent += message.payload.length;
    this.write(packet);
  }

  sendPubrel(packetId: number): void {
    this.write(ack(0x62, packetId));
  }

  pauseReading(): void {
    if (this.pauses++ === 0) this.stream.pause();
  }

  resumeReading(): void {
    if (this.pauses > 0 && --this.pauses === 0 && this.state !== 'closed') this.stream.resume();
  }

  // ---- Closing ---------------------------------------------------------------------

  /** Server-initiated close (takeover, shutdown, keepalive, stall): will is published. */
  close(reasonCode: number, reason: string): void {
    if (this.state === 'closed') return;
    if (this.protocolVersion === 5 && this.state === 'connected') {
      this.writePacket({ cmd: 'disconnect', reasonCode, properties: { reasonString: reason } } as mqtt.IDisconnectPacket);
    }
    this.broker.log.notice(`Client ${escape(this.clientId)} disconnected: ${reason}.`);
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
    this.broker.log.notice(
      `Client ${escape(this.clientId || '<unknown>')} from ${this.remoteAddress} disconnected: ${escape(reason)}.`,
    );
    if (this.protocolVersion === 5 && this.state === 'connected') {
      this.writePacket({ cmd: 'disconnect', reasonCode } as mqtt.IDisconnectPacket);
    }
    this.finish();
  }

  destroy(): void {
    this.stream.destroy();
  }

  /** Stops input, lets a final packet flush, but never waits on a client that stopped reading. */
  private finish(): void {
    this.flushNow();
    this.state = 'closed';
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
    if (this.stream.destroyed) return;
    this.stream.write(outbox.length === 1 ? outbox[0] : Buffer.concat(outbox, bytes));
  }

  teardown(): void {
    if (this.tornDown) return;
    this.tornDown = true;
    this.state = 'closed';
    this.registry.remove(this);
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

function onStreamError(this: ConnectedStream): void {
  this.destroy();
}

function onStreamClose(this: ConnectedStream): void {
  this[CONNECTION].teardown();
}

function onStreamEnd(this: ConnectedStream): void {
  this.end();
}

function flush(connection: Connection): void {
  connection.flushNow();
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

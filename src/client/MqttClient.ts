import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import * as mqttPacket from 'mqtt-packet';
import type {
  IConnackPacket,
  IConnectPacket,
  IDisconnectPacket,
  IPublishPacket,
  IPubrelPacket,
  ISubscription,
  Packet,
  QoS,
} from 'mqtt-packet';
import { clientError, type ClientError, type Result } from './ClientError';
import { openTransport, type TransportOptions } from './Transport';

export type ProtocolVersion = 3 | 4 | 5;
export type PublishProperties = NonNullable<IPublishPacket['properties']>;
export type ConnectProperties = NonNullable<IConnectPacket['properties']>;
export type WillProperties = NonNullable<NonNullable<IConnectPacket['will']>['properties']>;
export type DisconnectProperties = NonNullable<IDisconnectPacket['properties']>;
export type SubscribeProperties = { subscriptionIdentifier?: number; userProperties?: Record<string, string | string[]> };
export type UnsubscribeProperties = { userProperties?: Record<string, string | string[]> };

export interface Will {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  properties?: WillProperties;
}

export interface ConnectOptions extends TransportOptions {
  /** 3 = MQTT 3.1, 4 = 3.1.1, 5 = 5.0. */
  protocolVersion: ProtocolVersion;
  /** Empty lets the broker assign one (3.1.1 and 5 only). */
  clientId: string;
  clean: boolean;
  /** Seconds; 0 disables PINGREQ. */
  keepalive: number;
  username?: string;
  password?: Buffer;
  will?: Will;
  properties?: ConnectProperties;
  /** Our own limit on unacknowledged outgoing QoS 1/2 messages (mosquitto's -M, default 20). */
  maxInflight?: number;
  /** Sets the bridge bit in CONNECT's protocol version (mosquitto's try_private). */
  bridgeMode?: boolean;
  /**
   * Incoming QoS 2 messages waiting for PUBREL. A caller that reconnects to a kept session
   * passes the same map to each connection, so a PUBREL resent after a reconnect still
   * delivers its message.
   */
  incomingQos2?: Map<number, Message>;
  /**
   * Packet ids the caller holds for messages of an earlier connection (resent with their own
   * id): the client never gives them to a new SUBSCRIBE or PUBLISH [MQTT-2.2.1-3].
   */
  idInUse?: (id: number) => boolean;
  /**
   * Called after a received message was handed over ('message') and before the PUBACK or
   * PUBCOMP that acknowledges it is written: a broker makes it durable there (the bridge).
   */
  beforeAck?: () => void;
}

/** An application message received from the broker. */
export interface Message {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /** 0 for QoS 0. */
  messageId: number;
  properties: PublishProperties;
}

export interface PublishOptions {
  qos?: QoS;
  retain?: boolean;
  properties?: PublishProperties;
  /** QoS 1/2: the packet id the caller chose (a free one: see idInUse); otherwise the client picks one. */
  messageId?: number;
  /** A resend of a message sent on an earlier connection, with its original id [MQTT-4.4.0-1]. */
  dup?: boolean;
}

/** The broker's answer to a PUBLISH: 0 for QoS 0, else the PUBACK/PUBCOMP reason code. */
export interface PublishAck {
  messageId: number;
  reasonCode: number;
  reasonString?: string;
}

export interface SubscribeAck {
  messageId: number;
  /** Granted QoS or v5 reason code per filter, in request order. */
  granted: number[];
}

export type PacketDirection = 'in' | 'out';

interface Pending<T> {
  resolve(r: Result<T>): void;
}

interface OutgoingPublish {
  /** The PUBLISH, or the PUBREL of a QoS 2 message released on an earlier connection. */
  packet: IPublishPacket | IPubrelPacket;
  pending: Pending<PublishAck>;
}

/**
 * A small MQTT client on mqtt-packet: one connection, no reconnect. Every operation resolves
 * to a Result; nothing throws after construction. Events:
 *  - 'message' (Message)
 *  - 'pubrec' (messageId): a QoS 2 message of ours reached the broker; PUBREL is sent (after beforeAck, when given)
 *  - 'held' (Message): a QoS 2 message is held until its PUBREL; PUBREC follows
 *  - 'packet' (direction, Packet): every packet in and out, for -d style logging
 *  - 'close' (ClientError | undefined): undefined after a clean disconnect()
 */
export class MqttClient extends EventEmitter {
  private socket: Socket | undefined;
  private readonly parser: ReturnType<typeof mqttPacket.parser>;
  private connackWaiter: Pending<IConnackPacket> | undefined;
  private readonly acks = new Map<number, Pending<PublishAck> | Pending<SubscribeAck> | Pending<number[]>>();
  private readonly outgoing = new Map<number, OutgoingPublish>();
  private readonly queued: OutgoingPublish[] = [];
  /** Incoming QoS 2 messages held until PUBREL ([MQTT-4.3.3]: deliver once). */
  private readonly incomingQos2: Map<number, Message>;
  private readonly topicAliases = new Map<number, string>();
  private nextId = 0;
  private inflightLimit: number;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private pingOutstanding = false;
  private closed = false;
  private disconnecting = false;
  /** The client id in use: the broker's Assigned Client Identifier when it sent one. */
  clientId: string;
  connack: IConnackPacket | undefined;

  constructor(readonly options: ConnectOptions) {
    super();
    this.clientId = options.clientId;
    this.inflightLimit = options.maxInflight ?? 20;
    this.incomingQos2 = options.incomingQos2 ?? new Map();
    this.parser = mqttPacket.parser({ protocolVersion: options.protocolVersion });
    this.parser.on('packet', (packet: Packet) => this.onPacket(packet));
    this.parser.on('error', (err: Error) => this.fail(clientError('EPROTOCOL', err.message)));
  }

  /** Opens the transport, sends CONNECT and waits for CONNACK. A refusal is an ECONNACK error. */
  async connect(): Promise<Result<IConnackPacket>> {
    const opened = await openTransport(this.options);
    if (!opened.ok) {
      this.closed = true;
      return opened;
    }
    const socket = opened.value;
    if (this.closed) {
      // destroy() was called while the socket was opening.
      socket.destroy();
      return { ok: false, error: clientError('ECLOSED', 'The connection was lost.') };
    }
    this.socket = socket;
    socket.on('data', (data: Buffer) => this.parser.parse(data));
    socket.on('error', (err: Error) => this.fail(clientError('ECLOSED', err.message)));
    socket.on('close', () => this.fail(clientError('ECLOSED', 'The connection was lost.')));
    const o = this.options;
    const connect: IConnectPacket = {
      cmd: 'connect',
      protocolId: o.protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
      protocolVersion: o.protocolVersion,
      clientId: o.clientId,
      clean: o.clean,
      keepalive: o.keepalive,
    };
    if (o.username !== undefined) connect.username = o.username;
    if (o.password !== undefined) connect.password = o.password;
    // mqtt-packet writes this bit but its typings omit the field.
    if (o.bridgeMode) (connect as IConnectPacket & { bridgeMode?: boolean }).bridgeMode = true;
    if (o.will) {
      connect.will = { topic: o.will.topic, payload: o.will.payload, qos: o.will.qos, retain: o.will.retain };
      if (o.protocolVersion === 5 && o.will.properties) connect.will.properties = o.will.properties;
    }
    if (o.protocolVersion === 5 && o.properties && Object.keys(o.properties).length > 0) connect.properties = o.properties;
    const result = new Promise<Result<IConnackPacket>>((resolve) => (this.connackWaiter = { resolve }));
    this.send(connect);
    return result;
  }

  publish(topic: string, payload: Buffer, options: PublishOptions = {}): Promise<Result<PublishAck>> {
    const qos = options.qos ?? 0;
    const packet: IPublishPacket = {
      cmd: 'publish',
      topic,
      payload,
      qos,
      retain: options.retain ?? false,
      dup: options.dup === true && qos > 0,
    };
    if (this.options.protocolVersion === 5 && options.properties && Object.keys(options.properties).length > 0) {
      packet.properties = options.properties;
    }
    if (!this.socket || this.closed) return Promise.resolve(notConnected());
    return new Promise((resolve) => {
      if (qos === 0) {
        packet.messageId = this.allocateId();
        this.send(packet, () => resolve({ ok: true, value: { messageId: packet.messageId ?? 0, reasonCode: 0 } }));
        return;
      }
      packet.messageId = options.messageId ?? this.allocateId();
      const entry: OutgoingPublish = { packet, pending: { resolve } };
      this.outgoing.set(packet.messageId, entry);
      if (this.outgoing.size - this.queued.length > this.inflightLimit) this.queued.push(entry);
      else this.send(packet);
    });
  }

  subscribe(subscriptions: ISubscription[], properties?: SubscribeProperties): Promise<Result<SubscribeAck>> {
    if (!this.socket || this.closed) return Promise.resolve(notConnected());
    const messageId = this.allocateId();
    return new Promise((resolve) => {
      this.acks.set(messageId, { resolve } as Pending<SubscribeAck>);
      const packet: Packet = { cmd: 'subscribe', messageId, subscriptions };
      if (this.options.protocolVersion === 5 && properties && Object.keys(properties).length > 0) {
        (packet as { properties?: SubscribeProperties }).properties = properties;
      }
      this.send(packet);
    });
  }

  unsubscribe(filters: string[], properties?: UnsubscribeProperties): Promise<Result<number[]>> {
    if (!this.socket || this.closed) return Promise.resolve(notConnected());
    const messageId = this.allocateId();
    return new Promise((resolve) => {
      this.acks.set(messageId, { resolve } as Pending<number[]>);
      const packet: Packet = { cmd: 'unsubscribe', messageId, unsubscriptions: filters };
      if (this.options.protocolVersion === 5 && properties && Object.keys(properties).length > 0) {
        (packet as { properties?: UnsubscribeProperties }).properties = properties;
      }
      this.send(packet);
    });
  }

  /** Sends DISCONNECT and closes the socket once it is flushed. */
  disconnect(reasonCode = 0, properties?: DisconnectProperties): Promise<void> {
    return new Promise((resolve) => {
      if (!this.socket || this.closed || this.disconnecting) {
        this.disconnecting = true;
        resolve();
        return;
      }
      this.disconnecting = true;
      const packet: IDisconnectPacket = { cmd: 'disconnect' };
      if (this.options.protocolVersion === 5) {
        packet.reasonCode = reasonCode;
        if (properties && Object.keys(properties).length > 0) packet.properties = properties;
      }
      const socket = this.socket;
      this.send(packet, () => {
        socket.end();
        this.finish(undefined);
        resolve();
      });
    });
  }

  /** Drops the connection without DISCONNECT (the broker then sends the will). */
  destroy(): void {
    this.socket?.destroy();
    this.finish(undefined);
  }

  /** Number of QoS 1/2 publishes not yet fully acknowledged. */
  get inflight(): number {
    return this.outgoing.size;
  }

  /**
   * Finishes a QoS 2 message whose PUBREC came on an earlier connection to a kept session:
   * PUBREL with its packet id, never the PUBLISH again [MQTT-4.3.3-9]. Resolves on PUBCOMP.
   */
  release(messageId: number): Promise<Result<PublishAck>> {
    if (!this.socket || this.closed) return Promise.resolve(notConnected());
    return new Promise((resolve) => {
      const packet: IPubrelPacket = { cmd: 'pubrel', messageId };
      this.outgoing.set(messageId, { packet, pending: { resolve } });
      this.send(packet);
    });
  }

  /** Whether a packet id is taken by one of this client's unfinished exchanges. */
  isIdTaken(id: number): boolean {
    return this.outgoing.has(id) || this.acks.has(id);
  }

  private allocateId(): number {
    const inUse = this.options.idInUse;
    for (;;) {
      this.nextId = this.nextId >= 65535 ? 1 : this.nextId + 1;
      const id = this.nextId;
      if (!this.outgoing.has(id) && !this.acks.has(id) && (inUse === undefined || !inUse(id))) return id;
    }
  }

  private send(packet: Packet, onWritten?: () => void): void {
    const socket = this.socket;
    if (!socket || this.closed) return;
    let bytes: Buffer;
    try {
      bytes = mqttPacket.generate(packet, { protocolVersion: this.options.protocolVersion });
    } catch (err) {
      // mqtt-packet refuses packets MQTT forbids (e.g. an empty client id with clean=false).
      this.fail(clientError('EINVAL', err instanceof Error ? err.message : String(err)));
      return;
    }
    this.emit('packet', 'out', packet);
    socket.write(bytes, onWritten ? () => onWritten() : undefined);
    this.armKeepalive();
  }

  private armKeepalive(): void {
    const seconds = this.options.keepalive;
    if (seconds <= 0 || !this.connack) return;
    if (this.keepaliveTimer) this.keepaliveTimer.refresh();
    else {
      this.keepaliveTimer = setTimeout(() => this.onKeepalive(), seconds * 1000);
      this.keepaliveTimer.unref();
    }
  }

  private onKeepalive(): void {
    this.keepaliveTimer = undefined;
    if (this.closed) return;
    if (this.pingOutstanding) {
      this.fail(clientError('EKEEPALIVE', 'The connection was lost.'));
      return;
    }
    this.pingOutstanding = true;
    this.send({ cmd: 'pingreq' });
  }

  private onPacket(packet: Packet): void {
    // Adopt an assigned id first, so whoever logs this CONNACK names the client by it.
    const assigned = packet.cmd === 'connack' ? packet.properties?.assignedClientIdentifier : undefined;
    if (assigned) this.clientId = assigned;
    this.emit('packet', 'in', packet);
    switch (packet.cmd) {
      case 'connack':
        return this.onConnack(packet);
      case 'publish':
        return this.onPublish(packet);
      case 'puback':
      case 'pubcomp':
        return this.onPublishDone(packet.messageId ?? 0, packet.reasonCode ?? 0, packet.properties?.reasonString);
      case 'pubrec': {
        const id = packet.messageId ?? 0;
        if ((packet.reasonCode ?? 0) >= 0x80) return this.onPublishDone(id, packet.reasonCode ?? 0, packet.properties?.reasonString);
        const beforeAck = this.options.beforeAck;
        if (beforeAck === undefined) {
          this.send({ cmd: 'pubrel', messageId: id });
          if (this.outgoing.has(id)) this.emit('pubrec', id);
          return;
        }
        // The caller records the PUBREC durably before the PUBREL tells the broker to let go.
        try {
          if (this.outgoing.has(id)) this.emit('pubrec', id);
        } finally {
          beforeAck();
          this.send({ cmd: 'pubrel', messageId: id });
        }
        return;
      }
      case 'pubrel': {
        const id = packet.messageId ?? 0;
        const message = this.incomingQos2.get(id);
        this.incomingQos2.delete(id);
        const beforeAck = this.options.beforeAck;
        if (beforeAck === undefined) {
          this.send({ cmd: 'pubcomp', messageId: id });
          if (message) this.emit('message', message);
          return;
        }
        try {
          if (message) this.emit('message', message);
        } finally {
          beforeAck();
          this.send({ cmd: 'pubcomp', messageId: id });
        }
        return;
      }
      case 'suback': {
        const waiter = this.takeAck(packet.messageId) as Pending<SubscribeAck> | undefined;
        waiter?.resolve({ ok: true, value: { messageId: packet.messageId ?? 0, granted: packet.granted as number[] } });
        return;
      }
      case 'unsuback': {
        const waiter = this.takeAck(packet.messageId) as Pending<number[]> | undefined;
        waiter?.resolve({ ok: true, value: (packet.granted as number[] | undefined) ?? [] });
        return;
      }
      case 'pingresp':
        this.pingOutstanding = false;
        return;
      case 'disconnect':
        this.fail(clientError('ECLOSED', 'The connection was lost.', packet.reasonCode));
        return;
      default:
        this.fail(clientError('EPROTOCOL', `unexpected ${packet.cmd.toUpperCase()} from the broker`));
    }
  }

  private onConnack(packet: IConnackPacket): void {
    const waiter = this.connackWaiter;
    this.connackWaiter = undefined;
    if (!waiter) return this.fail(clientError('EPROTOCOL', 'second CONNACK'));
    const code = (this.options.protocolVersion === 5 ? packet.reasonCode : packet.returnCode) ?? 0;
    if (code !== 0) {
      waiter.resolve({ ok: false, error: clientError('ECONNACK', 'connection refused', code) });
      return;
    }
    this.connack = packet;
    const receiveMaximum = packet.properties?.receiveMaximum;
    if (receiveMaximum !== undefined) this.inflightLimit = Math.min(this.inflightLimit, receiveMaximum);
    const serverKeepAlive = packet.properties?.serverKeepAlive;
    if (serverKeepAlive !== undefined) this.options.keepalive = serverKeepAlive;
    this.armKeepalive();
    waiter.resolve({ ok: true, value: packet });
  }

  private onPublish(packet: IPublishPacket): void {
    const properties: PublishProperties = packet.properties ?? {};
    let topic = packet.topic;
    const alias = properties.topicAlias;
    if (alias !== undefined) {
      if (topic.length > 0) this.topicAliases.set(alias, topic);
      else topic = this.topicAliases.get(alias) ?? '';
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const message: Message = {
      topic,
      payload,
      qos: packet.qos,
      retain: packet.retain,
      dup: packet.dup,
      messageId: packet.qos > 0 ? (packet.messageId ?? 0) : 0,
      properties,
    };
    if (packet.qos === 2) {
      this.incomingQos2.set(message.messageId, message);
      this.emit('held', message);
      this.options.beforeAck?.();
      this.send({ cmd: 'pubrec', messageId: message.messageId });
      return;
    }
    const beforeAck = this.options.beforeAck;
    // As libmosquitto: PUBACK, then the message; with beforeAck the message first, then PUBACK.
    if (packet.qos === 1 && beforeAck === undefined) this.send({ cmd: 'puback', messageId: message.messageId });
    try {
      this.emit('message', message);
    } finally {
      if (packet.qos === 1 && beforeAck !== undefined) {
        beforeAck();
        this.send({ cmd: 'puback', messageId: message.messageId });
      }
    }
  }

  private onPublishDone(messageId: number, reasonCode: number, reasonString: string | undefined): void {
    const entry = this.outgoing.get(messageId);
    if (!entry) return;
    this.outgoing.delete(messageId);
    const next = this.queued.shift();
    if (next) this.send(next.packet);
    const ack: PublishAck = { messageId, reasonCode };
    if (reasonString !== undefined) ack.reasonString = reasonString;
    entry.pending.resolve({ ok: true, value: ack });
  }

  private takeAck(messageId: number | undefined): Pending<unknown> | undefined {
    const id = messageId ?? 0;
    const waiter = this.acks.get(id);
    this.acks.delete(id);
    return waiter as Pending<unknown> | undefined;
  }

  /** Ends the session with an error, answering every waiter with it. */
  private fail(error: ClientError): void {
    if (this.closed) return;
    this.socket?.destroy();
    this.finish(this.disconnecting ? undefined : error);
  }

  private finish(error: ClientError | undefined): void {
    if (this.closed) return;
    this.closed = true;
    if (this.keepaliveTimer) clearTimeout(this.keepaliveTimer);
    const failure = error ?? clientError('ECLOSED', 'The connection was lost.');
    this.connackWaiter?.resolve({ ok: false, error: failure });
    this.connackWaiter = undefined;
    for (const waiter of this.acks.values()) waiter.resolve({ ok: false, error: failure });
    this.acks.clear();
    for (const entry of this.outgoing.values()) entry.pending.resolve({ ok: false, error: failure });
    this.outgoing.clear();
    this.queued.length = 0;
    this.emit('close', error);
  }
}

function notConnected<T>(): Result<T> {
  return { ok: false, error: clientError('EINVAL', 'Client not connected.') };
}

import { connect as netConnect } from 'node:net';
import type { Broker } from '../broker/Broker';
import { Message, type QoS } from '../broker/Message';
import { isValidTopicName } from '../broker/topics';
import { connackString, reasonString } from '../cli/ReasonStrings';
import type { ClientError } from '../client/ClientError';
import {
  MqttClient,
  type ConnectOptions,
  type Message as RemoteMessage,
  type PublishProperties,
} from '../client/MqttClient';
import type { BridgeConfig } from '../config/BrokerConfig';
import type { BridgeStatus } from '../daemon/StatusFile';
import { escape, type Logger } from '../log/Logger';
import { fromPacketProperties } from '../protocol/messageProperties';
import { Backoff } from './Backoff';
import { BridgeSysTopics } from './BridgeSysTopics';
import { fromStored, toStored } from '../broker/storedForms';
import type { StoredMessage, StoredQueuedMessage } from '../persistence/StoreSnapshot';
import { OutgoingQueue, OutgoingState, type OutgoingMessage, type OutgoingQueueLog } from './OutgoingQueue';
import { TopicMap, type TopicRoute } from './TopicMap';

/**
 * connected: the remote accepted us. connecting: an attempt is under way.
 * down: waiting for restart_timeout after a failure (or stopped).
 */
export type BridgeState = 'connected' | 'connecting' | 'down';

/** Unacknowledged QoS 1/2 messages on the bridge connection (mosquitto's max_inflight_messages). */
const MAX_INFLIGHT = 20;
/** Longest wait for the TCP/TLS handshake and CONNACK, in seconds (keepalive if shorter). */
const CONNECT_TIMEOUT = 30;
/** Longest wait for the remote to take the "0" notification when stopping, in ms. */
const STOP_TIMEOUT = 2000;

/** v5 session that outlives the connection, for `cleansession false`. */
const SESSION_NEVER_EXPIRES = 0xffffffff;

/** One connection attempt; its client is discarded when the connection ends. */
interface Attempt {
  readonly client: MqttClient;
  readonly address: { host: string; port: number };
  established: boolean;
  closed: boolean;
}

/** What persistence hears of the QoS 2 messages from the remote held until their PUBREL. */
export interface IncomingQos2Log {
  held(packetId: number, message: StoredMessage): void;
  heldDone(packetId: number): void;
}

/** The journal's view of one bridge: its outgoing queue and its held incoming QoS 2 messages. */
export type BridgeLog = OutgoingQueueLog & IncomingQos2Log;

export interface BridgeOptions {
  /** Seconds between `$SYS` counter updates; 0: only when the state changes. */
  sysInterval?: number;
  /** With persistence: the queue as saved, and the journal's log of its changes. */
  restoredQueue?: StoredQueuedMessage[];
  /** QoS 2 messages from the remote that were held (PUBREC sent) when mqttd stopped. */
  restoredIncoming?: StoredQueuedMessage[];
  queueLog?: BridgeLog;
}

/**
 * One `connection` block: a client of the remote broker that carries messages both ways,
 * and keeps trying to be one. Local messages for the remote wait in a bounded queue until
 * the remote acknowledges them, so a remote restart loses no QoS 1/2 message; local clients
 * never wait for the remote, since the local side only ever appends to that queue.
 */
export class Bridge {
  state: BridgeState = 'down';
  /** ms since the epoch when the bridge last connected or lost its connection (or started). */
  since = Date.now();
  lastError: string | null = null;
  messagesIn = 0;
  messagesOut = 0;
  /** QoS 0 messages not sent because the remote was not connected. */
  droppedQos0 = 0;
  /** Messages the remote refused (v5 reason code ≥ 0x80); not retried. */
  refused = 0;
  readonly queue: OutgoingQueue;
  readonly localClientId: string;
  readonly remoteClientId: string;
  readonly notificationTopic: string;
  private readonly topics: TopicMap;
  private readonly backoff: Backoff;
  private readonly sys: BridgeSysTopics;
  /** Kept across connections: a PUBREL resent after a reconnect must still deliver. */
  private readonly incomingQos2 = new Map<number, RemoteMessage>();
  private readonly unsubscribe: (() => void)[] = [];
  private readonly incomingLog: IncomingQos2Log | undefined;
  /** Changes to the held incoming QoS 2 messages, for the autosave's "anything changed?". */
  heldVersion = 0;
  private attempt: Attempt | undefined;
  private addressIndex = 0;
  private failuresThisRound = 0;
  private inflight = 0;
  private window = MAX_INFLIGHT;
  private generation = 0;
  private stopped = false;
  /** Set when the probe found the first address back: reconnect there at once. */
  private switchToPrimary = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private sysTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly config: BridgeConfig,
    private readonly broker: Broker,
    private readonly log: Logger,
    private readonly options: BridgeOptions = {},
  ) {
    this.topics = new TopicMap(config.topics);
    this.queue = new OutgoingQueue(config.maxQueuedMessages);
    for (const q of options.restoredQueue ?? []) {
      const entry: OutgoingMessage = {
        topic: q.topic,
        message: fromStored(q),
        qos: q.qos,
        retain: q.retain,
        state: OutgoingState.Waiting,
        packetId: q.packetId ?? 0,
        released: q.released ?? false,
      };
      this.queue.restore(entry);
    }
    this.queue.log = options.queueLog;
    this.incomingLog = options.queueLog;
    for (const q of options.restoredIncoming ?? []) {
      if (q.packetId === undefined) continue;
      const message = fromStored(q);
      this.incomingQos2.set(q.packetId, {
        topic: q.topic,
        payload: q.payload,
        qos: 2,
        retain: q.retain,
        dup: false,
        messageId: q.packetId,
        properties: toPublishProperties(message) ?? {},
      });
    }
    const restart = config.restartTimeout;
    this.backoff = new Backoff(restart.base, restart.cap);
    this.remoteClientId = config.remoteClientId ?? config.name;
    this.localClientId = config.localClientId ?? `local.${this.remoteClientId}`;
    this.notificationTopic = config.notificationTopic ?? `$SYS/broker/connection/${this.remoteClientId}/state`;
    this.sys = new BridgeSysTopics(broker, config.name);
  }

  get name(): string {
    return this.config.name;
  }

  /** Subscribes locally (so messages queue from the start) and begins connecting. */
  start(): void {
    this.notifyLocal(false);
    for (const route of this.topics.outgoing()) {
      this.unsubscribe.push(
        this.broker.subscribe(route.localFilter, (topic, _payload, message) => this.onLocalMessage(route, topic, message), {
          qos: route.qos,
        }),
      );
    }
    this.publishSys();
    const interval = this.options.sysInterval ?? 0;
    if (interval > 0) {
      this.sysTimer = setInterval(() => this.publishSys(), interval * 1000);
      this.sysTimer.unref();
    }
    this.connect();
  }

  /** Says goodbye to the remote (state "0" first), then stops for good. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of [this.retryTimer, this.probeTimer]) if (timer) clearTimeout(timer);
    if (this.sysTimer) clearInterval(this.sysTimer);
    for (const off of this.unsubscribe) off();
    this.unsubscribe.length = 0;
    const attempt = this.attempt;
    this.attempt = undefined;
    this.generation++;
    if (attempt?.established && !attempt.closed) {
      // A clean DISCONNECT suppresses the will, so the "0" is published by hand.
      if (this.config.notifications) {
        await Promise.race([
          attempt.client.publish(this.notificationTopic, Buffer.from('0'), { qos: 1, retain: true }),
          delay(STOP_TIMEOUT),
        ]);
      }
      await Promise.race([attempt.client.disconnect(), delay(STOP_TIMEOUT)]);
    }
    attempt?.client.destroy();
    this.notifyLocal(false);
    this.setState('down');
  }

  /** The queue as persistence stores it: remote topics, packet ids and PUBRECs kept. */
  storedQueue(): StoredQueuedMessage[] {
    const stored: StoredQueuedMessage[] = [];
    this.queue.forEachPending((e) => {
      const q: StoredQueuedMessage = { ...toStored(e.message), topic: e.topic, qos: e.qos, retain: e.retain };
      if (e.packetId !== 0) q.packetId = e.packetId;
      if (e.released) q.released = true;
      stored.push(q);
    });
    return stored;
  }

  /** Held incoming QoS 2 messages as persistence stores them (remote topics, packet ids). */
  storedIncoming(): StoredQueuedMessage[] {
    return [...this.incomingQos2.values()].map((m) => ({ ...this.storedRemote(m), packetId: m.messageId }));
  }

  private storedRemote(m: RemoteMessage): StoredMessage {
    const expiry = m.properties.messageExpiryInterval;
    const stored: StoredMessage = { topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain };
    const properties = fromPacketProperties(m.properties);
    if (properties !== undefined) stored.properties = properties;
    if (expiry !== undefined) stored.expiresAt = Date.now() + expiry * 1000;
    return stored;
  }

  status(): BridgeStatus & { dropped: number; address: string } {
    return {
      name: this.name,
      state: this.state,
      since: Math.floor(this.since / 1000),
      last_error: this.lastError,
      messages_in: this.messagesIn,
      messages_out: this.messagesOut,
      queued: this.queue.size,
      dropped: this.queue.dropped + this.droppedQos0,
      address: this.addressText(),
    };
  }

  // ---- Connecting ------------------------------------------------------------------

  private connect(): void {
    if (this.stopped) return;
    this.retryTimer = undefined;
    const config = this.config;
    const address = config.addresses[this.addressIndex];
    const v5 = config.protocolVersion === 5;
    const options: ConnectOptions = {
      host: address.host,
      port: address.port,
      protocolVersion: config.protocolVersion,
      clientId: this.remoteClientId,
      clean: config.cleanSession,
      keepalive: config.keepaliveInterval,
      maxInflight: MAX_INFLIGHT,
      incomingQos2: this.incomingQos2,
      // Ids of our messages still unfinished from an earlier connection are not reused.
      idInUse: (id) => this.queue.withPacketId(id) !== undefined,
      // A message from the remote is journaled before it is acknowledged.
      beforeAck: () => this.broker.commitChanges(),
      // v3 has no No Local: the bridge bit asks mosquitto (and mqttd) for it instead.
      bridgeMode: config.tryPrivate && !v5,
    };
    if (v5 && !config.cleanSession) options.properties = { sessionExpiryInterval: SESSION_NEVER_EXPIRES };
    if (config.remoteUsername !== undefined) options.username = config.remoteUsername;
    if (config.remotePassword !== undefined) options.password = Buffer.from(config.remotePassword);
    if (config.notifications) {
      options.will = { topic: this.notificationTopic, payload: Buffer.from('0'), qos: 1, retain: true };
    }
    if (config.cafile !== undefined || config.capath !== undefined) {
      options.tls = {
        cafile: config.cafile,
        capath: config.capath,
        certfile: config.certfile,
        keyfile: config.keyfile,
        insecure: config.insecure,
      };
    }
    const client = new MqttClient(options);
    const attempt: Attempt = { client, address, established: false, closed: false };
    this.attempt = attempt;
    this.setState('connecting');
    this.log.notice(`Connecting bridge ${escape(this.name)} (${address.host}:${address.port})`);
    client.on('message', (m: RemoteMessage) => this.onRemoteMessage(m));
    // A QoS 2 message from the remote is journaled before our PUBREC, so a crash before its
    // PUBREL does not lose it.
    client.on('held', (m: RemoteMessage) => {
      this.heldVersion++;
      this.incomingLog?.held(m.messageId, this.storedRemote(m));
    });
    client.on('pubrec', (id: number) => {
      const entry = this.queue.withPacketId(id);
      if (entry) this.queue.markReleased(entry);
    });
    client.on('close', (error: ClientError | undefined) => this.onClose(attempt, error));

    let timedOut = false;
    const seconds = Math.min(CONNECT_TIMEOUT, config.keepaliveInterval);
    const timer = setTimeout(() => {
      timedOut = true;
      client.destroy();
    }, seconds * 1000);
    timer.unref();
    void client.connect().then((result) => {
      clearTimeout(timer);
      if (this.attempt !== attempt) return;
      if (!result.ok || attempt.closed) {
        const reason = timedOut ? `no CONNACK within ${seconds} s` : result.ok ? 'the connection was lost' : describe(result.error, config.protocolVersion);
        client.destroy();
        this.attemptFailed(reason);
        return;
      }
      this.established(attempt, result.value.sessionPresent, result.value.properties?.receiveMaximum);
    }).catch((err: unknown) => {
      // connect() reports failures as values; anything thrown is still one bridge's failure,
      // never the broker's.
      clearTimeout(timer);
      client.destroy();
      if (this.attempt === attempt) this.attemptFailed(`unexpected error: ${String(err)}`);
    });
  }

  private established(attempt: Attempt, sessionPresent: boolean, receiveMaximum: number | undefined): void {
    const { client } = attempt;
    const v5 = this.config.protocolVersion === 5;
    attempt.established = true;
    this.generation++;
    this.inflight = 0;
    this.window = Math.min(MAX_INFLIGHT, receiveMaximum ?? MAX_INFLIGHT);
    this.failuresThisRound = 0;
    this.backoff.reset();
    // Packet ids of a session the remote no longer has mean nothing, in either direction.
    if (!sessionPresent) {
      for (const id of this.incomingQos2.keys()) this.incomingLog?.heldDone(id);
      this.incomingQos2.clear();
      this.queue.forgetPacketIds();
    }
    this.log.notice(`Bridge ${escape(this.name)} connected to ${attempt.address.host}:${attempt.address.port}${sessionPresent ? ' (session present)' : ''}.`);

    // Subscribed at every connection, as mosquitto: harmless on a kept session, needed on a new one.
    // The bridge reports itself connected once the remote has answered the SUBSCRIBE, so
    // "connected" means messages flow both ways.
    const incoming = this.topics.incoming();
    if (incoming.length === 0) {
      this.operational(attempt);
      return;
    }
    void client
      .subscribe(incoming.map((r) => ({ topic: r.remoteFilter, qos: r.qos, nl: v5, rap: v5, rh: 0 })))
      .then((result) => {
        if (this.attempt !== attempt || attempt.closed) return;
        if (result.ok) {
          result.value.granted.forEach((code, i) => {
            if (code >= 0x80) {
              const problem = `the remote refused the subscription to ${incoming[i].remoteFilter} (${code === 0x80 ? 'failure' : reasonString(code)})`;
              this.lastError = problem;
              this.log.warning(`Bridge ${escape(this.name)}: ${escape(problem)}.`);
            }
          });
        }
        this.operational(attempt);
      });
  }

  /** The remote has our subscriptions: announce the connection and start sending. */
  private operational(attempt: Attempt): void {
    const { client } = attempt;
    if (this.config.notifications) {
      void client.publish(this.notificationTopic, Buffer.from('1'), { qos: 1, retain: true });
      this.notifyLocal(true);
    }
    this.setState('connected');
    this.queueRetained();
    this.pump();
    if (!this.config.roundRobin && this.addressIndex !== 0) this.probePrimary();
  }

  private onClose(attempt: Attempt, error: ClientError | undefined): void {
    attempt.closed = true;
    // A close before CONNACK is reported by connect()'s result instead.
    if (this.attempt !== attempt || !attempt.established || this.stopped) return;
    this.attempt = undefined;
    this.generation++;
    this.inflight = 0;
    this.queue.resendAll();
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    const reason = error ? describe(error, this.config.protocolVersion) : 'the connection was closed';
    this.lastError = reason;
    this.log.notice(`Bridge ${escape(this.name)} disconnected: ${escape(reason)}`);
    this.notifyLocal(false);
    if (this.switchToPrimary) {
      this.switchToPrimary = false;
      this.addressIndex = 0;
      this.connect();
      return;
    }
    this.addressIndex = this.config.roundRobin ? (this.addressIndex + 1) % this.config.addresses.length : 0;
    this.retryLater();
  }

  /** Tries the next address at once; after a whole round of failures, waits restart_timeout. */
  private attemptFailed(reason: string): void {
    this.attempt = undefined;
    this.lastError = reason;
    const count = this.config.addresses.length;
    const address = this.addressText();
    this.failuresThisRound++;
    if (this.failuresThisRound < count) {
      this.log.notice(`Bridge ${escape(this.name)} cannot connect to ${address}: ${escape(reason)}; trying the next address.`);
      this.addressIndex = (this.addressIndex + 1) % count;
      setImmediate(() => this.connect());
      return;
    }
    this.failuresThisRound = 0;
    this.addressIndex = this.config.roundRobin ? (this.addressIndex + 1) % count : 0;
    const seconds = this.retryLater();
    this.log.notice(`Bridge ${escape(this.name)} cannot connect to ${address}: ${escape(reason)}; retrying in ${seconds} s.`);
  }

  private retryLater(): number {
    const seconds = this.backoff.next();
    this.setState('down');
    this.retryTimer = setTimeout(() => this.connect(), seconds * 1000);
    this.retryTimer.unref();
    return seconds;
  }

  /**
   * With round_robin false the first address is preferred: while connected elsewhere, check
   * every restart_timeout whether it accepts connections again, and go back to it if so.
   */
  private probePrimary(): void {
    const seconds = this.config.restartTimeout.base;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      const attempt = this.attempt;
      if (!attempt?.established || this.stopped) return;
      const primary = this.config.addresses[0];
      const socket = netConnect({ host: primary.host, port: primary.port });
      socket.setTimeout(seconds * 1000);
      const again = (): void => {
        socket.destroy();
        if (this.attempt === attempt && !attempt.closed) this.probePrimary();
      };
      socket.once('error', again);
      socket.once('timeout', again);
      socket.once('connect', () => {
        socket.destroy();
        if (this.attempt !== attempt || attempt.closed) return;
        this.log.notice(`Bridge ${escape(this.name)}: the first address ${primary.host}:${primary.port} is back; reconnecting to it.`);
        this.switchToPrimary = true;
        void attempt.client.disconnect();
      });
    }, seconds * 1000);
    this.probeTimer.unref();
  }

  // ---- Local → remote --------------------------------------------------------------

  private onLocalMessage(route: TopicRoute, topic: string, message: Message): void {
    // What came in over this bridge never goes back out over it.
    if (message.origin === this.localClientId || this.stopped) return;
    const qos = (message.qos < route.qos ? message.qos : route.qos) as QoS;
    const retain = this.config.outgoingRetain && message.retain;
    const entry: OutgoingMessage = {
      topic: route.toRemote(topic),
      message,
      qos,
      retain,
      state: OutgoingState.Waiting,
      packetId: 0,
      released: false,
    };
    if (qos === 0) {
      // QoS 0 is never queued, as for any offline client of mosquitto.
      if (this.state === 'connected' && this.attempt) this.send(this.attempt.client, entry);
      else this.droppedQos0++;
      return;
    }
    this.queue.push(entry);
    this.pump();
  }

  /**
   * mosquitto's bridge sends the local retained messages at every connection, so a remote
   * that restarted without persistence gets them back. Those still in the queue are not added twice.
   */
  private queueRetained(): void {
    const now = Date.now();
    const queued = new Set<Message>();
    this.queue.forEachPending((e) => queued.add(e.message));
    for (const route of this.topics.outgoing()) {
      this.broker.retained.forEachMatch(route.localFilter, now, (message) => {
        if (!queued.has(message)) this.onLocalMessage(route, message.topic, message);
      });
    }
  }

  /** Sends queued messages while the in-flight window has room. */
  private pump(): void {
    const attempt = this.attempt;
    if (!attempt?.established || attempt.closed) return;
    const { client } = attempt;
    const now = Date.now();
    const batch: OutgoingMessage[] = [];
    const resends: boolean[] = [];
    const isFree = (id: number): boolean => !client.isIdTaken(id);
    for (let room = this.window - this.inflight; room > 0; room--) {
      const entry = this.queue.takeWaiting();
      if (!entry) break;
      // A QoS 2 message the remote has (PUBREC) is finished with PUBREL, expired or not.
      if (!entry.released && entry.message.isExpired(now)) {
        this.queue.finish(entry);
        room++;
        continue;
      }
      // Unfinished on an earlier connection to this session: the same packet id again.
      const resend = entry.packetId !== 0;
      if (!resend) this.queue.assignPacketId(entry, isFree);
      batch.push(entry);
      resends.push(resend);
    }
    if (batch.length === 0) return;
    // The packet ids are journaled before the PUBLISHes carrying them leave: a resend after a
    // crash must use the same ones, or the remote would take it for a new message.
    this.broker.commitChanges();
    for (let i = 0; i < batch.length; i++) this.send(client, batch[i]!, resends[i]!);
  }

  private send(client: MqttClient, entry: OutgoingMessage, resend = false): void {
    const generation = this.generation;
    const { message } = entry;
    const properties = this.config.protocolVersion === 5 ? toPublishProperties(message) : undefined;
    let sent;
    if (entry.qos === 0) {
      sent = client.publish(entry.topic, message.payload, { qos: 0, retain: entry.retain, properties });
    } else {
      this.inflight++;
      // A resend keeps its packet id and sets DUP, and a QoS 2 message the remote PUBREC'ed
      // only gets its PUBREL [MQTT-4.4.0-1].
      sent = entry.released
        ? client.release(entry.packetId)
        : client.publish(entry.topic, message.payload, { qos: entry.qos, retain: entry.retain, properties, messageId: entry.packetId, dup: resend });
    }
    void sent.then((result) => {
      if (entry.qos > 0 && generation === this.generation) this.inflight--;
      // A failure means the connection went; onClose has put the message back in line.
      if (!result.ok) return;
      if (result.value.reasonCode >= 0x80) {
        this.refused++;
        this.log.warning(
          `Bridge ${escape(this.name)}: the remote refused a message on ${escape(entry.topic)} (${reasonString(result.value.reasonCode)}); it is not sent again.`,
        );
      } else {
        this.messagesOut++;
      }
      if (entry.qos > 0) this.queue.finish(entry);
      this.pump();
    });
  }

  // ---- Remote → local --------------------------------------------------------------

  private onRemoteMessage(m: RemoteMessage): void {
    if (m.qos === 2) {
      this.heldVersion++;
      this.incomingLog?.heldDone(m.messageId);
    }
    if (this.stopped) return;
    const mapped = this.topics.localTopicOf(m.topic);
    if (!mapped || !isValidTopicName(mapped.topic)) {
      this.log.debug(`Bridge ${escape(this.name)} ignored a message on ${escape(m.topic)}: no topic line maps it.`);
      return;
    }
    const v5 = this.config.protocolVersion === 5;
    const expiry = m.properties.messageExpiryInterval;
    // A retained payload is kept: copy it out of the socket chunk it was sliced from.
    const payload = m.retain ? Buffer.from(m.payload) : m.payload;
    const message = new Message(
      mapped.topic,
      payload,
      m.qos,
      m.retain,
      v5 ? fromPacketProperties(m.properties) : undefined,
      expiry !== undefined ? Date.now() + expiry * 1000 : undefined,
      // Marks it as ours, so our own local subscription does not send it back.
      this.localClientId,
    );
    this.messagesIn++;
    this.broker.stats.publishReceived++;
    this.broker.route(message, undefined);
  }

  // ---- State -----------------------------------------------------------------------

  private setState(state: BridgeState): void {
    if (this.state === state) return;
    // "Down since 10:02" must not restart at every retry: only connected ↔ not counts.
    if ((state === 'connected') !== (this.state === 'connected')) this.since = Date.now();
    this.state = state;
    this.publishSys();
  }

  private notifyLocal(connected: boolean): void {
    if (!this.config.notifications) return;
    this.broker.publish(this.notificationTopic, connected ? '1' : '0', { qos: 1, retain: true });
  }

  private publishSys(): void {
    this.sys.publish({
      state: this.state,
      since: Math.floor(this.since / 1000),
      lastError: this.lastError,
      address: this.addressText(),
      messagesIn: this.messagesIn,
      messagesOut: this.messagesOut,
      queued: this.queue.size,
      dropped: this.queue.dropped + this.droppedQos0,
    });
  }

  private addressText(): string {
    const a = this.config.addresses[this.addressIndex];
    return a ? `${a.host}:${a.port}` : '';
  }
}

/** The forwardable properties of a local message, for a v5 PUBLISH to the remote. */
function toPublishProperties(message: Message): PublishProperties | undefined {
  const p = message.properties;
  const expiresAt = message.expiresAt;
  if (!p && expiresAt === undefined) return undefined;
  const out: PublishProperties = {};
  if (p?.payloadFormatIndicator !== undefined) out.payloadFormatIndicator = p.payloadFormatIndicator;
  if (p?.contentType !== undefined) out.contentType = p.contentType;
  if (p?.responseTopic !== undefined) out.responseTopic = p.responseTopic;
  if (p?.correlationData !== undefined) out.correlationData = p.correlationData;
  if (p?.userProperties) {
    const user: Record<string, string | string[]> = {};
    for (const { key, value } of p.userProperties) {
      const had = user[key];
      user[key] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
    }
    out.userProperties = user;
  }
  // The remaining lifetime, as a broker forwards it [MQTT-3.3.2-6].
  if (expiresAt !== undefined) out.messageExpiryInterval = Math.max(1, Math.ceil((expiresAt - Date.now()) / 1000));
  return out;
}

/** The reason a connection failed, in libmosquitto's words where it has some. */
function describe(error: ClientError, protocolVersion: 4 | 5): string {
  if (error.code === 'ECONNACK' && error.reasonCode !== undefined) {
    return protocolVersion === 5 ? `connection refused: ${reasonString(error.reasonCode)}` : connackString(error.reasonCode);
  }
  if (error.code === 'ELOOKUP') return 'host name lookup failed';
  if (error.code === 'EKEEPALIVE') return 'no answer within the keepalive interval';
  if (error.code === 'ECLOSED' && error.reasonCode !== undefined) return `the remote disconnected us (${reasonString(error.reasonCode)})`;
  return error.code === 'ETLS' ? `TLS: ${error.message}` : error.message;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

import { allowAll, type AuthRequest, type AuthResult, type ClientIdentity, type Security } from '../auth/Security';
import type { StoreSnapshot, StoredMessage, StoredSession, StoredWill } from '../persistence/StoreSnapshot';
import { SharedMessages, fromStored, isPersistent, storedSession, toStored } from './storedForms';
import { silentLogger, escape, type Logger } from '../log/Logger';
import { BrokerStats } from './BrokerStats';
import { guardedAsync, guardedCheck, guardedNotify } from './hookGuards';
import type { ChangeLog } from './ChangeLog';
import type { ClientLink, ProtocolVersion } from './ClientLink';
import { LocalClient, type LocalHandler } from './LocalClient';
import { MemoryAccount, messageBytes, subscriptionBytes } from './MemoryAccount';
import { Message, type QoS } from './Message';
import { RetainedCursor } from './RetainedCursor';
import { RetainedStore } from './RetainedStore';
import { DeliveryOutcome, Session, type SessionLimits } from './Session';
import { isShareGroup, outgoingQos, subscriptionKey, type ShareGroup, type Subscription, type SubscriptionEntry } from './Subscription';
import { TopicTree } from './TopicTree';
import { isBridgeStateTopic, isValidTopicFilter, isValidTopicName, parseSharedFilter } from './topics';
import type { Will } from './Will';

/** Limits the broker enforces; names follow mosquitto's options (see docs/config.md). */
export interface BrokerLimits extends SessionLimits {
  maxConnections: number;
  messageSizeLimit: number;
  maxPacketSize: number;
  maxKeepalive: number;
  retainAvailable: boolean;
  allowZeroLengthClientId: boolean;
  autoIdPrefix: string;
  connectTimeout: number;
  /** Seconds an offline persistent session is kept at most, whatever it asked for; undefined: as asked. */
  persistentClientExpiration: number | undefined;
  /** Sessions that outlive their connection (connected or not); 0: no limit. New ones beyond are refused. */
  maxPersistentSessions: number;
  /** Retained messages, and their bytes, held at most; 0: no limit. A new retained topic beyond is refused. */
  maxRetainedMessages: number;
  maxRetainedBytes: number;
  /** Bytes of messages and packet buffers the broker holds before it refuses new PUBLISHes; 0: no limit. */
  memoryLimit: number;
  /** Subscriptions one client may hold; 0: no limit. A new one beyond is refused (0x97). */
  maxSubscriptionsPerClient: number;
  upgradeOutgoingQos: boolean;
  /**
   * Seconds a connected subscriber with messages outstanding may make no progress at all
   * (no acknowledgement, no byte taken by its socket) before it is disconnected.
   */
  stallTimeout: number;
}

export const DEFAULT_LIMITS: BrokerLimits = {
  maxConnections: -1,
  messageSizeLimit: 0,
  maxPacketSize: 0,
  maxKeepalive: 65535,
  retainAvailable: true,
  allowZeroLengthClientId: true,
  autoIdPrefix: 'auto-',
  connectTimeout: 10,
  persistentClientExpiration: undefined,
  maxPersistentSessions: 0,
  maxRetainedMessages: 0,
  maxRetainedBytes: 0,
  memoryLimit: 0,
  maxSubscriptionsPerClient: 0,
  upgradeOutgoingQos: false,
  stallTimeout: 30,
  publisherHoldTimeout: 1,
  maxInflightMessages: 20,
  maxQueuedMessages: 1000,
  maxQueuedBytes: 0,
  queueQos0Messages: false,
  maxBacklogBytes: 1024 * 1024,
};

/** A connected client, as hooks and the status page see it. */
export interface ClientInfo {
  clientId: string;
  username: string | undefined;
  remoteAddress: string;
  protocolVersion: ProtocolVersion;
  connectedAt: number;
}

/**
 * Places where an embedding program plugs in. Every hook is optional. A hook that throws
 * (or rejects) is logged and never takes the broker down: a check counts as a refusal, a
 * failing onConnected or onMessage closes that one client.
 */
export interface BrokerHooks {
  /** Called before authentication; return false to refuse (CONNACK "not authorised"). */
  onConnect?(client: ClientInfo): boolean | Promise<boolean>;
  /** Called once a client is accepted (after CONNACK is decided). */
  onConnected?(client: ClientInfo): void;
  /** Replaces the Security's authentication when given. */
  authenticate?(request: AuthRequest): AuthResult | Promise<AuthResult>;
  /** Extra publish check, after the Security's ACL. */
  authorizePublish?(client: ClientIdentity, topic: string): boolean;
  /** Extra subscribe check, after the Security's ACL. */
  authorizeSubscribe?(client: ClientIdentity, filter: string): boolean;
  /** Observes every message the broker routes (clients', wills, local publishes, not $SYS). */
  onMessage?(message: Message, client: ClientInfo | undefined): void;
  onDisconnect?(client: ClientInfo): void;
}

export interface BrokerOptions {
  security?: Security;
  hooks?: BrokerHooks;
  limits?: Partial<BrokerLimits>;
  logger?: Logger;
}

export interface ConnectRequest {
  clientId: string;
  username: string | undefined;
  password: Buffer | undefined;
  remoteAddress: string;
  certificateIdentity: string | undefined;
  protocolVersion: ProtocolVersion;
  cleanStart: boolean;
  /** Seconds; NEVER_EXPIRES for a v3 clean-session-false client. */
  sessionExpiryInterval: number;
  receiveMaximum: number;
  will: Will | undefined;
  link: ClientLink;
}

export type ConnectRefusal = AuthResult | 'server-busy' | 'session-limit';

export type ConnectOutcome =
  | { accepted: true; session: Session; sessionPresent: boolean }
  | { accepted: false; reason: Exclude<ConnectRefusal, 'ok'> };

export interface SubscribeOptions {
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  subscriptionId: number | undefined;
}

/** What a client whose hook failed is disconnected with (MQTT 5 0x83). */
const IMPLEMENTATION_SPECIFIC_ERROR = 0x83;

/** SUBSCRIBE results other than a granted QoS (MQTT 5 reason codes). */
export const SUBSCRIBE_NOT_AUTHORIZED = 0x87;
export const SUBSCRIBE_TOPIC_FILTER_INVALID = 0x8f;
export const SUBSCRIBE_SHARED_NOT_SUPPORTED = 0x9e;
export const SUBSCRIBE_QUOTA_EXCEEDED = 0x97;

interface PendingWill {
  will: Will;
  identity: ClientIdentity;
  publishAt: number;
}

/**
 * The MQTT broker: sessions, subscriptions, retained messages and routing. It knows
 * nothing of sockets: protocol handlers call it, and it answers through each client's
 * ClientLink. Programs embed it directly: `new Broker()`, `publish()`, `subscribe()`.
 */
export class Broker {
  readonly stats = new BrokerStats();
  /**
   * Units of work done, one per packet read, per copy routed and per filter subscribed: how
   * often a connection looks at the clock to see whether its turn is over (InputTurns'
   * TURN_MS), and whether its reads are busy ones (InputTurns).
   */
  work = 0;
  readonly retained = new RetainedStore();
  /** What clients make the broker hold, for memory_limit. */
  readonly memory = new MemoryAccount(this.retained);
  /** Where sessions count their queues: `memory` when memory_limit is set. */
  private readonly queueAccount: MemoryAccount | undefined;
  readonly subscriptions = new TopicTree();
  readonly sessions = new Map<string, Session>();
  readonly limits: BrokerLimits;
  security: Security;
  readonly hooks: BrokerHooks;
  readonly log: Logger;
  connectedCount = 0;
  /** CONNECTs being authenticated: they count against max_connections too. */
  private connecting = 0;
  /** Bumped on any change persistence should save (sessions, subscriptions, queues). */
  private sessionChanges = 0;
  private readonly pendingWills = new Map<string, PendingWill>();
  /** route()'s scratch map: v3 sessions a message matches → the highest QoS among their subscriptions. */
  private readonly v3Copies = new Map<Session, QoS>();
  private readonly connectedAt = new Map<Session, number>();
  /** How each connected client was accepted: the Security generation then, its certificate identity. */
  private readonly acceptedAs = new Map<Session, { generation: number; certificateIdentity: string | undefined }>();
  private sweepTimer: NodeJS.Timeout | undefined;
  /** The journal, when one runs: told every change persistence keeps, as it happens. */
  private changeLog: ChangeLog | undefined;
  private localCount = 0;
  /** In-process subscribers that watch without counting as a receiver (the LuCI explorer). */
  private readonly observers = new Set<Session>();
  private closed = false;
  private restoring = false;

  constructor(options: BrokerOptions = {}) {
    this.security = options.security ?? allowAll;
    this.hooks = options.hooks ?? {};
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.log = options.logger ?? silentLogger();
    this.memory.limit = this.limits.memoryLimit;
    // Without memory_limit nobody asks what the queues hold: no count per queued delivery.
    this.queueAccount = this.memory.limit > 0 ? this.memory : undefined;
    this.sweepTimer = setInterval(() => this.sweep(Date.now()), 1000);
    this.sweepTimer.unref();
  }

  /** Changes since start; persistence saves when this differs from what it last saved. */
  get changes(): number {
    return this.retained.version + this.sessionChanges;
  }

  // ---- Embedding API -------------------------------------------------------------

  /**
   * Publishes as the broker itself, like any client would (retained, QoS, properties).
   * Returns the routed message, which local subscribers receive as this same object.
   */
  publish(
    topic: string,
    payload: string | Buffer,
    options: { qos?: QoS; retain?: boolean; properties?: Message['properties'] } = {},
  ): Message {
    if (!isValidTopicName(topic)) throw new Error(`invalid topic name: ${JSON.stringify(topic)}`);
    const qos = options.qos;
    if (qos !== undefined && qos !== 0 && qos !== 1 && qos !== 2) throw new Error(`invalid QoS: ${String(qos)}`);
    const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
    const message = new Message(topic, body, options.qos ?? 0, options.retain ?? false, options.properties, undefined, undefined);
    this.route(message, undefined);
    return message;
  }

  /**
   * Subscribes in-process. The handler receives every matching message (retained ones
   * first, with `retain` set, unless `retained` is false). Returns a function that
   * unsubscribes. The ACL and the subscribe hooks govern network clients, not the
   * embedding program (nor the bridges, which mosquitto lets through its ACL too). An
   * `observer` does not count as a receiver: a v5 publisher still hears "no matching
   * subscribers" when it is the only one.
   */
  subscribe(
    filter: string,
    handler: LocalHandler,
    options: { qos?: QoS; retained?: boolean; observer?: boolean } = {},
  ): () => void {
    const id = `$local-${++this.localCount}`;
    const client = new LocalClient(handler, this.log);
    const session = new Session(id, 5, this.limits);
    session.link = client;
    client.session = session;
    const result = this.addSubscription(session, filter, {
      qos: options.qos ?? 2,
      noLocal: false,
      retainAsPublished: true,
      retainHandling: options.retained === false ? 2 : 0,
      subscriptionId: undefined,
    }, true);
    if (result.code > 2) throw new Error(`cannot subscribe to ${JSON.stringify(filter)}: reason 0x${result.code.toString(16)}`);
    this.sendRetained(session, result.subscription!, true);
    if (options.observer) this.observers.add(session);
    return () => {
      for (const sub of session.subscriptions.values()) this.forgetSubscription(sub);
      session.subscriptions.clear();
      session.clearMessages();
      session.link = null;
      this.observers.delete(session);
    };
  }

  /** Subscriptions as $SYS and the status page count them: observers are not subscribers. */
  get subscriptionCount(): number {
    let n = this.subscriptions.count;
    for (const s of this.observers) n -= s.subscriptions.size;
    return n;
  }

  getClientCount(): number {
    return this.connectedCount;
  }

  clients(): ClientInfo[] {
    const out: ClientInfo[] = [];
    for (const [session, connectedAt] of this.connectedAt) {
      const link = session.link;
      if (!link) continue;
      out.push({
        clientId: session.clientId,
        username: session.username,
        remoteAddress: link.remoteAddress,
        protocolVersion: link.protocolVersion,
        connectedAt,
      });
    }
    return out;
  }

  /**
   * Closes a connected client's connection as the server (v5 DISCONNECT 0x98, Administrative
   * action). Its will is published as for any connection the server ends [MQTT-3.1.2-8];
   * the session stays as its expiry says. False when no such client is connected.
   */
  kick(clientId: string): boolean {
    const link = this.sessions.get(clientId)?.link;
    if (!link) return false;
    link.close(0x98, 'administrative action');
    return true;
  }

  /** Ends an offline session now (as its expiry would); false when none is offline under that id. */
  removeSession(clientId: string): boolean {
    const session = this.sessions.get(clientId);
    if (!session || session.link !== null || clientId.startsWith('$local-')) return false;
    this.endSession(session);
    return true;
  }

  /** Disconnects every client and stops the broker's timers. */
  close(): void {
    this.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    for (const session of this.sessions.values()) session.link?.close(0x8b, 'server shutting down');
  }

  // ---- Connections -----------------------------------------------------------------

  async connect(request: ConnectRequest): Promise<ConnectOutcome> {
    if (this.closed) return { accepted: false, reason: 'server-busy' };
    const info: ClientInfo = {
      clientId: request.clientId,
      username: request.username,
      remoteAddress: request.remoteAddress,
      protocolVersion: request.protocolVersion,
      connectedAt: Date.now(),
    };
    // Counted from CONNECT, not from acceptance: logins waiting for a password check hold
    // sockets and memory too.
    const max = this.limits.maxConnections;
    if (max >= 0 && this.connectedCount + this.connecting >= max) return { accepted: false, reason: 'server-busy' };
    this.connecting++;
    const security = this.security;
    const generation = security.generation ?? 0;
    let auth: AuthResult;
    try {
      auth = await this.authenticate(request, info);
    } finally {
      this.connecting--;
    }
    if (auth !== 'ok') return { accepted: false, reason: auth };
    // Users reloaded while this client was being checked: it is held to the new ones too.
    const identity = { clientId: request.clientId, username: request.username, certificateIdentity: request.certificateIdentity };
    if (!this.hooks.authenticate && (security.generation ?? 0) !== generation && security.stillAuthenticated?.(identity, generation) === false) {
      return { accepted: false, reason: 'bad-credentials' };
    }
    if (this.closed || (max >= 0 && this.connectedCount >= max)) return { accepted: false, reason: 'server-busy' };

    const { clientId } = request;
    let session = this.sessions.get(clientId);
    if (session === undefined && request.sessionExpiryInterval !== 0 && this.sessionsFull()) {
      this.log.warning(`Client ${escape(clientId)} refused a persistent session: max_persistent_sessions reached.`);
      return { accepted: false, reason: 'session-limit' };
    }
    if (session?.link) {
      if (this.log.isEnabled('notice')) this.log.notice(`Client ${escape(clientId)} already connected, closing old connection.`);
      const old = session.link;
      // Detached as of now: a session live until this moment has not expired (it was
      // judged by a stale disconnect time, and a v5 session was thrown away).
      session.detach(info.connectedAt);
      this.connectedAt.delete(session);
      old.close(0x8e, 'session taken over');
    }
    let sessionPresent = false;
    if (session && (request.cleanStart || this.hasExpired(session, info.connectedAt))) {
      // Ending the session sends a will still waiting for its delay (a taken-over
      // connection's included) [MQTT-3.1.3-9]...
      this.endSession(session);
      session = undefined;
    }
    // ...and a reconnect to the session before the delay has passed cancels it.
    if (this.pendingWills.delete(clientId)) this.changeLog?.pendingWill(clientId, undefined, undefined, 0);
    if (session) {
      sessionPresent = true;
      session.protocolVersion = request.protocolVersion;
      // Whoever connects with this client id may read less than the client that left these
      // messages queued (another user, or an ACL reloaded since): check them again.
      const identity: ClientIdentity = { clientId, username: request.username };
      session.discardUnreadable((m) => this.security.canRead(identity, m.topic));
    } else {
      session = new Session(clientId, request.protocolVersion, this.limits, this.queueAccount);
      this.sessions.set(clientId, session);
    }
    session.username = request.username;
    session.expiryInterval = request.sessionExpiryInterval;
    session.receiveMaximum = request.receiveMaximum;
    session.link = request.link;
    this.sessionChanges++;
    this.logSession(session, true);
    this.connectedAt.set(session, info.connectedAt);
    this.acceptedAs.set(session, { generation: security.generation ?? 0, certificateIdentity: request.certificateIdentity });
    this.connectedCount++;
    this.stats.connections++;
    if (this.connectedCount > this.stats.clientsMaximum) this.stats.clientsMaximum = this.connectedCount;
    const hooks = this.hooks;
    if (hooks.onConnected && !guardedNotify(this.log, 'onConnected hook', hooks, hooks.onConnected, info, undefined)) {
      request.link.close(IMPLEMENTATION_SPECIFIC_ERROR, 'onConnected hook failed');
    }
    return { accepted: true, session, sessionPresent };
  }

  /** onConnect, then the authenticate hook or the Security; a throwing hook refuses. */
  private async authenticate(request: ConnectRequest, info: ClientInfo): Promise<AuthResult> {
    const hooks = this.hooks;
    if (hooks.onConnect && !(await guardedAsync(this.log, 'onConnect hook', hooks, hooks.onConnect, info, false))) {
      return 'not-authorized';
    }
    if (hooks.authenticate) return guardedAsync(this.log, 'authenticate hook', hooks, hooks.authenticate, request, 'not-authorized');
    return guardedAsync(this.log, 'Security.authenticate', this.security, this.security.authenticate, request, 'not-authorized');
  }

  /**
   * A connected client went away. `will` is given for an unclean loss (no DISCONNECT, or
   * v5 DISCONNECT 0x04); the protocol layer passes undefined after a normal DISCONNECT.
   */
  disconnect(session: Session, link: ClientLink, will: Will | undefined): void {
    this.connectedCount--;
    const now = Date.now();
    const current = session.link === link;
    if (current) {
      const connectedAt = this.connectedAt.get(session) ?? now;
      this.connectedAt.delete(session);
      this.acceptedAs.delete(session);
      session.detach(now);
      if (session.expiryInterval !== 0) this.logSessionMeta(session);
      const hooks = this.hooks;
      if (hooks.onDisconnect) {
        const client: ClientInfo = {
          clientId: session.clientId,
          username: session.username,
          remoteAddress: link.remoteAddress,
          protocolVersion: link.protocolVersion,
          connectedAt,
        };
        guardedNotify(this.log, 'onDisconnect hook', hooks, hooks.onDisconnect, client, undefined);
      }
      if (session.expiryInterval === 0) this.endSession(session);
    }
    if (will && !this.closed) {
      const identity: ClientIdentity = { clientId: session.clientId, username: session.username };
      const sessionEnds = current && session.expiryInterval === 0;
      if (will.delay > 0 && !sessionEnds) {
        const publishAt = now + will.delay * 1000;
        this.pendingWills.set(session.clientId, { will, identity, publishAt });
        this.changeLog?.pendingWill(session.clientId, session.username, will, publishAt);
      } else {
        this.publishWill(will, identity);
      }
    }
  }

  /** Updates a session's expiry from a v5 DISCONNECT. */
  setSessionExpiry(session: Session, seconds: number): void {
    session.expiryInterval = seconds;
    this.sessionChanges++;
    this.logSession(session, false);
  }

  /** A QoS 2 PUBLISH is received (`pending`) or its PUBREL came; journaled before PUBREC/PUBCOMP. */
  incomingQos2(session: Session, packetId: number, pending: boolean): boolean {
    let ids = session.incomingQos2;
    if (pending) (ids ??= session.incomingQos2 = new Set()).add(packetId);
    else if (!ids?.delete(packetId)) return false;
    if (session.changeLog !== undefined) this.changeLog?.incomingQos2(session, packetId, pending);
    return true;
  }

  // ---- Publishing ------------------------------------------------------------------

  /**
   * Whether storing this retained message stays within max_retained_messages and
   * max_retained_bytes. Replacing or clearing a topic's message always may.
   */
  canRetain(message: Message): boolean {
    const limits = this.limits;
    // No limits (mosquitto's default): no lookup on every retained PUBLISH.
    if (message.payload.length === 0 || (limits.maxRetainedMessages === 0 && limits.maxRetainedBytes === 0)) return true;
    const old = this.retained.get(message.topic);
    if (old === undefined && limits.maxRetainedMessages > 0 && this.retained.size >= limits.maxRetainedMessages) return false;
    if (limits.maxRetainedBytes === 0) return true;
    const bytes = this.retained.bytes - (old === undefined ? 0 : messageBytes(old)) + messageBytes(message);
    return bytes <= limits.maxRetainedBytes;
  }

  canWrite(session: Session, topic: string): boolean {
    if (!this.security.canWrite(session, topic)) return false;
    const hooks = this.hooks;
    return hooks.authorizePublish ? guardedCheck(this.log, 'authorizePublish hook', hooks, hooks.authorizePublish, session, topic) : true;
  }

  /** Routes a message from a client (or the broker when `from` is undefined); false: no subscription matched. */
  route(message: Message, from: Session | undefined): boolean {
    const stats = this.stats;
    if (message.retain && this.limits.retainAvailable) {
      this.retained.set(message);
      // $SYS is rebuilt at start and never saved (see snapshot()): not journaled either.
      const topic = message.topic;
      if (this.changeLog !== undefined && (topic.charCodeAt(0) !== 0x24 || !topic.startsWith('$SYS/'))) this.changeLog.retained(message);
    }
    const hooks = this.hooks;
    let hookFailed = false;
    if (hooks.onMessage && message.topic.charCodeAt(0) !== 0x24) {
      hookFailed = !guardedNotify(this.log, 'onMessage hook', hooks, hooks.onMessage, message, from ? this.infoOf(from) : undefined);
    }
    const entries = this.subscriptions.match(message.topic);
    this.work += entries.length;
    const security = this.security;
    const upgrade = this.limits.upgradeOutgoingQos;
    const publisher = from?.link ?? undefined;
    const copies = entries.overlapping ? this.oneCopyPerV3Client(entries) : undefined;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      const sub = isShareGroup(entry) ? this.pickShareMember(entry) : entry;
      const session = sub.session;
      let granted = sub.qos;
      if (copies !== undefined && entry === sub && session.protocolVersion !== 5) {
        const best = copies.get(session);
        if (best === undefined) continue; // this client has its copy already
        copies.delete(session);
        granted = best;
      }
      if (sub.noLocal && session === from) continue;
      if (!security.canRead(session, message.topic) && !(session.link instanceof LocalClient)) continue;
      const retain = sub.retainAsPublished ? message.retain : false;
      const outcome = session.deliver(message, outgoingQos(message.qos, granted, upgrade), retain, sub.subscriptionId);
      if (outcome === DeliveryOutcome.Dropped) stats.publishDropped++;
      else if (outcome !== DeliveryOutcome.Sent) {
        if (session.expiryInterval !== 0) this.sessionChanges++;
        if (outcome === DeliveryOutcome.Congested && publisher !== undefined && session.link !== null) {
          session.holdPublisher(publisher);
        }
      }
    }
    // After the fan-out: closing may publish a will, which routes in turn.
    if (hookFailed) publisher?.close(IMPLEMENTATION_SPECIFIC_ERROR, 'onMessage hook failed');
    return entries.length > 0 && (this.observers.size === 0 || this.hasReceiver(entries));
  }

  /** Records a QoS 1/2 acknowledgement and sends what the window now allows. */
  acknowledge(session: Session, packetId: number): boolean {
    const known = session.acknowledge(packetId);
    if (known && session.expiryInterval !== 0) this.sessionChanges++;
    return known;
  }

  /**
   * After the Security's users or rules changed (SIGHUP): disconnects every client it no
   * longer accepts (v5: DISCONNECT 0x98, and no will, as mosquitto 2.0's
   * mosquitto_security_apply_default), drops subscriptions the ACL no longer allows and
   * queued messages it no longer lets a session read. In-process clients are trusted.
   */
  recheckClients(): { disconnected: number; unsubscribed: number } {
    const security = this.security;
    const generation = security.generation ?? 0;
    let disconnected = 0;
    let unsubscribed = 0;
    for (const session of [...this.sessions.values()]) {
      const link = session.link;
      if (link instanceof LocalClient) continue;
      const accepted = link ? this.acceptedAs.get(session) : undefined;
      if (link && accepted && !this.hooks.authenticate && security.stillAuthenticated) {
        const identity = { clientId: session.clientId, username: session.username, certificateIdentity: accepted.certificateIdentity };
        if (!security.stillAuthenticated(identity, accepted.generation)) {
          link.close(0x98, 'no longer authorised after reload', false);
          disconnected++;
          continue;
        }
        accepted.generation = generation;
      }
      for (const sub of [...session.subscriptions.values()]) {
        const filter = subscriptionKey(sub.filter, sub.group);
        const hooks = this.hooks;
        const allowed =
          security.canSubscribe(session, sub.filter) &&
          (!hooks.authorizeSubscribe || guardedCheck(this.log, 'authorizeSubscribe hook', hooks, hooks.authorizeSubscribe, session, filter));
        if (allowed) continue;
        this.removeSubscription(session, filter);
        this.log.notice(`Client ${escape(session.clientId)} unsubscribed from ${escape(filter)}: no longer allowed after reload.`);
        unsubscribed++;
      }
      session.discardUnreadable((m) => security.canRead(session, m.topic));
    }
    return { disconnected, unsubscribed };
  }

  // ---- Subscriptions ---------------------------------------------------------------

  /**
   * Adds or replaces one subscription. Returns the granted QoS (0–2) or a v5 reason code
   * (≥ 0x80), and whether the subscription is new (for Retain Handling 1).
   */
  addSubscription(
    session: Session,
    filter: string,
    options: SubscribeOptions,
    /** In-process (broker.subscribe): no ACL or hook check. */
    trusted = false,
  ): { code: number; isNew: boolean; subscription?: Subscription } {
    this.work++;
    const shared = parseSharedFilter(filter);
    if (shared === null) return { code: SUBSCRIBE_TOPIC_FILTER_INVALID, isNew: false };
    const matchFilter = shared ? shared.filter : filter;
    if (!isValidTopicFilter(matchFilter)) return { code: SUBSCRIBE_TOPIC_FILTER_INVALID, isNew: false };
    if (!trusted && !this.security.canSubscribe(session, matchFilter)) return { code: SUBSCRIBE_NOT_AUTHORIZED, isNew: false };
    const hooks = this.hooks;
    if (!trusted && hooks.authorizeSubscribe && !guardedCheck(this.log, 'authorizeSubscribe hook', hooks, hooks.authorizeSubscribe, session, filter)) {
      return { code: SUBSCRIBE_NOT_AUTHORIZED, isNew: false };
    }
    const key = subscriptionKey(matchFilter, shared?.group);
    const existing = session.subscriptions.get(key);
    const most = this.limits.maxSubscriptionsPerClient;
    // What was saved is restored whole: the limits apply to what clients ask for now.
    if (existing === undefined && !trusted && !this.restoring) {
      if (most > 0 && session.subscriptions.size >= most) return { code: SUBSCRIBE_QUOTA_EXCEEDED, isNew: false };
      if (!this.memory.admits(subscriptionBytes(matchFilter))) return { code: SUBSCRIBE_QUOTA_EXCEEDED, isNew: false };
    }
    this.sessionChanges++;
    if (existing) {
      // Replacing keeps the tree entry; only the options change [MQTT-3.8.4-3].
      existing.qos = options.qos;
      existing.noLocal = options.noLocal;
      existing.retainAsPublished = options.retainAsPublished;
      existing.retainHandling = options.retainHandling;
      existing.subscriptionId = options.subscriptionId;
      this.logSessionMeta(session);
      return { code: options.qos, isNew: false, subscription: existing };
    }
    const subscription: Subscription = {
      session,
      filter: matchFilter,
      group: shared?.group,
      qos: options.qos,
      noLocal: options.noLocal,
      retainAsPublished: options.retainAsPublished,
      retainHandling: options.retainHandling,
      subscriptionId: options.subscriptionId,
    };
    session.subscriptions.set(key, subscription);
    this.subscriptions.add(subscription);
    this.memory.subscriptionBytes += subscriptionBytes(matchFilter);
    this.logSessionMeta(session);
    return { code: options.qos, isNew: true, subscription };
  }

  /**
   * Sends the retained messages a subscription asks for (after its SUBACK), as the session
   * has room: a cursor over the retained store, so none is lost to the session's queue
   * limits whatever their number. Retain Handling 1 sends them for a new subscription only,
   * 2 never [MQTT-3.3.1-9, MQTT-3.3.1-10, MQTT-3.3.1-11].
   */
  sendRetained(session: Session, subscription: Subscription, isNew: boolean): void {
    // Shared subscriptions never get retained messages (MQTT 5 §4.8.2).
    if (subscription.group !== undefined) return;
    if (subscription.retainHandling === 2 || (subscription.retainHandling === 1 && !isNew)) return;
    const trusted = session.link instanceof LocalClient;
    const mayRead = (m: Message): boolean => trusted || this.security.canRead(session, m.topic);
    const matches = this.retained.cursor(subscription.filter);
    session.addRetained(new RetainedCursor(subscription, this.retained, matches, mayRead, this.limits.upgradeOutgoingQos));
  }

  /** Removes one subscription; false when the session had none for that filter. */
  removeSubscription(session: Session, filter: string): boolean {
    const shared = parseSharedFilter(filter);
    const key = shared ? subscriptionKey(shared.filter, shared.group) : filter;
    const sub = session.subscriptions.get(key);
    if (!sub) return false;
    session.subscriptions.delete(key);
    session.dropRetained(sub);
    this.forgetSubscription(sub);
    this.sessionChanges++;
    this.logSessionMeta(session);
    return true;
  }

  // ---- Persistence -----------------------------------------------------------------

  /**
   * Starts telling `log` every change persistence keeps (after restore(), before clients
   * connect); undefined stops it.
   */
  attachChangeLog(log: ChangeLog | undefined): void {
    this.changeLog = log;
    for (const s of this.sessions.values()) s.changeLog = log !== undefined && isPersistent(s) ? log : undefined;
  }

  /** Makes the changes told so far durable: the protocol layer calls it before it writes acknowledgements. */
  commitChanges(): void {
    this.changeLog?.commit();
  }

  /** A persistent session's options or subscriptions changed (its queue did not). */
  private logSessionMeta(session: Session): void {
    if (session.changeLog !== undefined) this.changeLog?.session(session);
  }

  /** Tells the change log where a session stands after connect or a new expiry. */
  private logSession(session: Session, connected: boolean): void {
    const log = this.changeLog;
    if (log === undefined) return;
    if (!isPersistent(session)) {
      if (session.changeLog !== undefined) {
        session.changeLog = undefined;
        log.sessionEnded(session.clientId);
      }
      return;
    }
    const known = session.changeLog !== undefined;
    session.changeLog = log;
    // A resumed session's queue may have been filtered (discardUnreadable): record it whole.
    if (connected || !known) log.sessionWithQueue(session);
    else log.session(session);
  }

  /** The state persistence saves: retained messages and sessions that outlive a disconnect. */
  snapshot(): StoreSnapshot {
    const now = Date.now();
    const retained: StoredMessage[] = [];
    for (const m of this.retained.all()) {
      // $SYS values change every sys_interval and are rebuilt at start: saving them would
      // rewrite the flash on every autosave (mosquitto skips them too).
      if (m.isExpired(now) || m.topic.startsWith('$SYS/')) continue;
      retained.push(toStored(m));
    }
    const sessions: StoredSession[] = [];
    for (const s of this.sessions.values()) if (isPersistent(s)) sessions.push(storedSession(s, now, true));
    const wills: StoredWill[] = [];
    for (const [clientId, pending] of this.pendingWills) {
      const will: StoredWill = { clientId, message: toStored(pending.will.message), publishAt: pending.publishAt };
      if (pending.identity.username !== undefined) will.username = pending.identity.username;
      wills.push(will);
    }
    return wills.length > 0 ? { retained, sessions, wills } : { retained, sessions };
  }

  /** Loads a saved state into an empty broker (at start, before any client connects). */
  restore(snapshot: StoreSnapshot): void {
    this.restoring = true;
    try {
      this.restoreSnapshot(snapshot);
    } finally {
      this.restoring = false;
    }
  }

  private restoreSnapshot(snapshot: StoreSnapshot): void {
    for (const r of snapshot.retained) this.retained.set(fromStored(r), 0);
    const shared = new SharedMessages();
    for (const s of snapshot.sessions) {
      const session = new Session(s.clientId, s.protocolVersion, this.limits, this.queueAccount);
      session.username = s.username;
      session.expiryInterval = s.expiryInterval;
      session.disconnectedAt = s.disconnectedAt;
      if (s.incomingQos2Ids.length > 0) session.incomingQos2 = new Set(s.incomingQos2Ids);
      this.sessions.set(s.clientId, session);
      for (const sub of s.subscriptions) {
        this.addSubscription(session, sub.filter, {
          qos: sub.qos,
          noLocal: sub.noLocal,
          retainAsPublished: sub.retainAsPublished,
          retainHandling: sub.retainHandling,
          subscriptionId: sub.subscriptionId,
        });
      }
      for (const q of s.queue) {
        session.restore({
          message: shared.of(q),
          qos: q.qos,
          retain: q.retain,
          subscriptionId: q.subscriptionIds?.[0],
          packetId: q.packetId ?? 0,
          released: q.released ?? false,
        });
      }
    }
    // A will whose delay ran out while the broker was down is published by the first sweep.
    for (const w of snapshot.wills ?? []) {
      const will: Will = { message: fromStored(w.message), delay: Math.max(0, Math.ceil((w.publishAt - Date.now()) / 1000)) };
      this.pendingWills.set(w.clientId, { will, identity: { clientId: w.clientId, username: w.username }, publishAt: w.publishAt });
    }
  }

  // ---- Internals -------------------------------------------------------------------

  private forgetSubscription(subscription: Subscription): void {
    this.subscriptions.remove(subscription);
    this.memory.subscriptionBytes -= subscriptionBytes(subscription.filter);
  }

  /** Whether max_persistent_sessions sessions that outlive their connection exist already. */
  private sessionsFull(): boolean {
    const max = this.limits.maxPersistentSessions;
    if (max === 0 || this.sessions.size < max) return false;
    let persistent = 0;
    for (const s of this.sessions.values()) if (s.expiryInterval !== 0 && ++persistent >= max) return true;
    return false;
  }

  /**
   * An offline session's end: its own expiry, capped by persistent_client_expiration for every
   * session, v5 Session Expiry included, as mosquitto 2.0 does (session_expiry.c).
   */
  private hasExpired(session: Session, now: number): boolean {
    if (session.isExpired(now)) return true;
    const cap = this.limits.persistentClientExpiration;
    return cap !== undefined && session.link === null && session.expiryInterval !== 0 && now - session.disconnectedAt >= cap * 1000;
  }

  private infoOf(session: Session): ClientInfo | undefined {
    const link = session.link;
    if (!link) return undefined;
    return {
      clientId: session.clientId,
      username: session.username,
      remoteAddress: link.remoteAddress,
      protocolVersion: link.protocolVersion,
      connectedAt: this.connectedAt.get(session) ?? 0,
    };
  }

  /**
   * Overlapping subscriptions: a v3 client gets one copy of a message, as mosquitto sends
   * it, at the highest QoS among its matching subscriptions [MQTT-3.3.5-1]. A v5 client
   * gets one per subscription, each with its own Subscription Identifier (as mosquitto).
   */
  private oneCopyPerV3Client(entries: readonly SubscriptionEntry[]): Map<Session, QoS> | undefined {
    // A nested route() (from a hook) must not clobber the outer one's map.
    const copies = this.v3Copies.size === 0 ? this.v3Copies : new Map<Session, QoS>();
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (isShareGroup(e) || e.session.protocolVersion === 5) continue;
      const q = copies.get(e.session);
      if (q === undefined || e.qos > q) copies.set(e.session, e.qos);
    }
    return copies.size > 0 ? copies : undefined;
  }

  /** Whether a subscription other than an observer's matched. */
  private hasReceiver(entries: readonly SubscriptionEntry[]): boolean {
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (isShareGroup(e) || !this.observers.has(e.session)) return true;
    }
    return false;
  }

  private pickShareMember(group: ShareGroup): Subscription {
    const members = group.members;
    const n = members.length;
    // Round robin, preferring members that are connected.
    for (let k = 0; k < n; k++) {
      const sub = members[(group.next + k) % n];
      if (sub.session.link !== null) {
        group.next = (group.next + k + 1) % n;
        return sub;
      }
    }
    const sub = members[group.next % n];
    group.next = (group.next + 1) % n;
    return sub;
  }

  private publishWill(will: Will, identity: ClientIdentity): void {
    const topic = will.message.topic;
    if (topic.startsWith('$SYS') && !isBridgeStateTopic(topic)) return;
    if (!this.security.canWrite(identity, topic)) {
      this.log.notice(`Denied will of ${escape(identity.clientId)} on ${escape(topic)}.`);
      return;
    }
    const hooks = this.hooks;
    if (hooks.authorizePublish && !guardedCheck(this.log, 'authorizePublish hook', hooks, hooks.authorizePublish, identity, topic)) return;
    this.stats.publishReceived++;
    this.route(will.message, undefined);
  }

  private endSession(session: Session): void {
    for (const sub of session.subscriptions.values()) this.forgetSubscription(sub);
    session.subscriptions.clear();
    session.clearMessages();
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId);
    this.sessionChanges++;
    if (session.changeLog !== undefined) {
      session.changeLog = undefined;
      this.changeLog?.sessionEnded(session.clientId);
    }
    // A will still waiting for its delay is sent when the session ends [MQTT-3.1.3-9].
    const pending = this.pendingWills.get(session.clientId);
    if (pending) {
      this.pendingWills.delete(session.clientId);
      this.changeLog?.pendingWill(session.clientId, undefined, undefined, 0);
      this.publishWill(pending.will, pending.identity);
    }
  }

  /** Once a second: delayed wills, expired sessions and stalled subscribers. */
  private sweep(now: number): void {
    const stallMs = this.limits.stallTimeout * 1000;
    for (const [clientId, pending] of this.pendingWills) {
      if (now >= pending.publishAt) {
        this.pendingWills.delete(clientId);
        this.changeLog?.pendingWill(clientId, undefined, undefined, 0);
        this.publishWill(pending.will, pending.identity);
      }
    }
    for (const session of this.sessions.values()) {
      const link = session.link;
      if (link !== null) {
        // Disconnecting frees what it holds (its socket backlog); a persistent session stays.
        if (session.isStalled(now, stallMs)) link.close(0x97, 'stopped reading its messages');
        continue;
      }
      if (!this.hasExpired(session, now)) continue;
      if (!session.isExpired(now)) this.log.notice(`Expiring client ${escape(session.clientId)} due to timeout.`);
      this.stats.clientsExpired++;
      this.endSession(session);
    }
  }
}


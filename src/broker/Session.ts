import type { SessionChangeLog } from './ChangeLog';
import type { ClientLink, ProtocolVersion } from './ClientLink';
import type { Message, QoS } from './Message';
import { DeliveryQueue } from './DeliveryQueue';
import type { MemoryAccount } from './MemoryAccount';
import { LATER, type RetainedCursor } from './RetainedCursor';
import type { Subscription } from './Subscription';

/** One message on its way to this session's client. */
export interface Delivery {
  message: Message;
  qos: QoS;
  retain: boolean;
  subscriptionId: number | undefined;
  /** 0 until sent. */
  packetId: number;
  /** QoS 2: PUBREC received, PUBREL sent, waiting for PUBCOMP. */
  released: boolean;
}

/** Limits shared by every session; the broker owns the object and may change it on reload. */
export interface SessionLimits {
  maxInflightMessages: number;
  maxQueuedMessages: number;
  maxQueuedBytes: number;
  queueQos0Messages: boolean;
  /** Transport backlog above which QoS 0 messages to the client are dropped. */
  maxBacklogBytes: number;
  /**
   * Seconds a publisher may be paused, at a time, because this session's queue is long.
   * When it runs out the publisher goes on and this session's messages drop at its queue
   * limits, until its queue is down to half the high-water mark again.
   */
  publisherHoldTimeout: number;
}

/**
 * The transport backlog up to which queued and retained messages are written before the
 * session waits for the transport to drain: enough to keep a socket busy, far below the
 * backlog at which live QoS 0 messages are dropped, so a discovery burst never causes that.
 */
export const PACING_BACKLOG_BYTES = 64 * 1024;
/**
 * Retained-tree nodes one drain may look at before it waits a turn: a wildcard filter such as
 * `scan/+/7` looks at every child of `scan` to find one message, and 50 clients subscribing
 * 100 of those at once would otherwise be one long turn for everyone else.
 */
const DRAIN_VISITS = 2048;

/** What a session tells the broker about a delivery, for statistics and flow control. */
export const enum DeliveryOutcome {
  Sent,
  Queued,
  /** Queued, and the queue is long: the publisher should be slowed. */
  Congested,
  Dropped,
}

/** Session Expiry Interval meaning "never" (MQTT 5 §3.1.2.11.2). */
export const NEVER_EXPIRES = 0xffffffff;

/**
 * The state MQTT keeps per client id: subscriptions, messages in flight and queued, and
 * incoming QoS 2 ids. It outlives connections when the client asked for a persistent
 * session [MQTT-3.1.2-4].
 */
export class Session {
  link: ClientLink | null = null;
  username: string | undefined;
  protocolVersion: ProtocolVersion;
  readonly subscriptions = new Map<string, Subscription>();
  /** Seconds the session outlives its connection; NEVER_EXPIRES for a v3 persistent session. */
  expiryInterval = 0;
  disconnectedAt = 0;
  /** The client's Receive Maximum (v5); the send window is the smaller of this and the limit. */
  receiveMaximum = 65535;
  /** Incoming QoS 2 ids whose PUBREL has not arrived [MQTT-4.3.3-9]. */
  incomingQos2: Set<number> | undefined;
  /** Messages dropped for this session since it was created. */
  dropped = 0;
  /** Set while the session is persistent and a journal runs: told every move of its messages. */
  changeLog: SessionChangeLog | undefined;

  private inflight: Map<number, Delivery> | undefined;
  private readonly queue = new DeliveryQueue();
  private queuedBytes = 0;
  private nextPacketId = 1;
  /** Retained messages still to send for new subscriptions, oldest subscription first. */
  private cursors: RetainedCursor[] | undefined;
  /** A drain waits for the next turn (its retained walk used DRAIN_VISITS). */
  private drainScheduled = false;
  /** Publishers paused because this session's queue was long. */
  private pausedPublishers: ClientLink[] | undefined;
  /** Ends the current hold after `publisherHoldTimeout`. */
  private holdTimer: NodeJS.Timeout | undefined;
  /** A hold ran out: no more holds until the queue is down to low water. */
  private holdSpent = false;
  /** Acknowledgements received, for the stall check. */
  private acks = 0;
  /** Acknowledgements + bytes transmitted at the last stall check, and since when unchanged. */
  private stallMark = -1;
  private stallSince = 0;

  constructor(
    readonly clientId: string,
    protocolVersion: ProtocolVersion,
    private readonly limits: SessionLimits,
    /** Where queued bytes are also counted broker-wide (memory_limit). */
    private readonly account?: MemoryAccount,
  ) {
    this.protocolVersion = protocolVersion;
  }

  get inflightCount(): number {
    return this.inflight?.size ?? 0;
  }

  get queuedCount(): number {
    return this.queue.length;
  }

  private get window(): number {
    const max = this.limits.maxInflightMessages;
    const limit = max > 0 ? max : 65535;
    return limit < this.receiveMaximum ? limit : this.receiveMaximum;
  }

  /** Sends now, queues, or drops one message for this client. */
  deliver(message: Message, qos: QoS, retain: boolean, subscriptionId: number | undefined): DeliveryOutcome {
    const link = this.link;
    if (qos === 0) {
      if (link !== null) {
        if (link.backlog > this.limits.maxBacklogBytes) {
          this.dropped++;
          return DeliveryOutcome.Dropped;
        }
        link.sendPublish(message, 0, retain, 0, false, subscriptionId);
        return DeliveryOutcome.Sent;
      }
      if (!this.limits.queueQos0Messages) return DeliveryOutcome.Dropped;
    } else if (link !== null && this.queue.length === 0 && this.cursors === undefined && this.inflightCount < this.window) {
      this.send({ message, qos, retain, subscriptionId, packetId: 0, released: false }, link, false);
      return DeliveryOutcome.Sent;
    }
    return this.enqueue({ message, qos, retain, subscriptionId, packetId: 0, released: false });
  }

  /**
   * A publisher to resume once this session's queue has drained, or at the latest after
   * `publisherHoldTimeout`, whatever the client's acknowledgement rhythm: a slow subscriber
   * costs only itself. Never the session's own client (it could not read its acks).
   */
  holdPublisher(publisher: ClientLink): void {
    if (this.holdSpent || publisher === this.link || this.limits.publisherHoldTimeout <= 0) return;
    const paused = (this.pausedPublishers ??= []);
    if (paused.includes(publisher)) return;
    paused.push(publisher);
    publisher.pauseReading();
    if (this.holdTimer === undefined) {
      this.holdTimer = setTimeout(endHold, this.limits.publisherHoldTimeout * 1000, this);
      this.holdTimer.unref();
    }
  }

  /** The hold ran out: let the publishers go and drop at the queue limits from now on. */
  endHold(): void {
    this.holdSpent = true;
    this.releasePublishers();
  }

  /** Whether this session holds publishers paused now. */
  get holdsPublishers(): boolean {
    return this.pausedPublishers !== undefined;
  }

  /** PUBACK (QoS 1) or PUBCOMP (QoS 2): the message is done. False for an unknown id. */
  acknowledge(packetId: number): boolean {
    const inflight = this.inflight;
    if (!inflight || !inflight.delete(packetId)) return false;
    this.acks++;
    this.changeLog?.completed(this, packetId);
    this.drain();
    return true;
  }

  /**
   * Once a second, for a connected client: true when it has had messages outstanding (in
   * flight, or bytes its transport has not sent) and made no progress at all for `stallMs`:
   * no acknowledgement, and not one byte taken by its transport. A slow client that moves
   * at all is never stalled; it only loses what its queue cannot hold.
   */
  isStalled(now: number, stallMs: number): boolean {
    const link = this.link;
    if (link === null) return false;
    const mark = this.acks + link.transmitted;
    if (mark !== this.stallMark || (link.backlog === 0 && this.inflightCount === 0)) {
      this.stallMark = mark;
      this.stallSince = now;
      return false;
    }
    return now - this.stallSince >= stallMs;
  }

  /**
   * Starts sending a new subscription's retained messages, after those of the subscriptions
   * before it. The same subscription subscribed again starts over [MQTT-3.3.1-10].
   */
  addRetained(cursor: RetainedCursor): void {
    this.dropRetained(cursor.subscription);
    (this.cursors ??= []).push(cursor);
    this.drain();
  }

  /** Stops sending retained messages for a subscription (unsubscribed or replaced). */
  dropRetained(subscription: Subscription): void {
    const cursors = this.cursors;
    if (cursors === undefined) return;
    const at = cursors.findIndex((c) => c.subscription === subscription);
    if (at < 0) return;
    cursors.splice(at, 1);
    if (cursors.length === 0) this.cursors = undefined;
  }

  /** Retained messages still to send, as subscriptions (for tests and status). */
  get retainedPending(): number {
    return this.cursors?.length ?? 0;
  }

  /** PUBREC: the client has the QoS 2 message; send PUBREL. False for an unknown id. */
  received(packetId: number): boolean {
    const delivery = this.inflight?.get(packetId);
    if (!delivery || delivery.qos !== 2) return false;
    delivery.released = true;
    this.changeLog?.released(this, packetId);
    this.link?.sendPubrel(packetId);
    return true;
  }

  /**
   * Called when a client (re)attaches: resend what was in flight with DUP set
   * [MQTT-4.4.0-1], PUBREL for released QoS 2, then drain the queue.
   */
  resume(): void {
    const link = this.link;
    if (!link) return;
    if (this.inflight) {
      const now = Date.now();
      for (const d of this.inflight.values()) {
        if (d.released) link.sendPubrel(d.packetId);
        else if (d.message.isExpired(now) || !link.sendPublish(d.message, d.qos, d.retain, d.packetId, true, d.subscriptionId)) {
          // Expired, or too large for the client (discarded as if delivered [MQTT-3.1.2-25]).
          this.inflight.delete(d.packetId);
          this.changeLog?.completed(this, d.packetId);
        }
      }
    }
    this.drain();
  }

  /**
   * Sends what the window and the transport have room for: retained messages of new
   * subscriptions first (they were asked for before anything queued after them), then the
   * queue. QoS 1/2 wait for the in-flight window; everything waits while the transport
   * backlog is over PACING_BACKLOG_BYTES, and the link calls back here once it drained.
   * A loop, never a recursion: a message the client cannot take is skipped in place.
   */
  drain(): void {
    const link = this.link;
    if (!link) return;
    const queue = this.queue;
    // Called on every acknowledgement: with nothing waiting, no clock read.
    const now = this.cursors === undefined && queue.length === 0 ? 0 : Date.now();
    const window = this.window;
    let full = false;
    let visitsLeft = DRAIN_VISITS;
    while (this.cursors !== undefined && this.inflightCount < window) {
      if (link.backlog >= PACING_BACKLOG_BYTES) {
        full = true;
        break;
      }
      const cursor = this.cursors[0];
      const before = cursor.visits;
      const message = cursor.next(now, before + visitsLeft);
      visitsLeft -= cursor.visits - before;
      if (message === LATER) {
        // This turn's share of the walk is done: the rest after the other clients had theirs.
        if (!this.drainScheduled) {
          this.drainScheduled = true;
          setImmediate(drainLater, this);
        }
        break;
      }
      if (message === undefined) {
        this.cursors.shift();
        if (this.cursors.length === 0) this.cursors = undefined;
        continue;
      }
      // Retained messages sent for a new subscription keep RETAIN set [MQTT-3.3.1-8].
      const d: Delivery = { message, qos: cursor.qosOf(message), retain: true, subscriptionId: cursor.subscription.subscriptionId, packetId: 0, released: false };
      this.send(d, link, false);
    }
    if (this.cursors === undefined && queue.length > 0) {
      for (let d = queue.peek(); d !== undefined && (d.qos === 0 || this.inflightCount < window); d = queue.peek()) {
        if (link.backlog >= PACING_BACKLOG_BYTES) {
          full = true;
          break;
        }
        queue.shift();
        this.countQueued(d.message, -1);
        if (d.message.isExpired(now)) {
          this.changeLog?.unqueued(this);
          continue;
        }
        this.send(d, link, true);
      }
    }
    if (full) link.requestDrainNotice();
    if (queue.length <= this.lowWater()) {
      this.holdSpent = false;
      this.releasePublishers();
    }
  }

  /** The next turn for a drain that stopped at DRAIN_VISITS. */
  drainTurn(): void {
    this.drainScheduled = false;
    this.drain();
  }

  private releasePublishers(): void {
    if (this.holdTimer !== undefined) {
      clearTimeout(this.holdTimer);
      this.holdTimer = undefined;
    }
    const paused = this.pausedPublishers;
    if (!paused) return;
    this.pausedPublishers = undefined;
    for (const p of paused) p.resumeReading();
  }

  /** Detaches the connection; queued and in-flight messages stay for a persistent session. */
  detach(now: number): void {
    this.link = null;
    this.disconnectedAt = now;
    this.releasePublishers();
  }

  /** Forgets all messages (clean start / session end). */
  clearMessages(): void {
    this.inflight = undefined;
    this.cursors = undefined;
    for (const d of this.queue) this.countQueued(d.message, -1);
    this.queue.clear();
    this.incomingQos2 = undefined;
  }

  /**
   * Drops the messages `mayRead` refuses, in flight and queued: a session resumed under
   * another identity (the same client id, another user) or after an ACL reload must not
   * hand over what the client may not read. A QoS 2 message already received (PUBREC)
   * stays, to finish its exchange. Runs at reconnect only.
   */
  discardUnreadable(mayRead: (message: Message) => boolean): void {
    const inflight = this.inflight;
    if (inflight) {
      for (const [id, d] of inflight) if (!d.released && !mayRead(d.message)) inflight.delete(id);
    }
    if (this.queue.length === 0) return;
    const kept: Delivery[] = [];
    for (const d of this.queue) if (mayRead(d.message)) kept.push(d);
    for (const d of this.queue) this.countQueued(d.message, -1);
    this.queue.clear();
    for (const d of kept) {
      this.queue.push(d);
      this.countQueued(d.message, 1);
    }
  }

  /**
   * In-flight deliveries first, then queued: what persistence saves. Retained messages not
   * yet taken by a cursor are not (they are still in the retained store): a restart ends
   * the cursor, and the client's next SUBSCRIBE asks for them again.
   */
  *pending(): IterableIterator<Delivery> {
    if (this.inflight) yield* this.inflight.values();
    yield* this.queue;
  }

  /** Restores a delivery from the store (in flight when it has a packet id). */
  restore(delivery: Delivery): void {
    if (delivery.packetId !== 0) {
      (this.inflight ??= new Map()).set(delivery.packetId, delivery);
      if (delivery.packetId >= this.nextPacketId) this.nextPacketId = (delivery.packetId % 65535) + 1;
    } else {
      this.queue.push(delivery);
      this.countQueued(delivery.message, 1);
    }
  }

  isExpired(now: number): boolean {
    if (this.link !== null || this.expiryInterval === NEVER_EXPIRES) return false;
    return now - this.disconnectedAt >= this.expiryInterval * 1000;
  }

  private send(d: Delivery, link: ClientLink, fromQueue: boolean): void {
    if (d.qos === 0) {
      if (fromQueue) this.changeLog?.unqueued(this);
      link.sendPublish(d.message, 0, d.retain, 0, false, d.subscriptionId);
      return;
    }
    const inflight = (this.inflight ??= new Map());
    d.packetId = this.allocatePacketId();
    inflight.set(d.packetId, d);
    this.changeLog?.sent(this, d, fromQueue);
    // Too large for the client: discarded as if delivered [MQTT-3.1.2-25].
    if (!link.sendPublish(d.message, d.qos, d.retain, d.packetId, false, d.subscriptionId)) {
      inflight.delete(d.packetId);
      this.changeLog?.completed(this, d.packetId);
    }
  }

  private enqueue(d: Delivery): DeliveryOutcome {
    const limits = this.limits;
    const size = d.message.payload.length;
    if (
      (limits.maxQueuedMessages > 0 && this.queue.length >= limits.maxQueuedMessages) ||
      (limits.maxQueuedBytes > 0 && this.queuedBytes + size > limits.maxQueuedBytes)
    ) {
      this.dropped++;
      return DeliveryOutcome.Dropped;
    }
    this.queue.push(d);
    this.countQueued(d.message, 1);
    this.changeLog?.queued(this, d);
    if (this.link !== null && this.queue.length >= this.highWater()) return DeliveryOutcome.Congested;
    return DeliveryOutcome.Queued;
  }

  /** A message added to (1) or taken from (-1) the queue, here and broker-wide. */
  private countQueued(message: Message, change: 1 | -1): void {
    this.queuedBytes += change * message.payload.length;
    if (this.account === undefined) return;
    if (change === 1) this.account.queue(message);
    else this.account.unqueue(message);
  }

  private highWater(): number {
    const max = this.limits.maxQueuedMessages;
    return max > 0 ? Math.max(1, max >> 1) : 1000;
  }

  private lowWater(): number {
    return this.highWater() >> 1;
  }

  /** Next packet id not in flight [MQTT-2.2.1-3]. */
  private allocatePacketId(): number {
    const inflight = this.inflight;
    for (;;) {
      const id = this.nextPacketId;
      this.nextPacketId = id === 65535 ? 1 : id + 1;
      if (!inflight || !inflight.has(id)) return id;
    }
  }
}

function endHold(session: Session): void {
  session.endHold();
}

function drainLater(session: Session): void {
  session.drainTurn();
}

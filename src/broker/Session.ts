import type { ClientLink, ProtocolVersion } from './ClientLink';
import type { Message, QoS } from './Message';
import { DeliveryQueue } from './DeliveryQueue';
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
}

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

  private inflight: Map<number, Delivery> | undefined;
  private readonly queue = new DeliveryQueue();
  private queuedBytes = 0;
  private nextPacketId = 1;
  /** Publishers paused because this session's queue was long. */
  private pausedPublishers: ClientLink[] | undefined;
  /** Acknowledgements received: the sweep compares it across seconds to spot a client that stopped. */
  private progress = 0;
  private progressMark = 0;
  /** When `progressMark` was taken; -1 before the first sweep. */
  private progressMarkAt = -1;
  /** Set when the client stopped acknowledging while holding publishers: it may not hold them again until it moves. */
  private stuck = false;

  constructor(
    readonly clientId: string,
    protocolVersion: ProtocolVersion,
    private readonly limits: SessionLimits,
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
    } else if (link !== null && this.queue.length === 0 && this.inflightCount < this.window) {
      this.send({ message, qos, retain, subscriptionId, packetId: 0, released: false }, link);
      return DeliveryOutcome.Sent;
    }
    return this.enqueue({ message, qos, retain, subscriptionId, packetId: 0, released: false });
  }

  /** A publisher to resume once this session's queue has drained. */
  holdPublisher(publisher: ClientLink): void {
    if (this.stuck) return;
    (this.pausedPublishers ??= []).push(publisher);
    publisher.pauseReading();
  }

  /** PUBACK (QoS 1) or PUBCOMP (QoS 2): the message is done. False for an unknown id. */
  acknowledge(packetId: number): boolean {
    const inflight = this.inflight;
    if (!inflight || !inflight.delete(packetId)) return false;
    this.progress++;
    this.stuck = false;
    this.drain();
    return true;
  }

  /**
   * Once a second: a client that holds publishers paused but has acknowledged nothing for
   * `holdLimitMs` lets them go, and its own messages are dropped at its queue limit from then
   * on. Flow control then costs other clients at most a few seconds, never a stall.
   */
  checkProgress(now: number, holdLimitMs: number): void {
    if (this.pausedPublishers === undefined || this.progress !== this.progressMark || this.progressMarkAt < 0) {
      this.progressMark = this.progress;
      this.progressMarkAt = now;
      return;
    }
    if (now - this.progressMarkAt >= holdLimitMs) {
      this.stuck = true;
      this.releasePublishers();
    }
  }

  /** PUBREC: the client has the QoS 2 message; send PUBREL. False for an unknown id. */
  received(packetId: number): boolean {
    const delivery = this.inflight?.get(packetId);
    if (!delivery || delivery.qos !== 2) return false;
    delivery.released = true;
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
        else if (d.message.isExpired(now)) this.inflight.delete(d.packetId);
        else link.sendPublish(d.message, d.qos, d.retain, d.packetId, true, d.subscriptionId);
      }
    }
    this.drain();
  }

  /** Sends queued messages while the window has room. */
  drain(): void {
    const link = this.link;
    if (!link) return;
    const queue = this.queue;
    if (queue.length > 0) {
      const now = Date.now();
      for (let d = queue.peek(); d !== undefined && (d.qos === 0 || this.inflightCount < this.window); d = queue.peek()) {
        queue.shift();
        this.queuedBytes -= d.message.payload.length;
        if (d.message.isExpired(now)) continue;
        this.send(d, link);
      }
    }
    if (this.pausedPublishers && queue.length <= this.lowWater()) this.releasePublishers();
  }

  private releasePublishers(): void {
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
    this.queue.clear();
    this.queuedBytes = 0;
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
    this.queue.clear();
    this.queuedBytes = 0;
    for (const d of kept) {
      this.queue.push(d);
      this.queuedBytes += d.message.payload.length;
    }
  }

  /** In-flight deliveries first, then queued: what persistence saves. */
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
      this.queuedBytes += delivery.message.payload.length;
    }
  }

  isExpired(now: number): boolean {
    if (this.link !== null || this.expiryInterval === NEVER_EXPIRES) return false;
    return now - this.disconnectedAt >= this.expiryInterval * 1000;
  }

  private send(d: Delivery, link: ClientLink): void {
    if (d.qos > 0) {
      d.packetId = this.allocatePacketId();
      (this.inflight ??= new Map()).set(d.packetId, d);
    }
    link.sendPublish(d.message, d.qos, d.retain, d.packetId, false, d.subscriptionId);
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
    this.queuedBytes += size;
    if (this.link !== null && this.queue.length >= this.highWater()) return DeliveryOutcome.Congested;
    return DeliveryOutcome.Queued;
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

import type { Message, QoS } from '../broker/Message';

export enum OutgoingState {
  /** Not sent on the current connection. */
  Waiting,
  /** Sent, acknowledgement outstanding. */
  Sent,
  /** Acknowledged, refused by the remote or dropped: nothing more to do. */
  Done,
}

/** A local message on its way to the remote broker. */
export interface OutgoingMessage {
  /** Topic on the remote broker. */
  readonly topic: string;
  readonly message: Message;
  readonly qos: QoS;
  readonly retain: boolean;
  state: OutgoingState;
  /** Given at the first send and kept for every resend to the same session [MQTT-4.4.0-1]; 0: never sent. */
  packetId: number;
  /** QoS 2: the remote's PUBREC came; only PUBREL (then PUBCOMP) remains. */
  released: boolean;
}

/**
 * What persistence hears of the queue (the journal). An entry without a packet id is always
 * the oldest such entry when it gets one or leaves (entries are sent oldest first), so the
 * journal names entries by packet id, or as "the oldest without one".
 */
export interface OutgoingQueueLog {
  queued(entry: OutgoingMessage): void;
  /** The oldest entry without a packet id got this one. */
  sent(entry: OutgoingMessage): void;
  released(entry: OutgoingMessage): void;
  /** Gone (acknowledged, refused, expired or dropped); packetId 0: the oldest without one. */
  done(entry: OutgoingMessage): void;
  /** Every entry lost its packet id and PUBREC (the remote's session is new). */
  forgotten(): void;
}

/**
 * QoS 1/2 messages for the remote, oldest first. A message leaves only once the remote
 * acknowledged it: after a lost connection every unacknowledged one is sent again, so none
 * is lost (at least once). Bounded: when full the oldest is dropped and counted, so a remote
 * that is down for days cannot take the router's memory.
 */
export class OutgoingQueue {
  /** Messages dropped because the queue was full. */
  dropped = 0;
  private items: OutgoingMessage[] = [];
  private head = 0;
  /** Every item before this index is Sent or Done. */
  private sendFrom = 0;
  private live = 0;
  /** In flight (sent with a packet id, not yet done), by packet id. */
  private readonly byPacketId = new Map<number, OutgoingMessage>();
  private nextPacketId = 1;
  /** Set while persistence is on. */
  log: OutgoingQueueLog | undefined;
  /** Bumped on every change persistence keeps, so an unchanged queue is not saved again. */
  version = 0;

  /** @param limit most messages held; 0: no limit. */
  constructor(private readonly limit: number) {}

  /** The unfinished entry holding this packet id, if any. */
  withPacketId(packetId: number): OutgoingMessage | undefined {
    return this.byPacketId.get(packetId);
  }

  /** Gives the entry a packet id no other unfinished entry holds, for its first send. */
  assignPacketId(entry: OutgoingMessage, isFree: (id: number) => boolean = () => true): void {
    for (;;) {
      const id = this.nextPacketId;
      this.nextPacketId = id === 65535 ? 1 : id + 1;
      if (this.byPacketId.has(id) || !isFree(id)) continue;
      entry.packetId = id;
      this.byPacketId.set(id, entry);
      this.version++;
      this.log?.sent(entry);
      return;
    }
  }

  /** The remote's PUBREC: from now on the entry is finished with PUBREL, never resent. */
  markReleased(entry: OutgoingMessage): void {
    if (entry.released || entry.state === OutgoingState.Done) return;
    entry.released = true;
    this.version++;
    this.log?.released(entry);
  }

  /** Puts back an entry read from the store (its packet id and released state kept). */
  restore(entry: OutgoingMessage): void {
    if (entry.packetId !== 0) {
      this.byPacketId.set(entry.packetId, entry);
      if (entry.packetId >= this.nextPacketId) this.nextPacketId = (entry.packetId % 65535) + 1;
    }
    this.items.push(entry);
    this.live++;
  }

  /** Messages not yet acknowledged (sent or waiting). */
  get size(): number {
    return this.live;
  }

  push(entry: OutgoingMessage): void {
    if (this.limit > 0 && this.live >= this.limit) {
      const oldest = this.items[this.head];
      this.finish(oldest);
      this.dropped++;
    }
    this.items.push(entry);
    this.live++;
    this.version++;
    this.log?.queued(entry);
  }

  /** The oldest message not yet sent on this connection, now marked Sent. */
  takeWaiting(): OutgoingMessage | undefined {
    const items = this.items;
    for (let i = Math.max(this.sendFrom, this.head); i < items.length; i++) {
      const entry = items[i];
      if (entry.state !== OutgoingState.Waiting) continue;
      entry.state = OutgoingState.Sent;
      this.sendFrom = i + 1;
      return entry;
    }
    this.sendFrom = items.length;
    return undefined;
  }

  /** The remote acknowledged (or refused) it, or it expired: it leaves the queue. */
  finish(entry: OutgoingMessage): void {
    if (entry.state === OutgoingState.Done) return;
    entry.state = OutgoingState.Done;
    if (entry.packetId !== 0 && this.byPacketId.get(entry.packetId) === entry) this.byPacketId.delete(entry.packetId);
    this.live--;
    this.version++;
    this.log?.done(entry);
    this.trim();
  }

  forEachPending(visit: (entry: OutgoingMessage) => void): void {
    for (let i = this.head; i < this.items.length; i++) {
      if (this.items[i].state !== OutgoingState.Done) visit(this.items[i]);
    }
  }

  /** The connection was lost: everything unacknowledged goes again, in the original order. */
  resendAll(): void {
    for (let i = this.head; i < this.items.length; i++) {
      const entry = this.items[i];
      if (entry.state === OutgoingState.Sent) entry.state = OutgoingState.Waiting;
    }
    this.sendFrom = this.head;
  }

  /**
   * The remote has no session of ours (clean start): packet ids and PUBRECs of the old one mean
   * nothing there, so every entry goes as a new PUBLISH with a new id.
   */
  forgetPacketIds(): void {
    if (this.byPacketId.size === 0) return;
    for (const entry of this.byPacketId.values()) {
      entry.packetId = 0;
      entry.released = false;
    }
    this.byPacketId.clear();
    this.version++;
    this.log?.forgotten();
  }

  private trim(): void {
    const items = this.items;
    while (this.head < items.length && items[this.head].state === OutgoingState.Done) this.head++;
    if (this.head === items.length) {
      this.items = [];
      this.sendFrom = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > items.length) {
      this.items = items.slice(this.head);
      this.sendFrom = Math.max(0, this.sendFrom - this.head);
      this.head = 0;
    }
  }
}

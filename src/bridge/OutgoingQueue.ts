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

  /** @param limit most messages held; 0: no limit. */
  constructor(private readonly limit: number) {}

  /** Messages not yet acknowledged (sent or waiting). */
  get size(): number {
    return this.live;
  }

  push(entry: OutgoingMessage): void {
    if (this.limit > 0 && this.live >= this.limit) {
      const oldest = this.items[this.head];
      oldest.state = OutgoingState.Done;
      this.live--;
      this.dropped++;
      this.trim();
    }
    this.items.push(entry);
    this.live++;
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
    this.live--;
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

import type { QoS } from '../broker/Message';
import { topicMatches } from '../broker/topics';

/** One message as the live view shows it. */
export interface LiveMessage {
  readonly seq: number;
  readonly topic: string;
  readonly payload: Buffer;
  readonly size: number;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly contentType: string | undefined;
  readonly at: number;
}

export interface LiveBatch {
  /** Pass back as `cursor` to get the messages after these. */
  cursor: number;
  messages: LiveMessage[];
  /** Messages after the given cursor that fell out of the history before this poll. */
  missed: number;
}

/**
 * The last `capacity` messages the explorer saw, numbered. A page polls with the number of
 * the last message it has (its cursor), so any number of pages share one history and the
 * broker keeps no state per page.
 */
export class LiveHistory {
  private readonly ring: (LiveMessage | undefined)[];
  private seq = 0;
  /** The newest number clear() let go of: what the ring no longer holds. */
  private floor = 0;

  constructor(readonly capacity: number) {
    this.ring = new Array<LiveMessage | undefined>(capacity);
  }

  /** The number of the newest message (0 before the first). */
  get last(): number {
    return this.seq;
  }

  push(topic: string, payload: Buffer, size: number, qos: QoS, retain: boolean, contentType: string | undefined, at: number): void {
    const seq = ++this.seq;
    this.ring[seq % this.capacity] = { seq, topic, payload, size, qos, retain, contentType, at };
  }

  /** Messages after `cursor` whose topic matches `filter`, oldest first, at most `max`. */
  since(cursor: number, filter: string, max: number): LiveBatch {
    const oldest = Math.max(this.floor + 1, this.seq - this.capacity + 1);
    // A cursor from before a broker restart is ahead of this history: start again from now.
    let from = (cursor > this.seq ? this.seq : cursor) + 1;
    let missed = 0;
    if (from < oldest) {
      missed = oldest - from;
      from = oldest;
    }
    const messages: LiveMessage[] = [];
    let seq = from;
    for (; seq <= this.seq && messages.length < max; seq++) {
      const m = this.ring[seq % this.capacity]!;
      if (topicMatches(filter, m.topic)) messages.push(m);
    }
    return { cursor: seq - 1, messages, missed };
  }

  /** Lets go of every message; the numbering goes on, so a page's cursor stays valid. */
  clear(): void {
    this.ring.fill(undefined);
    this.floor = this.seq;
  }
}

import type { QoS } from '../broker/Message';

/** Ten-second buckets, six of them: "messages in the last minute". */
const BUCKET_MS = 10_000;
const BUCKETS = 6;

/** The last message seen on one topic while the explorer watches, and how busy the topic is. */
export interface TopicActivity {
  readonly topic: string;
  payload: Buffer;
  size: number;
  qos: QoS;
  retain: boolean;
  contentType: string | undefined;
  changedAt: number;
  readonly buckets: Uint16Array;
  /** Bucket number (ms / BUCKET_MS) of the newest bucket written. */
  bucketAt: number;
}

/**
 * A bounded per-topic "last message" cache, least recently changed topic evicted first. A Map
 * keeps insertion order, so deleting and re-inserting a topic moves it to the young end.
 */
export class RecentTopics {
  private readonly topics = new Map<string, TopicActivity>();

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.topics.size;
  }

  get(topic: string): TopicActivity | undefined {
    return this.topics.get(topic);
  }

  keys(): IterableIterator<string> {
    return this.topics.keys();
  }

  record(topic: string, payload: Buffer, size: number, qos: QoS, retain: boolean, contentType: string | undefined, now: number): void {
    if (this.capacity <= 0) return;
    let entry = this.topics.get(topic);
    if (entry) {
      this.topics.delete(topic);
    } else {
      if (this.topics.size >= this.capacity) this.topics.delete(this.topics.keys().next().value as string);
      entry = { topic, payload, size, qos, retain, contentType, changedAt: now, buckets: new Uint16Array(BUCKETS), bucketAt: Math.floor(now / BUCKET_MS) };
    }
    entry.payload = payload;
    entry.size = size;
    entry.qos = qos;
    entry.retain = retain;
    entry.contentType = contentType;
    entry.changedAt = now;
    advance(entry, now);
    const slot = entry.bucketAt % BUCKETS;
    if (entry.buckets[slot] < 0xffff) entry.buckets[slot]++;
    this.topics.set(topic, entry);
  }

  /** Messages on this topic in the last minute (in whole ten-second buckets). */
  rate(entry: TopicActivity, now: number): number {
    advance(entry, now);
    let sum = 0;
    for (let i = 0; i < BUCKETS; i++) sum += entry.buckets[i];
    return sum;
  }

  delete(topic: string): void {
    this.topics.delete(topic);
  }

  clear(): void {
    this.topics.clear();
  }
}

/** Empties the buckets that fell out of the last minute since the entry was last touched. */
function advance(entry: TopicActivity, now: number): void {
  const bucket = Math.floor(now / BUCKET_MS);
  const gap = bucket - entry.bucketAt;
  if (gap <= 0) return;
  if (gap >= BUCKETS) entry.buckets.fill(0);
  else for (let b = entry.bucketAt + 1; b <= bucket; b++) entry.buckets[b % BUCKETS] = 0;
  entry.bucketAt = bucket;
}

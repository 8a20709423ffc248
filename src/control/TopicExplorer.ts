import type { Broker } from '../broker/Broker';
import type { Message } from '../broker/Message';
import { topicMatches } from '../broker/topics';
import { LiveHistory, type LiveBatch } from './LiveHistory';
import { previewOf } from './PayloadPreview';
import { RecentTopics, type TopicActivity } from './RecentTopics';

/** A page that has not polled for this long is gone: the explorer stops watching. */
export const IDLE_MS = 30_000;
/** Messages the live view can catch up on between two polls. */
export const LIVE_HISTORY = 200;

/** The last message of a topic, from the explorer's cache or the retained store. */
export interface TopicState {
  topic: string;
  payload: Buffer;
  size: number;
  qos: number;
  retain: boolean;
  contentType: string | undefined;
  /** ms since epoch; undefined for a retained message stored before the explorer watched. */
  changedAt: number | undefined;
  /** Messages in the last minute, counted while the explorer watches. */
  rate: number;
}

/** One child of a level of the topic tree. */
export interface TopicNode {
  /** The level's name (may be empty: `a//b`, `/a`). */
  name: string;
  /** Topics at or below this node. */
  topics: number;
  /** The node's own last message, if the node is itself a topic. */
  state: TopicState | undefined;
}

/**
 * What the LuCI topic explorer sees of the broker. It does nothing until a page asks: the
 * first request subscribes one in-process subscriber to `#` and `$SYS/#` (no retained
 * replay), which records every message into a bounded per-topic cache and a short
 * numbered history. When no page has asked for IDLE_MS it unsubscribes and forgets them,
 * so with no page open the broker does no work for it and keeps nothing but its retained store.
 */
export class TopicExplorer {
  private readonly recent: RecentTopics;
  private readonly live = new LiveHistory(LIVE_HISTORY);
  private unsubscribe: (() => void)[] = [];
  private lastUse = 0;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly broker: Broker,
    cacheSize: number,
    private readonly now: () => number = Date.now,
  ) {
    this.recent = new RecentTopics(cacheSize);
  }

  get watching(): boolean {
    return this.unsubscribe.length > 0;
  }

  /** Topics in the per-topic cache (for tests and the cost measurement). */
  get cachedTopics(): number {
    return this.recent.size;
  }

  /** Marks a page as watching; starts the subscriber on the first call. */
  touch(): void {
    this.lastUse = this.now();
    if (this.watching) return;
    const record = (_topic: string, _payload: Buffer, message: Message): void => this.record(message);
    // An observer: publishers see the same PUBACK reason codes whether a page is open or not.
    const options = { qos: 0, retained: false, observer: true } as const;
    this.unsubscribe = [this.broker.subscribe('#', record, options), this.broker.subscribe('$SYS/#', record, options)];
    this.idleTimer = setInterval(() => this.stopIfIdle(), 5000);
    this.idleTimer.unref();
  }

  /** Stops watching when no page has asked for IDLE_MS (checked every 5 s while watching). */
  stopIfIdle(): void {
    if (this.watching && this.now() - this.lastUse >= IDLE_MS) this.stop();
  }

  /** Unsubscribes and drops the cache and history. */
  stop(): void {
    for (const u of this.unsubscribe) u();
    this.unsubscribe = [];
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.idleTimer = undefined;
    this.recent.clear();
    this.live.clear();
  }

  private record(message: Message): void {
    const now = this.now();
    const payload = previewOf(message.payload);
    const contentType = message.properties?.contentType;
    // An empty retained message deletes the topic [MQTT-3.3.1-10]: the tree forgets it too.
    if (message.retain && message.payload.length === 0) this.recent.delete(message.topic);
    else this.recent.record(message.topic, payload, message.payload.length, message.qos, message.retain, contentType, now);
    this.live.push(message.topic, payload, message.payload.length, message.qos, message.retain, contentType, now);
  }

  /** The number of the newest message: where a page that opens now starts. */
  liveNow(): number {
    this.touch();
    return this.live.last;
  }

  /** Messages after `cursor` matching `filter`. */
  liveSince(cursor: number, filter: string, max: number): LiveBatch {
    this.touch();
    return this.live.since(cursor, filter, max);
  }

  /** The last message of one topic, or undefined when it has none (retained or recent). */
  topic(name: string): TopicState | undefined {
    this.touch();
    return this.stateOf(name, this.now());
  }

  /**
   * The children of the level at `path` (levels from the root), each with how many topics
   * are at or below it. One pass over the known topics: retained ones and recent ones.
   */
  children(path: readonly string[], max: number): { nodes: TopicNode[]; more: number } {
    this.touch();
    const now = this.now();
    const prefix = path.length === 0 ? '' : path.join('/') + '/';
    const counts = new Map<string, number>();
    this.forEachTopic((topic) => {
      if (prefix !== '' && !topic.startsWith(prefix)) return;
      const slash = topic.indexOf('/', prefix.length);
      const name = slash < 0 ? topic.slice(prefix.length) : topic.slice(prefix.length, slash);
      counts.set(name, (counts.get(name) ?? 0) + 1);
    });
    const names = [...counts.keys()].sort(byName);
    const nodes = names.slice(0, max).map((name) => ({ name, topics: counts.get(name)!, state: this.stateOf(prefix + name, now) }));
    return { nodes, more: names.length - nodes.length };
  }

  /** Topics matching an MQTT filter and/or containing a substring, sorted, at most `max`. */
  find(filter: string | undefined, search: string | undefined, max: number): { topics: TopicState[]; total: number } {
    this.touch();
    const now = this.now();
    const needle = search?.toLowerCase();
    const found: string[] = [];
    this.forEachTopic((topic) => {
      if (filter !== undefined && !topicMatches(filter, topic)) return;
      if (needle !== undefined && !topic.toLowerCase().includes(needle)) return;
      found.push(topic);
    });
    found.sort(byName);
    const topics: TopicState[] = [];
    for (const t of found.slice(0, max)) {
      const s = this.stateOf(t, now);
      if (s) topics.push(s);
    }
    return { topics, total: found.length };
  }

  /** Every known topic once: the retained store's, then the cache's that are not retained. */
  private forEachTopic(visit: (topic: string) => void): void {
    for (const m of this.broker.retained.all()) visit(m.topic);
    for (const topic of this.recent.keys()) if (!this.broker.retained.get(topic)) visit(topic);
  }

  private stateOf(topic: string, now: number): TopicState | undefined {
    const seen: TopicActivity | undefined = this.recent.get(topic);
    const retained = this.broker.retained.get(topic);
    const rate = seen ? this.recent.rate(seen, now) : 0;
    // The cache sees every message, so when it has the topic it is the newest.
    if (seen) {
      return { topic, payload: seen.payload, size: seen.size, qos: seen.qos, retain: seen.retain, contentType: seen.contentType, changedAt: seen.changedAt, rate };
    }
    if (!retained || retained.isExpired(now)) return undefined;
    return {
      topic,
      payload: previewOf(retained.payload),
      size: retained.payload.length,
      qos: retained.qos,
      retain: true,
      contentType: retained.properties?.contentType,
      changedAt: this.broker.retained.changedAt(topic),
      rate,
    };
  }
}

/**
 * Natural order, so `sensor2` comes before `sensor10`: runs of digits compare as numbers.
 * Written out because Intl may be missing from a router's Node (built without ICU).
 */
export function byName(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(j);
    if (isDigit(ca) && isDigit(cb)) {
      let ei = i;
      let ej = j;
      while (ei < a.length && isDigit(a.charCodeAt(ei))) ei++;
      while (ej < b.length && isDigit(b.charCodeAt(ej))) ej++;
      // Without leading zeros, the longer run is the larger number.
      const na = a.slice(i, ei).replace(/^0+(?=\d)/, '');
      const nb = b.slice(j, ej).replace(/^0+(?=\d)/, '');
      if (na.length !== nb.length) return na.length - nb.length;
      if (na !== nb) return na < nb ? -1 : 1;
      i = ei;
      j = ej;
      continue;
    }
    if (ca !== cb) return ca - cb;
    i++;
    j++;
  }
  const rest = a.length - i - (b.length - j);
  return rest !== 0 ? rest : a < b ? -1 : a > b ? 1 : 0;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

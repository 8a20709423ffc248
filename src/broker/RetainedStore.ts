import { messageBytes } from './MemoryAccount';
import type { Message } from './Message';
import { RetainedMatches, type RetainedNode } from './RetainedMatches';

/**
 * The last retained message of each topic [MQTT-3.3.1-5], as a tree with one node per topic
 * level (as mosquitto's retain tree). An empty payload clears a topic [MQTT-3.3.1-10].
 * Matching a subscription walks only the branches its filter can match, so a wildcard
 * SUBSCRIBE costs what it matches, not what is stored.
 */
export class RetainedStore {
  private readonly root: RetainedNode = { children: undefined, message: undefined, setAt: 0, changedAt: 0 };
  private count = 0;
  /** Every set or clear, $SYS included: what a cursor compares against. */
  private changeCounter = 0;
  /** Bumped on every change, so persistence saves only when something changed. */
  version = 0;
  /** What the stored messages hold (MemoryAccount's estimate), for memory_limit and max_retained_bytes. */
  bytes = 0;

  get size(): number {
    return this.count;
  }

  /**
   * Stores or (empty payload) clears the retained message of its topic. `changedAt` is when
   * (wall-clock ms); 0 for a message restored from the store, whose time is not kept.
   */
  set(message: Message, changedAt = Date.now()): void {
    if (message.payload.length === 0) {
      this.delete(message.topic);
      return;
    }
    let node = this.root;
    for (const level of message.topic.split('/')) {
      let child = node.children?.get(level);
      if (child === undefined) {
        child = { children: undefined, message: undefined, setAt: 0, changedAt: 0 };
        (node.children ??= new Map()).set(level, child);
      }
      node = child;
    }
    if (node.message === undefined) this.count++;
    else this.bytes -= messageBytes(node.message);
    node.message = message;
    this.bytes += messageBytes(message);
    node.setAt = ++this.changeCounter;
    node.changedAt = changedAt;
    this.changed(message.topic);
  }

  get(topic: string): Message | undefined {
    return this.nodeOf(topic)?.message;
  }

  /** When a topic's retained message was set (wall-clock ms); undefined when unknown or none. */
  changedAt(topic: string): number | undefined {
    const node = this.nodeOf(topic);
    return node?.message === undefined || node.changedAt === 0 ? undefined : node.changedAt;
  }

  /** Clears a topic; false when it held nothing. */
  delete(topic: string): boolean {
    const levels = topic.split('/');
    const path: RetainedNode[] = [this.root];
    for (const level of levels) {
      const child = path[path.length - 1].children?.get(level);
      if (child === undefined) return false;
      path.push(child);
    }
    const node = path[path.length - 1];
    if (node.message === undefined) return false;
    this.bytes -= messageBytes(node.message);
    node.message = undefined;
    this.count--;
    this.changeCounter++;
    this.changed(topic);
    // Drop the empty nodes along the path, so the tree does not grow forever. A cursor that
    // is inside a dropped branch finds nothing there, which is what the branch now holds.
    for (let i = levels.length; i > 0; i--) {
      const n = path[i];
      if (n.message !== undefined || (n.children !== undefined && n.children.size > 0)) break;
      const parent = path[i - 1];
      parent.children!.delete(levels[i - 1]);
      if (parent.children!.size === 0) parent.children = undefined;
    }
    return true;
  }

  /**
   * The live retained messages whose topic matches the filter, one at a time, as a cursor:
   * it walks the tree lazily and tolerates changes while it walks. A topic cleared before
   * the cursor reaches it is not given; one set again after the cursor was made is skipped,
   * because the subscription that asked has received that message as it was published.
   * Expired messages are skipped (and cleared by `expire`, which the caller decides).
   */
  cursor(filter: string): RetainedMatches {
    return new RetainedMatches(this.root, filter.split('/'), this.changeCounter);
  }

  /** Calls `visit` for every live retained message whose topic matches the filter. */
  forEachMatch(filter: string, now: number, visit: (message: Message) => void): void {
    const cursor = this.cursor(filter);
    for (let r = cursor.next(); r.done !== true; r = cursor.next()) {
      const message = r.value;
      if (message.isExpired(now)) this.expire(message);
      else visit(message);
    }
  }

  /** Clears an expired message, unless its topic has been set again meanwhile. */
  expire(message: Message): void {
    if (this.get(message.topic) === message) this.delete(message.topic);
  }

  /** Every retained message, `$` topics included. */
  *all(): IterableIterator<Message> {
    const matches = new RetainedMatches(this.root, ['#'], Infinity, true);
    for (let r = matches.next(); r.done !== true; r = matches.next()) yield r.value;
  }

  private nodeOf(topic: string): RetainedNode | undefined {
    let node: RetainedNode | undefined = this.root;
    for (const level of topic.split('/')) {
      node = node.children?.get(level);
      if (node === undefined) return undefined;
    }
    return node;
  }

  private changed(topic: string): void {
    // $SYS topics are not persisted, so they do not count as a change to save.
    if (!topic.startsWith('$SYS/')) this.version++;
  }
}

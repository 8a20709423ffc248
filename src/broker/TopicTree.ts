import { isShareGroup, type ShareGroup, type Subscription, type SubscriptionEntry } from './Subscription';

interface TreeNode {
  children: Map<string, TreeNode> | undefined;
  entries: SubscriptionEntry[];
}

/**
 * The subscriptions matching one topic. `overlapping` is set when one session holds more
 * than one of them, so routing builds its one-copy-per-v3-client map only then.
 */
export type MatchList = readonly SubscriptionEntry[] & { readonly overlapping?: true };

const NO_MATCHES: MatchList = Object.freeze([]);

/** Cached match results for hot topics; cleared whenever a subscription changes. */
const MATCH_CACHE_LIMIT = 4096;

/**
 * Every subscription, as a tree with one level per topic level ('+' and '#' are levels
 * too). Matching a topic walks only the branches that can match; results for a topic are
 * cached until the next subscription change, so a steady publisher costs one Map lookup.
 */
export class TopicTree {
  private readonly root: TreeNode = { children: undefined, entries: [] };
  private readonly cache = new Map<string, MatchList>();
  private subscriptionCount = 0;

  get count(): number {
    return this.subscriptionCount;
  }

  add(subscription: Subscription): void {
    const node = this.nodeFor(subscription.filter, true)!;
    this.cache.clear();
    this.subscriptionCount++;
    if (subscription.group === undefined) {
      node.entries.push(subscription);
      return;
    }
    for (const entry of node.entries) {
      if (isShareGroup(entry) && entry.group === subscription.group) {
        entry.members.push(subscription);
        return;
      }
    }
    const group: ShareGroup = { group: subscription.group, filter: subscription.filter, members: [subscription], next: 0 };
    node.entries.push(group);
  }

  remove(subscription: Subscription): void {
    const node = this.nodeFor(subscription.filter, false);
    if (!node) return;
    const entries = node.entries;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      if (entry === subscription) {
        entries.splice(i, 1);
        this.removed();
        break;
      }
      if (isShareGroup(entry) && entry.group === subscription.group) {
        const at = entry.members.indexOf(subscription);
        if (at < 0) continue;
        entry.members.splice(at, 1);
        if (entry.members.length === 0) entries.splice(i, 1);
        this.removed();
        break;
      }
    }
    if (entries.length === 0) this.prune(subscription.filter);
  }

  /** Subscriptions and share groups whose filter matches the topic name. Do not mutate. */
  match(topic: string): MatchList {
    const cached = this.cache.get(topic);
    if (cached !== undefined) return cached;
    const out: SubscriptionEntry[] & { overlapping?: true } = [];
    const levels = topic.split('/');
    // Wildcards at the first level never match `$` topics [MQTT-4.7.2-1].
    walk(this.root, levels, 0, out, topic.charCodeAt(0) === 0x24);
    if (out.length > 1 && hasOverlap(out)) out.overlapping = true;
    const result = out.length === 0 ? NO_MATCHES : out;
    if (this.cache.size >= MATCH_CACHE_LIMIT) this.cache.clear();
    this.cache.set(topic, result);
    return result;
  }

  private removed(): void {
    this.cache.clear();
    this.subscriptionCount--;
  }

  private nodeFor(filter: string, create: boolean): TreeNode | undefined {
    let node = this.root;
    for (const level of filter.split('/')) {
      let child = node.children?.get(level);
      if (!child) {
        if (!create) return undefined;
        child = { children: undefined, entries: [] };
        (node.children ??= new Map()).set(level, child);
      }
      node = child;
    }
    return node;
  }

  /** Drops the empty nodes along a filter's path so the tree does not grow forever. */
  private prune(filter: string): void {
    const levels = filter.split('/');
    const path: TreeNode[] = [this.root];
    for (const level of levels) {
      const child = path[path.length - 1].children?.get(level);
      if (!child) return;
      path.push(child);
    }
    for (let i = levels.length; i > 0; i--) {
      const node = path[i];
      if (node.entries.length > 0 || (node.children && node.children.size > 0)) return;
      const parent = path[i - 1];
      parent.children!.delete(levels[i - 1]);
      if (parent.children!.size === 0) parent.children = undefined;
    }
  }
}

/** Whether some session holds two of these (non-shared) subscriptions. */
function hasOverlap(entries: readonly SubscriptionEntry[]): boolean {
  const seen = new Set<unknown>();
  for (const e of entries) {
    if (isShareGroup(e)) continue;
    if (seen.has(e.session)) return true;
    seen.add(e.session);
  }
  return false;
}

function walk(node: TreeNode, levels: string[], i: number, out: SubscriptionEntry[], dollar: boolean): void {
  const children = node.children;
  if (i === levels.length) {
    for (const e of node.entries) out.push(e);
    // `a/#` also matches `a` [MQTT-4.7.1-2].
    const hash = children?.get('#');
    if (hash) for (const e of hash.entries) out.push(e);
    return;
  }
  if (!children) return;
  const wildcardsAllowed = !(dollar && i === 0);
  if (wildcardsAllowed) {
    const hash = children.get('#');
    if (hash) for (const e of hash.entries) out.push(e);
    const plus = children.get('+');
    if (plus) walk(plus, levels, i + 1, out, dollar);
  }
  const literal = children.get(levels[i]);
  if (literal) walk(literal, levels, i + 1, out, dollar);
}

import type { Message } from './Message';

/** One topic level of the retained tree (RetainedStore). */
export interface RetainedNode {
  children: Map<string, RetainedNode> | undefined;
  message: Message | undefined;
  /** The store's change counter when `message` was set: a cursor skips what is newer than itself. */
  setAt: number;
  /** Wall-clock ms when `message` was set (what the explorer shows); 0: unknown (restored at start). */
  changedAt: number;
}

/** Children still to visit under a `+` level (their filter level is `level`) or a `#` (every descendant). */
interface Frame {
  /** Children of the root (level 0) come with their names: wildcards there skip `$` topics. */
  named: Iterator<[string, RetainedNode]> | undefined;
  unnamed: Iterator<RetainedNode> | undefined;
  /** The filter level the children are matched from; -1 under a `#`: all of them, all the way down. */
  level: number;
}

/**
 * The messages of the retained tree that match a filter, depth first in insertion order, one
 * per next(). An explicit stack, not nested generators: a `+` over 100 children costs 100 Map
 * lookups, not 100 generator objects, and a `#` over 100,000 topics allocates one frame per
 * node that has children. Map iterators go on correctly while entries are added or deleted,
 * which is what lets a cursor outlive changes to the store: a topic cleared before the walk
 * reaches it is not given, one set after `before` (the store's change counter when the
 * cursor was made) is skipped.
 */
export class RetainedMatches implements Iterator<Message, undefined> {
  private readonly frames: Frame[] = [];
  /** A node to match against `levels[visitLevel..]` before the frames go on. */
  private visitNode: RetainedNode | undefined;
  private visitLevel = 0;
  /** Nodes looked at so far: what the walk has cost (Session.drain spreads it over turns). */
  visits = 0;

  constructor(
    root: RetainedNode,
    private readonly levels: string[],
    private readonly before: number,
    /** Whether wildcards at the first level may match `$` topics ([MQTT-4.7.2-1] says no; RetainedStore.all says yes). */
    private readonly dollarToo = false,
  ) {
    this.visitNode = root;
  }

  next(): IteratorResult<Message, undefined> {
    return this.nextBefore(Infinity)!;
  }

  /**
   * next(), unless `visits` reaches `limit` first: then undefined, and the walk goes on from
   * there at the next call.
   */
  nextBefore(limit: number): IteratorResult<Message, undefined> | undefined {
    while (this.visits < limit) {
      this.visits++;
      const found = this.visitNode !== undefined ? this.visit() : this.step();
      if (found !== undefined) return { done: false, value: found };
      if (this.visitNode === undefined && this.frames.length === 0) return { done: true, value: undefined };
    }
    return undefined;
  }

  /** Matches visitNode: a message when the filter ends there, else frames for its wildcards. */
  private visit(): Message | undefined {
    let node: RetainedNode | undefined = this.visitNode!;
    let i = this.visitLevel;
    this.visitNode = undefined;
    const levels = this.levels;
    // Literal levels: one lookup each, no frame.
    while (i < levels.length) {
      const level = levels[i]!;
      if (level === '+' || level === '#') break;
      node = node.children?.get(level);
      if (node === undefined) return undefined;
      i++;
    }
    if (i === levels.length) return this.live(node);
    const children = node.children;
    if (levels[i] === '#') {
      if (children !== undefined) this.push(children, i, -1);
      // `a/#` also matches `a` [MQTT-4.7.1-2].
      return i > 0 ? this.live(node) : undefined;
    }
    if (children !== undefined) this.push(children, i, i + 1);
    return undefined;
  }

  /** The next child of the top frame: visited against the filter, or (under `#`) given with its subtree. */
  private step(): Message | undefined {
    const frame = this.frames[this.frames.length - 1];
    if (frame === undefined) return undefined;
    let child: RetainedNode;
    if (frame.named !== undefined) {
      const r = frame.named.next();
      if (r.done === true) return void this.frames.pop();
      if (!this.dollarToo && r.value[0].charCodeAt(0) === 0x24) return undefined;
      child = r.value[1];
    } else {
      const r = frame.unnamed!.next();
      if (r.done === true) return void this.frames.pop();
      child = r.value;
    }
    if (frame.level >= 0) {
      this.visitNode = child;
      this.visitLevel = frame.level;
      return undefined;
    }
    if (child.children !== undefined) this.frames.push({ named: undefined, unnamed: child.children.values(), level: -1 });
    return this.live(child);
  }

  private push(children: Map<string, RetainedNode>, at: number, level: number): void {
    const root = at === 0;
    this.frames.push({ named: root ? children.entries() : undefined, unnamed: root ? undefined : children.values(), level });
  }

  private live(node: RetainedNode): Message | undefined {
    return node.message !== undefined && node.setAt <= this.before ? node.message : undefined;
  }
}

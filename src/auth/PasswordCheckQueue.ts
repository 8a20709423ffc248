/**
 * The bound on password-check CPU: at most `concurrency` checks run at once, at most
 * `maxQueued` wait, and a check beyond that — or one whose expected wait (from the average
 * check time) exceeds `maxWaitMs` — is refused at once: the client gets "server busy"
 * within seconds instead of a silent wait past its CONNACK timeout. Checks of devices that logged in before from the same
 * address (AuthThrottle's "known device") go ahead of the queue, so a guessing storm
 * cannot keep a home's own devices out.
 */

export const PASSWORD_CHECK_DEFAULTS = {
  /** A router has one or two cores: one check at a time leaves the broker a core. */
  concurrency: 1,
  maxQueued: 16,
  /** Well inside PubSubClient's 15 s and mqtt_as's 10 s CONNACK timeouts. */
  maxWaitMs: 2000,
} as const;

export interface PasswordCheckQueueOptions {
  concurrency?: number;
  maxQueued?: number;
  maxWaitMs?: number;
}

export class CheckQueueFullError extends Error {
  readonly code = 'ECHECKQUEUEFULL';
  constructor() {
    super('too many logins waiting for a password check');
    this.name = 'CheckQueueFullError';
  }
}

/** `go` is called with nothing when its turn comes, with an error when pushed out. */
interface Waiter {
  go(err?: Error): void;
  since: number;
}

export class PasswordCheckQueue {
  readonly concurrency: number;
  readonly maxQueued: number;
  readonly maxWaitMs: number;
  /** Moving average of a check's duration, ms (0 until one has run). */
  private averageMs = 0;
  private active = 0;
  private readonly waiting: Waiter[] = [];
  /** Known devices' checks, served before `waiting`. */
  private readonly preferred: Waiter[] = [];

  constructor(options: PasswordCheckQueueOptions = {}) {
    this.concurrency = Math.max(1, options.concurrency ?? PASSWORD_CHECK_DEFAULTS.concurrency);
    this.maxQueued = Math.max(0, options.maxQueued ?? PASSWORD_CHECK_DEFAULTS.maxQueued);
    this.maxWaitMs = options.maxWaitMs ?? PASSWORD_CHECK_DEFAULTS.maxWaitMs;
  }

  /** Checks running now. */
  get running(): number {
    return this.active;
  }

  /** Checks waiting now. */
  get queued(): number {
    return this.waiting.length + this.preferred.length;
  }

  /**
   * Runs a check within the bound. Rejects with CheckQueueFullError, without running it,
   * when the queue is full; a preferred check may push the newest ordinary one out.
   */
  async run<T>(task: () => Promise<T>, preferred = false): Promise<T> {
    if (this.active >= this.concurrency) await this.enqueue(preferred);
    else this.active++;
    const started = Date.now();
    try {
      return await task();
    } finally {
      const ms = Date.now() - started;
      this.averageMs = this.averageMs === 0 ? ms : this.averageMs * 0.8 + ms * 0.2;
      this.handOver();
    }
  }

  /**
   * Gives the slot straight to the next waiter, or frees it. A waiter that has waited
   * longer than maxWaitMs (checks ran slower than the average promised) is refused now:
   * its client would rather hear "busy" than wait on.
   */
  private handOver(): void {
    const now = Date.now();
    for (;;) {
      const next = this.preferred.shift() ?? this.waiting.shift();
      if (!next) break;
      if (now - next.since <= this.maxWaitMs) return next.go();
      next.go(new CheckQueueFullError());
    }
    this.active--;
  }

  private enqueue(preferred: boolean): Promise<void> {
    const ahead = preferred ? this.preferred.length : this.queued;
    if (((ahead + 1) * this.averageMs) / this.concurrency > this.maxWaitMs) return Promise.reject(new CheckQueueFullError());
    if (this.queued >= this.maxQueued) {
      const bumped = preferred ? this.waiting.pop() : undefined;
      if (bumped === undefined) return Promise.reject(new CheckQueueFullError());
      bumped.go(new CheckQueueFullError());
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { go: (err) => (err ? reject(err) : resolve()), since: Date.now() };
      (preferred ? this.preferred : this.waiting).push(waiter);
    });
  }
}

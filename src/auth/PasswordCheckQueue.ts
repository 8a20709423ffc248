/**
 * The bound on password-check CPU: at most `concurrency` checks run at once, at most
 * `maxQueued` wait, and a check beyond that is refused at once (the client gets "server
 * busy" instead of a silent wait). Checks of devices that logged in before from the same
 * address (AuthThrottle's "known device") go ahead of the queue, so a guessing storm
 * cannot keep a home's own devices out.
 */

export const PASSWORD_CHECK_DEFAULTS = {
  /** A router has one or two cores: one check at a time leaves the broker a core. */
  concurrency: 1,
  /** At ~0.1 s per bcrypt check, 16 waiting is well under any client's CONNACK timeout. */
  maxQueued: 16,
} as const;

export interface PasswordCheckQueueOptions {
  concurrency?: number;
  maxQueued?: number;
}

export class CheckQueueFullError extends Error {
  readonly code = 'ECHECKQUEUEFULL';
  constructor() {
    super('too many logins waiting for a password check');
    this.name = 'CheckQueueFullError';
  }
}

/** Called with nothing when its turn comes, with an error when pushed out of the queue. */
type Waiter = (err?: Error) => void;

export class PasswordCheckQueue {
  readonly concurrency: number;
  readonly maxQueued: number;
  private active = 0;
  private readonly waiting: Waiter[] = [];
  /** Known devices' checks, served before `waiting`. */
  private readonly preferred: Waiter[] = [];

  constructor(options: PasswordCheckQueueOptions = {}) {
    this.concurrency = Math.max(1, options.concurrency ?? PASSWORD_CHECK_DEFAULTS.concurrency);
    this.maxQueued = Math.max(0, options.maxQueued ?? PASSWORD_CHECK_DEFAULTS.maxQueued);
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
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next waiter, or free it.
      const next = this.preferred.shift() ?? this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }

  private enqueue(preferred: boolean): Promise<void> {
    if (this.queued >= this.maxQueued) {
      const bumped = preferred ? this.waiting.pop() : undefined;
      if (bumped === undefined) return Promise.reject(new CheckQueueFullError());
      bumped(new CheckQueueFullError());
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = (err) => (err ? reject(err) : resolve());
      (preferred ? this.preferred : this.waiting).push(waiter);
    });
  }
}

/**
 * Password-guessing defence for CONNECT.
 *
 * - Each failed login from an address doubles the wait before that address's next
 *   attempt is checked (base, 2×base, 4×base … up to maxDelayMs); parallel attempts wait
 *   in turn. A success clears it; an
 *   address quiet for forgetAfterMs is forgotten. Other addresses are not slowed.
 *   IPv6 addresses count per /64, since one host usually owns a whole /64.
 * - At most maxConcurrentHashes password hashes run at once; others wait in a queue of at
 *   most maxQueuedHashes, and beyond that a login is refused at once, so a flood of
 *   CONNECTs cannot pin a router's CPU or grow memory without bound.
 * - The address table holds at most maxAddresses entries; the least recently failed
 *   address is dropped first.
 */

export interface AuthThrottleOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  forgetAfterMs?: number;
  maxAddresses?: number;
  maxConcurrentHashes?: number;
  maxQueuedHashes?: number;
  /** Injected clock and sleep, for tests. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export const AUTH_THROTTLE_DEFAULTS = {
  baseDelayMs: 500,
  maxDelayMs: 16_000,
  forgetAfterMs: 15 * 60_000,
  maxAddresses: 4096,
  maxConcurrentHashes: 2,
  maxQueuedHashes: 64,
} as const;

interface Failures {
  count: number;
  last: number;
  /** Attempts from this address now waiting: each waits one delay longer than the one before. */
  waiting: number;
}

export class HashQueueFullError extends Error {
  readonly code = 'EHASHQUEUEFULL';
  constructor() {
    super('too many logins waiting for a password check');
    this.name = 'HashQueueFullError';
  }
}

export class AuthThrottle {
  private readonly options: Required<Omit<AuthThrottleOptions, 'now' | 'sleep'>>;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  /** Insertion order = least recently failed first, so eviction takes the first key. */
  private readonly failures = new Map<string, Failures>();
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(options: AuthThrottleOptions = {}) {
    this.options = {
      baseDelayMs: options.baseDelayMs ?? AUTH_THROTTLE_DEFAULTS.baseDelayMs,
      maxDelayMs: options.maxDelayMs ?? AUTH_THROTTLE_DEFAULTS.maxDelayMs,
      forgetAfterMs: options.forgetAfterMs ?? AUTH_THROTTLE_DEFAULTS.forgetAfterMs,
      maxAddresses: options.maxAddresses ?? AUTH_THROTTLE_DEFAULTS.maxAddresses,
      maxConcurrentHashes: options.maxConcurrentHashes ?? AUTH_THROTTLE_DEFAULTS.maxConcurrentHashes,
      maxQueuedHashes: options.maxQueuedHashes ?? AUTH_THROTTLE_DEFAULTS.maxQueuedHashes,
    };
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** How long the next attempt from this address must wait, in ms (0 when none). */
  delayFor(address: string): number {
    const entry = this.current(addressKey(address));
    if (!entry) return 0;
    return Math.min(this.options.baseDelayMs * 2 ** Math.min(entry.count - 1, 30), this.options.maxDelayMs);
  }

  /**
   * Waits out this address's delay. Attempts made in parallel queue behind each other
   * (the second waits two delays, the third three …), so opening many connections at
   * once does not multiply an attacker's guessing rate.
   */
  async wait(address: string): Promise<void> {
    const entry = this.current(addressKey(address));
    if (!entry) return;
    const ms = this.delayFor(address) * (entry.waiting + 1);
    entry.waiting++;
    try {
      await this.sleep(ms);
    } finally {
      entry.waiting--;
    }
  }

  recordFailure(address: string): void {
    const key = addressKey(address);
    const entry = this.current(key) ?? { count: 0, last: 0, waiting: 0 };
    entry.count++;
    entry.last = this.now();
    // Re-inserted so the Map's order stays least-recently-failed first.
    this.failures.delete(key);
    this.failures.set(key, entry);
    while (this.failures.size > this.options.maxAddresses) {
      const oldest = this.failures.keys().next().value;
      if (oldest === undefined) break;
      this.failures.delete(oldest);
    }
  }

  recordSuccess(address: string): void {
    this.failures.delete(addressKey(address));
  }

  /** Number of addresses currently remembered (bounded by maxAddresses). */
  get trackedAddresses(): number {
    return this.failures.size;
  }

  /**
   * Runs a hash computation within the concurrency bound. Rejects with HashQueueFullError,
   * without running it, when the queue is full.
   */
  async runHash<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.options.maxConcurrentHashes) {
      if (this.waiting.length >= this.options.maxQueuedHashes) throw new HashQueueFullError();
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next waiter, or free it.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  private current(key: string): Failures | undefined {
    const entry = this.failures.get(key);
    if (entry && this.now() - entry.last > this.options.forgetAfterMs) {
      this.failures.delete(key);
      return undefined;
    }
    return entry;
  }
}

/** IPv4 as is (IPv4-mapped IPv6 unwrapped); IPv6 reduced to its /64 prefix. */
export function addressKey(address: string): string {
  const unmapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (unmapped) return unmapped[1];
  if (!address.includes(':')) return address;
  const groups = expandIpv6(address.split('%')[0]);
  return groups ? `${groups.slice(0, 4).join(':')}::/64` : address;
}

function expandIpv6(address: string): string[] | undefined {
  const halves = address.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return undefined;
  const groups = [...head, ...Array<string>(missing).fill('0'), ...tail];
  if (groups.some((g) => !/^[0-9a-f]{1,4}$/i.test(g))) return undefined;
  return groups.map((g) => parseInt(g, 16).toString(16));
}

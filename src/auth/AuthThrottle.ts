/**
 * Password-guessing defence for CONNECT. It never keeps a client waiting long: an attempt
 * is checked now, checked after a short wait (at most `waitUpToMs`, 1 s: a script retrying
 * after a typo is slowed, not refused), or refused now (CONNACK "not authorised" / v5 0x9F
 * Connection rate exceeded), well inside any client's CONNACK timeout (PubSubClient 15 s,
 * mqtt_as 10 s).
 *
 * - Per address and username: the first `allowance` failures are free (a typo, then the
 *   retry); after the n-th failure beyond them, that pair's attempts are refused without a
 *   check for min(base × 2^(n-1), max) ms. Once a pair has failed, one check at a time,
 *   so parallel connections do not multiply the guessing rate. Other users on the same address
 *   and other addresses are not slowed.
 * - Per network (an IPv4 address, an IPv6 /64: a home LAN is one /64, and one host may
 *   rotate through it): a looser bound, so rotating usernames or IPv6 addresses does not
 *   escape it: after `networkAllowance` failures the same doubling applies to the network.
 * - Known devices: a (address, username, client id) that logged in within `knownDeviceMs`
 *   is judged by its own failures only, so a device behind the same address as an attacker
 *   (the same NAT, the same LAN /64, even the same username) still logs in, and its check
 *   goes ahead of the queue.
 * - A success clears only the failures of the device that succeeded: never another
 *   device's, the pair's or the network's (they fade after `forgetAfterMs` of quiet).
 * - Every table holds at most `maxEntries`; the least recently used entry goes first.
 */

export interface AuthThrottleOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  forgetAfterMs?: number;
  /** Failures an address+username (or a known device) may have before it is throttled. */
  allowance?: number;
  /** Failures a network may have before its attempts are throttled at all. */
  networkAllowance?: number;
  /** How long a device that logged in stays known. */
  knownDeviceMs?: number;
  /** A block ending within this long is waited out (admitWithin) instead of refused. */
  waitUpToMs?: number;
  maxEntries?: number;
  /** Injected clock, for tests. */
  now?: () => number;
}

export const AUTH_THROTTLE_DEFAULTS = {
  baseDelayMs: 500,
  maxDelayMs: 16_000,
  forgetAfterMs: 15 * 60_000,
  allowance: 2,
  networkAllowance: 20,
  knownDeviceMs: 7 * 24 * 3600_000,
  waitUpToMs: 1000,
  maxEntries: 4096,
} as const;

/** Who is trying to log in. */
export interface LoginAttempt {
  address: string;
  username: string;
  clientId: string;
}

/** What admit() decided. A ticket must be settled with recordSuccess/recordFailure/release. */
export type Admission =
  | { admitted: false; retryAfterMs: number }
  | { admitted: true; ticket: AttemptTicket };

export interface AttemptTicket {
  /** A known device: its check goes ahead of the queue. */
  readonly known: boolean;
  readonly deviceKey: string;
  /** The record this attempt is judged by and counted in: the device's if known, else address+username's. */
  readonly ownKey: string;
  readonly networkKey: string;
}

interface Failures {
  count: number;
  last: number;
}

/** A Map kept in least-recently-used order, bounded, whose entries fade. */
class FadingTable<V extends { last: number }> {
  private readonly map = new Map<string, V>();
  constructor(
    private readonly max: number,
    private readonly lifetimeMs: number,
  ) {}

  get size(): number {
    return this.map.size;
  }

  get(key: string, now: number): V | undefined {
    const v = this.map.get(key);
    if (v && now - v.last > this.lifetimeMs) {
      this.map.delete(key);
      return undefined;
    }
    return v;
  }

  set(key: string, value: V): void {
    // Re-inserted so the Map's order stays least recently used first.
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.max) {
      const oldest = this.map.keys().next().value;
      if (oldest === undefined) break;
      this.map.delete(oldest);
    }
  }

  delete(key: string): void {
    this.map.delete(key);
  }
}

export class AuthThrottle {
  private readonly options: Required<Omit<AuthThrottleOptions, 'now'>>;
  private readonly now: () => number;
  /** Per device, per address+username and per network. */
  private readonly failures: FadingTable<Failures>;
  private readonly networkFailures: FadingTable<Failures>;
  private readonly knownDevices: FadingTable<{ last: number }>;
  /** Pairs (or known devices) with checks in progress, and how many. */
  private readonly inFlight = new Map<string, number>();

  constructor(options: AuthThrottleOptions = {}) {
    const d = AUTH_THROTTLE_DEFAULTS;
    this.options = {
      baseDelayMs: options.baseDelayMs ?? d.baseDelayMs,
      maxDelayMs: options.maxDelayMs ?? d.maxDelayMs,
      forgetAfterMs: options.forgetAfterMs ?? d.forgetAfterMs,
      allowance: options.allowance ?? d.allowance,
      networkAllowance: options.networkAllowance ?? d.networkAllowance,
      knownDeviceMs: options.knownDeviceMs ?? d.knownDeviceMs,
      waitUpToMs: options.waitUpToMs ?? d.waitUpToMs,
      maxEntries: options.maxEntries ?? d.maxEntries,
    };
    this.now = options.now ?? Date.now;
    const { maxEntries, forgetAfterMs, knownDeviceMs } = this.options;
    this.failures = new FadingTable(maxEntries, forgetAfterMs);
    this.networkFailures = new FadingTable(maxEntries, forgetAfterMs);
    this.knownDevices = new FadingTable(maxEntries, knownDeviceMs);
  }

  /** Decides, at once, whether this attempt's password is checked now or refused now. */
  admit(attempt: LoginAttempt): Admission {
    const now = this.now();
    const address = exactAddress(attempt.address);
    const pairKey = `${address} ${attempt.username}`;
    const deviceKey = `${pairKey} ${attempt.clientId}`;
    const networkKey = addressKey(attempt.address);
    const known = this.knownDevices.get(deviceKey, now) !== undefined;
    const ownKey = known ? deviceKey : pairKey;
    const own = this.failures.get(ownKey, now);
    let wait = this.remaining(own, this.options.allowance, now);
    if (!known) wait = Math.max(wait, this.remaining(this.networkFailures.get(networkKey, now), this.options.networkAllowance, now));
    // Once it has failed, one check at a time: parallel guesses do not multiply the rate.
    // Before, any number (the check queue bounds them): devices sharing one user behind one
    // NAT all log in at once after a power cut.
    if (wait === 0 && own !== undefined && this.inFlight.has(ownKey)) wait = this.options.baseDelayMs;
    if (wait > 0) return { admitted: false, retryAfterMs: wait };
    this.inFlight.set(ownKey, (this.inFlight.get(ownKey) ?? 0) + 1);
    return { admitted: true, ticket: { known, deviceKey, ownKey, networkKey } };
  }

  /** admit(), but an attempt refused for at most waitUpToMs waits that out and tries again. */
  async admitWithin(attempt: LoginAttempt): Promise<Admission> {
    const first = this.admit(attempt);
    if (first.admitted || first.retryAfterMs > this.options.waitUpToMs) return first;
    await new Promise((resolve) => setTimeout(resolve, first.retryAfterMs));
    return this.admit(attempt);
  }

  recordFailure(ticket: AttemptTicket): void {
    this.release(ticket);
    const now = this.now();
    this.count(this.failures, ticket.ownKey, now);
    this.count(this.networkFailures, ticket.networkKey, now);
  }

  recordSuccess(ticket: AttemptTicket): void {
    this.release(ticket);
    this.failures.delete(ticket.deviceKey);
    this.knownDevices.set(ticket.deviceKey, { last: this.now() });
  }

  /** Ends a ticket's check without a verdict (it could not be run). */
  release(ticket: AttemptTicket): void {
    const n = this.inFlight.get(ticket.ownKey) ?? 0;
    if (n <= 1) this.inFlight.delete(ticket.ownKey);
    else this.inFlight.set(ticket.ownKey, n - 1);
  }

  /** Entries remembered now in the failure tables (each bounded by maxEntries). */
  get trackedEntries(): number {
    return this.failures.size + this.networkFailures.size;
  }

  /** ms until a record with this many failures (beyond `allowance`) lets the next attempt in. */
  private remaining(entry: Failures | undefined, allowance: number, now: number): number {
    if (!entry || entry.count <= allowance) return 0;
    const n = entry.count - allowance;
    const delay = Math.min(this.options.baseDelayMs * 2 ** Math.min(n - 1, 30), this.options.maxDelayMs);
    return Math.max(0, entry.last + delay - now);
  }

  private count(table: FadingTable<Failures>, key: string, now: number): void {
    const entry = table.get(key, now) ?? { count: 0, last: 0 };
    entry.count++;
    entry.last = now;
    table.set(key, entry);
  }
}

/** The address as one host: IPv4-mapped IPv6 unwrapped, an IPv6 zone dropped. */
function exactAddress(address: string): string {
  const unmapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (unmapped) return unmapped[1];
  return address.split('%')[0].toLowerCase();
}

/** The network an address belongs to: IPv4 as is (IPv4-mapped unwrapped), IPv6 its /64. */
export function addressKey(address: string): string {
  const exact = exactAddress(address);
  if (!exact.includes(':')) return exact;
  const groups = expandIpv6(exact);
  return groups ? `${groups.slice(0, 4).join(':')}::/64` : exact;
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

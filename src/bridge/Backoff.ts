/**
 * The wait between connection attempts, as mosquitto's `restart_timeout`: one number is a
 * constant delay; `<base> <cap>` is "decorrelated jitter" (AWS architecture blog, as
 * mosquitto's bridge.c): each wait is random in [base, 3 × previous], capped, and a
 * successful connection starts again from base. Jitter keeps a fleet of routers from
 * reconnecting to a restarted cloud broker in lockstep.
 */
export class Backoff {
  private current: number;

  constructor(
    private readonly base: number,
    private readonly cap: number | undefined,
    private readonly random: () => number = Math.random,
  ) {
    this.current = base;
  }

  /** Seconds to wait before the next attempt. */
  next(): number {
    if (this.cap === undefined) return this.base;
    const span = this.current * 3 - this.base;
    const drawn = span > 0 ? this.base + Math.floor(this.random() * span) : this.base;
    this.current = Math.min(drawn, this.cap);
    return this.current;
  }

  reset(): void {
    this.current = this.base;
  }
}

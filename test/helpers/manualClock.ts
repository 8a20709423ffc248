/**
 * A Clock (src/rules/Clock.ts) that moves only when told: `advance(ms)` fires every timer
 * that falls due, in time order, with now() at each timer's own time — as the system clock
 * would, minus the waiting.
 */
import type { Clock, TimerHandle } from '../../src/rules/Clock';

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
}

export class ManualClock implements Clock {
  private time: number;
  private seq = 0;
  private readonly timers = new Set<Pending>();

  constructor(start: Date) {
    this.time = start.getTime();
  }

  now(): number {
    return this.time;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const pending: Pending = { at: this.time + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.add(pending);
    return { cancel: () => void this.timers.delete(pending) };
  }

  get pendingTimers(): number {
    return this.timers.size;
  }

  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let next: Pending | undefined;
      for (const t of this.timers) if (t.at <= end && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      if (!next) break;
      this.timers.delete(next);
      this.time = next.at;
      next.fn();
    }
    this.time = end;
  }
}

/**
 * Time as rules see it. The engine reads the time and sets timers only through a Clock, so
 * tests (and embedding programs) can pass their own and run a day of `at 07:30` in a moment.
 */

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once, `ms` from now. */
  setTimer(ms: number, fn: () => void): TimerHandle;
}

/** The system clock; its timers do not keep the process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    // setTimeout's limit is 2^31-1 ms (24.8 days); a weekly `at` never waits longer than 8 days.
    const timer = setTimeout(fn, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
};

/**
 * The next local time at hour:minute on one of `weekdays` (0 Sunday … 6 Saturday) strictly
 * after `after` (ms). Built from local dates, so a DST change moves it with the wall clock.
 */
export function nextClockTime(hour: number, minute: number, weekdays: ReadonlySet<number>, after: number): number {
  const from = new Date(after);
  for (let day = 0; day <= 8; day++) {
    const candidate = new Date(from.getFullYear(), from.getMonth(), from.getDate() + day, hour, minute, 0, 0);
    if (candidate.getTime() > after && weekdays.has(candidate.getDay())) return candidate.getTime();
  }
  // Unreachable with at least one weekday; a week from now keeps a caller's loop finite.
  return after + 7 * 86400_000;
}

/** Calls `fn` every `seconds`, measured from the last planned time (no drift). */
export function every(clock: Clock, seconds: number, fn: () => void): TimerHandle {
  let next = clock.now() + seconds * 1000;
  let handle: TimerHandle;
  const arm = (): void => {
    handle = clock.setTimer(next - clock.now(), () => {
      next += seconds * 1000;
      // After a suspend (or a clock jump), skip the missed ticks rather than firing them in a burst.
      if (next <= clock.now()) next = clock.now() + seconds * 1000;
      arm();
      fn();
    });
  };
  arm();
  return { cancel: () => handle.cancel() };
}

/** Calls `fn` at each hour:minute on the given weekdays, local time. */
export function dailyAt(clock: Clock, hour: number, minute: number, weekdays: ReadonlySet<number>, fn: () => void): TimerHandle {
  let handle: TimerHandle;
  const arm = (): void => {
    const at = nextClockTime(hour, minute, weekdays, clock.now());
    handle = clock.setTimer(at - clock.now(), () => {
      arm();
      fn();
    });
  };
  arm();
  return { cancel: () => handle.cancel() };
}

const WEEKDAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/** `HH:MM` (24 h); a string says what is wrong. */
export function parseClockTime(text: string): { hour: number; minute: number } | string {
  const m = /^([01]?[0-9]|2[0-3]):([0-5][0-9])$/.exec(text);
  if (!m) return `expected a time HH:MM (00:00 to 23:59), got '${text}'`;
  return { hour: Number(m[1]), minute: Number(m[2]) };
}

/** `mon tue fri`, `mon,tue` or `mon-fri`; empty means every day. A string says what is wrong. */
export function parseWeekdays(text: string): Set<number> | string {
  const days = new Set<number>();
  const words = text.toLowerCase().split(/[\s,]+/).filter((w) => w !== '');
  if (words.length === 0) return new Set([0, 1, 2, 3, 4, 5, 6]);
  for (const word of words) {
    const range = /^([a-z]{3})-([a-z]{3})$/.exec(word);
    const from = WEEKDAY_NAMES.indexOf(range ? range[1] : word.slice(0, 3));
    const to = range ? WEEKDAY_NAMES.indexOf(range[2]) : from;
    if (from < 0 || to < 0 || (!range && !/^(sun|mon|tue|wed|thu|fri|sat)[a-z]*$/.test(word))) {
      return `unknown weekday '${word}' (mon, tue, wed, thu, fri, sat, sun, or a range like mon-fri)`;
    }
    for (let d = from; ; d = (d + 1) % 7) {
      days.add(d);
      if (d === to) break;
    }
  }
  return days;
}

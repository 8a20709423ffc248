/**
 * Shared pieces of the hardening tests: a seeded PRNG (so any run can be replayed), the time
 * budget (short under `npm test`, long by hand), figures printed for RELIABILITY.md, and
 * what a child process costs (/proc: RSS, open descriptors, bytes written).
 */
import { readdirSync, readFileSync } from 'node:fs';

/**
 * mulberry32: tiny, fast, good enough to explore inputs, and the same sequence for the same
 * seed on every machine.
 */
export class Random {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [min, max]. */
  range(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

/** Seconds a fuzz or soak test runs: MQTTD_FUZZ_SECONDS, else the short CI budget given. */
export function budgetSeconds(short: number): number {
  const v = Number(process.env.MQTTD_FUZZ_SECONDS);
  return Number.isFinite(v) && v > 0 ? v : short;
}

/** Rounds of a repeated test: MQTTD_HARDENING_ROUNDS, else the short CI count given. */
export function budgetRounds(short: number): number {
  const v = Number(process.env.MQTTD_HARDENING_ROUNDS);
  return Number.isInteger(v) && v > 0 ? v : short;
}

/** MQTTD_FUZZ_SEED, else the fixed default, so `npm test` is reproducible run to run. */
export function fuzzSeed(fallback = 20240601): number {
  const v = Number(process.env.MQTTD_FUZZ_SEED);
  return Number.isInteger(v) ? v >>> 0 : fallback;
}

/**
 * Prints one line of figures for RELIABILITY.md (`# figure: name key=value ...`). stderr is
 * shown by the test runner as it comes; fuzz/run.mjs collects these lines into a table.
 */
export function figure(name: string, values: Record<string, string | number>): void {
  const parts = Object.entries(values).map(([k, v]) => `${k}=${v}`);
  process.stderr.write(`# figure: ${name} ${parts.join(' ')}\n`);
}

/** Resident set size of a process in KiB (VmRSS), 0 if it is gone. */
export function rssKiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Open file descriptors of a process (sockets included). */
export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Bytes a process has caused to be written to storage (/proc/<pid>/io write_bytes). */
export function writeBytes(pid: number): number {
  const m = /^write_bytes:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** Bytes a process asked the kernel to write, to any file or socket (/proc/<pid>/io wchar). */
export function writtenChars(pid: number): number {
  const m = /^wchar:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** Lines that show a JavaScript stack trace or an uncaught error reached the user. */
export function stackTraceLines(output: string): string[] {
  return output.split('\n').filter((l) => /^\s+at .+\(?.*:\d+:\d+\)?$/.test(l) || /Uncaught|UnhandledPromiseRejection|^\w*Error: .*\n?\s+at /.test(l));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

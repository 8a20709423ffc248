/**
 * bcrypt checks on worker threads. bcryptjs is pure JavaScript: on the broker's thread one
 * cost-10 check stalls every client for ~100 ms (seconds on a router's MIPS core), so it
 * runs here instead. PBKDF2 ($7$) needs none of this: `crypto.pbkdf2` already runs on
 * libuv's thread pool, and $6$ is one SHA-512.
 *
 * The worker is this very file: in the tsc build that is build/src/auth/BcryptWorkers.js, in
 * the esbuild bundle it is the bundle itself (dist/mqttd.js), so the package ships nothing
 * extra. A worker knows its role from workerData; a command whose module runs as a worker
 * must not start its own main (see `isBcryptWorker`).
 *
 * Workers start on the first check and stop after `idleMs` without work: a broker whose
 * users are all $7$ never pays a worker's megabytes.
 */
import type { Worker } from 'node:worker_threads';

const ROLE = 'mqttd-bcrypt-worker';

interface CheckRequest {
  id: number;
  password: string;
  hash: string;
}

interface CheckReply {
  id: number;
  matched: boolean;
  error?: string;
}

interface Pending {
  resolve(matched: boolean): void;
  reject(err: Error): void;
}

/** True inside a bcrypt worker thread: an entry point must then leave the thread to it. */
export function isBcryptWorker(): boolean {
  const threads = require('node:worker_threads') as typeof import('node:worker_threads');
  return !threads.isMainThread && (threads.workerData as { role?: string } | null)?.role === ROLE;
}

/** The worker's side: answer compare requests until the broker lets go. */
function serve(): void {
  lowerThreadPriority();
  const { parentPort } = require('node:worker_threads') as typeof import('node:worker_threads');
  const bcrypt = require('bcryptjs') as typeof import('bcryptjs');
  parentPort?.on('message', (request: CheckRequest) => {
    let reply: CheckReply;
    try {
      reply = { id: request.id, matched: bcrypt.compareSync(request.password, request.hash) };
    } catch (err) {
      reply = { id: request.id, matched: false, error: String(err) };
    }
    parentPort.postMessage(reply);
  });
}

/**
 * On a one- or two-core router the broker's thread must win the CPU over a guessing storm's
 * checks: this thread runs at nice 19. Linux's setpriority takes a thread id, found through
 * /proc/thread-self; elsewhere the thread keeps the broker's priority.
 */
function lowerThreadPriority(): void {
  try {
    const { readlinkSync } = require('node:fs') as typeof import('node:fs');
    const { setPriority } = require('node:os') as typeof import('node:os');
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, 19);
  } catch {
    // Not Linux, or not allowed: checks still run off the event loop, just not niced.
  }
}

if (isBcryptWorker()) serve();

class WorkerSlot {
  readonly pending = new Map<number, Pending>();
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly worker: Worker,
    private readonly idleMs: number,
    private readonly onGone: (slot: WorkerSlot) => void,
  ) {
    worker.on('message', (reply: CheckReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (reply.error !== undefined) p.reject(new Error(`bcrypt worker: ${reply.error}`));
      else p.resolve(reply.matched);
      this.settle();
    });
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => this.fail(new Error(`bcrypt worker exited (code ${code})`)));
    this.settle();
  }

  send(request: CheckRequest, pending: Pending): void {
    this.pending.set(request.id, pending);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    // A check in progress keeps the process alive, as any other pending I/O would.
    this.worker.ref();
    this.worker.postMessage(request);
  }

  private settle(): void {
    if (this.pending.size > 0) return;
    this.worker.unref();
    this.idleTimer = setTimeout(() => void this.worker.terminate(), this.idleMs);
    this.idleTimer.unref();
  }

  private fail(err: Error): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.onGone(this);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

export interface BcryptWorkersOptions {
  /** Worker threads at most (each runs one check at a time). */
  threads?: number;
  /** A worker with nothing to do for this long stops. */
  idleMs?: number;
}

export class BcryptWorkers {
  private readonly slots: WorkerSlot[] = [];
  private readonly threads: number;
  private readonly idleMs: number;
  private nextId = 0;

  constructor(options: BcryptWorkersOptions = {}) {
    this.threads = Math.max(1, options.threads ?? 2);
    this.idleMs = options.idleMs ?? 30_000;
  }

  /** Workers running now (0 when idle long enough). */
  get running(): number {
    return this.slots.length;
  }

  /** bcrypt.compareSync on a worker: the least busy one, or a new one while under the bound. */
  compare(password: string, hash: string): Promise<boolean> {
    const slot = this.pick();
    return new Promise<boolean>((resolve, reject) => slot.send({ id: ++this.nextId, password, hash }, { resolve, reject }));
  }

  /** Stops every worker (pending checks reject). */
  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private pick(): WorkerSlot {
    let best: WorkerSlot | undefined;
    for (const s of this.slots) if (!best || s.pending.size < best.pending.size) best = s;
    if (best && (best.pending.size === 0 || this.slots.length >= this.threads)) return best;
    const { Worker } = require('node:worker_threads') as typeof import('node:worker_threads');
    // Not eval: the worker needs bcryptjs, which is inside this file once bundled.
    const worker = new Worker(__filename, { workerData: { role: ROLE }, stdout: false, stderr: false });
    const slot = new WorkerSlot(worker, this.idleMs, (gone) => {
      const i = this.slots.indexOf(gone);
      if (i >= 0) this.slots.splice(i, 1);
    });
    this.slots.push(slot);
    return slot;
  }
}

let shared: BcryptWorkers | undefined;

/**
 * The process's workers. How many checks run at once is bounded before this (FileSecurity's
 * PasswordCheckQueue): a worker is added only when every one is busy, so there are never
 * more than that bound (nor more than 4).
 */
export function bcryptWorkers(): BcryptWorkers {
  return (shared ??= new BcryptWorkers({ threads: 4 }));
}

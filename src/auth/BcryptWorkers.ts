/**
 * bcrypt checks on worker threads. bcryptjs is pure JavaScript: on the broker's thread one
 * cost-10 check stalls every client for ~100 ms (seconds on a router's MIPS core), so it
 * runs here instead. PBKDF2 ($7$) needs none of this: `crypto.pbkdf2` already runs on
 * libuv's thread pool, and $6$ is one SHA-512.
 *
 * A worker runs bcryptWorkerMain: in the bundle, its code is a string the bundler built
 * (the package ships one file per command, nothing beside it); unbundled, the file next to
 * this one. Workers start on the first check and stop after `idleMs` without work: a broker
 * whose users are all $7$ never pays a worker's memory.
 */
import type { Worker } from 'node:worker_threads';
import type { CheckReply, CheckRequest } from './bcryptWorkerMain';

// scripts/bundle.mjs replaces this with bcryptWorkerMain's bundled code.
declare const MQTTD_BCRYPT_WORKER: string | undefined;

interface Pending {
  resolve(matched: boolean): void;
  reject(err: Error): void;
}

function startWorker(): Worker {
  const { Worker } = require('node:worker_threads') as typeof import('node:worker_threads');
  const options = { stdout: false, stderr: false };
  if (typeof MQTTD_BCRYPT_WORKER === 'string') return new Worker(MQTTD_BCRYPT_WORKER, { ...options, eval: true });
  const { join } = require('node:path') as typeof import('node:path');
  return new Worker(join(__dirname, 'bcryptWorkerMain.js'), options);
}

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
    this.idleTimer = setTimeout(() => {
      // Out of the pool first, so no check is sent to a worker that is stopping.
      this.onGone(this);
      void this.worker.terminate();
    }, this.idleMs);
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
    const slot = new WorkerSlot(startWorker(), this.idleMs, (gone) => {
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

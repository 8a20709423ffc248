/**
 * Script rules, seen from the broker's thread. The scripts run in one worker thread; this
 * side subscribes and sets timers for them, forwards events, publishes what they ask, keeps
 * their `mqttd.state`, and keeps them from harming the broker:
 *  - a throw is logged with file and line; a script that fails `maxFailures` times within
 *    `failureWindowMs` is stopped until the next reload;
 *  - a callback that runs longer than `budgetMs` (a loop) gets the worker terminated and
 *    started again without that script; the other scripts reload with their state.
 */
import { join } from 'node:path';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import type { Message } from '../broker/Message';
import { hopsAfter } from './RulePublisher';
import { dailyAt, every, type TimerHandle } from './Clock';
import type { RuleStatus } from './Rule';
import type { RuleState } from './RuleState';
import {
  WATCH_CURRENT,
  WATCH_GENERATION,
  WATCH_HANDLER,
  WATCH_LAST,
  WATCH_SLOTS,
  type HostToWorker,
  type ScriptFile,
  type ScriptWorkerData,
  type WorkerToHost,
} from './ScriptMessages';
import type { RuleRuntime } from './SimpleRuleRunner';

// scripts/bundle.mjs replaces this with scriptWorkerMain's bundled code.
declare const MQTTD_RULES_WORKER: string | undefined;

/** The scripts' thread: in the bundle from the code it carries, unbundled from the file beside this one. */
function startScriptWorker(data: ScriptWorkerData, resourceLimits: ResourceLimits): Worker {
  const options = { workerData: data, resourceLimits, stdout: false, stderr: false };
  if (typeof MQTTD_RULES_WORKER === 'string') return new Worker(MQTTD_RULES_WORKER, { ...options, eval: true });
  return new Worker(join(__dirname, 'scriptWorkerMain.js'), options);
}

export interface ScriptLimits {
  /** Longest one callback may run before its script is stopped. */
  budgetMs: number;
  maxFailures: number;
  failureWindowMs: number;
  /** JSON bytes of one script's mqttd.state. */
  maxStateBytes: number;
  /** Heap of the scripts' thread: a leaking script ends its worker, not the broker. */
  maxHeapMb: number;
  /** Events waiting for the scripts' thread; beyond this, new ones are dropped (and counted). */
  maxBacklog: number;
}

export const DEFAULT_SCRIPT_LIMITS: ScriptLimits = {
  budgetMs: 1000,
  maxFailures: 5,
  failureWindowMs: 60_000,
  maxStateBytes: 64 * 1024,
  maxHeapMb: 64,
  maxBacklog: 10_000,
};

interface ScriptRecord {
  file: ScriptFile;
  state: RuleStatus['state'];
  fired: number;
  lastFired: number | null;
  lastError: string | null;
  lastErrorAt: number | null;
  failures: number[];
}

/** A subscription or timer held for a script in the current worker. */
interface HeldHandler {
  script: ScriptRecord;
  /** `file:line` of the mqttd.on/every/at call that made it. */
  where: string;
  release(): void;
}

export class ScriptHost {
  private readonly records: ScriptRecord[];
  private worker: Worker | undefined;
  /** Worker index → record, for the worker running now. */
  private running: ScriptRecord[] = [];
  private readonly handlers = new Map<number, HeldHandler>();
  private watch: Int32Array | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private watchedGeneration = -1;
  private watchedSince = 0;
  private ping: { seq: number; sentAt: number; generation: number } | undefined;
  private pingSeq = 0;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private restartDelay = 1000;
  private loaded: (() => void) | undefined;
  /** Events posted to the current worker; with its callback count, how far behind it is. */
  private posted = 0;
  private dropped = 0;
  private droppedLogged = 0;

  constructor(
    files: ScriptFile[],
    private readonly rt: RuleRuntime,
    private readonly store: RuleState,
    private readonly limits: ScriptLimits = DEFAULT_SCRIPT_LIMITS,
  ) {
    this.records = files.map((file) => ({ file, state: 'active', fired: 0, lastFired: null, lastError: null, lastErrorAt: null, failures: [] }));
  }

  /** Starts the worker; resolves once every script has run its setup (or failed to). */
  start(): Promise<void> {
    return this.spawn();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.loaded?.();
    await this.endWorker();
  }

  status(): RuleStatus[] {
    return this.records.map((r) => ({
      name: r.file.name,
      kind: 'script',
      source: `${r.file.path}:1`,
      state: r.state,
      fired: r.fired,
      last_fired: r.lastFired,
      last_error: r.lastError,
      last_error_at: r.lastErrorAt,
    }));
  }

  private spawn(): Promise<void> {
    this.running = this.records.filter((r) => r.state === 'active');
    if (this.running.length === 0 || this.stopping) return Promise.resolve();
    const shared = new SharedArrayBuffer(WATCH_SLOTS * 4);
    this.watch = new Int32Array(shared);
    this.posted = 0;
    const state: Record<string, string> = {};
    for (const r of this.running) {
      const json = this.store.get(r.file.name);
      if (json !== undefined) state[r.file.name] = json;
    }
    const worker = startScriptWorker(
      { scripts: this.running.map((r) => r.file), state, watch: shared, maxStateBytes: this.limits.maxStateBytes },
      { maxOldGenerationSizeMb: this.limits.maxHeapMb },
    );
    this.worker = worker;
    worker.on('message', (m: WorkerToHost) => {
      // Whatever a script asks, a fault in answering it must not reach the broker's loop.
      try {
        this.receive(m);
      } catch (err) {
        this.rt.log.error(`Script rules: cannot handle '${m.t}' from the worker: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
    worker.on('error', (err) => this.rt.log.error(`Script rules: the worker failed: ${err.message}`));
    worker.on('exit', () => this.exited(worker));
    const period = Math.max(25, Math.floor(this.limits.budgetMs / 4));
    this.watchdog = setInterval(() => this.checkWatch(), period);
    this.watchdog.unref();
    return new Promise<void>((resolve) => (this.loaded = resolve));
  }

  private exited(worker: Worker): void {
    if (worker !== this.worker) return; // terminated on purpose and already replaced
    // Its watch slots may still say "running" (it died inside a callback): the watchdog must
    // not blame a script for a thread that is gone.
    this.worker = undefined;
    this.watch = undefined;
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = undefined;
    this.ping = undefined;
    this.releaseAll();
    this.loaded?.();
    if (this.stopping) return;
    this.rt.log.error(`Script rules: the worker exited; restarting it in ${this.restartDelay / 1000} s.`);
    this.restartTimer = setTimeout(() => void this.spawn(), this.restartDelay);
    this.restartTimer.unref();
    this.restartDelay = Math.min(this.restartDelay * 2, 60_000);
  }

  private async endWorker(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = undefined;
    this.ping = undefined;
    this.releaseAll();
    if (worker) await worker.terminate();
  }

  private releaseAll(): void {
    for (const h of this.handlers.values()) h.release();
    this.handlers.clear();
  }

  private post(m: HostToWorker): void {
    this.worker?.postMessage(m);
  }

  /**
   * Sends a message or timer event, unless the worker is `maxBacklog` events behind (a
   * script too slow for its traffic): then the event is dropped, so the queue between the
   * threads cannot grow without bound. Every callback bumps the generation, so
   * posted − generation bounds the events not yet started.
   */
  private postEvent(record: ScriptRecord, m: HostToWorker): boolean {
    const started = this.watch ? Atomics.load(this.watch, WATCH_GENERATION) : 0;
    if (this.posted - started >= this.limits.maxBacklog) {
      this.dropped++;
      const now = Date.now();
      if (now - this.droppedLogged >= 10_000) {
        this.droppedLogged = now;
        this.noteError(record, `the script thread is ${this.limits.maxBacklog} events behind; ${this.dropped} dropped so far`);
        this.rt.log.warning(`Script rules: ${this.limits.maxBacklog} events waiting; ${this.dropped} dropped so far.`);
      }
      return false;
    }
    this.posted++;
    this.post(m);
    return true;
  }

  /** Stops a script that overran its budget: the worker is replaced by one without it. */
  private checkWatch(): void {
    const watch = this.watch;
    if (!watch || !this.worker) return;
    const now = Date.now();
    const current = Atomics.load(watch, WATCH_CURRENT);
    const generation = Atomics.load(watch, WATCH_GENERATION);
    if (current !== 0) {
      if (generation !== this.watchedGeneration) {
        this.watchedGeneration = generation;
        this.watchedSince = now;
      } else if (now - this.watchedSince > this.limits.budgetMs) {
        const where = this.handlers.get(Atomics.load(watch, WATCH_HANDLER))?.where;
        return this.blocked(current - 1, `blocked its thread for more than ${this.limits.budgetMs} ms${where ? ` in the handler of ${where}` : ''}`);
      }
    }
    // Code outside any callback (a promise continuation) can block too: the worker then
    // answers no ping, and no callback has started since the ping was sent.
    if (this.ping) {
      if (now - this.ping.sentAt > this.limits.budgetMs + 1000 && current === 0 && generation === this.ping.generation) {
        return this.blocked(Atomics.load(watch, WATCH_LAST) - 1, `blocked its thread for more than ${this.limits.budgetMs} ms (outside a handler)`);
      }
    } else if (now - this.watchedSince > 1000) {
      this.ping = { seq: ++this.pingSeq, sentAt: now, generation };
      this.post({ t: 'ping', seq: this.ping.seq });
    }
  }

  private blocked(index: number, reason: string): void {
    const record = this.running[index];
    if (record) {
      record.state = 'failed';
      this.noteError(record, `${reason}; stopped until the next reload`);
      this.rt.log.error(`Rule ${record.file.name}: ${reason}; the script thread is restarted without it.`);
    }
    void this.endWorker().then(() => void this.spawn());
  }

  private noteError(record: ScriptRecord, text: string): void {
    record.lastError = text;
    record.lastErrorAt = Math.floor(this.rt.clock.now() / 1000);
    this.rt.changed();
  }

  private hold(handler: number, record: ScriptRecord, where: string, release: () => void): void {
    this.handlers.set(handler, { script: record, where, release });
  }

  private fired(record: ScriptRecord): void {
    record.fired++;
    record.lastFired = Math.floor(this.rt.clock.now() / 1000);
    this.rt.changed();
  }

  private receive(m: WorkerToHost): void {
    if (m.t === 'loaded') {
      this.restartDelay = 1000;
      this.loaded?.();
      this.loaded = undefined;
      return;
    }
    if (m.t === 'pong') {
      if (this.ping?.seq === m.seq) this.ping = undefined;
      this.watchedSince = Date.now();
      return;
    }
    if (m.t === 'cancel') {
      this.handlers.get(m.handler)?.release();
      this.handlers.delete(m.handler);
      return;
    }
    const record = this.running[m.script];
    if (!record || record.state !== 'active') return;
    const ruleId = `script:${record.file.name}`;
    switch (m.t) {
      case 'on': {
        const handler = m.handler;
        const release = this.rt.triggers.listen(m.filter, (message: Message, _payload, origin) => {
          if (record.state !== 'active') return;
          const hops = hopsAfter(origin, ruleId);
          if (hops < 0) return;
          // A dropped event did not fire the script: only a posted one counts.
          const posted = this.postEvent(record, {
            t: 'message',
            handler,
            hops,
            // A copy of just the payload: cloning a Buffer would copy its whole pool.
            message: { topic: message.topic, payload: new Uint8Array(message.payload), qos: message.qos, retain: message.retain, clientId: message.origin },
          });
          if (posted) this.fired(record);
        });
        this.hold(handler, record, m.where, release);
        return;
      }
      case 'every':
      case 'at': {
        const handler = m.handler;
        const tick = (): void => {
          if (record.state !== 'active') return;
          if (this.postEvent(record, { t: 'timer', handler })) this.fired(record);
        };
        const timer: TimerHandle =
          m.t === 'every' ? every(this.rt.clock, m.seconds, tick) : dailyAt(this.rt.clock, m.hour, m.minute, new Set(m.weekdays), tick);
        this.hold(handler, record, m.where, () => timer.cancel());
        return;
      }
      case 'publish': {
        const payload = typeof m.payload === 'string' ? m.payload : Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength);
        const problem = this.rt.publisher.publish(ruleId, m.hops, m.topic, payload, m.qos, m.retain);
        if (problem) {
          this.noteError(record, problem);
          this.rt.log.warning(`Rule ${record.file.name}: ${problem}`);
        }
        return;
      }
      case 'retained': {
        const found = this.rt.broker.retained.get(m.topic);
        const live = found && !found.isExpired(Date.now()) ? found : undefined;
        this.post({
          t: 'retained',
          request: m.request,
          message: live ? { topic: live.topic, payload: new Uint8Array(live.payload), qos: live.qos, retain: true, clientId: live.origin } : null,
        });
        return;
      }
      case 'log':
        this.rt.log.notice(`Rule ${record.file.name}: ${m.text}`);
        return;
      case 'state':
        this.store.set(record.file.name, m.json);
        return;
      case 'error':
        return this.scriptError(record, m.where, m.text, m.fatal);
    }
  }

  private scriptError(record: ScriptRecord, where: string, text: string, fatal: boolean): void {
    if (fatal) {
      record.state = 'invalid';
      this.releaseScript(record);
      this.rt.changed();
      return;
    }
    this.noteError(record, `${where}: ${text}`);
    this.rt.log.warning(`Rule ${record.file.name}: ${where}: ${text}`);
    const now = Date.now();
    record.failures = record.failures.filter((t) => now - t < this.limits.failureWindowMs);
    record.failures.push(now);
    if (record.failures.length >= this.limits.maxFailures) {
      record.state = 'failed';
      this.releaseScript(record);
      const reason = `failed ${record.failures.length} times within ${this.limits.failureWindowMs / 1000} s; stopped until the next reload`;
      this.noteError(record, `${where}: ${text} (${reason})`);
      this.rt.log.error(`Rule ${record.file.name}: ${reason}.`);
    }
  }

  private releaseScript(record: ScriptRecord): void {
    for (const [id, h] of this.handlers) {
      if (h.script !== record) continue;
      h.release();
      this.handlers.delete(id);
    }
  }
}

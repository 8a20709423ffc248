/**
 * The script rules' thread. Each `*.js` file of rules_dir is a CommonJS module exporting
 * `function (mqttd) { … }`; it is called once with the API below. Every callback runs
 * marked in shared memory (ScriptMessages WATCH_*) so the broker thread can stop a script
 * that loops, and inside an AsyncLocalStorage holding the trigger's hop count, so what a
 * handler publishes (even after an await) carries it for loop protection.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { format } from 'node:util';
import { compileFunction } from 'node:vm';
import { parentPort } from 'node:worker_threads';
import { isValidTopicFilter, isValidTopicName } from '../broker/topics';
import { parseClockTime, parseWeekdays } from './Clock';
import {
  WATCH_CURRENT,
  WATCH_GENERATION,
  WATCH_HANDLER,
  WATCH_LAST,
  type HostToWorker,
  type ScriptFile,
  type ScriptWorkerData,
  type WireMessage,
  type WorkerToHost,
} from './ScriptMessages';

/** A message as a script's `mqttd.on` handler receives it. */
export interface ScriptMessage {
  topic: string;
  payload: Buffer;
  readonly text: string;
  json(): unknown;
  qos: 0 | 1 | 2;
  retain: boolean;
  clientId: string | undefined;
}

type Callback = (...args: unknown[]) => unknown;

interface Handler {
  script: number;
  fn: Callback;
}

/** The parameters a script's module wrapper gets, as Node's CommonJS wrapper plus guarded timers. */
const WRAPPER_PARAMS = ['exports', 'require', 'module', '__filename', '__dirname', 'setTimeout', 'setInterval', 'clearTimeout', 'clearInterval'];

/** Where in a script an error was thrown: `path:line` from its stack, or the path alone. */
export function scriptLocation(err: unknown, path: string): string {
  const stack = err instanceof Error ? (err.stack ?? '') : '';
  const at = stack.indexOf(`${path}:`);
  if (at >= 0) {
    const m = /^:(\d+)/.exec(stack.slice(at + path.length));
    if (m) return `${path}:${m[1]}`;
  }
  return path;
}

function errorText(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return `thrown ${format('%o', err)}`;
}

class ScriptWorker {
  private readonly watch: Int32Array;
  private readonly handlers = new Map<number, Handler>();
  private readonly retainedRequests = new Map<number, (m: WireMessage | null) => void>();
  private readonly states: Record<string, unknown>[] = [];
  private readonly stateJson: string[] = [];
  private readonly hops = new AsyncLocalStorage<number>();
  private nextHandler = 1;
  private nextRequest = 1;

  constructor(
    private readonly data: ScriptWorkerData,
    private readonly port: NonNullable<typeof parentPort>,
  ) {
    this.watch = new Int32Array(data.watch);
  }

  start(): void {
    this.port.on('message', (m: HostToWorker) => this.receive(m));
    // A throw in a script's own timer or promise reaches here: blame the script by its stack.
    process.on('uncaughtException', (err) => this.uncaught(err));
    process.on('unhandledRejection', (err) => this.uncaught(err));
    this.data.scripts.forEach((s, i) => this.load(s, i));
    setInterval(() => this.saveStates(), 1000).unref();
    this.post({ t: 'loaded' });
  }

  private post(m: WorkerToHost): void {
    this.port.postMessage(m);
  }

  /** Runs a script's callback marked as running (for the host's watchdog), reporting a throw. */
  private guard(script: number, hops: number, what: string, fn: () => unknown, handler = 0): void {
    Atomics.store(this.watch, WATCH_HANDLER, handler);
    Atomics.store(this.watch, WATCH_CURRENT, script + 1);
    Atomics.store(this.watch, WATCH_LAST, script + 1);
    Atomics.add(this.watch, WATCH_GENERATION, 1);
    try {
      const result = this.hops.run(hops, fn);
      if (result instanceof Promise) result.catch((err: unknown) => this.failed(script, err, what));
    } catch (err) {
      this.failed(script, err, what);
    } finally {
      Atomics.store(this.watch, WATCH_CURRENT, 0);
      this.saveState(script);
    }
  }

  private failed(script: number, err: unknown, what: string): void {
    const path = this.data.scripts[script].path;
    this.post({ t: 'error', script, where: scriptLocation(err, path), text: `${what}: ${errorText(err)}`, fatal: false });
  }

  private uncaught(err: unknown): void {
    const stack = err instanceof Error ? (err.stack ?? '') : '';
    const script = this.data.scripts.findIndex((s) => stack.includes(`${s.path}:`));
    const last = Atomics.load(this.watch, WATCH_LAST) - 1;
    const blamed = script >= 0 ? script : last;
    if (blamed >= 0) this.failed(blamed, err, 'uncaught');
  }

  private load(file: ScriptFile, index: number): void {
    let exported: unknown;
    const json = this.data.state[file.name];
    let state: Record<string, unknown> = {};
    try {
      const parsed: unknown = json === undefined ? {} : JSON.parse(json);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) state = parsed as Record<string, unknown>;
    } catch {
      // The host only ever stores what JSON.stringify made; a bad entry starts empty.
    }
    this.states[index] = state;
    this.stateJson[index] = JSON.stringify(state);
    let ok = false;
    this.guard(index, 1, 'loading', () => {
      const source = readFileSync(file.path, 'utf8');
      const wrapper = compileFunction(source, WRAPPER_PARAMS, { filename: file.path });
      const module = { exports: {} as unknown };
      const timers = this.guardedTimers(index);
      wrapper.call(module.exports, module.exports, createRequire(file.path), module, file.path, dirname(file.path), ...timers);
      exported = module.exports;
      if (typeof exported !== 'function') throw new TypeError(`module.exports must be a function (mqttd) { … }, got ${typeof exported}`);
      ok = true;
    });
    if (!ok) return this.failedToLoad(index);
    let started = false;
    this.guard(index, 1, 'setup', () => {
      const result = (exported as Callback)(this.api(index));
      started = true;
      return result;
    });
    if (!started) this.failedToLoad(index);
  }

  private failedToLoad(index: number): void {
    // The error is already posted; a second, fatal one tells the host the script is out.
    for (const [id, h] of this.handlers) if (h.script === index) this.handlers.delete(id);
    this.post({ t: 'error', script: index, where: this.data.scripts[index].path, text: 'not loaded', fatal: true });
  }

  /** setTimeout and friends for one script: callbacks run guarded, as handlers do. */
  private guardedTimers(script: number): unknown[] {
    const wrap = (fn: unknown, args: unknown[]): (() => void) => {
      if (typeof fn !== 'function') throw new TypeError('callback must be a function');
      const hops = this.hops.getStore() ?? 1;
      return () => this.guard(script, hops, 'timer', () => (fn as Callback)(...args));
    };
    const setTimeoutFn = (fn: unknown, ms?: number, ...args: unknown[]) => setTimeout(wrap(fn, args), ms);
    const setIntervalFn = (fn: unknown, ms?: number, ...args: unknown[]) => setInterval(wrap(fn, args), ms);
    return [setTimeoutFn, setIntervalFn, clearTimeout, clearInterval];
  }

  private where(): string {
    // Frame 0 is this function, 1 the API method, 2 the script's call.
    const lines = (new Error().stack ?? '').split('\n').slice(3);
    for (const line of lines) {
      const s = this.data.scripts.find((f) => line.includes(`${f.path}:`));
      if (s) {
        const m = new RegExp(`${s.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:(\\d+)`).exec(line);
        if (m) return `${s.path}:${m[1]}`;
      }
    }
    return '';
  }

  private register(script: number, fn: unknown, what: string): number {
    if (typeof fn !== 'function') throw new TypeError(`${what}: the handler must be a function`);
    const handler = this.nextHandler++;
    this.handlers.set(handler, { script, fn: fn as Callback });
    return handler;
  }

  /** The `mqttd` object one script gets (see docs/rules.md for the contract). */
  private api(script: number): object {
    const cancel = (handler: number) => () => {
      this.handlers.delete(handler);
      this.post({ t: 'cancel', handler });
    };
    const worker = this;
    return Object.freeze({
      on: (filter: unknown, fn: unknown) => {
        if (typeof filter !== 'string' || !isValidTopicFilter(filter) || filter.startsWith('$share/')) {
          throw new TypeError(`mqttd.on: ${JSON.stringify(filter)} is not a topic filter`);
        }
        const handler = this.register(script, fn, 'mqttd.on');
        this.post({ t: 'on', script, handler, filter, where: this.where() });
        return cancel(handler);
      },
      every: (seconds: unknown, fn: unknown) => {
        if (typeof seconds !== 'number' || !(seconds >= 1) || seconds > 7 * 86400) {
          throw new RangeError(`mqttd.every: seconds must be a number from 1 to 604800, got ${String(seconds)}`);
        }
        const handler = this.register(script, fn, 'mqttd.every');
        this.post({ t: 'every', script, handler, seconds, where: this.where() });
        return cancel(handler);
      },
      at: (time: unknown, weekdaysOrFn: unknown, maybeFn?: unknown) => {
        const fn = typeof weekdaysOrFn === 'function' ? weekdaysOrFn : maybeFn;
        const days = typeof weekdaysOrFn === 'string' ? weekdaysOrFn : '';
        const t = typeof time === 'string' ? parseClockTime(time) : 'expected a string HH:MM';
        if (typeof t === 'string') throw new RangeError(`mqttd.at: ${t}`);
        const weekdays = parseWeekdays(days);
        if (typeof weekdays === 'string') throw new RangeError(`mqttd.at: ${weekdays}`);
        const handler = this.register(script, fn, 'mqttd.at');
        this.post({ t: 'at', script, handler, hour: t.hour, minute: t.minute, weekdays: [...weekdays], where: this.where() });
        return cancel(handler);
      },
      publish: (topic: unknown, payload: unknown, options: { qos?: unknown; retain?: unknown } = {}) => {
        if (typeof topic !== 'string' || !isValidTopicName(topic)) throw new TypeError(`mqttd.publish: ${JSON.stringify(topic)} is not a topic name`);
        const qos = options.qos ?? 0;
        if (qos !== 0 && qos !== 1 && qos !== 2) throw new RangeError('mqttd.publish: qos must be 0, 1 or 2');
        const body =
          payload === undefined || payload === null
            ? ''
            : typeof payload === 'string'
              ? payload
              : payload instanceof Uint8Array
                ? new Uint8Array(payload)
              : typeof payload === 'object'
                ? JSON.stringify(payload)
                : String(payload);
        this.post({ t: 'publish', script, hops: this.hops.getStore() ?? 1, topic, payload: body, qos, retain: options.retain === true });
      },
      retained: (topic: unknown) => {
        if (typeof topic !== 'string' || !isValidTopicName(topic)) return Promise.reject(new TypeError(`mqttd.retained: ${JSON.stringify(topic)} is not a topic name`));
        const request = this.nextRequest++;
        return new Promise<ScriptMessage | undefined>((resolve) => {
          this.retainedRequests.set(request, (m) => resolve(m ? toScriptMessage(m) : undefined));
          this.post({ t: 'retained', script, request, topic });
        });
      },
      log: (...args: unknown[]) => this.post({ t: 'log', script, text: format(...args) }),
      get state() {
        return worker.states[script];
      },
    });
  }

  /** Sends a script's state to the host when it changed (compared as JSON, so nested edits count). */
  private saveState(script: number): void {
    const state = this.states[script];
    if (state === undefined) return;
    let json: string;
    try {
      json = JSON.stringify(state);
    } catch (err) {
      return void this.failed(script, err, 'mqttd.state is not JSON');
    }
    if (json === this.stateJson[script]) return;
    this.stateJson[script] = json;
    if (Buffer.byteLength(json) > this.data.maxStateBytes) {
      return void this.failed(script, new RangeError(`mqttd.state is larger than ${this.data.maxStateBytes} bytes; not saved`), 'state');
    }
    this.post({ t: 'state', script, json });
  }

  private saveStates(): void {
    for (let i = 0; i < this.states.length; i++) this.saveState(i);
  }

  private receive(m: HostToWorker): void {
    switch (m.t) {
      case 'message': {
        const h = this.handlers.get(m.handler);
        if (!h) return;
        const message = toScriptMessage(m.message);
        this.guard(h.script, m.hops, `handler for ${message.topic}`, () => h.fn(message), m.handler);
        return;
      }
      case 'timer': {
        const h = this.handlers.get(m.handler);
        if (h) this.guard(h.script, 1, 'timer', () => h.fn(), m.handler);
        return;
      }
      case 'retained': {
        const resolve = this.retainedRequests.get(m.request);
        this.retainedRequests.delete(m.request);
        resolve?.(m.message);
        return;
      }
      case 'ping':
        this.post({ t: 'pong', seq: m.seq });
        return;
    }
  }
}

function toScriptMessage(m: WireMessage): ScriptMessage {
  const payload = Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength);
  let text: string | undefined;
  return {
    topic: m.topic,
    payload,
    get text() {
      return (text ??= payload.toString('utf8'));
    },
    json() {
      try {
        return JSON.parse(this.text) as unknown;
      } catch {
        return undefined;
      }
    },
    qos: m.qos,
    retain: m.retain,
    clientId: m.clientId,
  };
}

/** Runs the worker side (called by scriptWorkerMain.ts in the worker thread). */
export function runScriptWorker(data: ScriptWorkerData): void {
  if (!parentPort) throw new Error('the script rules run in a worker thread');
  new ScriptWorker(data, parentPort).start();
}

#!/usr/bin/env node
/**
 * What one save of a big store costs (docs/persistence.md, RELIABILITY.md).
 *
 *   npm run build && node --expose-gc bench/store-save.mjs
 *
 * State: SESSIONS offline persistent sessions (v5, expiry 1 h), each with MESSAGES queued
 * QoS 1 messages of 100 bytes, all from one fan-out (each message queued to every session).
 * 1. mqttd, in process: the broker is restored to that state, then saved as Daemon.save does
 *    (Broker.snapshot() + FileStore.save()). Printed: store size, save duration, the longest
 *    event-loop pause during the save (monitorEventLoopDelay) and the RSS high-water mark
 *    before and after (getrusage maxrss: a peak between two samples is not missed).
 * 2. Restart: a store of 20 offline sessions × 50 queued 10 KB messages (one fan-out) is
 *    written, the real daemon (dist/mqttd.js) starts from it and its RSS is read from /proc
 *    (and from an empty store, for comparison).
 * 3. mosquitto (/usr/sbin/mosquitto, persistence on, a free port): the same sessions made by
 *    MQTT.js (clean false, subscribe QoS 1), the same messages published, stopped with
 *    SIGTERM (it saves), mosquitto.db measured.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { Broker } = require(join(root, 'build/src/broker/Broker.js'));
const { FileStore } = require(join(root, 'build/src/persistence/FileStore.js'));
const mqtt = require('mqtt');

const SESSIONS = Number(process.env.STORE_BENCH_SESSIONS ?? 500);
const MESSAGES = Number(process.env.STORE_BENCH_MESSAGES ?? 1000);
const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;

const messages = Array.from({ length: MESSAGES }, (_, n) => ({ topic: `bench/${n}`, payload: Buffer.alloc(100, n & 0xff), qos: 1, retain: false }));

/** Sessions `from` to `to` (exclusive): restored a batch at a time, so that building the state does not set the RSS peak. */
function stateSnapshot(from, to) {
  const sessions = [];
  for (let i = from; i < to; i++) {
    sessions.push({
      clientId: `sub${i}`,
      protocolVersion: 5,
      expiryInterval: 3600,
      disconnectedAt: Date.now(),
      subscriptions: [{ filter: 'bench/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
      queue: messages.map((m) => ({ ...m })),
      incomingQos2Ids: [],
    });
  }
  return { retained: [], sessions };
}

async function mqttdSave() {
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-store-bench-'));
  try {
    const broker = new Broker({ limits: { maxQueuedMessages: 0 } });
    for (let i = 0; i < SESSIONS; i += 25) broker.restore(stateSnapshot(i, Math.min(SESSIONS, i + 25)));
    global.gc?.();
    const store = new FileStore(join(dir, 'mqttd.db'));
    const rssBefore = process.memoryUsage().rss;
    const maxBefore = process.resourceUsage().maxRSS * 1024;
    const delay = monitorEventLoopDelay({ resolution: 5 });
    // A timer that should fire every 5 ms: its longest gap is the longest freeze a client sees.
    let last = performance.now();
    let longest = 0;
    const tick = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
    }, 5);
    await new Promise((r) => setTimeout(r, 50));
    delay.enable();
    const start = performance.now();
    const snapshot = broker.snapshot();
    const rssSnapshot = process.memoryUsage().rss;
    const result = await store.save(snapshot);
    const duration = performance.now() - start;
    await new Promise((r) => setTimeout(r, 20));
    delay.disable();
    clearInterval(tick);
    const maxAfter = process.resourceUsage().maxRSS * 1024;
    broker.close();
    return { bytes: result.bytes, status: result.status, duration, pause: Math.max(longest, delay.max / 1e6), rssBefore, rssSnapshot, maxBefore, maxAfter };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function mosquittoStore() {
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-store-bench-mosq-'));
  chmodSync(dir, 0o777); // started as root, mosquitto drops to its own user before it saves
  const port = await freePort();
  writeFileSync(
    join(dir, 'mosquitto.conf'),
    [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence true', `persistence_location ${dir}/`, 'max_queued_messages 0', 'autosave_interval 0'].join('\n') + '\n',
  );
  const broker = spawn('/usr/sbin/mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
  try {
    const url = `mqtt://127.0.0.1:${port}`;
    const connect = (opts) =>
      new Promise((resolve, reject) => {
        const c = mqtt.connect(url, { reconnectPeriod: 0, ...opts });
        c.once('connect', () => resolve(c));
        c.once('error', reject);
      });
    for (let t = 0; ; t++) {
      try {
        (await connect({ clientId: 'probe' })).end(true);
        break;
      } catch (err) {
        if (t > 50) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    for (let i = 0; i < SESSIONS; i++) {
      const c = await connect({ clientId: `sub${i}`, clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } });
      await c.subscribeAsync('bench/#', { qos: 1 });
      await c.endAsync();
    }
    const pub = await connect({ clientId: 'pub' });
    for (let n = 0; n < MESSAGES; n++) await pub.publishAsync(`bench/${n}`, Buffer.alloc(100, n & 0xff), { qos: 1 });
    await pub.endAsync();
    const exited = new Promise((r) => broker.once('exit', r));
    broker.kill('SIGTERM');
    await exited;
    return statSync(join(dir, 'mosquitto.db')).size;
  } finally {
    broker.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

async function restartRss(count) {
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-store-bench-restart-'));
  try {
    const big = Array.from({ length: 50 }, (_, n) => ({ topic: `fan/${n}`, payload: Buffer.alloc(10 * 1024, n), qos: 1, retain: false }));
    const sessions = Array.from({ length: count }, (_, i) => ({
      clientId: `sub${i}`, protocolVersion: 5, expiryInterval: 3600, disconnectedAt: Date.now(),
      subscriptions: [{ filter: 'fan/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
      queue: big.map((m) => ({ ...m })), incomingQos2Ids: [],
    }));
    const saved = await new FileStore(join(dir, 'mqttd.db')).save({ retained: [], sessions });
    const port = await freePort();
    writeFileSync(join(dir, 'mqttd.conf'), [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence true', `persistence_location ${dir}/`, 'persistence_file mqttd.db'].join('\n') + '\n');
    const daemon = spawn(process.execPath, [join(root, 'dist/mqttd.js'), '-c', join(dir, 'mqttd.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await new Promise((resolve, reject) => {
        let out = '';
        const seen = (chunk) => {
          out += chunk;
          if (/running/.test(out)) resolve();
        };
        daemon.stdout.on('data', seen);
        daemon.stderr.on('data', seen);
        daemon.once('exit', () => reject(new Error(`mqttd exited: ${out}`)));
      });
      await new Promise((r) => setTimeout(r, 500));
      const status = readFileSync(`/proc/${daemon.pid}/status`, 'utf8');
      return { bytes: saved.bytes, rss: Number(/VmRSS:\s+(\d+)/.exec(status)[1]) * 1024 };
    } finally {
      daemon.kill('SIGKILL');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const empty = await restartRss(0);
const restart = await restartRss(20);
console.log(`restart    20 sessions × 50 queued 10 KB messages: store ${mb(restart.bytes)}, mqttd RSS after restoring it ${mb(restart.rss)} (empty store: ${mb(empty.rss)})`);
const ours = await mqttdSave();
console.log(`${SESSIONS} offline sessions × ${MESSAGES} queued 100 B messages (${SESSIONS * MESSAGES} deliveries)`);
console.log(`mqttd      store ${mb(ours.bytes)} (${ours.status}), save ${ours.duration.toFixed(0)} ms, longest event-loop pause ${ours.pause.toFixed(0)} ms`);
console.log(`           RSS ${mb(ours.rssBefore)} before the save, ${mb(ours.rssSnapshot)} once the snapshot is built, peak ${mb(ours.maxAfter)} (peak before the save ${mb(ours.maxBefore)})`);
if (process.env.STORE_BENCH_MOSQUITTO !== '0') {
  const mosq = await mosquittoStore();
  console.log(`mosquitto  store ${mb(mosq)} (mosquitto.db)  ratio mqttd/mosquitto ${(ours.bytes / mosq).toFixed(2)}`);
}

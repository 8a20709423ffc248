#!/usr/bin/env node
/**
 * What the RAM journal costs, and what persistence writes to flash (docs/persistence.md).
 *
 *   npm run build && node bench/journal.mjs
 *
 * 1. Append cost, in process: the broker routes retained QoS 1 messages (100-byte payload)
 *    with no journal, with a journal committed once per message (a publisher waiting for
 *    each PUBACK: one write(2) per message) and once per 50 (a pipelining publisher: one
 *    write(2) per event-loop turn). The journal is on /dev/shm (tmpfs, as /var/run on OpenWrt).
 * 2. Flash bytes, with the real daemon (autosave_interval 1): bytes the store file took while
 *    idle, and per 1,000 retained QoS 1 messages published, with the journal on.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { Broker } = require(join(root, 'build/src/broker/Broker.js'));
const { Message } = require(join(root, 'build/src/broker/Message.js'));
const { Journal } = require(join(root, 'build/src/persistence/Journal.js'));
const { silentLogger } = require(join(root, 'build/src/log/Logger.js'));

const N = Number(process.env.JOURNAL_BENCH_MESSAGES ?? 50_000);
const payload = Buffer.alloc(100, 0x61);

function appendCost(mode) {
  const broker = new Broker();
  let journal;
  const dir = mkdtempSync(join('/dev/shm', 'mqttd-journal-bench-'));
  if (mode !== 'none') {
    journal = new Journal({ directory: dir, storePath: join(dir, 'mqttd.db'), log: silentLogger(), snapshot: () => broker.snapshot(), checkpointBytes: 1 << 30 });
    journal.open(0);
    broker.attachChangeLog(journal);
  }
  const batch = mode === 'per-message' ? 1 : 50;
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    broker.route(new Message(`bench/${i % 1000}`, payload, 1, true, undefined, undefined, 'p'), undefined);
    if (journal && (i + 1) % batch === 0) broker.commitChanges();
  }
  broker.commitChanges();
  const ns = Number(process.hrtime.bigint() - start) / N;
  journal?.close(true);
  broker.close();
  rmSync(dir, { recursive: true, force: true });
  return ns;
}

async function flashBytes() {
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-flash-bench-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const conf = join(dir, 'mqttd.conf');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(conf, [
    `listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence true', `persistence_location ${dir}/`,
    `persistence_journal /dev/shm/${dir.split('/').pop()}/`, 'autosave_interval 1', 'log_type all', '',
  ].join('\n'));
  const child = spawn(process.execPath, [join(root, 'dist/mqttd.js'), '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => (log += d));
  child.stdout.on('data', (d) => (log += d));
  const saved = () => [...log.matchAll(/Saved the store \((\d+) bytes\)/g)].reduce((s, m) => s + Number(m[1]), 0);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  while (!/running/.test(log)) await sleep(20);
  const mqtt = require('mqtt');
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`);
  // n retained QoS 1 messages of 100 bytes, each on its own topic, 50 in flight at a time.
  const pub = async (n, from) => {
    for (let i = 0; i < n; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, k) => client.publishAsync(`flash/${from + i + k}`, payload, { qos: 1, retain: true })));
    }
  };
  const idleSeconds = Number(process.env.JOURNAL_BENCH_IDLE ?? 5);
  await pub(100, 0); // some state to keep
  await sleep(1500);
  const before = saved();
  await sleep(idleSeconds * 1000);
  const idle = saved() - before;
  const loadStart = saved();
  await pub(1000, 1000);
  await sleep(1500);
  const load = saved() - loadStart;
  const saves = [...log.matchAll(/Saved the store/g)].length;
  await client.endAsync();
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
  rmSync(`/dev/shm/${dir.split('/').pop()}`, { recursive: true, force: true });
  return { idleSeconds, idle, load, saves };
}

// Interleaved, best of 5: the first rounds warm the JIT, and a shared machine is noisy.
const best = { none: Infinity, 'per-message': Infinity, batched: Infinity };
for (let round = 0; round < 5; round++) for (const mode of Object.keys(best)) best[mode] = Math.min(best[mode], appendCost(mode));
const { none, batched } = best;
const perMessage = best['per-message'];
console.log(`route of a retained QoS 1 message (100 B), ${N} messages:`);
console.log(`  no journal                  ${none.toFixed(0)} ns`);
console.log(`  journal, write(2) per msg   ${perMessage.toFixed(0)} ns  (+${(perMessage - none).toFixed(0)} ns)`);
console.log(`  journal, write(2) per 50    ${batched.toFixed(0)} ns  (+${(batched - none).toFixed(0)} ns)`);
const flash = await flashBytes();
console.log(`flash: ${flash.idle} bytes written in ${flash.idleSeconds} idle autosave intervals; ${flash.load} bytes for 1,000 retained QoS 1 messages on 1,000 topics, saved ${flash.saves} times (the whole store each time)`);

// What one idle connection (or one retained message) costs mqttd, by object type: heap
// snapshots of a fresh broker before and with N idle clients (or N retained topics), diffed.
// Usage: node bench/heap.mjs [--clients N | --retained N] [--bundle]
// Runs build/src/cli/mqttd.js (readable class names) unless --bundle. Snapshots are written
// by `--heapsnapshot-signal=SIGUSR2`; each takes a few seconds on a small machine.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, openSync, closeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildLoadgen, runLoadgen } from './lib/loadgen.mjs';
import { freePort, waitForPort, rssKb, sleep } from './lib/system.mjs';

const root = resolve(fileURLToPath(import.meta.url), '..', '..');
process.chdir(root);
const args = process.argv.slice(2);
const ci = args.indexOf('--clients');
const ri = args.indexOf('--retained');
const retained = ri >= 0;
const clients = retained ? Number(args[ri + 1]) : ci >= 0 ? Number(args[ci + 1]) : 2000;
const what = retained ? 'retained message' : 'connection';
const entry = args.includes('--bundle') ? 'dist/mqttd.js' : 'build/src/cli/mqttd.js';

const dir = resolve('bench', 'results', 'heap', String(Date.now()));
mkdirSync(dir, { recursive: true });
const port = await freePort();
const log = openSync(join(dir, 'mqttd.log'), 'w');
const broker = spawn(process.execPath, ['--heapsnapshot-signal=SIGUSR2', resolve(entry), '-p', String(port)], { cwd: dir, stdio: ['ignore', log, log] });
closeSync(log);
const exited = new Promise((r) => broker.once('exit', r));

/** Signals a snapshot and waits until its file stops growing. */
async function snapshot() {
  const before = new Set(readdirSync(dir));
  broker.kill('SIGUSR2');
  for (let i = 0; i < 600; i++) {
    await sleep(250);
    const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (!file) continue;
    const s1 = statSync(join(dir, file)).size;
    await sleep(500);
    if (s1 > 0 && statSync(join(dir, file)).size === s1) return join(dir, file);
  }
  throw new Error('no heap snapshot after 150 s');
}

/** Self size and count per object type ("Socket", "(string)", "(code)" …). */
function summarize(file) {
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  const meta = snap.snapshot.meta;
  const width = meta.node_fields.length;
  const types = meta.node_types[0];
  const [iType, iName, iSize] = ['type', 'name', 'self_size'].map((f) => meta.node_fields.indexOf(f));
  const out = new Map();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + iType]];
    const name = type.includes('string') ? '(string)' : type === 'code' ? '(code)' : `${snap.strings[snap.nodes[i + iName]].slice(0, 50)}`;
    const key = type === 'object' || type.includes('string') || type === 'code' ? name : `${type}: ${name}`;
    const a = out.get(key) ?? { count: 0, size: 0 };
    a.count++;
    a.size += snap.nodes[i + iSize];
    out.set(key, a);
  }
  return out;
}

try {
  await waitForPort(port);
  await sleep(1000);
  const rssIdle = rssKb(broker.pid);
  const idle = summarize(await snapshot());
  let rssWith = 0;
  let rssAfterGc = 0;
  let withClients = null;
  const loadgen = buildLoadgen(join('bench', 'results', 'bin'));
  const load = retained ? ['retained', '--count', String(clients)] : ['conns', '--port', String(port), '--count', String(clients)];
  if (retained) load.push('--port', String(port));
  await runLoadgen(loadgen, load, {
    timeoutMs: 600000,
    onPause: async (name) => {
      if (name !== 'connected' && name !== 'stored') return;
      await sleep(1000);
      rssWith = rssKb(broker.pid);
      withClients = summarize(await snapshot());
      rssAfterGc = rssKb(broker.pid); // a snapshot runs a full GC first
    },
  });
  const rows = [];
  for (const [key, a] of withClients) {
    const b = idle.get(key) ?? { count: 0, size: 0 };
    if (a.size - b.size > 0) rows.push({ key, count: (a.count - b.count) / clients, bytes: (a.size - b.size) / clients });
  }
  rows.sort((x, y) => y.bytes - x.bytes);
  const heapPerConn = rows.reduce((s, r) => s + r.bytes, 0);
  const perConn = (kb) => `${((kb - rssIdle) / clients).toFixed(2)} KB/${what}`;
  console.log(`${entry}, ${clients} ${retained ? 'retained topics stored' : 'idle clients'}: RSS idle ${(rssIdle / 1024).toFixed(1)} MB; loaded ${(rssWith / 1024).toFixed(1)} MB (${perConn(rssWith)}); after a full GC ${(rssAfterGc / 1024).toFixed(1)} MB (${perConn(rssAfterGc)})`);
  console.log(`live JS heap growth ${(heapPerConn / 1024).toFixed(2)} KB per ${what}, by type:`);
  console.log(`   bytes/each  objects/each  type`);
  for (const r of rows.slice(0, 30)) console.log(`${r.bytes.toFixed(0).padStart(12)}  ${r.count.toFixed(2).padStart(12)}  ${r.key}`);
  console.log(`snapshots in ${dir} (open in Chrome DevTools → Memory)`);
} finally {
  broker.kill('SIGTERM');
  const timer = setTimeout(() => broker.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

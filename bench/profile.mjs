// Profiles mqttd under one bench scenario with `node --cpu-prof` and prints where the CPU went.
// Usage: node bench/profile.mjs [fanin-qos0|fanin-qos1|fanout|latency|connections|retained|startup] [--seconds N] [--bundle]
// Runs the tsc output (build/src/cli/mqttd.js) so function names survive; --bundle profiles
// dist/mqttd.js as shipped (names are minified). The .cpuprofile is kept for Chrome DevTools.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { join, resolve, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildLoadgen, runLoadgen } from './lib/loadgen.mjs';
import { freePort, waitForPort, pinning, pinned } from './lib/system.mjs';

const root = resolve(fileURLToPath(import.meta.url), '..', '..');
process.chdir(root);

const loads = {
  'fanin-qos0': ['pubsub', '--pubs', '4', '--subs', '1', '--qos', '0', '--ahead', '5000'],
  'fanin-qos1': ['pubsub', '--pubs', '4', '--subs', '1', '--qos', '1', '--sub-qos', '1', '--window', '100'],
  fanout: ['pubsub', '--pubs', '1', '--subs', '100', '--qos', '0', '--ahead', '500'],
  latency: ['latency', '--rate', '1000'],
  connections: ['conns', '--count', '5000'],
  retained: ['retained', '--count', '10000'],
  startup: null, // no load: start, wait until listening, stop
};
const timed = (name) => name !== 'connections' && name !== 'retained' && name !== 'startup';

const args = process.argv.slice(2);
const scenario = args.find((a) => !a.startsWith('--') && a in loads) ?? 'fanin-qos0';
const si = args.indexOf('--seconds');
const seconds = si >= 0 ? Number(args[si + 1]) : 5;
const entry = args.includes('--bundle') ? 'dist/mqttd.js' : 'build/src/cli/mqttd.js';

class Skip extends Error {}

const dir = resolve('bench', 'results', 'profiles', `${scenario}-${Date.now()}`);
mkdirSync(dir, { recursive: true });
const port = await freePort();
const conf = join(dir, 'mqttd.conf');
writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\n`);
const pin = pinning();
const argv = pinned(pin.broker, [process.execPath, '--cpu-prof', '--cpu-prof-dir', dir, entry, '-c', conf]);
const log = openSync(join(dir, 'mqttd.log'), 'w');
const broker = spawn(argv[0], argv.slice(1), { stdio: ['ignore', log, log] });
closeSync(log);
const exited = new Promise((r) => broker.once('exit', r));
try {
  await waitForPort(port);
  if (!loads[scenario]) throw new Skip();
  const loadgen = buildLoadgen(join('bench', 'results', 'bin'));
  const timing = timed(scenario) ? ['--warmup', '1', '--duration', String(seconds), '--drain-max', '5'] : [];
  const r = await runLoadgen(loadgen, [...loads[scenario], '--port', String(port), ...timing], { core: pin.generator });
  if (!timed(scenario)) console.log(JSON.stringify(r));
  else console.log(`${scenario}: ${Math.round(r.delivered_per_s)} delivered/s, ${Math.round(r.acked_per_s || r.sent_per_s)} accepted/s, loss ${(r.loss * 100).toFixed(2)} %` + (r.p99_us ? `, p50 ${r.p50_us} µs p99 ${r.p99_us} µs` : ''));
} catch (err) {
  if (!(err instanceof Skip)) throw err;
} finally {
  broker.kill('SIGTERM'); // the profile is written when the process exits normally
  const timer = setTimeout(() => broker.kill('SIGKILL'), 10000);
  await exited;
  clearTimeout(timer);
}

const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
if (!file) {
  console.error(`no .cpuprofile written in ${dir} (did mqttd exit on SIGTERM?)`);
  process.exit(1);
}
const profile = JSON.parse(readFileSync(join(dir, file), 'utf8'));

// Self time per node = samples that hit it × average interval.
const counts = new Map();
for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
const total = profile.samples.length;
const byFunction = new Map();
const byFile = new Map();
for (const node of profile.nodes) {
  const n = counts.get(node.id) ?? 0;
  if (!n) continue;
  const cf = node.callFrame;
  const url = cf.url ? relative(root, cf.url.replace(/^file:\/\//, '')) : '';
  const where = url ? `${url}:${cf.lineNumber + 1}` : '';
  const key = `${cf.functionName || '(anonymous)'} ${where}`.trim();
  byFunction.set(key, (byFunction.get(key) ?? 0) + n);
  const area = url.startsWith('build/src/') ? url : url.includes('node_modules') ? url.replace(/.*node_modules\/([^/]+).*/, 'node_modules/$1') : url ? url : `(${cf.functionName})`;
  byFile.set(area, (byFile.get(area) ?? 0) + n);
}
// Inclusive time of mqttd's own functions (self + callees), counted once per sample stack.
const parentOf = new Map();
for (const node of profile.nodes) for (const c of node.children ?? []) parentOf.set(c, node);
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const inclusive = new Map();
for (const [id, n] of counts) {
  const seen = new Set();
  for (let node = byId.get(id); node; node = parentOf.get(node.id)) {
    const cf = node.callFrame;
    if (!cf.url.includes('/build/src/') && !cf.url.includes('/dist/')) continue;
    const key = `${cf.functionName || '(anonymous)'} ${relative(root, cf.url.replace(/^file:\/\//, ''))}:${cf.lineNumber + 1}`;
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + n);
  }
}
const top = (m, k) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, k);
const pct = (n) => `${((100 * n) / total).toFixed(1).padStart(5)} %`;
console.log(`\nTop functions by self time (${total} samples), ${file}:`);
for (const [k, n] of top(byFunction, 25)) console.log(`${pct(n)}  ${k}`);
console.log('\nmqttd functions by inclusive time (self + what they call):');
for (const [k, n] of top(inclusive, 15)) console.log(`${pct(n)}  ${k}`);
console.log('\nBy file / area:');
for (const [k, n] of top(byFile, 15)) console.log(`${pct(n)}  ${k}`);
console.log(`\nprofile: ${join(dir, file)} (open in Chrome DevTools → Performance)`);

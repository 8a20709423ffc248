// A smoke test of the benchmark harness itself, run by hand (not part of `npm test`):
//   node --test bench/smoke.test.mjs
// It builds the C generator, checks it reports errors as JSON, and runs a one-scenario quick
// bench against mosquitto and aedes end to end (about 15 s).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildLoadgen, runLoadgen } from './lib/loadgen.mjs';
import { summarize, interleave } from './lib/stats.mjs';
import { markdownTable, targets } from './lib/report.mjs';
import { freePort } from './lib/system.mjs';

const root = resolve(fileURLToPath(import.meta.url), '..', '..');
process.chdir(root);

test('summaries take the median and the spread, ignoring missing values', () => {
  assert.deepEqual(summarize([3, 1, 2, undefined]), { median: 2, min: 1, max: 3, n: 3 });
  assert.equal(summarize([4, 1, 2, 3]).median, 2.5);
  assert.equal(summarize([]), null);
});

test('repetitions alternate the broker order (A B C, C B A)', () => {
  assert.deepEqual(interleave(['a', 'b', 'c'], 0), ['a', 'b', 'c']);
  assert.deepEqual(interleave(['a', 'b', 'c'], 1), ['c', 'b', 'a']);
});

test('the table gives mqttd ratios, marks saturated figures and checks the targets', () => {
  const metric = { key: 'delivered_per_s', label: 'delivered msgs/s', better: 'higher', digits: 0 };
  const rows = [
    {
      scenario: 'fanin-qos0',
      title: 'fan-in',
      metric,
      cells: {
        mqttd: { values: [200, 300, 250], invalid: true, failed: false },
        mosquitto: { values: [100], invalid: false, failed: false },
        aedes: { values: [50], invalid: false, failed: false },
      },
    },
  ];
  const md = markdownTable(rows, ['mqttd', 'mosquitto', 'aedes']);
  assert.match(md, /\| fan-in \| delivered msgs\/s ↑ \| ⚠ 250 \(200–300\) \| 100 \| 50 \| 2\.50× \| 5\.00× \|/);
  const checks = targets(rows);
  assert.equal(checks.find((c) => c.name === 'fan-in QoS 0 ≥ 1.0× mosquitto').ok, true);
  assert.equal(checks.find((c) => c.name === 'fan-out ≥ 1.0× mosquitto').ok, null);
});

test('the generator reports a refused connection as a JSON error, not a hang', async () => {
  const binary = buildLoadgen(join('bench', 'results', 'bin'));
  const port = await freePort();
  await assert.rejects(runLoadgen(binary, ['pubsub', '--port', String(port), '--duration', '0.2']), /connect to 127\.0\.0\.1:\d+: Connection refused/);
});

test('a quick fan-in run against mosquitto and aedes yields a full table and chart', () => {
  const out = mkdtempSync(join(tmpdir(), 'mqttd-bench-smoke-'));
  const r = spawnSync(process.execPath, ['bench/run.mjs', '--quick', '--only', 'fanin-qos0,footprint', '--brokers', 'mosquitto,aedes', '--out', out], {
    encoding: 'utf8',
    timeout: 90000,
  });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const { rows } = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  const fanin = rows.find((row) => row.scenario === 'fanin-qos0' && row.metric.key === 'delivered_per_s');
  for (const broker of ['mosquitto', 'aedes']) assert.ok(fanin.cells[broker].values[0] > 1000, `${broker} delivered too little`);
  const size = rows.find((row) => row.metric.key === 'raw_kb');
  assert.ok(size.cells.aedes.values[0] > 10, 'aedes bundle size measured');
  const table = readFileSync(join(out, 'table.md'), 'utf8');
  assert.match(table, /\| Scenario \| Metric \| mosquitto \| aedes \|/);
  assert.match(readFileSync(join(out, 'chart.svg'), 'utf8'), /^<svg [^>]*>[\s\S]*<\/svg>\n$/);
});

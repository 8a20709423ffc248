// `npm run bench`: mqttd side by side with mosquitto and aedes, same machine, same run.
// Usage: node bench/run.mjs [--quick] [--only <scenario>[,<scenario>…]] [--brokers a,b] [--reps N] [--out dir]
// See docs/benchmarks.md for what each scenario measures and how to read the table.
import { mkdirSync, writeFileSync, copyFileSync, openSync, closeSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brokers, mqttdNodeFlags } from './lib/brokers.mjs';
import { buildLoadgen } from './lib/loadgen.mjs';
import { scenarios, metricsOf, GENERATOR_SATURATED } from './lib/scenarios.mjs';
import { interleave } from './lib/stats.mjs';
import { markdownTable, targets, targetsTable, svgChart } from './lib/report.mjs';
import { machine, pinning } from './lib/system.mjs';

process.chdir(resolve(fileURLToPath(import.meta.url), '..', '..'));

const ALL = ['fanin-qos0', 'fanin-qos1', 'fanout', 'latency', 'slow-subscriber', 'connections', 'retained', 'discovery', 'rules', 'startup', 'footprint'];

function usage(msg) {
  if (msg) console.error(`bench: ${msg}`);
  console.error(`usage: node bench/run.mjs [--quick] [--only ${ALL.join('|')}[,…]] [--brokers mqttd,mosquitto,aedes] [--reps N] [--out dir] [--mqttd-flags "<node flags>"]`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { quick: false, only: ALL, brokers: ['mqttd', 'mosquitto', 'aedes'], brokersGiven: false, reps: null, out: null, mqttdFlags: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => argv[++i] ?? usage(`${a} needs a value`);
    if (a === '--quick') o.quick = true;
    else if (a === '--only') o.only = value().split(',');
    else if (a === '--brokers') (o.brokers = value().split(',')), (o.brokersGiven = true);
    else if (a === '--reps') o.reps = Number(value());
    else if (a === '--out') o.out = value();
    else if (a === '--mqttd-flags') o.mqttdFlags = value().split(/\s+/).filter(Boolean);
    else if (a === '--help' || a === '-h') usage();
    else usage(`unknown option ${a}`);
  }
  for (const s of o.only) if (!ALL.includes(s)) usage(`unknown scenario "${s}"`);
  for (const b of o.brokers) if (!brokers[b]) usage(`unknown broker "${b}"`);
  o.reps ??= o.quick ? 1 : 3;
  if (!Number.isInteger(o.reps) || o.reps < 1) usage('--reps must be a positive integer');
  return o;
}

/** Size of what each broker ships: raw and gzip -9, in KB. */
async function footprint(names, dir) {
  const out = {};
  for (const name of names) {
    const f = brokers[name].footprint();
    let file = f.file;
    if (f.bundle) {
      const { build } = await import('esbuild');
      file = join(dir, `${name}-bundle.mjs`);
      await build({ entryPoints: [f.bundle], outfile: file, bundle: true, minify: true, platform: 'node', target: 'node20', format: 'esm', legalComments: 'none', logLevel: 'error' });
    }
    const data = readFileSync(file);
    out[name] = { raw_kb: data.length / 1024, gzip_kb: gzipSync(data, { level: 9 }).length / 1024, what: f.what };
  }
  return out;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  mqttdNodeFlags.push(...opts.mqttdFlags);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const dir = resolve(opts.out ?? join('bench', 'results', stamp));
  mkdirSync(dir, { recursive: true });

  // Which brokers can run; a missing mqttd is loud, and fatal under CI.
  const names = [];
  for (const b of opts.brokers) {
    const why = brokers[b].missing();
    if (!why) names.push(b);
    else {
      console.error(`bench: ${b} is not available: ${why}`);
      if (process.env.CI === 'true' || opts.brokersGiven) {
        console.error('bench: refusing to run without it' + (process.env.CI === 'true' ? ' (CI=true)' : ''));
        process.exit(1);
      }
      console.error(`bench: continuing WITHOUT ${b}; its column is left out of the table`);
    }
  }
  if (!names.length) usage('no broker available');

  const pin = pinning();
  const loadgen = buildLoadgen(join('bench', 'results', 'bin'));
  const genLog = openSync(join(dir, 'loadgen.log'), 'a');
  const ctx = { loadgen, quick: opts.quick, dir, core: pin.broker, gen: { core: pin.generator, logFd: genLog } };
  const info = { ...machine(), pinning: pin, quick: opts.quick, reps: opts.reps, mqttdFlags: opts.mqttdFlags };
  console.log(`bench: ${info.cpu}, ${info.cores} cores, Node ${info.node}, mosquitto ${info.mosquitto}, aedes ${info.aedes}; load ${info.load}`);
  console.log(pin.broker === null ? 'bench: one core: broker and generator are NOT pinned apart' : `bench: broker on core ${pin.broker}, generator on core ${pin.generator}`);
  console.log(`bench: ${opts.reps} repetition(s), brokers interleaved; results in ${dir}`);

  const rows = [];
  const raw = {};
  let failures = 0;
  for (const id of opts.only.filter((s) => s !== 'footprint')) {
    const scenario = scenarios.find((s) => s.id === id);
    const metrics = metricsOf(scenario, opts.quick);
    const cells = Object.fromEntries(metrics.map((m) => [m.key, {}]));
    raw[id] = {};
    for (let r = 0; r < opts.reps; r++) {
      for (const name of interleave(names, r)) {
        // A scenario of one broker's own feature (mqttd's rules) leaves the others' cells n/a.
        if (scenario.brokers && !scenario.brokers.includes(name)) continue;
        const label = `[${id} ${r + 1}/${opts.reps}] ${name}`;
        let res = null;
        try {
          res = await scenario.run(name, ctx);
        } catch (err) {
          failures++;
          console.error(`${label}: FAILED: ${err.message}`);
          (raw[id][name] ??= []).push({ error: err.message });
        }
        for (const m of metrics) {
          const cell = (cells[m.key][name] ??= { values: [], invalid: false, failed: false, undrained: false });
          if (res?.undrained?.includes(m.key)) cell.undrained = true;
          if (!res) cell.failed = true;
          else {
            cell.values.push(res.values[m.key]);
            if (m.gen && res.generatorCpu > GENERATOR_SATURATED) cell.invalid = true;
          }
        }
        if (res) {
          (raw[id][name] ??= []).push({ ...res.raw, generatorCpu: res.generatorCpu });
          const summary = metrics.map((m) => `${m.label} ${Number(res.values[m.key]).toFixed(m.digits)}`).join(', ');
          const sat = res.generatorCpu > GENERATOR_SATURATED ? ' — GENERATOR SATURATED: rates and times of this run are invalid' : '';
          console.log(`${label}: ${summary} (generator CPU ${(res.generatorCpu * 100).toFixed(0)} %)${sat}`);
        }
      }
    }
    for (const m of metrics) rows.push({ scenario: id, title: scenario.title, short: id, metric: m, cells: cells[m.key] });
  }

  if (opts.only.includes('footprint')) {
    const f = await footprint(names, dir);
    raw.footprint = f;
    for (const [key, label] of [['raw_kb', 'shipped size KB'], ['gzip_kb', 'gzip -9 KB']]) {
      const cells = Object.fromEntries(names.map((n) => [n, { values: [f[n][key]], invalid: false, failed: false }]));
      rows.push({ scenario: 'footprint', title: 'footprint (what is shipped)', short: 'footprint', metric: { key, label, better: 'lower', digits: 1 }, cells });
    }
    console.log(`[footprint] ${names.map((n) => `${n} ${f[n].raw_kb.toFixed(1)} KB (${f[n].gzip_kb.toFixed(1)} KB gz)`).join(', ')}`);
  }
  closeSync(genLog);

  const title = `mqttd benchmark — ${info.date.slice(0, 10)} — ${info.cpu}, ${info.cores} cores, Node ${info.node}, mosquitto ${info.mosquitto}, aedes ${info.aedes}${opts.quick ? ' — QUICK (smoke) run' : ''}`;
  // Other work on the machine skews everything; say so rather than let the figures pass as clean.
  const loadEnd = machine().load;
  const busy = [info.load, loadEnd].some((l) => Number(l.split(' ')[0]) > info.cores * 0.5);
  const flagsNote = opts.mqttdFlags.length ? ` mqttd ran as \`node ${opts.mqttdFlags.join(' ')} dist/mqttd.js\`.` : '';
  const genMax = Object.entries(raw)
    .filter(([id]) => id !== 'footprint')
    .map(([id, byBroker]) => `${id} ${Math.round(100 * Math.max(0, ...Object.values(byBroker).flat().map((x) => x.generatorCpu ?? 0)))} %`);
  const md = [
    `# ${title}`,
    '',
    `Medians of ${opts.reps} interleaved run(s), (min–max) when they differ. Ratios are mqttd ÷ other: above 1 is better for ↑ rows, below 1 for ↓ rows.`,
    `Broker ${pin.broker === null ? 'and generator unpinned (one core)' : `pinned to core ${pin.broker}, load generator to core ${pin.generator}`}. ` +
      `⚠ marks a rate or time taken while the load generator used more than ${GENERATOR_SATURATED * 100} % of its core (invalid: the generator may have been the limit); † marks a broker that failed a run; ‡ marks a loss counted while the broker was still delivering after the drain time (an upper bound).`,
    ...(busy ? ['', `**The machine was busy during this run (load average ${info.load} at the start, ${loadEnd} at the end, on ${info.cores} cores): the figures are noisy and not for publication.**`] : []),
    ...(flagsNote ? ['', flagsNote.trim()] : []),
    '',
    markdownTable(rows, names),
    '',
    `Load generator CPU, highest run per scenario: ${genMax.join(', ') || '—'}. Load average at start: ${info.load}, at the end: ${loadEnd}.`,
    '',
  ];
  if (names.includes('mqttd')) md.push('## Targets', '', targetsTable(targets(rows)), '');
  if (raw.footprint) md.push(`Footprint files: ${names.map((n) => `${n}: ${raw.footprint[n].what}`).join('; ')}.`, '');
  const table = md.join('\n');
  writeFileSync(join(dir, 'table.md'), table);
  writeFileSync(join(dir, 'chart.svg'), svgChart(rows, names, title));
  writeFileSync(join(dir, 'results.json'), JSON.stringify({ info, rows, raw }, null, 2) + '\n');
  if (!opts.out) {
    copyFileSync(join(dir, 'table.md'), join('bench', 'results', 'latest.md'));
    copyFileSync(join(dir, 'chart.svg'), join('bench', 'results', 'latest.svg'));
  }
  console.log('\n' + table);
  console.log(`bench: table ${join(dir, 'table.md')}, chart ${join(dir, 'chart.svg')}, raw ${join(dir, 'results.json')}`);
  if (failures) {
    console.error(`bench: ${failures} run(s) failed; see above and the logs in ${dir}`);
    process.exit(1);
  }
}

main().catch((err) => {
  console.error(`bench: ${err.message}`);
  process.exit(1);
});

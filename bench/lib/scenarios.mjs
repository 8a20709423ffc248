// The scenarios of the benchmark. Each measures one broker once (a fresh process) and returns
// named figures; run.mjs repeats them, interleaved across brokers, and summarizes.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBroker, brokers } from './brokers.mjs';
import { runLoadgen } from './loadgen.mjs';
import { rssKb, cpuSeconds, sleep, freePort } from './system.mjs';
import { startSlowSubscriber } from './slowSubscriber.mjs';

/**
 * Above this share of one core the generator, not the broker, may be the limit: metrics with
 * `gen: true` (rates, times) are then marked invalid; memory and broker CPU per message are not.
 * A run may also return `undrained`: metric keys whose value is an upper bound because the
 * broker was still delivering when the drain time ran out.
 */
export const GENERATOR_SATURATED = 0.9;

const higher = 'higher';
const lower = 'lower';

/** Runs the generator against a fresh broker; adds broker CPU per delivered message. */
async function pubsub(name, ctx, args) {
  const b = await startBroker(name, ctx);
  try {
    const cpu0 = cpuSeconds(b.pid);
    const r = await runLoadgen(ctx.loadgen, ['pubsub', '--port', String(b.port), ...args], ctx.gen);
    const cpu1 = cpuSeconds(b.pid);
    if (!b.alive()) throw new Error(`${name} exited during the run; log ${b.log}`);
    r.broker_cpu_us_per_msg = r.delivered ? ((cpu1 - cpu0) * 1e6) / r.delivered : null;
    r.rss_mb = rssKb(b.pid) / 1024;
    return r;
  } finally {
    await b.stop();
  }
}

const timing = (q) => [...(q ? ['--warmup', '0.5', '--duration', '1.5'] : ['--warmup', '1', '--duration', '3']), '--drain-max', '5'];

/**
 * 100 simple rules as a home might have them, each on a device topic (a JSON threshold).
 * `watching` of them instead see every bench/# message and test its payload, which never
 * matches, so the routed traffic is the same with and without rules.
 */
/** The `latency` measurement (1 pub → 1 sub, 1000 msgs/s, QoS 0) against a running broker: `latency` and `slow-subscriber` share it. */
async function measureLatency(port, ctx) {
  const args = ['latency', '--port', String(port), '--rate', '1000', '--warmup', '1', '--duration', ctx.quick ? '2' : '5'];
  const r = await runLoadgen(ctx.loadgen, args, ctx.gen);
  if (r.samples === 0) throw new Error('no latency samples');
  return r;
}

function hundredRules(dir, watching) {
  const lines = [];
  for (let i = 0; i < 100 - watching; i++) lines.push(`rule dev${i}`, `when tele/dev${i}/SENSOR`, 'field json.AM2301.Temperature', 'op >', 'value 25', `topic cmnd/dev${i}/POWER`, 'payload ON', '');
  for (let i = 0; i < watching; i++) lines.push(`rule watch${i}`, 'when bench/#', 'op =', `value never-${i}`, `topic alerts/${i}`, 'payload <payload>', '');
  const file = join(dir, `rules-100-${watching}.conf`);
  writeFileSync(file, lines.join('\n'));
  return file;
}

export const scenarios = [
  {
    id: 'fanin-qos0',
    title: 'fan-in QoS 0 (4 pub → 1 sub on bench/#, 64 B)',
    metrics: [
      { key: 'delivered_per_s', label: 'delivered msgs/s', gen: true, better: higher, digits: 0 },
      { key: 'loss_pct', label: 'loss %', better: lower, digits: 2 },
      { key: 'broker_cpu_us_per_msg', label: 'broker CPU µs/msg', better: lower, digits: 2 },
    ],
    async run(name, ctx) {
      // --ahead bounds what the broker may queue (sustained rate, not backlog growth).
      const r = await pubsub(name, ctx, ['--pubs', '4', '--subs', '1', '--qos', '0', '--ahead', '5000', ...timing(ctx.quick)]);
      return { values: { ...r, loss_pct: r.loss * 100 }, generatorCpu: r.generator_cpu, raw: r, undrained: r.drained ? [] : ['loss_pct'] };
    },
  },
  {
    id: 'fanin-qos1',
    title: 'fan-in QoS 1 (4 pub, window 100 each → 1 sub QoS 1)',
    metrics: [
      { key: 'acked_per_s', label: 'accepted msgs/s', gen: true, better: higher, digits: 0 },
      { key: 'delivered_per_s', label: 'delivered msgs/s', gen: true, better: higher, digits: 0 },
      { key: 'loss_pct', label: 'acked-then-lost %', better: lower, digits: 2 },
    ],
    async run(name, ctx) {
      const r = await pubsub(name, ctx, ['--pubs', '4', '--subs', '1', '--qos', '1', '--sub-qos', '1', '--window', '100', ...timing(ctx.quick)]);
      return { values: { ...r, loss_pct: r.acked_loss * 100 }, generatorCpu: r.generator_cpu, raw: r, undrained: r.drained ? [] : ['loss_pct'] };
    },
  },
  {
    id: 'fanout',
    title: 'fan-out (1 pub → 100 subs, QoS 0, 64 B)',
    metrics: [
      { key: 'delivered_per_s', label: 'deliveries/s', gen: true, better: higher, digits: 0 },
      { key: 'broker_cpu_us_per_msg', label: 'broker CPU µs/delivery', better: lower, digits: 2 },
    ],
    async run(name, ctx) {
      const r = await pubsub(name, ctx, ['--pubs', '1', '--subs', '100', '--qos', '0', '--ahead', '500', ...timing(ctx.quick)]);
      return { values: r, generatorCpu: r.generator_cpu, raw: r };
    },
  },
  {
    id: 'latency',
    title: 'latency (1 pub → 1 sub, 1000 msgs/s, QoS 0)',
    metrics: [
      { key: 'p50_us', gen: true, label: 'p50 µs', better: lower, digits: 0 },
      { key: 'p99_us', gen: true, label: 'p99 µs', better: lower, digits: 0 },
      { key: 'max_us', gen: true, label: 'max µs', better: lower, digits: 0 },
    ],
    async run(name, ctx) {
      const b = await startBroker(name, ctx);
      try {
        const r = await measureLatency(b.port, ctx);
        return { values: r, generatorCpu: r.generator_cpu, raw: r };
      } finally {
        await b.stop();
      }
    },
  },
  {
    id: 'connections',
    title: 'idle connections (fresh broker each size)',
    metrics: (q) => [
      { key: 'idle_rss_mb', label: 'idle RSS MB', better: lower, digits: 1 },
      ...(q ? [1000] : [1000, 5000]).flatMap((n) => [
        { key: `rate_${n}`, label: `${n} clients: connects/s`, better: higher, digits: 0, gen: true },
        { key: `rss_${n}_mb`, label: `${n} clients: RSS MB`, better: lower, digits: 1 },
        { key: `kb_per_conn_${n}`, label: `${n} clients: KB/connection`, better: lower, digits: 2 },
        { key: `cpu_us_per_conn_${n}`, label: `${n} clients: broker CPU µs/connect`, better: lower, digits: 0 },
      ]),
      // Fixed one-off growth (JIT code, heap pages) cancels out between the two sizes.
      ...(q ? [] : [{ key: 'kb_marginal', label: 'KB per extra connection (1000 → 5000)', better: lower, digits: 2 }]),
    ],
    async run(name, ctx) {
      const values = {};
      const raw = {};
      let generatorCpu = 0;
      const idle = [];
      for (const n of ctx.quick ? [1000] : [1000, 5000]) {
        const b = await startBroker(name, ctx);
        try {
          await sleep(ctx.quick ? 300 : 1000); // let a Node broker finish start-up work
          const before = rssKb(b.pid);
          idle.push(before);
          let during = null;
          let cpuConnected = null;
          const cpuStart = cpuSeconds(b.pid);
          const r = await runLoadgen(ctx.loadgen, ['conns', '--port', String(b.port), '--count', String(n)], {
            ...ctx.gen,
            onPause: async () => {
              cpuConnected = cpuSeconds(b.pid);
              await sleep(ctx.quick ? 300 : 1000);
              during = rssKb(b.pid);
            },
          });
          if (r.connected !== n || r.still_connected !== n) throw new Error(`${r.connected} of ${n} connected, ${r.still_connected} stayed`);
          values[`rate_${n}`] = r.connects_per_s;
          values[`rss_${n}_mb`] = during / 1024;
          values[`kb_per_conn_${n}`] = (during - before) / n;
          values[`cpu_us_per_conn_${n}`] = ((cpuConnected - cpuStart) * 1e6) / n;
          generatorCpu = Math.max(generatorCpu, r.generator_cpu);
          raw[n] = { ...r, rss_before_kb: before, rss_during_kb: during };
        } finally {
          await b.stop();
        }
      }
      values.idle_rss_mb = Math.min(...idle) / 1024;
      if (raw[1000] && raw[5000]) values.kb_marginal = (raw[5000].rss_during_kb - raw[1000].rss_during_kb) / 4000;
      return { values, generatorCpu, raw };
    },
  },
  {
    id: 'retained',
    title: 'retained (N topics stored at QoS 1, then one subscriber to #)',
    metrics: (q) => [
      { key: 'replay_ms', gen: true, label: `${q ? '2,000' : '10,000'} retained → sub to #: ms until all arrive`, better: lower, digits: 1 },
      { key: 'stored_per_s', gen: true, label: 'retained stored/s (QoS 1, window 100)', better: higher, digits: 0 },
      { key: 'rss_stored_mb', label: 'RSS with retained stored MB', better: lower, digits: 1 },
    ],
    async run(name, ctx) {
      const b = await startBroker(name, ctx);
      try {
        const rss = {};
        const count = ctx.quick ? 2000 : 10000;
        const r = await runLoadgen(ctx.loadgen, ['retained', '--port', String(b.port), '--count', String(count)], {
          ...ctx.gen,
          onPause: async (event) => {
            rss[event] = rssKb(b.pid);
          },
        });
        if (r.received !== count) throw new Error(`only ${r.received} of ${count} retained messages arrived`);
        return { values: { ...r, rss_stored_mb: rss.stored / 1024 }, generatorCpu: r.generator_cpu, raw: { ...r, rss } };
      } finally {
        await b.stop();
      }
    },
  },
  {
    id: 'discovery',
    title: 'discovery (N retained stored, then a fresh subscriber to # at QoS 0 and at QoS 1, default limits)',
    metrics: (q) =>
      discoverySets(q).flatMap(({ key, label }) =>
        [0, 1].flatMap((qos) => [
          { key: `${key}_q${qos}_received`, label: `${label}, QoS ${qos}: messages that arrived`, better: higher, digits: 0 },
          { key: `${key}_q${qos}_ms`, gen: true, label: `${label}, QoS ${qos}: ms until the last arrived`, better: lower, digits: 1 },
        ]),
      ),
    async run(name, ctx) {
      const values = {};
      const raw = {};
      let generatorCpu = 0;
      for (const set of discoverySets(ctx.quick)) {
        for (const qos of [0, 1]) {
          const b = await startBroker(name, ctx);
          try {
            const args = ['retained', '--port', String(b.port), '--count', String(set.count), '--payload', String(set.payload), '--replay-qos', String(qos)];
            const r = await runLoadgen(ctx.loadgen, args, ctx.gen);
            values[`${set.key}_q${qos}_received`] = r.received;
            values[`${set.key}_q${qos}_ms`] = r.replay_ms;
            generatorCpu = Math.max(generatorCpu, r.generator_cpu);
            raw[`${set.key}_q${qos}`] = r;
          } finally {
            await b.stop();
          }
        }
      }
      return { values, generatorCpu, raw };
    },
  },
  {
    id: 'slow-subscriber',
    title: 'slow subscriber (latency 1 pub → 1 sub, 1000 msgs/s, QoS 0, beside a QoS 1 subscriber acking every 3 s fed at 200 msgs/s)',
    metrics: [
      { key: 'p50_us', gen: true, label: 'healthy p50 µs', better: lower, digits: 0 },
      { key: 'p99_us', gen: true, label: 'healthy p99 µs', better: lower, digits: 0 },
      { key: 'max_us', gen: true, label: 'healthy max µs', better: lower, digits: 0 },
      { key: 'disconnected', label: 'slow pair disconnected by the broker', better: lower, digits: 0 },
    ],
    async run(name, ctx) {
      const b = await startBroker(name, ctx);
      try {
        const slow = await startSlowSubscriber(b.port);
        let r;
        let slowEnd;
        try {
          // Long enough for the slow subscriber's queue to fill and overflow first.
          await sleep(ctx.quick ? 2000 : 6000);
          r = await measureLatency(b.port, ctx);
        } finally {
          slowEnd = slow.stop();
        }
        return { values: { ...r, disconnected: slowEnd.disconnected }, generatorCpu: r.generator_cpu, raw: { ...r, slow: slowEnd } };
      } finally {
        await b.stop();
      }
    },
  },
  {
    id: 'rules',
    title: 'rules: fan-in QoS 0 (as fanin-qos0) with no rules, with 100 simple rules on other topics, and with 100 of which 10 see every message',
    brokers: ['mqttd'],
    metrics: [
      { key: 'plain_per_s', label: 'delivered msgs/s, no rules', gen: true, better: higher, digits: 0 },
      { key: 'other_per_s', label: 'delivered msgs/s, 100 rules elsewhere', gen: true, better: higher, digits: 0 },
      { key: 'other_pct', label: '100 rules elsewhere / no rules %', better: higher, digits: 1 },
      { key: 'watch_per_s', label: 'delivered msgs/s, 10 of 100 rules see each message', gen: true, better: higher, digits: 0 },
      { key: 'watch_pct', label: '10 rules see each / no rules %', better: higher, digits: 1 },
    ],
    async run(name, ctx) {
      const args = ['--pubs', '4', '--subs', '1', '--qos', '0', '--ahead', '5000', ...timing(ctx.quick)];
      const withRules = (watching) => ({ ...ctx, extraConfig: [`rules_file ${hundredRules(ctx.dir, watching)}`] });
      const plain = await pubsub(name, ctx, args);
      const other = await pubsub(name, withRules(0), args);
      const watch = await pubsub(name, withRules(10), args);
      const pct = (r) => (100 * r.delivered_per_s) / plain.delivered_per_s;
      const values = {
        plain_per_s: plain.delivered_per_s,
        other_per_s: other.delivered_per_s,
        other_pct: pct(other),
        watch_per_s: watch.delivered_per_s,
        watch_pct: pct(watch),
      };
      return { values, generatorCpu: Math.max(plain.generator_cpu, other.generator_cpu, watch.generator_cpu), raw: { plain, other, watch } };
    },
  },
  {
    id: 'startup',
    title: 'start-up and a one-shot CLI publish',
    metrics: [
      { key: 'listening_ms', label: 'process start → accepting TCP, ms', better: lower, digits: 1 },
      { key: 'connack_ms', label: 'process start → first CONNACK, ms', better: lower, digits: 1 },
      { key: 'cpu_ms_to_listening', label: 'CPU time (all threads) until accepting, ms', better: lower, digits: 1 },
      { key: 'pub_ms', label: 'CLI publish `-n -t x` end to end, ms', better: lower, digits: 1 },
    ],
    async run(name, ctx) {
      const def = brokers[name];
      const port = await freePort();
      const s = await runLoadgen(ctx.loadgen, ['startup', '--port', String(port), '--cpu', String(ctx.core ?? -1), '--', ...def.command(port, ctx.dir)], ctx.gen);
      const values = { listening_ms: s.listening_ms, connack_ms: s.connack_ms, cpu_ms_to_listening: s.cpu_ms_to_listening };
      // Every CLI talks to the same broker (mosquitto), so only the client differs.
      if (!def.pubMissing()) {
        const target = await startBroker('mosquitto', ctx);
        try {
          const r = await runLoadgen(ctx.loadgen, ['run', '--', ...def.pubCommand(target.port)], ctx.gen);
          values.pub_ms = r.elapsed_ms;
        } finally {
          await target.stop();
        }
      }
      return { values, generatorCpu: 0, raw: s };
    },
  },
];

/** Home Assistant–sized discovery configs, and a crowd of tiny values (issue 11's sets). */
function discoverySets(quick) {
  return quick
    ? [{ key: 'd2k', label: '1,000 × 2 KB', count: 1000, payload: 2048 }, { key: 'd20', label: '20,000 × 20 B', count: 20000, payload: 20 }]
    : [{ key: 'd2k', label: '5,000 × 2 KB', count: 5000, payload: 2048 }, { key: 'd20', label: '100,000 × 20 B', count: 100000, payload: 20 }];
}

export function metricsOf(scenario, quick) {
  return typeof scenario.metrics === 'function' ? scenario.metrics(quick) : scenario.metrics;
}

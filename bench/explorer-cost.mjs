// What LuCI's topic explorer costs the broker: `node bench/explorer-cost.mjs [--seconds N] [--rate N]`
// (after `npm run build`). One broker (dist/mqttd.js) carries a steady load: a publisher at
// --rate messages/s over 1,000 topics, 1,000 retained topics, one subscriber. Each phase
// measures the broker's CPU (utime+stime from /proc) and resident memory:
//   no page      — nobody watches: the explorer must cost nothing;
//   pages open   — what the Live page (a `live` poll every 500 ms) and the Topics page (a
//                  `topics` poll every 3 s, two levels expanded) send, straight to the
//                  control endpoint (on a router rpcd adds a shell + wget per call: measured
//                  separately below, it runs outside the broker);
//   one more sub — no page, one more ordinary MQTT subscriber to '#', for comparison;
//   page closed  — after the explorer's idle timeout: back to the first row.
// Figures are written to docs/openwrt.md by hand; this script asserts nothing.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';

const ROOT = resolve(fileURLToPath(import.meta.url), '..', '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const SECONDS = opt('--seconds', 10);
const RATE = opt('--rate', 5000);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/** utime + stime of a process, in ms. */
function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function rssKiB(pid) {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}

function post(url, method, token, body) {
  return new Promise((res, rej) => {
    const req = request(url + method, { method: 'POST' }, (r) => {
      let out = '';
      r.on('data', (d) => (out += d));
      r.on('end', () => res(JSON.parse(out)));
    });
    req.on('error', rej);
    req.end(`${token}\n${JSON.stringify(body)}`);
  });
}

const dir = mkdtempSync(join(tmpdir(), 'mqttd-explorer-cost-'));
const controlFile = join(dir, 'control');
const port = await freePort();
writeFileSync(join(dir, 'mqttd.conf'), `listener ${port} 127.0.0.1\nallow_anonymous true\ncontrol_file ${controlFile}\nsys_interval 1\n`);
const broker = spawn(process.execPath, [join(ROOT, 'dist/mqttd.js'), '-c', join(dir, 'mqttd.conf')], { stdio: 'ignore' });
try {
  while (!existsSync(controlFile)) await sleep(20);
  const [url, token] = readFileSync(controlFile, 'utf8').split('\n');

  const publisher = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
  for (let i = 0; i < 1000; i++) publisher.publish(`retained/room${i % 50}/sensor${i}`, `{"v":${i}}`, { retain: true });
  const subscriber = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
  let received = 0;
  // The broker's heapUsed, once a second; the lowest of a phase is close to its live data.
  let heapLow = Infinity;
  subscriber.on('message', (topic, message) => {
    if (topic === '$SYS/broker/heap/current') heapLow = Math.min(heapLow, Number(message.toString()));
    else received++;
  });
  await subscriber.subscribeAsync(['load/#', '$SYS/broker/heap/current']);
  let n = 0;
  const payload = Buffer.alloc(64, 0x61);
  const load = setInterval(() => {
    for (let i = 0; i < RATE / 50; i++) publisher.publish(`load/room${n % 50}/sensor${n++ % 1000}`, payload);
  }, 20);

  async function phase(name, during) {
    const stop = during ? during() : () => {};
    await sleep(1000);
    const c0 = cpuMs(broker.pid);
    const r0 = received;
    heapLow = Infinity;
    await sleep(SECONDS * 1000);
    const cpu = cpuMs(broker.pid) - c0;
    const rss = rssKiB(broker.pid);
    const delivered = received - r0;
    await stop();
    return { name, cpuPct: (cpu / (SECONDS * 10)).toFixed(1), heapMiB: (heapLow / 1048576).toFixed(1), rssMiB: (rss / 1024).toFixed(1), delivered: Math.round(delivered / SECONDS) };
  }

  const rows = [];
  rows.push(await phase('no page'));
  rows.push(
    await phase('pages open (Live + Topics)', () => {
      let cursor;
      let polls = 0;
      const live = setInterval(async () => {
        const r = await post(url, 'live', token, { filter: '#', cursor });
        cursor = r.cursor;
        polls++;
      }, 500);
      const topics = setInterval(() => void post(url, 'topics', token, { expanded: [[], ['load'], ['retained']] }), 3000);
      void post(url, 'topics', token, { expanded: [[], ['load'], ['retained']] });
      return () => {
        clearInterval(live);
        clearInterval(topics);
      };
    }),
  );
  rows.push(
    await phase("one more subscriber to '#'", () => {
      const extra = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
      extra.on('connect', () => extra.subscribe('#'));
      return () => extra.endAsync();
    }),
  );
  process.stdout.write('waiting 35 s for the explorer to stop watching…\n');
  await sleep(35_000);
  rows.push(await phase('page closed (after the idle timeout)'));

  clearInterval(load);
  await publisher.endAsync();
  await subscriber.endAsync();

  console.log(`\nexplorer cost: ${RATE} msg/s over 1,000 topics, 1,000 retained, ${SECONDS} s a phase, Node ${process.version}\n`);
  console.log('| phase | broker CPU % | heap used, lowest (MiB) | RSS (MiB) | delivered msg/s |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.name} | ${r.cpuPct} | ${r.heapMiB} | ${r.rssMiB} | ${r.delivered} |`);

  // The router side of one page poll: rpcd spawns the plugin (ash + wget) per call.
  const plugin = join(ROOT, 'luci/root/usr/libexec/rpcd/mqttd.explorer');
  const bin = mkdtempSync(join(tmpdir(), 'mqttd-explorer-bin-'));
  for (const applet of ['sh', 'ash', 'wget', 'head', 'mktemp', 'rm', 'cat']) spawnSync('ln', ['-s', '/usr/bin/busybox', join(bin, applet)]);
  const calls = 20;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) {
    spawnSync('/usr/bin/busybox', ['ash', plugin, 'call', 'live'], { input: '{"filter":"#"}', env: { PATH: bin, MQTTD_CONTROL_FILE: controlFile } });
  }
  const perCall = Number(process.hrtime.bigint() - t0) / 1e6 / calls;
  console.log(`\none rpcd plugin call (busybox ash + wget, on this machine): ${perCall.toFixed(1)} ms wall`);
  rmSync(bin, { recursive: true, force: true });
} finally {
  broker.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}

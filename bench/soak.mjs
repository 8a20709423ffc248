// `npm run soak`: the attacks of issue 12 against mqttd (the dist bundle with the shipped
// OpenWrt config), mosquitto (the same limits in mosquitto.conf) and aedes (as a Node user
// sets it up), one fresh broker per attack, each for a bounded time. Per attack it prints the
// broker's peak RSS, the p99 latency of a healthy publisher/subscriber pair running
// throughout, what was refused or dropped, and whether the broker survived.
// Usage: node bench/soak.mjs [--quick] [--only attack[,attack…]] [--brokers mqttd,mosquitto,aedes] [--out file.json]
//        node bench/soak.mjs --table file.json   (prints the table of a saved run again)
//        SOAK_MQTTD_FLAGS='--cpu-prof --cpu-prof-dir=/tmp/prof' adds Node flags to mqttd's (to find a pause)
// See RELIABILITY.md ("Attacks") for the figures and how to read them.
import { spawn, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';
import { freePort, waitForPort, rssKb, sleep } from './lib/system.mjs';
import { attacks } from './lib/soakAttacks.mjs';
import { USER, VICTIM } from './lib/soakClient.mjs';

process.chdir(resolve(fileURLToPath(import.meta.url), '..', '..'));

const BROKERS = ['mqttd', 'mosquitto', 'aedes'];

function usage(msg) {
  if (msg) console.error(`soak: ${msg}`);
  console.error(`usage: node bench/soak.mjs [--quick] [--only ${attacks.map((a) => a.id).join('|')}[,…]] [--brokers ${BROKERS.join(',')}] [--out file.json]`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { quick: false, only: attacks.map((a) => a.id), brokers: BROKERS, out: null, table: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => argv[++i] ?? usage(`${a} needs a value`);
    if (a === '--quick') o.quick = true;
    else if (a === '--only') o.only = value().split(',');
    else if (a === '--brokers') o.brokers = value().split(',');
    else if (a === '--out') o.out = value();
    else if (a === '--table') o.table = value();
    else usage(a === '--help' || a === '-h' ? undefined : `unknown option ${a}`);
  }
  for (const id of o.only) if (!attacks.some((a) => a.id === id)) usage(`unknown attack "${id}"`);
  for (const b of o.brokers) if (!BROKERS.includes(b)) usage(`unknown broker "${b}"`);
  return o;
}

// ---- Brokers, each with a router's limits ------------------------------------------------

/** The shipped /etc/config/mqttd, pointed at this run's ports and files, the WebSocket listener on. */
function mqttdUci(dir, port, wsPort, passwd) {
  let text = readFileSync('files/etc/config/mqttd', 'utf8');
  const set = (pattern, replacement) => {
    if (!pattern.test(text)) throw new Error(`files/etc/config/mqttd has no ${pattern}`);
    text = text.replace(pattern, replacement);
  };
  set(/option password_file '[^']*'/, `option password_file '${passwd}'`);
  // No ACL: the attacker is an ordinary user allowed to publish and subscribe.
  set(/\toption acl_file '[^']*'\n/, '');
  set(/option persistence_location '[^']*'/, `option persistence_location '${dir}/'\n\toption persistence_journal '${dir}/'`);
  set(/option status_file '[^']*'/, `option status_file '${dir}/status.json'`);
  set(/option control_file '[^']*'/, `option control_file '${dir}/control'`);
  set(/(config listener 'lan'[^]*?option port )'1883'/, `$1'${port}'`);
  set(/(config listener 'lan_ws'\n\toption enabled )'0'/, `$1'1'`);
  set(/(config listener 'lan_ws'[^]*?option port )'9001'/, `$1'${wsPort}'`);
  const file = join(dir, 'mqttd.uci');
  writeFileSync(file, text);
  return file;
}

/** mosquitto.conf with the limits the shipped mqttd config sets, where mosquitto has them. */
function mosquittoConf(dir, port, wsPort, passwd) {
  const file = join(dir, 'mosquitto.conf');
  writeFileSync(
    file,
    [
      // Run as root here, mosquitto would switch to its own user and not read this run's files.
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      'per_listener_settings false',
      'allow_anonymous false',
      `password_file ${passwd}`,
      'persistence false',
      'max_queued_messages 1000',
      'max_queued_bytes 1048576',
      'message_size_limit 262144',
      'max_packet_size 524288',
      'memory_limit 33554432',
      'persistent_client_expiration 7d',
      'log_dest stderr',
      'log_type error',
      `listener ${port} 127.0.0.1`,
      'max_connections 64',
      `listener ${wsPort} 127.0.0.1`,
      'protocol websockets',
      'max_connections 64',
      '',
    ].join('\n'),
  );
  return file;
}

/** The users: `user` for the healthy pair and the attackers, `victim` (bcrypt where the broker reads it) for guessing. */
function passwords(dir) {
  const victimPassword = 'the-right-password';
  const mqttdFile = join(dir, 'passwd-mqttd');
  const mosquittoFile = join(dir, 'passwd-mosquitto');
  writeFileSync(mosquittoFile, '');
  // mosquitto's own tool writes its $7$ hashes (mosquitto 2.0 reads no bcrypt).
  execFileSync('/usr/bin/mosquitto_passwd', ['-b', mosquittoFile, USER.username, USER.password.toString()]);
  execFileSync('/usr/bin/mosquitto_passwd', ['-b', mosquittoFile, VICTIM, victimPassword]);
  const userLine = readFileSync(mosquittoFile, 'utf8').split('\n').find((l) => l.startsWith(`${USER.username}:`));
  writeFileSync(mqttdFile, `${userLine}\n${VICTIM}:${bcrypt.hashSync(victimPassword, 10)}\n`);
  const aedesFile = join(dir, 'users-aedes.json');
  writeFileSync(aedesFile, JSON.stringify({ [USER.username]: USER.password.toString(), [VICTIM]: bcrypt.hashSync(victimPassword, 10) }));
  return { mqttdFile, mosquittoFile, aedesFile, victimPassword };
}

/** The Node flags the OpenWrt init script starts mqttd with. */
function initScriptNodeFlags() {
  // The init script hands them to node as NODE_OPTIONS (MQTTD_NODE_OPTIONS=…); a missed match
  // would measure a broker with Node's default young generation, not the router's.
  const m = /^MQTTD_NODE_OPTIONS=(.*)$/m.exec(readFileSync('files/etc/init.d/mqttd', 'utf8'));
  if (!m) throw new Error('files/etc/init.d/mqttd sets no MQTTD_NODE_OPTIONS');
  return m ? m[1].replace(/^["']|["']$/g, '').split(/\s+/).filter(Boolean) : [];
}

/** Node flags for looking inside mqttd during a run (a CPU profile, GC tracing), after the init script's. */
function extraMqttdFlags() {
  return (process.env.SOAK_MQTTD_FLAGS ?? '').split(/\s+/).filter(Boolean);
}

async function startBroker(name, parent, users) {
  // A directory per run: the persistence file of one attack must not be the next one's start.
  const dir = mkdtempSync(join(parent, `${name}-`));
  const port = await freePort();
  const wsPort = await freePort();
  let argv;
  if (name === 'mqttd') {
    const uci = mqttdUci(dir, port, wsPort, users.mqttdFile);
    argv = [process.execPath, ...initScriptNodeFlags(), ...extraMqttdFlags(), 'dist/mqttd.js', '--uci', uci, '--network', 'lan=127.0.0.1'];
  } else if (name === 'mosquitto') {
    argv = ['/usr/sbin/mosquitto', '-c', mosquittoConf(dir, port, wsPort, users.mosquittoFile)];
  } else {
    argv = [process.execPath, 'bench/lib/soak-aedes.mjs', String(port), String(wsPort), users.aedesFile];
  }
  const log = join(dir, `${name}-${port}.log`);
  const fd = openSync(log, 'w');
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let exit = null;
  const exited = new Promise((r) => child.once('exit', (code, signal) => r((exit = code ?? signal))));
  await waitForPort(port, 15000, () => exit === null);
  await waitForPort(wsPort, 15000, () => exit === null);
  let peakKb = 0;
  const sampler = setInterval(() => {
    if (exit === null) peakKb = Math.max(peakKb, rssKb(child.pid) ?? 0);
  }, 50);
  return {
    name,
    port,
    wsPort,
    pid: child.pid,
    log,
    users,
    alive: () => exit === null,
    exitStatus: () => exit,
    rssKb: () => rssKb(child.pid) ?? 0,
    peakKb: () => peakKb,
    resetPeak() {
      peakKb = rssKb(child.pid) ?? 0;
    },
    async stop() {
      clearInterval(sampler);
      if (exit !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

// ---- The healthy pair ----------------------------------------------------------------------

/** The healthy pair, in its own process (bench/lib/soakHealthy.mjs); ask() sends a command and reads its one-line answer. */
async function healthyPair(broker) {
  const child = spawn(process.execPath, ['bench/lib/soakHealthy.mjs', String(broker.port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const read = async () => {
    const { value, done } = await lines.next();
    if (done) throw new Error('the healthy pair exited');
    return value;
  };
  const first = await read();
  if (first !== 'ready') throw new Error(JSON.parse(first).error ?? first);
  const ask = async (command) => {
    child.stdin.write(`${command}\n`);
    return JSON.parse(await read());
  };
  return {
    take: () => ask('take'),
    probe: async () => (await ask('probe')).ok,
    stop() {
      child.stdin.end();
      child.kill();
    },
  };
}

function p99(samples) {
  if (samples.length === 0) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))];
}

// ---- Running -------------------------------------------------------------------------------

/** The broker and healthy pair of the attack under way, stopped if the soak is interrupted. */
let current;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    current?.healthy?.stop();
    await current?.broker.stop();
    process.exit(130);
  });
}

async function runOne(attack, name, dir, users, quick) {
  const broker = await startBroker(name, dir, users);
  current = { broker };
  let healthy;
  try {
    healthy = current.healthy = await healthyPair(broker);
    await sleep(2000);
    const idle = await healthy.take();
    broker.resetPeak();
    const started = Date.now();
    const counts = await attack.run(broker, { quick, victimPassword: users.victimPassword });
    // At least 2 s of healthy traffic per attack, and what the attack left behind.
    await sleep(Math.max(500, 2000 - (Date.now() - started)));
    const during = await healthy.take();
    const alive = broker.alive();
    const served = alive && (await healthy.probe());
    const survived = served;
    const why = !alive ? 'broker exited' : !served ? (during.connected ? 'healthy pair got nothing for 3 s' : 'healthy pair disconnected') : undefined;
    current = undefined;
    return {
      attack: attack.id,
      broker: name,
      peakRssMb: broker.peakKb() / 1024,
      idleP99Ms: p99(idle.samples),
      p99Ms: p99(during.samples),
      healthyLost: during.lost,
      ...counts,
      survived,
      why,
      exit: alive ? undefined : broker.exitStatus(),
    };
  } finally {
    healthy?.stop();
    await broker.stop();
  }
}

const fmt = (v, digits = 1) => (v === null || v === undefined ? '–' : typeof v === 'number' ? v.toFixed(digits) : String(v));

function table(results) {
  const lines = [
    '| Attack | Broker | Peak RSS (MB) | Healthy p99 (ms), idle → attack | Refused | Dropped (healthy lost) | Survived | Notes | Reproduce |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  let previous;
  for (const r of results) {
    // The command once per attack, on its first row.
    const command = r.attack === previous ? '' : `\`npm run soak -- --only ${r.attack}\``;
    previous = r.attack;
    if (r.error) {
      lines.push(`| ${r.attack} | ${r.broker} | – | – | – | – | error | ${r.error} | ${command} |`);
      continue;
    }
    lines.push(
      `| ${r.attack} | ${r.broker} | ${fmt(r.peakRssMb)} | ${fmt(r.idleP99Ms)} → ${fmt(r.p99Ms)} | ${r.refused ?? 0} | ${r.dropped ?? 0} (${r.healthyLost}) | ${r.survived ? 'yes' : `**no**: ${r.why}${r.exit !== undefined ? ` (exit ${r.exit})` : ''}`} | ${r.notes ?? ''} | ${command} |`,
    );
  }
  return lines.join('\n');
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.table) {
    console.log(table(JSON.parse(readFileSync(opts.table, 'utf8')).results));
    return;
  }
  if (!existsSync('dist/mqttd.js')) usage('dist/mqttd.js is missing: npm run build first');
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-soak-'));
  const users = passwords(dir);
  const results = [];
  for (const id of opts.only) {
    const attack = attacks.find((a) => a.id === id);
    for (const name of opts.brokers) {
      const started = Date.now();
      let r;
      try {
        r = await runOne(attack, name, dir, users, opts.quick);
      } catch (err) {
        r = { attack: id, broker: name, error: err.message };
      }
      results.push(r);
      console.error(`soak: ${id} ${name}: ${r.error ?? `peak ${fmt(r.peakRssMb)} MB, p99 ${fmt(r.p99Ms)} ms, survived ${r.survived}`} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    }
  }
  console.log(table(results));
  if (opts.out) writeFileSync(opts.out, JSON.stringify({ quick: opts.quick, results }, null, 2));
}

await main();

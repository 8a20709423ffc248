/**
 * Password guessing and logins that take long, over real sockets with real clients: a
 * throttled login is refused at once (never a silent wait past a client's CONNACK timeout),
 * a known device behind the guessing address still logs in, connect_timeout covers the
 * password check, max_connections counts logins still being checked, and a storm of bcrypt
 * guesses from 200 addresses leaves connected clients serving (figures printed, no timing
 * thresholds).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type ErrorWithReasonCode } from 'mqtt';
import { FileSecurity } from '../../src/auth/FileSecurity';
import { hashPassword } from '../../src/auth/PasswordHash';
import { bcryptWorkers } from '../../src/auth/BcryptWorkers';
import type { AuthResult } from '../../src/auth/Security';
import { connectClient, startBroker, startMqttd, type TestClient } from '../helpers/broker';
import { budgetSeconds, figure, sleep } from './hardeningKit';
import { startProcess } from '../helpers/processes';
import type { StormResult } from './guessStorm';
import { tryConnect } from './overloadKit';

async function withPasswd<T>(user: string, hash: string, fn: (passwd: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-guess-'));
  try {
    const passwd = join(dir, 'passwd');
    writeFileSync(passwd, `${user}:${hash}\n`);
    return await fn(passwd);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The v5 CONNACK reason MQTT.js reports for a refused connection. */
async function v5Refusal(url: string, options: { clientId: string; username?: string; password?: string }): Promise<number | undefined> {
  try {
    const c = await connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, ...options });
    await c.endAsync();
    return 0;
  } catch (err) {
    return (err as ErrorWithReasonCode).code as number | undefined;
  }
}

test('a throttled login is refused at once: CONNACK 5 (v3) or 0x9F (v5); a known device on that address and another address still log in', async () => {
  await withPasswd('owner', await hashPassword('right', { algorithm: 'bcrypt', iterations: 4 }), async (passwordFile) => {
    const security = new FileSecurity({ allowAnonymous: false, passwordFile, throttle: { baseDelayMs: 60_000, maxDelayMs: 60_000 } });
    await security.load();
    const b = await startBroker({ security });
    try {
      // The thermostat logged in before from 127.0.0.1: it is a known device there.
      const thermostat = await connectClient(b.url, { clientId: 'thermostat', username: 'owner', password: 'right' });
      await thermostat.end();

      const answers: Array<number | 'closed'> = [];
      let slowest = 0;
      for (let i = 0; i < 8; i++) {
        const r = await tryConnect(b.port, `bot-${i}`, { username: 'owner', password: `guess-${i}` });
        answers.push(r.outcome);
        slowest = Math.max(slowest, r.ms);
        r.socket.destroy();
      }
      assert.deepEqual(answers, [5, 5, 5, 5, 5, 5, 5, 5], 'every guess got its CONNACK');
      const right = await tryConnect(b.port, 'bot-right', { username: 'owner', password: 'right' });
      right.socket.destroy();
      assert.equal(right.outcome, 5, 'while throttled even the right password is refused, unchecked');
      assert.equal(await v5Refusal(b.url, { clientId: 'bot-v5', username: 'owner', password: 'right' }), 0x9f, 'v5: Connection rate exceeded');

      const back = await connectClient(b.url, { clientId: 'thermostat', username: 'owner', password: 'right' });
      assert.equal(back.connack?.returnCode, 0, 'the known device logged in from the guessing address');
      await back.end();
      const laptop = await tryConnect(b.port, 'laptop', { username: 'owner', password: 'right', localAddress: '127.0.0.2' });
      laptop.socket.destroy();
      assert.equal(laptop.outcome, 0, 'another address logged in');
      figure('throttled-refusal', { guesses: answers.length, slowest_refusal_ms: slowest });
    } finally {
      await b.stop();
    }
  });
});

test('30 parallel bad logins from one address all get their CONNACK, and the known device from that address gets in', async () => {
  await withPasswd('owner', await hashPassword('right', { algorithm: 'bcrypt', iterations: 8 }), async (passwordFile) => {
    const security = new FileSecurity({ allowAnonymous: false, passwordFile });
    await security.load();
    const b = await startBroker({ security, limits: { connectTimeout: 10 } });
    try {
      const device = await connectClient(b.url, { clientId: 'esp-kitchen', username: 'owner', password: 'right' });
      await device.end();
      const bad = Array.from({ length: 30 }, (_, i) => tryConnect(b.port, `bad-${i}`, { username: 'owner', password: `nope-${i}` }));
      const good = tryConnect(b.port, 'esp-kitchen', { username: 'owner', password: 'right' });
      const answers = await Promise.all(bad);
      const g = await good;
      for (const a of [...answers, g]) a.socket.destroy();
      const codes = new Set(answers.map((a) => a.outcome));
      assert.ok([...codes].every((c) => c === 5 || c === 3), `answers: ${[...codes].join(', ')}`);
      assert.equal(g.outcome, 0, 'the known device was accepted');
      figure('parallel-bad-logins', {
        bad_logins: answers.length,
        slowest_answer_ms: Math.max(...answers.map((a) => a.ms)),
        refused_busy: answers.filter((a) => a.outcome === 3).length,
        known_device_ms: g.ms,
      });
    } finally {
      await b.stop();
    }
  });
});

test('password checks run off the event loop: it keeps turning during a bcrypt (worker thread) and a PBKDF2 (thread pool) check', async () => {
  const cases: Array<[string, () => Promise<string>]> = [
    ['bcrypt cost 11', () => hashPassword('right', { algorithm: 'bcrypt', iterations: 11 })],
    ['$7$ 400,000 iterations', () => hashPassword('right', { iterations: 400_000 })],
  ];
  for (const [name, makeHash] of cases) {
    await withPasswd('owner', await makeHash(), async (passwordFile) => {
      const security = new FileSecurity({ allowAnonymous: false, passwordFile });
      await security.load();
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 1);
      const started = Date.now();
      const result = await security.authenticate({ clientId: 'c', username: 'owner', password: Buffer.from('right'), remoteAddress: '192.0.2.1' });
      const ms = Date.now() - started;
      clearInterval(ticker);
      assert.equal(result, 'ok', name);
      // Each check takes hundreds of ms; on this thread the ticker could not have run at all.
      assert.ok(ticks >= 10, `${name}: the event loop turned ${ticks} times during a ${ms} ms check`);
      figure('password-check-off-loop', { hash: name.replace(/[ ,]/g, '_'), check_ms: ms, loop_turns: ticks });
    });
  }
  assert.ok(bcryptWorkers().running >= 1, 'a worker thread did the bcrypt check');
});

test('connect_timeout covers the password check: a login whose check never ends gets CONNACK 3 / v5 0x88, then its socket closes', async () => {
  const b = await startBroker({
    limits: { connectTimeout: 1 },
    hooks: { authenticate: () => new Promise<AuthResult>(() => undefined) },
  });
  try {
    const [v3, v5] = await Promise.all([tryConnect(b.port, 'stuck-v3', { username: 'u', password: 'p' }), v5Refusal(b.url, { clientId: 'stuck-v5' })]);
    v3.socket.destroy();
    assert.equal(v3.outcome, 3, 'server unavailable');
    assert.equal(v5, 0x88, 'v5 Server unavailable');
    await sleep(50);
    assert.equal(b.server.registry.connections.size, 0, 'nothing left open');
    figure('connect-timeout-while-authenticating', { connect_timeout_s: 1, answered_after_ms: v3.ms });
  } finally {
    await b.stop();
  }
});

test('global max_connections counts logins still being checked: beyond it a CONNECT is refused at once', async () => {
  const gates: Array<() => void> = [];
  const b = await startBroker({
    limits: { maxConnections: 2 },
    hooks: { authenticate: () => new Promise<AuthResult>((resolve) => gates.push(() => resolve('ok'))) },
  });
  try {
    const first = tryConnect(b.port, 'slow-1');
    const second = tryConnect(b.port, 'slow-2');
    while (gates.length < 2) await sleep(5);
    const third = await tryConnect(b.port, 'third');
    third.socket.destroy();
    assert.equal(third.outcome, 3, 'server unavailable while two logins are being checked');
    for (const open of gates) open();
    const done = await Promise.all([first, second]);
    assert.deepEqual(done.map((d) => d.outcome), [0, 0]);
    const fourth = await tryConnect(b.port, 'fourth');
    assert.equal(fourth.outcome, 3, 'and while two are connected');
    for (const d of [...done, fourth]) d.socket.destroy();
  } finally {
    await b.stop();
  }
});

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Round trips of QoS 0 messages through the broker, one every 10 ms, for `ms`. */
async function latencies(probe: TestClient, ms: number): Promise<number[]> {
  const sent = new Map<string, number>();
  const out: number[] = [];
  const onMessage = (_t: string, payload: Buffer) => {
    const at = sent.get(payload.toString());
    if (at !== undefined) out.push(Number(process.hrtime.bigint() - BigInt(at)) / 1e6);
  };
  probe.client.on('message', onMessage);
  const end = Date.now() + ms;
  for (let i = 0; Date.now() < end; i++) {
    sent.set(String(i), Number(process.hrtime.bigint()));
    probe.client.publish('probe/rtt', String(i));
    await sleep(10);
  }
  await sleep(200);
  probe.client.off('message', onMessage);
  assert.ok(out.length >= sent.size * 0.9, `probe got ${out.length} of ${sent.size} messages`);
  return out.sort((a, b) => a - b);
}

test('a bcrypt guessing storm from 200 addresses: every attempt answered, a known device still logs in, clients keep serving', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-storm-'));
  try {
    const passwd = join(dir, 'passwd');
    writeFileSync(
      passwd,
      `owner:${await hashPassword('right', { algorithm: 'bcrypt', iterations: 10 })}\nprobe:${await hashPassword('probe')}\n`,
    );
    const m = await startMqttd([`password_file ${passwd}`, 'allow_anonymous false']);
    try {
      const url = `mqtt://127.0.0.1:${m.port}`;
      // The owner's device logs in once from the address the attack will come from.
      const device = await connectClient(url, { clientId: 'owner-device', username: 'owner', password: 'right' });
      await device.end();
      const probe = await connectClient(url, { clientId: 'probe', username: 'probe', password: 'probe' });
      await probe.client.subscribeAsync('probe/rtt');
      const idle = await latencies(probe, 1500);

      const seconds = budgetSeconds(4);
      const before = cpuTicks(m.process.child.pid!);
      const stormProcess = startProcess(process.execPath, [join(__dirname, 'guessStorm.js'), String(m.port), String(seconds), '200', 'owner']);
      await sleep(300);
      const underAttack = latencies(probe, seconds * 1000 - 800);
      // During the storm: the known device (bcrypt, same address as the first guesser) and a
      // new $7$ login both get in.
      const knownDevice = connectClient(url, { clientId: 'owner-device', username: 'owner', password: 'right' });
      const newLogin = connectClient(url, { clientId: 'probe-2', username: 'probe', password: 'probe' });
      const [during, known, fresh] = await Promise.all([underAttack, knownDevice, newLogin]);
      await known.end();
      await fresh.end();
      assert.equal(await stormProcess.exited, 0, stormProcess.output());
      const storm = JSON.parse(stormProcess.output().trim()) as StormResult;
      const cpu = (cpuTicks(m.process.child.pid!) - before) / seconds; // ticks per second: 100 = one core
      await probe.end();

      assert.equal(storm.answers.closed ?? 0, 0, 'an attempt got no CONNACK');
      assert.equal(storm.answers['0'] ?? 0, 0, 'a guess was accepted');
      figure('password-guessing-storm', {
        addresses: 200,
        seconds,
        attempts: storm.attempts,
        refused_not_authorised: storm.answers['5'] ?? 0,
        refused_server_busy: storm.answers['3'] ?? 0,
        slowest_answer_ms: storm.slowestMs,
        broker_cpu_percent: Math.round(cpu),
        idle_p50_ms: percentile(idle, 50).toFixed(2),
        idle_p99_ms: percentile(idle, 99).toFixed(2),
        storm_p50_ms: percentile(during, 50).toFixed(2),
        storm_p99_ms: percentile(during, 99).toFixed(2),
        known_device_login: 'ok',
        new_pbkdf2_login: 'ok',
      });
    } finally {
      await m.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** utime + stime of a process, in clock ticks (/proc/<pid>/stat fields 14 and 15). */
function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

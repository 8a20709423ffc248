/**
 * Nothing acknowledged is lost when the real daemon is killed: kill -9 at random moments of a
 * retained QoS 1 flood and persistent-session traffic (the RAM journal), and SIGTERM in the
 * middle of a flood (stop taking work, then save). Real processes, MQTT.js counting PUBACKs.
 *
 * MQTTD_KILL_ROUNDS sets the kill -9 rounds (20 by default; 100 by hand).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { connectClient, startMqttd, type MqttdProcess, type TestClient } from '../helpers/broker';

const ROUNDS = Number(process.env.MQTTD_KILL_ROUNDS ?? 20);

function config(dir: string, journal: boolean, extra: string[] = []): string[] {
  return [
    'allow_anonymous true',
    'persistence true',
    `persistence_location ${dir}/`,
    `persistence_journal ${journal ? `${dir}/journal/` : 'none'}`,
    'max_queued_messages 0',
    'max_inflight_messages 20',
    ...extra,
  ];
}

/** Publishes QoS 1 messages with up to `window` unacknowledged; `acked` gets every PUBACKed topic. */
function flood(client: MqttClient, name: (i: number) => string, retain: boolean, acked: Map<string, string>): { stop(): void } {
  let stopped = false;
  let i = 0;
  const window = 40;
  let outstanding = 0;
  const pump = (): void => {
    while (!stopped && outstanding < window && client.connected) {
      const topic = name(i);
      const payload = `${topic}#${i}`;
      i++;
      outstanding++;
      client.publish(topic, payload, { qos: 1, retain }, (err) => {
        outstanding--;
        if (!err) acked.set(topic, payload);
        if (!stopped) setImmediate(pump);
      });
    }
  };
  pump();
  return {
    stop() {
      stopped = true;
    },
  };
}

/** Waits until every expected topic came in `c.received`, or nothing arrived for `quietMs`. */
async function collect(c: TestClient, expected: Iterable<string>, alreadySeen: Set<string> = new Set(), quietMs = 2000): Promise<Set<string>> {
  const missing = new Set<string>();
  for (const t of expected) if (!alreadySeen.has(t)) missing.add(t);
  let taken = 0;
  for (;;) {
    for (; taken < c.received.length; taken++) missing.delete(c.received[taken]!.topic);
    if (missing.size === 0) return missing;
    try {
      await c.next(quietMs);
    } catch {
      return missing;
    }
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test(`kill -9 at random moments (${ROUNDS} rounds) of a retained QoS 1 flood and persistent-session traffic: everything acknowledged is back`, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-crash-'));
  // autosave every second: kills land before, during and after flash saves and compactions.
  const lines = config(dir, true, ['autosave_interval 1']);
  const retained = new Map<string, string>();
  const queued = new Map<string, string>();
  const received = new Set<string>();
  let port = 0;
  let d: MqttdProcess | undefined;
  const subscriberOptions = { clientId: 'crash-sub', clean: false, protocolVersion: 5 as const, properties: { sessionExpiryInterval: 3600 } };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      d = await startMqttd(lines, { dir, ...(port ? { port } : {}) });
      port = d.port;
      const url = `mqtt://127.0.0.1:${port}`;
      assert.doesNotMatch(d.process.output(), /not a valid|could not|set aside|not replayed/i, `round ${round}: ${d.process.output()}`);
      if (round === 0) {
        const sub = await connectClient(url, subscriberOptions);
        await sub.client.subscribeAsync('queue/#', { qos: 1 });
        await sub.end();
      }
      // In odd rounds the persistent subscriber is online: messages go in flight and get PUBACKed.
      const online = round % 2 === 1 ? await connectClient(url, subscriberOptions) : undefined;
      const pub = await connectClient(url, { clientId: `pub-${round}` });
      const floods = [
        flood(pub.client, (i) => `flood/${round}/${i % 300}`, true, retained),
        flood(pub.client, (i) => `queue/${round}/${i}`, false, queued),
      ];
      await sleep(100 + Math.random() * 400);
      d.process.child.kill('SIGKILL');
      await d.process.exited;
      for (const f of floods) f.stop();
      pub.client.end(true);
      online?.client.end(true);
      for (const m of online?.received ?? []) received.add(m.topic);
    }
    assert.ok(retained.size > ROUNDS * 10, `the flood got too few PUBACKs to prove anything (${retained.size})`);
    d = await startMqttd(lines, { dir, port });
    const url = `mqtt://127.0.0.1:${port}`;
    assert.doesNotMatch(d.process.output(), /not a valid|could not|set aside|not replayed/i, d.process.output());

    const reader = await connectClient(url);
    await reader.client.subscribeAsync('flood/#', { qos: 1 });
    await collect(reader, retained.keys());
    await reader.end();
    const seen = new Map(reader.received.map((m) => [m.topic, m.payload]));
    // A retained topic may hold a later message whose PUBACK the kill cut off: never an older one.
    const lost = [...retained].filter(([topic, payload]) => !seen.has(topic) || Number(seen.get(topic)!.split('#')[1]) < Number(payload.split('#')[1]));
    assert.deepEqual(lost.slice(0, 10), [], `${lost.length} of ${retained.size} acknowledged retained messages lost`);

    const sub = await connectClient(url, subscriberOptions);
    assert.equal(sub.connack?.sessionPresent, true);
    const missing = [...(await collect(sub, queued.keys(), received))];
    await sub.end();
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} of ${queued.size} acknowledged queued messages lost`);
    process.stdout.write(
      `# kill -9 rounds ${ROUNDS}: ${retained.size} retained and ${queued.size} queued messages acknowledged, 0 lost\n`,
    );
  } finally {
    await d?.stop();
  }
  // A clean stop compacts into the store and leaves no journal behind.
  assert.deepEqual(readdirSync(join(dir, 'journal')), []);
});

test('SIGTERM during a retained QoS 1 flood (no journal): every PUBACKed message is in the saved store', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-term-'));
  const lines = config(dir, false, ['autosave_interval 3600']);
  let d = await startMqttd(lines, { dir });
  const port = d.port;
  const acked = new Map<string, string>();
  try {
    const pubs = await Promise.all([0, 1, 2].map((n) => connectClient(`mqtt://127.0.0.1:${port}`, { clientId: `term-pub-${n}` })));
    const floods = pubs.map((p, n) => flood(p.client, (i) => `term/${n}/${i}`, true, acked));
    await sleep(300);
    d.process.child.kill('SIGTERM');
    await d.process.exited;
    for (const f of floods) f.stop();
    for (const p of pubs) p.client.end(true);
    assert.match(d.process.output(), /Saved the store/);
    assert.ok(acked.size > 100, `too few PUBACKs (${acked.size}) to prove anything`);

    d = await startMqttd(lines, { dir, port });
    const restored = /Restored (\d+) retained messages/.exec(d.process.output());
    assert.ok(restored, d.process.output());
    const reader = await connectClient(`mqtt://127.0.0.1:${port}`);
    await reader.client.subscribeAsync('term/#', { qos: 1 });
    const lost = [...(await collect(reader, acked.keys()))];
    await reader.end();
    assert.equal(lost.length, 0, `${lost.length} of ${acked.size} PUBACKed messages lost (restored ${restored[1]})`);
    process.stdout.write(`# SIGTERM flood: ${acked.size} PUBACKed, ${restored[1]} restored, 0 lost\n`);
  } finally {
    await d.stop();
  }
});

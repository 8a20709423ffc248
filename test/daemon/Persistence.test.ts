/**
 * Persistence through the real daemon: what survives a restart, SIGUSR1, kill -9 in the
 * middle of saving, and a corrupted store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectClient, eventually, startMqttd, type MqttdProcess } from '../helpers/broker';
import { decodeSnapshot } from '../../src/persistence/SnapshotCodec';
import { waitForOutput } from '../helpers/processes';

function persistent(dir: string, extra: string[] = [], journal = `${dir}/journal/`): string[] {
  return ['allow_anonymous true', 'persistence true', `persistence_location ${dir}/`, `persistence_journal ${journal}`, ...extra];
}

const count = (p: MqttdProcess, pattern: RegExp): number => (p.process.output().match(new RegExp(pattern, 'g')) ?? []).length;

test('retained messages and persistent sessions (subscriptions, queued QoS 1/2) survive a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-persist-'));
  let d = await startMqttd(persistent(dir), { dir });
  const port = d.port;
  const url = `mqtt://127.0.0.1:${port}`;
  try {
    const v3 = await connectClient(url, { clientId: 'keeper-v3', clean: false });
    await v3.client.subscribeAsync('queue/#', { qos: 2 });
    await v3.end();
    const v5 = await connectClient(url, { clientId: 'keeper-v5', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 } });
    await v5.client.subscribeAsync('queue/#', { qos: 1 });
    await v5.end();
    const pub = await connectClient(url);
    await pub.client.publishAsync('kept/a', 'retained-a', { qos: 1, retain: true });
    await pub.client.publishAsync('kept/b', 'retained-b', { qos: 0, retain: true });
    await pub.client.publishAsync('queue/1', 'one', { qos: 1 });
    await pub.client.publishAsync('queue/2', 'two', { qos: 2 });
    await pub.end();
    await d.stop(); // SIGTERM saves

    d = await startMqttd(persistent(dir), { dir, port });
    assert.match(d.process.output(), /Restored 2 retained messages and 2 sessions/);
    const late = await connectClient(url);
    await late.client.subscribeAsync('kept/#', { qos: 1 });
    const got = [await late.next(), await late.next()].map((m) => `${m.topic}=${m.payload}:${m.packet.retain}`).sort();
    assert.deepEqual(got, ['kept/a=retained-a:true', 'kept/b=retained-b:true']);
    await late.end();
    for (const [clientId, extra] of [
      ['keeper-v3', {}],
      ['keeper-v5', { protocolVersion: 5 as const, properties: { sessionExpiryInterval: 3600 } }],
    ] as const) {
      const back = await connectClient(url, { clientId, clean: false, ...extra });
      assert.equal(back.connack?.sessionPresent, true, `${clientId} session present after restart`);
      const q = [await back.next(), await back.next()].map((m) => `${m.topic}=${m.payload}`);
      assert.deepEqual(q, ['queue/1=one', 'queue/2=two'], clientId);
      // The subscription itself came back too.
      const pub2 = await connectClient(url);
      await pub2.client.publishAsync('queue/3', 'three', { qos: 1 });
      assert.equal((await back.next()).payload, 'three');
      await Promise.all([back.end(), pub2.end()]);
    }
  } finally {
    await d.stop();
  }
});

test('without a journal: SIGUSR1 saves at once; kill -9 afterwards loses nothing that was saved', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-usr1-'));
  const conf = persistent(dir, ['autosave_interval 3600'], 'none');
  let d = await startMqttd(conf, { dir });
  const port = d.port;
  const url = `mqtt://127.0.0.1:${port}`;
  try {
    const pub = await connectClient(url);
    await pub.client.publishAsync('usr1/x', 'saved', { qos: 1, retain: true });
    d.process.child.kill('SIGUSR1');
    await waitForOutput(d.process, /Saved the store/);
    assert.ok(existsSync(join(dir, 'mqttd.db')));
    await pub.client.publishAsync('usr1/y', 'unsaved', { qos: 1, retain: true });
    await pub.end();
    d.process.child.kill('SIGKILL');
    await d.process.exited;

    d = await startMqttd(conf, { dir, port });
    // No journal: what came after the save is lost, as in mosquitto (the journal tests show the difference).
    assert.match(d.process.output(), /Restored 1 retained messages/);
    const c = await connectClient(url);
    await c.client.subscribeAsync('usr1/#', { qos: 1 });
    assert.equal((await c.next()).payload, 'saved');
    await c.end();
  } finally {
    await d.stop();
  }
});

test('kill -9 while saving over and over: the restarted broker always finds a whole store', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-kill9-'));
  let port = 0;
  let lastOutput = '';
  let savedCount = 0;
  for (let round = 0; round < 3; round++) {
    const d = await startMqttd(persistent(dir, ['autosave_interval 1']), { dir, ...(port ? { port } : {}) });
    port = d.port;
    const pub = await connectClient(`mqtt://127.0.0.1:${port}`);
    try {
      assert.doesNotMatch(d.process.output(), /corrupt|set aside|could not/i, `round ${round} found a damaged store`);
      const restored = /Restored (\d+) retained/.exec(d.process.output());
      assert.ok(restored, d.process.output());
      // Everything the previous round saw on disk is back.
      assert.ok(Number(restored[1]) >= savedCount, `restored ${restored[1]} of ${savedCount} in round ${round}: ${lastOutput}`);
      // Enough retained data that a save takes a while, changing all the time, saved on every USR1.
      const body = Buffer.alloc(2000, round);
      for (let i = 0; i < 150; i++) {
        pub.client.publish(`load/${round}/${i}`, body, { qos: 0, retain: true });
        if (i % 10 === 0) d.process.child.kill('SIGUSR1');
        if (i % 25 === 0) await new Promise((r) => setImmediate(r));
      }
      await pub.client.publishAsync('load/done', String(round), { qos: 1, retain: true });
      // Signals of one kind do not queue, so ask again until the file on disk (read as a
      // restart would, while the broker keeps writing it) holds this round's marker.
      const store = join(dir, 'mqttd.db');
      let polls = 0;
      await eventually(() => {
        if (polls++ % 10 === 0) d.process.child.kill('SIGUSR1');
        if (!existsSync(store)) return false;
        const snapshot = decodeSnapshot(readFileSync(store));
        const marker = snapshot.retained.find((m) => m.topic === 'load/done');
        savedCount = snapshot.retained.length;
        return marker?.payload.toString() === String(round);
      }, `round ${round}'s marker on disk`, 20000);
      assert.equal(savedCount, 150 * (round + 1) + 1);
      // Keep saving and kill in the middle of it.
      for (let i = 0; i < 5; i++) d.process.child.kill('SIGUSR1');
      d.process.child.kill('SIGKILL');
      await d.process.exited;
      lastOutput = d.process.output();
    } finally {
      await pub.end();
      await d.stop();
    }
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('corrupt')), []);
  }
  const final = await startMqttd(persistent(dir), { dir, port });
  try {
    const c = await connectClient(`mqtt://127.0.0.1:${port}`);
    await c.client.subscribeAsync('load/done', { qos: 1 });
    assert.equal((await c.next()).payload, '2', 'the last round\'s marker was saved before the kill');
    await c.end();
  } finally {
    await final.stop();
  }
});

test('a corrupted store is set aside (never deleted) and the broker starts empty and works', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-corrupt-'));
  let d = await startMqttd(persistent(dir), { dir });
  const port = d.port;
  const url = `mqtt://127.0.0.1:${port}`;
  const pub = await connectClient(url);
  await pub.client.publishAsync('c/x', 'before', { qos: 1, retain: true });
  await pub.end();
  await d.stop();
  const store = join(dir, 'mqttd.db');
  const bytes = readFileSync(store);
  bytes[bytes.length >> 1] ^= 0xff;
  writeFileSync(store, bytes);

  d = await startMqttd(persistent(dir), { dir, port });
  try {
    assert.equal(count(d, /Restored 0 retained messages and 0 sessions/), 1, d.process.output());
    const aside = readdirSync(dir).filter((f) => f.startsWith('mqttd.db.corrupt-'));
    assert.equal(aside.length, 1, `set-aside file in ${readdirSync(dir)}`);
    assert.deepEqual(readFileSync(join(dir, aside[0])), bytes, 'the damaged file is kept byte for byte');
    assert.match(d.process.output(), new RegExp(aside[0].replace(/\./g, '\\.')), 'the log names where it went');
    const c = await connectClient(url);
    await c.client.subscribeAsync(['c/#', 'c-marker'], { qos: 1 });
    await c.client.publishAsync('c-marker', 'm', { qos: 1 });
    assert.equal((await c.next()).topic, 'c-marker', 'nothing came back from the damaged store');
    await c.end();
  } finally {
    await d.stop();
  }
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectClient, startMqttd } from '../helpers/broker';
import { waitForOutput } from '../helpers/processes';
import { FileStore } from '../../src/persistence/FileStore';
import { decodeSnapshot } from '../../src/persistence/SnapshotCodec';
import { removeDir, scratchDir } from './storeTestEnv';

/** The real daemon (dist/mqttd.js) with `persistence true` storing in `dir`. */
function persistenceLines(dir: string): string[] {
  return ['allow_anonymous true', 'persistence true', `persistence_location ${dir}/`, 'persistence_file mqttd.db'];
}

describe('mqttd restart with persistence', () => {
  it('retained messages (v5 properties, binary payload) and an offline session with its queue survive a restart', async () => {
    const dir = scratchDir();
    const lines = persistenceLines(dir);
    let daemon = await startMqttd(lines, { dir });
    try {
      const keeper = await connectClient(`mqtt://127.0.0.1:${daemon.port}`, {
        protocolVersion: 5,
        clientId: 'keeper',
        clean: false,
        properties: { sessionExpiryInterval: 3600 },
      });
      await keeper.client.subscribeAsync('q/#', { qos: 1 });
      await keeper.end();

      const binary = Buffer.from([0x00, 0xff, 0x80, 0x7f]);
      const publisher = await connectClient(`mqtt://127.0.0.1:${daemon.port}`, { protocolVersion: 5, clientId: 'pub' });
      await publisher.client.publishAsync('r/state', binary, {
        qos: 1,
        retain: true,
        properties: { contentType: 'application/octet-stream', userProperties: { unit: '°C' } },
      });
      for (const n of [1, 2, 3]) await publisher.client.publishAsync('q/x', `queued ${n}`, { qos: 1 });
      await publisher.end();
      await daemon.stop();

      // What the daemon left on disk is a valid store holding exactly that.
      const stored = decodeSnapshot(readFileSync(join(dir, 'mqttd.db')));
      assert.deepEqual(stored.retained.map((m) => m.topic).filter((t) => !t.startsWith('$SYS/')), ['r/state']);
      assert.deepEqual(stored.sessions.find((s) => s.clientId === 'keeper')?.queue.map((m) => m.payload.toString()), [
        'queued 1',
        'queued 2',
        'queued 3',
      ]);

      daemon = await startMqttd(lines, { dir });
      await waitForOutput(daemon.process, /Restored \d+ retained messages and 1 sessions/);
      const back = await connectClient(`mqtt://127.0.0.1:${daemon.port}`, {
        protocolVersion: 5,
        clientId: 'keeper',
        clean: false,
        properties: { sessionExpiryInterval: 3600 },
      });
      assert.equal(back.connack?.sessionPresent, true);
      for (const n of [1, 2, 3]) {
        const m = await back.next();
        assert.deepEqual([m.topic, m.payload, m.packet.qos], ['q/x', `queued ${n}`, 1]);
      }
      await back.end();

      const reader = await connectClient(`mqtt://127.0.0.1:${daemon.port}`, { protocolVersion: 5, clientId: 'reader' });
      await reader.client.subscribeAsync('r/#', { qos: 1 });
      const retained = await reader.next();
      assert.equal(retained.packet.retain, true);
      assert.ok(Buffer.from(retained.packet.payload).equals(binary));
      assert.equal(retained.packet.properties?.contentType, 'application/octet-stream');
      assert.deepEqual({ ...retained.packet.properties?.userProperties }, { unit: '°C' });
      await reader.end();
    } finally {
      await daemon.stop();
      removeDir(dir);
    }
  });

  it(
    'the store holds no $SYS messages: they change every sys_interval, so storing them would rewrite the flash at every autosave',
    async () => {
      const dir = scratchDir();
      const daemon = await startMqttd(persistenceLines(dir), { dir });
      try {
        const publisher = await connectClient(`mqtt://127.0.0.1:${daemon.port}`, { clientId: 'pub' });
        await publisher.client.publishAsync('kept', 'x', { qos: 1, retain: true });
        await publisher.end();
        await daemon.stop();
        const stored = decodeSnapshot(readFileSync(join(dir, 'mqttd.db')));
        assert.deepEqual(stored.retained.map((m) => m.topic), ['kept']);
      } finally {
        await daemon.stop();
        removeDir(dir);
      }
    },
  );

  it('a corrupt store at start-up is set aside with a logged reason; the daemon runs and saves a fresh store', async () => {
    const dir = scratchDir();
    const garbage = Buffer.from('garbage, not a store\n');
    writeFileSync(join(dir, 'mqttd.db'), garbage);
    const daemon = await startMqttd(persistenceLines(dir), { dir });
    try {
      await waitForOutput(daemon.process, /mqttd\.db is not a valid mqttd store \(byte 0: .*\); kept as .*mqttd\.db\.corrupt-\d{8}-\d{6}/);
      const aside = readdirSync(dir).filter((f) => f.startsWith('mqttd.db.corrupt-'));
      assert.equal(aside.length, 1);
      assert.ok(readFileSync(join(dir, aside[0]!)).equals(garbage));

      const publisher = await connectClient(`mqtt://127.0.0.1:${daemon.port}`, { clientId: 'pub' });
      await publisher.client.publishAsync('after/corruption', 'fresh', { qos: 1, retain: true });
      await publisher.end();
      await daemon.stop();
      assert.ok(existsSync(join(dir, 'mqttd.db')));
      const loaded = await new FileStore(join(dir, 'mqttd.db')).load();
      assert.equal(loaded.problem, undefined);
      const topics = loaded.snapshot.retained.filter((m) => !m.topic.startsWith('$SYS/'));
      assert.deepEqual(topics.map((m) => [m.topic, m.payload.toString()]), [['after/corruption', 'fresh']]);
    } finally {
      await daemon.stop();
      removeDir(dir);
    }
  });
});

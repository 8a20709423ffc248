import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Broker } from '../../src/broker/Broker';
import { FileStore } from '../../src/persistence/FileStore';
import { connectClient, startMqttd } from '../helpers/broker';
import { waitForOutput } from '../helpers/processes';
import { removeDir, scratchDir } from './storeTestEnv';

const SESSIONS = 20;
const MESSAGES = 50;
const PAYLOAD = 10 * 1024;

describe('a message queued to many offline sessions is stored once', () => {
  it('20 sessions × 50 queued 10 KB messages: a ~500 KB store, shared Messages after restore, all delivered', async () => {
    const dir = scratchDir();
    const lines = ['allow_anonymous true', 'persistence true', `persistence_location ${dir}/`, 'persistence_file mqttd.db'];
    const url = (port: number): string => `mqtt://127.0.0.1:${port}`;
    const session = (i: number) => ({ clientId: `sub${i}`, clean: false, protocolVersion: 5 as const, properties: { sessionExpiryInterval: 3600 } });
    const payloads = Array.from({ length: MESSAGES }, () => randomBytes(PAYLOAD));
    let daemon = await startMqttd(lines, { dir });
    try {
      for (let i = 0; i < SESSIONS; i++) {
        const c = await connectClient(url(daemon.port), session(i));
        await c.client.subscribeAsync('fan/#', { qos: 1 });
        await c.end();
      }
      const publisher = await connectClient(url(daemon.port), { clientId: 'pub' });
      for (let n = 0; n < MESSAGES; n++) await publisher.client.publishAsync(`fan/${n}`, payloads[n]!, { qos: 1 });
      await publisher.end();
      await daemon.stop();

      // Each message once (plus its deliveries' few bytes each), not once per session.
      const size = statSync(join(dir, 'mqttd.db')).size;
      assert.ok(size > MESSAGES * PAYLOAD, `store of ${size} bytes cannot hold the ${MESSAGES} messages`);
      assert.ok(size < MESSAGES * PAYLOAD * 1.2, `store of ${size} bytes repeats messages (once per session would be ${SESSIONS * MESSAGES * PAYLOAD})`);

      // Restored through the library: the sessions' queues share one Message per message.
      const loaded = await new FileStore(join(dir, 'mqttd.db')).load();
      assert.equal(loaded.problem, undefined);
      const broker = new Broker();
      broker.restore(loaded.snapshot);
      const queues = Array.from({ length: SESSIONS }, (_, i) => [...broker.sessions.get(`sub${i}`)!.pending()].map((d) => d.message));
      assert.equal(queues[0]!.length, MESSAGES);
      assert.equal(new Set(queues.flat()).size, MESSAGES, 'one Message object per distinct message');
      for (const q of queues) assert.deepEqual(q, queues[0]);
      broker.close();

      daemon = await startMqttd(lines, { dir });
      await waitForOutput(daemon.process, new RegExp(`Restored \\d+ retained messages and ${SESSIONS} sessions`));
      for (let i = 0; i < SESSIONS; i++) {
        const c = await connectClient(url(daemon.port), session(i));
        assert.equal(c.connack?.sessionPresent, true);
        for (let n = 0; n < MESSAGES; n++) {
          const m = await c.next();
          assert.equal(m.topic, `fan/${n}`);
          assert.ok(Buffer.from(m.packet.payload).equals(payloads[n]!), `sub${i} message ${n} differs`);
        }
        await c.end();
      }
    } finally {
      await daemon.stop();
      removeDir(dir);
    }
  });

  it('a change acknowledged while a save is being encoded in steps survives a kill -9 after that save', async () => {
    const dir = scratchDir();
    mkdirSync(join(dir, 'journal'));
    const lines = [
      'allow_anonymous true',
      'persistence true',
      `persistence_location ${dir}/`,
      'persistence_file mqttd.db',
      `persistence_journal ${dir}/journal/`,
      'max_queued_messages 0',
    ];
    // A store big enough that its save takes many encoding steps: 200 sessions × 1,000 queued.
    const queued = Array.from({ length: 1000 }, (_, n) => ({ topic: `big/${n}`, payload: Buffer.alloc(100, n), qos: 1 as const, retain: false }));
    const sub = (filter: string) => ({ filter, qos: 1 as const, noLocal: false, retainAsPublished: false, retainHandling: 0 as const });
    const sessions = Array.from({ length: 200 }, (_, i) => ({
      clientId: `big${i}`, protocolVersion: 5 as const, expiryInterval: 3600, disconnectedAt: Date.now(),
      subscriptions: [sub('big/#')], queue: queued.map((m) => ({ ...m })), incomingQos2Ids: [],
    }));
    sessions.push({ clientId: 'late', protocolVersion: 5, expiryInterval: 3600, disconnectedAt: Date.now(), subscriptions: [sub('late/#')], queue: [], incomingQos2Ids: [] });
    const path = join(dir, 'mqttd.db');
    assert.equal((await new FileStore(path).save({ retained: [], sessions })).status, 'written');
    const url = (port: number): string => `mqtt://127.0.0.1:${port}`;
    let daemon = await startMqttd(lines, { dir });
    try {
      const before = statSync(path).mtimeMs;
      const publisher = await connectClient(url(daemon.port), { clientId: 'pub' });
      daemon.process.child.kill('SIGUSR1');
      // Acknowledged while the save runs (or just after it: either way nothing may be lost).
      await publisher.client.publishAsync('late/during', 'during', { qos: 1 });
      for (let t = 0; statSync(path).mtimeMs === before; t++) {
        assert.ok(t < 200, 'the SIGUSR1 save did not replace the store within 10 s');
        await new Promise((r) => setTimeout(r, 50));
      }
      await publisher.client.publishAsync('late/after', 'after', { qos: 1 });
      await publisher.end();
      daemon.process.child.kill('SIGKILL');
      await daemon.process.exited;

      daemon = await startMqttd(lines, { dir });
      const late = await connectClient(url(daemon.port), { clientId: 'late', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } });
      assert.equal(late.connack?.sessionPresent, true);
      assert.deepEqual([(await late.next()).payload, (await late.next()).payload], ['during', 'after']);
      await late.end();
      const one = await connectClient(url(daemon.port), { clientId: 'big7', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } });
      for (let n = 0; n < 1000; n++) assert.equal((await one.next()).topic, `big/${n}`);
      await one.end();
    } finally {
      await daemon.stop();
      removeDir(dir);
    }
  });
});

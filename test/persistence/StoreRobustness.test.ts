/**
 * One bad entry never stops saving, and a will waiting out its delay survives a restart:
 * through the embedding API (a message the store format cannot carry), over a raw socket (a
 * CONNECT with Will QoS 3), and with the real daemon stopped by SIGTERM or kill -9.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Broker } from '../../src/broker/Broker';
import { Message, type QoS } from '../../src/broker/Message';
import { FileStore } from '../../src/persistence/FileStore';
import { connectClient, rawConnect, startMqttd, type MqttdProcess } from '../helpers/broker';
import { waitForOutput } from '../helpers/processes';

function config(dir: string, extra: string[] = []): string[] {
  return ['allow_anonymous true', 'persistence true', `persistence_location ${dir}/`, `persistence_journal ${dir}/journal/`, ...extra];
}

describe('a bad entry never stops saving', () => {
  it('a retained message with QoS 3 routed through the embedding API is left out of the store; everything else is saved', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mqttd-bad-'));
    const broker = new Broker();
    try {
      broker.publish('good/a', 'kept', { qos: 1, retain: true });
      // What a client with Will QoS 3 would have left behind, had the protocol layer let it in.
      broker.route(new Message('bad/will', Buffer.from('qos3'), 3 as QoS, true, undefined, undefined, 'c'), undefined);
      broker.publish('good/b', 'kept too', { qos: 0, retain: true });
      assert.throws(() => broker.publish('x', 'y', { qos: 3 as QoS }), /invalid QoS/);
      const store = new FileStore(join(dir, 'mqttd.db'));
      await store.load();
      const result = await store.save(broker.snapshot());
      assert.equal(result.status, 'written');
      const refused = result.status === 'written' ? (result.refused ?? []) : [];
      assert.equal(refused.length, 1);
      assert.match(refused[0]!.field, /^retained\[\d\]\.qos$/);
      const loaded = await new FileStore(join(dir, 'mqttd.db')).load();
      assert.equal(loaded.problem, undefined);
      assert.deepEqual(loaded.snapshot.retained.map((m) => `${m.topic}=${m.payload.toString()}`).sort(), ['good/a=kept', 'good/b=kept too']);
    } finally {
      broker.close();
    }
  });

  it('a CONNECT with Will QoS 3 over a socket: saving stays unharmed and a restart restores the rest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mqttd-willqos3-'));
    let d: MqttdProcess = await startMqttd(config(dir, ['autosave_interval 3600']), { dir });
    try {
      const url = `mqtt://127.0.0.1:${d.port}`;
      const pub = await connectClient(url);
      await pub.client.publishAsync('good/before', 'saved', { qos: 1, retain: true });
      // MQTT 3.1.1 CONNECT: clean session, will flag, Will QoS 3 (bits 3-4), will retain; keepalive 60.
      const topic = Buffer.from('bad/will');
      const body = Buffer.concat([
        Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02 | 0x04 | 0x18 | 0x20, 0, 60]),
        Buffer.from([0, 2, 0x71, 0x33]), // client id "q3"
        Buffer.from([0, topic.length]), topic,
        Buffer.from([0, 4]), Buffer.from('qos3'),
      ]);
      const raw = await rawConnect(d.port);
      raw.send(Buffer.concat([Buffer.from([0x10, body.length]), body]));
      await Promise.race([raw.next(2000).catch(() => undefined), raw.closed]);
      raw.destroy(); // an unclean loss: the will (if the CONNECT was accepted) is published
      await raw.closed;
      await pub.client.publishAsync('good/after', 'saved too', { qos: 1, retain: true });
      await pub.end();
      d.process.child.kill('SIGUSR1');
      await waitForOutput(d.process, /Saved the store|could not save|invalid snapshot/);
      assert.match(d.process.output(), /Saved the store/);
      assert.doesNotMatch(d.process.output(), /invalid snapshot/);
      await d.stop();

      d = await startMqttd(config(dir, ['autosave_interval 3600']), { dir, port: d.port });
      const reader = await connectClient(url);
      await reader.client.subscribeAsync('good/#', { qos: 1 });
      const got = [await reader.next(), await reader.next()].map((m) => `${m.topic}=${m.payload}`).sort();
      assert.deepEqual(got, ['good/after=saved too', 'good/before=saved']);
      await reader.end();
    } finally {
      await d.stop();
    }
  });
});

describe('a will waiting out its Will Delay survives a restart', () => {
  for (const how of ['SIGTERM', 'SIGKILL'] as const) {
    it(`${how}: the delayed will is published after the restart, at its due time, not before`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'mqttd-will-'));
      const lines = config(dir, ['autosave_interval 3600']);
      let d: MqttdProcess = await startMqttd(lines, { dir });
      const port = d.port;
      const url = `mqtt://127.0.0.1:${port}`;
      try {
        // Long enough that the restart is over well before the will is due, so "not before" is checked.
        const delay = 8;
        const dying = await connectClient(url, {
          clientId: `dying-${how}`,
          protocolVersion: 5,
          clean: false,
          properties: { sessionExpiryInterval: 300 },
          will: { topic: `will/${how}`, payload: Buffer.from('gone'), qos: 1, retain: true, properties: { willDelayInterval: delay } },
        });
        const lostAt = Date.now();
        dying.client.stream.destroy(); // no DISCONNECT: the will waits for its delay
        dying.client.end(true);
        // A round trip on another connection after the loss: the broker has handled the close by then.
        await new Promise((r) => setTimeout(r, 200));
        const probe = await connectClient(url);
        await probe.client.publishAsync('probe', 'x', { qos: 1 });
        await probe.end();
        d.process.child.kill(how);
        await d.process.exited;

        d = await startMqttd(lines, { dir, port });
        assert.match(d.process.output(), /1 delayed wills/);
        const watcher = await connectClient(url);
        await watcher.client.subscribeAsync(`will/${how}`, { qos: 1 });
        const restartedAfter = Date.now() - lostAt;
        assert.ok(restartedAfter < (delay - 1) * 1000, `the restart took ${restartedAfter} ms: too long to see the will wait`);
        assert.equal(await watcher.nothingWithin(300), true, 'the will came before its delay ran out');
        const will = await watcher.next(10000);
        assert.equal(will.payload, 'gone');
        assert.ok(Date.now() - lostAt >= delay * 1000 - 1000, 'published at its due time');
        await watcher.end();
      } finally {
        await d.stop();
      }
    });
  }
});

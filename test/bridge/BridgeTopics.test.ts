/**
 * Topic mapping against a real mosquitto upstream: out, in and both, with prefixes and
 * the empty pattern; QoS kept up to the line's maximum; the retained flag as
 * bridge_outgoing_retain says; retained messages crossing at connection time.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hasCommand } from '../helpers/processes';
import { publishOnce, record, startLocal, until, upstream, type LocalBroker, type Upstream } from './bridgeTestKit';

const haveMosquitto = hasCommand('mosquitto');

for (const version of ['mqttv311', 'mqttv50'] as const) {
  describe(`bridge topic mapping (${version})`, { skip: !haveMosquitto && 'mosquitto is not installed' }, () => {
    let up: Upstream;
    let local: LocalBroker;

    before(async () => {
      up = await upstream(['allow_anonymous true']);
      await up.start();
      // Retained on both sides before the bridge exists: each must cross when it connects.
      await publishOnce(up.port, 'remote/in/early', 'from-remote-before', { qos: 1, retain: true });
      local = await startLocal([
        'connection keep',
        `address 127.0.0.1:${up.port}`,
        `bridge_protocol_version ${version}`,
        'restart_timeout 1',
        'topic out/# out 2 "" site/',
        'topic in/# in 1 local/ remote/',
        'topic both/# both 1 l/ r/',
        'topic "" out 1 single/local single/remote',
        'connection plain',
        `address 127.0.0.1:${up.port}`,
        `bridge_protocol_version ${version}`,
        'restart_timeout 1',
        'bridge_outgoing_retain false',
        'topic noretain/# out 1',
      ]);
      // The local retained message exists before the first connection; start() subscribed at once.
      local.daemon.broker.publish('out/early', 'from-local-before', { qos: 1, retain: true });
      await until(() => local.bridges.every((b) => b.state === 'connected'), 'both bridges connected', local.log);
    });

    after(async () => {
      await local?.stop();
      await up?.stop();
    });

    test('out: the local prefix is swapped for the remote one, QoS kept up to the maximum (2)', async () => {
      const remote = await record(up.port, [{ topic: 'site/#', qos: 2 }]);
      try {
        for (const qos of [0, 1, 2] as const) await publishOnce(local.port, 'out/a/b', `q${qos}`, { qos });
        await until(() => remote.messages.filter((m) => !m.retain).length >= 3, 'three messages on the remote', () => JSON.stringify(remote.payloads()));
        assert.deepEqual(
          remote.messages.filter((m) => !m.retain).map((m) => [m.topic, m.payload.toString(), m.qos]),
          [
            ['site/out/a/b', 'q0', 0],
            ['site/out/a/b', 'q1', 1],
            ['site/out/a/b', 'q2', 2],
          ],
        );
      } finally {
        await remote.close();
      }
    });

    test('in: the remote prefix is swapped for the local one and QoS 2 is capped at the line\'s 1', async () => {
      const mine = await record(local.port, [{ topic: 'local/#', qos: 2 }]);
      try {
        await publishOnce(up.port, 'remote/in/x', 'hello', { qos: 2 });
        // Outside the remote prefix: must not come in.
        await publishOnce(up.port, 'in/x', 'unprefixed', { qos: 1 });
        await publishOnce(up.port, 'remote/in/y', 'marker', { qos: 1 });
        await until(() => mine.payloads().includes('marker'), 'the marker locally', () => JSON.stringify(mine.payloads()));
        const live = mine.messages.filter((m) => !m.retain);
        assert.deepEqual(
          live.map((m) => [m.topic, m.payload.toString(), m.qos]),
          [
            ['local/in/x', 'hello', 1],
            ['local/in/y', 'marker', 1],
          ],
        );
      } finally {
        await mine.close();
      }
    });

    test('both: each side gets the other\'s messages once, and none comes back to where it started', async () => {
      const remote = await record(up.port, [{ topic: 'r/#', qos: 1 }]);
      const mine = await record(local.port, [{ topic: 'l/#', qos: 1 }]);
      try {
        await publishOnce(local.port, 'l/both/from-local', 'L', { qos: 1 });
        await publishOnce(up.port, 'r/both/from-remote', 'R', { qos: 2 });
        // Markers published after: once they arrive, any echo would have arrived too.
        await publishOnce(local.port, 'l/both/end', 'end-local', { qos: 1 });
        await publishOnce(up.port, 'r/both/end', 'end-remote', { qos: 1 });
        const done = (r: typeof mine): boolean => r.payloads().includes('end-local') && r.payloads().includes('end-remote');
        await until(() => done(remote) && done(mine), 'markers on both sides', () => JSON.stringify([remote.payloads(), mine.payloads()]));
        // mosquitto forwards retained-flag-free live messages in v3; compare topics and payloads.
        const show = (r: typeof mine): string[] => r.messages.map((m) => `${m.topic}=${m.payload.toString()}@${m.qos}`).sort();
        assert.deepEqual(show(remote), ['r/both/end=end-local@1', 'r/both/end=end-remote@1', 'r/both/from-local=L@1', 'r/both/from-remote=R@1']);
        assert.deepEqual(show(mine), ['l/both/end=end-local@1', 'l/both/end=end-remote@1', 'l/both/from-local=L@1', 'l/both/from-remote=R@1']);
      } finally {
        await remote.close();
        await mine.close();
      }
    });

    test('an empty pattern maps exactly the local prefix to the remote prefix', async () => {
      const remote = await record(up.port, [{ topic: 'single/#', qos: 1 }]);
      try {
        await publishOnce(local.port, 'single/local/deeper', 'not mapped', { qos: 1 });
        await publishOnce(local.port, 'single/local', 'mapped', { qos: 1 });
        await until(() => remote.messages.length >= 1, 'the mapped message', () => JSON.stringify(remote.payloads()));
        await publishOnce(local.port, 'out/marker', 'x', { qos: 1 });
        assert.deepEqual(remote.messages.map((m) => [m.topic, m.payload.toString()]), [['single/remote', 'mapped']]);
      } finally {
        await remote.close();
      }
    });

    test('retained messages that existed before the bridge connected crossed in both directions', async () => {
      const remote = await record(up.port, [{ topic: 'site/out/early', qos: 1 }]);
      const mine = await record(local.port, [{ topic: 'local/in/early', qos: 1 }]);
      try {
        await until(() => remote.messages.length >= 1 && mine.messages.length >= 1, 'both retained copies', () =>
          JSON.stringify([remote.payloads(), mine.payloads()]),
        );
        assert.deepEqual([remote.messages[0].payload.toString(), remote.messages[0].retain], ['from-local-before', true]);
        assert.deepEqual([mine.messages[0].payload.toString(), mine.messages[0].retain], ['from-remote-before', true]);
      } finally {
        await remote.close();
        await mine.close();
      }
    });

    test('bridge_outgoing_retain true keeps the retained flag on the remote; false clears it', async () => {
      const watcher = await record(up.port, [
        { topic: 'site/out/kept', qos: 1 },
        { topic: 'noretain/cleared', qos: 1 },
      ]);
      try {
        await publishOnce(local.port, 'out/kept', 'K', { qos: 1, retain: true });
        await publishOnce(local.port, 'noretain/cleared', 'C', { qos: 1, retain: true });
        await until(() => watcher.messages.length >= 2, 'both on the remote', () => JSON.stringify(watcher.payloads()));
      } finally {
        await watcher.close();
      }
      // A new subscriber sees what the remote stored as retained; a live message published
      // after its SUBACK comes after any retained one, so the first message tells.
      for (const [topic, expectRetained] of [
        ['site/out/kept', true],
        ['noretain/cleared', false],
      ] as const) {
        const fresh = await record(up.port, [{ topic, qos: 1 }]);
        try {
          await publishOnce(up.port, topic, 'live-after-subscribe', { qos: 1 });
          await until(() => fresh.messages.length >= 1, `a message on ${topic}`);
          const first = fresh.messages[0];
          if (expectRetained) assert.deepEqual([first.payload.toString(), first.retain], ['K', true]);
          else assert.deepEqual([first.payload.toString(), first.retain], ['live-after-subscribe', false]);
        } finally {
          await fresh.close();
        }
      }
    });
  });
}

/**
 * Two mqttd brokers joined by a bridge that carries the same topics both ways: every
 * message reaches each side exactly once and never comes back over the bridge. The remote
 * here is mqttd itself (the real `dist/mqttd.js`), so this also proves that mqttd honours
 * what a bridge asks of its remote: No Local (v5) or the try_private bridge bit (v3.1.1).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startMqttd, type MqttdProcess } from '../helpers/broker';
import { publishOnce, record, startLocal, until, type LocalBroker, type Recorder } from './bridgeTestKit';

const PER_SIDE = 20;

function counts(r: Recorder): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of r.messages) {
    const key = `${m.topic}=${m.payload.toString()}`;
    out.set(key, (out.get(key) ?? 0) + 1);
  }
  return out;
}

for (const [version, todo] of [
  ['mqttv50', false],
  // A v3.1.1 bridge sets mosquitto's bridge bit (try_private): the remote gives it No Local.
  ['mqttv311', false],
] as const) {
  describe(`two mqttd brokers bridged both ways (${version})`, () => {
    let remote: MqttdProcess | undefined;
    let local: LocalBroker | undefined;
    after(async () => {
      await local?.stop();
      await remote?.stop();
    });

    test('each message arrives once on each side and nothing circulates', { todo }, async () => {
      remote = await startMqttd(['allow_anonymous true']);
      local = await startLocal([
        'connection peer',
        `address 127.0.0.1:${remote.port}`,
        `bridge_protocol_version ${version}`,
        'restart_timeout 1',
        'topic shared/# both 1',
      ]);
      const bridge = local.bridge;
      await until(() => bridge.state === 'connected', 'the bridge to connect', local.log);
      const onLocal = await record(local.port, [{ topic: 'shared/#', qos: 1 }]);
      const onRemote = await record(remote.port, [{ topic: 'shared/#', qos: 1 }]);
      try {
        for (let i = 0; i < PER_SIDE; i++) {
          await publishOnce(local.port, `shared/a/${i}`, `a${i}`, { qos: 1 });
          await publishOnce(remote.port, `shared/b/${i}`, `b${i}`, { qos: 1 });
        }
        // Sent last from each side: a looping copy of anything earlier would arrive before them.
        await publishOnce(local.port, 'shared/end', 'end-a', { qos: 1 });
        await publishOnce(remote.port, 'shared/end', 'end-b', { qos: 1 });
        const ended = (r: Recorder): boolean => r.payloads().includes('end-a') && r.payloads().includes('end-b');
        await until(() => ended(onLocal) && ended(onRemote), 'the end markers on both sides');
        // One more round trip through each broker, so anything in flight has landed.
        await publishOnce(local.port, 'shared/flush', 'flush', { qos: 1 });
        await until(() => onRemote.payloads().includes('flush'), 'the flush marker');

        for (const [side, r] of [
          ['local', onLocal],
          ['remote', onRemote],
        ] as const) {
          const repeated = [...counts(r)].filter(([, n]) => n !== 1);
          assert.deepEqual(repeated, [], `${side}: messages that did not arrive exactly once`);
          assert.equal(counts(r).size, PER_SIDE * 2 + 3, `${side}: every message arrived`);
        }
        assert.equal(bridge.messagesOut, PER_SIDE + 2, 'the bridge sent each local message once');
        assert.equal(bridge.messagesIn, PER_SIDE + 1, 'the bridge brought each remote message in once');
      } finally {
        await onLocal.close();
        await onRemote.close();
      }
    });
  });
}

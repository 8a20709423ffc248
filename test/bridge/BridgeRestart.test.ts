/**
 * The upstream restarts in the middle of two QoS 1 streams, one each way. Every message
 * must arrive at least once (duplicates are counted and reported, as QoS 1 allows them),
 * local clients are served while the upstream is away, and the bridge's state topic goes
 * 1 → 0 → 1.
 *
 * The upstream is stopped with SIGTERM so that mosquitto saves what it acknowledged (its own
 * promise); with `cleansession false` it keeps the bridge's subscription and queue meanwhile.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { MqttClient, type Message as RemoteMessage } from '../../src/client/MqttClient';
import { hasCommand } from '../helpers/processes';
import { persistentSubscriber, publishOnce, record, startLocal, until, upstream, type LocalBroker, type Upstream } from './bridgeTestKit';

const COUNT = 200;
const haveMosquitto = hasCommand('mosquitto');

let up: Upstream;
let local: LocalBroker;

before(async () => {
  if (!haveMosquitto) return;
  up = await upstream(['allow_anonymous true', 'persistence true', 'persistence_location %DIR%/']);
  await up.start();
  local = await startLocal([
    'connection up',
    `address 127.0.0.1:${up.port}`,
    'restart_timeout 1',
    'cleansession false',
    'remote_clientid router1',
    'topic up/# out 1',
    'topic down/# in 1',
  ]);
  await until(() => local.bridge.state === 'connected', 'the bridge to connect', local.log);
});

after(async () => {
  await local?.stop();
  await up?.stop();
});

/** Publishes one QoS 1 message, reconnecting and sending again until the broker acknowledges it. */
class AtLeastOncePublisher {
  private client: MqttClient | undefined;
  constructor(private readonly port: number) {}

  async publish(topic: string, payload: string): Promise<void> {
    for (;;) {
      if (!this.client) {
        const client = new MqttClient({ host: '127.0.0.1', port: this.port, protocolVersion: 4, clientId: '', clean: true, keepalive: 10 });
        const connected = await client.connect();
        if (connected.ok) this.client = client;
        else {
          client.destroy();
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
      }
      const result = await this.client.publish(topic, Buffer.from(payload), { qos: 1 });
      if (result.ok) return;
      this.client = undefined;
    }
  }

  close(): void {
    this.client?.destroy();
  }
}

function tally(messages: RemoteMessage[], prefix: string): { missing: number[]; duplicates: number } {
  const seen = new Map<number, number>();
  for (const m of messages) {
    if (!m.topic.startsWith(prefix)) continue;
    const i = Number(m.payload.toString());
    seen.set(i, (seen.get(i) ?? 0) + 1);
  }
  const missing: number[] = [];
  let duplicates = 0;
  for (let i = 0; i < COUNT; i++) {
    const n = seen.get(i) ?? 0;
    if (n === 0) missing.push(i);
    else duplicates += n - 1;
  }
  return { missing, duplicates };
}

test('an upstream restart mid-stream loses no QoS 1 message in either direction', { skip: !haveMosquitto && 'mosquitto is not installed' }, async (t) => {
  const upstreamSink = persistentSubscriber(up.port, 'cloud-sink', 'up/#');
  const localSink = await record(local.port, [{ topic: 'down/#', qos: 1 }]);
  const state = await record(local.port, [{ topic: '$SYS/broker/connection/router1/state', qos: 1 }]);
  const localPublisher = new AtLeastOncePublisher(local.port);
  const remotePublisher = new AtLeastOncePublisher(up.port);
  try {
    await upstreamSink.ready;
    const both = async (from: number, to: number, remoteToo: boolean): Promise<void> => {
      for (let i = from; i < to; i++) {
        await localPublisher.publish(`up/${i}`, String(i));
        if (remoteToo) await remotePublisher.publish(`down/${i}`, String(i));
      }
    };

    // 1. Both streams flowing; the upstream goes away right after, with messages in flight.
    await both(0, 70, true);
    await up.stop();
    await until(() => local.bridge.state !== 'connected', 'the bridge to notice');

    // 2. Upstream down: local publishers are still acknowledged at once (the bridge queues),
    //    and local clients still reach each other.
    await both(70, 140, false);
    const chat = await record(local.port, [{ topic: 'chat', qos: 1 }]);
    await publishOnce(local.port, 'chat', 'still here', { qos: 1 });
    await until(() => chat.payloads().includes('still here'), 'a local round trip while the upstream is down');
    await chat.close();
    assert.ok(local.bridge.queue.size > 0, 'messages wait in the bridge queue while the upstream is down');

    // 3. Upstream back on the same port: the remote stream restarts where it was.
    await up.start();
    await both(140, COUNT, true);
    for (let i = 70; i < 140; i++) await remotePublisher.publish(`down/${i}`, String(i));

    await until(
      () => tally(upstreamSink.messages, 'up/').missing.length === 0 && tally(localSink.messages, 'down/').missing.length === 0,
      'every message on both sides',
      () =>
        `upstream missing ${JSON.stringify(tally(upstreamSink.messages, 'up/').missing)}\n` +
        `local missing ${JSON.stringify(tally(localSink.messages, 'down/').missing)}\n${local.log()}\n${up.output()}`,
      30000,
    );
    const out = tally(upstreamSink.messages, 'up/');
    const into = tally(localSink.messages, 'down/');
    t.diagnostic(`duplicates: ${out.duplicates} local→upstream, ${into.duplicates} upstream→local (QoS 1 allows them)`);
    // The last acknowledgements may still be on their way to the bridge.
    await until(() => local.bridge.queue.size === 0, 'the bridge queue to empty', () => `${local.bridge.queue.size} left`);
    assert.equal(local.bridge.queue.dropped, 0);

    // The notification state went down and came back.
    const states = state.payloads();
    const firstDown = states.indexOf('0', states.indexOf('1'));
    assert.ok(firstDown > 0 && states.indexOf('1', firstDown) > firstDown, `state topic went 1 → 0 → 1: ${JSON.stringify(states)}`);
    assert.equal(local.bridge.state, 'connected');
  } finally {
    upstreamSink.stop();
    localPublisher.close();
    remotePublisher.close();
    await localSink.close();
    await state.close();
  }
});

/**
 * The MqttClient against Debian's real mosquitto: QoS 0/1/2 both ways on 3.1.1 and 5,
 * v5 properties, and failures reported as values with codes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto';
import { freePort } from '../helpers/ports';
import { hasCommand } from '../helpers/processes';
import { MqttClient, type ConnectOptions, type Message, type ProtocolVersion } from '../../src/client/MqttClient';

let broker: MosquittoBroker;
before(async () => {
  hasCommand('mosquitto');
  broker = await startMosquitto(['allow_anonymous true']);
});
after(async () => {
  await broker?.stop();
});

function options(protocolVersion: ProtocolVersion, extra: Partial<ConnectOptions> = {}): ConnectOptions {
  return { host: '127.0.0.1', port: broker.port, protocolVersion, clientId: '', clean: true, keepalive: 30, ...extra };
}

async function connected(protocolVersion: ProtocolVersion, extra: Partial<ConnectOptions> = {}): Promise<MqttClient> {
  const client = new MqttClient(options(protocolVersion, { clientId: protocolVersion === 3 ? `c${Math.random()}`.slice(0, 20) : '', ...extra }));
  const result = await client.connect();
  assert.ok(result.ok, result.ok ? '' : result.error.message);
  return client;
}

for (const version of [4, 5] as const) {
  test(`v${version === 4 ? '3.1.1' : '5'}: publishes and receives at QoS 0, 1 and 2`, async () => {
    const sub = await connected(version);
    const pub = await connected(version);
    const got: Message[] = [];
    const all = new Promise<void>((resolve) =>
      sub.on('message', (m: Message) => {
        got.push(m);
        if (got.length === 3) resolve();
      }),
    );
    const suback = await sub.subscribe([{ topic: `q/${version}/#`, qos: 2 }]);
    assert.ok(suback.ok);
    assert.deepEqual(suback.value.granted, [2]);
    for (const qos of [0, 1, 2] as const) {
      const ack = await pub.publish(`q/${version}/${qos}`, Buffer.from(`m${qos}`), { qos });
      assert.ok(ack.ok);
      assert.equal(ack.value.reasonCode, 0);
    }
    await all;
    assert.deepEqual(
      got.map((m) => [m.topic, m.payload.toString(), m.qos]).sort(),
      [[`q/${version}/0`, 'm0', 0], [`q/${version}/1`, 'm1', 1], [`q/${version}/2`, 'm2', 2]],
    );
    assert.equal(pub.inflight, 0);
    await pub.disconnect();
    await sub.disconnect();
  });
}

test('v5 properties reach the subscriber; the broker-assigned id is adopted', async () => {
  const sub = await connected(5);
  assert.match(sub.clientId, /^auto-/);
  const pub = await connected(5);
  await sub.subscribe([{ topic: 'props', qos: 1 }], { subscriptionIdentifier: 9 });
  const received = new Promise<Message>((resolve) => sub.once('message', resolve));
  await pub.publish('props', Buffer.from('x'), {
    qos: 1,
    properties: { contentType: 'text/plain', responseTopic: 'r', correlationData: Buffer.from('id'), userProperties: { k: 'v' } },
  });
  const m = await received;
  assert.equal(m.properties.contentType, 'text/plain');
  assert.equal(m.properties.responseTopic, 'r');
  assert.equal(Buffer.from(m.properties.correlationData ?? []).toString(), 'id');
  assert.deepEqual({ ...m.properties.userProperties }, { k: 'v' });
  assert.equal(m.properties.subscriptionIdentifier, 9);
  await pub.disconnect();
  await sub.disconnect();
});

test('a will is published when the client drops without DISCONNECT', async () => {
  const watcher = await connected(4);
  await watcher.subscribe([{ topic: 'will/x', qos: 1 }]);
  const will = new Promise<Message>((resolve) => watcher.once('message', resolve));
  const dying = await connected(4, { will: { topic: 'will/x', payload: Buffer.from('bye'), qos: 1, retain: false } });
  dying.destroy();
  assert.equal((await will).payload.toString(), 'bye');
  await watcher.disconnect();
});

test('failures are values: refused socket, refused CONNACK, use after close', async () => {
  const closedPort = await freePort();
  const refused = await new MqttClient({ ...options(4), port: closedPort }).connect();
  assert.ok(!refused.ok);
  assert.equal(refused.error.code, 'ESOCKET');
  assert.equal(refused.error.message, 'Connection refused');

  // MQTT 3.1.1 forbids an empty id with clean=false: refused before anything is sent.
  const invalid = await new MqttClient(options(4, { clean: false })).connect();
  assert.ok(!invalid.ok);
  assert.equal(invalid.error.code, 'EINVAL');

  const closedBroker = await startMosquitto(['allow_anonymous false']);
  try {
    const rejected = await new MqttClient({ ...options(5), port: closedBroker.port }).connect();
    assert.ok(!rejected.ok);
    assert.equal(rejected.error.code, 'ECONNACK');
    assert.equal(rejected.error.reasonCode, 135);
  } finally {
    await closedBroker.stop();
  }

  const client = await connected(4);
  await client.disconnect();
  const late = await client.publish('x', Buffer.from('y'));
  assert.ok(!late.ok);
  assert.equal(late.error.code, 'EINVAL');
});

test('unix socket transport', async () => {
  const { mkdtempSync, mkdirSync, chmodSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-client-'));
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 's'), { mode: 0o777 });
  chmodSync(join(dir, 's'), 0o777);
  const path = join(dir, 's', 'sock');
  const unixBroker = await startMosquitto(['allow_anonymous true', `listener 0 ${path}`, 'allow_anonymous true']);
  try {
    const client = new MqttClient({ ...options(4), unixPath: path });
    const result = await client.connect();
    assert.ok(result.ok);
    const ack = await client.publish('u', Buffer.from('1'), { qos: 1 });
    assert.ok(ack.ok);
    await client.disconnect();
  } finally {
    await unixBroker.stop();
  }
});

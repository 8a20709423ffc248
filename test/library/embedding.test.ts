import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqtt from 'mqtt';
import { Broker, MqttServer, defaultListener } from '../../src/index';

/** The README's embedding example, with a real MQTT.js client on the other side. */
test('an embedded broker authenticates with a hook, vetoes, and bridges local and remote publish/subscribe', async (t) => {
  const seen: string[] = [];
  const broker = new Broker({
    hooks: {
      onConnect: (client) => client.clientId !== 'banned',
      authenticate: (r) => (r.username === 'me' && r.password?.toString() === 'secret' ? 'ok' : 'bad-credentials'),
      authorizePublish: (_client, topic) => !topic.startsWith('readonly/'),
      onMessage: (message) => seen.push(message.topic),
    },
  });
  const server = new MqttServer(broker);
  t.after(() => server.close());
  const listener = await server.listen({ ...defaultListener(0), bindAddress: '127.0.0.1' });
  const port = listener.addresses()[0].port;

  const local: string[] = [];
  const unsubscribe = broker.subscribe('sensors/#', (topic, payload) => local.push(`${topic}=${payload}`));
  broker.publish('hello', 'world', { retain: true });

  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: 'me', password: 'secret', clientId: 'c1' });
  t.after(() => client.end(true));
  assert.equal(broker.getClientCount(), 1);
  assert.deepEqual(
    broker.clients().map((c) => [c.clientId, c.username]),
    [['c1', 'me']],
  );

  const retained = new Promise<string>((resolve) => client.once('message', (topic, payload) => resolve(`${topic}=${payload}`)));
  await client.subscribeAsync('hello', { qos: 1 });
  assert.equal(await retained, 'hello=world');

  await client.publishAsync('sensors/t1', '21.5', { qos: 1 });
  await client.publishAsync('readonly/x', 'denied', { qos: 1 });
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(local, ['sensors/t1=21.5']);
  assert.ok(seen.includes('sensors/t1'));
  assert.ok(!seen.includes('readonly/x'), 'a publish refused by authorizePublish is not routed');

  unsubscribe();
  await client.publishAsync('sensors/t2', 'x', { qos: 1 });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(local.length, 1, 'no delivery after unsubscribe');

  await assert.rejects(
    mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: 'me', password: 'wrong', reconnectPeriod: 0 }),
    /Not authorized/, // mosquitto 2.0 answers a wrong password with "not authorised" too
  );
  await assert.rejects(
    mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: 'me', password: 'secret', clientId: 'banned', reconnectPeriod: 0 }),
    /Not authorized/,
  );
});

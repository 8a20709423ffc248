/**
 * The embedding API (`new Broker({ hooks })`, `publish()`, `subscribe()`), with real MQTT
 * clients on the other side of the socket.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientInfo } from '../../src/broker/Broker';
import { connectClient, eventually, rawConnect, startBroker, subackCodes } from '../helpers/broker';

test('hooks: veto a connection, authenticate, authorise publish and subscribe, observe messages and clients', async () => {
  const seen: string[] = [];
  const connected: ClientInfo[] = [];
  const gone: string[] = [];
  const b = await startBroker({
    hooks: {
      onConnect: (c) => c.clientId !== 'banned',
      authenticate: (r) => (r.username === 'guest' && r.password?.toString() !== 'guest' ? 'bad-credentials' : 'ok'),
      authorizePublish: (_c, topic) => !topic.startsWith('readonly/'),
      authorizeSubscribe: (_c, filter) => filter !== 'secret/#',
      onMessage: (m, from) => seen.push(`${from?.clientId ?? 'broker'}:${m.topic}`),
      onConnected: (c) => connected.push(c),
      onDisconnect: (c) => gone.push(c.clientId),
    },
  });
  try {
    await assert.rejects(connectClient(b.url, { clientId: 'banned' }));
    await assert.rejects(connectClient(b.url, { clientId: 'g', username: 'guest', password: 'nope' }));
    const c = await connectClient(b.url, { clientId: 'alice', protocolVersion: 5 });
    assert.equal(b.broker.getClientCount(), 1);
    assert.deepEqual(
      connected.map((i) => [i.clientId, i.protocolVersion, i.remoteAddress]),
      [['alice', 5, '127.0.0.1']],
    );
    assert.deepEqual(await subackCodes(c.client, 'secret/#'), [0x87]);
    assert.deepEqual(await subackCodes(c.client, 'readonly/#'), [1]);
    await c.client.publishAsync('readonly/x', 'no', { qos: 1 }).catch(() => undefined);
    b.broker.publish('readonly/x', 'from the broker', { qos: 1 });
    const m = await c.next();
    assert.equal(m.payload, 'from the broker', 'the hook stops clients, not the broker itself');
    assert.deepEqual(seen, ['broker:readonly/x'], 'the denied publish was never routed');
    await c.end();
    await eventually(() => gone.includes('alice'), 'onDisconnect');
    assert.equal(b.broker.getClientCount(), 0);
  } finally {
    await b.stop();
  }
});

test('local publish() and subscribe() behave like a client: retained, QoS, unsubscribe', async () => {
  const b = await startBroker();
  try {
    b.broker.publish('local/retained', 'kept', { retain: true, qos: 1 });
    const got: string[] = [];
    const retainFlags: boolean[] = [];
    const unsubscribe = b.broker.subscribe('local/#', (topic, payload, message) => {
      got.push(`${topic}=${payload.toString()}`);
      retainFlags.push(message.retain);
    });
    const c = await connectClient(b.url);
    await c.client.publishAsync('local/from-client', 'hi', { qos: 2 });
    await eventually(() => got.length === 2, 'two local deliveries');
    assert.deepEqual(got, ['local/retained=kept', 'local/from-client=hi']);
    assert.deepEqual(retainFlags, [true, false]);
    unsubscribe();
    await c.client.publishAsync('local/after', 'x', { qos: 1 });
    await c.client.subscribeAsync('local/#', { qos: 1 });
    assert.equal((await c.next()).topic, 'local/retained', 'the client sees the broker\'s retained message');
    assert.deepEqual(got.length, 2, 'nothing after unsubscribe');
    assert.throws(() => b.broker.publish('bad/+', 'x'), /invalid topic/);
    await c.end();
  } finally {
    await b.stop();
  }
});

test('close() disconnects v5 clients with Server shutting down (0x8B)', async () => {
  const b = await startBroker();
  const c = await connectClient(b.url, { protocolVersion: 5 });
  let reason: number | undefined;
  c.client.on('disconnect', (p) => (reason = p.reasonCode));
  const idle = await rawConnect(b.port);
  await b.stop();
  await eventually(() => reason !== undefined, 'DISCONNECT');
  assert.equal(reason, 0x8b);
  await idle.closed;
  await c.end();
});

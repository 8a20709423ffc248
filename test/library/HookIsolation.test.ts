/**
 * An embedding program's bugs stay its own: every hook, and a local `broker.subscribe`
 * handler, may throw or reject; the broker logs it, refuses (checks) or closes that one
 * client (observers), and keeps serving everyone else. Real MQTT.js clients over real
 * sockets; an uncaught exception would end this test process and fail the file.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, connectAsync, type ErrorWithReasonCode, type IClientOptions, type MqttClient } from 'mqtt';
import { Broker, MqttServer, defaultListener, type BrokerHooks } from '../../src/index';
import { Logger, LOG_LEVELS } from '../../src/log/Logger';

interface Harness {
  broker: Broker;
  url: string;
  errors: string[];
  connect(options?: IClientOptions): Promise<MqttClient>;
  /** The v5 CONNACK reason of a refused connection (0 when accepted). */
  refusal(options?: IClientOptions): Promise<number>;
  stop(): Promise<void>;
}

async function harness(hooks: BrokerHooks): Promise<Harness> {
  const errors: string[] = [];
  const logger = new Logger([{ write: (level, line) => void (level === 'error' && errors.push(line)) }], LOG_LEVELS, false);
  const broker = new Broker({ hooks, logger });
  const server = new MqttServer(broker);
  const listener = await server.listen({ ...defaultListener(0), bindAddress: '127.0.0.1' });
  const url = `mqtt://127.0.0.1:${listener.addresses()[0].port}`;
  const clients: MqttClient[] = [];
  let n = 0;
  const connect = async (options: IClientOptions = {}) => {
    const c = await connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 3000, clientId: `c${++n}`, ...options });
    c.on('error', () => undefined);
    clients.push(c);
    return c;
  };
  return {
    broker,
    url,
    errors,
    connect,
    async refusal(options = {}) {
      try {
        await connect(options);
        return 0;
      } catch (err) {
        return ((err as ErrorWithReasonCode).code as number | undefined) ?? -1;
      }
    },
    async stop() {
      for (const c of clients) c.end(true);
      await server.close();
    },
  };
}

function boom(): never {
  throw new Error('hook bug');
}

const closedSoon = (c: MqttClient) => new Promise<void>((resolve) => (c.connected ? c.once('close', () => resolve()) : resolve()));

test('onConnect that throws or rejects refuses that client (not authorised); the next client is served', async () => {
  let calls = 0;
  const h = await harness({
    onConnect: (client) => {
      calls++;
      if (client.clientId === 'thrower') boom();
      if (client.clientId === 'rejecter') return Promise.reject(new Error('async hook bug'));
      return true;
    },
  });
  try {
    assert.equal(await h.refusal({ clientId: 'thrower' }), 0x87);
    assert.equal(await h.refusal({ clientId: 'rejecter' }), 0x87);
    assert.equal(await h.refusal({ clientId: 'fine' }), 0);
    assert.equal(calls, 3);
    assert.equal(h.errors.filter((e) => e.includes('onConnect hook threw')).length, 2, h.errors.join('\n'));
  } finally {
    await h.stop();
  }
});

test('authenticate that throws or rejects refuses that client; the next one logs in', async () => {
  const h = await harness({
    authenticate: (r) => {
      if (r.username === 'thrower') boom();
      if (r.username === 'rejecter') return Promise.reject(new Error('async hook bug'));
      return 'ok';
    },
  });
  try {
    assert.equal(await h.refusal({ username: 'thrower' }), 0x87);
    assert.equal(await h.refusal({ username: 'rejecter' }), 0x87);
    assert.equal(await h.refusal({ username: 'fine' }), 0);
    assert.equal(h.errors.filter((e) => e.includes('authenticate hook threw')).length, 2);
  } finally {
    await h.stop();
  }
});

test('authorizePublish that throws refuses that publish (PUBACK 0x87) and the message goes nowhere', async () => {
  const h = await harness({ authorizePublish: (_c, topic) => (topic === 'bad' ? boom() : true) });
  try {
    const sub = await h.connect();
    const got: string[] = [];
    sub.on('message', (t) => got.push(t));
    await sub.subscribeAsync('#', { qos: 1 });
    const pub = await h.connect();
    await assert.rejects(pub.publishAsync('bad', 'x', { qos: 1 }), (err: ErrorWithReasonCode) => err.code === 0x87);
    await pub.publishAsync('good', 'x', { qos: 1 });
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(got, ['good']);
    assert.ok(pub.connected, 'the publisher stays connected');
    assert.ok(h.errors.some((e) => e.includes('authorizePublish hook threw')));
  } finally {
    await h.stop();
  }
});

test('authorizeSubscribe that throws refuses that filter (SUBACK 0x87), other filters are granted', async () => {
  const h = await harness({ authorizeSubscribe: (_c, filter) => (filter === 'bad/#' ? boom() : true) });
  try {
    const sub = await h.connect();
    // MQTT.js rejects a SUBACK that refuses any filter; the packet holds every code.
    const suback = await sub.subscribeAsync(['bad/#', 'good/#'], { qos: 1 }).then(
      () => assert.fail('no filter was refused'),
      (err: { packet?: { granted: number[] } }) => err.packet,
    );
    assert.deepEqual(suback?.granted, [0x87, 1]);
    assert.ok(h.errors.some((e) => e.includes('authorizeSubscribe hook threw')));
  } finally {
    await h.stop();
  }
});

test('onConnected that throws closes that one client; others connect and are served', async () => {
  const h = await harness({ onConnected: (c) => (c.clientId === 'victim' ? boom() : undefined) });
  try {
    const victim = connect(h.url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 3000, clientId: 'victim' });
    victim.on('error', () => undefined);
    let accepted = false;
    victim.on('connect', () => (accepted = true));
    await new Promise<void>((resolve) => victim.once('close', () => resolve()));
    victim.end(true);
    assert.equal(accepted, false, 'closed before CONNACK');
    assert.equal(h.broker.getClientCount(), 0, 'the failed client is not counted');
    const other = await h.connect({ clientId: 'other' });
    assert.ok(other.connected);
    assert.equal(h.broker.getClientCount(), 1);
    assert.ok(h.errors.some((e) => e.includes('onConnected hook threw')));
  } finally {
    await h.stop();
  }
});

test('onMessage that throws closes the publishing client after the message is delivered; a rejection is only logged', async () => {
  const h = await harness({
    onMessage: (m) => {
      if (m.topic === 'sync-bug') boom();
      if (m.topic === 'async-bug') return Promise.reject(new Error('async hook bug')) as unknown as void;
    },
  });
  try {
    const sub = await h.connect();
    const got: string[] = [];
    sub.on('message', (t) => got.push(t));
    await sub.subscribeAsync('#');
    const pub = await h.connect();
    const disconnected = new Promise<number | undefined>((resolve) => pub.once('disconnect', (p) => resolve((p as { reasonCode?: number }).reasonCode)));
    await pub.publishAsync('async-bug', 'x', { qos: 1 });
    pub.publish('sync-bug', 'x');
    assert.equal(await disconnected, 0x83, 'DISCONNECT Implementation specific error');
    await closedSoon(pub);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(got, ['async-bug', 'sync-bug'], 'the subscriber got both');
    assert.ok(sub.connected, 'the subscriber is not affected');
    assert.ok(h.errors.some((e) => e.includes('async hook bug')), 'the rejection was logged');
  } finally {
    await h.stop();
  }
});

test('onDisconnect that throws is logged; the broker keeps serving', async () => {
  const h = await harness({ onDisconnect: () => boom() });
  try {
    const a = await h.connect();
    await a.endAsync();
    await new Promise((r) => setTimeout(r, 50));
    const b = await h.connect();
    assert.ok(b.connected);
    assert.ok(h.errors.some((e) => e.includes('onDisconnect hook threw')));
  } finally {
    await h.stop();
  }
});

test('a broker.subscribe handler that throws or rejects is logged, keeps its subscription, and QoS 1 flow continues', async () => {
  const h = await harness({});
  try {
    const seen: string[] = [];
    h.broker.subscribe('local/#', (topic) => {
      seen.push(topic);
      if (topic === 'local/sync') boom();
      if (topic === 'local/async') return Promise.reject(new Error('async handler bug')) as unknown as void;
    });
    const pub = await h.connect();
    for (const t of ['local/sync', 'local/async', 'local/fine']) await pub.publishAsync(t, 'x', { qos: 1 });
    for (let i = 0; i < 30; i++) await pub.publishAsync('local/sync', String(i), { qos: 1 });
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(seen.slice(0, 3), ['local/sync', 'local/async', 'local/fine']);
    assert.equal(seen.length, 33, 'every message reached the handler: the in-flight window was not exhausted');
    assert.ok(h.errors.some((e) => e.includes('broker.subscribe handler threw')));
    assert.ok(h.errors.some((e) => e.includes('async handler bug')));
  } finally {
    await h.stop();
  }
});

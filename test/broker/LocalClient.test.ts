import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../src/broker/Broker';

test('local subscribers get messages later than route(), in routing order, including what a handler publishes meanwhile', async () => {
  const broker = new Broker();
  const seen: string[] = [];
  broker.subscribe('#', (topic, payload) => seen.push(`${topic}=${payload.toString()}`), { retained: false });
  broker.subscribe('a/+', (topic) => {
    if (topic === 'a/1') broker.publish('b/1', 'from handler');
  });
  broker.publish('a/1', 'x');
  broker.publish('a/2', 'y');
  assert.deepEqual(seen, [], 'nothing is delivered inside publish()');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(seen, ['a/1=x', 'a/2=y', 'b/1=from handler']);
  broker.close();
});

test('subscribe(…, { retained: false }) skips the retained messages already stored; new ones still arrive', async () => {
  const broker = new Broker();
  broker.publish('r/1', 'old', { retain: true });
  const fresh: string[] = [];
  const all: string[] = [];
  broker.subscribe('r/#', (_t, p) => fresh.push(p.toString()), { retained: false });
  broker.subscribe('r/#', (_t, p) => all.push(p.toString()));
  broker.publish('r/1', 'new', { retain: true });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(fresh, ['new']);
  assert.deepEqual(all, ['old', 'new']);
  broker.close();
});

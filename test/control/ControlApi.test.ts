import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../src/broker/Broker';
import { ControlApi, ControlRequestError } from '../../src/control/ControlApi';
import { TopicExplorer } from '../../src/control/TopicExplorer';

function api(): { broker: Broker; api: ControlApi; explorer: TopicExplorer } {
  const broker = new Broker({ limits: { messageSizeLimit: 100 } });
  const explorer = new TopicExplorer(broker, 10);
  return { broker, explorer, api: new ControlApi(broker, explorer) };
}

test('control API: every argument is checked and a bad one refused with a message; nothing is published', () => {
  const { broker, api: a, explorer } = api();
  const refused: [string, Record<string, unknown>, RegExp][] = [
    ['topics', { filter: 'a/#/b' }, /invalid topic filter/],
    ['topics', { expanded: 'home' }, /expanded must be a list/],
    ['topics', { expanded: [[1]] }, /expanded must be a list/],
    ['topics', { search: 5 }, /search must be a string/],
    ['topic', {}, /topic is required/],
    ['live', { filter: '#/x' }, /invalid topic filter/],
    ['live', { cursor: -1 }, /cursor must be a whole number/],
    ['live', { cursor: 'abc' }, /cursor must be a whole number/],
    ['publish', { topic: 'a/+', payload: 'x' }, /invalid topic name/],
    ['publish', { topic: '$SYS/broker/x', payload: 'x' }, /broker's own/],
    ['publish', { topic: 'a', payload: 'x', qos: 3 }, /qos must be 0, 1 or 2/],
    ['publish', { topic: 'a', payload: 'x'.repeat(101) }, /payload too large \(101 bytes, at most 100\)/],
    ['publish', { payload: 'x' }, /topic is required/],
    ['disconnect', { client_id: 'nobody' }, /no connected client 'nobody'/],
    ['remove_session', { client_id: 'nobody' }, /no offline session 'nobody'/],
  ];
  for (const [method, args, message] of refused) {
    assert.throws(() => a.methods[method](args), (err: Error) => err instanceof ControlRequestError && message.test(err.message), `${method} ${JSON.stringify(args)}`);
  }
  assert.equal(broker.retained.size, 0);
  explorer.stop();
  broker.close();
});

test('control API: publish as LuCI sends it (strings for qos and retain), clear retained with an empty payload', () => {
  const { broker, api: a, explorer } = api();
  assert.deepEqual(a.methods.publish({ topic: 'lamp/set', payload: 'on', qos: '1', retain: '1', content_type: 'text/plain', ubus_rpc_session: 'x' }), { result: 'published' });
  const m = broker.retained.get('lamp/set')!;
  assert.equal(m.payload.toString(), 'on');
  assert.equal(m.qos, 1);
  assert.equal(m.properties?.contentType, 'text/plain');
  assert.deepEqual(a.methods.publish({ topic: 'lamp/set', payload: '', retain: true }), { result: 'cleared' });
  assert.equal(broker.retained.get('lamp/set'), undefined);
  explorer.stop();
  broker.close();
});

test('control API: a first live poll (no cursor) gets the cursor of now and no messages; the next poll gets what came after', async () => {
  const { broker, api: a, explorer } = api();
  // Local subscribers (the explorer is one) get their messages in the next microtask.
  const delivered = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(a.methods.live({}), { cursor: 0, missed: 0, messages: [] }, 'the explorer starts on the first request');
  broker.publish('before/1', 'x');
  broker.publish('before/2', 'y');
  await delivered();
  const first = a.methods.live({ filter: '#' }) as { cursor: number; messages: unknown[] };
  assert.deepEqual(first, { cursor: 2, missed: 0, messages: [] }, 'what came before the page opened is not sent');
  broker.publish('after', 'z');
  await delivered();
  const next = a.methods.live({ filter: '#', cursor: first.cursor }) as { messages: { topic: string }[] };
  assert.deepEqual(next.messages.map((m) => m.topic), ['after']);
  explorer.stop();
  broker.close();
});

test('control API: a publish is capped at 64 KiB even when message_size_limit allows more (what one request carries)', () => {
  const broker = new Broker({ limits: { messageSizeLimit: 262_144 } });
  const explorer = new TopicExplorer(broker, 10);
  const a = new ControlApi(broker, explorer);
  assert.deepEqual(a.methods.publish({ topic: 'big', payload: 'x'.repeat(65_536) }), { result: 'published' });
  assert.throws(() => a.methods.publish({ topic: 'big', payload: 'x'.repeat(65_537) }), /payload too large \(65537 bytes, at most 65536\)/);
  explorer.stop();
  broker.close();
});


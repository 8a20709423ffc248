import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../src/broker/Broker';
import { Message } from '../../src/broker/Message';
import { LiveHistory } from '../../src/control/LiveHistory';
import { PREVIEW_BYTES } from '../../src/control/PayloadPreview';
import { RecentTopics } from '../../src/control/RecentTopics';
import { IDLE_MS, TopicExplorer, byName } from '../../src/control/TopicExplorer';

/** Microtasks run: LocalClient delivers on one. */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

/** How many subscriptions match a topic: the explorer's subscriber is one of them when watching. */
function subscribers(broker: Broker, topic: string): number {
  return broker.subscriptions.match(topic).length;
}

test('explorer: no subscriber and no cache until a page asks; one subscriber while watching; all gone after IDLE_MS', async () => {
  let now = 1_000_000;
  const broker = new Broker();
  const explorer = new TopicExplorer(broker, 100, () => now);
  broker.publish('a/b', 'before');
  await settle();
  assert.equal(subscribers(broker, 'a/b'), 0);
  assert.equal(explorer.cachedTopics, 0);

  explorer.children([], 10);
  assert.equal(explorer.watching, true);
  assert.equal(subscribers(broker, 'a/b'), 1);
  broker.publish('a/b', 'during');
  await settle();
  assert.equal(explorer.cachedTopics, 1);
  assert.equal(explorer.topic('a/b')?.payload.toString(), 'during');

  now += IDLE_MS - 1;
  explorer.stopIfIdle();
  assert.equal(explorer.watching, true, 'a page polled less than IDLE_MS ago');
  now += 1;
  explorer.stopIfIdle();
  assert.equal(explorer.watching, false);
  assert.equal(subscribers(broker, 'a/b'), 0);
  assert.equal(explorer.cachedTopics, 0, 'nothing is kept when nobody watches');
  broker.close();
});

test('explorer: watching changes nothing a publisher sees: a message nobody else subscribed to still matches no one', () => {
  const broker = new Broker();
  const explorer = new TopicExplorer(broker, 10);
  explorer.touch();
  assert.equal(broker.route(new Message('nobody/listens', Buffer.from('x'), 1, false, undefined, undefined, 'c'), undefined), false);
  assert.equal(broker.subscriptionCount, 0, '$SYS and the status page do not count the explorer');
  const off = broker.subscribe('nobody/#', () => undefined);
  assert.equal(broker.subscriptionCount, 1);
  assert.equal(broker.route(new Message('nobody/listens', Buffer.from('x'), 1, false, undefined, undefined, 'c'), undefined), true);
  off();
  explorer.stop();
  broker.close();
});

test('explorer: retained topics need no cache; the tree lists only the asked level with counts', async () => {
  const broker = new Broker();
  const explorer = new TopicExplorer(broker, 0, () => 5000);
  for (const t of ['home/kitchen/lamp', 'home/kitchen/temp', 'home/hall', 'garage', '/leading', 'a//b']) broker.publish(t, t, { retain: true });
  await settle();
  const root = explorer.children([], 100);
  assert.deepEqual(root.nodes.map((n) => [n.name, n.topics, n.state?.payload.toString()]), [
    ['', 1, undefined],
    ['a', 1, undefined],
    ['garage', 1, 'garage'],
    ['home', 3, undefined],
  ]);
  assert.deepEqual(explorer.children(['home'], 100).nodes.map((n) => [n.name, n.topics]), [['hall', 1], ['kitchen', 2]]);
  assert.deepEqual(explorer.children(['a', ''], 100).nodes.map((n) => n.name), ['b']);
  assert.equal(explorer.children(['home'], 1).more, 1);
  assert.deepEqual(explorer.find('home/+/+', undefined, 10).topics.map((t) => t.topic), ['home/kitchen/lamp', 'home/kitchen/temp']);
  assert.deepEqual(explorer.find(undefined, 'KITCHEN/L', 10).topics.map((t) => t.topic), ['home/kitchen/lamp']);
  // The retained store keeps when each topic was set, so the time is known even for a
  // message stored before the explorer watched...
  const changed = explorer.topic('garage')?.changedAt;
  assert.ok(changed !== undefined && Math.abs(changed - Date.now()) < 60_000, `garage changed at ${changed}`);
  // ...but not for one restored from the store at start (its time is not saved).
  const restored = new Broker();
  restored.restore(broker.snapshot());
  const restoredExplorer = new TopicExplorer(restored, 0, () => 5000);
  assert.equal(restoredExplorer.topic('garage')?.changedAt, undefined, 'restored at start: time unknown');
  assert.equal(restoredExplorer.topic('garage')?.payload.toString(), 'garage');
  restoredExplorer.stop();
  restored.close();
  // An empty retained message removes the topic from the tree.
  broker.publish('garage', '', { retain: true });
  await settle();
  assert.equal(explorer.topic('garage'), undefined);
  explorer.stop();
  broker.close();
});

test('explorer: the cache holds at most its size, evicting the topic that changed longest ago; large payloads are cut', async () => {
  const broker = new Broker();
  const explorer = new TopicExplorer(broker, 3, () => 5000);
  explorer.touch();
  for (const t of ['t/1', 't/2', 't/3']) broker.publish(t, 'x');
  await settle();
  broker.publish('t/1', 'again');
  broker.publish('t/4', Buffer.alloc(PREVIEW_BYTES * 3, 1));
  await settle();
  assert.equal(explorer.cachedTopics, 3);
  assert.equal(explorer.topic('t/2'), undefined, 't/2 changed longest ago');
  const big = explorer.topic('t/4')!;
  assert.equal(big.size, PREVIEW_BYTES * 3);
  assert.equal(big.payload.length, PREVIEW_BYTES);
  explorer.stop();
  broker.close();
});

test('recent topics: messages in the last minute, in ten-second buckets', () => {
  const recent = new RecentTopics(10);
  let now = 100_000;
  for (let i = 0; i < 5; i++) recent.record('x', Buffer.from('1'), 1, 0, false, undefined, now);
  now += 30_000;
  recent.record('x', Buffer.from('1'), 1, 0, false, undefined, now);
  const e = recent.get('x')!;
  assert.equal(recent.rate(e, now), 6);
  assert.equal(recent.rate(e, now + 31_000), 1, 'the first five are over a minute old');
  assert.equal(recent.rate(e, now + 120_000), 0);
});

test('live history: numbered messages after a cursor, filtered; what fell out is reported as missed', () => {
  const live = new LiveHistory(4);
  const push = (t: string): void => live.push(t, Buffer.from(t), t.length, 0, false, undefined, 0);
  push('a/1');
  push('b/1');
  push('a/2');
  assert.deepEqual(live.since(0, 'a/#', 10).messages.map((m) => m.seq), [1, 3]);
  const after1 = live.since(1, '#', 10);
  assert.deepEqual({ cursor: after1.cursor, missed: after1.missed, seqs: after1.messages.map((m) => m.seq) }, { cursor: 3, missed: 0, seqs: [2, 3] });
  assert.equal(live.since(3, '#', 10).messages.length, 0);
  for (let i = 3; i <= 8; i++) push(`a/${i}`);
  const batch = live.since(1, '#', 10);
  assert.deepEqual(batch.messages.map((m) => m.seq), [6, 7, 8, 9]);
  assert.equal(batch.missed, 4);
  assert.equal(batch.cursor, 9);
  assert.deepEqual(live.since(5, '#', 2).messages.map((m) => m.seq), [6, 7], 'at most max');
  assert.equal(live.since(5, '#', 2).cursor, 7);
  // A cursor from before a restart (ahead of the history) starts again from now.
  assert.deepEqual(live.since(1000, '#', 10), { cursor: 9, missed: 0, messages: [] });
});

test('topic names sort naturally: numbers inside names by value', () => {
  const names = ['s10', 's2', 'S1', 's1', 'r3/s1', 'sensor', 's02', 's', '', 'a10b2', 'a10b10', 'a9'];
  assert.deepEqual([...names].sort(byName), ['', 'S1', 'a9', 'a10b2', 'a10b10', 'r3/s1', 's', 's1', 's02', 's2', 's10', 'sensor']);
});

test('live history after clear() (the explorer stopped when no page polled): empty, numbering kept, then new messages only', () => {
  const live = new LiveHistory(4);
  const push = (t: string): void => live.push(t, Buffer.from(t), t.length, 0, false, undefined, 0);
  for (let i = 1; i <= 10; i++) push(`t/${i}`);
  live.clear();
  // A page opened now polls with no cursor (0): nothing, and no slot read that clear() emptied.
  assert.deepEqual(live.since(0, '#', 100), { cursor: 10, missed: 10, messages: [] });
  assert.deepEqual(live.since(10, '#', 100), { cursor: 10, missed: 0, messages: [] });
  push('t/11');
  assert.deepEqual(live.since(10, '#', 100).messages.map((m) => m.seq), [11]);
});


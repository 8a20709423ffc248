import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Message } from '../../src/broker/Message';
import { OutgoingQueue, OutgoingState, type OutgoingMessage } from '../../src/bridge/OutgoingQueue';

function entry(n: number): OutgoingMessage {
  return { topic: `t/${n}`, message: new Message(`t/${n}`, Buffer.from(String(n)), 1, false, undefined, undefined, undefined), qos: 1, retain: false, state: OutgoingState.Waiting, packetId: 0, released: false };
}

function drain(q: OutgoingQueue): string[] {
  const out: string[] = [];
  for (let e = q.takeWaiting(); e; e = q.takeWaiting()) out.push(e.topic);
  return out;
}

test('messages go out oldest first and leave only when finished', () => {
  const q = new OutgoingQueue(0);
  const a = entry(1);
  const b = entry(2);
  q.push(a);
  q.push(b);
  assert.deepEqual(drain(q), ['t/1', 't/2']);
  assert.equal(q.size, 2);
  q.finish(b);
  assert.equal(q.size, 1);
  q.finish(a);
  q.finish(a);
  assert.equal(q.size, 0);
});

test('after a lost connection every unacknowledged message is sent again, in the original order', () => {
  const q = new OutgoingQueue(0);
  const items = [1, 2, 3, 4].map(entry);
  for (const e of items) q.push(e);
  drain(q);
  q.finish(items[1]);
  q.resendAll();
  q.push(entry(5));
  assert.deepEqual(drain(q), ['t/1', 't/3', 't/4', 't/5']);
});

test('when full the oldest is dropped and counted, even one in flight, whose late ack is then ignored', () => {
  const q = new OutgoingQueue(3);
  const items = [1, 2, 3, 4, 5].map(entry);
  q.push(items[0]);
  assert.equal(q.takeWaiting(), items[0]);
  for (const e of items.slice(1)) q.push(e);
  assert.equal(q.size, 3);
  assert.equal(q.dropped, 2);
  q.finish(items[0]);
  assert.equal(q.size, 3);
  assert.deepEqual(drain(q), ['t/3', 't/4', 't/5']);
});

test('a long run keeps memory bounded and order intact', () => {
  const q = new OutgoingQueue(100);
  let next = 0;
  const seen: number[] = [];
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 90; i++) q.push(entry(next++));
    for (let e = q.takeWaiting(); e; e = q.takeWaiting()) {
      seen.push(Number(e.message.payload.toString()));
      q.finish(e);
    }
  }
  assert.equal(q.size, 0);
  assert.equal(q.dropped, 0);
  assert.deepEqual(seen, Array.from({ length: next }, (_, i) => i));
});

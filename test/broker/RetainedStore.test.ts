import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Message } from '../../src/broker/Message';
import { RetainedStore } from '../../src/broker/RetainedStore';
import { topicMatches } from '../../src/broker/topics';

function msg(topic: string, payload: string, expiresAt?: number): Message {
  return new Message(topic, Buffer.from(payload), 1, true, undefined, expiresAt, 'c');
}

function matches(store: RetainedStore, filter: string, now = Date.now()): string[] {
  const out: string[] = [];
  store.forEachMatch(filter, now, (m) => out.push(`${m.topic}=${m.payload.toString()}`));
  return out.sort();
}

test('retained: set, replace, clear with an empty payload; version moves only on a change', () => {
  const store = new RetainedStore();
  const v0 = store.version;
  store.set(msg('a/b', '1'));
  store.set(msg('a/b', '2'));
  assert.equal(store.size, 1);
  assert.equal(store.get('a/b')?.payload.toString(), '2');
  const v1 = store.version;
  assert.ok(v1 > v0);
  store.set(msg('nothing/here', ''));
  assert.equal(store.version, v1, 'clearing a topic that has nothing is not a change');
  store.set(msg('a/b', ''));
  assert.equal(store.size, 0);
  assert.equal(store.get('a/b'), undefined);
  assert.ok(store.version > v1);
});

test('retained: wildcard and exact lookups, `$` topics kept from leading wildcards', () => {
  const store = new RetainedStore();
  for (const t of ['a', 'a/b', 'a/c', 'x/b', '$SYS/broker/uptime']) store.set(msg(t, t));
  assert.deepEqual(matches(store, 'a/#'), ['a/b=a/b', 'a/c=a/c', 'a=a']);
  assert.deepEqual(matches(store, '+/b'), ['a/b=a/b', 'x/b=x/b']);
  assert.deepEqual(matches(store, 'a/b'), ['a/b=a/b']);
  assert.deepEqual(matches(store, 'nope'), []);
  assert.equal(matches(store, '#').length, 4);
  assert.deepEqual(matches(store, '$SYS/#'), ['$SYS/broker/uptime=$SYS/broker/uptime']);
});

test('retained: an expired message is not delivered and is dropped from the store', () => {
  const store = new RetainedStore();
  const now = 1_000_000;
  store.set(msg('t/old', 'x', now - 1));
  store.set(msg('t/live', 'y', now + 10_000));
  store.set(msg('exact', 'z', now));
  assert.deepEqual(matches(store, 't/+', now), ['t/live=y']);
  assert.deepEqual(matches(store, 'exact', now), []);
  assert.equal(store.size, 1);
});

test('property: forEachMatch returns exactly the stored topics the filter matches', () => {
  const level = fc.constantFrom('a', 'b', '', '$x');
  const topic = fc.array(level, { minLength: 1, maxLength: 3 }).map((l) => l.join('/'));
  const filter = fc.constantFrom('#', '+', 'a/#', '+/b', 'a/+/b', '$x/#', '+/+', 'a', '/#', 'b/');
  fc.assert(
    fc.property(fc.uniqueArray(topic, { maxLength: 10 }), filter, (topics, f) => {
      const store = new RetainedStore();
      for (const t of topics) store.set(msg(t, 'v'));
      const want = topics.filter((t) => topicMatches(f, t)).map((t) => `${t}=v`).sort();
      assert.deepEqual(matches(store, f), want);
    }),
    { numRuns: 500 },
  );
});

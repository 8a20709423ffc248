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
  const filter = fc.constantFrom('#', '+', 'a/#', '+/b', 'a/+/b', '$x/#', '+/+', 'a', '/#', 'b/', '+/+/+', 'a/+/#', '+/#', '$x/+', '+/b/#');
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

test('all() gives every retained message, `$` topics included, each once', () => {
  const store = new RetainedStore();
  const topics = ['a', 'a/b', 'a/b/c', '$SYS/x', '$x/y/z', 'b', '/', ''];
  for (const t of topics) store.set(msg(t, 'v'));
  assert.deepEqual([...store.all()].map((m) => m.topic).sort(), [...topics].sort());
});

test('a cursor walks lazily and tolerates changes: cleared topics are not given, topics set after it was made are skipped', () => {
  const store = new RetainedStore();
  for (const t of ['d/1', 'd/2', 'd/3/x', 'd/4', 'e/1']) store.set(msg(t, 'old'));
  const cursor = store.cursor('d/#');
  assert.equal(cursor.next().value?.topic, 'd/1');
  // While it walks: clear one ahead (its branch is pruned), replace one, add a new one.
  store.set(msg('d/3/x', ''));
  store.set(msg('d/2', 'new'));
  store.set(msg('d/5', 'new'));
  const seen: string[] = [];
  for (let r = cursor.next(); r.done !== true; r = cursor.next()) seen.push(r.value.topic);
  assert.deepEqual(seen, ['d/4'], 'd/2 and d/5 were set after the cursor, d/3/x was cleared');
  assert.equal(store.get('d/3/x'), undefined);
  assert.equal(store.size, 5);
});

test('property: a cursor gives each untouched match once, never a cleared or newer message, whatever changes meanwhile', () => {
  const level = fc.constantFrom('a', 'b', '', '$x');
  const topic = fc.array(level, { minLength: 1, maxLength: 3 }).map((l) => l.join('/'));
  const filter = fc.constantFrom('#', '+', 'a/#', '+/b', 'a/+/b', '$x/#', '+/+', 'a');
  const change = fc.record({ topic, clear: fc.boolean(), after: fc.nat(12) });
  fc.assert(
    fc.property(fc.uniqueArray(topic, { maxLength: 12 }), filter, fc.array(change, { maxLength: 8 }), (topics, f, changes) => {
      const store = new RetainedStore();
      const before = new Map<string, Message>();
      for (const t of topics) {
        const m = msg(t, 'v');
        store.set(m);
        before.set(t, m);
      }
      const cursor = store.cursor(f);
      const touched = new Set<string>();
      const given: Message[] = [];
      let step = 0;
      for (;;) {
        for (const c of changes) {
          if (c.after !== step) continue;
          store.set(msg(c.topic, c.clear ? '' : 'changed'));
          touched.add(c.topic);
        }
        const r = cursor.next();
        if (r.done === true) break;
        given.push(r.value);
        step++;
      }
      const topicsGiven = given.map((m) => m.topic);
      assert.equal(new Set(topicsGiven).size, topicsGiven.length, 'a topic given twice');
      for (const m of given) {
        assert.ok(topicMatches(f, m.topic), `${m.topic} does not match ${f}`);
        assert.equal(before.get(m.topic), m, `${m.topic}: not the message stored before the cursor`);
      }
      for (const [t] of before) {
        if (topicMatches(f, t) && !touched.has(t)) assert.ok(topicsGiven.includes(t), `untouched ${t} missing`);
      }
    }),
    { numRuns: 500 },
  );
});

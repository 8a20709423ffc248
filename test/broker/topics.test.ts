import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Broker } from '../../src/broker/Broker';
import { Session } from '../../src/broker/Session';
import type { Subscription } from '../../src/broker/Subscription';
import { isShareGroup } from '../../src/broker/Subscription';
import { TopicTree } from '../../src/broker/TopicTree';
import { DEFAULT_LIMITS } from '../../src/broker/Broker';
import { isValidTopicFilter, isValidTopicName, parseSharedFilter, topicMatches } from '../../src/broker/topics';

/** An independent matcher written from the spec's words, level by level. */
function specMatches(filter: string, topic: string): boolean {
  // Wildcards at the first level never match topics starting with `$` [MQTT-4.7.2-1].
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true; // also matches the parent level: `a/#` matches `a`
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

const topicLevel = fc.constantFrom('a', 'b', 'c', '', '$SYS', '$x', 'ü');
const topicArb = fc.array(topicLevel, { minLength: 1, maxLength: 4 }).map((l) => l.join('/'));
const filterArb = fc
  .tuple(fc.array(fc.constantFrom('a', 'b', '', '+', '$SYS', 'ü'), { minLength: 0, maxLength: 4 }), fc.boolean())
  .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
  .filter((f) => f.length > 0);

test('topic names: wildcards, NUL, invalid UTF-8 and empty are refused; anything else is fine', () => {
  for (const ok of ['a', '/', 'a//b', '$SYS/x', ' ', 'ü/€', 'a/b/c/d/e/f']) assert.equal(isValidTopicName(ok), true, ok);
  for (const bad of ['', 'a/+', '#', 'a/#', 'a+b', 'x#', 'a\u0000b', 'bad\ufffd']) assert.equal(isValidTopicName(bad), false, bad);
  assert.equal(isValidTopicName('x'.repeat(65535)), true);
  assert.equal(isValidTopicName('x'.repeat(65536)), false);
  // 65535 characters, but more than 65535 bytes in UTF-8.
  assert.equal(isValidTopicName('ü'.repeat(40000)), false);
});

test('topic filters: + and # only as whole levels, # only last', () => {
  for (const ok of ['#', '+', 'a/+', '+/+', 'a/#', '+/#', '/#', 'a//+', '$SYS/#', 'a/+/b']) {
    assert.equal(isValidTopicFilter(ok), true, ok);
  }
  for (const bad of ['', 'a+', '+a', 'a/b+', '#/a', 'a#', 'a/#/b', '##', 'a/++', 'a\u0000', 'x\ufffd']) {
    assert.equal(isValidTopicFilter(bad), false, bad);
  }
});

test('at most 200 levels (200 separators) in a topic or filter, as mosquitto', () => {
  assert.equal(isValidTopicName('a/'.repeat(200) + 'x'), true);
  assert.equal(isValidTopicName('a/'.repeat(201) + 'x'), false);
  assert.equal(isValidTopicName('/'.repeat(201)), false);
  assert.equal(isValidTopicFilter('+/'.repeat(200) + '#'), true);
  assert.equal(isValidTopicFilter('+/'.repeat(201) + '#'), false);
  assert.equal(parseSharedFilter('$share/g/' + 'a/'.repeat(201) + '#'), null);
});

test('shared filters: $share/<group>/<filter>, group without wildcards, filter valid', () => {
  assert.deepEqual(parseSharedFilter('$share/g/a/+'), { group: 'g', filter: 'a/+' });
  assert.deepEqual(parseSharedFilter('$share/g/#'), { group: 'g', filter: '#' });
  assert.equal(parseSharedFilter('a/b'), undefined);
  assert.equal(parseSharedFilter('$SYS/#'), undefined);
  for (const bad of ['$share/', '$share//a', '$share/g', '$share/g/', '$share/+/a', '$share/g#/a', '$share/g/a#']) {
    assert.equal(parseSharedFilter(bad), null, bad);
  }
});

test('matching: the cases the spec spells out', () => {
  const cases: [string, string, boolean][] = [
    ['sport/tennis/player1/#', 'sport/tennis/player1', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true],
    ['sport/#', 'sport', true],
    ['#', 'sport/tennis', true],
    ['sport/tennis/+', 'sport/tennis/player1', true],
    ['sport/tennis/+', 'sport/tennis/player1/ranking', false],
    ['sport/+', 'sport', false],
    ['sport/+', 'sport/', true],
    ['+/+', '/finance', true],
    ['/+', '/finance', true],
    ['+', '/finance', false],
    ['#', '$SYS/broker', false],
    ['+/monitor/Clients', '$SYS/monitor/Clients', false],
    ['$SYS/#', '$SYS/monitor/Clients', true],
    ['$SYS/monitor/+', '$SYS/monitor/Clients', true],
    ['a/+/#', 'a/b', true],
    ['a/b/', 'a/b', false],
    ['a', 'a/', false],
  ];
  for (const [filter, topic, expected] of cases) {
    assert.equal(topicMatches(filter, topic), expected, `${filter} vs ${topic}`);
    assert.equal(specMatches(filter, topic), expected, `reference: ${filter} vs ${topic}`);
  }
});

test('property: topicMatches agrees with a level-by-level reference matcher', () => {
  fc.assert(
    fc.property(filterArb, topicArb, (filter, topic) => {
      fc.pre(isValidTopicFilter(filter) && isValidTopicName(topic));
      return topicMatches(filter, topic) === specMatches(filter, topic);
    }),
    { numRuns: 3000 },
  );
});

function sub(session: Session, filter: string, group?: string): Subscription {
  return {
    session,
    filter,
    group,
    qos: 0,
    noLocal: false,
    retainAsPublished: false,
    retainHandling: 0,
    subscriptionId: undefined,
  };
}

test('property: TopicTree.match finds exactly the subscriptions topicMatches accepts, before and after removals', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(filterArb.filter(isValidTopicFilter), { minLength: 1, maxLength: 12 }),
      fc.array(topicArb.filter(isValidTopicName), { minLength: 1, maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      (filters, topics, removals) => {
        const tree = new TopicTree();
        const session = new Session('c', 5, DEFAULT_LIMITS);
        const subs = filters.map((f) => sub(session, f));
        for (const s of subs) tree.add(s);
        const check = (live: Subscription[]) => {
          for (const topic of topics) {
            // Twice: the second answer comes from the match cache.
            for (let pass = 0; pass < 2; pass++) {
              const got = new Set(tree.match(topic));
              const want = new Set(live.filter((s) => topicMatches(s.filter, topic)));
              assert.deepEqual(got, want, `topic ${topic}`);
            }
          }
        };
        check(subs);
        const live = [...subs];
        for (const r of removals) {
          if (live.length === 0) break;
          const [gone] = live.splice(r % live.length, 1);
          tree.remove(gone);
          check(live);
        }
        assert.equal(tree.count, live.length);
      },
    ),
    { numRuns: 300 },
  );
});

test('TopicTree: `$` topics are not matched by a leading wildcard, but by a literal first level', () => {
  const tree = new TopicTree();
  const session = new Session('c', 5, DEFAULT_LIMITS);
  const all = sub(session, '#');
  const plus = sub(session, '+/broker/#');
  const sys = sub(session, '$SYS/#');
  for (const s of [all, plus, sys]) tree.add(s);
  assert.deepEqual(tree.match('$SYS/broker/uptime'), [sys]);
  assert.deepEqual(new Set(tree.match('x/broker/uptime')), new Set([all, plus]));
});

test('TopicTree: a share group is one entry with every member; members leave one by one', () => {
  const tree = new TopicTree();
  const a = sub(new Session('a', 5, DEFAULT_LIMITS), 'x/+', 'g');
  const b = sub(new Session('b', 5, DEFAULT_LIMITS), 'x/+', 'g');
  const other = sub(new Session('c', 5, DEFAULT_LIMITS), 'x/+', 'h');
  for (const s of [a, b, other]) tree.add(s);
  const entries = tree.match('x/1');
  assert.equal(entries.length, 2);
  const g = entries.find((e) => isShareGroup(e) && e.group === 'g');
  assert.ok(g && isShareGroup(g));
  assert.deepEqual(g.members, [a, b]);
  tree.remove(a);
  tree.remove(b);
  assert.equal(tree.match('x/1').length, 1);
  tree.remove(other);
  assert.equal(tree.match('x/1').length, 0);
  assert.equal(tree.count, 0);
});

test('shared subscriptions: messages go round robin within a group, and every group gets each message', async () => {
  const broker = new Broker();
  try {
    const got: string[][] = [[], [], []];
    broker.subscribe('$share/g/jobs/+', (_t, p) => got[0].push(p.toString()));
    broker.subscribe('$share/g/jobs/+', (_t, p) => got[1].push(p.toString()));
    broker.subscribe('$share/other/jobs/#', (_t, p) => got[2].push(p.toString()));
    for (let i = 0; i < 6; i++) broker.publish(`jobs/${i}`, String(i), { qos: 1 });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(got[0], ['0', '2', '4']);
    assert.deepEqual(got[1], ['1', '3', '5']);
    assert.deepEqual(got[2], ['0', '1', '2', '3', '4', '5']);
  } finally {
    broker.close();
  }
});

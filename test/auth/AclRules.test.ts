import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AclRules } from '../../src/auth/AclRules';
import type { ClientIdentity } from '../../src/auth/Security';
import { intersectFilters, topicMatches } from '../../src/auth/TopicFilter';

function rules(text: string): AclRules {
  const { rules: r, errors } = AclRules.parse(text, 'acl');
  assert.deepEqual(errors.map(String), []);
  return r;
}

const anon: ClientIdentity = { clientId: 'anon-1' };
const alice: ClientIdentity = { clientId: 'alice-phone', username: 'alice' };
const bob: ClientIdentity = { clientId: 'bob-pc', username: 'bob' };

type Row = [ClientIdentity, string, 'read' | 'write', boolean];

function table(acl: AclRules, rows: Row[]): void {
  for (const [who, topic, access, expected] of rows) {
    assert.equal(acl.check(who, topic, access), expected, `${who.username ?? '(anonymous)'} ${access} ${topic}`);
  }
}

test('topic lines before the first user line are for anonymous clients only', () => {
  const acl = rules('topic read public/#\ntopic write inbox\nuser alice\ntopic alice/#\n');
  table(acl, [
    [anon, 'public/news', 'read', true],
    [anon, 'public', 'read', true], // a/# matches a
    [anon, 'public/news', 'write', false],
    [anon, 'inbox', 'write', true],
    [anon, 'inbox', 'read', false],
    [anon, 'alice/x', 'read', false],
    [alice, 'public/news', 'read', false],
    [alice, 'alice/x', 'read', true],
    [alice, 'alice/x', 'write', true], // no access word = readwrite
    [bob, 'alice/x', 'read', false],
    [bob, 'public/news', 'read', false],
  ]);
});

test('a user block applies to that username; a repeated user line adds to the same block', () => {
  const acl = rules('user alice\ntopic read a\nuser bob\ntopic read b\nuser alice\ntopic write c\n');
  table(acl, [
    [alice, 'a', 'read', true],
    [alice, 'c', 'write', true],
    [alice, 'b', 'read', false],
    [bob, 'b', 'read', true],
    [bob, 'c', 'write', false],
  ]);
});

test('usernames with spaces, and topics with spaces, are the rest of the line', () => {
  const acl = rules('user john smith\ntopic read  my topic/with space \n');
  table(acl, [
    [{ clientId: 'c', username: 'john smith' }, 'my topic/with space', 'read', true],
    [{ clientId: 'c', username: 'john' }, 'my topic/with space', 'read', false],
  ]);
});

test('pattern lines apply to every client, with %u and %c substituted', () => {
  const acl = rules('pattern write devices/%c/status\npattern read users/%u/#\n');
  table(acl, [
    [alice, 'devices/alice-phone/status', 'write', true],
    [alice, 'devices/bob-pc/status', 'write', false],
    [alice, 'users/alice/inbox', 'read', true],
    [alice, 'users/bob/inbox', 'read', false],
    [anon, 'devices/anon-1/status', 'write', true],
    // A %u pattern never applies to a client without a username.
    [anon, 'users/%u/inbox', 'read', false],
    [anon, 'users//inbox', 'read', false],
  ]);
});

test('deny is checked first within a block, wherever it appears', () => {
  const acl = rules('user alice\ntopic readwrite home/#\ntopic deny home/secret/#\npattern read home/%u/#\npattern deny home/+/locked\n');
  table(acl, [
    [alice, 'home/lights', 'read', true],
    [alice, 'home/secret', 'read', false],
    [alice, 'home/secret/key', 'write', false],
    // The user block grants before patterns are consulted, as in mosquitto.
    [alice, 'home/alice/locked', 'read', true],
    [bob, 'home/bob/x', 'read', true],
    [bob, 'home/bob/locked', 'read', false],
  ]);
});

test('a username or client id with + or # never matches a pattern rule', () => {
  const acl = rules('pattern readwrite users/%u/#\npattern readwrite clients/%c/#\nuser a+b\ntopic read own\n');
  table(acl, [
    [{ clientId: 'ok', username: 'a+b' }, 'users/a+b/x', 'read', false],
    [{ clientId: 'ok', username: '#' }, 'users/x/y', 'read', false],
    [{ clientId: 'c#', username: 'carl' }, 'users/carl/x', 'read', false],
    [{ clientId: 'c+', username: 'carl' }, 'clients/c+/x', 'write', false],
    // Its own user block still applies.
    [{ clientId: 'ok', username: 'a+b' }, 'own', 'read', true],
    [{ clientId: 'ok', username: 'carl' }, 'users/carl/x', 'read', true],
  ]);
});

test('$ topics only match rules that start with $ ($SYS is not under #)', () => {
  const acl = rules('topic read #\nuser alice\ntopic read $SYS/#\ntopic read +/x\n');
  table(acl, [
    [anon, 'anything/at/all', 'read', true],
    [anon, '$SYS/broker/uptime', 'read', false],
    [alice, '$SYS/broker/uptime', 'read', true],
    [alice, '$other/x', 'read', false],
    [alice, 'a/x', 'read', true],
  ]);
});

test('with an ACL file, whatever is not granted is refused (including clients with no block)', () => {
  const acl = rules('# nothing but a comment\n');
  table(acl, [
    [anon, 'a', 'read', false],
    [alice, 'a', 'write', false],
  ]);
});

test('mosquitto quirk: "topic read" alone is the topic "read", readwrite', () => {
  const acl = rules('topic read\n');
  table(acl, [
    [anon, 'read', 'write', true],
    [anon, 'other', 'read', false],
  ]);
});

test('bad lines are reported with line numbers and skipped; the rest still applies', () => {
  const { rules: acl, errors } = AclRules.parse(
    [
      'topic read ok/#', //               1
      'topci read typo', //               2
      'topic', //                         3
      'topic read a/#/b', //              4
      'topic raed public/#', //           5 unknown access: applied as deny
      'topic read public/#', //           6
      'user', //                          7
      'topic read stolen/#', //           8 belongs to the broken user line
      'user alice', //                    9
      'topic read alice/#', //            10
      '   # indented comment', //         11
      'pattern read x/%u/#', //           12
    ].join('\n'),
    '/etc/mqttd/acl',
  );
  assert.deepEqual(
    errors.map((e) => e.line),
    [2, 3, 4, 5, 7, 8],
  );
  assert.ok(errors.every((e) => e.file === '/etc/mqttd/acl'));
  table(acl, [
    [anon, 'ok/1', 'read', true],
    [anon, 'public/1', 'read', false], // the typo line denies: fail closed
    [anon, 'stolen/1', 'read', false],
    [alice, 'alice/1', 'read', true],
    [alice, 'x/alice/1', 'read', true],
  ]);
});

test('canEverRead: false when a deny covers the filter or nothing grants read under it', () => {
  const acl = rules(
    'topic read public/#\ntopic deny public/secret/#\ntopic write drop/#\nuser alice\ntopic read a/+/b\ntopic deny a/x/#\ntopic read $SYS/broker/#\n',
  );
  const cases: Array<[ClientIdentity, string, boolean]> = [
    [anon, 'public/#', true],
    [anon, '#', true],
    [anon, '+/+', true],
    [anon, 'public/secret/#', false],
    [anon, 'public/secret', false],
    [anon, 'public/secret/+/x', false],
    [anon, 'drop/#', false], // write-only
    [anon, 'other/#', false],
    [anon, '$SYS/#', false],
    [alice, 'a/+/b', true],
    [alice, 'a/x/b', false],
    [alice, 'a/x/#', false],
    [alice, 'a/#', true],
    [alice, '$SYS/#', true],
    [alice, '#', true],
    [alice, '$SYS/other', false],
    [alice, '$share/group/a/y/b', true],
  ];
  for (const [who, filter, expected] of cases) {
    assert.equal(acl.canEverRead(who, filter), expected, `${who.username ?? '(anonymous)'} ${filter}`);
  }
});

test('canEverRead sees through a union of denies that only together cover a filter', () => {
  const acl = rules('topic read #\ntopic deny a\ntopic deny a/+/#\n');
  assert.equal(acl.canEverRead(anon, 'a/#'), false);
  assert.equal(acl.canEverRead(anon, 'b/#'), true);
});

// ---- property tests -------------------------------------------------------------------

/** Reference matcher, written independently of TopicFilter: recursive over levels. */
function refMatches(filter: string[], topic: string[]): boolean {
  if (topic.length > 0 && topic[0].startsWith('$') && (filter[0] === '+' || filter[0] === '#')) return false;
  const go = (f: number, t: number): boolean => {
    if (f === filter.length) return t === topic.length;
    if (filter[f] === '#') return true;
    if (t === topic.length) return false;
    return (filter[f] === '+' || filter[f] === topic[t]) && go(f + 1, t + 1);
  };
  return go(0, 0);
}

const LEVELS = ['a', 'b', '$SYS', ''];
const literal = fc.constantFrom(...LEVELS);
const topicArb = fc.array(literal, { minLength: 1, maxLength: 4 });
const filterArb = fc
  .tuple(fc.array(fc.oneof(literal, fc.constant('+')), { minLength: 0, maxLength: 2 }), fc.boolean())
  .filter(([levels, hash]) => levels.length > 0 || hash)
  .map(([levels, hash]) => (hash ? [...levels, '#'] : levels));

const identityArb = fc.record(
  {
    // Drawn from the level alphabet, so substituted patterns stay within it.
    clientId: fc.constantFrom('a', 'b', 'x+'),
    username: fc.constantFrom('a', 'b', 'u#'),
  },
  { requiredKeys: ['clientId'] },
);

const ruleLine = fc
  .tuple(
    fc.constantFrom('topic', 'pattern'),
    fc.constantFrom('read', 'write', 'readwrite', 'deny', ''),
    filterArb,
    fc.constantFrom('', '%u', '%c'),
  )
  .map(([kw, access, filter, subst]) => {
    const levels = kw === 'pattern' && subst && filter[0] !== '#' ? [subst, ...filter] : filter;
    // A filter that is one empty level would vanish from the line (and "topic read" alone is the topic "read").
    const topic = levels.join('/') || 'a';
    return `${kw} ${access ? access + ' ' : ''}${topic}`;
  });
const aclArb = fc
  .array(fc.oneof({ weight: 5, arbitrary: ruleLine }, { weight: 1, arbitrary: fc.constantFrom('user a', 'user b', 'user u#') }), {
    maxLength: 10,
  })
  .map((lines) => lines.join('\n'));

test('property: topicMatches agrees with a reference matcher', () => {
  fc.assert(
    fc.property(filterArb, topicArb, (filter, topic) => {
      assert.equal(topicMatches(filter, topic.join('/')), refMatches(filter, topic));
    }),
    { numRuns: 2000 },
  );
});

test('property: intersectFilters matches exactly the topics both filters match', () => {
  const probe = [...LEVELS, 'z'];
  fc.assert(
    fc.property(filterArb, filterArb, fc.array(fc.constantFrom(...probe), { minLength: 1, maxLength: 5 }), (f, g, topic) => {
      const both = refMatches(f, topic) && refMatches(g, topic);
      const meet = intersectFilters(f, g);
      assert.equal(meet !== undefined && refMatches(meet, topic), both, `${f.join('/')} ∩ ${g.join('/')} on ${topic.join('/')}`);
    }),
    { numRuns: 3000 },
  );
});

/**
 * Every topic the filter matches over the rule alphabet plus one level no rule names,
 * up to a depth past the deepest rule (3 filter levels + 1 substituted).
 */
const SYMBOLS = [...LEVELS, 'fresh'];
function topicsMatching(filter: string[], depth: number): string[][] {
  let partial: string[][] = [[]];
  const out: string[][] = [];
  for (const level of filter) {
    if (level === '#') {
      let layer = partial;
      out.push(...layer.filter((t) => t.length > 0));
      for (let d = partial[0].length; d < depth; d++) {
        layer = layer.flatMap((t) => SYMBOLS.map((s) => [...t, s]));
        out.push(...layer);
      }
      return out.filter((t) => refMatches(filter, t));
    }
    partial = partial.flatMap((t) => (level === '+' ? SYMBOLS : [level]).map((s) => [...t, s]));
  }
  return partial.filter((t) => refMatches(filter, t));
}

test('property: canEverRead(filter) is true exactly when some topic the filter matches is readable', () => {
  fc.assert(
    fc.property(aclArb, identityArb, filterArb, (text, who, filter) => {
      const { rules: acl } = AclRules.parse(text, 'acl');
      const filterText = filter.join('/');
      const readable = topicsMatching(filter, 5).find((t) => acl.check(who, t.join('/'), 'read'));
      assert.equal(acl.canEverRead(who, filterText), readable !== undefined, `${JSON.stringify(text)} ${JSON.stringify(who)} ${filterText} ${readable?.join('/')}`);
    }),
    { numRuns: 300 },
  );
});

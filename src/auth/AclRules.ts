/**
 * mosquitto's acl_file, with mosquitto 2.0's semantics (security_default.c):
 *
 *   topic [read|write|readwrite|deny] <filter>   a rule; no access word means readwrite
 *   user <username>                             following `topic` lines are this user's
 *   pattern [read|write|readwrite|deny] <filter> a rule for every client; %c = client id,
 *                                               %u = username (skipped for anonymous clients)
 *
 * `topic` lines before the first `user` line are the anonymous clients' rules. A check
 * walks the client's own rules (its user block, or the anonymous block), denies first,
 * then the patterns, denies first; the first rule that matches the topic and is a deny
 * refuses, the first that matches and carries the access grants; nothing matching refuses.
 * Patterns never apply to a client whose username or client id contains `+` or `#` (it
 * could otherwise reach other clients' topics), and that client is refused once the own
 * rules did not grant. mqttd treats `/` the same: with `pattern readwrite clients/%c/#`
 * the client id `victim/inbox` would otherwise own `clients/victim/inbox/#`. The option
 * `acl_pattern_allow_slash` substitutes it as mosquitto 2.0.11 does.
 *
 * Where mqttd differs (see docs/security.md): a bad line is reported and skipped instead
 * of refusing to start, and a rule with an unknown access word is applied as `deny` so a
 * typo never grants more than was meant.
 */
import { promises as fs } from 'node:fs';
import { FileError } from '../config/FileError';
import type { ClientIdentity } from './Security';
import { checkFilter, filterLevels, intersectFilters, topicMatches } from './TopicFilter';

export type AclAccess = 'read' | 'write';

const READ = 1;
const WRITE = 2;
const DENY = 0;

interface Rule {
  levels: string[];
  /** READ, WRITE, READ|WRITE, or DENY. */
  access: number;
}

interface PatternRule {
  template: string;
  access: number;
  usesUsername: boolean;
}

/** One client's rules, patterns already substituted: what check() walks. */
interface ClientRules {
  clientId: string;
  username: string | undefined;
  /** In evaluation order: own denies, own grants, then (when they apply) pattern denies, pattern grants. */
  rules: Rule[];
  /** How many of `rules` are the client's own (user or anonymous block). */
  ownCount: number;
  /** For canEverRead: the own denies, and every deny, as trees; the longest deny's length. */
  ownDenies?: FilterTree;
  allDenies?: FilterTree;
  denyDepth?: number;
}

export interface AclOptions {
  /** Substitute a client id or username containing `/` into patterns, as mosquitto does. */
  patternAllowSlash?: boolean;
}

export interface AclParseResult {
  rules: AclRules;
  errors: FileError[];
}

export class AclRules {
  private readonly cache = new WeakMap<ClientIdentity, ClientRules>();

  private constructor(
    private readonly anonymous: Rule[],
    private readonly users: Map<string, Rule[]>,
    private readonly patterns: PatternRule[],
    private readonly unsafeInPattern: RegExp,
  ) {}

  static parse(text: string, path: string, options: AclOptions = {}): AclParseResult {
    const errors: FileError[] = [];
    const anonymous: Rule[] = [];
    const users = new Map<string, Rule[]>();
    const patterns: PatternRule[] = [];
    // The block `topic` lines go to; null after a broken `user` line (its rules are dropped).
    let block: Rule[] | null = anonymous;
    let brokenUserLine = 0;

    text.split('\n').forEach((raw, i) => {
      const lineNo = i + 1;
      const line = raw.replace(/[ \t\r\n\v\f]+$/, '');
      const body = line.replace(/^[ \t]+/, '');
      if (body === '' || body.startsWith('#')) return;
      const keyword = firstWord(body);
      const afterKeyword = body.slice(keyword.length).replace(/^[ \t]+/, '');

      if (keyword === 'user') {
        if (afterKeyword === '') {
          errors.push(new FileError(path, lineNo, '"user" needs a username; the rules that follow are ignored until the next "user" line'));
          block = null;
          brokenUserLine = lineNo;
          return;
        }
        let rules = users.get(afterKeyword);
        if (!rules) users.set(afterKeyword, (rules = []));
        block = rules;
        return;
      }
      if (keyword !== 'topic' && keyword !== 'pattern') {
        errors.push(new FileError(path, lineNo, `unknown keyword "${keyword}" (expected topic, pattern or user; line ignored)`));
        return;
      }
      if (afterKeyword === '') {
        errors.push(new FileError(path, lineNo, `"${keyword}" needs a topic filter (line ignored)`));
        return;
      }
      // mosquitto: with one word after the keyword, that word is the topic (readwrite).
      const second = firstWord(afterKeyword);
      const afterSecond = afterKeyword.slice(second.length).replace(/^[ \t]+/, '');
      let access: number;
      let topic: string;
      if (afterSecond === '') {
        access = READ | WRITE;
        topic = second;
      } else {
        topic = afterSecond;
        const known = ACCESS_WORDS.get(second);
        if (known === undefined) {
          errors.push(new FileError(path, lineNo, `unknown access "${second}" (expected read, write, readwrite or deny); applied as deny`));
          access = DENY;
        } else access = known;
      }
      const problem = checkFilter(topic);
      if (problem) {
        errors.push(new FileError(path, lineNo, `invalid topic filter: ${problem} (line ignored)`));
        return;
      }
      if (keyword === 'pattern') {
        patterns.push({ template: topic, access, usesUsername: topic.includes('%u') });
        return;
      }
      if (block === null) {
        errors.push(new FileError(path, lineNo, `rule follows the invalid "user" line ${brokenUserLine} (line ignored)`));
        return;
      }
      block.push({ levels: filterLevels(topic), access });
    });
    const unsafe = options.patternAllowSlash ? /[+#]/ : /[+#/]/;
    return { rules: new AclRules(denyFirst(anonymous), mapValues(users, denyFirst), denyFirstPatterns(patterns), unsafe), errors };
  }

  /** Reads and parses a file. An unreadable file rejects with a FileError (no line). */
  static async load(path: string, options: AclOptions = {}): Promise<AclParseResult> {
    let text: string;
    try {
      text = await fs.readFile(path, 'utf8');
    } catch (err) {
      throw new FileError(path, undefined, `cannot read ACL file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    return AclRules.parse(text, path, options);
  }

  /** May this client read (receive) or write (publish) this topic name? */
  check(identity: ClientIdentity, topic: string, access: AclAccess): boolean {
    const want = access === 'read' ? READ : WRITE;
    const rules = this.rulesFor(identity).rules;
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i];
      if (rule.access !== DENY && (rule.access & want) === 0) continue;
      if (topicMatches(rule.levels, topic)) return rule.access !== DENY;
    }
    return false;
  }

  /**
   * Could any topic matching this filter ever be read by the client? Exact, not a guess:
   * for each read grant, the topics the filter shares with it are probed with one
   * representative topic per length, whose wildcard levels hold a string no rule names.
   * A deny matching that representative matches every topic of that length in the shared
   * set, so if every representative is denied, no topic there is readable.
   *
   * A representative of a grant is readable unless a deny checked before that grant matches
   * it: own denies for own grants; for pattern grants every deny (a representative an own
   * grant also matches was found readable in the own pass already). Lengths beyond the
   * longest deny behave alike, so they are probed once. Denies are matched as a tree, so
   * a filter costs (read grants × deny depth × topic depth), not rules² × depth.
   */
  canEverRead(identity: ClientIdentity, filter: string): boolean {
    const levels = filterLevels(stripShare(filter));
    const compiled = this.rulesFor(identity);
    const rules = compiled.rules;
    if (compiled.allDenies === undefined) compileDenies(compiled);
    const fresh: Level = FRESH_LEVEL;
    const maxDepth = Math.max(levels.length, compiled.denyDepth!) + 1;
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i];
      if ((rule.access & READ) === 0) continue;
      const shared = intersectFilters(levels, rule.levels);
      if (shared === undefined) continue;
      const denies = i < compiled.ownCount ? compiled.ownDenies! : compiled.allDenies!;
      if (someRepresentative(shared, fresh, maxDepth, (topic) => !denies.matches(topic))) return true;
    }
    return false;
  }

  private rulesFor(identity: ClientIdentity): ClientRules {
    const cached = this.cache.get(identity);
    if (cached && cached.clientId === identity.clientId && cached.username === identity.username) return cached;
    const own = identity.username === undefined ? this.anonymous : (this.users.get(identity.username) ?? []);
    const rules = own.slice();
    const unsafe = this.unsafeInPattern;
    if (this.patterns.length > 0 && !unsafe.test(identity.username ?? '') && !unsafe.test(identity.clientId)) {
      for (const p of this.patterns) {
        if (p.usesUsername && identity.username === undefined) continue;
        rules.push({ levels: filterLevels(substitute(p.template, identity)), access: p.access });
      }
    }
    const compiled: ClientRules = { clientId: identity.clientId, username: identity.username, rules, ownCount: own.length };
    this.cache.set(identity, compiled);
    return compiled;
  }
}

const ACCESS_WORDS = new Map<string, number>([
  ['read', READ],
  ['write', WRITE],
  ['readwrite', READ | WRITE],
  ['deny', DENY],
]);

function firstWord(s: string): string {
  const m = /^[^ \t]+/.exec(s);
  return m ? m[0] : '';
}

/** mosquitto puts each deny at the front of its list, so denies are always checked first. */
function denyFirst(rules: Rule[]): Rule[] {
  return [...rules.filter((r) => r.access === DENY), ...rules.filter((r) => r.access !== DENY)];
}

function denyFirstPatterns(rules: PatternRule[]): PatternRule[] {
  return [...rules.filter((r) => r.access === DENY), ...rules.filter((r) => r.access !== DENY)];
}

function mapValues<K, V>(map: Map<K, V>, f: (v: V) => V): Map<K, V> {
  const out = new Map<K, V>();
  for (const [k, v] of map) out.set(k, f(v));
  return out;
}

/** %c and %u replaced as mosquitto does; any other %x stays as written. */
function substitute(template: string, identity: ClientIdentity): string {
  return template.replace(/%([cu])/g, (whole, which: string) => {
    if (which === 'c') return identity.clientId;
    return identity.username ?? whole;
  });
}

/** `$share/<group>/<filter>` is read through as `<filter>` (MQTT 5 shared subscriptions). */
function stripShare(filter: string): string {
  if (!filter.startsWith('$share/')) return filter;
  const slash = filter.indexOf('/', 7);
  return slash < 0 ? filter : filter.slice(slash + 1);
}

/**
 * A topic level that equals no literal of any rule, so only wildcards match it: the tree
 * compares levels by identity of this object first (see FilterTree.matches), which no
 * string read from a file or a client can be.
 */
const FRESH_LEVEL: unique symbol = Symbol('any other level');
type Level = string | typeof FRESH_LEVEL;

/**
 * Calls `test` with one topic (as levels) per possible length of the filter, wildcard
 * levels filled with `fresh`, until it returns true.
 */
function someRepresentative(filter: readonly string[], fresh: Level, maxDepth: number, test: (topic: readonly Level[]) => boolean): boolean {
  const multi = filter[filter.length - 1] === '#';
  const levels: Level[] = (multi ? filter.slice(0, -1) : filter).map((l) => (l === '+' ? fresh : l));
  if (!multi) return test(levels);
  if (levels.length > 0 && test(levels)) return true;
  const longest = Math.max(maxDepth, levels.length + 1);
  while (levels.length < longest) {
    levels.push(fresh);
    if (test(levels)) return true;
  }
  return false;
}

/**
 * Deny filters as a tree of levels: does any match a topic? Costs the topic's depth times
 * the wildcard branches, not the number of filters. Semantics of TopicFilter.topicMatches:
 * `+` is one level, `#` any number including none, no first-level wildcard matches `$`.
 */
class FilterTree {
  private children: Map<string, FilterTree> | undefined;
  private ends = false;
  private multi = false;

  add(levels: readonly string[], i = 0): void {
    if (i === levels.length) {
      this.ends = true;
      return;
    }
    if (levels[i] === '#') {
      this.multi = true;
      return;
    }
    const children = (this.children ??= new Map());
    let child = children.get(levels[i]);
    if (child === undefined) children.set(levels[i], (child = new FilterTree()));
    child.add(levels, i + 1);
  }

  matches(topic: readonly Level[], i = 0): boolean {
    const level = topic[i];
    const dollar = i === 0 && typeof level === 'string' && level.charCodeAt(0) === 0x24;
    if (this.multi && !dollar) return true;
    if (i === topic.length) return this.ends;
    if (this.children === undefined) return false;
    if (typeof level === 'string') {
      const exact = this.children.get(level);
      if (exact !== undefined && exact.matches(topic, i + 1)) return true;
    }
    const plus = dollar ? undefined : this.children.get('+');
    return plus !== undefined && plus.matches(topic, i + 1);
  }
}

/** Builds the deny trees canEverRead uses, once per compiled client. */
function compileDenies(compiled: ClientRules): void {
  const own = new FilterTree();
  const all = new FilterTree();
  let depth = 0;
  compiled.rules.forEach((rule, i) => {
    if (rule.access !== DENY) return;
    if (i < compiled.ownCount) own.add(rule.levels);
    all.add(rule.levels);
    depth = Math.max(depth, rule.levels.length);
  });
  compiled.ownDenies = own;
  compiled.allDenies = all;
  compiled.denyDepth = depth;
}

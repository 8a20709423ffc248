/**
 * Topic filters as the ACL uses them: validating a filter, matching a topic name against
 * one (mosquitto_topic_matches_sub), and intersecting two filters.
 *
 * A filter is kept as its levels (split on '/'), so matching walks the topic string
 * without allocating: it runs on every delivery.
 */

const DOLLAR = 0x24;

/** Why a filter is invalid, or undefined. `+` and `#` must fill a level; `#` must be last. */
export function checkFilter(filter: string): string | undefined {
  if (filter.length === 0) return 'empty topic filter';
  if (filter.length > 65535) return 'topic filter longer than 65535 characters';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i];
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return '"#" must be a whole level and the last one';
    if (level.includes('+') && level !== '+') return '"+" must be a whole level';
  }
  return undefined;
}

export function filterLevels(filter: string): string[] {
  return filter.split('/');
}

/**
 * Does the topic name match the filter? As MQTT 4.7 says: `+` is one level (possibly
 * empty), `#` is any number of levels including none (`a/#` matches `a`), and a topic
 * starting with `$` is never matched by a wildcard in the first level [MQTT-4.7.2-1].
 */
export function topicMatches(filter: readonly string[], topic: string): boolean {
  const n = topic.length;
  if (n > 0 && topic.charCodeAt(0) === DOLLAR && (filter[0] === '+' || filter[0] === '#')) return false;
  let pos = 0; // start of the next topic level; n + 1 once every level has been consumed
  for (let i = 0; i < filter.length; i++) {
    const f = filter[i];
    if (f === '#') return true;
    if (pos > n) return false;
    let end = topic.indexOf('/', pos);
    if (end < 0) end = n;
    if (f !== '+' && (end - pos !== f.length || !topic.startsWith(f, pos))) return false;
    pos = end + 1;
  }
  return pos > n;
}

/** True when the topic name has no wildcard characters (what PUBLISH may carry). */
export function isTopicName(topic: string): boolean {
  return topic.length > 0 && !topic.includes('+') && !topic.includes('#');
}

/**
 * The filter matching exactly the topics both filters match, or undefined when no topic
 * matches both. MQTT filters are closed under intersection, level by level.
 */
export function intersectFilters(a: readonly string[], b: readonly string[]): string[] | undefined {
  const out: string[] = [];
  for (let i = 0; ; i++) {
    const x = a[i];
    const y = b[i];
    if (x === '#') return rest(out, b, i);
    if (y === '#') return rest(out, a, i);
    if (x === undefined || y === undefined) return x === y ? out : undefined;
    if (x === '+' && y === '+') out.push('+');
    else if (x === '+' || y === '+') {
      const literal = x === '+' ? y : x;
      if (i === 0 && literal.charCodeAt(0) === DOLLAR) return undefined;
      out.push(literal);
    } else if (x === y) out.push(x);
    else return undefined;
  }
}

/** `#` at level i meets the other filter's remaining levels (or nothing: `a/#` matches `a`). */
function rest(out: string[], other: readonly string[], i: number): string[] | undefined {
  if (i === 0 && other.length > 0 && other[0].charCodeAt(0) === DOLLAR) return undefined;
  for (let j = i; j < other.length; j++) out.push(other[j]);
  return out;
}

/**
 * Topic names and filters: validation and matching, per MQTT 3.1.1 §4.7 / MQTT 5 §4.7.
 */

/** Topic names and filters are UTF-8 strings of at most 65535 bytes [MQTT-4.7.3-3]. */
const MAX_TOPIC_BYTES = 65535;

/**
 * At most 200 `/` in a topic or filter, as mosquitto's TOPIC_HIERARCHY_LIMIT. Matching
 * recurses once per level of the subscription tree: without a bound one client could
 * subscribe 30,000 levels deep, publish there, and overflow the stack.
 */
const MAX_TOPIC_SEPARATORS = 200;

/**
 * A PUBLISH topic name: non-empty, no wildcards [MQTT-3.3.2-2], no NUL [MQTT-1.5.3-2],
 * at most MAX_TOPIC_SEPARATORS levels deep.
 * U+FFFD stands for bytes that were not valid UTF-8 when the packet was decoded
 * [MQTT-1.5.3-1]; such a topic is refused as malformed.
 */
export function isValidTopicName(topic: string): boolean {
  if (topic.length === 0 || topic.length > MAX_TOPIC_BYTES) return false;
  let separators = 0;
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i);
    if (c === 0x23 /* # */ || c === 0x2b /* + */ || c === 0 || c === 0xfffd) return false;
    if (c === 0x2f /* / */ && ++separators > MAX_TOPIC_SEPARATORS) return false;
  }
  return Buffer.byteLength(topic) <= MAX_TOPIC_BYTES;
}

/**
 * A SUBSCRIBE/UNSUBSCRIBE filter: `#` only as the whole last level, `+` only as a
 * whole level [MQTT-4.7.1-2, MQTT-4.7.1-3].
 */
export function isValidTopicFilter(filter: string): boolean {
  if (filter.length === 0 || filter.length > MAX_TOPIC_BYTES) return false;
  let separators = 0;
  for (let i = 0; i < filter.length; i++) {
    const c = filter.charCodeAt(i);
    if (c === 0 || c === 0xfffd) return false;
    if (c === 0x2f /* / */) {
      if (++separators > MAX_TOPIC_SEPARATORS) return false;
    } else if (c === 0x2b /* + */) {
      if ((i > 0 && filter.charCodeAt(i - 1) !== 0x2f) || (i + 1 < filter.length && filter.charCodeAt(i + 1) !== 0x2f)) {
        return false;
      }
    } else if (c === 0x23 /* # */) {
      if (i !== filter.length - 1 || (i > 0 && filter.charCodeAt(i - 1) !== 0x2f)) return false;
    }
  }
  return Buffer.byteLength(filter) <= MAX_TOPIC_BYTES;
}

export interface SharedFilter {
  group: string;
  filter: string;
}

/**
 * `$share/<group>/<filter>` (MQTT 5 §4.8.2). Returns undefined for an ordinary filter and
 * null for a malformed shared one (empty or wildcard group, missing filter).
 */
export function parseSharedFilter(filter: string): SharedFilter | null | undefined {
  if (!filter.startsWith('$share/')) return undefined;
  const slash = filter.indexOf('/', 7);
  if (slash <= 7) return null;
  const group = filter.slice(7, slash);
  const rest = filter.slice(slash + 1);
  if (group.includes('+') || group.includes('#') || !isValidTopicFilter(rest)) return null;
  return { group, filter: rest };
}

/**
 * Does `filter` match `topic`? Wildcards at the first level do not match `$` topics
 * [MQTT-4.7.2-1]. `a/#` also matches `a` [MQTT-4.7.1-2].
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.charCodeAt(0) === 0x24 /* $ */ && (filter.charCodeAt(0) === 0x2b || filter.charCodeAt(0) === 0x23)) {
    return false;
  }
  let f = 0;
  let t = 0;
  const fl = filter.length;
  const tl = topic.length;
  while (f < fl) {
    const c = filter.charCodeAt(f);
    if (c === 0x23 /* # */) return true;
    if (c === 0x2b /* + */) {
      while (t < tl && topic.charCodeAt(t) !== 0x2f) t++;
      f++;
    } else {
      // Compare one literal level.
      while (f < fl && filter.charCodeAt(f) !== 0x2f) {
        if (t >= tl || topic.charCodeAt(t) !== filter.charCodeAt(f)) return false;
        f++;
        t++;
      }
      if (t < tl && topic.charCodeAt(t) !== 0x2f) return false;
    }
    // Both at a level separator or at the end.
    if (f < fl) {
      // filter has '/' at f
      if (t >= tl) {
        // `a/#` matches `a`: only when what remains of the filter is exactly "/#".
        return f + 2 === fl && filter.charCodeAt(f + 1) === 0x23;
      }
      f++;
      t++;
      if (f === fl) return t === tl; // filter ended with '/', topic must too
    } else {
      return t >= tl;
    }
  }
  return t >= tl;
}

/**
 * `$SYS/broker/connection/<client id>/state`: the one `$SYS` topic a client may publish to,
 * because a bridge from another broker sets it as its will (as mosquitto allows).
 */
export function isBridgeStateTopic(topic: string): boolean {
  if (!topic.startsWith('$SYS/broker/connection/') || !topic.endsWith('/state')) return false;
  const id = topic.slice(23, -6);
  return id.length > 0 && !id.includes('/');
}

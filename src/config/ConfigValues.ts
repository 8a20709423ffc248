/**
 * Checks for the values of config options. Each returns the value or a reason that reads well
 * after the option's name ("expected true or false, got 'yes'"), so the UCI reader can reuse them.
 *
 * mqttd is stricter than mosquitto here on purpose: mosquitto reads numbers with atoi(), so
 * `max_queued_bytes 10k` silently means 10 and `sys_interval ten` means 0. mqttd refuses both.
 */

export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };

function ok<T>(value: T): Checked<T> {
  return { ok: true, value };
}

function bad<T>(reason: string): Checked<T> {
  return { ok: false, reason };
}

/** Quotes a value for an error message, keeping control characters visible. */
export function quote(text: string): string {
  return `'${JSON.stringify(text).slice(1, -1).replace(/'/g, "\\'")}'`;
}

/** mosquitto's conf__parse_bool: true/false, and 1/0 as it also accepts. */
export function checkBool(text: string): Checked<boolean> {
  if (text === 'true' || text === '1') return ok(true);
  if (text === 'false' || text === '0') return ok(false);
  return bad(`expected true or false, got ${quote(text)}`);
}

const INTEGER = /^[+-]?\d+$/;

/** A whole number in [min, max]; `rangeText` replaces the default "from min to max" wording. */
export function checkInteger(text: string, min: number, max: number, rangeText?: string): Checked<number> {
  const range = rangeText ?? `from ${min} to ${max}`;
  if (!INTEGER.test(text)) return bad(`expected a whole number ${range}, got ${quote(text)}`);
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    return bad(`expected a whole number ${range}, got ${quote(text)}`);
  }
  return ok(value === 0 ? 0 : value); // no -0
}

export function checkPort(text: string): Checked<number> {
  return checkInteger(text, 1, 65535, 'from 1 to 65535 (a TCP port)');
}

/** One of a fixed set of words. */
export function checkChoice<T extends string>(text: string, choices: readonly T[]): Checked<T> {
  const found = choices.find((c) => c === text);
  if (found !== undefined) return ok(found);
  return bad(`expected ${describeChoices(choices)}, got ${quote(text)}`);
}

export function describeChoices(choices: readonly string[]): string {
  if (choices.length === 1) return choices[0];
  return `${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1]}`;
}

const DURATION_UNITS: Record<string, number> = {
  h: 3600,
  d: 86400,
  w: 86400 * 7,
  m: 86400 * 30,
  y: 86400 * 365,
};

/**
 * `persistent_client_expiration`: a count with mosquitto's unit letter (h, d, w, m = 30 days,
 * y = 365 days), in seconds. mosquitto requires the unit and a count above zero.
 */
export function checkExpiration(text: string): Checked<number> {
  const match = /^(\d+)([hdwmy])$/.exec(text);
  const expected = `expected a duration such as 12h, 7d, 2w, 1m or 1y, got ${quote(text)}`;
  if (!match) return bad(expected);
  const seconds = Number(match[1]) * DURATION_UNITS[match[2]];
  if (seconds <= 0 || !Number.isSafeInteger(seconds)) return bad(expected);
  return ok(seconds);
}

/** A topic a client could publish to: no wildcards, not empty, no NUL (mosquitto_pub_topic_check). */
export function checkPublishTopic(text: string): Checked<string> {
  if (text.length === 0) return bad('expected a topic, got an empty one');
  if (/[+#\u0000]/.test(text)) return bad(`expected a topic without the wildcards + and #, got ${quote(text)}`);
  if (Buffer.byteLength(text) > 65535) return bad('topic is longer than 65535 bytes');
  return ok(text);
}

/** A subscription filter: + alone in its level, # alone and last [MQTT-4.7.1-1], [MQTT-4.7.1-2]. */
export function checkTopicFilter(text: string): Checked<string> {
  if (text.length === 0) return bad('expected a topic filter, got an empty one');
  if (text.includes('\u0000')) return bad(`expected a topic filter, got ${quote(text)}`);
  if (Buffer.byteLength(text) > 65535) return bad('topic filter is longer than 65535 bytes');
  const levels = text.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i];
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) {
      return bad(`'#' must be a whole level and the last one, got ${quote(text)}`);
    }
    if (level.includes('+') && level !== '+') {
      return bad(`'+' must be a whole level, got ${quote(text)}`);
    }
  }
  return ok(text);
}

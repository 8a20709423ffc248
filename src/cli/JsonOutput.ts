/**
 * JSON as mosquitto_sub's %j/%J print it (cJSON): key order kept as received, cJSON's number
 * and string rules, and cJSON_Print's tab layout for --pretty. JSON.parse is not used
 * because it reorders integer-like keys and drops duplicates.
 */

export type JsonValue =
  | { t: 'null' }
  | { t: 'bool'; v: boolean }
  | { t: 'num'; v: number }
  | { t: 'str'; v: string }
  | { t: 'arr'; v: JsonValue[] }
  | { t: 'obj'; v: Array<[string, JsonValue]> }
  /** Already-encoded text, written as is. */
  | { t: 'raw'; v: string };

export const jsonNull: JsonValue = { t: 'null' };
export const jsonNum = (v: number): JsonValue => ({ t: 'num', v });
export const jsonStr = (v: string): JsonValue => ({ t: 'str', v });

/** cJSON_Print (pretty) or cJSON_PrintUnformatted. */
export function printJson(value: JsonValue, pretty: boolean): string {
  return print(value, pretty, 0);
}

function print(value: JsonValue, pretty: boolean, depth: number): string {
  switch (value.t) {
    case 'null':
      return 'null';
    case 'bool':
      return value.v ? 'true' : 'false';
    case 'num':
      return printNumber(value.v);
    case 'str':
      return printString(value.v);
    case 'raw':
      return value.v;
    case 'arr':
      // cJSON counts an array as a level, so objects inside one indent a step further.
      return '[' + value.v.map((item) => print(item, pretty, depth + 1)).join(pretty ? ', ' : ',') + ']';
    case 'obj': {
      if (!pretty) return '{' + value.v.map(([k, v]) => printString(k) + ':' + print(v, false, depth + 1)).join(',') + '}';
      const inner = '\t'.repeat(depth + 1);
      let out = '{\n';
      value.v.forEach(([k, v], i) => {
        out += inner + printString(k) + ':\t' + print(v, true, depth + 1) + (i < value.v.length - 1 ? ',' : '') + '\n';
      });
      return out + '\t'.repeat(depth) + '}';
    }
  }
}

/** cJSON: integers as %d, other numbers as %1.15g (or %1.17g when 15 digits do not round-trip). */
function printNumber(d: number): string {
  if (!Number.isFinite(d)) return 'null';
  if (Number.isInteger(d) && d >= -2147483648 && d <= 2147483647) return String(d);
  let text = cFormatG(d, 15);
  if (Number(text) !== d) text = cFormatG(d, 17);
  return text;
}

/** printf's %.{precision}g. */
function cFormatG(d: number, precision: number): string {
  if (d === 0) return '0';
  const exp = Math.floor(Math.log10(Math.abs(d)));
  const [mantissa, e] = d.toExponential(precision - 1).split('e') as [string, string];
  const realExp = Number(e);
  if (realExp < -4 || realExp >= precision) {
    const m = stripZeros(mantissa);
    return `${m}e${realExp < 0 ? '-' : '+'}${String(Math.abs(realExp)).padStart(2, '0')}`;
  }
  void exp;
  return stripZeros(d.toFixed(Math.max(0, precision - 1 - realExp)));
}

function stripZeros(s: string): string {
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

/** cJSON's escaping: short escapes, \u00XX for other control bytes, everything else raw. */
export function printString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (c === 8) out += '\\b';
    else if (c === 12) out += '\\f';
    else if (c === 10) out += '\\n';
    else if (c === 13) out += '\\r';
    else if (c === 9) out += '\\t';
    else if (c < 32) out += '\\u' + c.toString(16).padStart(4, '0');
    else out += ch;
  }
  return out + '"';
}

/** Parses a whole JSON text (surrounding whitespace allowed); undefined when it is not valid JSON. */
export function parseJson(text: string): JsonValue | undefined {
  const p = { s: text, i: 0 };
  skipWs(p);
  const value = parseValue(p, 0);
  if (value === undefined) return undefined;
  skipWs(p);
  return p.i === text.length ? value : undefined;
}

interface Cursor {
  s: string;
  i: number;
}

function skipWs(p: Cursor): void {
  while (p.i < p.s.length && p.s.charCodeAt(p.i) <= 32) p.i++;
}

function parseValue(p: Cursor, depth: number): JsonValue | undefined {
  if (depth > 1000) return undefined;
  const c = p.s[p.i];
  if (p.s.startsWith('null', p.i)) return (p.i += 4), jsonNull;
  if (p.s.startsWith('true', p.i)) return (p.i += 4), { t: 'bool', v: true };
  if (p.s.startsWith('false', p.i)) return (p.i += 5), { t: 'bool', v: false };
  if (c === '"') {
    const s = parseString(p);
    return s === undefined ? undefined : jsonStr(s);
  }
  if (c === '[') {
    p.i++;
    const items: JsonValue[] = [];
    skipWs(p);
    if (p.s[p.i] === ']') return p.i++, { t: 'arr', v: items };
    for (;;) {
      skipWs(p);
      const item = parseValue(p, depth + 1);
      if (item === undefined) return undefined;
      items.push(item);
      skipWs(p);
      if (p.s[p.i] === ',') p.i++;
      else if (p.s[p.i] === ']') return p.i++, { t: 'arr', v: items };
      else return undefined;
    }
  }
  if (c === '{') {
    p.i++;
    const members: Array<[string, JsonValue]> = [];
    skipWs(p);
    if (p.s[p.i] === '}') return p.i++, { t: 'obj', v: members };
    for (;;) {
      skipWs(p);
      if (p.s[p.i] !== '"') return undefined;
      const key = parseString(p);
      if (key === undefined) return undefined;
      skipWs(p);
      if (p.s[p.i] !== ':') return undefined;
      p.i++;
      skipWs(p);
      const v = parseValue(p, depth + 1);
      if (v === undefined) return undefined;
      members.push([key, v]);
      skipWs(p);
      if (p.s[p.i] === ',') p.i++;
      else if (p.s[p.i] === '}') return p.i++, { t: 'obj', v: members };
      else return undefined;
    }
  }
  const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(p.s.slice(p.i, p.i + 400));
  if (!m || m[0] === '-') return undefined;
  p.i += m[0].length;
  return jsonNum(Number(m[0]));
}

function parseString(p: Cursor): string | undefined {
  p.i++;
  let out = '';
  while (p.i < p.s.length) {
    const ch = p.s[p.i++] as string;
    if (ch === '"') return out;
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const e = p.s[p.i++];
    switch (e) {
      case '"':
      case '\\':
      case '/':
        out += e;
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        const hex = p.s.slice(p.i, p.i + 4);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) return undefined;
        out += String.fromCharCode(Number.parseInt(hex, 16));
        p.i += 4;
        break;
      }
      default:
        return undefined;
    }
  }
  return undefined;
}

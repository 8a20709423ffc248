/**
 * How mqttd_sub prints a message: payload only, `topic payload` with -v, or the -F format
 * language of mosquitto_sub 2.0 (sub_client_output.c), byte for byte.
 */
import type { Message, PublishProperties } from '../client/MqttClient';
import { jsonNull, jsonNum, jsonStr, parseJson, printJson, type JsonValue } from './JsonOutput';
import { strftime, type Instant } from './Strftime';

/** What print needs from the command line. */
export interface OutputOptions {
  format?: string;
  verbose: boolean;
  eol: boolean;
  pretty: boolean;
}

/** What printing one message produced: bytes for stdout, and an error line for stderr. */
export interface Printed {
  out: Buffer;
  error?: string;
}

const FORMAT_LETTERS = new Set('%ACDEFIlmPpqRSrtjJUxX'.split(''));
const ESCAPES: Record<string, string> = { '\\': '\\', '0': '\0', a: '\x07', e: '\x1b', n: '\n', r: '\r', t: '\t', v: '\v' };

/** mosquitto's check_format: the error text, or undefined when the format is usable. */
export function checkFormat(format: string): string | undefined {
  const len = format.length;
  const incomplete = 'Error: Incomplete format specifier.\n';
  for (let i = 0; i < len; i++) {
    const c = format[i];
    if (c === '%') {
      if (i === len - 1) return incomplete;
      if (format[i + 1] === '0' || format[i + 1] === '-') {
        i++;
        if (i === len - 1) return incomplete;
      }
      while (isDigit(format[i + 1])) {
        i++;
        if (i === len - 1) return incomplete;
      }
      if (format[i + 1] === '.') {
        i++;
        if (i === len - 1) return incomplete;
        while (isDigit(format[i + 1])) {
          i++;
          if (i === len - 1) return incomplete;
        }
      }
      const letter = format[i + 1] as string;
      if (!FORMAT_LETTERS.has(letter)) return `Error: Invalid format specifier '${letter}'.\n`;
      i++;
    } else if (c === '@') {
      if (i === len - 1) return incomplete;
      i++;
    } else if (c === '\\') {
      if (i === len - 1) return 'Error: Incomplete escape specifier.\n';
      const e = format[i + 1] as string;
      if (!(e in ESCAPES)) return `Error: Invalid escape specifier '${e}'.\n`;
      i++;
    }
  }
  return undefined;
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

/** The current time, with nanoseconds, as mosquitto_sub reads it once per message. */
export function now(): Instant {
  const ms = performance.timeOrigin + performance.now();
  const seconds = Math.floor(ms / 1000);
  const nanoseconds = Math.min(999999999, Math.floor((ms - seconds * 1000) * 1e6));
  return { date: new Date(seconds * 1000), nanoseconds };
}

/** print_message: the bytes to write for one received message. */
export function printMessage(options: OutputOptions, message: Message, clock: () => Instant = now): Printed {
  if (options.format !== undefined) return formatted(options, message, clock);
  const parts: Buffer[] = [];
  if (options.verbose) {
    if (message.payload.length > 0) {
      parts.push(Buffer.from(message.topic + ' '), message.payload);
      if (options.eol) parts.push(NEWLINE);
    } else if (options.eol) {
      parts.push(Buffer.from(`${message.topic} (null)\n`));
    }
  } else if (message.payload.length > 0) {
    parts.push(message.payload);
    if (options.eol) parts.push(NEWLINE);
  }
  return { out: Buffer.concat(parts) };
}

const NEWLINE = Buffer.from('\n');

class Out {
  readonly parts: Buffer[] = [];
  text(s: string): void {
    if (s.length > 0) this.parts.push(Buffer.from(s));
  }
  bytes(b: Buffer): void {
    if (b.length > 0) this.parts.push(b);
  }
}

function formatted(options: OutputOptions, message: Message, clock: () => Instant): Printed {
  const format = options.format as string;
  const out = new Out();
  let time: Instant | undefined;
  const at = (): Instant => (time ??= clock());
  let error: string | undefined;
  const len = format.length;
  for (let i = 0; i < len; i++) {
    const c = format[i] as string;
    if (c === '%') {
      let align = '';
      let pad = ' ';
      let width = 0;
      let precision = -1;
      if (i < len - 1) {
        i++;
        if (format[i] === '-') {
          align = '-';
          if (i < len - 1) i++;
        }
        if (format[i] === '0') {
          pad = '0';
          if (i < len - 1) i++;
        }
        while (i < len - 1 && isDigit(format[i])) {
          width = width * 10 + Number(format[i]);
          i++;
        }
        if (format[i] === '.' && i < len - 1) {
          i++;
          precision = 0;
          while (i < len - 1 && isDigit(format[i])) {
            precision = precision * 10 + Number(format[i]);
            i++;
          }
        }
        if (i < len) {
          const e = percent(out, options, message, format[i] as string, align, pad, width, precision, at);
          if (e) error = e;
        }
      }
    } else if (c === '@') {
      if (i < len - 1) {
        i++;
        const f = format[i] as string;
        if (f === '@') out.text('@');
        else if (f === 'N') out.text(String(at().nanoseconds).padStart(9, '0'));
        else out.text(strftime('%' + f, at()));
      }
    } else if (c === '\\') {
      if (i < len - 1) {
        i++;
        const e = ESCAPES[format[i] as string];
        if (e !== undefined) out.text(e);
      }
    } else {
      out.text(c);
    }
  }
  if (options.eol) out.bytes(NEWLINE);
  return error === undefined ? { out: Buffer.concat(out.parts) } : { out: Buffer.concat(out.parts), error };
}

function percent(
  out: Out,
  options: OutputOptions,
  message: Message,
  letter: string,
  align: string,
  pad: string,
  width: number,
  precision: number,
  at: () => Instant,
): string | undefined {
  const p: PublishProperties = message.properties;
  const intOrBlank = (value: number | undefined, blankPad = pad): void => {
    if (value === undefined) out.text(blankPad.repeat(width));
    else out.text(formatInt(value, align, pad, width));
  };
  switch (letter) {
    case '%':
      out.text('%');
      break;
    case 'A':
      intOrBlank(p.topicAlias);
      break;
    case 'C':
      if (p.contentType !== undefined) out.bytes(formatStr(Buffer.from(p.contentType), align, width, precision));
      else out.text(' '.repeat(width));
      break;
    case 'D':
      if (p.correlationData !== undefined) out.bytes(Buffer.from(p.correlationData));
      break;
    case 'E':
      intOrBlank(p.messageExpiryInterval);
      break;
    case 'F':
      intOrBlank(p.payloadFormatIndicator === undefined ? undefined : Number(p.payloadFormatIndicator));
      break;
    case 'I': {
      const text = strftime('%FT%T%z', at());
      out.bytes(formatStr(Buffer.from(text), align, width, precision));
      break;
    }
    case 'j':
      out.text(jsonMessage(message, p, at(), true, options.pretty) as string);
      break;
    case 'J': {
      const text = jsonMessage(message, p, at(), false, options.pretty);
      if (text === undefined) return `Error: Message payload is not valid JSON on topic ${message.topic}.\n`;
      out.text(text);
      break;
    }
    case 'l':
      out.text(formatInt(message.payload.length, align, pad, width));
      break;
    case 'm':
      out.text(formatInt(message.messageId, align, pad, width));
      break;
    case 'P':
      out.text(
        userPropertyPairs(p)
          .map(([k, v]) => `${k}:${v}`)
          .join(' '),
      );
      break;
    case 'p':
      out.bytes(writePayload(message.payload, 0, align, pad, width));
      break;
    case 'q':
      out.text(String(message.qos));
      break;
    case 'R':
      if (p.responseTopic !== undefined) out.bytes(formatStr(Buffer.from(p.responseTopic), align, width, precision));
      break;
    case 'r':
      out.text(message.retain ? '1' : '0');
      break;
    case 'S':
      intOrBlank(firstSubscriptionId(p));
      break;
    case 't':
      out.bytes(formatStr(Buffer.from(message.topic), align, width, precision));
      break;
    case 'U': {
      const t = at();
      out.text(`${Math.floor(t.date.getTime() / 1000)}.${String(t.nanoseconds).padStart(9, '0')}`);
      break;
    }
    case 'x':
      out.bytes(writePayload(message.payload, 1, align, pad, width));
      break;
    case 'X':
      out.bytes(writePayload(message.payload, 2, align, pad, width));
      break;
  }
  return undefined;
}

function firstSubscriptionId(p: PublishProperties): number | undefined {
  const id = p.subscriptionIdentifier;
  return Array.isArray(id) ? id[0] : id;
}

function userPropertyPairs(p: PublishProperties): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(p.userProperties ?? {})) {
    for (const one of Array.isArray(v) ? v : [v]) pairs.push([k, one]);
  }
  return pairs;
}

/** printf %d / %-*d / %0*d. */
function formatInt(value: number, align: string, pad: string, width: number): string {
  const s = String(value);
  if (width === 0 || s.length >= width) return s;
  if (align === '-') return s.padEnd(width, ' ');
  if (pad === '0') return value < 0 ? '-' + String(-value).padStart(width - 1, '0') : s.padStart(width, '0');
  return s.padStart(width, ' ');
}

/** printf %*.*s on bytes, as C counts them. */
function formatStr(value: Buffer, align: string, width: number, precision: number): Buffer {
  const cut = precision >= 0 && value.length > precision ? value.subarray(0, precision) : value;
  if (cut.length >= width) return cut;
  const fill = Buffer.alloc(width - cut.length, ' ');
  return align === '-' ? Buffer.concat([cut, fill]) : Buffer.concat([fill, cut]);
}

/** write_payload, including its handling of width for hex output. */
function writePayload(payload: Buffer, hex: 0 | 1 | 2, align: string, pad: string, width: number): Buffer {
  let length = payload.length;
  let padLength: number;
  if (width > 0) {
    if (length > width) length = width;
    if (hex > 0) {
      length = Math.floor(length / 2);
      padLength = width - length * 2;
    } else {
      padLength = width - length;
    }
  } else {
    padLength = width - length;
  }
  const body = payload.subarray(0, length);
  const text = hex === 0 ? body : Buffer.from(hex === 1 ? body.toString('hex') : body.toString('hex').toUpperCase());
  const padding = padLength > 0 ? Buffer.alloc(padLength, align === '-' ? ' ' : pad) : Buffer.alloc(0);
  return align === '-' ? Buffer.concat([text, padding]) : Buffer.concat([padding, text]);
}

const JSON_PROPERTY_NAMES: Record<string, string> = {
  payloadFormatIndicator: 'payload-format-indicator',
  messageExpiryInterval: 'message-expiry-interval',
  contentType: 'content-type',
  responseTopic: 'response-topic',
  correlationData: 'correlation-data',
  subscriptionIdentifier: 'subscription-identifier',
  topicAlias: 'topic-alias',
};

/** %j (escaped payload) and %J (payload is JSON): mosquitto's keys in its order. */
function jsonMessage(message: Message, p: PublishProperties, time: Instant, escaped: boolean, pretty: boolean): string | undefined {
  const members: Array<[string, JsonValue]> = [
    ['tst', jsonStr(strftime('%Y-%m-%dT%H:%M:%S', time) + '.' + String(Math.floor(time.nanoseconds / 1000)).padStart(6, '0') + 'Z' + strftime('%z', time))],
    ['topic', jsonStr(message.topic)],
    ['qos', jsonNum(message.qos)],
    ['retain', jsonNum(message.retain ? 1 : 0)],
    ['payloadlen', jsonNum(message.payload.length)],
  ];
  if (message.qos > 0) members.push(['mid', jsonNum(message.messageId)]);
  const propertyKeys = Object.keys(p);
  if (propertyKeys.length > 0) {
    const props: Array<[string, JsonValue]> = [];
    for (const key of propertyKeys) {
      if (key === 'userProperties') {
        props.push(['user-properties', { t: 'obj', v: userPropertyPairs(p).map(([k, v]) => [k, jsonStr(v)]) }]);
        continue;
      }
      const name = JSON_PROPERTY_NAMES[key];
      if (!name) continue;
      const value = (p as Record<string, unknown>)[key];
      if (key === 'contentType' || key === 'responseTopic') props.push([name, jsonStr(String(value))]);
      else if (key === 'correlationData') props.push([name, jsonStr(cString(value as Buffer))]);
      else if (key === 'subscriptionIdentifier') props.push([name, jsonNum(firstSubscriptionId(p) ?? 0)]);
      else props.push([name, jsonNum(Number(value))]);
    }
    members.push(['properties', { t: 'obj', v: props }]);
  }
  if (escaped) {
    members.push(['payload', message.payload.length > 0 ? jsonStr(cString(message.payload)) : jsonNull]);
  } else if (message.payload.length === 0) {
    members.push(['payload', jsonNull]);
  } else {
    const parsed = parseJson(message.payload.toString('utf8'));
    if (parsed === undefined) return undefined;
    members.push(['payload', parsed]);
  }
  return printJson({ t: 'obj', v: members }, pretty);
}

/** The payload as a C string: it ends at the first NUL byte. */
function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return (nul >= 0 ? b.subarray(0, nul) : b).toString('utf8');
}

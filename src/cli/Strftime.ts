/**
 * The part of C's strftime that mosquitto_sub's @-fields and %I/%j/%J use, in local time
 * and the C locale, so timestamps read the same as mosquitto's.
 */

export interface Instant {
  date: Date;
  /** 0..999999999 within the second. */
  nanoseconds: number;
}

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

const two = (n: number): string => String(n).padStart(2, '0');
const spaced = (n: number): string => String(n).padStart(2, ' ');

export function strftime(format: string, instant: Instant): string {
  const d = instant.date;
  let out = '';
  for (let i = 0; i < format.length; i++) {
    const c = format[i];
    if (c !== '%' || i === format.length - 1) {
      out += c;
      continue;
    }
    out += field(format[++i] as string, d);
  }
  return out;
}

function dayOfYear(d: Date): number {
  const start = new Date(d.getFullYear(), 0, 1);
  return Math.round((Date.UTC(d.getFullYear(), d.getMonth(), d.getDate()) - Date.UTC(start.getFullYear(), 0, 1)) / 86400000) + 1;
}

/** ISO 8601 week-based year and week number. */
function isoWeek(d: Date): { year: number; week: number } {
  const t = new Date(Date.UTC(d.getFullYear(), d.getMonth(), d.getDate()));
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1);
  return { year: t.getUTCFullYear(), week: Math.ceil(((t.getTime() - yearStart) / 86400000 + 1) / 7) };
}

function zone(d: Date): string {
  const offset = -d.getTimezoneOffset();
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  return `${sign}${two(Math.floor(abs / 60))}${two(abs % 60)}`;
}

function zoneName(d: Date): string {
  try {
    const part = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find((p) => p.type === 'timeZoneName');
    const name = part?.value ?? 'UTC';
    return name === 'GMT' && d.getTimezoneOffset() === 0 ? 'UTC' : name;
  } catch {
    return 'UTC';
  }
}

function field(f: string, d: Date): string {
  const hour12 = d.getHours() % 12 === 0 ? 12 : d.getHours() % 12;
  switch (f) {
    case 'a':
      return DAYS[d.getDay()]!.slice(0, 3);
    case 'A':
      return DAYS[d.getDay()]!;
    case 'b':
    case 'h':
      return MONTHS[d.getMonth()]!.slice(0, 3);
    case 'B':
      return MONTHS[d.getMonth()]!;
    case 'c':
      return `${field('a', d)} ${field('b', d)} ${field('e', d)} ${field('T', d)} ${d.getFullYear()}`;
    case 'C':
      return two(Math.floor(d.getFullYear() / 100));
    case 'd':
      return two(d.getDate());
    case 'D':
    case 'x':
      return `${two(d.getMonth() + 1)}/${two(d.getDate())}/${two(d.getFullYear() % 100)}`;
    case 'e':
      return spaced(d.getDate());
    case 'F':
      return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`;
    case 'g':
      return two(isoWeek(d).year % 100);
    case 'G':
      return String(isoWeek(d).year);
    case 'H':
      return two(d.getHours());
    case 'I':
      return two(hour12);
    case 'j':
      return String(dayOfYear(d)).padStart(3, '0');
    case 'k':
      return spaced(d.getHours());
    case 'l':
      return spaced(hour12);
    case 'm':
      return two(d.getMonth() + 1);
    case 'M':
      return two(d.getMinutes());
    case 'n':
      return '\n';
    case 'p':
      return d.getHours() < 12 ? 'AM' : 'PM';
    case 'P':
      return d.getHours() < 12 ? 'am' : 'pm';
    case 'r':
      return `${two(hour12)}:${two(d.getMinutes())}:${two(d.getSeconds())} ${field('p', d)}`;
    case 'R':
      return `${two(d.getHours())}:${two(d.getMinutes())}`;
    case 's':
      return String(Math.floor(d.getTime() / 1000));
    case 'S':
      return two(d.getSeconds());
    case 't':
      return '\t';
    case 'T':
    case 'X':
      return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
    case 'u':
      return String(d.getDay() || 7);
    case 'U':
      return two(Math.floor((dayOfYear(d) - 1 + 7 - d.getDay()) / 7));
    case 'V':
      return two(isoWeek(d).week);
    case 'w':
      return String(d.getDay());
    case 'W':
      return two(Math.floor((dayOfYear(d) - 1 + 7 - ((d.getDay() + 6) % 7)) / 7));
    case 'y':
      return two(d.getFullYear() % 100);
    case 'Y':
      return String(d.getFullYear());
    case 'z':
      return zone(d);
    case 'Z':
      return zoneName(d);
    case '%':
      return '%';
    default:
      return '%' + f;
  }
}

/**
 * Payload and topic templates of simple rules. `<name>` is replaced when the rule fires:
 * `<topic>`, `<1>`…`<n>` (the trigger topic's levels, from 1), `<payload>`, `<json.path>`,
 * `<clientid>`, `<time>` (HH:MM:SS), `<date>` (YYYY-MM-DD), `<timestamp>` (Unix seconds), all
 * local time. A `<` not followed by a name and `>` is literal text, so JSON and `a < b` need no escaping.
 */
import { parseValueSource, valueText, type PayloadView } from './MessageFields';
import type { ValueSource } from './Rule';

type Part =
  | { kind: 'text'; text: string }
  | { kind: 'topic' | 'payload' | 'clientid' | 'time' | 'date' | 'timestamp' }
  | { kind: 'level'; index: number }
  | { kind: 'json'; source: ValueSource };

export interface Template {
  readonly source: string;
  readonly parts: readonly Part[];
  /** Whether it reads the trigger message (not available to timer rules). */
  readonly needsMessage: boolean;
  /** The highest `<n>` used, 0 for none. */
  readonly maxLevel: number;
}

/** What a firing rule knows; message fields are absent for timer rules. */
export interface TemplateContext {
  now: Date;
  topic?: string;
  levels?: readonly string[];
  payload?: PayloadView;
  clientId?: string;
}

const PLACEHOLDER = /<([A-Za-z0-9_.$-]+)>/g;
const NAMED = new Set(['topic', 'payload', 'clientid', 'time', 'date', 'timestamp']);

/** Compiles a template; a string says which placeholder is wrong. */
export function compileTemplate(source: string): Template | string {
  const parts: Part[] = [];
  let last = 0;
  let needsMessage = false;
  let maxLevel = 0;
  for (const m of source.matchAll(PLACEHOLDER)) {
    const name = m[1];
    let part: Part;
    if (NAMED.has(name)) {
      part = { kind: name as 'topic' };
      if (name === 'topic' || name === 'payload' || name === 'clientid') needsMessage = true;
    } else if (/^[1-9][0-9]{0,2}$/.test(name)) {
      part = { kind: 'level', index: Number(name) };
      maxLevel = Math.max(maxLevel, part.index);
      needsMessage = true;
    } else if (name.startsWith('json.')) {
      const field = parseValueSource(name);
      if (typeof field === 'string') return `<${name}>: ${field}`;
      part = { kind: 'json', source: field };
      needsMessage = true;
    } else {
      return `unknown placeholder <${name}> (use <topic>, <1>…<n>, <payload>, <json.field>, <clientid>, <time>, <date> or <timestamp>)`;
    }
    if (m.index > last) parts.push({ kind: 'text', text: source.slice(last, m.index) });
    parts.push(part);
    last = m.index + m[0].length;
  }
  if (last < source.length) parts.push({ kind: 'text', text: source.slice(last) });
  return { source, parts, needsMessage, maxLevel };
}

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

export function renderTemplate(template: Template, ctx: TemplateContext): string {
  const parts = template.parts;
  // The common cases, a constant or one placeholder, build no array.
  if (parts.length === 1 && parts[0].kind === 'text') return parts[0].text;
  let out = '';
  for (let i = 0; i < parts.length; i++) out += renderPart(parts[i], ctx);
  return out;
}

function renderPart(part: Part, ctx: TemplateContext): string {
  const now = ctx.now;
  switch (part.kind) {
    case 'text':
      return part.text;
    case 'topic':
      return ctx.topic ?? '';
    case 'payload':
      return ctx.payload?.text ?? '';
    case 'clientid':
      return ctx.clientId ?? '';
    case 'level':
      // Split once per firing, and only by templates that use levels.
      if (ctx.levels === undefined && ctx.topic !== undefined) ctx.levels = ctx.topic.split('/');
      return ctx.levels?.[part.index - 1] ?? '';
    case 'json':
      return ctx.payload ? valueText(ctx.payload.read(part.source)) : '';
    case 'time':
      return `${two(now.getHours())}:${two(now.getMinutes())}:${two(now.getSeconds())}`;
    case 'date':
      return `${now.getFullYear()}-${two(now.getMonth() + 1)}-${two(now.getDate())}`;
    case 'timestamp':
      return String(Math.floor(now.getTime() / 1000));
  }
}

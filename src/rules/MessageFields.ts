/**
 * The parts of a message a rule can read: the whole payload, or one field of a JSON payload
 * by a dotted path (`json.AM2301.Temperature`, `json.list.0`). Shared by conditions and templates.
 */
import type { ValueSource } from './Rule';

const PATH_SEGMENT = /^[A-Za-z0-9_$-]+$/;

/** Parses `payload` or `json.<path>`; a string says what is wrong. */
export function parseValueSource(text: string): ValueSource | string {
  if (text === 'payload') return { kind: 'payload' };
  if (text.startsWith('json.')) {
    const path = text.slice(5).split('.');
    if (path.every((p) => PATH_SEGMENT.test(p))) return { kind: 'json', path };
    return `bad JSON path '${text}' (letters, digits, _ and - between dots)`;
  }
  return `expected 'payload' or 'json.<field>', got '${text}'`;
}

/** A message's payload as a rule sees it: the text, and the JSON parsed at most once. */
export class PayloadView {
  private parsed = false;
  private json: unknown = undefined;
  private textValue: string | undefined;

  constructor(readonly payload: Buffer) {}

  get text(): string {
    return (this.textValue ??= this.payload.toString('utf8'));
  }

  /** The parsed payload, or undefined when it is not JSON. */
  parsedJson(): unknown {
    if (!this.parsed) {
      this.parsed = true;
      try {
        this.json = JSON.parse(this.text);
      } catch {
        this.json = undefined;
      }
    }
    return this.json;
  }

  /** The value a source names: a string, number, boolean, object, or undefined when absent. */
  read(source: ValueSource): unknown {
    if (source.kind === 'payload') return this.text;
    let value = this.parsedJson();
    for (const segment of source.path) {
      if (value === null || typeof value !== 'object') return undefined;
      value = (value as Record<string, unknown>)[segment];
    }
    return value;
  }
}

/** A field's value as text (what templates insert and `contains`/`=` compare). */
export function valueText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

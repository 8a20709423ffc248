/**
 * A message trigger's condition: a payload or JSON field compared with the rule's value.
 * `<` and `>` compare numbers (a field that is not a number never matches); `=` and `!=`
 * compare numbers when both sides are numbers (`25` = `25.0`), else text; `contains` is a
 * text search; `changed` is true when the value differs from the last one seen on that topic.
 */
import { valueText, type PayloadView } from './MessageFields';
import type { Condition } from './Rule';

export function asNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

/** The last values a `changed` rule saw, by topic; at most `limit` topics (oldest forgotten). */
export class ChangeTracker {
  private readonly last = new Map<string, string>();

  constructor(private readonly limit = 1000) {}

  /** Records the value; true when it differs from the previous one on this topic. The first one seen is a baseline. */
  changed(topic: string, value: string): boolean {
    const previous = this.last.get(topic);
    if (previous === value) return false;
    if (previous === undefined && this.last.size >= this.limit) {
      const oldest = this.last.keys().next().value;
      if (oldest !== undefined) this.last.delete(oldest);
    }
    this.last.set(topic, value);
    return previous !== undefined;
  }
}

export function conditionHolds(condition: Condition, payload: PayloadView, topic: string, changes: ChangeTracker | undefined): boolean {
  const op = condition.op;
  // The whole payload against text: compared as bytes, never decoded (a busy topic's common case).
  if (condition.field.kind === 'payload' && condition.number === undefined) {
    if (op === '=') return payload.payload.equals(condition.bytes);
    if (op === '!=') return !payload.payload.equals(condition.bytes);
    if (op === 'contains') return payload.payload.includes(condition.bytes);
  }
  const value = payload.read(condition.field);
  if (op === 'changed') return value !== undefined && changes !== undefined && changes.changed(topic, valueText(value));
  if (value === undefined) return false;
  const b = condition.number;
  if (op === '<' || op === '>') {
    const a = b === undefined ? undefined : asNumber(value);
    if (a === undefined || b === undefined) return false;
    return op === '<' ? a < b : a > b;
  }
  if (op === 'contains') return valueText(value).includes(condition.value);
  // The field is read as a number only when the rule's value is one.
  const a = b === undefined ? undefined : asNumber(value);
  const equal = a !== undefined && b !== undefined ? a === b : valueText(value) === condition.value;
  return op === '=' ? equal : !equal;
}

/**
 * Reads one simple rule from its options, whichever file they came from: a `rule` block of
 * a rules file or a UCI `config rule` section use the same option names, checked here once.
 * Every problem is reported with the file and the line of the option at fault.
 */
import type { QoS } from '../broker/Message';
import { isValidTopicFilter, isValidTopicName, parseSharedFilter } from '../broker/topics';
import { checkBool, checkInteger, quote } from '../config/ConfigValues';
import { FileError } from '../config/FileError';
import { parseClockTime, parseWeekdays } from './Clock';
import { asNumber } from './Condition';
import { parseValueSource } from './MessageFields';
import { COMPARISON_OPERATORS, type ComparisonOperator, type Condition, type SimpleRule, type Trigger } from './Rule';
import { compileTemplate, type Template } from './Template';

export interface RuleOptionValue {
  value: string;
  line: number;
}

/** A rule as written: its name, where it starts, and its options by name. */
export interface RuleDefinition {
  name: string;
  file: string;
  line: number;
  options: Map<string, RuleOptionValue>;
}

/** Every option a simple rule may have, with what it means (for errors and docs/rules.md). */
export const RULE_OPTIONS: Readonly<Record<string, string>> = {
  enabled: 'true or false (default true)',
  when: 'a topic filter: fire when a message arrives on it',
  every: 'seconds: fire every N seconds',
  at: 'HH:MM: fire at this local time',
  weekdays: 'with at: the days (mon tue … or mon-fri); default every day',
  field: "with when: 'payload' or 'json.<path>' (default payload)",
  op: 'with when: =, !=, <, >, contains or changed',
  value: 'what field is compared with',
  topic: 'the topic to publish to (a template)',
  payload: 'the payload to publish (a template; default empty)',
  qos: '0, 1 or 2 (default 0)',
  retain: 'true or false (default false)',
  delay: 'seconds to wait before publishing (default 0)',
  debounce: 'seconds after firing during which the rule does not fire again (default 0)',
};

const DAY_SECONDS = 86400;
const MAX_SECONDS = 7 * DAY_SECONDS;

/** The longest a rule name may be (it names the rule in logs, the status file and LuCI). */
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

/** Parses a definition into a rule, or returns its problems. */
export function parseSimpleRule(def: RuleDefinition): SimpleRule | FileError[] {
  const errors: FileError[] = [];
  const fail = (line: number, reason: string): void => void errors.push(new FileError(def.file, line, `rule '${def.name}': ${reason}`));
  const get = (name: string): RuleOptionValue | undefined => def.options.get(name);

  if (!NAME_RE.test(def.name)) fail(def.line, `bad rule name ${quote(def.name)} (letters, digits, _ . -, at most 64)`);
  for (const [name, option] of def.options) {
    if (!(name in RULE_OPTIONS)) fail(option.line, `unknown option '${name}' (expected ${Object.keys(RULE_OPTIONS).join(', ')})`);
  }

  const bool = (name: string, fallback: boolean): boolean => {
    const o = get(name);
    if (!o) return fallback;
    const v = checkBool(o.value);
    if (!v.ok) fail(o.line, `${name}: ${v.reason}`);
    return v.ok ? v.value : fallback;
  };
  const int = (name: string, min: number, max: number, fallback: number): number => {
    const o = get(name);
    if (!o) return fallback;
    const v = checkInteger(o.value, min, max);
    if (!v.ok) fail(o.line, `${name}: ${v.reason}`);
    return v.ok ? v.value : fallback;
  };

  const enabled = bool('enabled', true);
  const trigger = readTrigger(def, fail);
  const topicOption = get('topic');
  let topic: Template | undefined;
  if (!topicOption) fail(def.line, "'topic' is required (where the rule publishes)");
  else topic = readTemplate('topic', topicOption, trigger, fail);
  const payloadOption = get('payload');
  const payload = payloadOption ? readTemplate('payload', payloadOption, trigger, fail) : compileTemplate('');
  if (topic && topic.parts.every((p) => p.kind === 'text') && !isValidTopicName(topic.source)) {
    fail(topicOption!.line, `topic: ${quote(topic.source)} is not a topic one can publish to (no + or #, not empty)`);
  }
  const qos = int('qos', 0, 2, 0) as QoS;
  const retain = bool('retain', false);
  const delay = int('delay', 0, MAX_SECONDS, 0);
  const debounce = int('debounce', 0, MAX_SECONDS, 0);

  if (errors.length > 0 || !trigger || !topic || typeof payload === 'string' || !payload) return errors;
  return {
    name: def.name,
    enabled,
    trigger,
    action: { topic, payload, qos, retain, delay, debounce },
    source: { file: def.file, line: def.line },
  };
}

type Fail = (line: number, reason: string) => void;

function readTrigger(def: RuleDefinition, fail: Fail): Trigger | undefined {
  const when = def.options.get('when');
  const every = def.options.get('every');
  const at = def.options.get('at');
  const given = [when, every, at].filter((o) => o !== undefined);
  if (given.length !== 1) {
    fail(given[1]?.line ?? def.line, "give exactly one trigger: 'when <filter>', 'every <seconds>' or 'at <HH:MM>'");
    return undefined;
  }
  const onlyWith = (names: string[], trigger: string): void => {
    for (const name of names) {
      const o = def.options.get(name);
      if (o) fail(o.line, `'${name}' only applies to ${trigger} rules`);
    }
  };
  if (when) {
    onlyWith(['weekdays'], "'at'");
    const filter = when.value;
    if (!isValidTopicFilter(filter) || parseSharedFilter(filter) !== undefined) {
      fail(when.line, `when: ${quote(filter)} is not a topic filter (+ and # only as whole levels, # last; no $share)`);
      return undefined;
    }
    return { kind: 'message', filter, condition: readCondition(def, fail) };
  }
  onlyWith(['field', 'op', 'value'], "'when'");
  if (every) {
    onlyWith(['weekdays'], "'at'");
    const v = checkInteger(every.value, 1, MAX_SECONDS);
    if (!v.ok) return void fail(every.line, `every: ${v.reason}`);
    return { kind: 'every', seconds: v.value };
  }
  const time = parseClockTime(at!.value.trim());
  if (typeof time === 'string') return void fail(at!.line, `at: ${time}`);
  const weekdaysOption = def.options.get('weekdays');
  const weekdays = parseWeekdays(weekdaysOption?.value ?? '');
  if (typeof weekdays === 'string') return void fail(weekdaysOption!.line, `weekdays: ${weekdays}`);
  return { kind: 'at', hour: time.hour, minute: time.minute, weekdays };
}

function readCondition(def: RuleDefinition, fail: Fail): Condition | undefined {
  const fieldOption = def.options.get('field');
  const opOption = def.options.get('op');
  const valueOption = def.options.get('value');
  if (!opOption) {
    if (fieldOption || valueOption) fail((fieldOption ?? valueOption)!.line, "'field' and 'value' need 'op' (=, !=, <, >, contains or changed)");
    return undefined;
  }
  const op = COMPARISON_OPERATORS.find((o) => o === opOption.value) as ComparisonOperator | undefined;
  if (!op) return void fail(opOption.line, `op: expected =, !=, <, >, contains or changed, got ${quote(opOption.value)}`);
  const field = parseValueSource(fieldOption?.value ?? 'payload');
  if (typeof field === 'string') return void fail(fieldOption!.line, `field: ${field}`);
  if (op === 'changed') {
    if (valueOption) fail(valueOption.line, "'changed' compares with the previous value: give no 'value'");
    return { field, op, value: '', number: undefined, bytes: Buffer.alloc(0) };
  }
  if (!valueOption) return void fail(opOption.line, `op '${op}' needs a 'value'`);
  if ((op === '<' || op === '>') && asNumber(valueOption.value) === undefined) {
    return void fail(valueOption.line, `value: '${op}' compares numbers, got ${quote(valueOption.value)}`);
  }
  return { field, op, value: valueOption.value, number: asNumber(valueOption.value), bytes: Buffer.from(valueOption.value) };
}

function readTemplate(name: string, option: RuleOptionValue, trigger: Trigger | undefined, fail: Fail): Template | undefined {
  const t = compileTemplate(option.value);
  if (typeof t === 'string') return void fail(option.line, `${name}: ${t}`);
  if (trigger && trigger.kind !== 'message' && t.needsMessage) {
    return void fail(option.line, `${name}: a timer rule has no trigger message (only <time>, <date> and <timestamp> apply)`);
  }
  if (trigger?.kind === 'message' && t.maxLevel > 0 && !trigger.filter.endsWith('#')) {
    const levels = trigger.filter.split('/').length;
    if (t.maxLevel > levels) return void fail(option.line, `${name}: <${t.maxLevel}> but '${trigger.filter}' has only ${levels} levels`);
  }
  return t;
}

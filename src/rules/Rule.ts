/**
 * The rule model: what a simple rule says (a trigger and one publish), independent of
 * where it was written (a rules file, a UCI `config rule` section or LuCI).
 */
import type { QoS } from '../broker/Message';
import type { Template } from './Template';

/** Where a rule was defined, for errors and the status page. */
export interface RuleSource {
  file: string;
  line: number;
}

/** How a message trigger's value compares with the rule's value. */
export type ComparisonOperator = '=' | '!=' | '<' | '>' | 'contains' | 'changed';

export const COMPARISON_OPERATORS: readonly ComparisonOperator[] = ['=', '!=', '<', '>', 'contains', 'changed'];

/** `payload`, or a path into the JSON payload (`json.AM2301.Temperature`, `json.list.0`). */
export type ValueSource = { kind: 'payload' } | { kind: 'json'; path: readonly string[] };

export interface Condition {
  field: ValueSource;
  op: ComparisonOperator;
  /** The value compared with (unused by `changed`). */
  value: string;
  /** `value` as a number, when it is one (numbers compare as numbers). */
  number: number | undefined;
  /** `value` as UTF-8, so a payload is compared as bytes, without decoding it. */
  bytes: Buffer;
}

export type Trigger =
  | { kind: 'message'; filter: string; condition: Condition | undefined }
  | { kind: 'every'; seconds: number }
  /** Local time; `weekdays` holds 0 (Sunday) to 6, all seven when none were given. */
  | { kind: 'at'; hour: number; minute: number; weekdays: ReadonlySet<number> };

export interface PublishAction {
  topic: Template;
  payload: Template;
  qos: QoS;
  retain: boolean;
  /** Seconds to wait before publishing; 0: at once. */
  delay: number;
  /** Seconds after firing during which the rule does not fire again; 0: no limit. */
  debounce: number;
}

export interface SimpleRule {
  name: string;
  enabled: boolean;
  trigger: Trigger;
  action: PublishAction;
  source: RuleSource;
}

/**
 * One rule as the status file (and LuCI's Rules page) shows it. `state`: active; disabled
 * (enabled false); invalid (not loaded: see last_error); failed (stopped after repeated
 * errors or a blocked event loop, until the next reload).
 */
export interface RuleStatus {
  name: string;
  kind: 'simple' | 'script';
  /** `file:line` of the definition. */
  source: string;
  state: 'active' | 'disabled' | 'invalid' | 'failed';
  fired: number;
  /** Unix seconds. */
  last_fired: number | null;
  last_error: string | null;
  last_error_at: number | null;
}

/**
 * A rules file (`rules_file <path>`), in mosquitto.conf style for systems without UCI:
 *
 *   # comment
 *   rule fan_on
 *   when tele/+/SENSOR
 *   field json.AM2301.Temperature
 *   op >
 *   value 25
 *   topic cmnd/<2>/POWER
 *   payload ON
 *
 * `rule <name>` starts a rule; the lines after it, up to the next `rule`, are its options
 * (`<option> <value>`, the value being the rest of the line as mosquitto reads it).
 */
import { FileError } from '../config/FileError';
import type { RuleDefinition } from './SimpleRuleParser';

/** Splits a rules file into rule definitions; problems of layout go to `errors`. */
export function readRulesFile(file: string, text: string, errors: FileError[]): RuleDefinition[] {
  const rules: RuleDefinition[] = [];
  let current: RuleDefinition | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const raw = lines[i].replace(/\r$/, '');
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const space = trimmed.search(/\s/);
    const key = space < 0 ? trimmed : trimmed.slice(0, space);
    const value = space < 0 ? '' : trimmed.slice(space + 1).trim();
    if (key === 'rule') {
      if (value === '' || /\s/.test(value)) {
        errors.push(new FileError(file, line, `rule: expected one name, got '${value}'`));
        // The options that follow belong to no rule; skip them quietly rather than once each.
        current = { name: '', file, line, options: new Map() };
        continue;
      }
      current = { name: value, file, line, options: new Map() };
      rules.push(current);
      continue;
    }
    if (!current) {
      errors.push(new FileError(file, line, `'${key}' before any 'rule <name>' line`));
      continue;
    }
    if (current.name === '') continue;
    const earlier = current.options.get(key);
    if (earlier) {
      errors.push(new FileError(file, line, `rule '${current.name}': '${key}' is already set on line ${earlier.line}`));
      continue;
    }
    current.options.set(key, { value, line });
  }
  return rules;
}

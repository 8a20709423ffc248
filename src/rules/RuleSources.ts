/**
 * Finds every rule the configuration names: simple rules in rules files (`rules_file`) and
 * UCI `config rule` sections, script rules (`*.js`) in `rules_dir`. Read afresh at start and
 * on every reload; a broken rule is reported (file and line) and left out, the others load.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileFunction } from 'node:vm';
import { compareConfigFileNames } from '../config/ConfigFile';
import { FileError } from '../config/FileError';
import { parseUci } from '../config/UciConfig';
import type { RuleStatus, SimpleRule } from './Rule';
import { readRulesFile } from './RulesFile';
import type { ScriptFile } from './ScriptMessages';
import { parseSimpleRule, type RuleDefinition } from './SimpleRuleParser';

export interface RuleSourcePaths {
  rulesFiles: readonly string[];
  rulesDir?: string;
  /** A UCI file whose `rule` sections are simple rules. */
  uciFile?: string;
}

export interface LoadedRules {
  rules: SimpleRule[];
  scripts: ScriptFile[];
  /** Rules that did not load, for the status page. */
  invalid: RuleStatus[];
  errors: FileError[];
}

function fsReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : (code ?? String(err));
}

/** A UCI `config rule` section as a rule definition (a `list` joins with spaces: `list weekdays 'mon'`). */
function uciRuleDefinitions(file: string, text: string, errors: FileError[]): RuleDefinition[] {
  // The broker's config reader reports the file's syntax errors; here only the rules matter.
  const pkg = parseUci(file, text, []);
  const out: RuleDefinition[] = [];
  for (const section of pkg.sections) {
    if (section.type !== 'rule') continue;
    const named = section.options.get('name');
    const name = named?.values[0] ?? section.name;
    if (name === undefined) {
      errors.push(new FileError(file, section.line, "rule: give the section a name or set option 'name'"));
      continue;
    }
    const options = new Map<string, { value: string; line: number }>();
    for (const o of section.options.values()) {
      if (o.name === 'name') continue;
      options.set(o.name, { value: o.values.join(' '), line: o.line });
    }
    out.push({ name, file, line: section.line, options });
  }
  return out;
}

/** The problem of a script that does not compile, with its line, or undefined. */
export function checkScriptSyntax(path: string, source: string): FileError | undefined {
  try {
    compileFunction(source, ['exports', 'require', 'module', '__filename', '__dirname'], { filename: path });
    return undefined;
  } catch (err) {
    const stack = err instanceof Error ? (err.stack ?? '') : '';
    const m = new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:(\\d+)`).exec(stack);
    return new FileError(path, m ? Number(m[1]) : undefined, err instanceof Error ? `${err.name}: ${err.message}` : String(err));
  }
}

export function loadRules(paths: RuleSourcePaths): LoadedRules {
  const errors: FileError[] = [];
  const definitions: RuleDefinition[] = [];
  for (const file of paths.rulesFiles) {
    try {
      definitions.push(...readRulesFile(file, readFileSync(file, 'utf8'), errors));
    } catch (err) {
      errors.push(new FileError(file, undefined, `cannot read the rules file: ${fsReason(err)}`));
    }
  }
  if (paths.uciFile !== undefined) {
    try {
      definitions.push(...uciRuleDefinitions(paths.uciFile, readFileSync(paths.uciFile, 'utf8'), errors));
    } catch (err) {
      errors.push(new FileError(paths.uciFile, undefined, `cannot read the file: ${fsReason(err)}`));
    }
  }

  const rules: SimpleRule[] = [];
  const invalid: RuleStatus[] = [];
  const seen = new Map<string, RuleDefinition>();
  for (const def of definitions) {
    const earlier = seen.get(def.name);
    let problems: FileError[];
    if (earlier) {
      problems = [new FileError(def.file, def.line, `rule '${def.name}' is already defined at ${earlier.file}:${earlier.line}`)];
    } else {
      seen.set(def.name, def);
      const parsed = parseSimpleRule(def);
      if (!Array.isArray(parsed)) {
        rules.push(parsed);
        continue;
      }
      problems = parsed;
    }
    errors.push(...problems);
    invalid.push(invalidStatus(def.name, 'simple', `${def.file}:${def.line}`, problems));
  }

  const scripts: ScriptFile[] = [];
  if (paths.rulesDir !== undefined) {
    let names: string[] = [];
    try {
      names = readdirSync(paths.rulesDir).filter((n) => n.endsWith('.js') && !n.startsWith('.'));
    } catch (err) {
      // The default directory need not exist: no scripts then.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') errors.push(new FileError(paths.rulesDir, undefined, `cannot read rules_dir: ${fsReason(err)}`));
    }
    for (const name of names.sort(compareConfigFileNames)) {
      const path = join(paths.rulesDir, name);
      let problem: FileError | undefined;
      try {
        problem = checkScriptSyntax(path, readFileSync(path, 'utf8'));
      } catch (err) {
        problem = new FileError(path, undefined, `cannot read the script: ${fsReason(err)}`);
      }
      if (problem) {
        errors.push(problem);
        invalid.push(invalidStatus(name, 'script', `${path}:${problem.line ?? 1}`, [problem]));
      } else {
        scripts.push({ name, path });
      }
    }
  }
  return { rules, scripts, invalid, errors };
}

function invalidStatus(name: string, kind: RuleStatus['kind'], source: string, problems: FileError[]): RuleStatus {
  return { name, kind, source, state: 'invalid', fired: 0, last_fired: null, last_error: problems.map((p) => p.message).join('; '), last_error_at: null };
}

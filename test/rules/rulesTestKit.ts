/** An in-process mqttd Daemon with rules, on a free port, for the rules tests. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/ConfigFile';
import { Daemon } from '../../src/daemon/Daemon';
import type { Clock } from '../../src/rules/Clock';
import type { RuleStatus } from '../../src/rules/Rule';
import type { ScriptLimits } from '../../src/rules/ScriptHost';
import { freePort } from '../helpers/ports';

export interface RulesDaemon {
  daemon: Daemon;
  url: string;
  port: number;
  dir: string;
  /** Log lines since start (warning and above, and rule notices). */
  logs: string[];
  status(name: string): RuleStatus;
  stop(): Promise<void>;
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'mqttd-rules-'));
}

/** Writes `files` (name → text) into dir. */
export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}

export async function startRulesDaemon(
  lines: string[],
  options: { dir?: string; port?: number; clock?: Clock; scriptLimits?: Partial<ScriptLimits> } = {},
): Promise<RulesDaemon> {
  const dir = options.dir ?? tempDir();
  const port = options.port ?? (await freePort());
  const text = [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'log_dest none', ...lines].map((l) => l.replaceAll('%DIR%', dir)).join('\n');
  const config = parseConfig(text, join(dir, 'mqttd.conf'));
  const logs: string[] = [];
  const daemon = await Daemon.start({ config, clock: options.clock, scriptLimits: options.scriptLimits });
  daemon.log.configure([{ write: (_level, line) => void logs.push(line) }], ['error', 'warning', 'notice'], false);
  return {
    daemon,
    url: `mqtt://127.0.0.1:${port}`,
    port,
    dir,
    logs,
    status(name) {
      const found = daemon.rules?.status().find((s) => s.name === name);
      if (!found) throw new Error(`no rule ${name} in ${JSON.stringify(daemon.rules?.status())}`);
      return found;
    },
    stop: () => daemon.stop(),
  };
}

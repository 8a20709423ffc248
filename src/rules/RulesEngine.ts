/**
 * The rules engine: simple rules and script rules over one broker, loaded from the
 * configured sources at start and again on every reload (SIGHUP) without touching clients.
 */
import type { Broker } from '../broker/Broker';
import type { Logger } from '../log/Logger';
import { systemClock, type Clock } from './Clock';
import type { RuleStatus } from './Rule';
import { RulePublisher } from './RulePublisher';
import { loadRules, type RuleSourcePaths } from './RuleSources';
import { RuleState } from './RuleState';
import { RuleTriggers } from './RuleTriggers';
import { DEFAULT_SCRIPT_LIMITS, ScriptHost, type ScriptLimits } from './ScriptHost';
import { SimpleRuleRunner, type RuleRuntime } from './SimpleRuleRunner';

export interface RulesEngineOptions {
  broker: Broker;
  log: Logger;
  clock?: Clock;
  /** The file of the scripts' mqttd.state; undefined keeps it in memory (persistence off). */
  statePath?: string;
  scriptLimits?: Partial<ScriptLimits>;
  /** Called when a rule fired or failed (the daemon rewrites its status file soon after). */
  changed?: () => void;
}

export class RulesEngine {
  private readonly rt: RuleRuntime;
  private readonly state: RuleState;
  private readonly limits: ScriptLimits;
  private runners: SimpleRuleRunner[] = [];
  private scripts: ScriptHost | undefined;
  private invalid: RuleStatus[] = [];
  /** Serialises reloads: a second SIGHUP waits for the first. */
  private busy: Promise<void> = Promise.resolve();

  constructor(options: RulesEngineOptions) {
    const publisher = new RulePublisher(options.broker);
    this.rt = {
      broker: options.broker,
      triggers: new RuleTriggers(options.broker, publisher, (err) => options.log.error(`Rules: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)),
      clock: options.clock ?? systemClock,
      publisher,
      log: options.log,
      changed: options.changed ?? (() => undefined),
    };
    this.state = new RuleState(options.statePath);
    this.limits = { ...DEFAULT_SCRIPT_LIMITS, ...options.scriptLimits };
  }

  /** Loads the saved script state, then the rules. */
  async start(paths: RuleSourcePaths): Promise<void> {
    const problem = await this.state.load();
    if (problem) this.rt.log.error(problem);
    await this.load(paths);
  }

  /** Replaces every rule with what the sources say now. */
  reload(paths: RuleSourcePaths): Promise<void> {
    this.busy = this.busy.then(() => this.load(paths));
    return this.busy;
  }

  status(): RuleStatus[] {
    return [...this.runners.map((r) => r.status()), ...(this.scripts?.status() ?? []), ...this.invalid];
  }

  /** Writes the scripts' state file if it changed; called with the broker's own saves. */
  async save(): Promise<void> {
    const problem = await this.state.save();
    if (problem) this.rt.log.error(problem);
  }

  async stop(): Promise<void> {
    await this.busy;
    for (const r of this.runners) r.stop();
    this.runners = [];
    await this.scripts?.stop();
    this.scripts = undefined;
    await this.save();
  }

  private async load(paths: RuleSourcePaths): Promise<void> {
    const loaded = loadRules(paths);
    for (const err of loaded.errors) this.rt.log.error(`${err.message} (rule not loaded)`);
    for (const r of this.runners) r.stop();
    await this.scripts?.stop();
    this.invalid = loaded.invalid;
    this.runners = loaded.rules.map((rule) => new SimpleRuleRunner(rule, this.rt));
    for (const r of this.runners) r.start();
    this.scripts = loaded.scripts.length > 0 ? new ScriptHost(loaded.scripts, this.rt, this.state, this.limits) : undefined;
    await this.scripts?.start();
    const active = this.status().filter((s) => s.state === 'active').length;
    this.rt.log.notice(`Rules: ${active} active, ${loaded.invalid.length} not loaded (${loaded.rules.length} simple, ${loaded.scripts.length} scripts).`);
    this.rt.changed();
  }
}

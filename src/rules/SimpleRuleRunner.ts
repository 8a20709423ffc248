/**
 * One simple rule at work: its trigger (a local subscription, which matches topics with the
 * broker's own subscription tree, or a timer), its condition, debounce and delay, and the
 * publish. Kept per rule: when it last fired and its last error, for the status page.
 */
import type { Broker } from '../broker/Broker';
import type { Message } from '../broker/Message';
import type { Logger } from '../log/Logger';
import { dailyAt, every, type Clock, type TimerHandle } from './Clock';
import { ChangeTracker, conditionHolds } from './Condition';
import type { PayloadView } from './MessageFields';
import type { RuleStatus, SimpleRule } from './Rule';
import { hopsAfter, type Origin, type RulePublisher } from './RulePublisher';
import type { RuleTriggers } from './RuleTriggers';
import { renderTemplate, type TemplateContext } from './Template';

export interface RuleRuntime {
  broker: Broker;
  triggers: RuleTriggers;
  clock: Clock;
  publisher: RulePublisher;
  log: Logger;
  /** Called after a rule fired or failed (the status file is rewritten soon after). */
  changed(): void;
}

/** Pending delayed publishes per rule: more would mean the rule fires faster than its delay drains. */
const MAX_PENDING_DELAYS = 100;

export class SimpleRuleRunner {
  private unsubscribe: (() => void) | undefined;
  private timer: TimerHandle | undefined;
  private readonly pending = new Set<TimerHandle>();
  private readonly changes: ChangeTracker | undefined;
  private quietUntil = 0;
  private fired = 0;
  private lastFired: number | null = null;
  private lastError: string | null = null;
  private lastErrorAt: number | null = null;

  constructor(
    readonly rule: SimpleRule,
    private readonly rt: RuleRuntime,
  ) {
    const t = rule.trigger;
    this.changes = t.kind === 'message' && t.condition?.op === 'changed' ? new ChangeTracker() : undefined;
  }

  start(): void {
    if (!this.rule.enabled) return;
    const t = this.rule.trigger;
    if (t.kind === 'message') {
      this.unsubscribe = this.rt.triggers.listen(t.filter, (message, payload, origin) => this.onMessage(message, payload, origin));
    } else if (t.kind === 'every') {
      this.timer = every(this.rt.clock, t.seconds, () => this.fire({ now: new Date(this.rt.clock.now()) }, 1));
    } else {
      this.timer = dailyAt(this.rt.clock, t.hour, t.minute, t.weekdays, () => this.fire({ now: new Date(this.rt.clock.now()) }, 1));
    }
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.timer?.cancel();
    this.timer = undefined;
    for (const p of this.pending) p.cancel();
    this.pending.clear();
  }

  status(): RuleStatus {
    return {
      name: this.rule.name,
      kind: 'simple',
      source: `${this.rule.source.file}:${this.rule.source.line}`,
      state: this.rule.enabled ? 'active' : 'disabled',
      fired: this.fired,
      last_fired: this.lastFired,
      last_error: this.lastError,
      last_error_at: this.lastErrorAt,
    };
  }

  private onMessage(message: Message, payload: PayloadView, origin: Origin | undefined): void {
    const hops = hopsAfter(origin, this.rule.name);
    if (hops < 0) return;
    const t = this.rule.trigger;
    if (t.kind === 'message' && t.condition && !conditionHolds(t.condition, payload, message.topic, this.changes)) return;
    this.fire({ now: new Date(this.rt.clock.now()), topic: message.topic, levels: undefined, payload, clientId: message.origin }, hops);
  }

  private fire(ctx: TemplateContext, hops: number): void {
    const action = this.rule.action;
    const now = this.rt.clock.now();
    if (action.debounce > 0) {
      if (now < this.quietUntil) return;
      this.quietUntil = now + action.debounce * 1000;
    }
    // Rendered now: a delayed publish carries the trigger's values, not later ones.
    const topic = renderTemplate(action.topic, ctx);
    const payload = renderTemplate(action.payload, ctx);
    if (action.delay === 0) return this.publish(hops, topic, payload);
    if (this.pending.size >= MAX_PENDING_DELAYS) return this.failed(`more than ${MAX_PENDING_DELAYS} delayed publishes waiting; this one dropped`);
    const handle = this.rt.clock.setTimer(action.delay * 1000, () => {
      this.pending.delete(handle);
      this.publish(hops, topic, payload);
    });
    this.pending.add(handle);
  }

  private publish(hops: number, topic: string, payload: string): void {
    const a = this.rule.action;
    const problem = this.rt.publisher.publish(this.rule.name, hops, topic, payload, a.qos, a.retain);
    if (problem) return this.failed(problem);
    this.fired++;
    this.lastFired = Math.floor(this.rt.clock.now() / 1000);
    this.rt.log.debug(`Rule ${this.rule.name} published to ${topic}.`);
    this.rt.changed();
  }

  private failed(reason: string): void {
    this.lastError = reason;
    this.lastErrorAt = Math.floor(this.rt.clock.now() / 1000);
    this.rt.log.warning(`Rule ${this.rule.name} (${this.rule.source.file}:${this.rule.source.line}): ${reason}`);
    this.rt.changed();
  }
}

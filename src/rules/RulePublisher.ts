/**
 * The one way rules publish: as the broker itself (no ACL: rules are root's config), with
 * loop protection. Every message a rule publishes is remembered (weakly) with the rule and
 * its hop count, so that (1) a rule never fires on a message it published itself, and
 * (2) a chain of rules triggering each other stops after MAX_RULE_HOPS publishes, however
 * the chain runs (a → b → a, rewrites into their own filter, scripts and simple rules mixed).
 */
import type { Broker } from '../broker/Broker';
import type { Message, QoS } from '../broker/Message';
import { isValidTopicName } from '../broker/topics';

export const MAX_RULE_HOPS = 8;

/** Which rule published a message, and at what hop. */
export interface Origin {
  rule: string;
  hops: number;
}

/**
 * The hop count a rule's reaction to a message of this origin publishes at, or -1 when the
 * rule must not react (its own message, or the chain is at its limit).
 */
export function hopsAfter(origin: Origin | undefined, rule: string): number {
  if (origin === undefined) return 1;
  if (origin.rule === rule || origin.hops >= MAX_RULE_HOPS) return -1;
  return origin.hops + 1;
}

export class RulePublisher {
  private readonly origins = new WeakMap<Message, Origin>();

  constructor(private readonly broker: Broker) {}

  /** The rule that published this message, if one did. */
  originOf(message: Message): Origin | undefined {
    return this.origins.get(message);
  }

  /** Publishes for a rule; a string says why not (a bad topic rendered from a template). */
  publish(rule: string, hops: number, topic: string, payload: string | Buffer, qos: QoS, retain: boolean): string | undefined {
    if (!isValidTopicName(topic)) return `cannot publish to ${JSON.stringify(topic)}: not a valid topic name`;
    if (topic.startsWith('$SYS')) return `cannot publish to ${JSON.stringify(topic)}: $SYS topics are the broker's`;
    const message = this.broker.publish(topic, payload, { qos, retain });
    this.origins.set(message, { rule, hops });
    return undefined;
  }
}

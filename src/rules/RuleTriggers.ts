/**
 * The rules' message triggers: one local subscription per distinct filter, however many
 * rules (simple or script) watch it, so a message many rules watch is delivered to the
 * rules once; the topics are matched by the broker's own subscription tree. The payload
 * is decoded (text, JSON) at most once per message for all the rules that read it.
 */
import type { Broker } from '../broker/Broker';
import type { Message } from '../broker/Message';
import { PayloadView } from './MessageFields';
import type { Origin, RulePublisher } from './RulePublisher';

/** `origin`: the rule that published the message (for loop protection), looked up once for all listeners. */
export type TriggerListener = (message: Message, payload: PayloadView, origin: Origin | undefined) => void;

interface Watch {
  /** Replaced, never changed in place, so a dispatch in progress keeps the list it started with. */
  listeners: readonly TriggerListener[];
  unsubscribe: () => void;
}

export class RuleTriggers {
  private readonly watches = new Map<string, Watch>();

  constructor(
    private readonly broker: Broker,
    private readonly publisher: RulePublisher,
    /** A listener that throws (a fault in mqttd, not in a rule file) is reported here; the others still run. */
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Calls `listener` for every new (not already retained) message on `filter`; returns a function that stops it. */
  listen(filter: string, listener: TriggerListener): () => void {
    let watch = this.watches.get(filter);
    if (!watch) {
      const w: Watch = { listeners: [], unsubscribe: () => undefined };
      // QoS 0: a local subscriber is never offline, so nothing is queued or acknowledged.
      w.unsubscribe = this.broker.subscribe(filter, (_topic, _payload, message) => dispatch(w.listeners, message, this.publisher.originOf(message), this.onError), { qos: 0, retained: false });
      this.watches.set(filter, w);
      watch = w;
    }
    const w = watch;
    w.listeners = [...w.listeners, listener];
    return () => {
      if (!w.listeners.includes(listener)) return;
      w.listeners = w.listeners.filter((l) => l !== listener);
      if (w.listeners.length === 0 && this.watches.get(filter) === w) {
        this.watches.delete(filter);
        w.unsubscribe();
      }
    };
  }
}

function dispatch(listeners: readonly TriggerListener[], message: Message, origin: Origin | undefined, onError: (err: unknown) => void): void {
  const payload = new PayloadView(message.payload);
  for (let i = 0; i < listeners.length; i++) {
    try {
      listeners[i](message, payload, origin);
    } catch (err) {
      onError(err);
    }
  }
}

/**
 * The rules' message triggers: one local subscription per distinct filter, however many
 * rules (simple or script) watch it, so a message many rules watch is delivered to the
 * rules once; the topics are matched by the broker's own subscription tree. The payload
 * is decoded (text, JSON) at most once per message for all the rules that read it.
 */
import type { Broker } from '../broker/Broker';
import type { Message } from '../broker/Message';
import { PayloadView } from './MessageFields';

export type TriggerListener = (message: Message, payload: PayloadView) => void;

interface Watch {
  listeners: TriggerListener[];
  unsubscribe: () => void;
}

export class RuleTriggers {
  private readonly watches = new Map<string, Watch>();

  constructor(private readonly broker: Broker) {}

  /** Calls `listener` for every new (not already retained) message on `filter`; returns a function that stops it. */
  listen(filter: string, listener: TriggerListener): () => void {
    let watch = this.watches.get(filter);
    if (!watch) {
      const listeners: TriggerListener[] = [];
      // QoS 0: a local subscriber is never offline, so nothing is queued or acknowledged.
      const unsubscribe = this.broker.subscribe(filter, (_topic, _payload, message) => dispatch(listeners, message), { qos: 0, retained: false });
      watch = { listeners, unsubscribe };
      this.watches.set(filter, watch);
    }
    const w = watch;
    w.listeners.push(listener);
    return () => {
      const at = w.listeners.indexOf(listener);
      if (at >= 0) w.listeners.splice(at, 1);
      if (w.listeners.length === 0 && this.watches.get(filter) === w) {
        this.watches.delete(filter);
        w.unsubscribe();
      }
    };
  }
}

function dispatch(listeners: readonly TriggerListener[], message: Message): void {
  const payload = new PayloadView(message.payload);
  // A copy only when there are several: a listener may stop itself (or another) while called.
  const list = listeners.length === 1 ? listeners : listeners.slice();
  for (let i = 0; i < list.length; i++) list[i](message, payload);
}

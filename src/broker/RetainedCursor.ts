import type { Message, QoS } from './Message';
import type { RetainedMatches } from './RetainedMatches';
import type { RetainedStore } from './RetainedStore';
import { outgoingQos, type Subscription } from './Subscription';

/** RetainedCursor.next: the walk used its budget of tree nodes, nothing found yet. */
export const LATER = Symbol('later');

/**
 * The retained messages a new subscription has still to receive [MQTT-3.3.1-6]. They stay
 * in the retained store and are taken from it one at a time, as the subscriber's in-flight
 * window and socket make room (Session.drain), instead of being copied into the session's
 * queue, where its limits would cut a large discovery set short.
 */
export class RetainedCursor {
  constructor(
    readonly subscription: Subscription,
    private readonly store: RetainedStore,
    private readonly matches: RetainedMatches,
    /** The ACL's read check, asked when a message is taken, not when the cursor was made. */
    private readonly mayRead: (message: Message) => boolean,
    private readonly upgradeQos: boolean,
  ) {}

  /** Tree nodes the walk has looked at so far. */
  get visits(): number {
    return this.matches.visits;
  }

  /**
   * The next message to send; undefined when the cursor is done; LATER when the walk reached
   * `visitLimit` (see visits) first and goes on at the next call.
   */
  next(now: number, visitLimit: number): Message | undefined | typeof LATER {
    for (;;) {
      const r = this.matches.nextBefore(visitLimit);
      if (r === undefined) return LATER;
      if (r.done === true) return undefined;
      const message = r.value;
      if (message.isExpired(now)) this.store.expire(message);
      else if (this.mayRead(message)) return message;
    }
  }

  /** The QoS to send `message` at: the subscription's, at most the message's unless upgrading. */
  qosOf(message: Message): QoS {
    return outgoingQos(message.qos, this.subscription.qos, this.upgradeQos);
  }
}

import type { Broker } from '../broker/Broker';

/** What one bridge reports under `$SYS/broker/bridge/<name>/`. */
export interface BridgeCounters {
  state: string;
  /** Seconds since the epoch when `state` last changed. */
  since: number;
  lastError: string | null;
  address: string;
  messagesIn: number;
  messagesOut: number;
  queued: number;
  dropped: number;
}

/**
 * Publishes a bridge's state and counters as retained `$SYS` topics. Like SysTopics, a
 * topic is republished only when its value changed, so an idle bridge costs nothing.
 */
export class BridgeSysTopics {
  private readonly last = new Map<string, string>();
  private readonly prefix: string;

  constructor(
    private readonly broker: Broker,
    name: string,
  ) {
    // A connection name is one word, but '+', '#' or '/' in it would not make one topic level.
    this.prefix = `$SYS/broker/bridge/${name.replace(/[+#/\u0000]/g, '_')}/`;
  }

  publish(c: BridgeCounters): void {
    this.set('state', c.state);
    this.set('since', String(c.since));
    this.set('last_error', c.lastError ?? '');
    this.set('address', c.address);
    this.set('messages/received', String(c.messagesIn));
    this.set('messages/sent', String(c.messagesOut));
    this.set('queued', String(c.queued));
    this.set('dropped', String(c.dropped));
  }

  private set(name: string, value: string): void {
    if (this.last.get(name) === value) return;
    this.last.set(name, value);
    this.broker.publish(this.prefix + name, value, { retain: true });
  }
}

import type { Broker } from '../broker/Broker';
import type { Connection } from './Connection';
import { refuse } from './handleConnect';
import { InputTurns } from './InputTurns';
import { ReasonCode } from './reasonCodes';

/**
 * Every open connection, swept once a second for the timers MQTT needs: CONNECT timeout
 * (until CONNACK, authentication included) and keepalive (1.5 × the interval [MQTT-3.1.2-24]).
 * One shared sweep costs less than a timer per connection refreshed on every packet. Flow
 * control (publisher holds, stalled subscribers) is the broker's: see Session.
 */
export class ConnectionRegistry {
  readonly connections = new Set<Connection>();
  /** The share of each event-loop turn the busy clients' input may take together. */
  readonly turns = new InputTurns();
  /** Coarse clock (ms), refreshed by the sweep; connections stamp activity with it. */
  now = Date.now();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly broker: Broker) {
    this.timer = setInterval(() => this.sweep(), 1000);
    this.timer.unref();
  }

  add(connection: Connection): void {
    this.connections.add(connection);
  }

  remove(connection: Connection): void {
    this.connections.delete(connection);
  }

  close(): void {
    clearInterval(this.timer);
    for (const c of this.connections) c.destroy();
  }

  private sweep(): void {
    const now = (this.now = Date.now());
    const limits = this.broker.limits;
    for (const c of this.connections) {
      if (c.state === 'awaiting-connect') {
        if (now - c.openedAt > limits.connectTimeout * 1000) {
          this.broker.log.notice(`Client from ${c.remoteAddress} sent no CONNECT within ${limits.connectTimeout} s, closing.`);
          c.destroy();
        }
        continue;
      }
      if (c.state === 'authenticating') {
        // connect_timeout covers the password check too: a login stuck behind a busy check
        // queue gets its answer ("server unavailable") instead of a socket held open.
        if (now - c.openedAt > limits.connectTimeout * 1000) {
          this.broker.log.notice(`Client from ${c.remoteAddress} not authenticated within ${limits.connectTimeout} s, closing.`);
          refuse(c, ReasonCode.ServerUnavailable, 'not authenticated within connect_timeout');
        }
        continue;
      }
      if (c.state !== 'connected') continue;
      // lastSeen is stamped with the coarse clock, up to one sweep (1 s) early: allow for it,
      // so a client is never cut off before 1.5 × keepalive of real silence. A client whose
      // reading the broker paused (flow control) is not silent: its PINGREQs wait unread,
      // and resuming restarts its clock.
      if (c.keepalive > 0 && !c.readingPaused && now - c.lastSeen > c.keepalive * 1500 + 1000) {
        c.close(ReasonCode.KeepAliveTimeout, 'exceeded timeout');
      }
    }
  }
}

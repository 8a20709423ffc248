import type { Broker } from '../broker/Broker';
import type { Connection } from './Connection';
import { ReasonCode } from './reasonCodes';

/**
 * Every open connection, swept once a second for the timers MQTT needs: CONNECT timeout,
 * keepalive (1.5 × the interval [MQTT-3.1.2-24]) and stalled readers. One shared sweep
 * costs less than a timer per connection refreshed on every packet.
 */
export class ConnectionRegistry {
  readonly connections = new Set<Connection>();
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
      if (c.state !== 'connected') continue;
      // lastSeen is stamped with the coarse clock, up to one sweep (1 s) early: allow for it,
      // so a client is never cut off before 1.5 × keepalive of real silence.
      if (c.keepalive > 0 && now - c.lastSeen > c.keepalive * 1500 + 1000) {
        c.close(ReasonCode.KeepAliveTimeout, 'exceeded timeout');
        continue;
      }
      c.session?.checkProgress(now, limits.publisherHoldTimeout * 1000);
      // Stalled: the socket backlog stays near the limit (QoS 0 dropping keeps it just under
      // it, never over), or the QoS 1/2 queue stays long enough to hold publishers paused.
      const queued = c.session?.queuedCount ?? 0;
      const highWater = limits.maxQueuedMessages > 0 ? Math.max(1, limits.maxQueuedMessages >> 1) : 1000;
      if (c.backlog > limits.maxBacklogBytes / 2 || queued >= highWater) {
        if (c.backlogSince === 0) c.backlogSince = now;
        else if (now - c.backlogSince > limits.stallTimeout * 1000) {
          c.close(ReasonCode.QuotaExceeded, 'stopped reading its messages');
          c.destroy();
        }
      } else {
        c.backlogSince = 0;
      }
    }
  }
}

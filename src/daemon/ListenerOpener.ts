import type { ListenerConfig } from '../config/BrokerConfig';
import type { Logger } from '../log/Logger';
import type { MqttServer } from '../server/MqttServer';
import { ListenerError, type Listener } from '../transport/Listener';

/** Milliseconds before the next attempt to open a listener that could not bind: doubling, capped. */
export const BIND_RETRY_FIRST_MS = 1000;
export const BIND_RETRY_MAX_MS = 60_000;

/**
 * Opens the configured listeners. One that cannot bind for a reason that can pass (its
 * address not there yet — an interface coming up, an IPv6 address still tentative — or its
 * port taken) is tried again with backoff while the others serve, with one log line when it
 * fails and one when it opens. One that can never open as configured is logged and left.
 */
export class ListenerOpener {
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  /** Listeners being retried. */
  pending = 0;

  constructor(
    private readonly server: MqttServer,
    private readonly log: Logger,
    private readonly retryFirstMs = BIND_RETRY_FIRST_MS,
  ) {}

  /** Tries every listener once; resolves with the errors of those that can never open. */
  async openAll(listeners: ListenerConfig[]): Promise<ListenerError[]> {
    const fatal: ListenerError[] = [];
    for (const config of listeners) {
      const err = await this.tryOpen(config);
      if (err === undefined) continue;
      if (err.retryable) {
        this.log.warning(`${err.message}; trying again in the background until it can (the other listeners serve meanwhile).`);
        this.retry(config, this.retryFirstMs);
      } else {
        fatal.push(err);
      }
    }
    return fatal;
  }

  /** Stops retrying (the daemon is stopping). */
  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private async tryOpen(config: ListenerConfig): Promise<ListenerError | undefined> {
    let listener: Listener;
    try {
      listener = await this.server.listen(config);
    } catch (err) {
      if (err instanceof ListenerError) return err;
      throw err;
    }
    // Stopped while this attempt was binding: nobody would close it.
    if (this.closed) {
      await listener.close();
      return undefined;
    }
    for (const a of listener.addresses()) {
      this.log.notice(`Opening ${a.address.includes(':') ? 'ipv6' : 'ipv4'} listen socket on port ${a.port} (${config.protocol}).`);
    }
    return undefined;
  }

  private retry(config: ListenerConfig, delayMs: number): void {
    this.pending++;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.closed) return;
      void this.tryOpen(config).then((err) => {
        this.pending--;
        if (this.closed || err === undefined) return;
        if (!err.retryable) {
          this.log.error(`${err.message}; giving up on this listener.`);
          return;
        }
        this.retry(config, Math.min(delayMs * 2, BIND_RETRY_MAX_MS));
      });
    }, delayMs);
    this.timers.add(timer);
  }
}

import type { Broker } from '../broker/Broker';
import type { BrokerConfig } from '../config/BrokerConfig';
import type { DaemonExtension, ExtensionPersistence } from '../daemon/Daemon';
import type { StoreSnapshot, StoredBridgeQueue } from '../persistence/StoreSnapshot';
import type { BridgeStatus } from '../daemon/StatusFile';
import { escape, type Logger } from '../log/Logger';
import { Bridge } from './Bridge';

/** Every configured bridge as one daemon extension: started with the broker, stopped before it. */
export class Bridges implements DaemonExtension {
  readonly bridges: Bridge[];

  constructor(config: BrokerConfig, broker: Broker, log: Logger, persistence?: ExtensionPersistence) {
    const restored = new Map((persistence?.restored.bridges ?? []).map((b) => [b.name, b]));
    this.bridges = config.bridges.map((b) => {
      const saved = restored.get(b.name);
      const options = {
        sysInterval: config.sysInterval,
        restoredQueue: saved?.queue,
        restoredIncoming: saved?.incoming,
        queueLog: persistence?.journal?.bridgeLog(b.name),
      };
      restored.delete(b.name);
      return new Bridge(b, broker, log, options);
    });
    for (const [name, saved] of restored) {
      log.notice(`Bridge ${escape(name)} is no longer configured: its ${saved.queue.length} queued messages are dropped.`);
    }
    for (const bridge of this.bridges) {
      try {
        bridge.start();
      } catch (err) {
        // One bad bridge must not take the broker (or the other bridges) down with it.
        log.error(`Bridge ${escape(bridge.name)} not started: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  /** Changes to the bridges' queues, for the autosave's "anything changed?". */
  changes(): number {
    return this.bridges.reduce((sum, b) => sum + b.queue.version + b.heldVersion, 0);
  }

  /** Persistence: every bridge's queue goes into the store with the broker's state. */
  saveInto(snapshot: StoreSnapshot): void {
    const bridges: StoredBridgeQueue[] = [];
    for (const b of this.bridges) {
      const saved: StoredBridgeQueue = { name: b.name, queue: b.storedQueue() };
      const incoming = b.storedIncoming();
      if (incoming.length > 0) saved.incoming = incoming;
      if (saved.queue.length > 0 || incoming.length > 0) bridges.push(saved);
    }
    if (bridges.length > 0) snapshot.bridges = bridges;
  }

  status(): BridgeStatus[] {
    return this.bridges.map((b) => b.status());
  }

  async stop(): Promise<void> {
    await Promise.all(this.bridges.map((b) => b.stop()));
  }
}

/** The daemon extension factory for a config's bridges (none when it has no `connection`). */
export function bridgeExtension(
  config: BrokerConfig,
): ((broker: Broker, log: Logger, persistence?: ExtensionPersistence) => DaemonExtension)[] {
  if (config.bridges.length === 0) return [];
  return [(broker, log, persistence) => new Bridges(config, broker, log, persistence)];
}

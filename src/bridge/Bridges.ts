import type { Broker } from '../broker/Broker';
import type { BrokerConfig } from '../config/BrokerConfig';
import type { DaemonExtension } from '../daemon/Daemon';
import type { BridgeStatus } from '../daemon/StatusFile';
import { escape, type Logger } from '../log/Logger';
import { Bridge } from './Bridge';

/** Every configured bridge as one daemon extension: started with the broker, stopped before it. */
export class Bridges implements DaemonExtension {
  readonly bridges: Bridge[];

  constructor(config: BrokerConfig, broker: Broker, log: Logger) {
    this.bridges = config.bridges.map((b) => new Bridge(b, broker, log, { sysInterval: config.sysInterval }));
    for (const bridge of this.bridges) {
      try {
        bridge.start();
      } catch (err) {
        // One bad bridge must not take the broker (or the other bridges) down with it.
        log.error(`Bridge ${escape(bridge.name)} not started: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  status(): BridgeStatus[] {
    return this.bridges.map((b) => b.status());
  }

  async stop(): Promise<void> {
    await Promise.all(this.bridges.map((b) => b.stop()));
  }
}

/** The daemon extension factory for a config's bridges (none when it has no `connection`). */
export function bridgeExtension(config: BrokerConfig): ((broker: Broker, log: Logger) => DaemonExtension)[] {
  if (config.bridges.length === 0) return [];
  return [(broker, log) => new Bridges(config, broker, log)];
}

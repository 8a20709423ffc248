import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Broker } from '../broker/Broker';
import type { SysTopics } from '../broker/SysTopics';
import type { RuleStatus } from '../rules/Rule';
import type { Listener } from '../transport/Listener';
import { VERSION } from '../version';

/** A bridge's state as the status page shows it; filled in by the bridge module. */
export interface BridgeStatus {
  name: string;
  state: 'connected' | 'connecting' | 'down';
  since: number;
  last_error: string | null;
  messages_in: number;
  messages_out: number;
  queued: number;
  /** Outgoing messages dropped because the queue was full while the remote was down. */
  dropped: number;
  /** The remote address in use or last tried (host:port). */
  address: string;
}

const PROTOCOL_NAMES = { 3: 'mqttv31', 4: 'mqttv311', 5: 'mqttv5' } as const;

/**
 * The broker's status as JSON in a file (on OpenWrt, tmpfs), so LuCI's Status page can
 * poll it without starting a Node process. Rewritten atomically every sys_interval and
 * about a second after a client connects or leaves.
 */
export class StatusFile {
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private readonly started = Math.floor(Date.now() / 1000);

  constructor(
    private readonly path: string,
    private readonly broker: Broker,
    private readonly sys: SysTopics,
    private readonly listeners: () => Listener[],
    private readonly bridges: () => BridgeStatus[],
    private readonly onError: (message: string) => void,
    private readonly rules: () => RuleStatus[] = () => [],
  ) {}

  start(intervalSeconds: number): void {
    this.write();
    this.timer = setInterval(() => this.write(), Math.max(1, intervalSeconds) * 1000);
    this.timer.unref();
  }

  /** Asks for a rewrite within a second (coalesces bursts of connects). */
  changed(): void {
    if (this.soon) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.write();
    }, 1000);
    this.soon.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.soon) clearTimeout(this.soon);
  }

  render(): string {
    const b = this.broker;
    const s = b.stats;
    return JSON.stringify({
      version: VERSION,
      pid: process.pid,
      started: this.started,
      updated: Math.floor(Date.now() / 1000),
      listeners: this.listeners().flatMap((l) =>
        l.addresses().map((a) => ({
          port: a.port,
          address: a.address,
          protocol: l.config.protocol,
          tls: l.config.certfile !== undefined,
        })),
      ),
      clients: b.clients().map((c) => ({
        client_id: c.clientId,
        username: c.username ?? null,
        address: c.remoteAddress,
        protocol: PROTOCOL_NAMES[c.protocolVersion],
        connected_since: Math.floor(c.connectedAt / 1000),
      })),
      counts: {
        clients_connected: b.connectedCount,
        clients_total: b.sessions.size,
        subscriptions: b.subscriptionCount,
        retained: b.retained.size,
        messages_received: s.publishReceived,
        messages_sent: s.publishSent,
      },
      load: {
        messages_received_1min: round(this.sys.load('publish/received', 1)),
        messages_sent_1min: round(this.sys.load('publish/sent', 1)),
      },
      bridges: this.bridges(),
      rules: this.rules(),
    });
  }

  write(): void {
    const temp = `${this.path}.tmp`;
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      writeFileSync(temp, this.render() + '\n', { mode: 0o644 });
      renameSync(temp, this.path);
    } catch (err) {
      this.onError(`cannot write status file ${this.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

import { writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { FileSecurity } from '../auth/FileSecurity';
import { Broker, type BrokerLimits } from '../broker/Broker';
import { SysTopics } from '../broker/SysTopics';
import type { BrokerConfig, LogType } from '../config/BrokerConfig';
import type { ControlServer } from '../control/ControlServer';
import { LOG_LEVELS, Logger, type LogLevel } from '../log/Logger';
import { FileStore } from '../persistence/FileStore';
import { Journal } from '../persistence/Journal';
import { MemoryStore } from '../persistence/MemoryStore';
import type { Store } from '../persistence/Store';
import type { Clock } from '../rules/Clock';
import { RulesEngine } from '../rules/RulesEngine';
import type { RuleSourcePaths } from '../rules/RuleSources';
import type { ScriptLimits } from '../rules/ScriptHost';
import type { StoreSnapshot } from '../persistence/StoreSnapshot';
import { MqttServer } from '../server/MqttServer';
import { VERSION } from '../version';
import { ListenerOpener } from './ListenerOpener';
import { logSinks } from './logSinks';
import { StatusFile, type BridgeStatus } from './StatusFile';


/** The broker limits a config sets: every one of them that BrokerConfig has under the same name. */
const CONFIG_LIMITS = [
  'maxConnections',
  'messageSizeLimit',
  'maxPacketSize',
  'maxKeepalive',
  'retainAvailable',
  'allowZeroLengthClientId',
  'autoIdPrefix',
  'connectTimeout',
  'persistentClientExpiration',
  'maxPersistentSessions',
  'maxRetainedMessages',
  'maxRetainedBytes',
  'memoryLimit',
  'maxSubscriptionsPerClient',
  'upgradeOutgoingQos',
  'maxInflightMessages',
  'publisherHoldTimeout',
  'maxQueuedMessages',
  'maxQueuedBytes',
  'queueQos0Messages',
] as const satisfies readonly (keyof BrokerLimits & keyof BrokerConfig)[];

// A limit added to both BrokerLimits and BrokerConfig but not to CONFIG_LIMITS fails to compile here.
type UnmappedLimit = Exclude<keyof BrokerLimits & keyof BrokerConfig, (typeof CONFIG_LIMITS)[number]>;
const everyLimitMapped: [UnmappedLimit] extends [never] ? true : UnmappedLimit = true;
void everyLimitMapped;

export function limitsFromConfig(config: BrokerConfig): Partial<BrokerLimits> {
  const limits: Partial<Record<(typeof CONFIG_LIMITS)[number], unknown>> = {};
  for (const key of CONFIG_LIMITS) limits[key] = config[key];
  return limits as Partial<BrokerLimits>;
}

function logLevels(types: Set<LogType>, verbose: boolean): LogLevel[] {
  if (verbose || types.has('all')) return [...LOG_LEVELS];
  if (types.has('none')) return [];
  return LOG_LEVELS.filter((l) => types.has(l));
}

function hasIpv6Loopback(): boolean {
  return Object.values(networkInterfaces()).some((addrs) => addrs?.some((a) => a.address === '::1'));
}

/** Something that runs beside the broker and reports a status (bridges). */
export interface DaemonExtension {
  status(): BridgeStatus[];
  stop(): Promise<void>;
  /** Adds what it keeps across restarts to a snapshot being saved (the bridges' queues). */
  saveInto?(snapshot: StoreSnapshot): void;
  /** A counter of changes to what saveInto adds. */
  changes?(): number;
}

/** What an extension restores from and journals to, when persistence is on. */
export interface ExtensionPersistence {
  restored: StoreSnapshot;
  journal: Journal | undefined;
}

export interface DaemonOptions {
  config: BrokerConfig;
  /** -v: every log type, whatever the config says. */
  verbose?: boolean;
  /** Started after the listeners, e.g. the bridges. */
  extensions?: ((broker: Broker, log: Logger, persistence?: ExtensionPersistence) => DaemonExtension)[];
  /** The rules' clock (tests pass their own); the system clock by default. */
  clock?: Clock;
  scriptLimits?: Partial<ScriptLimits>;
}

/** Where the configured rules come from, or undefined when none are configured. */
export function ruleSources(config: BrokerConfig): RuleSourcePaths | undefined {
  if (config.rulesFiles.length === 0 && config.rulesDir === undefined && config.uciRulesFile === undefined) return undefined;
  return { rulesFiles: config.rulesFiles, rulesDir: config.rulesDir, uciFile: config.uciRulesFile };
}

/**
 * The mqttd daemon: a Broker with mosquitto's file-based security, persistence with
 * autosave, $SYS topics, the status file and the configured listeners. Signals are
 * wired by the command (src/cli/mqttd.ts) to reload(), save() and stop().
 */
export class Daemon {
  readonly log: Logger;
  readonly broker: Broker;
  readonly server: MqttServer;
  readonly security: FileSecurity;
  readonly store: Store;
  /** The RAM write-ahead journal (`persistence_journal`), when persistence is on and it could open. */
  journal: Journal | undefined;
  readonly sys: SysTopics;
  private status: StatusFile | undefined;
  /** LuCI's topic explorer endpoint (control_file), once started. */
  control: ControlServer | undefined;
  private controlStarting: Promise<void> | undefined;
  private autosaveTimer: NodeJS.Timeout | undefined;
  private savedChanges = 0;
  /** The state restored at start-up, until the extensions have taken their part of it. */
  private restored: StoreSnapshot | undefined;
  private saving: Promise<void> | undefined;
  private readonly extensions: DaemonExtension[] = [];
  private readonly opener: ListenerOpener;
  /** Simple and script rules (docs/rules.md), when any source of rules is configured. */
  rules: RulesEngine | undefined;

  private constructor(readonly config: BrokerConfig, verbose: boolean) {
    this.log = new Logger(
      logSinks(config.logDest, (m) => process.stderr.write(m + '\n')),
      logLevels(config.logTypes, verbose),
      config.logTimestamp,
    );
    this.security = new FileSecurity({
      allowAnonymous: config.allowAnonymous,
      passwordFile: config.passwordFile,
      aclFile: config.aclFile,
      checks: { concurrency: config.passwordCheckConcurrency, maxQueued: config.passwordCheckQueue },
      aclPatternAllowSlash: config.aclPatternAllowSlash,
    });
    this.broker = new Broker({
      security: this.security,
      limits: limitsFromConfig(config),
      logger: this.log,
      hooks: {
        onConnected: () => this.status?.changed(),
        onDisconnect: () => this.status?.changed(),
      },
    });
    this.server = new MqttServer(this.broker);
    this.opener = new ListenerOpener(this.server, this.log);
    this.sys = new SysTopics(this.broker);
    this.store = config.persistence
      ? new FileStore(join(config.persistenceLocation || '.', config.persistenceFile))
      : new MemoryStore();
  }

  /** Starts everything; rejects (with a message fit for the user) when it cannot. */
  static async start(options: DaemonOptions): Promise<Daemon> {
    const daemon = new Daemon(options.config, options.verbose === true);
    try {
      await daemon.startUp(options);
    } catch (err) {
      daemon.opener.close();
      await daemon.server.close().catch(() => undefined);
      throw err;
    }
    return daemon;
  }

  private async startUp(options: DaemonOptions): Promise<void> {
    const { config, log, broker } = this;
    log.notice(`mqttd version ${VERSION} starting`);
    if (config.localOnly) {
      log.notice(
        'Starting in local only mode. Connections will only be possible from clients running on this machine.',
      );
      log.notice('Create a configuration file which defines a listener to allow remote access (mqttd -c <file>, see README).');
    }
    for (const err of await this.security.load()) log.warning(err.message);

    if (config.persistence) await this.restore();

    // Rules run before the listeners open, so none misses the first messages.
    const sources = ruleSources(config);
    if (sources) {
      this.rules = new RulesEngine({
        broker,
        log,
        clock: options.clock,
        scriptLimits: { budgetMs: config.rulesScriptTimeLimit, ...options.scriptLimits },
        statePath: config.persistence ? join(config.persistenceLocation || '.', 'mqttd-rules.json') : undefined,
        changed: () => this.status?.changed(),
      });
      await this.rules.start(sources);
    }

    for (const waiting of config.listenersAwaitingNetwork) log.notice(waiting);
    // Local-only mode binds ::1 too; a machine without IPv6 still serves on 127.0.0.1.
    const listeners = config.localOnly ? config.listeners.filter((l) => l.bindAddress !== '::1' || hasIpv6Loopback()) : config.listeners;
    const fatal = await this.opener.openAll(listeners);
    for (const err of fatal) log.error(err.message);
    // Exit only when nothing is open, nothing is being retried and nothing waits for a
    // network: then only a change to the configuration can help.
    if (this.server.listeners.length === 0 && this.opener.pending === 0 && config.listenersAwaitingNetwork.length === 0) {
      throw new Error(fatal.length === 1 ? fatal[0].message : 'no listener could be opened');
    }

    this.sys.start(config.sysInterval);
    const persistence = this.restored !== undefined ? { restored: this.restored, journal: this.journal } : undefined;
    for (const make of options.extensions ?? []) this.extensions.push(make(broker, log, persistence));
    this.restored = undefined;
    if (config.statusFile !== undefined) {
      this.status = new StatusFile(
        config.statusFile,
        broker,
        this.sys,
        () => this.server.listeners,
        () => this.extensions.flatMap((e) => e.status()),
        (m) => log.warning(m),
        () => this.rules?.status() ?? [],
      );
      this.status.start(config.sysInterval > 0 ? config.sysInterval : 10);
    }
    if (config.pidFile !== undefined) writeFileSync(config.pidFile, `${process.pid}\n`);
    if (config.persistence && config.autosaveInterval > 0) {
      this.autosaveTimer = setInterval(() => void this.save(), config.autosaveInterval * 1000);
      this.autosaveTimer.unref();
    }
    log.notice(`mqttd version ${VERSION} running`);
    if (config.controlFile) {
      // Loaded only when configured, as the WebSocket listener: node:http costs RAM.
      const { ControlServer } = require('../control/ControlServer') as typeof import('../control/ControlServer');
      const control = new ControlServer(broker, { file: config.controlFile, cacheSize: config.explorerCacheSize }, log);
      // The explorer is a convenience: it starts beside the broker, which runs (and serves its
      // clients) without waiting for it, or without it when it cannot start.
      this.controlStarting = control.start().then(
        () => void (this.control = control),
        (err: Error) => log.error(`Cannot start the control endpoint (${config.controlFile}): ${err.message}`),
      );
    }
  }

  /** Loads the flash store, replays the RAM journal onto it, and starts journaling. */
  private async restore(): Promise<void> {
    const { config, log, broker } = this;
    const path = (this.store as FileStore).path;
    const loaded = await this.store.load();
    if (loaded.problem) log.error(`${loaded.problem.message}`);
    let snapshot = loaded.snapshot;
    let journal: Journal | undefined;
    if (config.persistenceJournal !== '') {
      journal = new Journal({ directory: config.persistenceJournal, storePath: path, log, snapshot: () => this.snapshotNow() });
      snapshot = journal.recover(snapshot);
    }
    broker.restore(snapshot);
    this.restored = snapshot;
    // Replayed changes are not on flash yet: the next save must write them.
    this.savedChanges = snapshot === loaded.snapshot ? this.changes() : -1;
    const wills = snapshot.wills?.length ?? 0;
    log.notice(
      `Restored ${snapshot.retained.length} retained messages and ${snapshot.sessions.length} sessions` +
        `${wills > 0 ? ` (and ${wills} delayed wills)` : ''} from ${path}${journal ? ' and its journal' : ''}.`,
    );
    if (journal?.open(snapshot.journalGeneration ?? 0)) {
      this.journal = journal;
      broker.attachChangeLog(journal);
    }
  }

  /** Changes since start, the broker's and the extensions'. */
  private changes(): number {
    let n = this.broker.changes;
    for (const e of this.extensions) n += e.changes?.() ?? 0;
    return n;
  }

  /** The broker's state and the extensions' (bridge queues), as the store keeps it. */
  private snapshotNow(): StoreSnapshot {
    const snapshot = this.broker.snapshot();
    for (const e of this.extensions) e.saveInto?.(snapshot);
    return snapshot;
  }

  /**
   * SIGHUP: re-reads the password and ACL files, re-checks connected clients against them,
   * and re-reads the rules; clients the new files still allow stay connected.
   */
  async reload(): Promise<void> {
    this.log.notice('Reloading password and ACL files.');
    const result = await this.security.reload();
    for (const err of result.errors) this.log.warning(err.message);
    if (!result.applied) {
      this.log.error('Reload failed; the previous users and ACL rules stay in force.');
    } else {
      // As mosquitto 2.0: connected clients are judged again by the new users and rules.
      const { disconnected, unsubscribed } = this.broker.recheckClients();
      this.log.notice(`Reload applied: ${disconnected} client(s) disconnected, ${unsubscribed} subscription(s) removed.`);
    }
    const sources = ruleSources(this.config);
    if (this.rules && sources) {
      this.log.notice('Reloading rules.');
      await this.rules.reload(sources);
    }
  }

  /** Saves if anything changed since the last save (flash wear). SIGUSR1 forces it. */
  async save(force = false): Promise<void> {
    if (!this.config.persistence) return;
    await this.rules?.save();
    // A save in progress holds an older snapshot: wait for it, then decide afresh, so a
    // SIGUSR1 or SIGTERM during an autosave still saves what came after its snapshot.
    while (this.saving) await this.saving;
    const changes = this.changes();
    const journal = this.journal;
    if (!force && changes === this.savedChanges && !journal?.hasRecords) return;
    this.saving = (async () => {
      // Changes from here on go to a new journal generation; the snapshot holds all before it.
      const generation = journal?.rotate();
      const snapshot = this.snapshotNow();
      if (generation !== undefined) snapshot.journalGeneration = generation;
      const result = await this.store.save(snapshot);
      for (const refused of result.status === 'failed' ? [] : (result.refused ?? [])) {
        this.log.error(`Not saved: ${refused.message} (that entry is left out; the rest is saved).`);
      }
      if (result.status === 'failed') {
        this.log.error(result.error.message);
        return;
      }
      this.savedChanges = changes;
      if (generation !== undefined) journal?.compacted(generation);
      if (result.status === 'written') this.log.info(`Saved the store (${result.bytes} bytes).`);
    })().finally(() => {
      this.saving = undefined;
    });
    return this.saving;
  }

  /**
   * SIGTERM/SIGINT: stop taking work (no new connections, no more packets read, bridges
   * stopped), then save, then disconnect everyone and close the listeners. Nothing is
   * acknowledged after the snapshot is taken, so the saved store holds all that was.
   */
  async stop(): Promise<void> {
    this.log.notice(`mqttd version ${VERSION} terminating`);
    this.opener.close();
    if (this.autosaveTimer) clearInterval(this.autosaveTimer);
    this.server.stopTakingWork();
    this.sys.stop();
    this.status?.stop();
    await this.controlStarting;
    await this.control?.stop();
    for (const e of this.extensions) await e.stop().catch(() => undefined);
    await this.rules?.stop();
    await this.save();
    // The store holds everything: the journal goes. After a failed save it stays, for the restart.
    const journal = this.journal;
    if (journal !== undefined) {
      this.broker.attachChangeLog(undefined);
      journal.close(this.changes() === this.savedChanges && !journal.hasRecords);
    }
    await this.server.close();
    // The log file is an append stream: what is still buffered goes out before the exit.
    await this.log.close();
  }
}

/**
 * The broker's settings, as read from mosquitto.conf syntax (ConfigFile) or UCI (UciConfig).
 * Names follow mosquitto's options; the README's option table maps one to the other.
 */
import { PASSWORD_CHECK_DEFAULTS } from '../auth/PasswordCheckQueue';

export type ListenerProtocol = 'mqtt' | 'websockets';

export interface ListenerConfig {
  port: number;
  /** Address or hostname to bind; undefined binds all addresses. */
  bindAddress?: string;
  /** `bind_interface`: the address of this network interface is bound instead. */
  bindInterface?: string;
  protocol: ListenerProtocol;
  /** -1: unlimited (mosquitto's `max_connections`, per listener). */
  maxConnections: number;
  /** TLS is on when both are set. */
  certfile?: string;
  keyfile?: string;
  cafile?: string;
  capath?: string;
  /** Client certificates are requested and must verify against cafile/capath. */
  requireCertificate: boolean;
  /** The client certificate's CN becomes the username; the CONNECT password is not used. */
  useIdentityAsUsername: boolean;
  /** `tls_version`: tlsv1.2 or tlsv1.3 minimum. */
  tlsVersion?: string;
  /** `mount_point`: prefix added to every topic of this listener's clients. */
  mountPoint?: string;
  /** `socket_domain`: bind only IPv4 or only IPv6 addresses of a hostname; undefined: both. */
  socketDomain?: 'ipv4' | 'ipv6';
}

export type LogType =
  | 'error'
  | 'warning'
  | 'notice'
  | 'information'
  | 'subscribe'
  | 'unsubscribe'
  | 'websockets'
  | 'debug'
  | 'all'
  | 'none';

export type LogDestination = 'stdout' | 'stderr' | 'syslog' | 'none' | { file: string };

export interface BridgeTopicConfig {
  pattern: string;
  direction: 'in' | 'out' | 'both';
  qos: 0 | 1 | 2;
  localPrefix: string;
  remotePrefix: string;
}

export interface BridgeConfig {
  name: string;
  addresses: { host: string; port: number }[];
  roundRobin: boolean;
  topics: BridgeTopicConfig[];
  remoteUsername?: string;
  remotePassword?: string;
  remoteClientId?: string;
  localClientId?: string;
  cleanSession: boolean;
  keepaliveInterval: number;
  /** Seconds; [base, cap] for the jittered backoff, or a single constant delay. */
  restartTimeout: { base: number; cap?: number };
  protocolVersion: 4 | 5;
  tryPrivate: boolean;
  notifications: boolean;
  notificationTopic?: string;
  outgoingRetain: boolean;
  startType: 'automatic';
  cafile?: string;
  capath?: string;
  certfile?: string;
  keyfile?: string;
  insecure: boolean;
  /** mqttd extension: messages held for the remote while it is down. */
  maxQueuedMessages: number;
}

export interface BrokerConfig {
  listeners: ListenerConfig[];
  /**
   * Enabled UCI listeners whose network has no address yet ("lan" before it is up): not
   * opened now; the init script restarts the broker when the network gets its addresses.
   */
  listenersAwaitingNetwork: string[];
  /** Undefined until decided: the daemon sets true for the no-config local mode, else false. */
  allowAnonymous: boolean;
  passwordFile?: string;
  /** mqttd extension: password checks run at once / waiting; beyond, CONNACK "server busy". */
  passwordCheckConcurrency: number;
  passwordCheckQueue: number;
  aclFile?: string;
  /** mqttd extension: `/` in a client id or username is substituted into ACL patterns. */
  aclPatternAllowSlash: boolean;
  allowZeroLengthClientId: boolean;
  autoIdPrefix: string;

  persistence: boolean;
  persistenceLocation: string;
  persistenceFile: string;
  /** Directory of the RAM journal (`persistence_journal`); '' for none. */
  persistenceJournal: string;
  /** Seconds between saves (only when something changed). */
  autosaveInterval: number;
  /** Seconds an offline persistent session is kept at most (`persistent_client_expiration`); undefined: as asked. */
  persistentClientExpiration?: number;
  /** mqttd extension: sessions kept beyond their connection; 0: no limit. */
  maxPersistentSessions: number;

  /** Broker-wide cap; -1 unlimited. Listeners have their own caps too. */
  maxConnections: number;
  /** Largest PUBLISH payload accepted; 0: no limit beyond maxPacketSize. */
  messageSizeLimit: number;
  /** Largest packet accepted; 0: MQTT's own 256 MB limit. */
  maxPacketSize: number;
  maxQueuedMessages: number;
  /** 0: no byte limit. */
  maxQueuedBytes: number;
  /** `memory_limit`: bytes held before new PUBLISHes are refused; 0: no limit. */
  memoryLimit: number;
  /** mqttd extension: subscriptions one client may hold; 0: no limit. */
  maxSubscriptionsPerClient: number;
  maxInflightMessages: number;
  /** Seconds a publisher may be paused at a time for a subscriber's long queue (mqttd only). */
  publisherHoldTimeout: number;
  /** 0: no cap (mosquitto's default is 65535). */
  maxKeepalive: number;
  retainAvailable: boolean;
  /** mqttd extensions: retained messages and bytes kept at most; 0: no limit. */
  maxRetainedMessages: number;
  maxRetainedBytes: number;
  queueQos0Messages: boolean;
  upgradeOutgoingQos: boolean;
  /** mqttd extension: seconds a socket may stay open without a CONNECT. */
  connectTimeout: number;

  sysInterval: number;
  logTypes: Set<LogType>;
  logDest: LogDestination[];
  logTimestamp: boolean;

  /** mqttd extension: JSON status written here every sys_interval for LuCI's Status page. */
  statusFile?: string;
  /** mqttd extension: the LuCI explorer's control endpoint (URL and secret) is written here; unset: no endpoint. */
  controlFile?: string;
  /** mqttd extension: topics the explorer's "last message" cache holds while a LuCI page watches. */
  explorerCacheSize: number;
  /** Written with the daemon's pid at start (`pid_file`). */
  pidFile?: string;

  /** `rules_file`: simple rules in mosquitto.conf style (docs/rules.md); may be given more than once. */
  rulesFiles: string[];
  /** `rules_dir`: every `*.js` file in it is a script rule. */
  rulesDir?: string;
  /** `rules_script_time_limit`: ms one script callback may run before the script is stopped. */
  rulesScriptTimeLimit: number;
  /** The UCI file whose `config rule` sections are simple rules (re-read on reload). */
  uciRulesFile?: string;

  bridges: BridgeConfig[];

  /**
   * No listener was configured, so (as mosquitto 2.0) only 127.0.0.1 and ::1 port 1883 are
   * bound; the daemon may print mosquitto's "local only mode" notice.
   */
  localOnly: boolean;
  /** `user`: recorded only; on OpenWrt procd starts mqttd as its own user, mqttd never switches. */
  user?: string;
}

/** mosquitto 2's defaults, except where a router needs otherwise (noted). */
export function defaultConfig(): BrokerConfig {
  return {
    listeners: [],
    listenersAwaitingNetwork: [],
    allowAnonymous: false,
    passwordCheckConcurrency: PASSWORD_CHECK_DEFAULTS.concurrency,
    passwordCheckQueue: PASSWORD_CHECK_DEFAULTS.maxQueued,
    aclPatternAllowSlash: false,
    allowZeroLengthClientId: true,
    autoIdPrefix: 'auto-',
    persistence: false,
    persistenceLocation: '',
    persistenceFile: 'mqttd.db',
    persistenceJournal: '/var/run/mqttd/',
    autosaveInterval: 1800,
    maxPersistentSessions: 0,
    maxConnections: -1,
    messageSizeLimit: 0,
    maxPacketSize: 0,
    maxQueuedMessages: 1000,
    maxQueuedBytes: 0,
    memoryLimit: 0,
    maxSubscriptionsPerClient: 0,
    maxInflightMessages: 20,
    publisherHoldTimeout: 1,
    maxKeepalive: 65535,
    retainAvailable: true,
    maxRetainedMessages: 0,
    maxRetainedBytes: 0,
    queueQos0Messages: false,
    upgradeOutgoingQos: false,
    connectTimeout: 10,
    sysInterval: 10,
    explorerCacheSize: 1000,
    logTypes: new Set<LogType>(['error', 'warning', 'notice', 'information']),
    logDest: ['stderr'],
    logTimestamp: true,
    rulesFiles: [],
    rulesScriptTimeLimit: 1000,
    bridges: [],
    localOnly: false,
  };
}

export function defaultListener(port: number): ListenerConfig {
  return {
    port,
    protocol: 'mqtt',
    maxConnections: -1,
    requireCertificate: false,
    useIdentityAsUsername: false,
  };
}

/**
 * mosquitto 2.0's defaults for a `connection` block. The client ids are filled in by the
 * config reader (mosquitto: `<hostname>.<name>` and `local.<remote id>`).
 */
export function defaultBridge(name: string): BridgeConfig {
  return {
    name,
    addresses: [],
    roundRobin: false,
    topics: [],
    cleanSession: false,
    keepaliveInterval: 60,
    restartTimeout: { base: 5, cap: 30 },
    protocolVersion: 4,
    tryPrivate: true,
    notifications: true,
    outgoingRetain: true,
    startType: 'automatic',
    insecure: false,
    maxQueuedMessages: 1000,
  };
}

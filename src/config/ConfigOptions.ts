/**
 * Every mosquitto.conf option mqttd reads, as one table: the reader (ConfigFile) looks options
 * up here, and docs/config.md's option table is generated from it (a test keeps them equal).
 */
import { PASSWORD_CHECK_DEFAULTS } from '../auth/PasswordCheckQueue';
import { LOG_LEVELS } from '../log/Logger';
import type { BridgeConfig, BrokerConfig, ListenerConfig, LogDestination, LogType } from './BrokerConfig';
import { INT_MAX, INTEGER_RANGES } from './integerRanges';
import {
  checkBool,
  checkChoice,
  checkExpiration,
  checkInteger,
  checkPort,
  checkPublishTopic,
  checkTopicFilter,
  describeChoices,
  quote,
  type Checked,
} from './ConfigValues';

/** Where an option applies: the whole broker, the latest `listener`, or the latest `connection`. */
export type OptionScope = 'general' | 'listener' | 'bridge';

/** yes: as mosquitto 2.0; differs: same option, see the note; extension: mqttd only. */
export type MosquittoCompat = 'yes' | 'differs' | 'extension';

/** One option line, split the way mosquitto splits it. */
export interface OptionLine {
  /** Words after the option name, up to an inline `# comment`. */
  words: string[];
  /** Words after the option name as written (a bridge topic pattern may be `#`). */
  rawWords: string[];
  /** Everything after the option name, trimmed: the value of path and name options. */
  rest: string;
}

/** What the reader has seen so far, for mosquitto's rules that depend on earlier lines. */
export interface ReadFlags {
  allowAnonymousSet: boolean;
  logTypesSet: boolean;
  logDestSet: boolean;
  /** `port`, `bind_address` or `listener` appeared: not mosquitto's local-only mode. */
  listenerConfigured: boolean;
  /** `port`, `bind_address` or a listener option before any `listener`. */
  defaultListenerUsed: boolean;
}

/** The reader's state as an option sees it. */
export interface OptionContext {
  readonly config: BrokerConfig;
  /** The latest `listener` of this file, or the default listener before one. */
  readonly listener: ListenerConfig;
  /** mosquitto's default listener: `port`, `bind_address` and listener options before any `listener`. */
  readonly defaultListener: ListenerConfig;
  /** The latest `connection` of this file. */
  readonly bridge: BridgeConfig | undefined;
  /** Listeners defined so far by `listener` lines in any file. */
  readonly listenerCount: number;
  readonly flags: ReadFlags;
  startListener(port: number, bindAddress: string | undefined): string | undefined;
  startBridge(name: string): string | undefined;
  includeDir(dir: string): string | undefined;
}

/** Applies an option line; returns why the value is wrong, or undefined. */
export type ApplyOption = (ctx: OptionContext, line: OptionLine) => string | undefined;

export interface ConfigOption {
  name: string;
  /** Other names mosquitto accepts for it. */
  aliases: readonly string[];
  scope: OptionScope;
  /** The default as documented (text). */
  default: string;
  mosquitto: MosquittoCompat;
  description: string;
  /** How mqttd differs from mosquitto, when `mosquitto` is 'differs'. */
  note?: string;
  /** Setting a path or name twice in one scope is an error, as in mosquitto. */
  once?: boolean;
  apply: ApplyOption;
}


/** The one value word of an option, an inline `# comment` allowed after it. */
function singleWord(line: OptionLine): Checked<string> {
  if (line.words.length === 0) return { ok: false, reason: 'expected a value' };
  if (line.words.length > 1) return { ok: false, reason: `unexpected ${quote(line.words[1])} after the value` };
  return { ok: true, value: line.words[0] };
}

function bool(set: (ctx: OptionContext, value: boolean) => void): ApplyOption {
  return (ctx, line) => {
    const word = singleWord(line);
    if (!word.ok) return word.reason;
    const value = checkBool(word.value);
    if (!value.ok) return value.reason;
    set(ctx, value.value);
    return undefined;
  };
}

function int(min: number, max: number, set: (ctx: OptionContext, value: number) => void, rangeText?: string): ApplyOption {
  return (ctx, line) => {
    const word = singleWord(line);
    if (!word.ok) return word.reason;
    const value = checkInteger(word.value, min, max, rangeText);
    if (!value.ok) return value.reason;
    set(ctx, value.value);
    return undefined;
  };
}

function choice<T extends string>(choices: readonly T[], set: (ctx: OptionContext, value: T) => void): ApplyOption {
  return (ctx, line) => {
    const word = singleWord(line);
    if (!word.ok) return word.reason;
    const value = checkChoice(word.value, choices);
    if (!value.ok) return value.reason;
    set(ctx, value.value);
    return undefined;
  };
}

/** Paths and names: the rest of the line, spaces and `#` included, as mosquitto reads them. */
function text(set: (ctx: OptionContext, value: string) => string | void): ApplyOption {
  return (ctx, line) => {
    if (line.rest === '') return 'expected a value';
    return set(ctx, line.rest) ?? undefined;
  };
}

/** A bridge option: only after a `connection` line (the reader checks too, for the message). */
function bridge(apply: (b: BridgeConfig, line: OptionLine, ctx: OptionContext) => string | undefined): ApplyOption {
  return (ctx, line) => (ctx.bridge ? apply(ctx.bridge, line, ctx) : 'no connection');
}

function bridgeBool(set: (b: BridgeConfig, value: boolean) => void): ApplyOption {
  return bridge((b, line, ctx) => bool((_ctx, v) => set(b, v))(ctx, line));
}

function bridgeInt(min: number, max: number, set: (b: BridgeConfig, value: number) => void): ApplyOption {
  return bridge((b, line, ctx) => int(min, max, (_ctx, v) => set(b, v))(ctx, line));
}

function bridgeText(set: (b: BridgeConfig, value: string) => string | void): ApplyOption {
  return bridge((b, line) => (line.rest === '' ? 'expected a value' : (set(b, line.rest) ?? undefined)));
}

/** The log_type words, as mosquitto spells them (the UCI reader accepts the same). */
export const LOG_TYPES: readonly LogType[] = [...LOG_LEVELS, 'all', 'none'];

/** Every concrete log type; `log_type all` turns all of them on. */
export const ALL_LOG_TYPES: readonly LogType[] = LOG_LEVELS;

const LOG_DESTS = ['stdout', 'stderr', 'syslog', 'none', 'file'] as const;

function applyLogType(ctx: OptionContext, line: OptionLine): string | undefined {
  const word = singleWord(line);
  if (!word.ok) {
    return line.words.length > 1 ? `${word.reason}; write one log_type line per type` : word.reason;
  }
  if (word.value === 'internal') return "log type 'internal' is a mosquitto value that mqttd does not support";
  const type = checkChoice(word.value, LOG_TYPES);
  if (!type.ok) return type.reason;
  // The first log_type line replaces the default set, as in mosquitto.
  if (!ctx.flags.logTypesSet) {
    ctx.flags.logTypesSet = true;
    ctx.config.logTypes = new Set<LogType>();
  }
  if (type.value === 'none') ctx.config.logTypes.clear();
  else if (type.value === 'all') for (const t of ALL_LOG_TYPES) ctx.config.logTypes.add(t);
  else ctx.config.logTypes.add(type.value);
  return undefined;
}

function applyLogDest(ctx: OptionContext, line: OptionLine): string | undefined {
  if (line.words.length === 0) return 'expected a value';
  const kind = line.words[0];
  if (kind === 'topic' || kind === 'dlt') return `log destination ${quote(kind)} is a mosquitto value that mqttd does not support`;
  const dest = checkChoice(kind, LOG_DESTS);
  if (!dest.ok) return dest.reason;
  if (dest.value !== 'file' && line.words.length > 1) return `unexpected ${quote(line.words[1])} after the value`;
  // The first log_dest line replaces the default (stderr), as in mosquitto.
  if (!ctx.flags.logDestSet) {
    ctx.flags.logDestSet = true;
    ctx.config.logDest = [];
  }
  const dests = ctx.config.logDest;
  if (dest.value === 'file') {
    const path = line.rest.slice(4).trim();
    if (path === '') return "expected a file path after 'file'";
    if (dests.some((d) => typeof d === 'object')) return "duplicate 'log_dest file': only one log file is possible";
    setLogDest(dests, { file: path });
  } else if (dest.value === 'none') {
    dests.length = 0;
  } else {
    setLogDest(dests, dest.value);
  }
  return undefined;
}

function setLogDest(dests: LogDestination[], dest: LogDestination): void {
  if (typeof dest === 'string' && dests.includes(dest)) return;
  dests.push(dest);
}

/** `address host[:port] [host[:port] ...]`; IPv6 as [addr]:port (a bare one is refused: its port is ambiguous). */
function applyAddress(b: BridgeConfig, line: OptionLine): string | undefined {
  if (b.addresses.length > 0) return `duplicate address line for bridge ${quote(b.name)}: list every address on one line`;
  if (line.words.length === 0) return 'expected host[:port]';
  const addresses: { host: string; port: number }[] = [];
  for (const word of line.words) {
    let host = word;
    let portText: string | undefined;
    const bracket = /^\[([^\]]+)\](?::(.*))?$/.exec(word);
    if (bracket) {
      host = bracket[1];
      portText = bracket[2];
    } else {
      const colon = word.lastIndexOf(':');
      // A bare IPv6 address would read as host 'fd00:' port 1: ask for brackets instead.
      if (colon >= 0 && word.indexOf(':') !== colon) {
        return `${quote(word)} looks like an IPv6 address: write it as [address]:port`;
      }
      if (colon >= 0) {
        host = word.slice(0, colon);
        portText = word.slice(colon + 1);
      }
    }
    if (host === '') return `expected host[:port], got ${quote(word)}`;
    let port = 1883;
    if (portText !== undefined) {
      const checked = checkPort(portText);
      if (!checked.ok) return `in ${quote(word)}: ${checked.reason}`;
      port = checked.value;
    }
    addresses.push({ host, port });
  }
  b.addresses = addresses;
  return undefined;
}

/**
 * `topic <pattern> [in|out|both] [qos] [local-prefix] [remote-prefix]`, mosquitto's rules:
 * `""` is an empty prefix; the pattern may be `""` only when both prefixes are given, and then
 * the prefixes themselves are the topics.
 */
function applyTopic(b: BridgeConfig, line: OptionLine): string | undefined {
  if (line.rawWords.length === 0) return 'expected a topic pattern';
  const rawPattern = line.rawWords[0];
  // After the pattern a word starting with # is a comment, as mosquitto reads it.
  const rest: string[] = [];
  for (const word of line.rawWords.slice(1)) {
    if (word.startsWith('#')) break;
    rest.push(word);
  }
  if (rest.length > 4) return `unexpected ${quote(rest[4])} after the remote prefix`;
  let direction: 'in' | 'out' | 'both' = 'out';
  if (rest[0] !== undefined) {
    const checked = checkChoice(rest[0].toLowerCase(), ['in', 'out', 'both'] as const);
    if (!checked.ok) return `direction: expected in, out or both, got ${quote(rest[0])}`;
    direction = checked.value;
  }
  let qos: 0 | 1 | 2 = 0;
  if (rest[1] !== undefined) {
    const checked = checkInteger(rest[1], 0, 2, '0, 1 or 2 (QoS)');
    if (!checked.ok) return checked.reason;
    qos = checked.value as 0 | 1 | 2;
  }
  const prefix = (word: string | undefined): string | undefined => (word === undefined || word === '""' ? undefined : word);
  const localPrefix = prefix(rest[2]);
  const remotePrefix = prefix(rest[3]);
  for (const [which, value] of [['local', localPrefix], ['remote', remotePrefix]] as const) {
    if (value === undefined) continue;
    const checked = checkPublishTopic(value);
    if (!checked.ok) return `${which} prefix: ${checked.reason}`;
  }
  const pattern = rawPattern === '""' ? '' : rawPattern;
  if (pattern === '') {
    if (localPrefix === undefined || remotePrefix === undefined) {
      return 'an empty ("") topic pattern needs both a local and a remote prefix';
    }
  } else {
    const checked = checkTopicFilter(pattern);
    if (!checked.ok) return `topic pattern: ${checked.reason}`;
    for (const [which, value] of [['local', localPrefix], ['remote', remotePrefix]] as const) {
      if (value === undefined) continue;
      const combined = checkTopicFilter(value + pattern);
      if (!combined.ok) return `${which} prefix and pattern make ${quote(value + pattern)}, not a valid topic filter`;
    }
  }
  b.topics.push({ pattern, direction, qos, localPrefix: localPrefix ?? '', remotePrefix: remotePrefix ?? '' });
  return undefined;
}

function applyRestartTimeout(b: BridgeConfig, line: OptionLine): string | undefined {
  if (line.words.length === 0) return 'expected <base> [<cap>] in seconds';
  if (line.words.length > 2) return `unexpected ${quote(line.words[2])} after the cap`;
  const base = checkInteger(line.words[0], 1, INT_MAX, 'of seconds, 1 or more');
  if (!base.ok) return base.reason;
  if (line.words.length === 1) {
    b.restartTimeout = { base: base.value };
    return undefined;
  }
  const cap = checkInteger(line.words[1], 1, INT_MAX, 'of seconds, 1 or more');
  if (!cap.ok) return `cap: ${cap.reason}`;
  if (cap.value < base.value) return `the cap (${cap.value}) is lower than the base (${base.value})`;
  b.restartTimeout = { base: base.value, cap: cap.value };
  return undefined;
}

function setListener(set: (l: ListenerConfig, value: string) => string | void): ApplyOption {
  return text((ctx, value) => set(ctx.listener, value));
}

export const CONFIG_OPTIONS: readonly ConfigOption[] = [
  // ---- general ----
  {
    name: 'include_dir',
    aliases: [],
    scope: 'general',
    default: '',
    mosquitto: 'differs',
    description: 'Reads every `*.conf` file in the directory, in mosquitto\'s sorted order, as if written here.',
    note: 'Only in the main file, as mosquitto; mqttd reports include_dir in an included file as an error where mosquitto ignores it.',
    apply: text((ctx, value) => ctx.includeDir(value)),
  },
  {
    name: 'allow_anonymous',
    aliases: [],
    scope: 'general',
    default: 'false (true in local-only mode)',
    mosquitto: 'differs',
    description: 'Whether clients without a username may connect.',
    note: 'mosquitto forces true in local-only mode even when set to false; mqttd keeps an explicit false.',
    apply: bool((ctx, v) => {
      ctx.config.allowAnonymous = v;
      ctx.flags.allowAnonymousSet = true;
    }),
  },
  {
    name: 'password_file',
    aliases: [],
    scope: 'general',
    default: '(none)',
    mosquitto: 'yes',
    description: 'mosquitto_passwd file of users and password hashes.',
    once: true,
    apply: text((ctx, v) => void (ctx.config.passwordFile = v)),
  },
  {
    name: 'password_check_concurrency',
    aliases: [],
    scope: 'general',
    default: String(PASSWORD_CHECK_DEFAULTS.concurrency),
    mosquitto: 'extension',
    description: 'Password checks computed at once, off the event loop (bcrypt on worker threads, PBKDF2 on the thread pool).',
    apply: int(...INTEGER_RANGES.password_check_concurrency, (ctx, v) => void (ctx.config.passwordCheckConcurrency = v)),
  },
  {
    name: 'password_check_queue',
    aliases: [],
    scope: 'general',
    default: String(PASSWORD_CHECK_DEFAULTS.maxQueued),
    mosquitto: 'extension',
    description: 'Logins that may wait for a password check; beyond it a login is refused at once with "server unavailable" (v5 0x89 Server busy).',
    apply: int(...INTEGER_RANGES.password_check_queue, (ctx, v) => void (ctx.config.passwordCheckQueue = v)),
  },
  {
    name: 'acl_file',
    aliases: [],
    scope: 'general',
    default: '(none)',
    mosquitto: 'yes',
    description: 'mosquitto ACL file: which user may read or write which topics.',
    once: true,
    apply: text((ctx, v) => void (ctx.config.aclFile = v)),
  },
  {
    name: 'acl_pattern_allow_slash',
    aliases: [],
    scope: 'general',
    default: 'false',
    mosquitto: 'extension',
    description: 'Whether a client id or username containing `/` is substituted into `%c`/`%u` ACL patterns.',
    note: 'mqttd only. false: such a client gets no pattern rules (as one with `+` or `#`), so the id `victim/inbox` cannot reach `clients/victim/inbox/#` through `clients/%c/#`; true is mosquitto 2.0.11\'s behaviour.',
    apply: bool((ctx, v) => void (ctx.config.aclPatternAllowSlash = v)),
  },
  {
    name: 'allow_zero_length_clientid',
    aliases: [],
    scope: 'general',
    default: 'true',
    mosquitto: 'yes',
    description: 'Whether a client may connect with an empty client id (it is given one).',
    apply: bool((ctx, v) => void (ctx.config.allowZeroLengthClientId = v)),
  },
  {
    name: 'auto_id_prefix',
    aliases: [],
    scope: 'general',
    default: 'auto-',
    mosquitto: 'yes',
    description: 'Prefix of the client ids given to clients that connect without one.',
    once: true,
    apply: text((ctx, v) => void (ctx.config.autoIdPrefix = v)),
  },
  {
    name: 'persistence',
    aliases: ['retained_persistence'],
    scope: 'general',
    default: 'false',
    mosquitto: 'yes',
    description: 'Save retained messages, sessions and subscriptions to disk.',
    apply: bool((ctx, v) => void (ctx.config.persistence = v)),
  },
  {
    name: 'persistence_location',
    aliases: [],
    scope: 'general',
    default: '(current directory)',
    mosquitto: 'yes',
    description: 'Directory of the persistence file.',
    once: true,
    apply: text((ctx, v) => void (ctx.config.persistenceLocation = v)),
  },
  {
    name: 'persistence_file',
    aliases: [],
    scope: 'general',
    default: 'mqttd.db',
    mosquitto: 'differs',
    description: 'Name of the persistence file inside persistence_location.',
    note: "mosquitto's default name is mosquitto.db, and its file format is not mqttd's.",
    once: true,
    apply: text((ctx, v) => void (ctx.config.persistenceFile = v)),
  },
  {
    name: 'persistence_journal',
    aliases: [],
    scope: 'general',
    default: '/var/run/mqttd/',
    mosquitto: 'extension',
    description:
      'Directory in RAM (tmpfs) for the write-ahead journal: every acknowledged change is appended there before its ' +
      'acknowledgement and compacted into the persistence file at each save, so a crash or kill -9 loses nothing ' +
      'acknowledged. `none`: no journal (a crash loses the changes since the last save, as in mosquitto).',
    once: true,
    apply: text((ctx, v) => void (ctx.config.persistenceJournal = v === 'none' ? '' : v)),
  },
  {
    name: 'autosave_interval',
    aliases: [],
    scope: 'general',
    default: '1800',
    mosquitto: 'yes',
    description: 'Seconds between saves of the persistence file (when something changed).',
    apply: int(...INTEGER_RANGES.autosave_interval, (ctx, v) => void (ctx.config.autosaveInterval = v)),
  },
  {
    name: 'persistent_client_expiration',
    aliases: [],
    scope: 'general',
    default: '(never)',
    mosquitto: 'yes',
    description:
      'How long an offline persistent session is kept at most, whatever its MQTT 5 Session Expiry asks: a count and a unit h, d, w, m (30 days) or y.',
    apply: (ctx, line) => {
      const word = singleWord(line);
      if (!word.ok) return word.reason;
      const seconds = checkExpiration(word.value);
      if (!seconds.ok) return seconds.reason;
      ctx.config.persistentClientExpiration = seconds.value;
      return undefined;
    },
  },
  {
    name: 'max_persistent_sessions',
    aliases: [],
    scope: 'general',
    default: '0',
    mosquitto: 'extension',
    description:
      'Most sessions kept beyond their connection (clean session false, or MQTT 5 Session Expiry); a client asking for a new one beyond is refused (CONNACK 3, or 0x97 Quota exceeded in MQTT 5); 0: no limit.',
    apply: int(...INTEGER_RANGES.max_persistent_sessions, (ctx, v) => void (ctx.config.maxPersistentSessions = v)),
  },
  {
    name: 'global_max_connections',
    aliases: [],
    scope: 'general',
    default: '-1',
    mosquitto: 'extension',
    description: 'Most clients connected at once over all listeners; -1: no limit.',
    note: 'Not in mosquitto 2.0 (newer mosquitto has it with the same meaning).',
    apply: int(...INTEGER_RANGES.max_connections, (ctx, v) => void (ctx.config.maxConnections = v), 'from -1 (no limit) upwards'),
  },
  {
    name: 'message_size_limit',
    aliases: [],
    scope: 'general',
    default: '0',
    mosquitto: 'yes',
    description: 'Largest PUBLISH payload accepted, in bytes; 0: no limit beyond max_packet_size.',
    apply: int(...INTEGER_RANGES.message_size_limit, (ctx, v) => void (ctx.config.messageSizeLimit = v)),
  },
  {
    name: 'max_packet_size',
    aliases: [],
    scope: 'general',
    default: '(MQTT limit, 256 MB)',
    mosquitto: 'yes',
    description: 'Largest packet accepted from a client, in bytes (at least 20).',
    apply: int(...INTEGER_RANGES.max_packet_size, (ctx, v) => void (ctx.config.maxPacketSize = v)),
  },
  {
    name: 'memory_limit',
    aliases: [],
    scope: 'general',
    default: '0',
    mosquitto: 'differs',
    description:
      'Bytes of retained and queued messages, subscriptions and packets being read the broker holds before it refuses new PUBLISHes and subscriptions; 0: no limit.',
    note:
      'mosquitto counts every allocation of its heap; mqttd counts the bytes clients make it hold (see the limits table). A refused PUBLISH gets 0x97 Quota exceeded (MQTT 5) or, at QoS 1/2, closes the connection unacknowledged (3.x), as mosquitto.',
    apply: int(...INTEGER_RANGES.memory_limit, (ctx, v) => void (ctx.config.memoryLimit = v)),
  },
  {
    name: 'max_queued_messages',
    aliases: [],
    scope: 'general',
    default: '1000',
    mosquitto: 'differs',
    description: 'QoS 1/2 messages held per client beyond those in flight; 0: no limit.',
    note: 'mosquitto turns a negative value into 0; mqttd refuses it.',
    apply: int(...INTEGER_RANGES.max_queued_messages, (ctx, v) => void (ctx.config.maxQueuedMessages = v)),
  },
  {
    name: 'max_queued_bytes',
    aliases: [],
    scope: 'general',
    default: '0',
    mosquitto: 'differs',
    description: 'Bytes of messages held per client; 0: no limit.',
    note: 'mosquitto turns a negative value into 0; mqttd refuses it.',
    apply: int(...INTEGER_RANGES.max_queued_bytes, (ctx, v) => void (ctx.config.maxQueuedBytes = v)),
  },
  {
    name: 'max_subscriptions_per_client',
    aliases: [],
    scope: 'general',
    default: '0',
    mosquitto: 'extension',
    description: 'Subscriptions one client may hold; a new one beyond is refused (SUBACK 0x80, or 0x97 Quota exceeded in MQTT 5); 0: no limit.',
    apply: int(...INTEGER_RANGES.max_subscriptions_per_client, (ctx, v) => void (ctx.config.maxSubscriptionsPerClient = v)),
  },
  {
    name: 'max_inflight_messages',
    aliases: [],
    scope: 'general',
    default: '20',
    mosquitto: 'differs',
    description: 'QoS 1/2 messages in flight to one client at once; 0: no limit.',
    note: 'mosquitto turns a negative value into 0; mqttd refuses it.',
    apply: int(...INTEGER_RANGES.max_inflight_messages, (ctx, v) => void (ctx.config.maxInflightMessages = v)),
  },
  {
    name: 'publisher_hold_timeout',
    aliases: [],
    scope: 'general',
    default: '1',
    mosquitto: 'extension',
    description:
      'Seconds a publisher is paused, at most and at a time, while a subscriber it feeds has half of max_queued_messages queued; then that subscriber drops at its limits until its queue is down to a quarter. 0: never paused.',
    note: 'mosquitto never pauses a publisher: it drops at once.',
    apply: int(...INTEGER_RANGES.publisher_hold_timeout, (ctx, v) => void (ctx.config.publisherHoldTimeout = v)),
  },
  {
    name: 'max_keepalive',
    aliases: [],
    scope: 'general',
    default: '65535',
    mosquitto: 'differs',
    description: 'Longest keepalive a client may ask for, in seconds (MQTT 5 clients are told it).',
    note: 'mosquitto 2.0 accepts 10 to 65535; mqttd also accepts 0, no cap, as newer mosquitto does.',
    apply: (ctx, line) => {
      const word = singleWord(line);
      if (!word.ok) return word.reason;
      const range = '0 (no cap) or from 10 to 65535';
      const value = checkInteger(word.value, 0, 65535, range);
      if (!value.ok) return value.reason;
      if (value.value > 0 && value.value < 10) return `expected a whole number ${range}, got ${quote(word.value)}`;
      ctx.config.maxKeepalive = value.value;
      return undefined;
    },
  },
  {
    name: 'retain_available',
    aliases: [],
    scope: 'general',
    default: 'true',
    mosquitto: 'yes',
    description: 'Whether retained messages are supported.',
    apply: bool((ctx, v) => void (ctx.config.retainAvailable = v)),
  },
  {
    name: 'max_retained_messages',
    aliases: [],
    scope: 'general',
    default: '0',
    mosquitto: 'extension',
    description:
      'Most retained messages kept; a retained PUBLISH to a new topic beyond is refused (0x97 in MQTT 5, acknowledged and dropped in 3.x); 0: no limit.',
    apply: int(...INTEGER_RANGES.max_retained_messages, (ctx, v) => void (ctx.config.maxRetainedMessages = v)),
  },
  {
    name: 'max_retained_bytes',
    aliases: [],
    scope: 'general',
    default: '0',
    mosquitto: 'extension',
    description: 'Most bytes of retained messages kept, refused as max_retained_messages; 0: no limit.',
    apply: int(...INTEGER_RANGES.max_retained_bytes, (ctx, v) => void (ctx.config.maxRetainedBytes = v)),
  },
  {
    name: 'queue_qos0_messages',
    aliases: [],
    scope: 'general',
    default: 'false',
    mosquitto: 'yes',
    description: 'Also queue QoS 0 messages for offline persistent clients.',
    apply: bool((ctx, v) => void (ctx.config.queueQos0Messages = v)),
  },
  {
    name: 'upgrade_outgoing_qos',
    aliases: [],
    scope: 'general',
    default: 'false',
    mosquitto: 'yes',
    description: "Deliver at the subscription's QoS even when the message was published at a lower one.",
    apply: bool((ctx, v) => void (ctx.config.upgradeOutgoingQos = v)),
  },
  {
    name: 'sys_interval',
    aliases: [],
    scope: 'general',
    default: '10',
    mosquitto: 'yes',
    description: 'Seconds between $SYS topic updates; 0: none.',
    apply: int(...INTEGER_RANGES.sys_interval, (ctx, v) => void (ctx.config.sysInterval = v)),
  },
  {
    name: 'log_type',
    aliases: [],
    scope: 'general',
    default: 'error, warning, notice, information',
    mosquitto: 'yes',
    description: `What to log, one type per line: ${describeChoices(LOG_TYPES)}. The first line replaces the default.`,
    apply: applyLogType,
  },
  {
    name: 'log_dest',
    aliases: [],
    scope: 'general',
    default: 'stderr',
    mosquitto: 'differs',
    description: 'Where to log, one per line: stdout, stderr, syslog, none, or file <path>. The first line replaces the default.',
    note: "mosquitto's topic and dlt destinations are not supported.",
    apply: applyLogDest,
  },
  {
    name: 'log_timestamp',
    aliases: [],
    scope: 'general',
    default: 'true',
    mosquitto: 'yes',
    description: 'Start each log line with the time.',
    apply: bool((ctx, v) => void (ctx.config.logTimestamp = v)),
  },
  {
    name: 'pid_file',
    aliases: [],
    scope: 'general',
    default: '(none)',
    mosquitto: 'yes',
    description: "File the daemon's process id is written to at start.",
    once: true,
    apply: text((ctx, v) => void (ctx.config.pidFile = v)),
  },
  {
    name: 'user',
    aliases: [],
    scope: 'general',
    default: '(none)',
    mosquitto: 'differs',
    description: 'Accepted and recorded only: mqttd never switches user itself.',
    note: 'mosquitto drops root privileges to this user (default mosquitto); on OpenWrt procd starts mqttd as the mqttd user instead.',
    apply: text((ctx, v) => void (ctx.config.user = v)),
  },
  {
    name: 'connect_timeout',
    aliases: [],
    scope: 'general',
    default: '10',
    mosquitto: 'extension',
    description: 'Seconds a new connection may take to be accepted: until CONNACK, the password check included.',
    apply: int(...INTEGER_RANGES.connect_timeout, (ctx, v) => void (ctx.config.connectTimeout = v)),
  },
  {
    name: 'status_file',
    aliases: [],
    scope: 'general',
    default: '(none)',
    mosquitto: 'extension',
    description: "JSON status rewritten every sys_interval seconds, for LuCI's status page.",
    once: true,
    apply: text((ctx, v) => void (ctx.config.statusFile = v)),
  },
  {
    name: 'control_file',
    aliases: [],
    scope: 'general',
    default: '(none)',
    mosquitto: 'extension',
    description:
      "Starts the control endpoint of LuCI's topic explorer (HTTP on 127.0.0.1, random port) and writes its URL and a secret made at start here, mode 0600.",
    once: true,
    apply: text((ctx, v) => void (ctx.config.controlFile = v)),
  },
  {
    name: 'explorer_cache_size',
    aliases: [],
    scope: 'general',
    default: '1000',
    mosquitto: 'extension',
    description:
      'Topics whose last message the topic explorer keeps (at most 2 KiB each) while a LuCI page watches; nothing is kept when none does. 0: retained topics only.',
    apply: int(...INTEGER_RANGES.explorer_cache_size, (ctx, v) => void (ctx.config.explorerCacheSize = v)),
  },
  {
    name: 'rules_file',
    aliases: [],
    scope: 'general',
    default: '(none)',
    mosquitto: 'extension',
    description: 'A file of simple rules (`rule <name>` blocks, see docs/rules.md); may be given more than once. Reread on SIGHUP.',
    apply: text((ctx, v) => void ctx.config.rulesFiles.push(v)),
  },
  {
    name: 'rules_dir',
    aliases: [],
    scope: 'general',
    default: '(none; UCI: /etc/mqttd/rules.d)',
    mosquitto: 'extension',
    description: 'A directory of script rules: each `*.js` file is one (docs/rules.md). Reread on SIGHUP.',
    once: true,
    apply: text((ctx, v) => void (ctx.config.rulesDir = v)),
  },
  {
    name: 'rules_script_time_limit',
    aliases: [],
    scope: 'general',
    default: '1000',
    mosquitto: 'extension',
    description: 'Milliseconds one script-rule callback may run; a script that runs longer (a loop) is stopped until the next reload.',
    apply: int(...INTEGER_RANGES.rules_script_time_limit, (ctx, v) => void (ctx.config.rulesScriptTimeLimit = v)),
  },
  // ---- listeners ----
  {
    name: 'listener',
    aliases: [],
    scope: 'general',
    default: '',
    mosquitto: 'differs',
    description: '`listener <port> [<bind address or host>]` starts a listener; the listener options after it apply to it.',
    note: 'Unix socket listeners (port 0) are not supported; the same port and address twice is an error.',
    apply: (ctx, line) => {
      if (line.words.length === 0) return 'expected <port> [<bind address>]';
      if (line.words.length > 2) return `unexpected ${quote(line.words[2])} after the bind address`;
      if (line.words[0] === '0') return 'port 0 is a mosquitto unix socket listener, which mqttd does not support';
      const port = checkPort(line.words[0]);
      if (!port.ok) return port.reason;
      ctx.flags.listenerConfigured = true;
      return ctx.startListener(port.value, line.words[1]);
    },
  },
  {
    name: 'port',
    aliases: [],
    scope: 'general',
    default: '1883',
    mosquitto: 'yes',
    description: 'Port of the default listener (deprecated in mosquitto: prefer `listener`).',
    apply: (ctx, line) => {
      const word = singleWord(line);
      if (!word.ok) return word.reason;
      const port = checkPort(word.value);
      if (!port.ok) return port.reason;
      ctx.flags.listenerConfigured = true;
      ctx.flags.defaultListenerUsed = true;
      ctx.defaultListener.port = port.value;
      return undefined;
    },
  },
  {
    name: 'bind_address',
    aliases: [],
    scope: 'general',
    default: '(all addresses)',
    mosquitto: 'differs',
    description: 'Address or host of the default listener (deprecated in mosquitto: prefer `listener`).',
    note: 'mosquitto resolves the host name while reading the file; mqttd when it binds.',
    once: true,
    apply: text((ctx, v) => {
      ctx.flags.listenerConfigured = true;
      ctx.flags.defaultListenerUsed = true;
      ctx.defaultListener.bindAddress = v;
    }),
  },
  {
    name: 'protocol',
    aliases: [],
    scope: 'listener',
    default: 'mqtt',
    mosquitto: 'yes',
    description: 'mqtt or websockets.',
    apply: choice(['mqtt', 'websockets'] as const, (ctx, v) => void (ctx.listener.protocol = v)),
  },
  {
    name: 'max_connections',
    aliases: [],
    scope: 'listener',
    default: '-1',
    mosquitto: 'differs',
    description: 'Most clients connected at once to this listener; -1: no limit.',
    note: 'mosquitto turns any negative value into -1; mqttd refuses values below -1.',
    apply: int(...INTEGER_RANGES.max_connections, (ctx, v) => void (ctx.listener.maxConnections = v), 'from -1 (no limit) upwards'),
  },
  {
    name: 'bind_interface',
    aliases: [],
    scope: 'listener',
    default: '(none)',
    mosquitto: 'yes',
    description: 'Bind to the addresses of this network interface (e.g. br-lan).',
    once: true,
    apply: setListener((l, v) => void (l.bindInterface = v)),
  },
  {
    name: 'socket_domain',
    aliases: [],
    scope: 'listener',
    default: '(both)',
    mosquitto: 'yes',
    description: 'ipv4 or ipv6: bind only that address family of the host name.',
    apply: choice(['ipv4', 'ipv6'] as const, (ctx, v) => void (ctx.listener.socketDomain = v)),
  },
  {
    name: 'mount_point',
    aliases: [],
    scope: 'listener',
    default: '(none)',
    mosquitto: 'yes',
    description: "Prefix added to every topic of this listener's clients (no wildcards); needs a `listener` first.",
    once: true,
    apply: text((ctx, v) => {
      if (ctx.listenerCount === 0) return "mount_point needs a 'listener' line before it";
      const checked = checkPublishTopic(v);
      if (!checked.ok) return checked.reason;
      ctx.listener.mountPoint = v;
    }),
  },
  {
    name: 'certfile',
    aliases: [],
    scope: 'listener',
    default: '(none)',
    mosquitto: 'differs',
    note: 'Without keyfile it is an error; mosquitto silently serves the listener without TLS.',
    description: 'PEM server certificate; with keyfile, the listener uses TLS.',
    once: true,
    apply: setListener((l, v) => void (l.certfile = v)),
  },
  {
    name: 'keyfile',
    aliases: [],
    scope: 'listener',
    default: '(none)',
    mosquitto: 'differs',
    note: 'Without certfile it is an error; mosquitto silently serves the listener without TLS.',
    description: 'PEM private key of certfile.',
    once: true,
    apply: setListener((l, v) => void (l.keyfile = v)),
  },
  {
    name: 'cafile',
    aliases: [],
    scope: 'listener',
    default: '(none)',
    mosquitto: 'differs',
    note: 'Without certfile and keyfile it is an error; mosquitto ignores it.',
    description: 'PEM CA certificates that client certificates must chain to (used only with require_certificate).',
    once: true,
    apply: setListener((l, v) => void (l.cafile = v)),
  },
  {
    name: 'capath',
    aliases: [],
    scope: 'listener',
    default: '(none)',
    mosquitto: 'differs',
    note: 'Without certfile and keyfile it is an error, as is a directory that cannot be read or holds no certificate; mosquitto ignores it. mqttd reads `openssl rehash` names and every *.pem/*.crt once, when the listener opens.',
    description: 'Directory of PEM CA certificates, as cafile (used only with require_certificate).',
    once: true,
    apply: setListener((l, v) => void (l.capath = v)),
  },
  {
    name: 'require_certificate',
    aliases: [],
    scope: 'listener',
    default: 'false',
    mosquitto: 'differs',
    note: 'Without TLS, or without cafile/capath, it is an error; mosquitto ignores it.',
    description: 'Clients must present a certificate that verifies against cafile/capath.',
    apply: bool((ctx, v) => void (ctx.listener.requireCertificate = v)),
  },
  {
    name: 'use_identity_as_username',
    aliases: [],
    scope: 'listener',
    default: 'false',
    mosquitto: 'differs',
    note: 'Without certfile and keyfile, or without require_certificate (no client would get in), it is an error; mosquitto ignores it.',
    description: "The client certificate's CN is the username; the CONNECT password is not used.",
    apply: bool((ctx, v) => void (ctx.listener.useIdentityAsUsername = v)),
  },
  {
    name: 'tls_version',
    aliases: [],
    scope: 'listener',
    default: '(tlsv1.2 and up)',
    mosquitto: 'differs',
    description: 'Lowest TLS version accepted: tlsv1.2 or tlsv1.3.',
    note: 'mosquitto also accepts tlsv1.1; without certfile and keyfile it is an error, mosquitto ignores it.',
    apply: choice(['tlsv1.2', 'tlsv1.3'] as const, (ctx, v) => void (ctx.listener.tlsVersion = v)),
  },
  // ---- bridges ----
  {
    name: 'connection',
    aliases: [],
    scope: 'general',
    default: '',
    mosquitto: 'yes',
    description: '`connection <name>` starts a bridge; the bridge options after it apply to it.',
    apply: (ctx, line) => {
      const word = singleWord(line);
      if (!word.ok) return line.words.length === 0 ? 'expected a bridge name' : word.reason;
      return ctx.startBridge(word.value);
    },
  },
  {
    name: 'address',
    aliases: ['addresses'],
    scope: 'bridge',
    default: '(required)',
    mosquitto: 'yes',
    description: 'The remote broker(s): `host[:port] [host[:port] ...]`, port 1883 by default; IPv6 as [addr]:port.',
    apply: bridge((b, line) => applyAddress(b, line)),
  },
  {
    name: 'round_robin',
    aliases: [],
    scope: 'bridge',
    default: 'false',
    mosquitto: 'yes',
    description: 'false: always return to the first address when it is back; true: move on to the next.',
    apply: bridgeBool((b, v) => void (b.roundRobin = v)),
  },
  {
    name: 'topic',
    aliases: [],
    scope: 'bridge',
    default: '(at least one)',
    mosquitto: 'yes',
    description: '`topic <pattern> [in|out|both] [qos] [local-prefix] [remote-prefix]`; `""` is an empty prefix or pattern.',
    apply: bridge((b, line) => applyTopic(b, line)),
  },
  {
    name: 'remote_username',
    aliases: ['username'],
    scope: 'bridge',
    default: '(none)',
    mosquitto: 'yes',
    description: 'Username on the remote broker.',
    once: true,
    apply: bridgeText((b, v) => void (b.remoteUsername = v)),
  },
  {
    name: 'remote_password',
    aliases: ['password'],
    scope: 'bridge',
    default: '(none)',
    mosquitto: 'yes',
    description: 'Password on the remote broker.',
    once: true,
    apply: bridgeText((b, v) => void (b.remotePassword = v)),
  },
  {
    name: 'remote_clientid',
    aliases: ['clientid'],
    scope: 'bridge',
    default: '<hostname>.<connection name>',
    mosquitto: 'yes',
    description: 'Client id on the remote broker.',
    once: true,
    apply: bridgeText((b, v) => void (b.remoteClientId = v)),
  },
  {
    name: 'local_clientid',
    aliases: [],
    scope: 'bridge',
    default: 'local.<remote_clientid>',
    mosquitto: 'yes',
    description: 'Client id of the bridge on this broker; unique per bridge.',
    once: true,
    apply: bridgeText((b, v) => void (b.localClientId = v)),
  },
  {
    name: 'cleansession',
    aliases: [],
    scope: 'bridge',
    default: 'false',
    mosquitto: 'yes',
    description: 'Start a clean session on the remote broker at each connection.',
    apply: bridgeBool((b, v) => void (b.cleanSession = v)),
  },
  {
    name: 'keepalive_interval',
    aliases: [],
    scope: 'bridge',
    default: '60',
    mosquitto: 'differs',
    description: 'Keepalive of the bridge connection, in seconds (5 to 65535).',
    note: 'mosquitto silently raises values below 5 to 5; mqttd refuses them.',
    apply: bridgeInt(5, 65535, (b, v) => void (b.keepaliveInterval = v)),
  },
  {
    name: 'restart_timeout',
    aliases: [],
    scope: 'bridge',
    default: '5 30',
    mosquitto: 'differs',
    description: '`<base> <cap>`: seconds between reconnections, jittered backoff from base up to cap; one number: a constant delay.',
    note: 'mosquitto silently raises a base below 1 to 1; mqttd refuses it.',
    apply: bridge((b, line) => applyRestartTimeout(b, line)),
  },
  {
    name: 'bridge_protocol_version',
    aliases: [],
    scope: 'bridge',
    default: 'mqttv311',
    mosquitto: 'differs',
    description: 'mqttv311 or mqttv50.',
    note: 'mosquitto also accepts mqttv31.',
    apply: bridge((b, line) => {
      const word = singleWord(line);
      if (!word.ok) return word.reason;
      if (word.value === 'mqttv31') return "mqttv31 is a mosquitto value that mqttd does not support: use mqttv311 or mqttv50";
      const version = checkChoice(word.value, ['mqttv311', 'mqttv50'] as const);
      if (!version.ok) return version.reason;
      b.protocolVersion = version.value === 'mqttv50' ? 5 : 4;
      return undefined;
    }),
  },
  {
    name: 'try_private',
    aliases: [],
    scope: 'bridge',
    default: 'true',
    mosquitto: 'yes',
    description: 'Tell the remote broker (mosquitto and mqttd understand it) that this client is a bridge, to avoid loops.',
    apply: bridgeBool((b, v) => void (b.tryPrivate = v)),
  },
  {
    name: 'notifications',
    aliases: [],
    scope: 'bridge',
    default: 'true',
    mosquitto: 'yes',
    description: 'Publish the bridge state (1 connected, 0 not) as a retained message.',
    apply: bridgeBool((b, v) => void (b.notifications = v)),
  },
  {
    name: 'notification_topic',
    aliases: [],
    scope: 'bridge',
    default: '$SYS/broker/connection/<remote_clientid>/state',
    mosquitto: 'yes',
    description: 'Topic of the bridge state notifications.',
    once: true,
    apply: bridgeText((b, v) => {
      const checked = checkPublishTopic(v);
      if (!checked.ok) return checked.reason;
      b.notificationTopic = v;
    }),
  },
  {
    name: 'bridge_outgoing_retain',
    aliases: [],
    scope: 'bridge',
    default: 'true',
    mosquitto: 'yes',
    description: 'Keep the retain flag of messages sent to the remote broker.',
    apply: bridgeBool((b, v) => void (b.outgoingRetain = v)),
  },
  {
    name: 'start_type',
    aliases: [],
    scope: 'bridge',
    default: 'automatic',
    mosquitto: 'differs',
    description: 'Only automatic: connect at start and reconnect after restart_timeout.',
    note: "mosquitto's lazy and once are not supported (manual is not supported by mosquitto either).",
    apply: bridge((_b, line) => {
      const word = singleWord(line);
      if (!word.ok) return word.reason;
      if (['lazy', 'once', 'manual'].includes(word.value)) {
        return `start_type ${word.value} is a mosquitto value that mqttd does not support: only automatic`;
      }
      const checked = checkChoice(word.value, ['automatic'] as const);
      return checked.ok ? undefined : checked.reason;
    }),
  },
  {
    name: 'bridge_cafile',
    aliases: [],
    scope: 'bridge',
    default: '(none)',
    mosquitto: 'yes',
    description: 'PEM CA certificates to verify the remote broker; setting this or bridge_capath turns TLS on.',
    once: true,
    apply: bridgeText((b, v) => void (b.cafile = v)),
  },
  {
    name: 'bridge_capath',
    aliases: [],
    scope: 'bridge',
    default: '(none)',
    mosquitto: 'yes',
    description: 'Directory of PEM CA certificates, as bridge_cafile.',
    once: true,
    apply: bridgeText((b, v) => void (b.capath = v)),
  },
  {
    name: 'bridge_certfile',
    aliases: [],
    scope: 'bridge',
    default: '(none)',
    mosquitto: 'differs',
    note: 'Without bridge_keyfile, or without bridge_cafile/bridge_capath (which turn TLS on), it is an error; mosquitto connects without TLS.',
    description: 'PEM client certificate for the remote broker.',
    once: true,
    apply: bridgeText((b, v) => void (b.certfile = v)),
  },
  {
    name: 'bridge_keyfile',
    aliases: [],
    scope: 'bridge',
    default: '(none)',
    mosquitto: 'differs',
    note: 'Without bridge_certfile, or without bridge_cafile/bridge_capath, it is an error.',
    description: 'PEM private key of bridge_certfile.',
    once: true,
    apply: bridgeText((b, v) => void (b.keyfile = v)),
  },
  {
    name: 'bridge_insecure',
    aliases: [],
    scope: 'bridge',
    default: 'false',
    mosquitto: 'differs',
    note: 'Without bridge_cafile/bridge_capath it is an error; mosquitto connects without TLS.',
    description: "Do not check the remote certificate's host name (testing only).",
    apply: bridgeBool((b, v) => void (b.insecure = v)),
  },
  {
    name: 'bridge_max_queued_messages',
    aliases: [],
    scope: 'bridge',
    default: '1000',
    mosquitto: 'extension',
    description: 'Messages held for the remote broker while it is unreachable; 0: no limit.',
    apply: bridgeInt(0, INT_MAX, (b, v) => void (b.maxQueuedMessages = v)),
  },
];

const byName = new Map<string, ConfigOption>();
for (const option of CONFIG_OPTIONS) {
  byName.set(option.name, option);
  for (const alias of option.aliases) byName.set(alias, option);
}

export function findConfigOption(name: string): ConfigOption | undefined {
  return byName.get(name);
}

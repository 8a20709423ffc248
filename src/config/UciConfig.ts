/**
 * OpenWrt's UCI file (/etc/config/mqttd) turned into a BrokerConfig.
 *
 * Two halves: parseUci reads UCI's own file syntax (as libuci's file parser does), and
 * loadUciConfig maps mqttd's sections (`mqttd`, `listener`, `bridge`) onto mosquitto's options.
 * Every bad line is reported at once, each naming file and line.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import {
  defaultBridge,
  defaultConfig,
  defaultListener,
  type BridgeConfig,
  type BrokerConfig,
  type ListenerConfig,
  type LogType,
} from './BrokerConfig';
import { ConfigErrors } from './ConfigErrors';
import { bridgeTlsProblems, USE_IDENTITY_NEEDS_REQUIRE } from './ConfigFile';
import { findConfigOption, LOG_TYPES, type ConfigOption, type OptionContext, type OptionLine } from './ConfigOptions';
import { FileError } from './FileError';
import { INTEGER_RANGES } from './integerRanges';
import { findUnsupportedOption } from './UnsupportedOptions';

// ---------------------------------------------------------------------------------------------
// UCI file syntax

export interface UciOption {
  name: string;
  /** One value for `option`, every value in order for `list`. */
  values: string[];
  /** The line of each value (list entries may be spread over the section). */
  lines: number[];
  isList: boolean;
  line: number;
}

export interface UciSection {
  type: string;
  /** Undefined for an anonymous section (`config listener` with no name). */
  name?: string;
  line: number;
  options: Map<string, UciOption>;
}

export interface UciPackage {
  file: string;
  sections: UciSection[];
}

const TYPE_RE = /^[A-Za-z0-9_-]+$/;
const NAME_RE = /^[A-Za-z0-9_]+$/;

/**
 * Splits the text into statements of words, as libuci does: whitespace separates words,
 * '…' quotes literally, "…" and bare words take backslash escapes, quoted strings may span
 * lines, a trailing backslash continues the line, and # at the start of a word comments out
 * the rest of the line.
 */
function tokenize(file: string, text: string, errors: FileError[]): { words: string[]; line: number }[] {
  const statements: { words: string[]; line: number }[] = [];
  let i = 0;
  let line = 1;
  while (i < text.length) {
    const words: string[] = [];
    const startLine = line;
    let broken = false;
    // One statement: words up to an unquoted newline.
    for (;;) {
      while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\r')) i++;
      if (i >= text.length) break;
      const c = text[i];
      if (c === '\n') {
        i++;
        line++;
        break;
      }
      if (c === '#') {
        while (i < text.length && text[i] !== '\n') i++;
        continue;
      }
      let word = '';
      let quoted = false;
      let wordDone = false;
      while (!wordDone && i < text.length) {
        const ch = text[i];
        if (ch === "'") {
          const openLine = line;
          const end = text.indexOf("'", i + 1);
          if (end < 0) {
            errors.push(new FileError(file, openLine, "unterminated ' quote"));
            i = text.length;
            broken = true;
            break;
          }
          quoted = true;
          const part = text.slice(i + 1, end);
          line += countNewlines(part);
          word += part;
          i = end + 1;
        } else if (ch === '"') {
          const openLine = line;
          quoted = true;
          i++;
          let closed = false;
          while (i < text.length) {
            const q = text[i];
            if (q === '"') {
              closed = true;
              i++;
              break;
            }
            if (q === '\\' && i + 1 < text.length) {
              if (text[i + 1] === '\n') line++;
              word += text[i + 1];
              i += 2;
              continue;
            }
            if (q === '\n') line++;
            word += q;
            i++;
          }
          if (!closed) {
            errors.push(new FileError(file, openLine, 'unterminated " quote'));
            broken = true;
            break;
          }
        } else if (ch === '\\') {
          if (text[i + 1] === '\n') {
            // Line continuation: the statement goes on on the next line.
            line++;
            i += 2;
            wordDone = true;
          } else if (i + 1 < text.length) {
            word += text[i + 1];
            i += 2;
          } else {
            i++;
          }
        } else if (ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n') {
          wordDone = true;
        } else {
          word += ch;
          i++;
        }
      }
      // An empty bare word is what a line continuation leaves; '' is a real empty value.
      if (word !== '' || quoted) words.push(word);
      if (broken) break;
    }
    if (words.length > 0 && !broken) statements.push({ words, line: startLine });
  }
  return statements;
}

function countNewlines(s: string): number {
  let n = 0;
  for (let k = 0; k < s.length; k++) if (s.charCodeAt(k) === 10) n++;
  return n;
}

/** Parses UCI file text. Problems are appended to `errors`; what parsed is still returned. */
export function parseUci(file: string, text: string, errors: FileError[]): UciPackage {
  const pkg: UciPackage = { file, sections: [] };
  let current: UciSection | undefined;
  for (const { words, line } of tokenize(file, text, errors)) {
    const [command, ...args] = words;
    switch (command) {
      case 'package':
        if (args.length !== 1) errors.push(new FileError(file, line, 'package takes one name'));
        break;
      case 'config': {
        if (args.length < 1 || args.length > 2) {
          errors.push(new FileError(file, line, 'expected: config <type> [<name>]'));
          current = undefined;
          break;
        }
        const [type, name] = args;
        if (!TYPE_RE.test(type)) errors.push(new FileError(file, line, `invalid section type '${type}'`));
        if (name !== undefined && !NAME_RE.test(name)) {
          errors.push(new FileError(file, line, `invalid section name '${name}' (letters, digits and _ only)`));
        }
        // uci merges a repeated named section into the first one.
        const existing = name === undefined ? undefined : pkg.sections.find((s) => s.name === name);
        if (existing && existing.type !== type) {
          errors.push(new FileError(file, line, `section '${name}' was already defined as '${existing.type}' on line ${existing.line}`));
        }
        current = existing ?? { type, name, line, options: new Map() };
        if (!existing) pkg.sections.push(current);
        break;
      }
      case 'option':
      case 'list': {
        if (args.length !== 2) {
          errors.push(new FileError(file, line, `expected: ${command} <name> <value>`));
          break;
        }
        if (!current) {
          errors.push(new FileError(file, line, `${command} outside of a config section`));
          break;
        }
        const [name, value] = args;
        if (!NAME_RE.test(name)) {
          errors.push(new FileError(file, line, `invalid option name '${name}' (letters, digits and _ only)`));
          break;
        }
        const isList = command === 'list';
        const existing = current.options.get(name);
        if (isList && existing?.isList) {
          existing.values.push(value);
          existing.lines.push(line);
        } else {
          // A later `option` replaces an earlier one, as in uci.
          current.options.set(name, { name, values: [value], lines: [line], isList, line });
        }
        break;
      }
      default:
        errors.push(new FileError(file, line, `unknown statement '${command}' (expected config, option or list)`));
    }
  }
  return pkg;
}

// ---------------------------------------------------------------------------------------------
// mqttd's UCI schema

/** UCI's boolean spellings (as config_get_bool accepts them). */
const TRUE_WORDS = new Set(['1', 'yes', 'on', 'true', 'enabled']);
const FALSE_WORDS = new Set(['0', 'no', 'off', 'false', 'disabled']);

/** `option log_level`: each level includes the ones above it. */
const LOG_LEVELS: Record<string, LogType[]> = {
  error: ['error'],
  warning: ['error', 'warning'],
  notice: ['error', 'warning', 'notice'],
  information: ['error', 'warning', 'notice', 'information'],
  debug: ['error', 'warning', 'notice', 'information', 'subscribe', 'unsubscribe', 'debug'],
};

export const DEFAULT_STATUS_FILE = '/var/run/mqttd/status.json';
/** Read by the rpcd plugin mqttd.explorer (as root); in RAM like the status file. */
export const DEFAULT_CONTROL_FILE = '/var/run/mqttd/control';
/** Script rules on OpenWrt: root-owned config, like the passwd and ACL files beside it. */
export const DEFAULT_RULES_DIR = '/etc/mqttd/rules.d';

/** Reads one section's options with type checks, recording every problem. */
class SectionReader {
  private readonly used = new Set<string>(['enabled']);

  constructor(
    private readonly file: string,
    readonly section: UciSection,
    private readonly errors: FileError[],
  ) {}

  private error(option: UciOption | undefined, reason: string): void {
    this.errorAt(option?.line ?? this.section.line, reason);
  }

  errorAt(line: number, reason: string): void {
    this.errors.push(new FileError(this.file, line, reason));
  }

  private single(name: string): UciOption | undefined {
    this.used.add(name);
    const option = this.section.options.get(name);
    if (option && option.isList && option.values.length > 1) {
      this.error(option, `'${name}' takes one value, not a list`);
    }
    return option;
  }

  /** Marks an option as read by the caller (so it is not reported as unknown). */
  claim(name: string): void {
    this.used.add(name);
  }

  string(name: string): string | undefined {
    const value = this.single(name)?.values[0];
    return value === '' ? undefined : value;
  }

  list(name: string): { value: string; line: number }[] {
    this.used.add(name);
    const option = this.section.options.get(name);
    if (!option) return [];
    const out: { value: string; line: number }[] = [];
    option.values.forEach((value, k) => {
      if (value !== '') out.push({ value, line: option.lines[k] });
    });
    return out;
  }

  bool(name: string, fallback: boolean): boolean {
    const option = this.single(name);
    const value = option?.values[0];
    if (value === undefined || value === '') return fallback;
    if (TRUE_WORDS.has(value.toLowerCase())) return true;
    if (FALSE_WORDS.has(value.toLowerCase())) return false;
    this.error(option, `'${name}' must be 0 or 1, not '${value}'`);
    return fallback;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const option = this.single(name);
    const value = option?.values[0];
    if (value === undefined || value === '') return fallback;
    if (!/^-?\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      this.error(option, `'${name}' must be a whole number from ${min} to ${max}, not '${value}'`);
      return fallback;
    }
    return Number(value);
  }

  /** 0 (the option's "none") or a whole number in [min, max]. */
  intOrZero(name: string, fallback: number, min: number, max: number): number {
    const value = this.int(name, fallback, 0, max);
    if (value > 0 && value < min) {
      this.error(this.section.options.get(name), `'${name}' must be 0 or a whole number from ${min} to ${max}, not '${value}'`);
      return fallback;
    }
    return value;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const option = this.single(name);
    const value = option?.values[0];
    if (value === undefined || value === '') return fallback;
    if ((allowed as readonly string[]).includes(value)) return value as T;
    this.error(option, `'${name}' must be one of ${allowed.join(', ')}, not '${value}'`);
    return fallback;
  }

  /** Options nobody read are typos: say so rather than ignore them. */
  reportUnknown(): void {
    for (const option of this.section.options.values()) {
      if (!this.used.has(option.name)) {
        this.error(option, `unknown option '${option.name}' in '${this.section.type}' section`);
      }
    }
  }

  label(): string {
    return this.section.name ? `${this.section.type} '${this.section.name}'` : `${this.section.type} (line ${this.section.line})`;
  }
}

/**
 * The limits a router gets when /etc/config/mqttd leaves them out (the shipped file sets the
 * same): what one device or attacker on the LAN can make the broker hold stays within a
 * 256 MB router's means (docs/config.md, "Limits"; RELIABILITY.md measures it).
 */
export const ROUTER_LIMITS = {
  messageSizeLimit: 262_144,
  /** A 256 KiB payload with up to 256 KiB of topic and properties. */
  maxPacketSize: 524_288,
  maxQueuedBytes: 1_048_576,
  memoryLimit: 33_554_432,
  /** 7 days. */
  persistentClientExpiration: 604_800,
  maxPersistentSessions: 1000,
  maxRetainedMessages: 10_000,
  maxRetainedBytes: 16_777_216,
  maxSubscriptionsPerClient: 1000,
};

function readGeneral(r: SectionReader, config: BrokerConfig): void {
  config.allowAnonymous = r.bool('allow_anonymous', config.allowAnonymous);
  config.passwordFile = r.string('password_file');
  config.passwordCheckConcurrency = r.int('password_check_concurrency', config.passwordCheckConcurrency, ...INTEGER_RANGES.password_check_concurrency);
  config.passwordCheckQueue = r.int('password_check_queue', config.passwordCheckQueue, ...INTEGER_RANGES.password_check_queue);
  config.aclFile = r.string('acl_file');
  config.aclPatternAllowSlash = r.bool('acl_pattern_allow_slash', config.aclPatternAllowSlash);
  config.allowZeroLengthClientId = r.bool('allow_zero_length_clientid', config.allowZeroLengthClientId);
  config.autoIdPrefix = r.string('auto_id_prefix') ?? config.autoIdPrefix;
  config.persistence = r.bool('persistence', config.persistence);
  config.persistenceLocation = r.string('persistence_location') ?? config.persistenceLocation;
  config.persistenceFile = r.string('persistence_file') ?? config.persistenceFile;
  const journal = r.string('persistence_journal');
  if (journal !== undefined) config.persistenceJournal = journal === 'none' ? '' : journal;
  config.autosaveInterval = r.int('autosave_interval', config.autosaveInterval, ...INTEGER_RANGES.autosave_interval);
  // 0: never, as the other limits' 0 means none.
  const expiration = r.int('persistent_client_expiration', ROUTER_LIMITS.persistentClientExpiration, 0, 86400 * 365 * 10);
  if (expiration > 0) config.persistentClientExpiration = expiration;
  config.maxPersistentSessions = r.int('max_persistent_sessions', ROUTER_LIMITS.maxPersistentSessions, ...INTEGER_RANGES.max_persistent_sessions);
  config.maxConnections = r.int('max_connections', config.maxConnections, ...INTEGER_RANGES.max_connections);
  config.messageSizeLimit = r.int('message_size_limit', ROUTER_LIMITS.messageSizeLimit, ...INTEGER_RANGES.message_size_limit);
  config.maxPacketSize = r.intOrZero('max_packet_size', ROUTER_LIMITS.maxPacketSize, ...INTEGER_RANGES.max_packet_size);
  config.memoryLimit = r.int('memory_limit', ROUTER_LIMITS.memoryLimit, ...INTEGER_RANGES.memory_limit);
  config.maxQueuedMessages = r.int('max_queued_messages', config.maxQueuedMessages, ...INTEGER_RANGES.max_queued_messages);
  config.maxQueuedBytes = r.int('max_queued_bytes', ROUTER_LIMITS.maxQueuedBytes, ...INTEGER_RANGES.max_queued_bytes);
  config.maxSubscriptionsPerClient = r.int('max_subscriptions_per_client', ROUTER_LIMITS.maxSubscriptionsPerClient, ...INTEGER_RANGES.max_subscriptions_per_client);
  config.maxInflightMessages = r.int('max_inflight_messages', config.maxInflightMessages, ...INTEGER_RANGES.max_inflight_messages);
  config.publisherHoldTimeout = r.int('publisher_hold_timeout', config.publisherHoldTimeout, ...INTEGER_RANGES.publisher_hold_timeout);
  config.maxKeepalive = r.int('max_keepalive', config.maxKeepalive, 0, 65535);
  config.retainAvailable = r.bool('retain_available', config.retainAvailable);
  config.maxRetainedMessages = r.int('max_retained_messages', ROUTER_LIMITS.maxRetainedMessages, ...INTEGER_RANGES.max_retained_messages);
  config.maxRetainedBytes = r.int('max_retained_bytes', ROUTER_LIMITS.maxRetainedBytes, ...INTEGER_RANGES.max_retained_bytes);
  config.queueQos0Messages = r.bool('queue_qos0_messages', config.queueQos0Messages);
  config.upgradeOutgoingQos = r.bool('upgrade_outgoing_qos', config.upgradeOutgoingQos);
  config.connectTimeout = r.int('connect_timeout', config.connectTimeout, ...INTEGER_RANGES.connect_timeout);
  config.sysInterval = r.int('sys_interval', config.sysInterval, ...INTEGER_RANGES.sys_interval);

  const level = r.oneOf('log_level', Object.keys(LOG_LEVELS), 'information');
  const types = new Set<LogType>(LOG_LEVELS[level]);
  for (const { value, line } of r.list('log_type')) {
    if (LOG_TYPES.includes(value as LogType)) types.add(value as LogType);
    else r.errorAt(line, `unknown log_type '${value}'`);
  }
  config.logTypes = types;
  // A UCI file means OpenWrt: to logd, tagged mqttd, each line at its own priority
  // (procd would log all of stderr as daemon.err, tagged with the command's name).
  const dest = r.oneOf('log_dest', ['syslog', 'stderr', 'stdout', 'none'] as const, 'syslog');
  config.logDest = [dest];
  // logd stamps every line itself.
  config.logTimestamp = r.bool('log_timestamp', false);
  config.statusFile = r.string('status_file') ?? DEFAULT_STATUS_FILE;
  // `option control_file ''` turns the explorer's endpoint off; no option at all: the default.
  config.controlFile = r.section.options.has('control_file') ? (r.string('control_file') ?? '') : DEFAULT_CONTROL_FILE;
  config.explorerCacheSize = r.int('explorer_cache_size', config.explorerCacheSize, ...INTEGER_RANGES.explorer_cache_size);
  config.pidFile = r.string('pid_file');
  config.rulesDir = r.string('rules_dir') ?? DEFAULT_RULES_DIR;
  config.rulesScriptTimeLimit = r.int('rules_script_time_limit', config.rulesScriptTimeLimit, ...INTEGER_RANGES.rules_script_time_limit);
}

const IPV4_RE = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const IPV6_RE = /^[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?$/;
const HOST_RE = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/;

function readListener(
  r: SectionReader,
  file: string,
  networks: Map<string, string[]>,
  errors: FileError[],
  enabled: boolean,
  awaiting: string[],
): ListenerConfig[] {
  const port = r.int('port', -1, 0, 65535);
  const portOption = r.section.options.get('port');
  if (!portOption) errors.push(new FileError(file, r.section.line, `${r.label()}: 'port' is required`));
  const base = defaultListener(port);
  base.protocol = r.oneOf('protocol', ['mqtt', 'websockets'] as const, 'mqtt');
  base.maxConnections = r.int('max_connections', -1, ...INTEGER_RANGES.max_connections);
  base.certfile = r.string('certfile');
  base.keyfile = r.string('keyfile');
  base.cafile = r.string('cafile');
  base.capath = r.string('capath');
  base.requireCertificate = r.bool('require_certificate', false);
  base.useIdentityAsUsername = r.bool('use_identity_as_username', false);
  const tlsVersion = r.oneOf('tls_version', ['', 'tlsv1.2', 'tlsv1.3'] as const, '');
  if (tlsVersion) base.tlsVersion = tlsVersion;
  base.mountPoint = r.string('mount_point');
  if ((base.certfile === undefined) !== (base.keyfile === undefined)) {
    errors.push(new FileError(file, r.section.line, `${r.label()}: TLS needs both certfile and keyfile`));
  }
  if (base.requireCertificate && base.cafile === undefined && base.capath === undefined) {
    errors.push(new FileError(file, r.section.options.get('require_certificate')?.line ?? r.section.line, `${r.label()}: require_certificate needs cafile or capath to check client certificates against`));
  }
  if (base.useIdentityAsUsername && !base.requireCertificate) {
    errors.push(new FileError(file, r.section.options.get('use_identity_as_username')?.line ?? r.section.line, `${r.label()}: use_identity_as_username ${USE_IDENTITY_NEEDS_REQUIRE}`));
  }

  const address = r.string('address');
  const iface = r.string('interface');
  // A disabled listener binds nothing: its network (a WAN that is down, say) is not asked.
  if (!enabled) return [];
  if (address !== undefined) {
    if (!IPV4_RE.test(address) && !IPV6_RE.test(address) && !HOST_RE.test(address)) {
      errors.push(new FileError(file, r.section.options.get('address')?.line ?? r.section.line, `invalid address '${address}'`));
    }
    return [{ ...base, bindAddress: address }];
  }
  if (iface === '*') return [{ ...base }];
  if (iface === undefined) {
    // Never every address by default: on a router that includes the WAN side.
    errors.push(
      new FileError(
        file,
        r.section.line,
        `${r.label()}: set 'interface' (e.g. 'lan'), an 'address', or interface '*' to listen on every network including WAN`,
      ),
    );
    return [];
  }
  const addresses = networks.get(iface);
  if (addresses?.length === 0) {
    // `--network iot=`: the init script knows the network but it has no address yet. Its
    // interface trigger restarts the broker when the addresses come; until then, wait.
    awaiting.push(`${r.label()} (port ${port}) waits for network '${iface}' to get an address.`);
    return [];
  }
  if (!addresses) {
    errors.push(
      new FileError(
        file,
        r.section.options.get('interface')?.line ?? r.section.line,
        `${r.label()}: network '${iface}' is unknown (the init script passes --network ${iface}=<addresses>)`,
      ),
    );
    return [];
  }
  return addresses.map((a) => ({ ...base, bindAddress: a }));
}

/**
 * A listener on every address (interface '*') of a port also serves that port's loopback
 * and LAN addresses: a same-kind listener on one of them would only fail to bind (EADDRINUSE).
 */
function withoutCoveredListeners(listeners: ListenerConfig[]): ListenerConfig[] {
  const kind = (l: ListenerConfig) => `${l.port} ${l.protocol} ${l.certfile ?? ''} ${l.mountPoint ?? ''}`;
  const everywhere = new Set(listeners.filter((l) => l.bindAddress === undefined && l.bindInterface === undefined).map(kind));
  return listeners.filter((l) => l.bindAddress === undefined || !everywhere.has(kind(l)));
}

/** UCI-only options of a bridge section; everything else is a mosquitto.conf bridge option. */
const UCI_BRIDGE_OPTIONS = new Set(['enabled', 'connection']);
/** Bridge options that are booleans: UCI's spellings (1, yes, on …) are accepted for them. */
const BRIDGE_BOOLS = new Set(['round_robin', 'cleansession', 'try_private', 'notifications', 'bridge_outgoing_retain', 'bridge_insecure']);
/** Bridge options UCI holds as lists, one entry per address or topic line. */
const BRIDGE_LISTS = new Set(['address', 'topic']);
/** UCI names for mosquitto.conf bridge options (the general section has its own max_queued_messages). */
const BRIDGE_ALIASES: Record<string, string> = { max_queued_messages: 'bridge_max_queued_messages' };

/** A UCI value as mosquitto.conf's reader splits the rest of an option line. */
function optionLine(value: string): OptionLine {
  const rest = value.replace(/^[ \t]+|[ \t]+$/g, '');
  const rawWords = rest === '' ? [] : rest.split(/[ \t]+/);
  const commentAt = rawWords.findIndex((w) => w.startsWith('#'));
  return { rest, rawWords, words: commentAt < 0 ? rawWords : rawWords.slice(0, commentAt) };
}

/** The reader state a bridge option's apply() sees: only `bridge` is ever used in that scope. */
function bridgeContext(config: BrokerConfig, bridge: BridgeConfig): OptionContext {
  const refuse = (): string => 'not a bridge option';
  return {
    config,
    listener: defaultListener(0),
    defaultListener: defaultListener(0),
    bridge,
    listenerCount: 0,
    flags: { allowAnonymousSet: false, logTypesSet: false, logDestSet: false, listenerConfigured: false, defaultListenerUsed: false },
    startListener: refuse,
    startBridge: refuse,
    includeDir: refuse,
  };
}

/**
 * A `bridge` section, read with mosquitto.conf's own option parsers (ConfigOptions), so a
 * `topic`, `address` or `restart_timeout` means exactly what it means in mosquitto.conf and is
 * refused for the same reasons. Only booleans take UCI's spellings as well.
 */
function readBridge(r: SectionReader, config: BrokerConfig, file: string, errors: FileError[]): BridgeConfig {
  let name = r.string('connection') ?? r.section.name;
  if (name !== undefined && /[\s\u0000]/.test(name)) {
    // As mosquitto.conf's `connection <name>`: one word.
    r.errorAt(r.section.options.get('connection')?.line ?? r.section.line, `connection: expected one word, got '${name}'`);
    name = r.section.name;
  }
  if (!name) {
    errors.push(new FileError(file, r.section.line, "bridge: give the section a name or set 'connection'"));
  }
  const bridge = defaultBridge(name ?? '');
  const ctx = bridgeContext(config, bridge);
  const lines = new Map<string, number>();
  const refused = new Set<string>();
  const fail = (option: string, line: number, reason: string): void => {
    refused.add(option);
    r.errorAt(line, reason);
  };
  const apply = (option: ConfigOption, uciName: string, value: string, line: number): void => {
    if (/[\n\r\u0000]/.test(value)) return fail(option.name, line, `${uciName}: a value cannot contain a line break or NUL`);
    let text = value;
    if (BRIDGE_BOOLS.has(option.name)) {
      const lower = value.toLowerCase();
      if (TRUE_WORDS.has(lower)) text = 'true';
      else if (FALSE_WORDS.has(lower)) text = 'false';
      else return fail(option.name, line, `'${uciName}' must be 0 or 1, not '${value}'`);
    }
    // address: mosquitto takes every address on one line, UCI a list entry each (or several in one).
    const target = option.name === 'address' ? defaultBridge(bridge.name) : bridge;
    const reason = option.apply(target === bridge ? ctx : bridgeContext(config, target), optionLine(text));
    if (reason !== undefined) fail(option.name, line, `${uciName}: ${reason}`);
    else if (target !== bridge) bridge.addresses.push(...target.addresses);
  };

  for (const uci of r.section.options.values()) {
    if (UCI_BRIDGE_OPTIONS.has(uci.name)) continue;
    const confName = BRIDGE_ALIASES[uci.name] ?? uci.name;
    const option = findConfigOption(confName);
    if (!option || option.scope !== 'bridge' || option.name !== confName) {
      const unsupported = findUnsupportedOption(uci.name);
      const reason = unsupported
        ? `'${uci.name}' is a mosquitto option that mqttd does not support${unsupported.hint ? ` (${unsupported.hint})` : ''}`
        : `unknown option '${uci.name}' in 'bridge' section`;
      r.errorAt(uci.line, reason);
      r.claim(uci.name);
      continue;
    }
    if (lines.has(option.name)) {
      // Only max_queued_messages has a second name.
      fail(option.name, uci.line, `'max_queued_messages' and 'bridge_max_queued_messages' are the same option: set only one`);
      r.claim(uci.name);
      continue;
    }
    lines.set(option.name, uci.line);
    if (BRIDGE_LISTS.has(option.name)) {
      for (const { value, line } of r.list(uci.name)) apply(option, uci.name, value, line);
    } else {
      const value = r.string(uci.name);
      if (value !== undefined) apply(option, uci.name, value, uci.line);
    }
  }
  // Refused entries were reported on their line already: "required" only when there were none.
  if (bridge.addresses.length === 0 && !refused.has('address')) errors.push(new FileError(file, r.section.line, `${r.label()}: 'address' is required`));
  if (bridge.topics.length === 0 && !refused.has('topic')) errors.push(new FileError(file, r.section.line, `${r.label()}: at least one 'topic' is required`));
  for (const { option, reason } of bridgeTlsProblems(bridge)) r.errorAt(lines.get(option) ?? r.section.line, `${option}: ${reason}`);
  bridge.remoteClientId ??= `${hostname()}.${bridge.name}`;
  bridge.localClientId ??= `local.${bridge.remoteClientId}`;
  return bridge;
}

/** Turns parsed UCI into a BrokerConfig; problems are appended to `errors`. */
export function uciToBrokerConfig(pkg: UciPackage, networks: Map<string, string[]>, errors: FileError[]): BrokerConfig {
  const config = defaultConfig();
  config.statusFile = DEFAULT_STATUS_FILE;
  config.controlFile = DEFAULT_CONTROL_FILE;
  config.rulesDir = DEFAULT_RULES_DIR;
  config.uciRulesFile = pkg.file;
  config.logTimestamp = false;
  const file = pkg.file;
  let general: UciSection | undefined;
  const seenBinds = new Map<string, string>();
  const bridgeNames = new Set<string>();

  for (const section of pkg.sections) {
    const r = new SectionReader(file, section, errors);
    if (section.type === 'mqttd') {
      if (general) {
        errors.push(new FileError(file, section.line, `only one 'mqttd' section is allowed (the first is on line ${general.line})`));
        continue;
      }
      general = section;
      readGeneral(r, config);
      r.reportUnknown();
      continue;
    }
    // Simple rules are read (and checked, by file and line) by the rules engine, at start and on reload.
    if (section.type === 'rule') continue;
    if (section.type !== 'listener' && section.type !== 'bridge') {
      errors.push(new FileError(file, section.line, `unknown section type '${section.type}' (expected mqttd, listener, bridge or rule)`));
      continue;
    }
    const enabled = r.bool('enabled', true);
    if (section.type === 'listener') {
      const listeners = readListener(r, file, networks, errors, enabled, config.listenersAwaitingNetwork);
      r.reportUnknown();
      for (const l of listeners) {
        const key = `${l.bindAddress ?? '*'}:${l.port}`;
        const other = seenBinds.get(key);
        if (other !== undefined) {
          errors.push(new FileError(file, section.line, `${r.label()} binds ${key}, already bound by ${other}`));
        }
        seenBinds.set(key, r.label());
        config.listeners.push(l);
      }
    } else {
      const bridge = readBridge(r, config, file, errors);
      r.reportUnknown();
      if (!enabled) continue;
      if (bridgeNames.has(bridge.name)) errors.push(new FileError(file, section.line, `bridge name '${bridge.name}' is used twice`));
      bridgeNames.add(bridge.name);
      const sameLocalId = config.bridges.find((b) => b.localClientId === bridge.localClientId);
      if (sameLocalId) {
        errors.push(
          new FileError(
            file,
            section.line,
            `${r.label()} has the same local_clientid as bridge '${sameLocalId.name}' ('${bridge.localClientId ?? ''}'); set local_clientid on one of them`,
          ),
        );
      }
      config.bridges.push(bridge);
    }
  }
  config.listeners = withoutCoveredListeners(config.listeners);
  if (config.listeners.length === 0 && config.listenersAwaitingNetwork.length === 0 && !errors.length) {
    errors.push(new FileError(file, undefined, 'no enabled listener: add a listener section (e.g. port 1883, interface lan)'));
  }
  return config;
}

/**
 * Reads /etc/config/mqttd. `networks` maps an OpenWrt logical network ('lan') to its
 * addresses, as the init script found them. Throws ConfigErrors listing every problem.
 */
export function loadUciConfig(path: string, networks: Map<string, string[]>): BrokerConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new ConfigErrors([new FileError(path, undefined, `cannot read the file (${code})`)]);
  }
  const errors: FileError[] = [];
  const pkg = parseUci(path, text, errors);
  const config = uciToBrokerConfig(pkg, networks, errors);
  if (errors.length > 0) {
    errors.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    throw new ConfigErrors(errors);
  }
  return config;
}

/** Parses the daemon's `--network lan=192.168.1.1,fd00::1` arguments into the map above. */
export function parseNetworkArgument(value: string, networks: Map<string, string[]>): string | undefined {
  const eq = value.indexOf('=');
  if (eq <= 0) return `--network expects <name>=<address>[,<address>...], got '${value}'`;
  const name = value.slice(0, eq);
  const addresses = value
    .slice(eq + 1)
    .split(/[,\s]+/)
    .filter((a) => a !== '')
    // network_get_ipaddrs6 may give prefixes; the bind address is the part before '/'.
    .map((a) => a.split('/')[0]);
  const list = networks.get(name) ?? [];
  for (const a of addresses) if (!list.includes(a)) list.push(a);
  networks.set(name, list);
  return undefined;
}

/**
 * Reads mosquitto.conf syntax into a BrokerConfig, the way mosquitto 2.0's conf.c does:
 * one option per line, `#` comments, `listener` and `connection` starting the scope of the
 * listener and bridge options after them, `include_dir` reading `*.conf` files in sorted order.
 * Every bad line is reported (file and line), then ConfigErrors is thrown: nothing half-loaded.
 */
import * as nodeFs from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import {
  defaultBridge,
  defaultConfig,
  defaultListener,
  type BridgeConfig,
  type BrokerConfig,
  type ListenerConfig,
} from './BrokerConfig';
import { ConfigErrors } from './ConfigErrors';
import { CONFIG_OPTIONS, findConfigOption, type OptionContext, type OptionLine, type ReadFlags } from './ConfigOptions';
import { quote } from './ConfigValues';
import { FileError } from './FileError';
import { findUnsupportedOption } from './UnsupportedOptions';

/** The file access the reader needs; tests and fuzzing pass their own. */
export interface ConfigFileSystem {
  readFile(path: string): Buffer;
  readDir(path: string): string[];
  isDirectory(path: string): boolean;
}

export interface ConfigReadOptions {
  /** For the default bridge client ids (`<hostname>.<name>`); os.hostname() if not given. */
  hostname?: string;
  fs?: ConfigFileSystem;
}

const realFs: ConfigFileSystem = {
  readFile: (path) => nodeFs.readFileSync(path),
  readDir: (path) => nodeFs.readdirSync(path),
  isDirectory: (path) => {
    try {
      return nodeFs.statSync(path).isDirectory();
    } catch {
      return false;
    }
  },
};

/** Parses config text; `path` names the file in errors. Throws ConfigErrors. */
export function parseConfig(text: string, path: string, options: ConfigReadOptions = {}): BrokerConfig {
  const reader = new ConfigReader(options);
  reader.readText(text, path, 0, new Set());
  return reader.finish();
}

/** Reads and parses a config file (and its include_dir files). Throws ConfigErrors. */
export function loadConfigFile(path: string, options: ConfigReadOptions = {}): BrokerConfig {
  const reader = new ConfigReader(options);
  reader.readFile(path, 0);
  return reader.finish();
}

/** Where something was first set, for "duplicate" errors. */
interface Place {
  file: string;
  line: number;
}

function at(place: Place): string {
  return `${place.file}:${place.line}`;
}

/** The per-file part of the state: in mosquitto each file starts at the default listener, outside any bridge. */
interface Cursor {
  file: string;
  level: number;
  line: number;
  listener: ListenerConfig;
  bridge: BridgeConfig | undefined;
}

/** mosquitto's include_dir order (scmp_p): case-insensitive first, then by case. */
export function compareConfigFileNames(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    const diff = upper(ca) - upper(cb);
    if (diff !== 0) return diff;
    if (ca !== cb) return ca - cb;
  }
  return a.length - b.length;
}

function upper(code: number): number {
  return code >= 97 && code <= 122 ? code - 32 : code;
}

function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ENOTDIR') return 'not a directory';
  if (code === 'EISDIR') return 'is a directory';
  return code ?? (err instanceof Error ? err.message : String(err));
}

class ConfigReader {
  private readonly config: BrokerConfig = defaultConfig();
  private readonly errors: FileError[] = [];
  private readonly fs: ConfigFileSystem;
  private readonly hostname: string;
  /** mosquitto's default listener: becomes a real one only if something set it. */
  private readonly defaultListener: ListenerConfig = defaultListener(0);
  private readonly listenerPlaces = new Map<ListenerConfig, Place>();
  private readonly bridgePlaces = new Map<BridgeConfig, Place>();
  /** Bridge options each bridge had a line for, even a refused one (no "missing" error then). */
  private readonly bridgeOptionsSeen = new Map<BridgeConfig, Set<string>>();
  /** Where each option was first set, per scope (the config, a listener, a bridge). */
  private readonly optionPlaces = new Map<object, Map<string, Place>>();
  private readonly flags: ReadFlags = {
    allowAnonymousSet: false,
    logTypesSet: false,
    logDestSet: false,
    listenerConfigured: false,
    defaultListenerUsed: false,
  };

  constructor(options: ConfigReadOptions) {
    this.fs = options.fs ?? realFs;
    this.hostname = options.hostname ?? osHostname();
  }

  readFile(path: string, level: number, from?: Place): void {
    const failAt = (reason: string): void => {
      // The main file's problems have no line; an included file's are reported on its include_dir line.
      this.errors.push(from ? new FileError(from.file, from.line, `${path}: ${reason}`) : new FileError(path, undefined, reason));
    };
    if (this.fs.isDirectory(path)) return failAt('is a directory, not a config file');
    let bytes: Buffer;
    try {
      bytes = this.fs.readFile(path);
    } catch (err) {
      return failAt(`cannot read: ${describeFsError(err)}`);
    }
    const { text, badLines } = decodeLines(bytes);
    this.readText(text, path, level, badLines);
  }

  readText(text: string, file: string, level: number, badLines: Set<number>): void {
    const cursor: Cursor = { file, level, line: 0, listener: this.defaultListener, bridge: undefined };
    const lines = text.split('\n');
    // A file ending in a newline has no line after it.
    if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
    for (let i = 0; i < lines.length; i++) {
      cursor.line = i + 1;
      let line = lines[i];
      if (i === 0 && line.charCodeAt(0) === 0xfeff) line = line.slice(1); // editors' byte order mark
      line = line.replace(/^[ \t]+/, '').replace(/[ \t\r\n\v\f]+$/, '');
      if (line === '' || line.startsWith('#')) continue;
      if (badLines.has(cursor.line)) {
        this.fail(cursor, 'this line is not valid UTF-8 text');
        continue;
      }
      if (line.includes('\u0000')) {
        this.fail(cursor, 'this line contains a NUL character');
        continue;
      }
      this.readLine(line, cursor);
    }
  }

  private fail(cursor: Cursor, reason: string): void {
    this.errors.push(new FileError(cursor.file, cursor.line, reason));
  }

  private readLine(line: string, cursor: Cursor): void {
    const nameEnd = line.search(/[ \t]/);
    const name = nameEnd < 0 ? line : line.slice(0, nameEnd);
    const rest = nameEnd < 0 ? '' : line.slice(nameEnd).replace(/^[ \t]+/, '');
    const rawWords = rest === '' ? [] : rest.split(/[ \t]+/);
    const commentAt = rawWords.findIndex((w) => w.startsWith('#'));
    const words = commentAt < 0 ? rawWords : rawWords.slice(0, commentAt);
    const optionLine: OptionLine = { words, rawWords, rest };

    const option = findConfigOption(name);
    if (!option) {
      const unsupported = findUnsupportedOption(name);
      if (unsupported) {
        if (unsupported.harmlessValue !== undefined && words.length === 1 && words[0] === unsupported.harmlessValue) return;
        const hint = unsupported.hint ? ` (${unsupported.hint})` : '';
        return this.fail(cursor, `option ${quote(name)} is a mosquitto option that mqttd does not support${hint}`);
      }
      const guess = closestOption(name);
      return this.fail(cursor, `unknown option ${quote(name)}${guess ? `; did you mean '${guess}'?` : ''}`);
    }

    if (option.scope === 'bridge' && !cursor.bridge) {
      return this.fail(cursor, `${name}: a bridge option, it must come after a 'connection' line in the same file`);
    }
    if (cursor.bridge && option.scope === 'bridge') this.bridgeOptionsSeen.get(cursor.bridge)?.add(option.name);
    const scope: object | undefined =
      option.scope === 'general' ? this.config : option.scope === 'listener' ? cursor.listener : cursor.bridge;
    const places = scope ? this.placesOf(scope) : undefined;
    const first = places?.get(option.name);
    if (option.once && first) {
      return this.fail(cursor, `${name}: set twice (first at ${at(first)}); mosquitto refuses this too`);
    }
    const reason = option.apply(this.contextFor(cursor), optionLine);
    if (reason !== undefined) return this.fail(cursor, `${name}: ${reason}`);
    if (!first) places?.set(option.name, { file: cursor.file, line: cursor.line });
    if (option.scope === 'listener' && cursor.listener === this.defaultListener) this.flags.defaultListenerUsed = true;
  }

  private placesOf(scope: object): Map<string, Place> {
    let places = this.optionPlaces.get(scope);
    if (!places) this.optionPlaces.set(scope, (places = new Map()));
    return places;
  }

  private contextFor(cursor: Cursor): OptionContext {
    const config = this.config;
    return {
      config,
      get listener() {
        return cursor.listener;
      },
      defaultListener: this.defaultListener,
      get bridge() {
        return cursor.bridge;
      },
      get listenerCount() {
        return config.listeners.length;
      },
      flags: this.flags,
      startListener: (port, bindAddress) => this.startListener(cursor, port, bindAddress),
      startBridge: (name) => this.startBridge(cursor, name),
      includeDir: (dir) => this.includeDir(cursor, dir),
    };
  }

  private startListener(cursor: Cursor, port: number, bindAddress: string | undefined): string | undefined {
    const listener = defaultListener(port);
    if (bindAddress !== undefined) listener.bindAddress = bindAddress;
    // Later listener options go to this one even if it is refused, so they are not misread.
    cursor.listener = listener;
    const same = this.config.listeners.find((l) => l.port === port && l.bindAddress === bindAddress);
    if (same) {
      const where = this.listenerPlaces.get(same);
      return `listener ${port}${bindAddress ? ` ${bindAddress}` : ''} is already defined${where ? ` at ${at(where)}` : ''}`;
    }
    this.config.listeners.push(listener);
    this.listenerPlaces.set(listener, { file: cursor.file, line: cursor.line });
    return undefined;
  }

  private startBridge(cursor: Cursor, name: string): string | undefined {
    const bridge = defaultBridge(name);
    cursor.bridge = bridge;
    const same = this.config.bridges.find((b) => b.name === name);
    if (same) {
      const where = this.bridgePlaces.get(same);
      return `a bridge named ${quote(name)} is already defined${where ? ` at ${at(where)}` : ''}`;
    }
    this.config.bridges.push(bridge);
    this.bridgeOptionsSeen.set(bridge, new Set());
    this.bridgePlaces.set(bridge, { file: cursor.file, line: cursor.line });
    return undefined;
  }

  private includeDir(cursor: Cursor, dir: string): string | undefined {
    if (cursor.level > 0) {
      return 'only read in the main config file (mosquitto silently ignores it in an included file)';
    }
    let names: string[];
    try {
      names = this.fs.readDir(dir);
    } catch (err) {
      return `cannot open directory ${quote(dir)}: ${describeFsError(err)}`;
    }
    const files = names.filter((n) => n.length > 5 && n.endsWith('.conf')).sort(compareConfigFileNames);
    const from = { file: cursor.file, line: cursor.line };
    for (const name of files) this.readFile(join(dir, name), cursor.level + 1, from);
    return undefined;
  }

  finish(): BrokerConfig {
    const config = this.config;
    if (this.flags.defaultListenerUsed) {
      // As mosquitto: the default listener is added after the `listener` ones.
      const fallback = this.defaultListener;
      if (fallback.port === 0) fallback.port = 1883;
      const same = config.listeners.find((l) => l.port === fallback.port && l.bindAddress === fallback.bindAddress);
      const places = this.optionPlaces.get(config);
      const place = places?.get('port') ?? places?.get('bind_address');
      if (same && place) {
        const where = this.listenerPlaces.get(same);
        this.errors.push(
          new FileError(place.file, place.line, `the default listener (port ${fallback.port}) is the same as the listener at ${where ? at(where) : '?'}`),
        );
      }
      config.listeners.push(fallback);
    }
    if (!this.flags.listenerConfigured && config.listeners.length === 0) {
      // mosquitto 2.0's local-only mode: loopback only, anonymous allowed unless refused here.
      config.localOnly = true;
      config.listeners.push({ ...defaultListener(1883), bindAddress: '127.0.0.1' }, { ...defaultListener(1883), bindAddress: '::1' });
      if (!this.flags.allowAnonymousSet) config.allowAnonymous = true;
    }
    for (const listener of config.listeners) this.checkListenerTls(listener);
    this.finishBridges();
    if (this.errors.length > 0) throw new ConfigErrors(this.errors);
    return config;
  }

  /**
   * mosquitto 2.0 serves a listener unencrypted when only one of certfile/keyfile is set, and
   * ignores cafile or require_certificate without them: a user would believe in TLS that is not
   * there, so mqttd refuses these, on the line of the option.
   */
  private checkListenerTls(listener: ListenerConfig): void {
    const places = this.optionPlaces.get(listener);
    if (!places) return;
    const failAt = (option: string, reason: string): void => {
      const place = places.get(option);
      if (place) this.errors.push(new FileError(place.file, place.line, `${option}: ${reason}`));
    };
    const tls = listener.certfile !== undefined && listener.keyfile !== undefined;
    if (listener.certfile !== undefined && !tls) failAt('certfile', 'needs keyfile on the same listener too (mosquitto would silently serve it without TLS)');
    if (listener.keyfile !== undefined && !tls) failAt('keyfile', 'needs certfile on the same listener too (mosquitto would silently serve it without TLS)');
    const needsTls: [string, boolean][] = [
      ['cafile', listener.cafile !== undefined],
      ['capath', listener.capath !== undefined],
      ['require_certificate', listener.requireCertificate],
      ['use_identity_as_username', listener.useIdentityAsUsername],
      ['tls_version', listener.tlsVersion !== undefined],
    ];
    if (listener.certfile === undefined && listener.keyfile === undefined) {
      for (const [option, set] of needsTls) {
        if (set) failAt(option, 'needs certfile and keyfile on the same listener (TLS); mosquitto would silently ignore it');
      }
    }
    if (tls && listener.requireCertificate && listener.cafile === undefined && listener.capath === undefined) {
      failAt('require_certificate', 'needs cafile or capath to check client certificates against');
    }
    if (tls && listener.useIdentityAsUsername && !listener.requireCertificate) {
      failAt('use_identity_as_username', USE_IDENTITY_NEEDS_REQUIRE);
    }
  }

  /** As for listeners: mosquitto turns bridge TLS on only with bridge_cafile or bridge_capath. */
  private checkBridgeTls(bridge: BridgeConfig): void {
    const places = this.optionPlaces.get(bridge);
    if (!places) return;
    for (const { option, reason } of bridgeTlsProblems(bridge)) {
      const place = places.get(option);
      if (place) this.errors.push(new FileError(place.file, place.line, `${option}: ${reason}`));
    }
  }

  private finishBridges(): void {
    const localIds = new Map<string, BridgeConfig>();
    for (const bridge of this.config.bridges) {
      const place = this.bridgePlaces.get(bridge);
      const fail = (reason: string): void => {
        this.errors.push(new FileError(place?.file ?? '', place?.line, reason));
      };
      const seen = this.bridgeOptionsSeen.get(bridge);
      if (bridge.addresses.length === 0 && !seen?.has('address')) fail(`bridge ${quote(bridge.name)} has no 'address' line`);
      if (bridge.topics.length === 0 && !seen?.has('topic')) fail(`bridge ${quote(bridge.name)} has no 'topic' line`);
      this.checkBridgeTls(bridge);
      bridge.remoteClientId ??= `${this.hostname}.${bridge.name}`;
      bridge.localClientId ??= `local.${bridge.remoteClientId}`;
      const other = localIds.get(bridge.localClientId);
      if (other) {
        fail(`bridge ${quote(bridge.name)} has the same local_clientid as bridge ${quote(other.name)} (${quote(bridge.localClientId)}); set local_clientid on one of them`);
      } else {
        localIds.set(bridge.localClientId, bridge);
      }
    }
  }
}

/**
 * Without require_certificate no client is asked for a certificate (mosquitto: SSL_VERIFY_NONE),
 * so every client of the listener would be refused; shared with the UCI reader.
 */
export const USE_IDENTITY_NEEDS_REQUIRE =
  'needs require_certificate true: without it no client is asked for a certificate, so every client would be refused (as mosquitto does)';

/**
 * Bridge TLS settings mosquitto would silently ignore (no bridge_cafile/bridge_capath means no
 * TLS), each with the option to report it on; shared with the UCI reader.
 */
export function bridgeTlsProblems(bridge: BridgeConfig): { option: string; reason: string }[] {
  const problems: { option: string; reason: string }[] = [];
  const tls = bridge.cafile !== undefined || bridge.capath !== undefined;
  if (bridge.certfile !== undefined && bridge.keyfile === undefined) problems.push({ option: 'bridge_certfile', reason: 'needs bridge_keyfile too' });
  if (bridge.keyfile !== undefined && bridge.certfile === undefined) problems.push({ option: 'bridge_keyfile', reason: 'needs bridge_certfile too' });
  if (!tls) {
    const reason = 'needs bridge_cafile or bridge_capath, which turn TLS on; mosquitto would silently connect without TLS';
    if (bridge.certfile !== undefined) problems.push({ option: 'bridge_certfile', reason });
    if (bridge.keyfile !== undefined) problems.push({ option: 'bridge_keyfile', reason });
    if (bridge.insecure) problems.push({ option: 'bridge_insecure', reason });
  }
  return problems;
}

/**
 * Splits bytes into text lines; a line that is not UTF-8 is kept (decoded with replacement
 * characters) and marked, since mosquitto only refuses bad UTF-8 in values, not in comments.
 */
function decodeLines(bytes: Buffer): { text: string; badLines: Set<number> } {
  const strict = new TextDecoder('utf-8', { fatal: true });
  try {
    return { text: strict.decode(bytes), badLines: new Set() };
  } catch {
    const badLines = new Set<number>();
    const lines: string[] = [];
    let start = 0;
    let lineNumber = 1;
    while (start <= bytes.length) {
      let end = bytes.indexOf(0x0a, start);
      if (end < 0) end = bytes.length;
      const slice = bytes.subarray(start, end);
      try {
        lines.push(strict.decode(slice));
      } catch {
        badLines.add(lineNumber);
        lines.push(slice.toString('utf8'));
      }
      start = end + 1;
      lineNumber++;
    }
    return { text: lines.join('\n'), badLines };
  }
}

/** The supported option nearest to a misspelt one, if it is close (edit distance 2 or less). */
function closestOption(name: string): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const option of CONFIG_OPTIONS) {
    for (const candidate of [option.name, ...option.aliases]) {
      const d = editDistance(name, candidate, bestDistance);
      if (d < bestDistance) {
        best = candidate;
        bestDistance = d;
      }
    }
  }
  return best;
}

function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) return limit;
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

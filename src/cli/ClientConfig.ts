/**
 * The command line of mqttd_pub and mqttd_sub: mosquitto_pub/mosquitto_sub 2.0's flags,
 * defaults, checks and error texts (client_shared.c), so scripts carry over unchanged.
 */
import type { QoS } from 'mqtt-packet';
import type { ProtocolVersion } from '../client/MqttClient';
import { cInt, emptyPropertySets, parseProperty, type PropertySets } from './ClientProperties';
import { checkFormat } from './MessageFormat';

export type ClientKind = 'pub' | 'sub';
export type PubMode = 'none' | 'message' | 'file' | 'stdin-file' | 'stdin-line' | 'null';

export interface ClientConfig {
  kind: ClientKind;
  host: string;
  /** Undefined: 1883, or 8883 when a CA is given. */
  port: number | undefined;
  unixPath?: string;
  bindAddress?: string;
  noDelay: boolean;
  id?: string;
  idPrefix?: string;
  username?: string;
  password?: string;
  keepalive: number;
  cleanSession: boolean;
  /** -1: not given. */
  sessionExpiry: number;
  protocolVersion: ProtocolVersion;
  qos: QoS;
  debug: boolean;
  quiet: boolean;
  maxInflight: number;
  properties: PropertySets;
  willTopic?: string;
  willPayload?: Buffer;
  willQos: QoS;
  willRetain: boolean;
  // TLS
  cafile?: string;
  capath?: string;
  certfile?: string;
  keyfile?: string;
  ciphers?: string;
  tlsVersion?: string;
  tlsAlpn?: string;
  insecure: boolean;
  tlsUseOsCerts: boolean;
  // mqttd_pub
  topic?: string;
  pubMode: PubMode;
  message?: Buffer;
  fileInput?: string;
  retain: boolean;
  repeatCount: number;
  /** Seconds between repeats. */
  repeatDelay: number;
  // mqttd_sub
  topics: string[];
  filterOuts: string[];
  unsubTopics: string[];
  msgCount: number;
  timeout: number;
  exitAfterSub: boolean;
  noRetain: boolean;
  retainedOnly: boolean;
  removeRetained: boolean;
  retainAsPublished: boolean;
  /** Subscription options byte bits beyond QoS (v5: retain handling 2 for -R). */
  retainHandling: number;
  eol: boolean;
  verbose: boolean;
  format?: string;
  pretty: boolean;
  /** Per 10000 (mosquitto's --random-filter). */
  randomFilter: number;
}

export type ConfigResult =
  | { kind: 'ok'; config: ClientConfig }
  | { kind: 'help' }
  | { kind: 'version' }
  /** `message` is printed to stderr as is, then the "Use --help" hint. */
  | { kind: 'error'; message: string };

function defaults(kind: ClientKind): ClientConfig {
  return {
    kind,
    host: 'localhost',
    port: undefined,
    noDelay: false,
    keepalive: 60,
    cleanSession: true,
    sessionExpiry: -1,
    protocolVersion: 4,
    qos: 0,
    debug: false,
    quiet: false,
    maxInflight: 20,
    properties: emptyPropertySets(),
    willQos: 0,
    willRetain: false,
    insecure: false,
    tlsUseOsCerts: false,
    pubMode: 'none',
    retain: false,
    repeatCount: 1,
    repeatDelay: 0,
    topics: [],
    filterOuts: [],
    unsubTopics: [],
    msgCount: 0,
    timeout: 0,
    exitAfterSub: false,
    noRetain: false,
    retainedOnly: false,
    removeRetained: false,
    retainAsPublished: false,
    retainHandling: 0,
    eol: true,
    verbose: false,
    pretty: false,
    randomFilter: 10000,
  };
}

/** A topic name a client may publish to: no wildcards [MQTT-3.3.2-2]. */
export function isValidPublishTopic(topic: string): boolean {
  return !topic.includes('+') && !topic.includes('#') && Buffer.byteLength(topic) <= 65535;
}

/** A topic filter: '+' and '#' only as whole levels, '#' only last [MQTT-4.7.1]. */
export function isValidSubscribeTopic(filter: string): boolean {
  if (Buffer.byteLength(filter) > 65535) return false;
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] as string;
    if (level.includes('+') && level !== '+') return false;
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return false;
  }
  return true;
}

const MQTT_MAX_PAYLOAD = 268435455;

/** Reads argv (without node and the script) the way client_config_line_proc does. */
export function parseClientArgs(kind: ClientKind, argv: readonly string[]): ConfigResult {
  const cfg = defaults(kind);
  const fail = (message: string): ConfigResult => ({ kind: 'error', message });
  const isPub = kind === 'pub';
  const isSub = kind === 'sub';

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const last = i === argv.length - 1;
    const next = (): string => argv[++i] as string;
    const unknown = (): ConfigResult => fail(`Error: Unknown option '${arg}'.\n`);
    const setPubMode = (mode: PubMode): ConfigResult | undefined => {
      if (cfg.pubMode !== 'none') return fail('Error: Only one type of message can be sent at once.\n\n');
      cfg.pubMode = mode;
      return undefined;
    };

    switch (arg) {
      case '-A':
        if (last) return fail('Error: -A argument given but no address specified.\n\n');
        cfg.bindAddress = next();
        break;
      case '--cafile':
        if (last) return fail('Error: --cafile argument given but no file specified.\n\n');
        cfg.cafile = next();
        break;
      case '--capath':
        if (last) return fail('Error: --capath argument given but no directory specified.\n\n');
        cfg.capath = next();
        break;
      case '--cert':
        if (last) return fail('Error: --cert argument given but no file specified.\n\n');
        cfg.certfile = next();
        break;
      case '--ciphers':
        if (last) return fail('Error: --ciphers argument given but no ciphers specified.\n\n');
        cfg.ciphers = next();
        break;
      case '-C':
        if (!isSub) return unknown();
        if (last) return fail('Error: -C argument given but no count specified.\n\n');
        cfg.msgCount = cInt(next());
        if (cfg.msgCount < 1) return fail(`Error: Invalid message count "${cfg.msgCount}".\n\n`);
        break;
      case '-c':
      case '--disable-clean-session':
        cfg.cleanSession = false;
        break;
      case '-d':
      case '--debug':
        cfg.debug = true;
        break;
      case '-D':
      case '--property': {
        const parsed = parseProperty(argv, i + 1, cfg.properties);
        if (!parsed.ok) return fail(parsed.message);
        i += parsed.used;
        cfg.protocolVersion = 5;
        break;
      }
      case '-E':
        if (!isSub) return unknown();
        cfg.exitAfterSub = true;
        break;
      case '-f':
      case '--file': {
        if (!isPub) return unknown();
        const bad = setPubMode('file');
        if (bad) return bad;
        if (last) return fail('Error: -f argument given but no file specified.\n\n');
        cfg.fileInput = next();
        break;
      }
      case '-F':
        if (!isSub) return unknown();
        if (last) return fail('Error: -F argument given but no format specified.\n\n');
        cfg.format = next();
        {
          const problem = checkFormat(cfg.format);
          if (problem) return fail(problem);
        }
        break;
      case '--help':
        return { kind: 'help' };
      case '-h':
      case '--host':
        if (last) return fail('Error: -h argument given but no host specified.\n\n');
        cfg.host = next();
        break;
      case '--insecure':
        cfg.insecure = true;
        break;
      case '-i':
      case '--id':
        if (cfg.idPrefix !== undefined) return fail('Error: -i and -I argument cannot be used together.\n\n');
        if (last) return fail('Error: -i argument given but no id specified.\n\n');
        cfg.id = next();
        break;
      case '-I':
      case '--id-prefix':
        if (cfg.id !== undefined) return fail('Error: -i and -I argument cannot be used together.\n\n');
        if (last) return fail('Error: -I argument given but no id prefix specified.\n\n');
        cfg.idPrefix = next();
        break;
      case '-k':
      case '--keepalive':
        if (last) return fail('Error: -k argument given but no keepalive specified.\n\n');
        cfg.keepalive = cInt(next());
        if (cfg.keepalive < 5 || cfg.keepalive > 65535) {
          return fail('Error: Invalid keepalive given, it must be between 5 and 65535 inclusive.\n\n');
        }
        break;
      case '--key':
        if (last) return fail('Error: --key argument given but no file specified.\n\n');
        cfg.keyfile = next();
        break;
      case '-L':
      case '--url': {
        if (last) return fail('Error: -L argument given but no URL specified.\n\n');
        const problem = applyUrl(cfg, next());
        if (problem) return fail(problem);
        break;
      }
      case '-l':
      case '--stdin-line': {
        if (!isPub) return unknown();
        const bad = setPubMode('stdin-line');
        if (bad) return bad;
        break;
      }
      case '-m':
      case '--message': {
        if (!isPub) return unknown();
        const bad = setPubMode('message');
        if (bad) return bad;
        if (last) return fail('Error: -m argument given but no message specified.\n\n');
        cfg.message = Buffer.from(next());
        if (cfg.message.length > MQTT_MAX_PAYLOAD) {
          return fail(`Error: Message length must be less than ${MQTT_MAX_PAYLOAD} bytes.\n\n`);
        }
        break;
      }
      case '-M': {
        if (last) return fail('Error: -M argument given but max_inflight not specified.\n\n');
        const n = cInt(next());
        if (n < 1) return fail('Error: Maximum inflight messages must be greater than 0.\n\n');
        cfg.maxInflight = n;
        break;
      }
      case '--nodelay':
        cfg.noDelay = true;
        break;
      case '-n':
      case '--null-message': {
        if (!isPub) return unknown();
        const bad = setPubMode('null');
        if (bad) return bad;
        break;
      }
      case '-N':
        if (!isSub) return unknown();
        cfg.eol = false;
        break;
      case '-p':
      case '--port':
        if (last) return fail('Error: -p argument given but no port specified.\n\n');
        cfg.port = cInt(next());
        if (cfg.port < 0 || cfg.port > 65535) return fail(`Error: Invalid port given: ${cfg.port}\n`);
        break;
      case '--pretty':
        if (!isSub) return unknown();
        cfg.pretty = true;
        break;
      case '-P':
      case '--pw':
        if (last) return fail('Error: -P argument given but no password specified.\n\n');
        cfg.password = next();
        break;
      case '-q':
      case '--qos': {
        if (last) return fail('Error: -q argument given but no QoS specified.\n\n');
        const q = cInt(next());
        if (q < 0 || q > 2) return fail(`Error: Invalid QoS given: ${q}\n`);
        cfg.qos = q as QoS;
        break;
      }
      case '--quiet':
        cfg.quiet = true;
        break;
      case '-r':
      case '--retain':
        if (!isPub) return unknown();
        cfg.retain = true;
        break;
      case '-R':
        if (!isSub) return unknown();
        cfg.noRetain = true;
        cfg.retainHandling = 2;
        break;
      case '--random-filter': {
        if (!isSub) return unknown();
        if (last) return fail('Error: --random-filter argument given but no chance specified.\n\n');
        const chance = Math.trunc(10 * (Number.parseFloat(next()) || 0));
        if (chance > 10000 || chance < 1) return fail('Error: --random-filter chance must be between 0.1-100.0\n\n');
        cfg.randomFilter = chance;
        break;
      }
      case '--remove-retained':
        if (!isSub) return unknown();
        cfg.removeRetained = true;
        break;
      case '--repeat':
        if (!isPub) return unknown();
        if (last) return fail('Error: --repeat argument given but no count specified.\n\n');
        cfg.repeatCount = cInt(next());
        if (cfg.repeatCount < 1) return fail('Error: --repeat argument must be >0.\n\n');
        break;
      case '--repeat-delay': {
        if (!isPub) return unknown();
        if (last) return fail('Error: --repeat-delay argument given but no time specified.\n\n');
        const f = Number.parseFloat(next()) || 0;
        if (f < 0) return fail('Error: --repeat-delay argument must be >=0.0.\n\n');
        cfg.repeatDelay = f;
        break;
      }
      case '--retain-as-published':
        if (!isSub) return unknown();
        cfg.retainAsPublished = true;
        break;
      case '--retained-only':
        if (!isSub) return unknown();
        cfg.retainedOnly = true;
        break;
      case '-s':
      case '--stdin-file': {
        if (!isPub) return unknown();
        const bad = setPubMode('stdin-file');
        if (bad) return bad;
        break;
      }
      case '-t':
      case '--topic': {
        if (last) return fail('Error: -t argument given but no topic specified.\n\n');
        const problem = addTopic(cfg, next(), '-t');
        if (problem) return fail(problem);
        break;
      }
      case '-T':
      case '--filter-out': {
        if (!isSub) return unknown();
        if (last) return fail('Error: -T argument given but no topic filter specified.\n\n');
        const filter = next();
        if (!isValidSubscribeTopic(filter)) {
          return fail(`Error: Invalid filter topic '${filter}', are all '+' and '#' wildcards correct?\n`);
        }
        cfg.filterOuts.push(filter);
        break;
      }
      case '--tls-alpn':
        if (last) return fail('Error: --tls-alpn argument given but no protocol specified.\n\n');
        cfg.tlsAlpn = next();
        break;
      case '--tls-use-os-certs':
        cfg.tlsUseOsCerts = true;
        break;
      case '--tls-version':
        if (last) return fail('Error: --tls-version argument given but no version specified.\n\n');
        cfg.tlsVersion = next();
        break;
      case '-U':
      case '--unsubscribe': {
        if (!isSub) return unknown();
        if (last) return fail('Error: -U argument given but no unsubscribe topic specified.\n\n');
        const filter = next();
        if (!isValidSubscribeTopic(filter)) {
          return fail(`Error: Invalid unsubscribe topic '${filter}', are all '+' and '#' wildcards correct?\n`);
        }
        cfg.unsubTopics.push(filter);
        break;
      }
      case '-u':
      case '--username':
        if (last) return fail('Error: -u argument given but no username specified.\n\n');
        cfg.username = next();
        break;
      case '--unix':
        if (last) return fail('Error: --unix argument given but no socket path specified.\n\n');
        cfg.unixPath = next();
        cfg.host = cfg.unixPath;
        cfg.port = 0;
        break;
      case '-V':
      case '--protocol-version': {
        if (last) return fail('Error: --protocol-version argument given but no version specified.\n\n');
        const v = next();
        if (v === 'mqttv31' || v === '31') cfg.protocolVersion = 3;
        else if (v === 'mqttv311' || v === '311') cfg.protocolVersion = 4;
        else if (v === 'mqttv5' || v === '5') cfg.protocolVersion = 5;
        else return fail('Error: Invalid protocol version argument given.\n\n');
        break;
      }
      case '-v':
      case '--verbose':
        if (!isSub) return unknown();
        cfg.verbose = true;
        break;
      case '--version':
        return { kind: 'version' };
      case '-W': {
        if (!isSub) return unknown();
        if (last) return fail('Error: -W argument given but no timeout specified.\n\n');
        const t = cInt(next());
        if (t < 1) return fail(`Error: Invalid timeout "${t}".\n\n`);
        cfg.timeout = t;
        break;
      }
      case '--will-payload':
        if (last) return fail('Error: --will-payload argument given but no will payload specified.\n\n');
        cfg.willPayload = Buffer.from(next());
        break;
      case '--will-qos': {
        if (last) return fail('Error: --will-qos argument given but no will QoS specified.\n\n');
        const q = cInt(next());
        if (q < 0 || q > 2) return fail(`Error: Invalid will QoS ${q}.\n\n`);
        cfg.willQos = q as QoS;
        break;
      }
      case '--will-retain':
        cfg.willRetain = true;
        break;
      case '--will-topic': {
        if (last) return fail('Error: --will-topic argument given but no will topic specified.\n\n');
        const topic = next();
        if (!isValidPublishTopic(topic)) return fail(`Error: Invalid will topic '${topic}', does it contain '+' or '#'?\n`);
        cfg.willTopic = topic;
        break;
      }
      case '-x': {
        if (last) return fail('Error: -x argument given but no session expiry interval specified.\n\n');
        const text = next();
        if (text === '∞') cfg.sessionExpiry = 4294967295;
        else {
          if (!/^\s*[+-]?(0x[0-9a-f]+|\d+)$/i.test(text)) return fail('Error: session-expiry-interval not a number.\n\n');
          const n = Number(text.trim());
          if (n > 4294967295 || n < -1) return fail('Error: session-expiry-interval out of range.\n\n');
          cfg.sessionExpiry = n === -1 ? 4294967295 : n;
        }
        break;
      }
      default:
        return unknown();
    }
  }
  return finishConfig(cfg);
}

/** The checks client_config_load makes once every flag is read. */
function finishConfig(cfg: ClientConfig): ConfigResult {
  const fail = (message: string): ConfigResult => ({ kind: 'error', message });
  if (cfg.willPayload !== undefined && cfg.willTopic === undefined) {
    return fail('Error: Will payload given, but no will topic given.\n');
  }
  if (cfg.willRetain && cfg.willTopic === undefined) return fail('Error: Will retain given, but no will topic given.\n');
  if ((cfg.certfile !== undefined) !== (cfg.keyfile !== undefined)) {
    return fail('Error: Both certfile and keyfile must be provided if one of them is set.\n');
  }
  if (cfg.protocolVersion === 5) {
    if (!cfg.cleanSession && cfg.sessionExpiry === -1) cfg.sessionExpiry = 4294967295;
    if (cfg.sessionExpiry > 0) {
      if (cfg.sessionExpiry === 4294967295 && (cfg.idPrefix !== undefined || cfg.id === undefined)) {
        return fail('Error: You must provide a client id if you are using an infinite session expiry interval.\n');
      }
      cfg.properties.connect.sessionExpiryInterval = cfg.sessionExpiry;
    }
  } else if (!cfg.cleanSession && (cfg.idPrefix !== undefined || cfg.id === undefined)) {
    return fail('Error: You must provide a client id if you are using the -c option.\n');
  }
  if (cfg.kind === 'sub' && cfg.topics.length === 0) {
    return fail('Error: You must specify a topic to subscribe to.\n');
  }
  return { kind: 'ok', config: cfg };
}

function addTopic(cfg: ClientConfig, topic: string, flag: string): string | undefined {
  void flag;
  if (cfg.kind === 'pub') {
    if (!isValidPublishTopic(topic)) return `Error: Invalid publish topic '${topic}', does it contain '+' or '#'?\n`;
    cfg.topic = topic;
  } else {
    if (!isValidSubscribeTopic(topic)) {
      return `Error: Invalid subscription topic '${topic}', are all '+' and '#' wildcards correct?\n`;
    }
    cfg.topics.push(topic);
  }
  return undefined;
}

/** -L mqtt(s)://[user[:pass]@]host[:port]/topic */
function applyUrl(cfg: ClientConfig, url: string): string | undefined {
  let rest: string;
  const lower = url.toLowerCase();
  if (lower.startsWith('mqtt://')) {
    rest = url.slice(7);
    cfg.port = 1883;
  } else if (lower.startsWith('mqtts://')) {
    rest = url.slice(8);
    cfg.port = 8883;
    cfg.tlsUseOsCerts = true;
  } else {
    return 'Error: unsupported URL scheme.\n\n';
  }
  const slash = rest.indexOf('/');
  if (slash < 0) return 'Error: Invalid URL for -L argument specified - topic missing.\n';
  const problem = addTopic(cfg, rest.slice(slash + 1), '-L topic');
  if (problem) return problem;
  let authority = rest.slice(0, slash);
  const at = authority.indexOf('@');
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    authority = authority.slice(at + 1);
    const colon = userinfo.indexOf(':');
    if (colon >= 0) {
      cfg.password = userinfo.slice(colon + 1);
      cfg.username = userinfo.slice(0, colon);
    } else cfg.username = userinfo;
  }
  const colon = authority.indexOf(':');
  if (colon >= 0) {
    cfg.port = cInt(authority.slice(colon + 1));
    authority = authority.slice(0, colon);
  }
  cfg.host = authority;
  return undefined;
}

/** The port client_connect would use. */
export function effectivePort(cfg: ClientConfig): number {
  if (cfg.port !== undefined) return cfg.port;
  return cfg.cafile !== undefined || cfg.capath !== undefined ? 8883 : 1883;
}

/** Whether the connection is TLS: a CA given, or mqtts:// / --tls-use-os-certs / port 8883. */
export function usesTls(cfg: ClientConfig): boolean {
  return (
    cfg.unixPath === undefined &&
    (cfg.cafile !== undefined || cfg.capath !== undefined || cfg.tlsUseOsCerts || effectivePort(cfg) === 8883)
  );
}

import { readFileSync } from 'node:fs';
import { AclRules } from '../auth/AclRules';
import { ConfigErrors } from '../config/ConfigErrors';
import { loadConfigFile, parseConfig } from '../config/ConfigFile';
import { loadUciConfig, parseNetworkArgument } from '../config/UciConfig';
import type { BrokerConfig } from '../config/BrokerConfig';
import { Daemon, ruleSources } from '../daemon/Daemon';
import { loadRules } from '../rules/RuleSources';
import { VERSION } from '../version';

const USAGE = `mqttd version ${VERSION}

mqttd is an MQTT v5.0/v3.1.1/v3.1 broker for home routers.

Usage: mqttd [-c config_file | --uci uci_file [--network name=addr[,addr]]...] [-p port_number] [-v]

 -c : specify the broker config file (mosquitto.conf syntax).
 -p : start the broker listening on the specified port.
      Not recommended in conjunction with the -c option.
 -v : verbose mode - enable all logging types. This overrides
      any logging options given in the config file.
 --uci : read an OpenWrt UCI config (/etc/config/mqttd) instead.
 --network : the addresses of an OpenWrt network named in the UCI config.
 --check-acl : check an ACL file as the broker reads it; prints its problems
      as file:line: reason and exits 3 if it has any (used by LuCI).
 --check-rules : check the configured rules (rules_file, rules_dir, UCI rule sections),
      print each problem as file:line, and exit (3 when any rule is broken).
 --version : print the version and exit.
 -h, --help : display this help.

With no config file mqttd listens on 127.0.0.1 port 1883 only and allows anonymous clients.
`;

interface Arguments {
  configFile?: string;
  uciFile?: string;
  networks: Map<string, string[]>;
  port?: number;
  verbose: boolean;
  checkAcl?: string;
  checkRules: boolean;
}

/**
 * Exit codes as mosquitto 2.0.11's (conf.c config__parse_args, mosquitto.c): 3 for a bad
 * command line, `-h`/`--help` and configuration errors (MOSQ_ERR_INVAL), 1 when starting
 * fails (a listener cannot bind). `--version` is mqttd's own and exits 0.
 */
function parseArguments(argv: string[]): Arguments {
  const args: Arguments = { networks: new Map(), verbose: false, checkRules: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) fail(`Error: ${a} argument given but no value specified.`);
      return v;
    };
    switch (a) {
      case '-c':
      case '--config-file':
        args.configFile = value();
        break;
      case '--uci':
        args.uciFile = value();
        break;
      case '--check-acl':
        args.checkAcl = value();
        break;
      case '--network': {
        const problem = parseNetworkArgument(value(), args.networks);
        if (problem) fail(`Error: ${problem}`);
        break;
      }
      case '-p':
      case '--port': {
        const v = value();
        const port = Number(v);
        if (!/^\d+$/.test(v) || port < 1 || port > 65535) fail(`Error: Invalid port specified (${v}).`);
        args.port = port;
        break;
      }
      case '-v':
      case '--verbose':
        args.verbose = true;
        break;
      case '-d':
      case '--daemon':
        fail('Error: mqttd does not put itself in the background; run it under procd, systemd or `&`.');
        break;
      case '--check-rules':
        args.checkRules = true;
        break;
      case '-h':
      case '--help':
        process.stdout.write(USAGE);
        process.exit(USAGE_EXIT);
        break;
      case '--version':
        process.stdout.write(`mqttd version ${VERSION}\n`);
        process.exit(0);
        break;
      default:
        fail(`Error: Unknown option '${a}'.\n\n${USAGE}`);
    }
  }
  if (args.configFile !== undefined && args.uciFile !== undefined) fail('Error: -c and --uci cannot be used together.');
  return args;
}

/** mosquitto returns MOSQ_ERR_INVAL (3) for every command-line error, help included. */
const USAGE_EXIT = 3;
/** A listener that cannot bind, a store that cannot be read: mosquitto exits 1. */
const START_FAILED = 1;

function fail(message: string, code = USAGE_EXIT): never {
  process.stderr.write(message.endsWith('\n') ? message : message + '\n');
  process.exit(code);
}

/** --check-acl: the broker's own ACL reader, for tools that write ACL files (LuCI's plugin). */
function checkAclFile(path: string): never {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    fail(`Error: ${path}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'EIO'})`, 1);
  }
  const { errors } = AclRules.parse(text, path);
  for (const e of errors) process.stderr.write(`${e.message}\n`);
  process.exit(errors.length > 0 ? 3 : 0);
}

function readConfig(args: Arguments): BrokerConfig {
  try {
    let config: BrokerConfig;
    if (args.uciFile !== undefined) config = loadUciConfig(args.uciFile, args.networks);
    else if (args.configFile !== undefined) config = loadConfigFile(args.configFile);
    else config = parseConfig('', '(built-in defaults)');
    if (args.port !== undefined) {
      // As mosquitto: -p sets the port of the default listener(s).
      for (const l of config.listeners) l.port = args.port;
      if (config.listeners.length === 0) fail('Error: -p given but the configuration has no listener.');
    }
    return config;
  } catch (err) {
    if (err instanceof ConfigErrors) {
      for (const e of err.errors) process.stderr.write(`Error: ${e.message}\n`);
      fail(`Error: found ${err.errors.length} problem(s) in the configuration; not starting.`, 3);
    }
    throw err;
  }
}

async function main(): Promise<void> {
  // First of all: SIGHUP's default action ends the process, and procd or the init script
  // may send one while the broker is still starting. Until the daemon runs, a signal is
  // remembered and acted on once it does.
  let daemon: Daemon | undefined;
  let stopping = false;
  let reloadWanted = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    if (!daemon) return;
    daemon
      .stop()
      .then(() => process.exit(0))
      .catch((err: unknown) => fail(`Error while stopping: ${String(err)}`, START_FAILED));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', () => {
    if (stopping) return;
    if (daemon) void daemon.reload();
    else reloadWanted = true;
  });
  process.on('SIGUSR1', () => void daemon?.save(true));

  const args = parseArguments(process.argv.slice(2));
  if (args.checkAcl !== undefined) checkAclFile(args.checkAcl);
  const config = readConfig(args);
  if (args.checkRules) checkRules(config);
  try {
    daemon = await Daemon.start({ config, verbose: args.verbose, extensions: await bridgeExtensions(config) });
  } catch (err) {
    fail(`Error: ${(err as Error).message}`, START_FAILED);
  }
  if (stopping) {
    stopping = false;
    stop();
  } else if (reloadWanted) void daemon.reload();
}

/** `--check-rules`: the rules as the broker would load them; exit 3 when any is broken. */
function checkRules(config: BrokerConfig): never {
  const sources = ruleSources(config);
  if (!sources) {
    process.stdout.write('No rules configured (rules_file, rules_dir).\n');
    process.exit(0);
  }
  const loaded = loadRules(sources);
  for (const e of loaded.errors) process.stderr.write(`Error: ${e.message}\n`);
  const summary = `${loaded.rules.length} simple rule(s) and ${loaded.scripts.length} script(s) OK`;
  if (loaded.errors.length > 0) fail(`${summary}; found ${loaded.errors.length} problem(s) in the rules.`, 3);
  process.stdout.write(`${summary}.\n`);
  process.exit(0);
}

/** The configured bridges (`connection` blocks or UCI `bridge` sections), started after the listeners. */
async function bridgeExtensions(config: BrokerConfig): Promise<Parameters<typeof Daemon.start>[0]['extensions']> {
  if (config.bridges.length === 0) return [];
  // Loaded only when a bridge is configured: most routers run none, and RAM is what they lack.
  const { bridgeExtension } = require('../bridge/Bridges') as typeof import('../bridge/Bridges');
  return bridgeExtension(config);
}

void main();

/**
 * The same invocation of Debian's mosquitto_pub/mosquitto_sub and of mqttd_pub/mqttd_sub,
 * against the same real broker, must print byte-identical stdout and exit with the same
 * code. Each case runs mosquitto's tool first, then ours, one after the other. The broker
 * is Debian's mosquitto, or mqttd itself (`node dist/mqttd.js`), so that our tools and our
 * broker are proven together.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMqttd } from '../helpers/broker';
import { startMosquitto } from '../helpers/mosquitto';
import { freePort } from '../helpers/ports';
import { hasCommand, type RunningProcess } from '../helpers/processes';
import { commandFor, runCommand, startCommand, waitForLog, type RunResult } from './cliRun';

type Impl = 'mosquitto' | 'mqttd';

interface Case {
  name: string;
  tool: 'pub' | 'sub';
  /** {port}, {auth}, {sock}, {dir} and {closed} are replaced before running. */
  args: string[];
  stdin?: string;
  /** Retained messages to set up first (mosquitto_pub arguments). */
  before?: string[][];
  /** sub: messages sent with mosquitto_pub once the subscriber is subscribed. */
  publish?: string[][];
  /** sub: the broker log line to wait for before publishing (default SUBACK). */
  waitFor?: 'SUBACK' | 'UNSUBACK';
  /** pub: a mosquitto_sub observing the result; its stdout is compared too. */
  observe?: string[];
  /** pub: start the observer after the publisher exits (to see retained flags). */
  observeAfter?: boolean;
  /** Retained topics cleared after each run. */
  clear?: string[];
  /** Also compare stderr (program names aside). */
  stderr?: boolean;
  /** Replace digits (timestamps) before comparing. */
  digits?: boolean;
}

/** Which broker the table runs against. */
export type BrokerKind = 'mosquitto' | 'mqttd';

/** The broker under test: its open port, its log, and how to stop it (and its helpers). */
interface TableBroker {
  kind: BrokerKind;
  port: number;
  process: RunningProcess;
  /** The process behind the password-only port (the same one for mosquitto). */
  authProcess: RunningProcess;
  stop(): Promise<void>;
}

let broker: TableBroker;
let authPort: number;
let closedPort: number;
let dir: string;
let sock: string;
let serial = 0;

async function setUp(kind: BrokerKind): Promise<void> {
  hasCommand('mosquitto_pub');
  dir = mkdtempSync(join(tmpdir(), 'mqttd-sbs-'));
  // mosquitto binds unix sockets after dropping root, so their directory must be writable by it.
  mkdirSync(join(dir, 'sock'), { mode: 0o777 });
  chmodSync(join(dir, 'sock'), 0o777);
  sock = join(dir, 'sock', 'mqtt.sock');
  authPort = await freePort();
  closedPort = await freePort();
  // alice / secret, written by the real mosquitto_passwd.
  await runCommand('/usr/bin/mosquitto_passwd', ['-c', '-b', join(dir, 'passwd'), 'alice', 'secret']);
  // mosquitto started as root drops to its own user before reading the password file.
  chmodSync(dir, 0o755);
  chmodSync(join(dir, 'passwd'), 0o644);
  writeFileSync(join(dir, 'payload.bin'), Buffer.from([0, 1, 2, 0xfe, 0xff, 10, 65]));
  broker = kind === 'mosquitto' ? await startMosquittoTable() : await startMqttdTable();
}

async function startMosquittoTable(): Promise<TableBroker> {
  const mosquitto = await startMosquitto([
    'per_listener_settings true',
    'allow_anonymous true',
    // stderr: mosquitto's stdout is block-buffered on a pipe, and the test waits on these lines.
    'log_dest stderr',
    'log_type all',
    `listener 0 ${sock}`,
    'allow_anonymous true',
    `listener ${authPort} 127.0.0.1`,
    'allow_anonymous false',
    `password_file ${join(dir, 'passwd')}`,
  ]);
  const p = mosquitto.process;
  return { kind: 'mosquitto', port: mosquitto.port, process: p, authProcess: p, stop: () => mosquitto.stop() };
}

/**
 * mqttd applies security settings to every listener (no per_listener_settings), so the
 * password-only listener is a second mqttd. mqttd has no unix socket listeners: the --unix
 * cases run against mosquitto only.
 */
async function startMqttdTable(): Promise<TableBroker> {
  // The subscribe/unsubscribe log lines say when a subscriber is ready for the publisher.
  const logLines = ['log_dest stderr', ...['error', 'warning', 'notice', 'subscribe', 'unsubscribe'].map((t) => `log_type ${t}`)];
  const open = await startMqttd(['allow_anonymous true', ...logLines], { dir: mkdtempSync(join(dir, 'open-')) });
  const auth = await startMqttd(['allow_anonymous false', `password_file ${join(dir, 'passwd')}`, ...logLines], {
    dir: mkdtempSync(join(dir, 'auth-')),
    port: authPort,
  }).catch(async (err: unknown) => {
    await open.stop();
    throw err;
  });
  return {
    kind: 'mqttd',
    port: open.port,
    process: open.process,
    authProcess: auth.process,
    stop: async () => {
      await open.stop();
      await auth.stop();
    },
  };
}

/**
 * The broker log line that says client `id` is subscribed (or unsubscribed): mosquitto's
 * `log_type all` "Sending SUBACK to id", mqttd's `log_type subscribe` "id 0 topic" (logged
 * once the subscription is in place, just before the SUBACK is written).
 */
function readyLine(id: string, waitFor: 'SUBACK' | 'UNSUBACK'): RegExp {
  if (broker.kind === 'mosquitto') return new RegExp(`Sending ${waitFor} to ${id}\\b`);
  return waitFor === 'SUBACK' ? new RegExp(`: ${id} \\d+ `) : new RegExp(`: ${id} [^ \\n]+\\n`);
}

function expand(args: string[]): string[] {
  return args.map((a) =>
    a
      .replace('{port}', String(broker.port))
      .replace('{auth}', String(authPort))
      .replace('{closed}', String(closedPort))
      .replace('{sock}', sock)
      .replace('{dir}', dir),
  );
}

const pubTool = (args: string[], stdin?: string): Promise<RunResult> => {
  const { command, prefix } = commandFor('mosquitto', 'pub');
  return runCommand(command, [...prefix, '-p', String(broker.port), ...expand(args)], stdin);
};

async function observe(c: Case, run: () => Promise<void>): Promise<Buffer> {
  // The observer is mosquitto_sub in both runs, so only the publisher differs. It watches
  // the port the publisher uses: with mqttd the password-only port is another broker.
  const id = `obs${++serial}`;
  const auth = c.args.some((a) => a.includes('{auth}'));
  const target = auth ? ['-p', String(authPort), '-u', 'alice', '-P', 'secret'] : ['-p', String(broker.port)];
  const log = auth ? broker.authProcess : broker.process;
  const from = log.output().length;
  const { command } = commandFor('mosquitto', 'sub');
  const observer = startCommand(command, [...target, '-i', id, ...expand(c.observe ?? [])]);
  await waitForLog(log, from, readyLine(id, 'SUBACK'));
  await run();
  return (await observer.finished).stdout;
}

async function runOnce(c: Case, impl: Impl): Promise<{ result: RunResult; observed: Buffer }> {
  for (const args of c.before ?? []) await pubTool(args);
  const { command, prefix } = commandFor(impl, c.tool);
  const args = [...prefix, ...expand(c.args)];
  let result: RunResult | undefined;
  let observed: Buffer = Buffer.alloc(0);
  if (c.tool === 'sub') {
    const id = c.args.includes('-i') ? (c.args[c.args.indexOf('-i') + 1] as string) : `sbs${++serial}`;
    if (!c.args.includes('-i')) args.push('-i', id);
    const from = broker.process.output().length;
    const started = startCommand(command, args, c.stdin);
    if (c.publish) {
      await waitForLog(broker.process, from, readyLine(id, c.waitFor ?? 'SUBACK'));
      for (const p of c.publish) await pubTool(p);
    }
    result = await started.finished;
    if (c.observe) observed = await observe(c, async () => undefined);
  } else if (c.observe && !c.observeAfter) {
    observed = await observe(c, async () => {
      result = await runCommand(command, args, c.stdin);
    });
  } else {
    result = await runCommand(command, args, c.stdin);
    if (c.observe) observed = await observe(c, async () => undefined);
  }
  for (const topic of c.clear ?? []) await pubTool(['-t', topic, '-r', '-n']);
  return { result: result as RunResult, observed };
}

const normalise = (c: Case, b: Buffer): string => {
  const s = b.toString('latin1');
  return c.digits ? s.replace(/\d/g, 'D') : s;
};
const names = (s: string): string => s.replace(/mosquitto_(pub|sub)/g, 'mqttd_$1');

const P = ['-p', '{port}'];
const V5 = ['-V', '5'];
const cases: Case[] = [
  // ---- mqttd_sub output: default, -v, -N
  { name: 'sub prints payloads, nothing for an empty one', tool: 'sub', args: [...P, '-t', 's/1', '-C', '3'], publish: [['-t', 's/1', '-m', 'hello'], ['-t', 's/1', '-n'], ['-t', 's/1', '-m', 'world']] },
  { name: 'sub -v prints topic payload and (null)', tool: 'sub', args: [...P, '-t', 's/#', '-v', '-C', '2'], publish: [['-t', 's/a', '-m', 'x y'], ['-t', 's/b', '-n']] },
  { name: 'sub -N drops end of line', tool: 'sub', args: [...P, '-t', 's/1', '-N', '-C', '2'], publish: [['-t', 's/1', '-m', 'a'], ['-t', 's/1', '-m', 'b']] },
  { name: 'sub -N -v', tool: 'sub', args: [...P, '-t', 's/1', '-N', '-v', '-C', '2'], publish: [['-t', 's/1', '-m', 'a'], ['-t', 's/1', '-n']] },
  { name: 'sub several -t', tool: 'sub', args: [...P, '-t', 'm/a', '-t', 'm/b', '-v', '-C', '2'], publish: [['-t', 'm/a', '-m', '1'], ['-t', 'm/b', '-m', '2']] },
  { name: 'sub -T filters out', tool: 'sub', args: [...P, '-t', 'f/#', '-T', 'f/skip', '-T', 'f/x/+', '-v', '-C', '2'], publish: [['-t', 'f/skip', '-m', 's'], ['-t', 'f/x/1', '-m', 's'], ['-t', 'f/a', '-m', 'a'], ['-t', 'f/b', '-m', 'b']] },
  { name: 'sub -C stops after count', tool: 'sub', args: [...P, '-t', 'c/1', '-C', '2'], publish: [['-t', 'c/1', '-m', '1'], ['-t', 'c/1', '-m', '2'], ['-t', 'c/1', '-m', '3']] },
  // ---- -F format language
  { name: 'sub -F topic payload length qos retain', tool: 'sub', args: [...P, '-q', '1', '-t', 'F/1', '-F', '%t %p %l %q %r', '-C', '2'], publish: [['-t', 'F/1', '-m', 'abc', '-q', '1'], ['-t', 'F/1', '-m', 'de', '-q', '0']] },
  { name: 'sub -F mid and QoS 2', tool: 'sub', args: [...P, '-q', '2', '-t', 'F/2', '-F', '%m %q', '-C', '2'], publish: [['-t', 'F/2', '-m', 'y', '-q', '1'], ['-t', 'F/2', '-m', 'x', '-q', '2']] },
  { name: 'sub -F hex', tool: 'sub', args: [...P, '-t', 'F/3', '-F', '%x|%X', '-C', '1'], publish: [['-t', 'F/3', '-m', 'Hi\u00ff!']] },
  { name: 'sub -F width, precision, flags', tool: 'sub', args: [...P, '-q', '1', '-t', 'F/4', '-F', '[%10p|%-10p|%010p|%010l|%-5l|%05m|%-8t|%.3t|%8.3t|%-8.2t|%10x|%-3X]', '-C', '2'], publish: [['-t', 'F/4', '-m', 'abcdefghijkl', '-q', '1'], ['-t', 'F/4', '-m', 'ab', '-q', '1']] },
  { name: 'sub -F escapes, %% and @@', tool: 'sub', args: [...P, '-t', 'F/5', '-F', '\\t%t\\\\%p\\n\\e\\a\\v\\r\\0%%@@', '-C', '1'], publish: [['-t', 'F/5', '-m', 'p']] },
  { name: 'sub -F v5 properties', tool: 'sub', args: [...P, ...V5, '-t', 'F/6', '-F', '%C|%R|%D|%P|%F|%A|%S|%5C|%-6F|', '-C', '2'], publish: [
    ['-t', 'F/6', '-m', 'x', ...V5, '-D', 'publish', 'content-type', 'text/plain', '-D', 'publish', 'response-topic', 'r/t', '-D', 'publish', 'correlation-data', 'c0rr', '-D', 'publish', 'user-property', 'k1', 'v1', '-D', 'publish', 'user-property', 'k2', 'v2', '-D', 'publish', 'payload-format-indicator', '1'],
    ['-t', 'F/6', '-m', 'y', ...V5]] },
  { name: 'sub -F subscription identifier', tool: 'sub', args: [...P, ...V5, '-t', 'F/7', '-D', 'subscribe', 'subscription-identifier', '42', '-F', '%S|%05S', '-C', '1'], publish: [['-t', 'F/7', '-m', 'x']] },
  { name: 'sub -F %j escaped JSON', tool: 'sub', args: [...P, '-q', '1', '-t', 'F/8', '-F', '%j', '-C', '3'], digits: true, publish: [['-t', 'F/8', '-m', 'he"l\\lo\ttab', '-q', '1'], ['-t', 'F/8', '-n'], ['-t', 'F/8', '-m', 'caf\u00e9']] },
  { name: 'sub -F %j with v5 properties', tool: 'sub', args: [...P, ...V5, '-t', 'F/9', '-F', '%j', '-C', '1'], digits: true, publish: [['-t', 'F/9', '-m', 'p', ...V5, '-D', 'publish', 'user-property', 'a', 'b', '-D', 'publish', 'content-type', 'c/t', '-D', 'publish', 'payload-format-indicator', '1', '-D', 'publish', 'correlation-data', 'cd']] },
  { name: 'sub -F %J JSON payload, invalid JSON', tool: 'sub', args: [...P, '-t', 'F/10', '-F', '%J', '-C', '3'], digits: true, stderr: true, publish: [['-t', 'F/10', '-m', '{"b":1,"a":[1,2.5,true,null],"1":{"x":"y"}, "n":-3e5}'], ['-t', 'F/10', '-m', '{bad'], ['-t', 'F/10', '-m', ' 42 ']] },
  { name: 'sub -F %J --pretty', tool: 'sub', args: [...P, '-t', 'F/11', '-F', '%J', '--pretty', '-C', '1'], digits: true, publish: [['-t', 'F/11', '-m', '{"a":{"b":[1,{"c":2}],"e":{}},"d":"s"}']] },
  { name: 'sub -F time fields', tool: 'sub', args: [...P, '-t', 'F/12', '-F', '%I|%U|@Y-@m-@dT@H:@M:@S.@N|@s|@z|@j|@e', '-C', '1'], digits: true, publish: [['-t', 'F/12', '-m', 'x']] },
  // ---- retained handling
  { name: 'sub sees retained then live', tool: 'sub', args: [...P, '-t', 'r/1', '-F', '%r %p', '-C', '2'], before: [['-t', 'r/1', '-m', 'old', '-r']], publish: [['-t', 'r/1', '-m', 'new']], clear: ['r/1'] },
  { name: 'sub -R skips retained (v3.1.1)', tool: 'sub', args: [...P, '-t', 'r/2', '-R', '-C', '1'], before: [['-t', 'r/2', '-m', 'old', '-r']], publish: [['-t', 'r/2', '-m', 'live']], clear: ['r/2'] },
  { name: 'sub -R skips retained (v5)', tool: 'sub', args: [...P, ...V5, '-t', 'r/3', '-R', '-C', '1'], before: [['-t', 'r/3', '-m', 'old', '-r']], publish: [['-t', 'r/3', '-m', 'live']], clear: ['r/3'] },
  { name: 'sub --retained-only exits at first live message', tool: 'sub', args: [...P, '-t', 'ro/#', '--retained-only', '-v'], before: [['-t', 'ro/a', '-m', 'A', '-r'], ['-t', 'ro/b', '-m', 'B', '-r']], publish: [['-t', 'ro/c', '-m', 'live']], clear: ['ro/a', 'ro/b'] },
  // With -C, mosquitto_sub 2.0.11 hangs after its DISCONNECT here, so both run until -W.
  { name: 'sub --remove-retained clears what it printed', tool: 'sub', args: [...P, '-t', 'rm/#', '--remove-retained', '-T', 'rm/keep', '-v', '-W', '1'], before: [['-t', 'rm/a', '-m', 'A', '-r'], ['-t', 'rm/keep', '-m', 'K', '-r'], ['-t', 'rm/b', '-m', 'B', '-r']], clear: ['rm/keep'] },
  { name: 'sub after --remove-retained sees only live messages', tool: 'sub', args: [...P, '-t', 'rm/#', '-v', '-C', '1'], publish: [['-t', 'rm/z', '-m', 'live']] },
  { name: 'sub --retain-as-published keeps the flag (v5)', tool: 'sub', args: [...P, ...V5, '-t', 'rap/1', '--retain-as-published', '-F', '%r', '-C', '1'], publish: [['-t', 'rap/1', '-m', 'x', '-r']], clear: ['rap/1'] },
  // ---- lifecycle and exit codes
  { name: 'sub -E exits after SUBACK', tool: 'sub', args: [...P, '-t', 'e/1', '-E'] },
  { name: 'sub -U unsubscribes a persistent subscription', tool: 'sub', args: [...P, '-c', '-i', 'sbs-persist', '-U', 'u/old', '-t', 'u/new', '-v', '-C', '1'], waitFor: 'UNSUBACK', before: [], publish: [['-t', 'u/old', '-m', 'old'], ['-t', 'u/new', '-m', 'new']] },
  { name: 'sub -W 1 on a silent topic exits 27', tool: 'sub', args: [...P, '-t', 'silent/1', '-W', '1'], stderr: true },
  { name: 'sub wrong password (v3.1.1) exits 5', tool: 'sub', args: ['-p', '{auth}', '-t', 'x', '-u', 'alice', '-P', 'wrong'], stderr: true },
  { name: 'sub wrong password (v5) exits 135', tool: 'sub', args: ['-p', '{auth}', '-t', 'x', '-u', 'alice', '-P', 'wrong', ...V5], stderr: true },
  { name: 'sub right password', tool: 'sub', args: ['-p', '{auth}', '-t', 'a/1', '-u', 'alice', '-P', 'secret', '-E'] },
  { name: 'sub connection refused exits 1', tool: 'sub', args: ['-p', '{closed}', '-t', 'x'], stderr: true },
  { name: 'sub -L URL', tool: 'sub', args: ['-L', 'mqtt://127.0.0.1:{port}/L/1', '-C', '1', '-v'], publish: [['-t', 'L/1', '-m', 'url']] },
  { name: 'sub -V 31 and -k', tool: 'sub', args: [...P, '-V', '31', '-k', '30', '-t', 'v31/1', '-C', '1'], publish: [['-t', 'v31/1', '-m', 'old protocol']] },
  { name: 'sub -V mqttv5 -c -x', tool: 'sub', args: [...P, '-V', 'mqttv5', '-c', '-x', '60', '-t', 'v5/1', '-C', '1'], publish: [['-t', 'v5/1', '-m', 'five']] },
  { name: 'sub --unix socket', tool: 'sub', args: ['--unix', '{sock}', '-t', 'unix/1', '-C', '1'], publish: [['-t', 'unix/1', '-m', 'over a unix socket']] },
  { name: 'sub -d debug lines (QoS 1)', tool: 'sub', args: [...P, '-d', '-q', '1', '-i', 'dbgsub', '-t', 'd/1', '-C', '1'], publish: [['-t', 'd/1', '-m', 'dbg', '-q', '1']] },
  { name: 'sub --random-filter 1000 prints everything (mosquitto 2.0 reads the chance in tenths of a percent)', tool: 'sub', args: [...P, '-t', 'rf/1', '--random-filter', '1000', '-C', '2'], publish: [['-t', 'rf/1', '-m', '1'], ['-t', 'rf/1', '-m', '2']] },
  // ---- argument errors (exit 1, nothing on stdout, same message)
  { name: 'sub bad topic filter', tool: 'sub', args: [...P, '-t', 'a/#/b'], stderr: true },
  { name: 'sub bad -F specifier', tool: 'sub', args: [...P, '-t', 'a', '-F', '%Z'], stderr: true },
  { name: 'sub incomplete -F', tool: 'sub', args: [...P, '-t', 'a', '-F', 'x%-0'], stderr: true },
  { name: 'sub -R with --retained-only', tool: 'sub', args: [...P, '-t', 'a', '-R', '--retained-only'], stderr: true },
  { name: 'sub without topic', tool: 'sub', args: [...P], stderr: true },
  { name: 'sub unknown option names it', tool: 'sub', args: [...P, '-t', 'a', '--bogus'], stderr: true },
  { name: 'sub -C 0', tool: 'sub', args: [...P, '-t', 'a', '-C', '0'], stderr: true },
  { name: 'sub -q 3', tool: 'sub', args: [...P, '-t', 'a', '-q', '3'], stderr: true },
  { name: 'sub -W 0', tool: 'sub', args: [...P, '-t', 'a', '-W', '0'], stderr: true },
  { name: 'sub -m is not a sub flag', tool: 'sub', args: [...P, '-t', 'a', '-m', 'x'], stderr: true },
  // ---- mqttd_pub
  { name: 'pub -m QoS 0', tool: 'pub', args: [...P, '-t', 'p/1', '-m', 'hello'], observe: ['-t', 'p/1', '-q', '2', '-F', '%t|%q|%r|%l|%p', '-C', '1'] },
  { name: 'pub -q 1', tool: 'pub', args: [...P, '-t', 'p/2', '-m', 'one', '-q', '1'], observe: ['-t', 'p/2', '-q', '2', '-F', '%t|%q|%r|%p', '-C', '1'] },
  { name: 'pub -q 2', tool: 'pub', args: [...P, '-t', 'p/3', '-m', 'two', '-q', '2'], observe: ['-t', 'p/3', '-q', '2', '-F', '%t|%q|%r|%p', '-C', '1'] },
  { name: 'pub -r retains', tool: 'pub', args: [...P, '-t', 'p/4', '-m', 'kept', '-r', '-q', '1'], observe: ['-t', 'p/4', '-F', '%t|%r|%p', '-C', '1'], observeAfter: true, clear: ['p/4'] },
  { name: 'pub -n sends an empty message', tool: 'pub', args: [...P, '-t', 'p/5', '-n'], observe: ['-t', 'p/5', '-F', '%t|%l|%p', '-C', '1'] },
  { name: 'pub -f file', tool: 'pub', args: [...P, '-t', 'p/6', '-f', '{dir}/payload.bin'], observe: ['-t', 'p/6', '-F', '%l|%x', '-C', '1'] },
  { name: 'pub -s stdin', tool: 'pub', args: [...P, '-t', 'p/7', '-s'], stdin: 'line one\nline two\n', observe: ['-t', 'p/7', '-F', '%l|%x', '-C', '1'] },
  { name: 'pub -l one message per line', tool: 'pub', args: [...P, '-t', 'p/8', '-l', '-q', '1'], stdin: 'a\nbb\n\nlast', observe: ['-t', 'p/8', '-q', '1', '-F', '%l|%p', '-C', '4'] },
  { name: 'pub --repeat', tool: 'pub', args: [...P, '-t', 'p/9', '-m', 'again', '--repeat', '3', '-q', '1'], observe: ['-t', 'p/9', '-F', '%p', '-C', '3'] },
  { name: 'pub --repeat-delay', tool: 'pub', args: [...P, '-t', 'p/10', '-m', 'slow', '--repeat', '2', '--repeat-delay', '0.1'], observe: ['-t', 'p/10', '-F', '%p', '-C', '2'] },
  { name: 'pub -V 5 -D properties', tool: 'pub', args: [...P, '-t', 'p/11', '-m', 'v5', ...V5, '-D', 'publish', 'content-type', 'a/b', '-D', 'publish', 'response-topic', 'resp', '-D', 'publish', 'correlation-data', 'id1', '-D', 'publish', 'user-property', 'k', 'v', '-D', 'publish', 'payload-format-indicator', '1'], observe: ['-t', 'p/11', ...V5, '-F', '%C|%R|%D|%P|%F|%p', '-C', '1'] },
  { name: 'pub -V 31', tool: 'pub', args: [...P, '-t', 'p/12', '-m', 'three-one', '-V', 'mqttv31', '-q', '1'], observe: ['-t', 'p/12', '-F', '%p', '-C', '1'] },
  { name: 'pub -L URL with credentials', tool: 'pub', args: ['-L', 'mqtt://alice:secret@127.0.0.1:{auth}/p/13', '-m', 'url'], observe: ['-t', 'p/13', '-C', '1'] },
  { name: 'pub -u -P right password', tool: 'pub', args: ['-p', '{auth}', '-u', 'alice', '-P', 'secret', '-t', 'p/14', '-m', 'auth', '-i', 'pubauth', '-k', '10'], observe: ['-t', 'p/14', '-C', '1'] },
  { name: 'pub --unix', tool: 'pub', args: ['--unix', '{sock}', '-t', 'p/15', '-m', 'unix'], observe: ['-t', 'p/15', '-C', '1'] },
  { name: 'pub -d debug lines (QoS 2, retained)', tool: 'pub', args: [...P, '-d', '-i', 'dbgpub', '-t', 'p/16', '-m', 'dbg', '-q', '2', '-r'], clear: ['p/16'] },
  { name: 'pub -d debug lines (QoS 1, v5)', tool: 'pub', args: [...P, '-d', '-i', 'dbgpub5', '-t', 'p/17', '-m', 'dbg', '-q', '1', ...V5] },
  { name: 'pub wrong password (v3.1.1) exits 5', tool: 'pub', args: ['-p', '{auth}', '-u', 'alice', '-P', 'nope', '-t', 'x', '-m', 'y'], stderr: true },
  { name: 'pub wrong password (v5) exits 135', tool: 'pub', args: ['-p', '{auth}', '-u', 'alice', '-P', 'nope', '-t', 'x', '-m', 'y', ...V5], stderr: true },
  { name: 'pub anonymous refused exits 5', tool: 'pub', args: ['-p', '{auth}', '-t', 'x', '-m', 'y'], stderr: true },
  { name: 'pub connection refused exits 1', tool: 'pub', args: ['-p', '{closed}', '-t', 'x', '-m', 'y'], stderr: true },
  { name: 'pub unreadable file', tool: 'pub', args: [...P, '-t', 'x', '-f', '{dir}/missing'], stderr: true },
  { name: 'pub --quiet silences errors', tool: 'pub', args: ['-p', '{closed}', '-t', 'x', '-m', 'y', '--quiet'], stderr: true },
  // ---- wills: a v5 subscriber leaving on -W asks the broker to send its will
  { name: 'sub will sent on -W exit (v5), retained', tool: 'sub', args: [...P, ...V5, '-t', 'w/quiet', '-W', '1', '--will-topic', 'w/1', '--will-payload', 'gone', '--will-qos', '1', '--will-retain'], stderr: true, observe: ['-t', 'w/1', '-q', '1', '-F', '%t|%r|%q|%p', '-C', '1'], clear: ['w/1'] },
  // ---- pub argument errors
  { name: 'pub wildcard topic', tool: 'pub', args: [...P, '-t', 'a/+', '-m', 'x'], stderr: true },
  { name: 'pub two message sources', tool: 'pub', args: [...P, '-t', 'a', '-m', 'x', '-n'], stderr: true },
  { name: 'pub bad -D command', tool: 'pub', args: [...P, '-t', 'a', '-m', 'x', '-D', 'foo', 'content-type', 'x'], stderr: true },
  { name: 'pub -D property not allowed', tool: 'pub', args: [...P, '-t', 'a', '-m', 'x', '-D', 'connect', 'topic-alias', '3'], stderr: true },
  { name: 'pub -k too small', tool: 'pub', args: [...P, '-t', 'a', '-m', 'x', '-k', '2'], stderr: true },
  { name: 'pub -c without id', tool: 'pub', args: [...P, '-t', 'a', '-m', 'x', '-c'], stderr: true },
  { name: 'pub -i with -I', tool: 'pub', args: [...P, '-t', 'a', '-m', 'x', '-i', 'a', '-I', 'b'], stderr: true },
  { name: 'pub --will-payload without topic', tool: 'pub', args: [...P, '-t', 'a', '-m', 'x', '--will-payload', 'p'], stderr: true },
  { name: 'pub bad -V', tool: 'pub', args: [...P, '-t', 'a', '-m', 'x', '-V', '6'], stderr: true },
  { name: 'pub -L port above 65535', tool: 'pub', args: ['-L', 'mqtt://127.0.0.1:99999/t', '-m', 'x'], stderr: true },
  { name: 'pub bad -L scheme', tool: 'pub', args: ['-L', 'http://h/t', '-m', 'x'], stderr: true },
  { name: 'pub unknown option', tool: 'pub', args: [...P, '-t', 'a', '-m', 'x', '-z'], stderr: true },
  { name: 'pub -v is not a pub flag', tool: 'pub', args: [...P, '-t', 'a', '-m', 'x', '-v'], stderr: true },
];


/** Registers the side-by-side tests for one tool, against a fresh broker of the given kind. */
export function sideBySide(tool: 'pub' | 'sub', kind: BrokerKind = 'mosquitto'): void {
  before(() => setUp(kind));
  after(async () => {
    await broker?.stop();
  });
  const mine = cases.filter((c) => c.tool === tool && (kind === 'mosquitto' || !c.args.includes('--unix')));
  const on = kind === 'mosquitto' ? '' : ' (mqttd broker)';
  for (const c of mine) {
    test(`side by side${on}: ${c.name}`, async () => {
      const theirs = await runOnce(c, 'mosquitto');
      const ours = await runOnce(c, 'mqttd');
      const context = `\nmosquitto stderr: ${theirs.result.stderr}\nmqttd stderr: ${ours.result.stderr}`;
      assert.equal(normalise(c, ours.result.stdout), normalise(c, theirs.result.stdout), `stdout differs${context}`);
      assert.equal(ours.result.code, theirs.result.code, `exit code differs${context}`);
      assert.equal(normalise(c, ours.observed), normalise(c, theirs.observed), `observer output differs${context}`);
      if (c.stderr) assert.equal(ours.result.stderr, names(theirs.result.stderr), 'stderr differs');
    });
  }
}

/** How many cases the table holds (the issue asks for at least 40). */
export const caseCount = cases.length;

/**
 * TLS side by side: the same invocation of Debian's mosquitto_pub/mosquitto_sub and of
 * mqttd_pub/mqttd_sub against the same broker's TLS listeners (server-only TLS, required
 * client certificates, a certificate for another host name, a TLS 1.3-only listener, and a
 * password-protected one) must print byte-identical stdout, exit with the same code and say
 * the same on stderr. The broker is Debian's mosquitto or mqttd itself.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMqttd } from '../helpers/broker';
import { startMosquitto } from '../helpers/mosquitto';
import { freePort } from '../helpers/ports';
import { hasCommand } from '../helpers/processes';
import { commandFor, runCommand, type RunResult } from './cliRun';
import { makeTestCertificates } from './testCertificates';

export type BrokerKind = 'mosquitto' | 'mqttd';

interface TlsCase {
  name: string;
  tool: 'pub' | 'sub';
  /** {tls} {mtls} {elsewhere} {tls13} {authtls} {authplain} are ports; {dir} holds the certificates. */
  args: string[];
  /** What mosquitto's tool does (checked too, so a broken fixture cannot pass unnoticed). */
  expect: 'ok' | 'TLS error' | 'connection lost' | number;
  /** pub: the retained topic read back (over plain MQTT) after a successful publish. */
  readBack?: string;
}

/** The ports of the broker under test; with mqttd the password-only ports are a second process. */
interface Ports {
  plain: number;
  tls: number;
  mtls: number;
  elsewhere: number;
  tls13: number;
  authtls: number;
  authplain: number;
}

let dir: string;
let ports: Ports;
let stopBroker: (() => Promise<void>) | undefined;

const KEPT = 'kept over TLS';
const ALICE = ['-u', 'alice', '-P', 'secret'];

async function setUp(kind: BrokerKind): Promise<void> {
  hasCommand('openssl');
  hasCommand('mosquitto_pub');
  dir = mkdtempSync(join(tmpdir(), 'mqttd-tls-sbs-'));
  await makeTestCertificates(dir);
  await runCommand('/usr/bin/mosquitto_passwd', ['-c', '-b', join(dir, 'passwd'), 'alice', 'secret']);
  const [tls, mtls, elsewhere, tls13, authtls, authplain] = await Promise.all(Array.from({ length: 6 }, () => freePort()));
  const server = [`certfile ${join(dir, 'server.crt')}`, `keyfile ${join(dir, 'server.key')}`];
  const listeners = [
    `listener ${tls} 127.0.0.1`, ...server,
    `listener ${mtls} 127.0.0.1`, ...server, `cafile ${join(dir, 'ca.crt')}`, 'require_certificate true',
    `listener ${elsewhere} 127.0.0.1`, `certfile ${join(dir, 'elsewhere.crt')}`, `keyfile ${join(dir, 'elsewhere.key')}`,
    `listener ${tls13} 127.0.0.1`, ...server, 'tls_version tlsv1.3',
  ];
  const passwd = `password_file ${join(dir, 'passwd')}`;
  if (kind === 'mosquitto') {
    // per_listener_settings: the first listeners are anonymous, the last two need a password.
    const anonymous = listeners.flatMap((l) => (l.startsWith('listener ') ? [l, 'allow_anonymous true'] : [l]));
    const broker = await startMosquitto([
      'per_listener_settings true', 'allow_anonymous true', ...anonymous,
      `listener ${authtls} 127.0.0.1`, 'allow_anonymous false', passwd, ...server,
      `listener ${authplain} 127.0.0.1`, 'allow_anonymous false', passwd,
    ]);
    ports = { plain: broker.port, tls, mtls, elsewhere, tls13, authtls, authplain };
    stopBroker = () => broker.stop();
  } else {
    // mqttd's security settings cover every listener, so the password-only ports are a second mqttd.
    const open = await startMqttd(['allow_anonymous true', ...listeners], { dir: mkdtempSync(join(dir, 'open-')) });
    const auth = await startMqttd(['allow_anonymous false', passwd, `listener ${authtls} 127.0.0.1`, ...server], {
      dir: mkdtempSync(join(dir, 'auth-')),
      port: authplain,
    }).catch(async (err: unknown) => {
      await open.stop();
      throw err;
    });
    ports = { plain: open.port, tls, mtls, elsewhere, tls13, authtls, authplain };
    stopBroker = async () => {
      await open.stop();
      await auth.stop();
    };
  }
  // The message every sub case reads: retained, so no wait for a SUBACK is needed.
  await mosquittoTool('pub', ['-p', String(ports.plain), '-t', 'tls/kept', '-m', KEPT, '-r']);
  await mosquittoTool('pub', ['-p', String(ports.authplain), ...ALICE, '-t', 'tls/kept', '-m', KEPT, '-r']);
}

function mosquittoTool(tool: 'pub' | 'sub', args: string[]): Promise<RunResult> {
  return runCommand(commandFor('mosquitto', tool).command, args);
}

function expand(args: string[]): string[] {
  return args.map((a) =>
    a
      .replace('{tls}', String(ports.tls))
      .replace('{mtls}', String(ports.mtls))
      .replace('{elsewhere}', String(ports.elsewhere))
      .replace('{tls13}', String(ports.tls13))
      .replace('{authtls}', String(ports.authtls))
      .replace('{authplain}', String(ports.authplain))
      .replace('{dir}', dir),
  );
}

async function runOnce(c: TlsCase, impl: 'mosquitto' | 'mqttd'): Promise<{ result: RunResult; readBack: string }> {
  const { command, prefix } = commandFor(impl, c.tool);
  const result = await runCommand(command, [...prefix, ...expand(c.args)]);
  let readBack = '';
  if (c.readBack !== undefined && result.code === 0) {
    // Read over plain MQTT from the broker the publisher used, then clear for the next run.
    const auth = c.args.some((a) => a.includes('{authtls}'));
    const target = auth ? ['-p', String(ports.authplain), ...ALICE] : ['-p', String(ports.plain)];
    const sub = await mosquittoTool('sub', [...target, '-t', c.readBack, '-C', '1', '-W', '5', '-F', '%t|%r|%q|%p']);
    readBack = sub.stdout.toString('latin1') + (sub.code === 0 ? '' : `(read back: exit ${sub.code})`);
    await mosquittoTool('pub', [...target, '-t', c.readBack, '-r', '-n']);
  }
  return { result, readBack };
}

const names = (s: string): string => s.replace(/mosquitto_(pub|sub)/g, 'mqttd_$1');

/**
 * Which of two racy failures a run of mosquitto's tool shows, if either. mosquitto reports
 * them in one of two ways, depending on whether the TLS library notices before or after its
 * blocking connect returns (it varies on a loaded machine): a rejected server certificate
 * is "Error: A TLS error occurred." (exit 8) or "Unable to connect (A TLS error occurred.)."
 * (exit 1); a broker dropping a client without an acceptable certificate is "Error: The
 * connection was lost." (exit 7) or "Error: Protocol error" (EPROTO: exit 1 from
 * mosquitto_pub, 14 from mosquitto_sub). Ours must always give the first, more common, form.
 */
function racyClass(r: RunResult): 'TLS error' | 'connection lost' | undefined {
  if (/A TLS error occurred/.test(r.stderr) && (r.code === 1 || r.code === 8)) return 'TLS error';
  if (r.code === 7 && r.stderr === 'Error: The connection was lost.\n') return 'connection lost';
  if ((r.code === 1 || r.code === 14) && r.stderr === 'Error: Protocol error\n') return 'connection lost';
  return undefined;
}

const CANONICAL: Record<'TLS error' | 'connection lost', { code: number; stderr: string }> = {
  'TLS error': { code: 8, stderr: 'Error: A TLS error occurred.\n' },
  'connection lost': { code: 7, stderr: 'Error: The connection was lost.\n' },
};

const CA = ['--cafile', '{dir}/ca.crt'];
const LOCAL = ['-h', 'localhost'];
const KEEP = ['-t', 'tls/kept', '-C', '1', '-W', '5'];
const MINE = ['--cert', '{dir}/client.crt', '--key', '{dir}/client.key'];
const ROGUE = ['--cert', '{dir}/rogue.crt', '--key', '{dir}/rogue.key'];

const cases: TlsCase[] = [
  // ---- server certificate checked against --cafile / --capath
  { name: 'pub --cafile, host name checked', expect: 'ok', tool: 'pub', args: [...LOCAL, '-p', '{tls}', ...CA, '-t', 'tls/p1', '-m', 'over TLS', '-r', '-q', '1'], readBack: 'tls/p1' },
  { name: 'sub --cafile', expect: 'ok', tool: 'sub', args: [...LOCAL, '-p', '{tls}', ...CA, ...KEEP, '-v'] },
  { name: 'pub --cafile to an IP address (IP subjectAltName)', expect: 'ok', tool: 'pub', args: ['-h', '127.0.0.1', '-p', '{tls}', ...CA, '-t', 'tls/p2', '-m', 'ip', '-r'], readBack: 'tls/p2' },
  { name: 'pub --capath (hashed directory)', expect: 'ok', tool: 'pub', args: [...LOCAL, '-p', '{tls}', '--capath', '{dir}/capath', '-t', 'tls/p3', '-m', 'capath', '-r', '-q', '2'], readBack: 'tls/p3' },
  { name: 'sub --capath -F', expect: 'ok', tool: 'sub', args: [...LOCAL, '-p', '{tls}', '--capath', '{dir}/capath', ...KEEP, '-F', '%t|%r|%q|%l|%p'] },
  { name: 'sub -d over TLS', expect: 'ok', tool: 'sub', args: [...LOCAL, '-p', '{tls}', ...CA, '-d', '-i', 'tlsdebugsub', ...KEEP] },
  { name: 'pub -d -q 2 over TLS', expect: 'ok', tool: 'pub', args: [...LOCAL, '-p', '{tls}', ...CA, '-d', '-i', 'tlsdebugpub', '-t', 'tls/p4', '-m', 'dbg', '-q', '2', '-r'], readBack: 'tls/p4' },
  // ---- rejected server certificates
  { name: 'pub: a CA that did not sign the server certificate', expect: 'TLS error', tool: 'pub', args: [...LOCAL, '-p', '{tls}', '--cafile', '{dir}/otherca.crt', '-t', 'tls/x', '-m', 'x'] },
  { name: 'sub: a CA that did not sign the server certificate', expect: 'TLS error', tool: 'sub', args: [...LOCAL, '-p', '{tls}', '--cafile', '{dir}/otherca.crt', ...KEEP] },
  { name: 'pub --insecure still checks the chain', expect: 'TLS error', tool: 'pub', args: [...LOCAL, '-p', '{tls}', '--cafile', '{dir}/otherca.crt', '--insecure', '-t', 'tls/x', '-m', 'x'] },
  { name: 'pub: server certificate for another host name', expect: 'TLS error', tool: 'pub', args: [...LOCAL, '-p', '{elsewhere}', ...CA, '-t', 'tls/x', '-m', 'x'] },
  { name: 'sub: server certificate for another host name (IP)', expect: 'TLS error', tool: 'sub', args: ['-h', '127.0.0.1', '-p', '{elsewhere}', ...CA, ...KEEP] },
  { name: 'pub --insecure accepts a host name mismatch', expect: 'ok', tool: 'pub', args: [...LOCAL, '-p', '{elsewhere}', ...CA, '--insecure', '-t', 'tls/p5', '-m', 'insecure', '-r'], readBack: 'tls/p5' },
  { name: 'sub --insecure accepts a host name mismatch', expect: 'ok', tool: 'sub', args: ['-h', '127.0.0.1', '-p', '{elsewhere}', ...CA, '--insecure', ...KEEP, '-v'] },
  { name: 'pub: plain MQTT to a TLS port', expect: 'connection lost', tool: 'pub', args: [...LOCAL, '-p', '{tls}', '-t', 'tls/x', '-m', 'x'] },
  // ---- client certificates (require_certificate true)
  { name: 'pub --cert --key to a listener that requires certificates', expect: 'ok', tool: 'pub', args: [...LOCAL, '-p', '{mtls}', ...CA, ...MINE, '-t', 'tls/p6', '-m', 'mutual', '-r', '-q', '1'], readBack: 'tls/p6' },
  { name: 'sub --cert --key to a listener that requires certificates', expect: 'ok', tool: 'sub', args: [...LOCAL, '-p', '{mtls}', ...CA, ...MINE, ...KEEP, '-v'] },
  { name: 'pub without a certificate is dropped', expect: 'connection lost', tool: 'pub', args: [...LOCAL, '-p', '{mtls}', ...CA, '-t', 'tls/x', '-m', 'x'] },
  { name: 'sub without a certificate is dropped', expect: 'connection lost', tool: 'sub', args: [...LOCAL, '-p', '{mtls}', ...CA, ...KEEP] },
  { name: 'pub with a certificate from another CA is dropped', expect: 'connection lost', tool: 'pub', args: [...LOCAL, '-p', '{mtls}', ...CA, ...ROGUE, '-t', 'tls/x', '-m', 'x'] },
  // ---- --tls-version is the lowest version accepted, as in libmosquitto 2.0
  { name: 'pub --tls-version tlsv1.2 reaches a TLS 1.3-only listener', expect: 'ok', tool: 'pub', args: [...LOCAL, '-p', '{tls13}', ...CA, '--tls-version', 'tlsv1.2', '-t', 'tls/p7', '-m', 'v12', '-r'], readBack: 'tls/p7' },
  { name: 'sub --tls-version tlsv1.3', expect: 'ok', tool: 'sub', args: [...LOCAL, '-p', '{tls13}', ...CA, '--tls-version', 'tlsv1.3', ...KEEP] },
  { name: 'pub --tls-version tlsv1.1 still negotiates TLS 1.3', expect: 'ok', tool: 'pub', args: [...LOCAL, '-p', '{tls13}', ...CA, '--tls-version', 'tlsv1.1', '-t', 'tls/p8', '-m', 'v11', '-r'], readBack: 'tls/p8' },
  { name: 'pub --ciphers and --tls-alpn', expect: 'ok', tool: 'pub', args: [...LOCAL, '-p', '{tls}', ...CA, '--ciphers', 'ECDHE-ECDSA-AES128-GCM-SHA256', '--tls-alpn', 'mqtt', '-t', 'tls/p10', '-m', 'alpn', '-r'], readBack: 'tls/p10' },
  { name: 'pub --tls-version unknown', expect: 1, tool: 'pub', args: [...LOCAL, '-p', '{tls}', ...CA, '--tls-version', 'sslv3', '-t', 'tls/x', '-m', 'x'] },
  // ---- unusable TLS options
  { name: 'pub --cafile that does not exist', expect: 1, tool: 'pub', args: [...LOCAL, '-p', '{tls}', '--cafile', '{dir}/missing.crt', '-t', 'tls/x', '-m', 'x'] },
  { name: 'sub --cert that does not exist', expect: 1, tool: 'sub', args: [...LOCAL, '-p', '{mtls}', ...CA, '--cert', '{dir}/missing.crt', '--key', '{dir}/client.key', ...KEEP] },
  { name: 'pub --ciphers nobody knows', expect: 1, tool: 'pub', args: [...LOCAL, '-p', '{tls}', ...CA, '--ciphers', 'NO-SUCH-CIPHER', '-t', 'tls/x', '-m', 'x'] },
  { name: 'pub --key that does not match --cert', expect: 1, tool: 'pub', args: [...LOCAL, '-p', '{mtls}', ...CA, '--cert', '{dir}/client.crt', '--key', '{dir}/rogue.key', '-t', 'tls/x', '-m', 'x'] },
  { name: 'sub --cert that is not a certificate', expect: 1, tool: 'sub', args: [...LOCAL, '-p', '{mtls}', ...CA, '--cert', '{dir}/client.key', '--key', '{dir}/client.key', ...KEEP] },
  { name: 'pub --cafile that holds no certificate', expect: 1, tool: 'pub', args: [...LOCAL, '-p', '{tls}', '--cafile', '{dir}/client.key', '-t', 'tls/x', '-m', 'x'] },
  { name: 'pub --capath that does not exist trusts nothing', expect: 'TLS error', tool: 'pub', args: [...LOCAL, '-p', '{tls}', '--capath', '{dir}/missing', '-t', 'tls/x', '-m', 'x'] },
  { name: 'pub --tls-use-os-certs does not know a private CA', expect: 'TLS error', tool: 'pub', args: [...LOCAL, '-p', '{tls}', '--tls-use-os-certs', '-t', 'tls/x', '-m', 'x'] },
  { name: 'pub --cert without --key', expect: 1, tool: 'pub', args: [...LOCAL, '-p', '{mtls}', ...CA, '--cert', '{dir}/client.crt', '-t', 'tls/x', '-m', 'x'] },
  { name: 'sub --key without --cert', expect: 1, tool: 'sub', args: [...LOCAL, '-p', '{mtls}', ...CA, '--key', '{dir}/client.key', ...KEEP] },
  // ---- -L mqtts:// and mqtt:// URLs with credentials
  { name: 'pub -L mqtts://user:pass@host:port/topic', expect: 'ok', tool: 'pub', args: [...CA, '-L', 'mqtts://alice:secret@localhost:{authtls}/tls/p9', '-m', 'url', '-r'], readBack: 'tls/p9' },
  { name: 'sub -L mqtts://user:pass@host:port/topic', expect: 'ok', tool: 'sub', args: ['-L', 'mqtts://alice:secret@localhost:{authtls}/tls/kept', ...CA, '-C', '1', '-W', '5', '-v'] },
  { name: 'sub -L mqtts:// wrong password exits 5', expect: 5, tool: 'sub', args: ['-L', 'mqtts://alice:wrong@localhost:{authtls}/tls/kept', ...CA, '-C', '1', '-W', '5'] },
  { name: 'pub -L mqtts:// wrong password (v5) exits 135', expect: 135, tool: 'pub', args: ['-L', 'mqtts://alice:wrong@localhost:{authtls}/tls/x', ...CA, '-m', 'x', '-V', '5'] },
  { name: 'pub -L mqtts:// without credentials is refused', expect: 5, tool: 'pub', args: ['-L', 'mqtts://localhost:{authtls}/tls/x', ...CA, '-m', 'x'] },
  { name: 'pub -L mqtts:// without --cafile trusts only the system CAs', expect: 'TLS error', tool: 'pub', args: ['-L', 'mqtts://alice:secret@localhost:{authtls}/tls/x', '-m', 'x'] },
  { name: 'sub -L mqtt://user:pass@host:port/topic', expect: 'ok', tool: 'sub', args: ['-L', 'mqtt://alice:secret@127.0.0.1:{authplain}/tls/kept', '-C', '1', '-W', '5', '-F', '%t %p'] },
  { name: 'sub -L mqtt://user@host (no password) is refused', expect: 5, tool: 'sub', args: ['-L', 'mqtt://alice@127.0.0.1:{authplain}/tls/kept', '-C', '1', '-W', '5'] },
];

/** Registers the TLS side-by-side tests against a fresh broker of the given kind. */
export function tlsSideBySide(kind: BrokerKind): void {
  before(() => setUp(kind));
  after(async () => {
    await stopBroker?.();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const on = kind === 'mosquitto' ? 'mosquitto broker' : 'mqttd broker';
  for (const c of cases) {
    test(`TLS side by side (${on}): ${c.name}`, async () => {
      const theirs = await runOnce(c, 'mosquitto');
      const ours = await runOnce(c, 'mqttd');
      const context = `\nmosquitto: exit ${theirs.result.code} ${theirs.result.stderr}\nmqttd: exit ${ours.result.code} ${ours.result.stderr}`;
      assert.equal(ours.result.stdout.toString('latin1'), theirs.result.stdout.toString('latin1'), `stdout differs${context}`);
      const unexpected = `mosquitto's tool did not do what the case expects${context}`;
      if (c.expect === 'TLS error' || c.expect === 'connection lost') {
        assert.equal(racyClass(theirs.result), c.expect, unexpected);
        assert.deepEqual({ code: ours.result.code, stderr: ours.result.stderr }, CANONICAL[c.expect]);
      } else {
        assert.equal(theirs.result.code, c.expect === 'ok' ? 0 : c.expect, unexpected);
        assert.equal(ours.result.code, theirs.result.code, `exit code differs${context}`);
        assert.equal(ours.result.stderr, names(theirs.result.stderr), `stderr differs${context}`);
      }
      assert.equal(ours.readBack, theirs.readBack, `what the broker kept differs${context}`);
    });
  }
}

/** How many TLS cases the table holds. */
export const tlsCaseCount = cases.length;

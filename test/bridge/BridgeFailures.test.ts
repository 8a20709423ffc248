/**
 * What goes wrong in the field, against real mosquitto: nothing listening, a name that does
 * not resolve, wrong credentials, the first address down (failover, then back to it), and
 * TLS with a test CA. The bridge must keep trying, say why it is not connected, and never
 * get in the way of local clients.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../helpers/ports';
import { hasCommand } from '../helpers/processes';
import { publishOnce, record, startLocal, until, upstream, type LocalBroker, type Upstream } from './bridgeTestKit';

const haveMosquitto = hasCommand('mosquitto');
const skip = !haveMosquitto && 'mosquitto is not installed';

async function roundTrip(local: LocalBroker, text: string): Promise<void> {
  const r = await record(local.port, [{ topic: 'local/check', qos: 1 }]);
  try {
    await publishOnce(local.port, 'local/check', text, { qos: 1 });
    await until(() => r.payloads().includes(text), 'a local round trip');
  } finally {
    await r.close();
  }
}

describe('unreachable upstream', { skip }, () => {
  let local: LocalBroker | undefined;
  let up: Upstream | undefined;
  after(async () => {
    await local?.stop();
    await up?.stop();
  });

  test('refused and unresolvable addresses: the bridge says why, keeps trying, and local clients are served', async () => {
    const port = await freePort();
    local = await startLocal([
      'connection refused',
      `address 127.0.0.1:${port}`,
      'restart_timeout 1',
      'topic a/# out 1',
      'connection nodns',
      'address no-such-host.invalid:1883',
      'restart_timeout 1',
      'topic b/# out 1',
    ]);
    const [refused, nodns] = local.bridges;
    await until(() => refused.lastError !== null && nodns.lastError !== null, 'both bridges to fail once', local.log);
    assert.equal(refused.lastError, 'Connection refused');
    assert.equal(nodns.lastError, 'host name lookup failed');
    assert.notEqual(refused.state, 'connected');
    await roundTrip(local, 'served while the bridges fail');
    // A message for the absent remote waits in the queue.
    await publishOnce(local.port, 'a/1', 'queued', { qos: 1 });
    await until(() => refused.queue.size === 1, 'the message to be queued');

    const status = local.bridges.map((b) => b.status());
    assert.deepEqual(
      status.map((s) => [s.name, s.state === 'connected', s.last_error, s.queued]),
      [
        ['refused', false, 'Connection refused', 1],
        ['nodns', false, 'host name lookup failed', 0],
      ],
    );

    // The remote appears on that port: the bridge gets there by itself and delivers the queue.
    up = await upstream(['allow_anonymous true'], port);
    await up.start();
    const remote = await record(port, [{ topic: 'a/#', qos: 1 }]);
    try {
      await until(() => refused.state === 'connected', 'the bridge to connect once the remote is up', local.log);
      // The queued message may have gone before the recorder subscribed; send another to see the path.
      await publishOnce(local.port, 'a/2', 'after', { qos: 1 });
      await until(() => remote.payloads().includes('after'), 'a message through the bridge');
      await until(() => refused.queue.size === 0, 'the queue to drain');
    } finally {
      await remote.close();
    }
  });
});

describe('a remote that accepts TCP but never answers', { skip }, () => {
  let local: LocalBroker | undefined;
  let server: Server | undefined;
  const sockets: Socket[] = [];
  after(async () => {
    await local?.stop();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  });

  test('no CONNACK within the keepalive interval is a failure like any other, and is retried', async () => {
    server = createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    local = await startLocal([
      'connection silent',
      `address 127.0.0.1:${port}`,
      'keepalive_interval 5',
      'restart_timeout 1',
      'topic s/# out 1',
    ]);
    await until(() => local!.bridge.lastError !== null, 'the attempt to time out', local.log);
    assert.equal(local.bridge.lastError, 'no CONNACK within 5 s');
    assert.notEqual(local.bridge.state, 'connected');
    await roundTrip(local, 'served while the remote is silent');
    // Retried: a second connection reaches the silent server.
    await until(() => sockets.length >= 2, 'a second attempt');
  });
});

describe('credentials', { skip: (skip || !hasCommand('mosquitto_passwd')) && 'mosquitto or mosquitto_passwd is not installed' }, () => {
  let up: Upstream;
  let local: LocalBroker;
  before(async () => {
    up = await upstream(['allow_anonymous false', 'password_file %DIR%/passwd']);
    execFileSync('mosquitto_passwd', ['-b', '-c', join(up.dir, 'passwd'), 'router', 'right-secret']);
    chmodSync(join(up.dir, 'passwd'), 0o644);
    await up.start();
    local = await startLocal([
      'connection wrong',
      `address 127.0.0.1:${up.port}`,
      'restart_timeout 1',
      'remote_username router',
      'remote_password wrong-secret',
      'topic w/# out 1',
      'connection right',
      `address 127.0.0.1:${up.port}`,
      'restart_timeout 1',
      'remote_username router',
      'remote_password right-secret',
      'topic r/# out 1',
    ]);
  });
  after(async () => {
    await local?.stop();
    await up?.stop();
  });

  test('a refused login is reported in mosquitto\'s words and retried; the right one connects', async () => {
    const [wrong, right] = local.bridges;
    await until(() => right.state === 'connected' && wrong.lastError !== null, 'one refusal and one connection', local.log);
    assert.match(wrong.lastError ?? '', /^Connection Refused: (not authorised|bad user name or password)\.$/);
    assert.notEqual(wrong.state, 'connected');
    // Still trying: the failure count of attempts grows in the log.
    await until(() => (local.log().match(/Bridge wrong cannot connect/g) ?? []).length >= 2, 'a second attempt', local.log);
    await roundTrip(local, 'served during refusals');
  });
});

describe('failover', { skip }, () => {
  let primary: Upstream;
  let secondary: Upstream;
  let local: LocalBroker;
  before(async () => {
    primary = await upstream(['allow_anonymous true']);
    secondary = await upstream(['allow_anonymous true']);
    await secondary.start();
    local = await startLocal([
      'connection fo',
      `address 127.0.0.1:${primary.port} 127.0.0.1:${secondary.port}`,
      'restart_timeout 1',
      'topic f/# out 1',
    ]);
  });
  after(async () => {
    await local?.stop();
    await primary?.stop();
    await secondary?.stop();
  });

  test('with the first address down the bridge uses the second, and returns to the first when it is back', async () => {
    const bridge = local.bridge;
    await until(() => bridge.state === 'connected', 'a connection to the second address', local.log);
    assert.equal(bridge.status().address, `127.0.0.1:${secondary.port}`);
    const onSecondary = await record(secondary.port, [{ topic: 'f/#', qos: 1 }]);
    await publishOnce(local.port, 'f/1', 'to-secondary', { qos: 1 });
    await until(() => onSecondary.payloads().includes('to-secondary'), 'the message on the second address');
    await onSecondary.close();

    // round_robin false (the default): the first address is preferred once it answers again.
    await primary.start();
    await until(
      () => bridge.state === 'connected' && bridge.status().address === `127.0.0.1:${primary.port}`,
      'the bridge back on the first address',
      local.log,
    );
    const onPrimary = await record(primary.port, [{ topic: 'f/#', qos: 1 }]);
    try {
      await publishOnce(local.port, 'f/2', 'to-primary', { qos: 1 });
      await until(() => onPrimary.payloads().includes('to-primary'), 'the message on the first address');
    } finally {
      await onPrimary.close();
    }
  });
});

describe('TLS to the upstream', { skip: (skip || !hasCommand('openssl')) && 'mosquitto or openssl is not installed' }, () => {
  let up: Upstream;
  let local: LocalBroker;
  let certs: string;
  /** A plain listener of the same upstream, for the test's own clients. */
  let plainPort: number;
  before(async () => {
    certs = mkdtempSync(join(tmpdir(), 'mqttd-bridge-certs-'));
    makeCertificates(certs);
    plainPort = await freePort();
    up = await upstream([
      'allow_anonymous true',
      `cafile ${join(certs, 'ca.pem')}`,
      `certfile ${join(certs, 'server.pem')}`,
      `keyfile ${join(certs, 'server.key')}`,
      `listener ${plainPort} 127.0.0.1`,
    ]);
    await up.start();
    local = await startLocal([
      'connection trusted',
      `address 127.0.0.1:${up.port}`,
      'restart_timeout 1',
      `bridge_cafile ${join(certs, 'ca.pem')}`,
      'topic t/# both 1',
      'connection untrusted',
      `address 127.0.0.1:${up.port}`,
      'restart_timeout 1',
      `bridge_cafile ${join(certs, 'other-ca.pem')}`,
      'topic u/# out 1',
    ]);
  });
  after(async () => {
    await local?.stop();
    await up?.stop();
  });

  test('a certificate from the configured CA is accepted; one the CA did not sign is refused with a TLS error', async () => {
    const [trusted, untrusted] = local.bridges;
    await until(() => trusted.state === 'connected' && untrusted.lastError !== null, 'the TLS outcomes', local.log);
    assert.match(untrusted.lastError ?? '', /^TLS: /);
    assert.notEqual(untrusted.state, 'connected');
    // Messages cross the TLS bridge both ways; the test's clients use the plain listener.
    const theirs = await record(plainPort, [{ topic: 't/#', qos: 1 }]);
    const mine = await record(local.port, [{ topic: 't/#', qos: 1 }]);
    try {
      await publishOnce(local.port, 't/out', 'over-tls-out', { qos: 1 });
      await publishOnce(plainPort, 't/in', 'over-tls-in', { qos: 1 });
      await until(
        () => theirs.payloads().includes('over-tls-out') && mine.payloads().includes('over-tls-in'),
        'a message each way over TLS',
        () => JSON.stringify([theirs.payloads(), mine.payloads()]),
      );
    } finally {
      await theirs.close();
      await mine.close();
    }
  });
});

/** A CA, a server certificate it signs for 127.0.0.1, and an unrelated second CA. */
function makeCertificates(dir: string): void {
  const ssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=mqttd test CA');
  ssl('req', '-x509', ...ec, '-keyout', 'other-ca.key', '-out', 'other-ca.pem', '-days', '2', '-subj', '/CN=another CA');
  ssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext');
  // mosquitto drops root for its own user, which must still read these.
  chmodSync(dir, 0o755);
  for (const f of ['ca.pem', 'server.pem', 'server.key']) chmodSync(join(dir, f), 0o644);
}

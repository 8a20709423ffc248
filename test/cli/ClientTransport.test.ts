/**
 * src/client's transport turns every way of failing to open a connection into an error
 * value: options that Node or OpenSSL refuse by throwing must not escape as a rejected
 * promise, or the broker's bridge (which shares this client) would die of an unhandled
 * rejection on a bad key.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MqttClient } from '../../src/client/MqttClient';
import { openTransport, type TransportOptions } from '../../src/client/Transport';
import { freePort } from '../helpers/ports';
import { hasCommand } from '../helpers/processes';
import { makeTestCertificates } from './testCertificates';

let dir: string;
let port: number;

before(async () => {
  hasCommand('openssl');
  dir = mkdtempSync(join(tmpdir(), 'mqttd-transport-'));
  await makeTestCertificates(dir);
  port = await freePort();
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const tlsTo = (tls: TransportOptions['tls']): TransportOptions => ({ host: '127.0.0.1', port, tls });

test('a key that does not match the certificate is an ETLSCONTEXT value, not a throw', async () => {
  const r = await openTransport(tlsTo({ cafile: join(dir, 'ca.crt'), certfile: join(dir, 'client.crt'), keyfile: join(dir, 'rogue.key') }));
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.error.code, 'ETLSCONTEXT');
});

test('a cipher list OpenSSL does not know is an ETLSCONTEXT value', async () => {
  const r = await openTransport(tlsTo({ cafile: join(dir, 'ca.crt'), ciphers: 'NO-SUCH-CIPHER' }));
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.error.code, 'ETLSCONTEXT');
});

test('a CA file without a certificate is an ETLSCONTEXT value naming the file', async () => {
  const r = await openTransport(tlsTo({ cafile: join(dir, 'client.key') }));
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.error.code, 'ETLSCONTEXT');
    assert.match(r.error.message, /client\.key/);
  }
});

test('an unreadable CA, certificate or key file is ETLSCONFIG; an unknown version too', async () => {
  for (const tls of [
    { cafile: join(dir, 'missing.crt') },
    { cafile: join(dir, 'ca.crt'), certfile: join(dir, 'missing.crt'), keyfile: join(dir, 'client.key') },
    { cafile: join(dir, 'ca.crt'), version: 'sslv3' },
  ]) {
    const r = await openTransport(tlsTo(tls));
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.code, 'ETLSCONFIG', JSON.stringify(tls));
  }
});

test('a port above 65535 is an EINVAL value', async () => {
  const r = await openTransport({ host: '127.0.0.1', port: 99999 });
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.error.code, 'EINVAL');
});

test('MqttClient.connect() resolves with the error instead of rejecting', async () => {
  const client = new MqttClient({
    host: '127.0.0.1',
    port,
    protocolVersion: 4,
    clientId: 'x',
    clean: true,
    keepalive: 60,
    tls: { cafile: join(dir, 'ca.crt'), certfile: join(dir, 'client.crt'), keyfile: join(dir, 'rogue.key') },
  });
  const r = await client.connect();
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.error.code, 'ETLSCONTEXT');
});

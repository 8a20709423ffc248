/**
 * A throwaway PKI for the TLS side-by-side tests, made with `openssl` in a temp directory:
 * a CA, a server certificate for localhost/127.0.0.1, one for another host name, a client
 * certificate from the CA, and a second, untrusted CA with a client certificate of its own.
 */
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../helpers/brokerTools';

async function openssl(args: string[]): Promise<void> {
  const r = await run('openssl', args);
  assert.equal(r.code, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A P-256 key and certificate `name.crt`/`name.key` for `cn`, signed by `ca` (self-signed without). */
async function makeCert(dir: string, name: string, cn: string, ca?: string, ext = ''): Promise<void> {
  const file = (f: string): string => join(dir, f);
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', file(`${name}.key`)];
  if (ca === undefined) {
    await openssl(['req', '-x509', ...key, '-out', file(`${name}.crt`), '-days', '2', '-subj', `/CN=${cn}`]);
    return;
  }
  writeFileSync(file(`${name}.ext`), ext);
  await openssl(['req', ...key, '-out', file(`${name}.csr`), '-subj', `/CN=${cn}`]);
  await openssl([
    'x509', '-req', '-in', file(`${name}.csr`), '-CA', file(`${ca}.crt`), '-CAkey', file(`${ca}.key`),
    '-CAcreateserial', '-out', file(`${name}.crt`), '-days', '2', '-extfile', file(`${name}.ext`),
  ]);
}

/**
 * Writes into `dir`: ca, server (localhost, 127.0.0.1), elsewhere (broker.invalid only),
 * client (from ca), otherca and rogue (a client certificate from otherca), and capath/, a
 * hashed CA directory as `openssl rehash` makes it. Everything is readable by the
 * mosquitto user, which Debian's broker drops to before reading its files.
 */
export async function makeTestCertificates(dir: string): Promise<void> {
  await makeCert(dir, 'ca', 'mqttd test CA');
  await makeCert(dir, 'server', 'localhost', 'ca', 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  await makeCert(dir, 'elsewhere', 'broker.invalid', 'ca', 'subjectAltName=DNS:broker.invalid\n');
  await makeCert(dir, 'client', 'alice', 'ca', 'extendedKeyUsage=clientAuth\n');
  await makeCert(dir, 'otherca', 'another CA');
  await makeCert(dir, 'rogue', 'alice', 'otherca', 'extendedKeyUsage=clientAuth\n');
  mkdirSync(join(dir, 'capath'));
  copyFileSync(join(dir, 'ca.crt'), join(dir, 'capath', 'ca.pem'));
  await openssl(['rehash', join(dir, 'capath')]);
  chmodSync(dir, 0o755);
  for (const name of readdirSync(dir)) chmodSync(join(dir, name), name === 'capath' ? 0o755 : 0o644);
}

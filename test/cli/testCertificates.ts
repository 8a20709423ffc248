/**
 * A throwaway PKI for the TLS side-by-side tests, made with `openssl` in a temp directory:
 * a CA, a server certificate for localhost/127.0.0.1, one for another host name, a client
 * certificate from the CA, and a second, untrusted CA with a client certificate of its own.
 */
import { chmodSync, copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeCert, openssl } from '../helpers/certificates';

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

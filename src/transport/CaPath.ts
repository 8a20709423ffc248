import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The CA certificates of a `capath` directory, for the broker's listeners and for the
 * clients (CLI, bridge) alike.
 *
 * OpenSSL (and so mosquitto) looks a CA up in a capath by the hashed name `openssl rehash`
 * gives it (`<8 hex digits>.<n>`) when a certificate is checked. mqttd reads the directory
 * once, when the listener or connection opens, and takes both those hashed names and every
 * `*.pem` / `*.crt` file: a directory prepared for mosquitto works unchanged, and so does one
 * that was never rehashed. Files without a PEM certificate (a key, a CRL) are passed over.
 */
export interface CaPathContents {
  certificates: Buffer[];
  /** Entries that looked like certificates but could not be read, with the errno code. */
  unreadable: { name: string; code: string }[];
}

const CA_FILE_NAME = /\.(pem|crt)$|^[0-9a-f]{8}\.\d+$/;
export const PEM_CERTIFICATE = /-----BEGIN (TRUSTED |X509 )?CERTIFICATE-----/;

/** Throws the readdir error (ENOENT, EACCES, ENOTDIR) when the directory itself cannot be read. */
export function readCaPath(dir: string): CaPathContents {
  const out: CaPathContents = { certificates: [], unreadable: [] };
  for (const name of readdirSync(dir).sort()) {
    if (!CA_FILE_NAME.test(name)) continue;
    let bytes: Buffer;
    try {
      bytes = readFileSync(join(dir, name));
    } catch (err) {
      out.unreadable.push({ name, code: (err as NodeJS.ErrnoException).code ?? String(err) });
      continue;
    }
    if (PEM_CERTIFICATE.test(bytes.toString('latin1'))) out.certificates.push(bytes);
  }
  return out;
}

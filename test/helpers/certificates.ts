import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './brokerTools';

/** Runs openssl, failing the test with its stderr when it fails. */
export async function openssl(args: string[]): Promise<void> {
  const r = await run('openssl', args);
  assert.equal(r.code, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
}

/**
 * A P-256 key and certificate `dir/name.crt` and `dir/name.key` for `cn`, signed by the
 * certificate `ca` in the same directory (self-signed without one); `ext` holds x509 extensions.
 */
export async function makeCert(dir: string, name: string, cn: string, ca?: string, ext = ''): Promise<void> {
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

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// The bundler replaces MQTTD_VERSION with package.json's version; the unbundled build
// (tests, library use) reads package.json beside build/.
declare const MQTTD_VERSION: string | undefined;

function readVersion(): string {
  if (typeof MQTTD_VERSION === 'string') return MQTTD_VERSION;
  try {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** mqttd's version, as package.json says. */
export const VERSION: string = readVersion();

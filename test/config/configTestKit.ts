import assert from 'node:assert/strict';
import type { BrokerConfig } from '../../src/config/BrokerConfig';
import { ConfigErrors } from '../../src/config/ConfigErrors';
import { parseConfig, type ConfigFileSystem } from '../../src/config/ConfigFile';

/** A file system with nothing in it: parsing text never touches the real disk. */
export const emptyFs: ConfigFileSystem = {
  readFile: (path) => {
    throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  },
  readDir: (path) => {
    throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  },
  isDirectory: () => false,
};

export function parse(text: string): BrokerConfig {
  return parseConfig(text, 'test.conf', { hostname: 'router', fs: emptyFs });
}

/** The errors parsing gives, as "line: reason" strings. */
export function errorsOf(text: string): string[] {
  try {
    parse(text);
  } catch (err) {
    assert.ok(err instanceof ConfigErrors, `expected ConfigErrors, got ${String(err)}`);
    return err.errors.map((e) => `${e.line}: ${e.reason}`);
  }
  assert.fail(`expected errors for:\n${text}`);
}

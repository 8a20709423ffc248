import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigErrors } from '../../src/config/ConfigErrors';
import { loadUciConfig } from '../../src/config/UciConfig';

const SHIPPED = join(__dirname, '../../../files/etc/config/mqttd');
const LAN = new Map([['lan', ['192.168.1.1']]]);

test('the shipped /etc/config/mqttd turns the explorer endpoint on, in RAM, with the default cache', () => {
  const config = loadUciConfig(SHIPPED, LAN);
  assert.equal(config.controlFile, '/var/run/mqttd/control');
  assert.equal(config.explorerCacheSize, 1000);
});

test('UCI: control_file empty turns the endpoint off; a bad explorer_cache_size names the file and line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-uci-explorer-'));
  const off = join(dir, 'off');
  writeFileSync(off, readFileSync(SHIPPED, 'utf8').replace("option control_file '/var/run/mqttd/control'", "option control_file ''"));
  assert.equal(loadUciConfig(off, LAN).controlFile, '');

  const bad = join(dir, 'bad');
  const text = readFileSync(SHIPPED, 'utf8').replace("option explorer_cache_size '1000'", "option explorer_cache_size 'lots'");
  writeFileSync(bad, text);
  const line = text.split('\n').findIndex((l) => l.includes('explorer_cache_size')) + 1;
  assert.throws(
    () => loadUciConfig(bad, LAN),
    (err: unknown) => err instanceof ConfigErrors && err.errors.length === 1 && err.errors[0].line === line && /explorer_cache_size/.test(err.errors[0].message),
  );
});

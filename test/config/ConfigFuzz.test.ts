import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigErrors } from '../../src/config/ConfigErrors';
import { parseConfig } from '../../src/config/ConfigFile';
import { CONFIG_OPTIONS } from '../../src/config/ConfigOptions';
import { FileError } from '../../src/config/FileError';
import { UNSUPPORTED_OPTIONS } from '../../src/config/UnsupportedOptions';
import { emptyFs } from './configTestKit';

/** A config using most options, to cut short and mutate. */
const FULL = [
  '# mqttd',
  'per_listener_settings false',
  'allow_anonymous false',
  'password_file /etc/mqttd/passwd',
  'acl_file /etc/mqttd/acl',
  'persistence true',
  'persistence_location /overlay/mqttd/',
  'persistent_client_expiration 2w',
  'max_queued_messages 500',
  'log_type error',
  'log_dest file /tmp/mqttd.log',
  'listener 1883 192.168.1.1',
  'max_connections 32',
  'listener 8883',
  'certfile /etc/ssl/c.pem',
  'keyfile /etc/ssl/k.pem',
  'listener 8080',
  'protocol websockets',
  'mount_point ws/',
  'connection cloud',
  'address a.example.com:8883 b.example.com',
  'topic sensors/# out 1 home/ site/',
  'topic "" both 0 x/ y/',
  'restart_timeout 5 60',
  'bridge_protocol_version mqttv50',
  'remote_password p w',
  '',
].join('\r\n');

const names = [...CONFIG_OPTIONS.flatMap((o) => [o.name, ...o.aliases]), ...UNSUPPORTED_OPTIONS.map((o) => o.name), 'bogus', '#', ''];
const values = ['true', 'false', '0', '1', '-1', '65535', '65536', '10k', '""', '#', 'a/#', '+', 'in', 'both', '2w', '/tmp/x', 'file', 'none', 'all', 'mqttv50', '[::1]:1', ':', '\u0000', '\ufeff', 'é'];
const space = fc.constantFrom(' ', '\t', '  ', '\r');

/** A line built from real option names and plausible values, so deep parser paths are reached. */
const plausibleLine = fc
  .tuple(fc.constantFrom(...names), fc.array(fc.tuple(space, fc.oneof(fc.constantFrom(...values), fc.string({ maxLength: 6 }))), { maxLength: 5 }))
  .map(([name, rest]) => name + rest.map(([s, v]) => s + v).join(''));

const configText = fc.oneof(
  fc.string({ maxLength: 300, unit: 'binary' }),
  fc.array(plausibleLine, { maxLength: 25 }).map((lines) => lines.join('\n')),
  fc.nat({ max: FULL.length }).map((n) => FULL.slice(0, n)),
  fc.tuple(fc.nat({ max: FULL.length }), fc.string({ maxLength: 20 })).map(([n, s]) => FULL.slice(0, n) + s + FULL.slice(n)),
);

describe('config reader under random input', () => {
  it('the full sample config is valid', () => {
    const config = parseConfig(FULL, 'fuzz.conf', { hostname: 'router', fs: emptyFs });
    assert.equal(config.listeners.length, 3);
    assert.equal(config.bridges[0].topics.length, 2);
  });

  it('returns a config or throws ConfigErrors whose every error names the file and a line inside it', () => {
    fc.assert(
      fc.property(configText, (text) => {
        const lineCount = text.split('\n').length;
        try {
          parseConfig(text, 'fuzz.conf', { hostname: 'router', fs: emptyFs });
        } catch (err) {
          if (!(err instanceof ConfigErrors)) throw err;
          assert.ok(err.errors.length > 0);
          for (const e of err.errors) {
            assert.ok(e instanceof FileError);
            assert.equal(e.file, 'fuzz.conf');
            assert.ok(e.line !== undefined && Number.isInteger(e.line) && e.line >= 1 && e.line <= lineCount, `line ${e.line} of ${lineCount}: ${e.message}`);
            assert.ok(!e.reason.includes('\n'), 'a reason is one line');
          }
        }
      }),
      { numRuns: 1500 },
    );
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigErrors } from '../../src/config/ConfigErrors';
import { compareConfigFileNames, loadConfigFile } from '../../src/config/ConfigFile';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'mqttd-include-'));
}

function errorsOf(main: string): string[] {
  try {
    loadConfigFile(main, { hostname: 'router' });
  } catch (err) {
    assert.ok(err instanceof ConfigErrors, String(err));
    return err.errors.map((e) => e.message);
  }
  assert.fail('expected ConfigErrors');
}

describe('include_dir', () => {
  it("orders files as mosquitto's scmp_p: case-insensitive, then upper case first", () => {
    const names = ['b.conf', 'B.conf', 'a.conf', '10-x.conf', '2-y.conf', 'A.conf', 'ab.conf', 'a_b.conf'];
    // toupper('b') is 'B' (66), below '_' (95): so ab.conf comes before a_b.conf, as in mosquitto.
    assert.deepEqual([...names].sort(compareConfigFileNames), ['10-x.conf', '2-y.conf', 'A.conf', 'a.conf', 'ab.conf', 'a_b.conf', 'B.conf', 'b.conf']);
  });

  it('reads only *.conf files (longer than ".conf"), in that order, at the include_dir line', () => {
    const dir = tempDir();
    const conf = join(dir, 'conf.d');
    mkdirSync(conf);
    writeFileSync(join(conf, 'b.conf'), 'log_type warning\nsys_interval 30\n');
    writeFileSync(join(conf, 'A.conf'), 'log_type error\nsys_interval 20\n');
    writeFileSync(join(conf, '.conf'), 'this is not read\n');
    writeFileSync(join(conf, 'notes.txt'), 'this is not read\n');
    writeFileSync(join(conf, 'c.conf.bak'), 'this is not read\n');
    const main = join(dir, 'mqttd.conf');
    writeFileSync(main, `listener 1884\nsys_interval 10\ninclude_dir ${conf}\nlog_type debug\n`);
    const config = loadConfigFile(main);
    assert.equal(config.sysInterval, 30); // b.conf last
    assert.deepEqual([...config.logTypes], ['error', 'warning', 'debug']);
  });

  it('an included file starts outside any listener or bridge, as in mosquitto', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'tls.conf'), 'listener 8883\ncertfile /c\nkeyfile /k\n');
    writeFileSync(join(dir, 'zz.conf'), 'protocol websockets\n');
    const main = join(dir, 'main.txt');
    writeFileSync(main, `listener 1884\ninclude_dir ${dir}\nmax_connections 7\n`);
    const config = loadConfigFile(main);
    // zz.conf's protocol went to the default listener; max_connections after include_dir to 1884.
    assert.deepEqual(
      config.listeners.map((l) => [l.port, l.protocol, l.maxConnections, l.certfile]),
      [
        [1884, 'mqtt', 7, undefined],
        [8883, 'mqtt', -1, '/c'],
        [1883, 'websockets', -1, undefined],
      ],
    );
  });

  it('errors in included files name that file and its line, with the main file errors', () => {
    const dir = tempDir();
    const conf = join(dir, 'conf.d');
    mkdirSync(conf);
    writeFileSync(join(conf, '10-auth.conf'), '# auth\nallow_anonymous perhaps\n');
    writeFileSync(join(conf, '20-bridge.conf'), 'connection c\naddress h\n\ntopic a/#/b\n');
    const main = join(dir, 'mqttd.conf');
    writeFileSync(main, `listener 1884\ninclude_dir ${conf}\nbogus 1\n`);
    assert.deepEqual(errorsOf(main), [
      `${join(conf, '10-auth.conf')}:2: allow_anonymous: expected true or false, got 'perhaps'`,
      `${join(conf, '20-bridge.conf')}:4: topic: topic pattern: '#' must be a whole level and the last one, got 'a/#/b'`,
      `${main}:3: unknown option 'bogus'`,
    ]);
  });

  it('a missing directory is an error on the include_dir line', () => {
    const dir = tempDir();
    const main = join(dir, 'mqttd.conf');
    writeFileSync(main, `listener 1884\ninclude_dir ${join(dir, 'missing')}\n`);
    assert.deepEqual(errorsOf(main), [`${main}:2: include_dir: cannot open directory '${join(dir, 'missing')}': no such file or directory`]);
  });

  it('a directory named *.conf inside is an error naming it', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'sub.conf'));
    const main = join(dir, 'main');
    writeFileSync(main, `listener 1884\ninclude_dir ${dir}\n`);
    assert.deepEqual(errorsOf(main), [`${main}:2: ${join(dir, 'sub.conf')}: is a directory, not a config file`]);
  });

  it('include_dir inside an included file is reported (mosquitto silently ignores it)', () => {
    const dir = tempDir();
    const conf = join(dir, 'conf.d');
    mkdirSync(conf);
    writeFileSync(join(conf, 'x.conf'), `include_dir ${dir}\n`);
    const main = join(dir, 'main');
    writeFileSync(main, `listener 1884\ninclude_dir ${conf}\n`);
    assert.deepEqual(errorsOf(main), [
      `${join(conf, 'x.conf')}:1: include_dir: only read in the main config file (mosquitto silently ignores it in an included file)`,
    ]);
  });

  it('a path set in the main file and again in an included file is refused, naming both', () => {
    const dir = tempDir();
    const conf = join(dir, 'conf.d');
    mkdirSync(conf);
    writeFileSync(join(conf, 'x.conf'), 'password_file /b\n');
    const main = join(dir, 'main');
    writeFileSync(main, `listener 1884\npassword_file /a\ninclude_dir ${conf}\n`);
    assert.deepEqual(errorsOf(main), [`${join(conf, 'x.conf')}:1: password_file: set twice (first at ${main}:2); mosquitto refuses this too`]);
  });
});

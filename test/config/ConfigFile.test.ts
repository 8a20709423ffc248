import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '../../src/config/BrokerConfig';
import { ConfigErrors } from '../../src/config/ConfigErrors';
import { loadConfigFile } from '../../src/config/ConfigFile';
import { FileError } from '../../src/config/FileError';
import { errorsOf, parse } from './configTestKit';

describe('mosquitto.conf syntax', () => {
  it('skips comments, blank lines and surrounding whitespace', () => {
    const config = parse('# broker\n\n   \n  listener 1884  \n\t# indented comment\nallow_anonymous\ttrue\t\n');
    assert.deepEqual(config.listeners.map((l) => l.port), [1884]);
    assert.equal(config.allowAnonymous, true);
  });

  it('reads CRLF files, a byte order mark, and a last line without a newline', () => {
    const config = parse('\ufeff# from Windows\r\nlistener 1884\r\nallow_anonymous true\r\nsys_interval 30');
    assert.deepEqual(config.listeners.map((l) => l.port), [1884]);
    assert.equal(config.allowAnonymous, true);
    assert.equal(config.sysInterval, 30);
  });

  it('counts CRLF lines correctly in errors', () => {
    assert.deepEqual(errorsOf('listener 1884\r\n\r\n# x\r\nsys_interval x\r\n'), ["4: sys_interval: expected a whole number from 0 to 65535, got 'x'"]);
  });

  it('accepts a # comment after a one-word value, but keeps it in paths as mosquitto does', () => {
    const config = parse('listener 1884 # the LAN\nsys_interval 20 # seconds\npassword_file /etc/p # not a comment\n');
    assert.equal(config.listeners[0].bindAddress, undefined);
    assert.equal(config.sysInterval, 20);
    assert.equal(config.passwordFile, '/etc/p # not a comment');
  });

  it('refuses extra words after a one-word value', () => {
    assert.deepEqual(errorsOf('allow_anonymous true false\n'), ["1: allow_anonymous: unexpected 'false' after the value"]);
  });

  it('reports every bad line, in order, not only the first', () => {
    const text = ['listener 1884', 'allow_anonymous maybe', 'frobnicate 3', 'psk_hint x', 'max_inflight_messages -1', 'listener 1884'].join('\n');
    assert.deepEqual(errorsOf(text), [
      "2: allow_anonymous: expected true or false, got 'maybe'",
      "3: unknown option 'frobnicate'",
      "4: option 'psk_hint' is a mosquitto option that mqttd does not support (TLS-PSK is not supported; use certfile and keyfile)",
      "5: max_inflight_messages: expected a whole number from 0 to 65535, got '-1'",
      '6: listener: listener 1884 is already defined at test.conf:1',
    ]);
  });

  it('suggests the option a misspelt name was probably meant to be', () => {
    assert.deepEqual(errorsOf('pasword_file /etc/p\n'), ["1: unknown option 'pasword_file'; did you mean 'password_file'?"]);
  });

  it('errors are FileErrors naming the file, thrown together as ConfigErrors', () => {
    try {
      parse('a 1\nb 2\n');
      assert.fail('expected ConfigErrors');
    } catch (err) {
      assert.ok(err instanceof ConfigErrors);
      assert.equal(err.code, 'ECONFIG');
      assert.ok(err.errors.every((e) => e instanceof FileError && e.file === 'test.conf'));
      assert.equal(err.message, "test.conf:1: unknown option 'a'\ntest.conf:2: unknown option 'b'");
    }
  });

  it('accepts an unsupported option only when it asks for what mqttd does anyway', () => {
    parse('per_listener_settings false\nallow_duplicate_messages false\n');
    assert.equal(errorsOf('allow_duplicate_messages true\n').length, 1, 'duplicates per subscription are not what mqttd does for v3');
    assert.deepEqual(errorsOf('per_listener_settings true\n'), [
      "1: option 'per_listener_settings' is a mosquitto option that mqttd does not support (mqttd applies security settings to all listeners)",
    ]);
    assert.deepEqual(errorsOf('plugin_opt_foo bar\n'), ["1: option 'plugin_opt_foo' is a mosquitto option that mqttd does not support (mqttd has no plugins)"]);
  });

  it('refuses a path set twice, naming where it was first set', () => {
    assert.deepEqual(errorsOf('acl_file /a\n\nacl_file /b\n'), ['3: acl_file: set twice (first at test.conf:1); mosquitto refuses this too']);
  });

  it('refuses a value that is missing', () => {
    assert.deepEqual(errorsOf('listener 1884\nsys_interval\nsys_interval # comment only\nlog_dest file\n'), [
      '2: sys_interval: expected a value',
      '3: sys_interval: expected a value',
      "4: log_dest: expected a file path after 'file'",
    ]);
  });

  it('refuses lines that are not text', () => {
    assert.deepEqual(errorsOf('listener 1884\npid_file /a\u0000b\n'), ['2: this line contains a NUL character']);
  });

  it('refuses a non-UTF-8 value but not a non-UTF-8 comment (as mosquitto)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mqttd-config-'));
    const file = join(dir, 'latin1.conf');
    writeFileSync(file, Buffer.concat([Buffer.from('# Gr'), Buffer.from([0xfc]), Buffer.from('\xdfe\nlistener 1884\nauto_id_prefix r'), Buffer.from([0xe9]), Buffer.from('\n')]));
    assert.throws(
      () => loadConfigFile(file),
      (err: unknown) => err instanceof ConfigErrors && err.errors.length === 1 && err.errors[0].message === `${file}:3: this line is not valid UTF-8 text`,
    );
  });

  it('names an unreadable main file without a line', () => {
    assert.throws(
      () => loadConfigFile('/nonexistent/mqttd.conf'),
      (err: unknown) => err instanceof ConfigErrors && err.message === '/nonexistent/mqttd.conf: cannot read: no such file or directory',
    );
    assert.throws(
      () => loadConfigFile(tmpdir()),
      (err: unknown) => err instanceof ConfigErrors && err.message === `${tmpdir()}: is a directory, not a config file`,
    );
  });
});

describe('listeners', () => {
  it('with no listener at all: local-only mode on loopback, anonymous allowed (mosquitto 2.0)', () => {
    const config = parse('sys_interval 10\n');
    assert.equal(config.localOnly, true);
    assert.deepEqual(config.listeners.map((l) => [l.port, l.bindAddress]), [[1883, '127.0.0.1'], [1883, '::1']]);
    assert.equal(config.allowAnonymous, true);
  });

  it('local-only mode keeps an explicit allow_anonymous false', () => {
    const config = parse('allow_anonymous false\n');
    assert.equal(config.localOnly, true);
    assert.equal(config.allowAnonymous, false);
  });

  it('with a listener, anonymous clients are refused unless allowed', () => {
    const config = parse('listener 1884\n');
    assert.equal(config.localOnly, false);
    assert.equal(config.allowAnonymous, false);
  });

  it('listener options apply to the latest listener', () => {
    const config = parse(
      ['listener 1884 192.168.1.1', 'max_connections 10', 'listener 8080', 'protocol websockets', 'listener 8883', 'certfile /c', 'keyfile /k', 'cafile /ca', 'require_certificate true', 'mount_point tls/'].join('\n'),
    );
    assert.deepEqual(
      config.listeners.map((l) => [l.port, l.bindAddress, l.protocol, l.maxConnections, l.certfile, l.requireCertificate, l.mountPoint]),
      [
        [1884, '192.168.1.1', 'mqtt', 10, undefined, false, undefined],
        [8080, undefined, 'websockets', -1, undefined, false, undefined],
        [8883, undefined, 'mqtt', -1, '/c', true, 'tls/'],
      ],
    );
  });

  it('port, bind_address and listener options before any listener make the default listener, added last', () => {
    const config = parse(['port 1885', 'bind_address 10.0.0.1', 'max_connections 5', 'listener 9001', 'protocol websockets'].join('\n'));
    assert.deepEqual(
      config.listeners.map((l) => [l.port, l.bindAddress, l.protocol, l.maxConnections]),
      [
        [9001, undefined, 'websockets', -1],
        [1885, '10.0.0.1', 'mqtt', 5],
      ],
    );
  });

  it('a listener option alone makes the default listener on 1883 (not local-only, anonymous refused)', () => {
    const config = parse('protocol websockets\n');
    assert.equal(config.localOnly, false);
    assert.deepEqual(config.listeners.map((l) => [l.port, l.bindAddress, l.protocol]), [[1883, undefined, 'websockets']]);
    assert.equal(config.allowAnonymous, false);
  });

  it('mount_point needs a listener first, as in mosquitto', () => {
    assert.deepEqual(errorsOf('mount_point a/\nlistener 1884\n'), ["1: mount_point: mount_point needs a 'listener' line before it"]);
  });

  it('refuses unix socket listeners and bad ports', () => {
    assert.deepEqual(errorsOf('listener 0 /var/run/mqttd.sock\nlistener -1\nlistener 1884 a b\nlistener\n'), [
      '1: listener: port 0 is a mosquitto unix socket listener, which mqttd does not support',
      "2: listener: expected a whole number from 1 to 65535 (a TCP port), got '-1'",
      "3: listener: unexpected 'b' after the bind address",
      '4: listener: expected <port> [<bind address>]',
    ]);
  });

  it('the same port on two addresses is fine, the same port and address twice is not', () => {
    parse('listener 1884 127.0.0.1\nlistener 1884 192.168.1.1\n');
    assert.deepEqual(errorsOf('listener 1884 127.0.0.1\nlistener 1884 127.0.0.1\n'), ['2: listener: listener 1884 127.0.0.1 is already defined at test.conf:1']);
  });

  it('the default listener may not repeat a listener line', () => {
    assert.deepEqual(errorsOf('listener 1884\nport 1884\n'), ['2: the default listener (port 1884) is the same as the listener at test.conf:1']);
    parse('listener 1884 127.0.0.1\nport 1884\n');
  });

  it('a path set once per listener may be set again on the next listener', () => {
    const config = parse('listener 8883\ncertfile /a\nkeyfile /k\nlistener 8884\ncertfile /b\nkeyfile /k\n');
    assert.deepEqual(config.listeners.map((l) => l.certfile), ['/a', '/b']);
    assert.deepEqual(errorsOf('listener 8883\ncertfile /a\ncertfile /b\nkeyfile /k\n'), ['3: certfile: set twice (first at test.conf:2); mosquitto refuses this too']);
  });

  it('refuses half-configured TLS that mosquitto would silently serve unencrypted', () => {
    assert.deepEqual(errorsOf('listener 8883\ncertfile /c\nlistener 8884\nkeyfile /k\nlistener 1884\ncafile /ca\nrequire_certificate true\ntls_version tlsv1.2\n'), [
      '2: certfile: needs keyfile on the same listener too (mosquitto would silently serve it without TLS)',
      '4: keyfile: needs certfile on the same listener too (mosquitto would silently serve it without TLS)',
      '6: cafile: needs certfile and keyfile on the same listener (TLS); mosquitto would silently ignore it',
      '7: require_certificate: needs certfile and keyfile on the same listener (TLS); mosquitto would silently ignore it',
      '8: tls_version: needs certfile and keyfile on the same listener (TLS); mosquitto would silently ignore it',
    ]);
    assert.deepEqual(errorsOf('listener 8883\ncertfile /c\nkeyfile /k\nrequire_certificate true\n'), [
      '4: require_certificate: needs cafile or capath to check client certificates against',
    ]);
    // mosquitto asks no client for a certificate without require_certificate, so it refuses everyone here.
    assert.deepEqual(errorsOf('listener 8883\ncertfile /c\nkeyfile /k\ncafile /ca\nuse_identity_as_username true\n'), [
      '5: use_identity_as_username: needs require_certificate true: without it no client is asked for a certificate, so every client would be refused (as mosquitto does)',
    ]);
    // TLS options before any listener belong to the default listener, and are checked there too.
    assert.deepEqual(errorsOf('certfile /c\n'), ['1: certfile: needs keyfile on the same listener too (mosquitto would silently serve it without TLS)']);
  });
});

describe('logging', () => {
  it('log_type lines replace the default set, none clears, all sets every type', () => {
    assert.deepEqual([...parse('log_type error\nlog_type subscribe\n').logTypes].sort(), ['error', 'subscribe']);
    assert.deepEqual([...parse('log_type all\nlog_type none\nlog_type warning\n').logTypes], ['warning']);
    assert.equal(parse('log_type all\n').logTypes.size, 8);
    assert.deepEqual([...parse('').logTypes], [...defaultConfig().logTypes]);
  });

  it('log_type takes one type per line', () => {
    assert.deepEqual(errorsOf('log_type error warning\n'), ["1: log_type: unexpected 'warning' after the value; write one log_type line per type"]);
  });

  it('log_dest lines replace stderr; file takes the rest of the line', () => {
    assert.deepEqual(parse('log_dest syslog\nlog_dest file /tmp/mqttd log.txt\n').logDest, ['syslog', { file: '/tmp/mqttd log.txt' }]);
    assert.deepEqual(parse('log_dest stdout\nlog_dest none\n').logDest, []);
    assert.deepEqual(errorsOf('log_dest file /a\nlog_dest file /b\n'), ["2: log_dest: duplicate 'log_dest file': only one log file is possible"]);
  });
});

describe('bridges', () => {
  const base = ['connection cloud', 'address mqtt.example.com'];

  it('gets mosquitto 2.0 defaults, and client ids from the host name', () => {
    const [bridge] = parse([...base, 'topic sensors/#'].join('\n')).bridges;
    assert.deepEqual(bridge, {
      name: 'cloud',
      addresses: [{ host: 'mqtt.example.com', port: 1883 }],
      roundRobin: false,
      topics: [{ pattern: 'sensors/#', direction: 'out', qos: 0, localPrefix: '', remotePrefix: '' }],
      cleanSession: false,
      keepaliveInterval: 60,
      restartTimeout: { base: 5, cap: 30 },
      protocolVersion: 4,
      tryPrivate: true,
      notifications: true,
      outgoingRetain: true,
      startType: 'automatic',
      insecure: false,
      maxQueuedMessages: 1000,
      remoteClientId: 'router.cloud',
      localClientId: 'local.router.cloud',
    });
  });

  it('reads IPv6 addresses in brackets and refuses a bare one, whose port would be ambiguous', () => {
    const [bridge] = parse(['connection v6', 'address [fd00::1]:1884 [fd00::2]', 'topic t'].join('\n')).bridges;
    assert.deepEqual(bridge.addresses, [
      { host: 'fd00::1', port: 1884 },
      { host: 'fd00::2', port: 1883 },
    ]);
    assert.deepEqual(errorsOf('connection v6\naddress fd00::1\ntopic t\n'), [
      "2: address: 'fd00::1' looks like an IPv6 address: write it as [address]:port",
    ]);
  });

  it('reads topic lines with mosquitto rules for "" and prefixes', () => {
    const topics = parse(
      [...base, 'topic # in', 'topic a/+ BOTH 1', 'topic b out 2 "" remote/', 'topic "" both 0 here/x there/y', 'topic c in 1 loc/ # trailing comment'].join('\n'),
    ).bridges[0].topics;
    assert.deepEqual(topics, [
      { pattern: '#', direction: 'in', qos: 0, localPrefix: '', remotePrefix: '' },
      { pattern: 'a/+', direction: 'both', qos: 1, localPrefix: '', remotePrefix: '' },
      { pattern: 'b', direction: 'out', qos: 2, localPrefix: '', remotePrefix: 'remote/' },
      { pattern: '', direction: 'both', qos: 0, localPrefix: 'here/x', remotePrefix: 'there/y' },
      { pattern: 'c', direction: 'in', qos: 1, localPrefix: 'loc/', remotePrefix: '' },
    ]);
  });

  it('refuses bad topic lines with the reason', () => {
    assert.deepEqual(errorsOf([...base, 'topic x in 3', 'topic "" both 0 a/', 'topic a/#/b', 'topic x in 0 a/+/', 'topic # in 0 a', 'topic', 'topic x in 0 a b c'].join('\n')), [
      "3: topic: expected a whole number 0, 1 or 2 (QoS), got '3'",
      '4: topic: an empty ("") topic pattern needs both a local and a remote prefix',
      "5: topic: topic pattern: '#' must be a whole level and the last one, got 'a/#/b'",
      "6: topic: local prefix: expected a topic without the wildcards + and #, got 'a/+/'",
      "7: topic: local prefix and pattern make 'a#', not a valid topic filter",
      '8: topic: expected a topic pattern',
      "9: topic: unexpected 'c' after the remote prefix",
    ]);
  });

  it('bridge options outside a connection are refused', () => {
    assert.deepEqual(errorsOf('listener 1884\ntopic a\n'), ["2: topic: a bridge option, it must come after a 'connection' line in the same file"]);
  });

  it('a bridge without address or topic is refused on its connection line', () => {
    assert.deepEqual(errorsOf('listener 1884\n\nconnection lonely\nconnection ok\naddress h\ntopic t\n'), [
      "3: bridge 'lonely' has no 'address' line",
      "3: bridge 'lonely' has no 'topic' line",
    ]);
  });

  it('refuses duplicate names, duplicate address lines and clashing local client ids', () => {
    const text = [...base, 'topic a', 'address other', 'connection cloud', 'address h', 'topic b', 'connection c2', 'address h', 'topic c', 'local_clientid local.router.cloud'].join('\n');
    assert.deepEqual(errorsOf(text), [
      "4: address: duplicate address line for bridge 'cloud': list every address on one line",
      "5: connection: a bridge named 'cloud' is already defined at test.conf:1",
      "8: bridge 'c2' has the same local_clientid as bridge 'cloud' ('local.router.cloud'); set local_clientid on one of them",
    ]);
  });

  it('refuses bridge TLS options without bridge_cafile/bridge_capath, which turn TLS on', () => {
    assert.deepEqual(errorsOf([...base, 'topic a', 'bridge_certfile /c', 'bridge_keyfile /k', 'bridge_insecure true'].join('\n')), [
      '4: bridge_certfile: needs bridge_cafile or bridge_capath, which turn TLS on; mosquitto would silently connect without TLS',
      '5: bridge_keyfile: needs bridge_cafile or bridge_capath, which turn TLS on; mosquitto would silently connect without TLS',
      '6: bridge_insecure: needs bridge_cafile or bridge_capath, which turn TLS on; mosquitto would silently connect without TLS',
    ]);
    assert.deepEqual(errorsOf([...base, 'topic a', 'bridge_capath /etc/ssl/certs', 'bridge_certfile /c'].join('\n')), ['5: bridge_certfile: needs bridge_keyfile too']);
  });

  it('restart_timeout with one number is a constant delay', () => {
    assert.deepEqual(parse([...base, 'topic a', 'restart_timeout 20'].join('\n')).bridges[0].restartTimeout, { base: 20 });
  });

  it('start_type: automatic only', () => {
    assert.deepEqual(errorsOf([...base, 'topic a', 'start_type once', 'start_type sometimes'].join('\n')), [
      '4: start_type: start_type once is a mosquitto value that mqttd does not support: only automatic',
      "5: start_type: expected automatic, got 'sometimes'",
    ]);
  });

  it('global options after a connection still apply to the broker', () => {
    const config = parse([...base, 'topic a', 'sys_interval 60', 'listener 1884'].join('\n'));
    assert.equal(config.sysInterval, 60);
    assert.deepEqual(config.listeners.map((l) => l.port), [1884]);
  });
});

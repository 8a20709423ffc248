import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { loadUciConfig, parseNetworkArgument, parseUci } from '../../src/config/UciConfig';
import { parseConfig } from '../../src/config/ConfigFile';
import { ConfigErrors } from '../../src/config/ConfigErrors';
import type { FileError } from '../../src/config/FileError';

const dir = mkdtempSync(join(tmpdir(), 'mqttd-uci-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function write(text: string): string {
  const path = join(dir, `mqttd-${n++}`);
  writeFileSync(path, text);
  return path;
}
const lan = new Map([['lan', ['192.168.1.1', 'fd00::1']]]);

function errorsOf(path: string, networks = lan): FileError[] {
  try {
    loadUciConfig(path, networks);
  } catch (err) {
    assert.ok(err instanceof ConfigErrors, String(err));
    return err.errors;
  }
  assert.fail('expected ConfigErrors');
}

test('the shipped /etc/config/mqttd loads: loopback and LAN, anonymous off, status in RAM, logs to syslog', () => {
  const config = loadUciConfig(join(__dirname, '../../../files/etc/config/mqttd'), lan);
  assert.equal(config.allowAnonymous, false);
  assert.deepEqual(
    config.listeners.map((l) => [l.bindAddress, l.port, l.protocol]),
    [
      ['127.0.0.1', 1883, 'mqtt'],
      ['192.168.1.1', 1883, 'mqtt'],
      ['fd00::1', 1883, 'mqtt'],
    ],
  );
  assert.deepEqual(config.logDest, ['syslog']);
  assert.equal(config.passwordFile, '/etc/mqttd/passwd');
  assert.equal(config.aclFile, '/etc/mqttd/acl');
  assert.equal(config.statusFile, '/var/run/mqttd/status.json');
  assert.equal(config.maxConnections, 64);
  assert.deepEqual([...config.logTypes].sort(), ['error', 'notice', 'warning']);
});

test('UCI quoting: single quotes literal, double quotes and bare words take escapes, comments, continuation', () => {
  const errors: FileError[] = [];
  const pkg = parseUci(
    'f',
    [
      "package mqttd",
      "config listener 'a' # trailing comment",
      "\toption single 'it''s' ",
      '\toption double "say \\"hi\\" \\\\ ok"',
      '\toption bare a\\ b',
      "\toption joined 'x'\"y\"z",
      "\toption multi 'line1",
      "line2'",
      '\tlist topic one',
      '\tlist topic "two #"',
      '\toption cont \\',
      '  value',
      '# a whole comment line',
      'config bridge',
      '',
    ].join('\n'),
    errors,
  );
  assert.deepEqual(errors, []);
  const a = pkg.sections[0].options;
  assert.equal(a.get('single')?.values[0], 'its');
  assert.equal(a.get('double')?.values[0], 'say "hi" \\ ok');
  assert.equal(a.get('bare')?.values[0], 'a b');
  assert.equal(a.get('joined')?.values[0], 'xyz');
  assert.equal(a.get('multi')?.values[0], 'line1\nline2');
  assert.deepEqual(a.get('topic')?.values, ['one', 'two #']);
  assert.equal(a.get('cont')?.values[0], 'value');
  assert.equal(a.get('topic')?.line, 9);
  assert.equal(pkg.sections[1].type, 'bridge');
  assert.equal(pkg.sections[1].name, undefined);
  assert.equal(pkg.sections[1].line, 14);
});

test('syntax errors name the file and line, all of them at once', () => {
  const path = write(
    [
      "config mqttd 'general'",
      "\toption allow_anonymous 'maybe'",
      '\toption max_connections 12x',
      "\tbogus 'x'",
      "config listener 'bad-name'",
      "\toption port '1883'",
      "\toption interface 'lan'",
      "\toption port_typo '1'",
      "config listener 'x'",
      "\toption port 'unterminated",
    ].join('\n'),
  );
  const errors = errorsOf(path);
  const lines = errors.map((e) => `${e.line}: ${e.reason}`);
  assert.ok(errors.every((e) => e.file === path));
  assert.ok(lines.some((l) => l.startsWith("2: 'allow_anonymous' must be 0 or 1")), lines.join('\n'));
  assert.ok(lines.some((l) => l.startsWith("3: 'max_connections' must be a whole number")), lines.join('\n'));
  assert.ok(lines.some((l) => l.startsWith("4: unknown statement 'bogus'")), lines.join('\n'));
  assert.ok(lines.some((l) => l.startsWith("5: invalid section name 'bad-name'")), lines.join('\n'));
  assert.ok(lines.some((l) => l.startsWith("8: unknown option 'port_typo'")), lines.join('\n'));
  assert.ok(lines.some((l) => l.startsWith("10: unterminated ' quote")), lines.join('\n'));
  assert.match(errors[0].message, new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: `));
});

test('a listener with no interface and no address is an error, never all addresses', () => {
  const errors = errorsOf(write("config listener 'open'\n\toption port '1883'\n"));
  assert.equal(errors.length, 1);
  assert.equal(errors[0].line, 1);
  assert.match(errors[0].reason, /set 'interface'.*interface '\*'/);
});

test("interface '*' binds every address; an address binds only itself; wan only when named", () => {
  const config = loadUciConfig(
    write(
      [
        "config listener 'all'",
        "\toption port '1883'",
        "\toption interface '*'",
        "config listener 'one'",
        "\toption port '8883'",
        "\toption address '10.0.0.1'",
        "\toption interface 'lan'",
        "\toption certfile '/c'",
        "\toption keyfile '/k'",
        "config listener 'w'",
        "\toption port '9001'",
        "\toption protocol 'websockets'",
        "\toption interface 'wan'",
        "config listener 'off'",
        "\toption enabled '0'",
        "\toption port '1'",
        "\toption interface 'lan'",
      ].join('\n'),
    ),
    new Map([...lan, ['wan', ['203.0.113.7']]]),
  );
  assert.deepEqual(
    config.listeners.map((l) => [l.bindAddress, l.port, l.protocol, l.certfile ?? null]),
    [
      [undefined, 1883, 'mqtt', null],
      ['10.0.0.1', 8883, 'mqtt', '/c'],
      ['203.0.113.7', 9001, 'websockets', null],
    ],
  );
});

test('a network the init script did not pass is a clear error', () => {
  const errors = errorsOf(write("config listener 'l'\n\toption port '1883'\n\toption interface 'guest'\n"));
  assert.equal(errors[0].line, 3);
  assert.match(errors[0].reason, /network 'guest' is unknown \(the init script passes --network guest=<addresses>\)/);
});

test('a network passed without addresses (not up yet) makes its listeners wait, without an error', () => {
  const networks = new Map(lan);
  assert.equal(parseNetworkArgument('guest=', networks), undefined);
  const config = loadUciConfig(write("config listener 'g'\n\toption port '1884'\n\toption interface 'guest'\n"), networks);
  assert.deepEqual(config.listeners, []);
  assert.deepEqual(config.listenersAwaitingNetwork, ["listener 'g' (port 1884) waits for network 'guest' to get an address."]);
});

test('a disabled listener asks nothing of its network: a WAN listener that is off never stops the broker', () => {
  const config = loadUciConfig(
    write(
      "config listener 'lan'\n\toption port '1883'\n\toption interface 'lan'\n" +
        "config listener 'wan'\n\toption enabled '0'\n\toption port '8883'\n\toption interface 'wan'\n",
    ),
    lan,
  );
  assert.deepEqual(
    config.listeners.map((l) => l.bindAddress),
    ['192.168.1.1', 'fd00::1'],
  );
  assert.deepEqual(config.listenersAwaitingNetwork, []);
});

test("a listener on every address (interface '*') covers same-port loopback and LAN listeners of its kind", () => {
  const config = loadUciConfig(
    write(
      "config listener 'lo'\n\toption port '1883'\n\toption address '127.0.0.1'\n" +
        "config listener 'all'\n\toption port '1883'\n\toption interface '*'\n" +
        "config listener 'ws'\n\toption port '9001'\n\toption protocol 'websockets'\n\toption interface 'lan'\n",
    ),
    lan,
  );
  assert.deepEqual(
    config.listeners.map((l) => [l.bindAddress, l.port]),
    [
      [undefined, 1883],
      ['192.168.1.1', 9001],
      ['fd00::1', 9001],
    ],
  );
});

test('two listeners on the same address and port are refused', () => {
  const errors = errorsOf(
    write("config listener 'a'\n\toption port '1883'\n\toption interface 'lan'\nconfig listener 'b'\n\toption port '1883'\n\toption address '192.168.1.1'\n"),
  );
  assert.equal(errors.length, 1);
  assert.match(errors[0].reason, /already bound by listener 'a'/);
});

test('bridge sections map to BridgeConfig with mosquitto option names and defaults', () => {
  const config = loadUciConfig(
    write(
      [
        "config listener 'l'",
        "\toption port '1883'",
        "\toption interface 'lan'",
        "config bridge 'cloud'",
        "\tlist address 'broker.example.com:8883'",
        "\tlist address '[fd00::2]'",
        `\tlist topic 'home/# out 1 "" router1/'`,
        "\tlist topic 'cmd/+ in'",
        "\toption remote_username 'r1'",
        "\toption restart_timeout '10 120'",
        "\toption bridge_protocol_version 'mqttv50'",
        "\toption cleansession '1'",
      ].join('\n'),
    ),
    lan,
  );
  const [b] = config.bridges;
  assert.equal(b.name, 'cloud');
  assert.deepEqual(b.addresses, [
    { host: 'broker.example.com', port: 8883 },
    { host: 'fd00::2', port: 1883 },
  ]);
  assert.deepEqual(b.topics, [
    { pattern: 'home/#', direction: 'out', qos: 1, localPrefix: '', remotePrefix: 'router1/' },
    { pattern: 'cmd/+', direction: 'in', qos: 0, localPrefix: '', remotePrefix: '' },
  ]);
  assert.equal(b.remoteUsername, 'r1');
  assert.deepEqual(b.restartTimeout, { base: 10, cap: 120 });
  assert.equal(b.protocolVersion, 5);
  assert.equal(b.cleanSession, true);
  assert.equal(b.tryPrivate, true);
});

test('bad bridge topics and addresses are reported on their line', () => {
  const errors = errorsOf(
    write(
      [
        "config listener 'l'",
        "\toption port '1883'",
        "\toption interface 'lan'",
        "config bridge 'b'",
        "\tlist address 'host:99999'",
        "\tlist topic 'a/#/b out 1'",
        "\tlist topic 'x sideways'",
      ].join('\n'),
    ),
  );
  assert.deepEqual(
    errors.map((e) => `${e.line}: ${e.reason}`),
    // Refused lines are not also reported as missing; the reasons are mosquitto.conf's.
    [
      "5: address: in 'host:99999': expected a whole number from 1 to 65535 (a TCP port), got '99999'",
      "6: topic: topic pattern: '#' must be a whole level and the last one, got 'a/#/b'",
      "7: topic: direction: expected in, out or both, got 'sideways'",
    ],
  );
});

test('a missing file is one clear error naming it', () => {
  const errors = errorsOf(join(dir, 'nope'));
  assert.equal(errors.length, 1);
  assert.match(errors[0].message, /nope: cannot read the file \(ENOENT\)/);
});

test('--network arguments accumulate addresses and drop IPv6 prefix lengths', () => {
  const networks = new Map<string, string[]>();
  assert.equal(parseNetworkArgument('lan=192.168.1.1,fd00::1/64', networks), undefined);
  assert.equal(parseNetworkArgument('lan=10.0.0.1', networks), undefined);
  assert.deepEqual(networks.get('lan'), ['192.168.1.1', 'fd00::1', '10.0.0.1']);
  assert.match(parseNetworkArgument('lan', networks) ?? '', /expects <name>=<address>/);
});

/** A UCI file with one listener and one bridge 'b' holding these lines (line 4 is `config bridge`). */
function bridgeFile(lines: string[]): string {
  return write(["config listener 'l'", "\toption port '1883'", "\toption interface 'lan'", "config bridge 'b'", ...lines].join('\n'));
}

/** What mosquitto.conf's reader makes of one `topic` line: the topic, or the reason it refuses it. */
function confTopic(line: string): unknown {
  try {
    return parseConfig(`listener 1883\nconnection b\naddress h\ntopic ${line}\n`, 'c.conf').bridges[0].topics[0];
  } catch (err) {
    assert.ok(err instanceof ConfigErrors);
    return err.errors.map((e) => e.reason.replace(/^topic: /, ''));
  }
}

function uciTopic(line: string): unknown {
  const path = bridgeFile(["\tlist address 'h'", `\tlist topic '${line}'`]);
  try {
    return loadUciConfig(path, lan).bridges[0].topics[0];
  } catch (err) {
    assert.ok(err instanceof ConfigErrors);
    return err.errors.map((e) => e.reason.replace(/^topic: /, ''));
  }
}

test('a UCI topic means what the same mosquitto.conf topic line means, and is refused for the same reason', () => {
  const lines = [
    'sensors/#',
    'sensors/# in',
    'sensors/# BOTH 2',
    'cmd/+ in 1 "" router1/',
    '# both 0 local/ remote/',
    '"" both 1 here/state there/state',
    '"" out 0 status/online router1/online',
    // Refused:
    '"" out',
    '"" both 1 here/state',
    'a/# out 1 bad/+/ x/',
    'a/# out 1 x/ bad/#',
    '# out 0 local remote/',
    'a/#/b out 1',
    'x sideways',
    'x out 3',
    'x out 1 a/ b/ extra',
  ];
  for (const line of lines) assert.deepEqual(uciTopic(line), confTopic(line), line);
  // The empty pattern maps exactly one topic, the local prefix to the remote prefix.
  assert.deepEqual(uciTopic('"" both 1 here/state there/state'), { pattern: '', direction: 'both', qos: 1, localPrefix: 'here/state', remotePrefix: 'there/state' });
  assert.deepEqual(uciTopic('"" out'), ['an empty ("") topic pattern needs both a local and a remote prefix']);
  assert.deepEqual(uciTopic('a/# out 1 bad/+/ x/'), ["local prefix: expected a topic without the wildcards + and #, got 'bad/+/'"]);
});

test('UCI and mosquitto.conf give the same BridgeConfig for the same bridge', () => {
  const uci = loadUciConfig(
    bridgeFile([
      "\tlist address 'one.example:8883'",
      "\tlist address '[fd00::2]:1884 10.0.0.2'",
      `\tlist topic 'home/# out 1 "" router1/'`,
      `\tlist topic '"" both 2 here/state there/state'`,
      "\toption round_robin 'yes'",
      "\toption cleansession '1'",
      "\toption keepalive_interval '30'",
      "\toption restart_timeout '10 120'",
      "\toption bridge_protocol_version 'mqttv50'",
      "\toption try_private 'off'",
      "\toption notifications '0'",
      "\toption notification_topic 'state/b'",
      "\toption bridge_outgoing_retain 'false'",
      "\toption remote_username 'router1'",
      "\toption remote_password 'p#ss word'",
      "\toption bridge_cafile '/etc/ssl/ca.pem'",
      "\toption bridge_certfile '/etc/mqttd/c.pem'",
      "\toption bridge_keyfile '/etc/mqttd/k.pem'",
      "\toption bridge_insecure '1'",
      "\toption bridge_max_queued_messages '50'",
    ]),
    lan,
  ).bridges[0];
  const conf = parseConfig(
    [
      'listener 1883',
      'connection b',
      'address one.example:8883 [fd00::2]:1884 10.0.0.2',
      'topic home/# out 1 "" router1/',
      'topic "" both 2 here/state there/state',
      'round_robin true',
      'cleansession true',
      'keepalive_interval 30',
      'restart_timeout 10 120',
      'bridge_protocol_version mqttv50',
      'try_private false',
      'notifications false',
      'notification_topic state/b',
      'bridge_outgoing_retain false',
      'remote_username router1',
      'remote_password p#ss word',
      'bridge_cafile /etc/ssl/ca.pem',
      'bridge_certfile /etc/mqttd/c.pem',
      'bridge_keyfile /etc/mqttd/k.pem',
      'bridge_insecure true',
      'bridge_max_queued_messages 50',
      '',
    ].join('\n'),
    'c.conf',
    { hostname: hostname() },
  ).bridges[0];
  assert.deepEqual(uci, conf);
  assert.equal(uci.remoteClientId, `${hostname()}.b`);
  assert.equal(uci.remotePassword, 'p#ss word');
});

test("the bridge queue limit is bridge_max_queued_messages, with max_queued_messages as its UCI alias; both at once is an error", () => {
  const read = (lines: string[]): number => loadUciConfig(bridgeFile(["\tlist address 'h'", "\tlist topic 'a'", ...lines]), lan).bridges[0].maxQueuedMessages;
  assert.equal(read([]), 1000);
  assert.equal(read(["\toption bridge_max_queued_messages '7'"]), 7);
  assert.equal(read(["\toption max_queued_messages '9'"]), 9);
  assert.deepEqual(
    errorsOf(bridgeFile(["\tlist address 'h'", "\tlist topic 'a'", "\toption max_queued_messages '9'", "\toption bridge_max_queued_messages 'ten'"])).map(
      (e) => `${e.line}: ${e.reason}`,
    ),
    ["8: 'max_queued_messages' and 'bridge_max_queued_messages' are the same option: set only one"],
  );
  assert.deepEqual(
    errorsOf(bridgeFile(["\tlist address 'h'", "\tlist topic 'a'", "\toption bridge_max_queued_messages '-1'"])).map((e) => `${e.line}: ${e.reason}`),
    ["7: bridge_max_queued_messages: expected a whole number from 0 to 2147483647, got '-1'"],
  );
});

test('client-certificate options that could only refuse every client are errors on their line', () => {
  const listener = (...options: string[]) =>
    write(["config listener 'l'", "\toption port '8883'", "\toption interface 'lan'", "\toption certfile '/c'", "\toption keyfile '/k'", ...options].join('\n'));
  assert.deepEqual(
    errorsOf(listener("\toption require_certificate '1'")).map((e) => `${e.line}: ${e.reason}`),
    ["6: listener 'l': require_certificate needs cafile or capath to check client certificates against"],
  );
  assert.deepEqual(
    errorsOf(listener("\toption cafile '/ca'", "\toption use_identity_as_username '1'")).map((e) => `${e.line}: ${e.reason}`),
    [
      "7: listener 'l': use_identity_as_username needs require_certificate true: without it no client is asked for a certificate, so every client would be refused (as mosquitto does)",
    ],
  );
  const ok = loadUciConfig(listener("\toption capath '/ca'", "\toption require_certificate '1'", "\toption use_identity_as_username '1'"), lan);
  assert.equal(ok.listeners[0]?.capath, '/ca');
});

test('bridge TLS that mosquitto would silently drop, unsupported mosquitto options and a shared local_clientid are refused on their line', () => {
  const errors = errorsOf(
    write(
      [
        "config listener 'l'",
        "\toption port '1883'",
        "\toption interface 'lan'",
        "config bridge 'a'",
        "\tlist address 'h'",
        "\tlist topic 'x'",
        "\toption bridge_certfile '/c.pem'",
        "\toption bridge_psk 'abc'",
        "\toption local_clientid 'same'",
        "\toption try_private 'maybe'",
        "config bridge 'b'",
        "\tlist address 'h'",
        "\tlist topic 'x'",
        "\toption local_clientid 'same'",
      ].join('\n'),
    ),
  );
  assert.deepEqual(
    errors.map((e) => `${e.line}: ${e.reason}`),
    [
      '7: bridge_certfile: needs bridge_keyfile too',
      '7: bridge_certfile: needs bridge_cafile or bridge_capath, which turn TLS on; mosquitto would silently connect without TLS',
      "8: 'bridge_psk' is a mosquitto option that mqttd does not support (TLS-PSK is not supported; use bridge_cafile with certificates)",
      "10: 'try_private' must be 0 or 1, not 'maybe'",
      "11: bridge 'b' has the same local_clientid as bridge 'a' ('same'); set local_clientid on one of them",
    ],
  );
});

test('a disabled bridge section is still checked but not started; an empty list entry is not an address; connection is one word', () => {
  const config = loadUciConfig(bridgeFile(["\toption enabled '0'", "\tlist address 'h'", "\tlist topic 'x'"]), lan);
  assert.deepEqual(config.bridges, []);
  assert.equal(loadUciConfig(bridgeFile(["\toption connection 'my-cloud'", "\tlist address 'h'", "\tlist topic 'x'"]), lan).bridges[0].name, 'my-cloud');
  assert.deepEqual(
    errorsOf(bridgeFile(["\toption connection 'my cloud'", "\tlist address 'h'", "\tlist topic 'x'"])).map((e) => `${e.line}: ${e.reason}`),
    ["5: connection: expected one word, got 'my cloud'"],
  );
  assert.deepEqual(
    errorsOf(bridgeFile(["\toption enabled '0'", "\tlist address ''", "\tlist topic 'x out 5'"])).map((e) => `${e.line}: ${e.reason}`),
    ["4: bridge 'b': 'address' is required", "7: topic: expected a whole number 0, 1 or 2 (QoS), got '5'"],
  );
});

test('persistence_journal: the RAM journal directory, /var/run/mqttd/ when unset, `none` for no journal', () => {
  const listener = "config listener 'l'\n\toption port '1883'\n\toption interface 'lan'\n";
  const base = listener + "config mqttd 'general'\n\toption persistence '1'\n";
  assert.equal(loadUciConfig(write(base), lan).persistenceJournal, '/var/run/mqttd/');
  assert.equal(loadUciConfig(write(base + "\toption persistence_journal '/tmp/mqttd-journal/'\n"), lan).persistenceJournal, '/tmp/mqttd-journal/');
  assert.equal(loadUciConfig(write(base + "\toption persistence_journal 'none'\n"), lan).persistenceJournal, '');
});

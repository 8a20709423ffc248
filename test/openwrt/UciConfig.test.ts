import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadUciConfig, parseNetworkArgument, parseUci } from '../../src/config/UciConfig';
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

test('the shipped /etc/config/mqttd loads: LAN only, anonymous off, status in RAM', () => {
  const config = loadUciConfig(join(__dirname, '../../../files/etc/config/mqttd'), lan);
  assert.equal(config.allowAnonymous, false);
  assert.deepEqual(
    config.listeners.map((l) => [l.bindAddress, l.port, l.protocol]),
    [
      ['192.168.1.1', 1883, 'mqtt'],
      ['fd00::1', 1883, 'mqtt'],
    ],
  );
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

test('a network without addresses (interface down, or not passed) is a clear error', () => {
  const errors = errorsOf(write("config listener 'l'\n\toption port '1883'\n\toption interface 'guest'\n"));
  assert.equal(errors[0].line, 3);
  assert.match(errors[0].reason, /network 'guest' has no address/);
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
    [
      "4: bridge 'b': 'address' is required",
      "4: bridge 'b': at least one 'topic' is required",
      "5: invalid bridge address 'host:99999' (expected host[:port])",
      "6: bridge topic 'a/#/b': '#' must be a whole level and the last one",
      "7: bridge topic direction must be in, out or both, not 'sideways'",
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

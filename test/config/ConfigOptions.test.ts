import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { BridgeConfig, BrokerConfig, ListenerConfig } from '../../src/config/BrokerConfig';
import { CONFIG_OPTIONS } from '../../src/config/ConfigOptions';
import { errorsOf, parse } from './configTestKit';

/**
 * One good and one bad line for every option in the table, so an option added to the table
 * without a test here fails the "every option has a sample" test.
 */
interface Sample {
  line: string;
  check: (config: BrokerConfig, listener: ListenerConfig, bridge: BridgeConfig) => void;
  /** A line with a bad value, and the reason expected (after "<name>: "). */
  bad?: [string, string];
}

const samples: Record<string, Sample> = {
  include_dir: {
    line: '# include_dir is covered by IncludeDir.test.ts',
    check: () => undefined,
    bad: ['include_dir', 'expected a value'],
  },
  allow_anonymous: {
    line: 'allow_anonymous true',
    check: (c) => assert.equal(c.allowAnonymous, true),
    bad: ['allow_anonymous yes', "expected true or false, got 'yes'"],
  },
  password_file: {
    line: 'password_file /etc/mqttd/passwd file',
    check: (c) => assert.equal(c.passwordFile, '/etc/mqttd/passwd file'),
    bad: ['password_file', 'expected a value'],
  },
  password_check_concurrency: {
    line: 'password_check_concurrency 2',
    check: (c) => assert.equal(c.passwordCheckConcurrency, 2),
    bad: ['password_check_concurrency 0', "expected a whole number from 1 to 64, got '0'"],
  },
  password_check_queue: {
    line: 'password_check_queue 0',
    check: (c) => assert.equal(c.passwordCheckQueue, 0),
    bad: ['password_check_queue -1', "expected a whole number from 0 to 65535, got '-1'"],
  },
  acl_file: { line: 'acl_file /etc/mqttd/acl', check: (c) => assert.equal(c.aclFile, '/etc/mqttd/acl') },
  acl_pattern_allow_slash: { line: 'acl_pattern_allow_slash true', check: (c) => assert.equal(c.aclPatternAllowSlash, true) },
  allow_zero_length_clientid: {
    line: 'allow_zero_length_clientid false',
    check: (c) => assert.equal(c.allowZeroLengthClientId, false),
    bad: ['allow_zero_length_clientid on', "expected true or false, got 'on'"],
  },
  auto_id_prefix: { line: 'auto_id_prefix rt-', check: (c) => assert.equal(c.autoIdPrefix, 'rt-') },
  persistence: {
    line: 'persistence 1',
    check: (c) => assert.equal(c.persistence, true),
    bad: ['persistence 2', "expected true or false, got '2'"],
  },
  persistence_location: { line: 'persistence_location /overlay/mqttd/', check: (c) => assert.equal(c.persistenceLocation, '/overlay/mqttd/') },
  persistence_file: { line: 'persistence_file store.db', check: (c) => assert.equal(c.persistenceFile, 'store.db') },
  persistence_journal: { line: 'persistence_journal /tmp/j/', check: (c) => assert.equal(c.persistenceJournal, '/tmp/j/') },
  autosave_interval: {
    line: 'autosave_interval 600',
    check: (c) => assert.equal(c.autosaveInterval, 600),
    bad: ['autosave_interval -5', "expected a whole number from 0 to 2147483647, got '-5'"],
  },
  persistent_client_expiration: {
    line: 'persistent_client_expiration 2w',
    check: (c) => assert.equal(c.persistentClientExpiration, 14 * 86400),
    bad: ['persistent_client_expiration 14', "expected a duration such as 12h, 7d, 2w, 1m or 1y, got '14'"],
  },
  max_persistent_sessions: {
    line: 'max_persistent_sessions 500',
    check: (c) => assert.equal(c.maxPersistentSessions, 500),
    bad: ['max_persistent_sessions -1', "expected a whole number from 0 to 2147483647, got '-1'"],
  },
  global_max_connections: {
    line: 'global_max_connections 64',
    check: (c) => assert.equal(c.maxConnections, 64),
    bad: ['global_max_connections -2', "expected a whole number from -1 (no limit) upwards, got '-2'"],
  },
  message_size_limit: {
    line: 'message_size_limit 65536',
    check: (c) => assert.equal(c.messageSizeLimit, 65536),
    bad: ['message_size_limit 268435456', "expected a whole number from 0 to 268435455, got '268435456'"],
  },
  max_packet_size: {
    line: 'max_packet_size 1048576',
    check: (c) => assert.equal(c.maxPacketSize, 1048576),
    bad: ['max_packet_size 19', "expected a whole number from 20 to 268435460, got '19'"],
  },
  max_queued_messages: {
    line: 'max_queued_messages 100',
    check: (c) => assert.equal(c.maxQueuedMessages, 100),
    bad: ['max_queued_messages 10k', "expected a whole number from 0 to 2147483647, got '10k'"],
  },
  memory_limit: {
    line: 'memory_limit 33554432',
    check: (c) => assert.equal(c.memoryLimit, 33554432),
    bad: ['memory_limit 32M', "expected a whole number from 0 to 9007199254740991, got '32M'"],
  },
  max_queued_bytes: {
    line: 'max_queued_bytes 1000000',
    check: (c) => assert.equal(c.maxQueuedBytes, 1000000),
    bad: ['max_queued_bytes 1e6', "expected a whole number from 0 to 2147483647, got '1e6'"],
  },
  max_subscriptions_per_client: {
    line: 'max_subscriptions_per_client 100',
    check: (c) => assert.equal(c.maxSubscriptionsPerClient, 100),
    bad: ['max_subscriptions_per_client x', "expected a whole number from 0 to 2147483647, got 'x'"],
  },
  max_inflight_messages: {
    line: 'max_inflight_messages 10',
    check: (c) => assert.equal(c.maxInflightMessages, 10),
    bad: ['max_inflight_messages 65536', "expected a whole number from 0 to 65535, got '65536'"],
  },
  publisher_hold_timeout: {
    line: 'publisher_hold_timeout 3',
    check: (c) => assert.equal(c.publisherHoldTimeout, 3),
    bad: ['publisher_hold_timeout 61', "expected a whole number from 0 to 60, got '61'"],
  },
  max_keepalive: {
    line: 'max_keepalive 0',
    check: (c) => assert.equal(c.maxKeepalive, 0),
    bad: ['max_keepalive 9', "expected a whole number 0 (no cap) or from 10 to 65535, got '9'"],
  },
  retain_available: {
    line: 'retain_available false',
    check: (c) => assert.equal(c.retainAvailable, false),
    bad: ['retain_available False', "expected true or false, got 'False'"],
  },
  max_retained_messages: {
    line: 'max_retained_messages 10000',
    check: (c) => assert.equal(c.maxRetainedMessages, 10000),
    bad: ['max_retained_messages -1', "expected a whole number from 0 to 2147483647, got '-1'"],
  },
  max_retained_bytes: {
    line: 'max_retained_bytes 16777216',
    check: (c) => assert.equal(c.maxRetainedBytes, 16777216),
    bad: ['max_retained_bytes 16M', "expected a whole number from 0 to 9007199254740991, got '16M'"],
  },
  queue_qos0_messages: { line: 'queue_qos0_messages true', check: (c) => assert.equal(c.queueQos0Messages, true) },
  upgrade_outgoing_qos: { line: 'upgrade_outgoing_qos true', check: (c) => assert.equal(c.upgradeOutgoingQos, true) },
  sys_interval: {
    line: 'sys_interval 0',
    check: (c) => assert.equal(c.sysInterval, 0),
    bad: ['sys_interval ten', "expected a whole number from 0 to 65535, got 'ten'"],
  },
  log_type: {
    line: 'log_type debug',
    check: (c) => assert.deepEqual([...c.logTypes], ['debug']),
    bad: ['log_type verbose', 'expected error, warning, notice, information, subscribe, unsubscribe, websockets, debug, all or none, got \'verbose\''],
  },
  log_dest: {
    line: 'log_dest syslog',
    check: (c) => assert.deepEqual(c.logDest, ['syslog']),
    bad: ['log_dest topic', "log destination 'topic' is a mosquitto value that mqttd does not support"],
  },
  log_timestamp: { line: 'log_timestamp false', check: (c) => assert.equal(c.logTimestamp, false) },
  pid_file: { line: 'pid_file /var/run/mqttd.pid', check: (c) => assert.equal(c.pidFile, '/var/run/mqttd.pid') },
  user: { line: 'user mosquitto', check: (c) => assert.equal(c.user, 'mosquitto') },
  connect_timeout: {
    line: 'connect_timeout 5',
    check: (c) => assert.equal(c.connectTimeout, 5),
    bad: ['connect_timeout 0', "expected a whole number from 1 to 65535, got '0'"],
  },
  status_file: { line: 'status_file /var/run/mqttd/status.json', check: (c) => assert.equal(c.statusFile, '/var/run/mqttd/status.json') },
  control_file: { line: 'control_file /var/run/mqttd/control', check: (c) => assert.equal(c.controlFile, '/var/run/mqttd/control') },
  explorer_cache_size: {
    line: 'explorer_cache_size 50',
    check: (c) => assert.equal(c.explorerCacheSize, 50),
    bad: ['explorer_cache_size 100001', "expected a whole number from 0 to 100000, got '100001'"],
  },
  rules_file: { line: 'rules_file /etc/mqttd/rules.conf', check: (c) => assert.deepEqual(c.rulesFiles, ['/etc/mqttd/rules.conf']) },
  rules_dir: { line: 'rules_dir /etc/mqttd/rules.d', check: (c) => assert.equal(c.rulesDir, '/etc/mqttd/rules.d') },
  rules_script_time_limit: {
    line: 'rules_script_time_limit 250',
    check: (c) => assert.equal(c.rulesScriptTimeLimit, 250),
    bad: ['rules_script_time_limit 10', "expected a whole number from 50 to 60000, got '10'"],
  },
  listener: {
    line: 'listener 8883 192.168.1.1',
    check: (c) => assert.deepEqual(c.listeners.map((l) => [l.port, l.bindAddress]), [[1884, undefined], [8883, '192.168.1.1']]),
    bad: ['listener 70000', "expected a whole number from 1 to 65535 (a TCP port), got '70000'"],
  },
  port: {
    line: 'port 1885',
    check: (c) => assert.deepEqual(c.listeners.map((l) => l.port), [1885]),
    bad: ['port 0', "expected a whole number from 1 to 65535 (a TCP port), got '0'"],
  },
  bind_address: {
    line: 'bind_address 10.0.0.1',
    check: (c) => assert.deepEqual(c.listeners.map((l) => [l.port, l.bindAddress]), [[1883, '10.0.0.1']]),
  },
  protocol: {
    line: 'protocol websockets',
    check: (_c, l) => assert.equal(l.protocol, 'websockets'),
    bad: ['protocol mqttsn', "expected mqtt or websockets, got 'mqttsn'"],
  },
  max_connections: {
    line: 'max_connections 16',
    check: (_c, l) => assert.equal(l.maxConnections, 16),
    bad: ['max_connections many', "expected a whole number from -1 (no limit) upwards, got 'many'"],
  },
  bind_interface: { line: 'bind_interface br-lan', check: (_c, l) => assert.equal(l.bindInterface, 'br-lan') },
  socket_domain: {
    line: 'socket_domain ipv6',
    check: (_c, l) => assert.equal(l.socketDomain, 'ipv6'),
    bad: ['socket_domain ipv5', "expected ipv4 or ipv6, got 'ipv5'"],
  },
  mount_point: {
    line: 'mount_point guests/',
    check: (_c, l) => assert.equal(l.mountPoint, 'guests/'),
    bad: ['mount_point guests/#', "expected a topic without the wildcards + and #, got 'guests/#'"],
  },
  certfile: { line: 'certfile /etc/ssl/server.crt', check: (_c, l) => assert.equal(l.certfile, '/etc/ssl/server.crt') },
  keyfile: { line: 'keyfile /etc/ssl/server.key', check: (_c, l) => assert.equal(l.keyfile, '/etc/ssl/server.key') },
  cafile: { line: 'cafile /etc/ssl/ca.crt', check: (_c, l) => assert.equal(l.cafile, '/etc/ssl/ca.crt') },
  capath: { line: 'capath /etc/ssl/certs', check: (_c, l) => assert.equal(l.capath, '/etc/ssl/certs') },
  require_certificate: { line: 'require_certificate true', check: (_c, l) => assert.equal(l.requireCertificate, true) },
  use_identity_as_username: { line: 'use_identity_as_username true', check: (_c, l) => assert.equal(l.useIdentityAsUsername, true) },
  tls_version: {
    line: 'tls_version tlsv1.3',
    check: (_c, l) => assert.equal(l.tlsVersion, 'tlsv1.3'),
    bad: ['tls_version tlsv1.1', "expected tlsv1.2 or tlsv1.3, got 'tlsv1.1'"],
  },
  connection: {
    line: 'connection second\naddress other\ntopic x',
    check: (c) => assert.deepEqual(c.bridges.map((b) => b.name), ['b', 'second']),
    bad: ['connection', 'expected a bridge name'],
  },
  address: {
    line: 'address broker.example.com:8883 10.0.0.2 [fd00::1]:1884',
    check: (_c, _l, b) =>
      assert.deepEqual(b.addresses, [
        { host: 'broker.example.com', port: 8883 },
        { host: '10.0.0.2', port: 1883 },
        { host: 'fd00::1', port: 1884 },
      ]),
    bad: ['address host:99999', "in 'host:99999': expected a whole number from 1 to 65535 (a TCP port), got '99999'"],
  },
  round_robin: { line: 'round_robin true', check: (_c, _l, b) => assert.equal(b.roundRobin, true) },
  topic: {
    line: 'topic sensors/# both 2 home/ site/',
    check: (_c, _l, b) =>
      assert.deepEqual(b.topics, [{ pattern: 'sensors/#', direction: 'both', qos: 2, localPrefix: 'home/', remotePrefix: 'site/' }]),
    bad: ['topic a/# sideways', "direction: expected in, out or both, got 'sideways'"],
  },
  remote_username: { line: 'remote_username rt', check: (_c, _l, b) => assert.equal(b.remoteUsername, 'rt') },
  remote_password: { line: 'remote_password s3cret with spaces', check: (_c, _l, b) => assert.equal(b.remotePassword, 's3cret with spaces') },
  remote_clientid: { line: 'remote_clientid rt-1', check: (_c, _l, b) => assert.equal(b.remoteClientId, 'rt-1') },
  local_clientid: { line: 'local_clientid bridge-local', check: (_c, _l, b) => assert.equal(b.localClientId, 'bridge-local') },
  cleansession: { line: 'cleansession true', check: (_c, _l, b) => assert.equal(b.cleanSession, true) },
  keepalive_interval: {
    line: 'keepalive_interval 30',
    check: (_c, _l, b) => assert.equal(b.keepaliveInterval, 30),
    bad: ['keepalive_interval 4', "expected a whole number from 5 to 65535, got '4'"],
  },
  restart_timeout: {
    line: 'restart_timeout 10 120',
    check: (_c, _l, b) => assert.deepEqual(b.restartTimeout, { base: 10, cap: 120 }),
    bad: ['restart_timeout 60 30', 'the cap (30) is lower than the base (60)'],
  },
  bridge_protocol_version: {
    line: 'bridge_protocol_version mqttv50',
    check: (_c, _l, b) => assert.equal(b.protocolVersion, 5),
    bad: ['bridge_protocol_version mqttv31', 'mqttv31 is a mosquitto value that mqttd does not support: use mqttv311 or mqttv50'],
  },
  try_private: { line: 'try_private false', check: (_c, _l, b) => assert.equal(b.tryPrivate, false) },
  notifications: { line: 'notifications false', check: (_c, _l, b) => assert.equal(b.notifications, false) },
  notification_topic: {
    line: 'notification_topic bridges/cloud/state',
    check: (_c, _l, b) => assert.equal(b.notificationTopic, 'bridges/cloud/state'),
    bad: ['notification_topic a/+', "expected a topic without the wildcards + and #, got 'a/+'"],
  },
  bridge_outgoing_retain: { line: 'bridge_outgoing_retain false', check: (_c, _l, b) => assert.equal(b.outgoingRetain, false) },
  start_type: {
    line: 'start_type automatic',
    check: (_c, _l, b) => assert.equal(b.startType, 'automatic'),
    bad: ['start_type lazy', 'start_type lazy is a mosquitto value that mqttd does not support: only automatic'],
  },
  bridge_cafile: { line: 'bridge_cafile /etc/ssl/certs/ca.pem', check: (_c, _l, b) => assert.equal(b.cafile, '/etc/ssl/certs/ca.pem') },
  bridge_capath: { line: 'bridge_capath /etc/ssl/certs', check: (_c, _l, b) => assert.equal(b.capath, '/etc/ssl/certs') },
  bridge_certfile: { line: 'bridge_certfile /etc/ssl/rt.crt', check: (_c, _l, b) => assert.equal(b.certfile, '/etc/ssl/rt.crt') },
  bridge_keyfile: { line: 'bridge_keyfile /etc/ssl/rt.key', check: (_c, _l, b) => assert.equal(b.keyfile, '/etc/ssl/rt.key') },
  bridge_insecure: { line: 'bridge_insecure true', check: (_c, _l, b) => assert.equal(b.insecure, true) },
  bridge_max_queued_messages: {
    line: 'bridge_max_queued_messages 5000',
    check: (_c, _l, b) => assert.equal(b.maxQueuedMessages, 5000),
    bad: ['bridge_max_queued_messages -1', "expected a whole number from 0 to 2147483647, got '-1'"],
  },
};

/** TLS options need the rest of TLS on the same listener or bridge. */
const TLS_NEEDS: Record<string, string[]> = {
  certfile: ['keyfile /k'],
  keyfile: ['certfile /c'],
  cafile: ['certfile /c', 'keyfile /k'],
  capath: ['certfile /c', 'keyfile /k'],
  require_certificate: ['certfile /c', 'keyfile /k', 'cafile /ca'],
  use_identity_as_username: ['certfile /c', 'keyfile /k', 'cafile /ca', 'require_certificate true'],
  tls_version: ['certfile /c', 'keyfile /k'],
  bridge_certfile: ['bridge_keyfile /k', 'bridge_cafile /ca'],
  bridge_keyfile: ['bridge_certfile /c', 'bridge_cafile /ca'],
  bridge_insecure: ['bridge_cafile /ca'],
};

/** The lines that put an option in its scope (a listener, or a complete bridge). */
function context(name: string, scope: string): string[] {
  const tls = TLS_NEEDS[name] ?? [];
  if (name === 'listener') return ['listener 1884'];
  if (scope === 'listener') return ['listener 1884', ...tls];
  if (scope === 'bridge' || name === 'connection') {
    return ['connection b', ...(name === 'address' ? [] : ['address h']), ...(name === 'topic' ? [] : ['topic x']), ...tls];
  }
  return [];
}

describe('persistence_journal', () => {
  it('defaults to /var/run/mqttd/ (tmpfs on OpenWrt); `none` turns the journal off', () => {
    assert.equal(parse('persistence true\n').persistenceJournal, '/var/run/mqttd/');
    assert.equal(parse('persistence_journal none\n').persistenceJournal, '');
  });
});

describe('documented defaults', () => {
  // The README's table shows `default`; defaultConfig() is what the reader really starts from.
  // Writing an option at its documented default must change nothing, or the two have drifted.
  it('each general option set to its documented default reads as the option left out', () => {
    const base = parse('');
    // `port` opens a listener (its default is that listener's port); prose defaults ("(never)",
    // "false (true in local-only mode)") are not one value.
    const checked = CONFIG_OPTIONS.filter((o) => o.scope === 'general' && o.name !== 'port' && /^[^\s(]+$/.test(o.default));
    assert.ok(checked.length > 20, `only ${checked.length} options have a one-word default`);
    for (const o of checked) assert.deepEqual(parse(`${o.name} ${o.default}\n`), base, `${o.name} ${o.default}`);
  });
});

describe('every config option', () => {
  it('has a sample in this test', () => {
    const missing = CONFIG_OPTIONS.map((o) => o.name).filter((n) => !(n in samples));
    assert.deepEqual(missing, []);
  });

  for (const option of CONFIG_OPTIONS) {
    const sample = samples[option.name];
    if (!sample) continue;
    it(`${option.name}: a good value is read into the config`, () => {
      const lines = [...context(option.name, option.scope), sample.line];
      const config = parse(lines.join('\n') + '\n');
      const listener = config.listeners[0];
      const bridge = config.bridges[0];
      sample.check(config, listener, bridge);
    });
    if (sample.bad) {
      const [badLine, reason] = sample.bad;
      it(`${option.name}: a bad value names the line and what was expected`, () => {
        const lines = ['# a comment', ...context(option.name, option.scope), badLine];
        const word = badLine.split(' ')[0];
        assert.deepEqual(errorsOf(lines.join('\n')), [`${lines.length}: ${word}: ${reason}`]);
      });
    }
    for (const alias of option.aliases) {
      it(`${alias} is read as ${option.name}`, () => {
        const good = sample.line.replace(option.name, alias);
        assert.notEqual(good, sample.line);
        const config = parse([...context(option.name, option.scope), good].join('\n'));
        sample.check(config, config.listeners[0], config.bridges[0]);
      });
    }
  }
});

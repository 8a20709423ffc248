/**
 * The same config files given to Debian's real mosquitto 2.0 and to mqttd's reader: both accept,
 * or both refuse at the same line. The documented differences are checked the same way, so the
 * claims in docs/config.md are proven against mosquitto, not assumed.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigErrors } from '../../src/config/ConfigErrors';
import { loadConfigFile } from '../../src/config/ConfigFile';
import { freePort } from '../helpers/ports';
import { hasCommand, startProcess } from '../helpers/processes';

const MOSQUITTO = '/usr/sbin/mosquitto';

/** 'ok', or the line of the first error. */
type Verdict = 'ok' | number;

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Starts mosquitto on the file: 'ok' once it listens, or the line of "Error found at file:N". */
async function mosquittoVerdict(file: string, port: number): Promise<Verdict> {
  const broker = startProcess(MOSQUITTO, ['-c', file]);
  try {
    for (;;) {
      if (broker.child.exitCode !== null || broker.child.signalCode !== null) {
        const match = /Error found at [^\n]*:(\d+)\./.exec(broker.output());
        assert.ok(match, `mosquitto failed without naming a line:\n${broker.output()}`);
        return Number(match[1]);
      }
      if (await canConnect(port)) return 'ok';
      await new Promise((r) => setTimeout(r, 25));
    }
  } finally {
    await broker.stop();
  }
}

function mqttdVerdict(file: string): Verdict {
  try {
    loadConfigFile(file, { hostname: 'router' });
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof ConfigErrors, String(err));
    const line = err.errors[0].line;
    assert.ok(line !== undefined, err.message);
    return line;
  }
}

interface Case {
  name: string;
  /** The file; PORT is replaced by a free port, and it must listen on 127.0.0.1:PORT when valid. */
  lines: string[];
  mosquitto: Verdict;
  mqttd?: Verdict;
}

const L = 'listener PORT 127.0.0.1';
const BRIDGE = ['connection b', 'address 127.0.0.1:9'];

const same: Case[] = [
  { name: 'a minimal listener', lines: [L], mosquitto: 'ok' },
  { name: 'comments, blank lines, trailing spaces', lines: ['# c', '', L + '   ', 'allow_anonymous true  '], mosquitto: 'ok' },
  { name: 'booleans 1 and 0', lines: [L, 'allow_anonymous 1', 'retain_available 0'], mosquitto: 'ok' },
  { name: 'a # comment after a number', lines: [L, 'sys_interval 10 # seconds'], mosquitto: 'ok' },
  { name: 'a # comment after the listener port', lines: ['listener PORT # all addresses'], mosquitto: 'ok' },
  { name: 'limits', lines: [L, 'max_inflight_messages 0', 'max_queued_messages 100', 'max_queued_bytes 0', 'max_packet_size 20', 'message_size_limit 1000'], mosquitto: 'ok' },
  { name: 'persistent_client_expiration units', lines: [L, 'persistent_client_expiration 1m'], mosquitto: 'ok' },
  { name: 'log types', lines: [L, 'log_type error', 'log_type all', 'log_type none'], mosquitto: 'ok' },
  { name: 'listener scoping and mount_point', lines: [L, 'listener PORT2 127.0.0.1', 'protocol mqtt', 'mount_point guests/', 'max_connections 3'], mosquitto: 'ok' },
  { name: 'a bridge with remapped topics', lines: [L, ...BRIDGE, 'topic a/# both 1 local/ remote/', 'topic "" in 2 x/y z/', 'restart_timeout 5 30', 'bridge_protocol_version mqttv50', 'keepalive_interval 30'], mosquitto: 'ok' },
  { name: 'CRLF line ends', lines: [L + '\r', 'allow_anonymous true\r'], mosquitto: 'ok' },
  { name: 'a bad boolean', lines: [L, 'allow_anonymous yes'], mosquitto: 2 },
  { name: 'an unknown option', lines: ['# x', L, 'frobnicate 1'], mosquitto: 3 },
  { name: 'max_keepalive below 10', lines: [L, 'max_keepalive 5'], mosquitto: 2 },
  { name: 'mount_point before any listener', lines: ['mount_point a/', L], mosquitto: 1 },
  { name: 'a wildcard mount_point', lines: [L, 'mount_point a/#'], mosquitto: 2 },
  { name: 'expiration without a unit', lines: [L, 'persistent_client_expiration 5'], mosquitto: 2 },
  { name: 'a path set twice', lines: [L, 'acl_file /tmp/a', 'acl_file /tmp/b'], mosquitto: 3 },
  { name: 'a port out of range', lines: [L, 'listener 70000'], mosquitto: 2 },
  { name: 'an unknown protocol', lines: [L, 'protocol mqttsn'], mosquitto: 2 },
  { name: 'a bridge option outside a connection', lines: [L, 'topic a'], mosquitto: 2 },
  { name: 'a second address line', lines: [L, ...BRIDGE, 'address 127.0.0.1:10', 'topic a'], mosquitto: 4 },
  { name: 'a bridge QoS of 3', lines: [L, ...BRIDGE, 'topic a in 3'], mosquitto: 4 },
  { name: 'a bad topic direction', lines: [L, ...BRIDGE, 'topic a sideways'], mosquitto: 4 },
  { name: 'an empty pattern with one prefix', lines: [L, ...BRIDGE, 'topic "" both 0 a/'], mosquitto: 4 },
  { name: 'a wildcard in a prefix', lines: [L, ...BRIDGE, 'topic a in 0 x/+/'], mosquitto: 4 },
  { name: 'a restart_timeout cap below its base', lines: [L, ...BRIDGE, 'topic a', 'restart_timeout 60 30'], mosquitto: 5 },
  { name: 'an unknown bridge protocol', lines: [L, ...BRIDGE, 'topic a', 'bridge_protocol_version mqttv6'], mosquitto: 5 },
  { name: 'start_type manual', lines: [L, ...BRIDGE, 'topic a', 'start_type manual'], mosquitto: 5 },
  { name: 'a duplicate bridge name', lines: [L, ...BRIDGE, 'topic a', 'connection b'], mosquitto: 5 },
  { name: 'a bridge keepalive above 65535', lines: [L, ...BRIDGE, 'topic a', 'keepalive_interval 70000'], mosquitto: 5 },
  { name: 'a bad socket_domain', lines: [L, 'socket_domain ipv5'], mosquitto: 2 },
  { name: 'max_packet_size below 20', lines: [L, 'max_packet_size 10'], mosquitto: 2 },
  { name: 'sys_interval above 65535', lines: [L, 'sys_interval 70000'], mosquitto: 2 },
  { name: 'an unknown log_dest', lines: [L, 'log_dest printer'], mosquitto: 2 },
  { name: 'an unknown log_type', lines: [L, 'log_type chatter'], mosquitto: 2 },
  { name: 'message_size_limit above the MQTT maximum', lines: [L, 'message_size_limit 300000000'], mosquitto: 2 },
  { name: 'max_inflight_messages above 65535', lines: [L, 'max_inflight_messages 70000'], mosquitto: 2 },
];

/** Where docs/config.md says mqttd differs: proven against mosquitto here. */
const differences: Case[] = [
  { name: 'numbers with a suffix (mosquitto: atoi reads 10k as 10)', lines: [L, 'max_queued_bytes 10k'], mosquitto: 'ok', mqttd: 2 },
  { name: 'a negative queue limit (mosquitto: becomes 0)', lines: [L, 'max_queued_messages -1'], mosquitto: 'ok', mqttd: 2 },
  { name: 'a bridge keepalive below 5 (mosquitto: becomes 5)', lines: [L, ...BRIDGE, 'topic a', 'keepalive_interval 2'], mosquitto: 'ok', mqttd: 5 },
  { name: 'extra words after a value (mosquitto: ignored)', lines: [L, 'allow_anonymous true false'], mosquitto: 'ok', mqttd: 2 },
  { name: 'an unsupported mosquitto option', lines: [L, 'set_tcp_nodelay true'], mosquitto: 'ok', mqttd: 2 },
  { name: 'an unsupported start_type', lines: [L, ...BRIDGE, 'topic a', 'start_type lazy'], mosquitto: 'ok', mqttd: 5 },
  { name: 'a tab between option and value (mosquitto: unknown option)', lines: [L, 'allow_anonymous\ttrue'], mosquitto: 2, mqttd: 'ok' },
  { name: 'an indented comment (mosquitto: unknown option "#")', lines: [L, '  # note'], mosquitto: 2, mqttd: 'ok' },
  { name: 'certfile without keyfile (mosquitto: serves it without TLS)', lines: [L, 'certfile /nonexistent/c.pem'], mosquitto: 'ok', mqttd: 2 },
  { name: 'require_certificate without TLS (mosquitto: ignored)', lines: [L, 'require_certificate true'], mosquitto: 'ok', mqttd: 2 },
  { name: 'a bridge pattern that is not a topic filter (mosquitto: accepted)', lines: [L, ...BRIDGE, 'topic a/#/b'], mosquitto: 'ok', mqttd: 4 },
  { name: 'max_keepalive 0 (mosquitto 2.0: below 10)', lines: [L, 'max_keepalive 0'], mosquitto: 2, mqttd: 'ok' },
];

describe('config files read as real mosquitto 2.0 reads them', () => {
  let available = false;
  let dir = '';
  before(() => {
    available = hasCommand(MOSQUITTO);
    dir = mkdtempSync(join(tmpdir(), 'mqttd-parity-'));
  });

  let n = 0;
  for (const c of [...same, ...differences]) {
    const expectedMqttd = c.mqttd ?? c.mosquitto;
    it(`${c.name}: mosquitto ${c.mosquitto === 'ok' ? 'accepts' : `refuses line ${c.mosquitto}`}, mqttd ${expectedMqttd === 'ok' ? 'accepts' : `refuses line ${expectedMqttd}`}`, async (t) => {
      if (!available) return t.skip('mosquitto is not installed');
      const port = await freePort();
      const port2 = await freePort();
      const file = join(dir, `case${n++}.conf`);
      writeFileSync(file, c.lines.map((l) => l.replace('PORT2', String(port2)).replace('PORT', String(port))).join('\n') + '\n');
      assert.equal(await mosquittoVerdict(file, port), c.mosquitto, 'mosquitto');
      assert.equal(mqttdVerdict(file), expectedMqttd, 'mqttd');
    });
  }
});

/**
 * The limits a router gets: the shipped /etc/config/mqttd and the UCI reader's fallbacks for
 * options left out agree (ROUTER_LIMITS), so deleting a line in LuCI never unbounds a resource.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadUciConfig, ROUTER_LIMITS } from '../../src/config/UciConfig';
import type { BrokerConfig } from '../../src/config/BrokerConfig';
import { INTEGER_RANGES } from '../../src/config/integerRanges';
import { parse } from './configTestKit';

const SHIPPED = resolve(__dirname, '../../../files/etc/config/mqttd');
const lan = new Map([['lan', ['192.168.1.1']]]);
const LISTENER = "config listener 'lan'\n\toption port '1883'\n\toption interface 'lan'\n";
const dir = mkdtempSync(join(tmpdir(), 'mqttd-router-limits-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function limitsOf(c: BrokerConfig) {
  return {
    messageSizeLimit: c.messageSizeLimit,
    maxPacketSize: c.maxPacketSize,
    maxQueuedBytes: c.maxQueuedBytes,
    memoryLimit: c.memoryLimit,
    persistentClientExpiration: c.persistentClientExpiration,
    maxPersistentSessions: c.maxPersistentSessions,
    maxRetainedMessages: c.maxRetainedMessages,
    maxRetainedBytes: c.maxRetainedBytes,
    maxSubscriptionsPerClient: c.maxSubscriptionsPerClient,
  };
}

test('the shipped /etc/config/mqttd sets the router limits', () => {
  assert.deepEqual(limitsOf(loadUciConfig(SHIPPED, lan)), ROUTER_LIMITS);
});

test('a UCI config that leaves the limits out gets the same router limits', () => {
  const path = join(dir, 'bare');
  writeFileSync(path, "config mqttd 'general'\n\toption allow_anonymous '1'\n" + LISTENER);
  assert.deepEqual(limitsOf(loadUciConfig(path, lan)), ROUTER_LIMITS);
});

test("limits set to '0' mean none, persistent_client_expiration included", () => {
  const path = join(dir, 'zero');
  const zero = ['message_size_limit', 'max_packet_size', 'max_queued_bytes', 'memory_limit', 'persistent_client_expiration', 'max_persistent_sessions', 'max_retained_messages', 'max_retained_bytes', 'max_subscriptions_per_client'];
  writeFileSync(path, `config mqttd 'general'\n${zero.map((o) => `\toption ${o} '0'\n`).join('')}${LISTENER}`);
  const c = loadUciConfig(path, lan);
  assert.deepEqual(limitsOf(c), {
    messageSizeLimit: 0,
    maxPacketSize: 0,
    maxQueuedBytes: 0,
    memoryLimit: 0,
    persistentClientExpiration: undefined,
    maxPersistentSessions: 0,
    maxRetainedMessages: 0,
    maxRetainedBytes: 0,
    maxSubscriptionsPerClient: 0,
  });
});

test('each integer option takes the same range in /etc/config/mqttd and in mosquitto.conf: its bounds accepted, one past refused', () => {
  const uciErrors = (option: string, value: number): string => {
    const path = join(dir, `range-${option}`);
    writeFileSync(path, `config mqttd 'general'\n\toption ${option} '${value}'\n${LISTENER}`);
    try {
      loadUciConfig(path, lan);
      return '';
    } catch (err) {
      return String(err);
    }
  };
  const confErrors = (option: string, value: number): string => {
    // listener-scoped in mosquitto.conf: max_connections takes a listener to apply to.
    const text = option === 'max_connections' ? `listener 1883\n${option} ${value}\n` : `${option} ${value}\n`;
    try {
      parse(text);
      return '';
    } catch (err) {
      return String(err);
    }
  };
  for (const [option, [min, max]] of Object.entries(INTEGER_RANGES)) {
    for (const [value, ok] of [[min, true], [max, true], [min - 1, false], [max + 1, false]] as const) {
      // UCI's max_packet_size also takes 0 (MQTT's own limit): UCI cannot unset a default.
      if (option === 'max_packet_size' && value === min - 1) continue;
      const uci = uciErrors(option, value);
      const conf = confErrors(option, value);
      assert.equal(uci === '', ok, `UCI ${option} ${value}: ${uci || 'accepted'}`);
      assert.equal(conf === '', ok, `mosquitto.conf ${option} ${value}: ${conf || 'accepted'}`);
    }
  }
});

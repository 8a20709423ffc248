import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TopicMap } from '../../src/bridge/TopicMap';
import type { BridgeTopicConfig } from '../../src/config/BrokerConfig';

function line(pattern: string, direction: 'in' | 'out' | 'both', localPrefix = '', remotePrefix = '', qos: 0 | 1 | 2 = 0): BridgeTopicConfig {
  return { pattern, direction, qos, localPrefix, remotePrefix };
}

test('prefixes are swapped in each direction (mosquitto: local-prefix + pattern <-> remote-prefix + pattern)', () => {
  const map = new TopicMap([line('sensors/#', 'both', 'home/', 'site1/')]);
  const [route] = map.routes;
  assert.equal(route.localFilter, 'home/sensors/#');
  assert.equal(route.remoteFilter, 'site1/sensors/#');
  assert.equal(route.toRemote('home/sensors/kitchen/t'), 'site1/sensors/kitchen/t');
  assert.deepEqual(map.localTopicOf('site1/sensors/kitchen/t')?.topic, 'home/sensors/kitchen/t');
});

test('an empty prefix ("") leaves that side as the pattern', () => {
  const map = new TopicMap([line('a/#', 'out', '', 'up/'), line('b/#', 'in', 'down/', '')]);
  assert.equal(map.routes[0].toRemote('a/x'), 'up/a/x');
  assert.equal(map.localTopicOf('b/x')?.topic, 'down/b/x');
});

test('an empty pattern maps exactly one topic: the local prefix to the remote prefix', () => {
  const map = new TopicMap([line('', 'both', 'local/state', 'remote/state')]);
  const [route] = map.routes;
  assert.equal(route.localFilter, 'local/state');
  assert.equal(route.remoteFilter, 'remote/state');
  assert.equal(route.toRemote('local/state'), 'remote/state');
  assert.equal(map.localTopicOf('remote/state')?.topic, 'local/state');
  assert.equal(map.localTopicOf('remote/state/more'), undefined);
});

test('incoming messages use the first in/both line whose remote filter matches; out lines never map in', () => {
  const map = new TopicMap([line('x/#', 'out', 'o/', ''), line('x/special', 'in', 'first/', ''), line('x/#', 'in', 'second/', '')]);
  assert.equal(map.localTopicOf('x/special')?.topic, 'first/x/special');
  assert.equal(map.localTopicOf('x/other')?.topic, 'second/x/other');
  assert.equal(map.localTopicOf('y'), undefined);
});

test('subscriptions: one per distinct filter and direction; wildcards never reach $ topics', () => {
  const map = new TopicMap([line('#', 'both'), line('#', 'out', '', 'copy/'), line('$SYS/#', 'in')]);
  assert.deepEqual(map.outgoing().map((r) => r.localFilter), ['#']);
  assert.deepEqual(map.incoming().map((r) => r.remoteFilter), ['#', '$SYS/#']);
  assert.equal(map.localTopicOf('$SYS/broker/uptime')?.route.remoteFilter, '$SYS/#');
});

/**
 * The ACL file governs network clients; a bridge is the broker's own, as in mosquitto
 * (security.c lets bridges through): an ACL that grants anonymous clients nothing must not
 * stop the bridge from carrying messages either way.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { hasCommand } from '../helpers/processes';
import { publishOnce, record, startLocal, until, upstream, type LocalBroker, type Upstream } from './bridgeTestKit';

const haveMosquitto = hasCommand('mosquitto');
let up: Upstream;
let local: LocalBroker;

before(async () => {
  if (!haveMosquitto) return;
  up = await upstream(['allow_anonymous true']);
  await up.start();
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-bridge-acl-'));
  // Only the pattern for the test's own clients: nothing for anonymous or for the bridge's ids.
  writeFileSync(join(dir, 'acl'), 'pattern readwrite clients/%c/#\n');
  local = await startLocal([
    `acl_file ${join(dir, 'acl')}`,
    'connection up',
    `address 127.0.0.1:${up.port}`,
    'restart_timeout 1',
    'topic out/# out 1',
    'topic in/# in 1',
  ]);
});

after(async () => {
  await local?.stop();
  await up?.stop();
});

test('a restrictive acl_file does not block the bridge in either direction', { skip: !haveMosquitto && 'mosquitto is not installed' }, async () => {
  await until(() => local.bridge.state === 'connected', 'the bridge to connect', local.log);
  const remote = await record(up.port, [{ topic: 'out/#', qos: 1 }]);
  try {
    // Published by the broker itself: no network client, so only the bridge's own rights matter.
    local.daemon.broker.publish('out/from-router', 'x', { qos: 1 });
    await until(() => remote.payloads().includes('x'), 'the local message on the remote', local.log);
    await publishOnce(up.port, 'in/from-cloud', 'y', { qos: 1 });
    await until(() => local.bridge.messagesIn === 1, 'the remote message to come in', local.log);
    assert.equal(local.bridge.messagesOut, 1);
  } finally {
    await remote.close();
  }
});

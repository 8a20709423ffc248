/**
 * CONNECT validation and CONNACK codes over raw sockets, for MQTT 3.1, 3.1.1 and 5.0, and
 * the `$SYS` tree as clients see it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type * as mqttPacket from 'mqtt-packet';
import { SysTopics } from '../../src/broker/SysTopics';
import { connectClient, eventually, rawConnect, rawSession, startBroker, type TestBroker } from '../helpers/broker';

let b: TestBroker;
let sys: SysTopics;
before(async () => {
  b = await startBroker({ limits: { maxKeepalive: 100 } });
  sys = new SysTopics(b.broker);
  sys.start(1);
});
after(async () => {
  sys.stop();
  await b.stop();
});

/** Sends a CONNECT and returns the CONNACK (the connection is then closed when refused). */
async function connack(version: 3 | 4 | 5, fields: Partial<mqttPacket.IConnectPacket>): Promise<mqttPacket.IConnackPacket> {
  const peer = await rawConnect(b.port, version);
  peer.sendPacket({
    cmd: 'connect',
    protocolId: version === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion: version,
    clientId: 'c',
    clean: true,
    keepalive: 0,
    ...fields,
  });
  const p = await peer.next();
  assert.equal(p.cmd, 'connack');
  const ack = p as mqttPacket.IConnackPacket;
  const refused = (ack.returnCode ?? ack.reasonCode ?? 0) !== 0;
  if (refused) await peer.closed;
  peer.destroy();
  return ack;
}

test('an unknown protocol level gets CONNACK 0x01 and the connection is closed', async () => {
  const peer = await rawConnect(b.port);
  peer.send([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 6, 2, 0, 0, 0, 0]);
  const p = (await peer.next()) as mqttPacket.IConnackPacket;
  assert.equal(p.cmd, 'connack');
  assert.equal(p.returnCode, 1);
  await peer.closed;
});

test('a protocol name that does not match the level closes the connection', async () => {
  for (const bytes of [
    // "MQTT" with level 3 (3.1 is "MQIsdp")
    [0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 3, 2, 0, 0, 0, 0],
    // "MQTX"
    [0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x58, 4, 2, 0, 0, 0, 0],
  ]) {
    const peer = await rawConnect(b.port);
    peer.send(bytes);
    await peer.closed;
    assert.equal(peer.packets.filter((p) => p.cmd === 'connack' && (p as mqttPacket.IConnackPacket).returnCode === 0).length, 0);
  }
});

test('client id rules: 3.1 needs a non-empty id (longer than 23 accepted, as mosquitto 2.0.11); 3.1.1 needs clean session for an empty id; v5 is assigned one', async () => {
  assert.equal((await connack(3, { clientId: 'x'.repeat(23) })).returnCode, 0);
  assert.equal((await connack(3, { clientId: 'x'.repeat(24) })).returnCode, 0);
  // mqtt-packet will not encode an empty 3.1 id, so this CONNECT is written by hand.
  const empty31 = await rawConnect(b.port, 3);
  empty31.send([0x10, 14, 0, 6, ...Buffer.from('MQIsdp'), 3, 2, 0, 0, 0, 0]);
  assert.equal(((await empty31.next()) as mqttPacket.IConnackPacket).returnCode, 2);
  await empty31.closed;
  assert.equal((await connack(4, { clientId: 'x'.repeat(200) })).returnCode, 0);
  const empty311 = await rawConnect(b.port, 4);
  empty311.send([0x10, 12, 0, 4, ...Buffer.from('MQTT'), 4, 0, 0, 0, 0, 0]);
  assert.equal(((await empty311.next()) as mqttPacket.IConnackPacket).returnCode, 2);
  await empty311.closed;
  assert.equal((await connack(4, { clientId: '', clean: true })).returnCode, 0);
  const v5 = await connack(5, { clientId: '' });
  assert.equal(v5.reasonCode, 0);
  const assigned = v5.properties?.assignedClientIdentifier;
  assert.ok(assigned && assigned.length > 0, 'v5 gets an Assigned Client Identifier');
  // Empty id, Clean Start 0, Session Expiry 10: by hand, mqtt-packet will not encode it.
  const v5Persistent = await rawConnect(b.port, 5);
  v5Persistent.send([0x10, 18, 0, 4, ...Buffer.from('MQTT'), 5, 0, 0, 0, 5, 0x11, 0, 0, 0, 10, 0, 0]);
  const ack5 = (await v5Persistent.next()) as mqttPacket.IConnackPacket;
  assert.equal(ack5.reasonCode, 0, 'v5 allows an empty id even without Clean Start');
  assert.ok(ack5.properties?.assignedClientIdentifier);
  v5Persistent.destroy();
});

test('an empty client id is refused when allow_zero_length_clientid is false', async () => {
  const strict = await startBroker({ limits: { allowZeroLengthClientId: false } });
  try {
    const peer4 = await rawConnect(strict.port, 4);
    peer4.sendPacket({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: '', clean: true, keepalive: 0 });
    assert.equal(((await peer4.next()) as mqttPacket.IConnackPacket).returnCode, 2);
    const peer5 = await rawConnect(strict.port, 5);
    peer5.sendPacket({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: '', clean: true, keepalive: 0 });
    assert.equal(((await peer5.next()) as mqttPacket.IConnackPacket).reasonCode, 0x85);
    await Promise.all([peer4.closed, peer5.closed]);
  } finally {
    await strict.stop();
  }
});

test('v3 keepalive above max_keepalive is refused; within it is accepted', async () => {
  assert.notEqual((await connack(4, { keepalive: 101 })).returnCode, 0);
  assert.equal((await connack(4, { keepalive: 100 })).returnCode, 0);
});

test('refusals answer as mosquitto 2.0 does: "not authorised" (v3 5, v5 0x87) for anonymous and wrong passwords alike', async () => {
  const guarded = await startBroker({
    hooks: {
      authenticate: (r) => (r.username === undefined ? 'not-authorized' : r.password?.toString() === 'right' ? 'ok' : 'bad-credentials'),
    },
  });
  try {
    const ask = async (version: 4 | 5, username?: string, password?: string) => {
      const peer = await rawConnect(guarded.port, version);
      peer.sendPacket({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: version,
        clientId: 'c',
        clean: true,
        keepalive: 0,
        username,
        password: password === undefined ? undefined : Buffer.from(password),
      });
      const p = (await peer.next()) as mqttPacket.IConnackPacket;
      peer.destroy();
      return version === 5 ? p.reasonCode : p.returnCode;
    };
    assert.equal(await ask(4), 5);
    assert.equal(await ask(4, 'u', 'wrong'), 5);
    assert.equal(await ask(4, 'u', 'right'), 0);
    assert.equal(await ask(5), 0x87);
    assert.equal(await ask(5, 'u', 'wrong'), 0x87);
    assert.equal(await ask(5, 'u', 'right'), 0);
  } finally {
    await guarded.stop();
  }
});

test('$SYS: mosquitto\'s topic names are published, retained, and not matched by #', async () => {
  const c = await connectClient(b.url);
  try {
    await c.client.subscribeAsync('#', { qos: 0 });
    await c.client.subscribeAsync('$SYS/broker/#', { qos: 0 });
    const names = new Set<string>();
    const wanted = [
      '$SYS/broker/version',
      '$SYS/broker/uptime',
      '$SYS/broker/clients/connected',
      '$SYS/broker/clients/total',
      '$SYS/broker/clients/maximum',
      '$SYS/broker/messages/received',
      '$SYS/broker/messages/sent',
      '$SYS/broker/publish/messages/received',
      '$SYS/broker/publish/messages/sent',
      '$SYS/broker/bytes/received',
      '$SYS/broker/bytes/sent',
      '$SYS/broker/subscriptions/count',
      '$SYS/broker/retained messages/count',
      '$SYS/broker/load/messages/received/1min',
      '$SYS/broker/load/bytes/sent/15min',
      '$SYS/broker/load/connections/5min',
    ];
    let connected = '';
    while (wanted.some((w) => !names.has(w))) {
      const m = await c.next();
      assert.ok(m.topic.startsWith('$SYS/'), `# must not deliver ${m.topic}`);
      assert.equal(m.packet.retain, true, `${m.topic} is retained`);
      names.add(m.topic);
      if (m.topic === '$SYS/broker/clients/connected') connected = m.payload;
    }
    assert.match(connected, /^\d+$/);
  } finally {
    await c.end();
  }
});

test('$SYS values follow the broker: clients connected, subscriptions, retained messages, messages received', async () => {
  const watcher = await connectClient(b.url);
  const values = new Map<string, string>();
  watcher.client.on('message', (t, p) => values.set(t, p.toString()));
  await watcher.client.subscribeAsync('$SYS/broker/#', { qos: 0 });
  const others = [await connectClient(b.url), await connectClient(b.url)];
  await others[0].client.subscribeAsync(['sysv/a', 'sysv/b'], { qos: 0 });
  await others[1].client.publishAsync('sysv/kept', 'r', { qos: 1, retain: true });
  const expected = {
    connected: b.broker.getClientCount(),
    subscriptions: b.broker.subscriptions.count,
    retained: b.broker.retained.size,
  };
  assert.ok(expected.connected >= 3 && expected.subscriptions >= 3 && expected.retained >= 1);
  const received = Number(values.get('$SYS/broker/messages/received') ?? 0);
  sys.publish();
  await eventually(
    () =>
      values.get('$SYS/broker/clients/connected') === String(expected.connected) &&
      values.get('$SYS/broker/subscriptions/count') === String(expected.subscriptions) &&
      values.get('$SYS/broker/retained messages/count') === String(expected.retained) &&
      Number(values.get('$SYS/broker/messages/received')) > received,
    `$SYS values ${JSON.stringify(expected)}, got ${JSON.stringify([...values].filter(([k]) => !k.includes('/load/')))}`,
  );
  await others[1].client.publishAsync('sysv/kept', '', { qos: 1, retain: true });
  await Promise.all([watcher.end(), ...others.map((o) => o.end())]);
});

test('clients cannot publish to $SYS: v5 gets 0x87, v3 is acknowledged and nothing is delivered', async () => {
  const watcher = await connectClient(b.url);
  const v5 = await connectClient(b.url, { protocolVersion: 5 });
  const v4 = await connectClient(b.url);
  try {
    await watcher.client.subscribeAsync(['$SYS/fake', 'sys-marker'], { qos: 1 });
    const puback = await new Promise<mqttPacket.IPubackPacket>((resolve) =>
      v5.client.publish('$SYS/fake', 'x', { qos: 1 }, (_e, p) => resolve(p as mqttPacket.IPubackPacket)),
    );
    assert.equal(puback.reasonCode, 0x87);
    await v4.client.publishAsync('$SYS/fake', 'y', { qos: 1, retain: true });
    await v4.client.publishAsync('sys-marker', 'm', { qos: 1 });
    assert.equal((await watcher.next()).topic, 'sys-marker');
    assert.equal(b.broker.retained.get('$SYS/fake'), undefined);
  } finally {
    await Promise.all([watcher.end(), v5.end(), v4.end()]);
  }
});

test('a second CONNECT on a connection is a protocol violation; other clients are not affected', async () => {
  const other = await rawSession(b.port, 'bystander', 4);
  const peer = await rawSession(b.port, 'twice', 4);
  peer.sendPacket({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'twice', clean: true, keepalive: 0 });
  await peer.closed;
  other.sendPacket({ cmd: 'pingreq' });
  assert.equal((await other.next()).cmd, 'pingresp');
  other.destroy();
});

/**
 * The bridge's outgoing side keeps MQTT's delivery promise across reconnects and restarts:
 * unacknowledged messages go again with their own packet id and DUP set, a QoS 2 message the
 * remote already PUBREC'ed only gets its PUBREL [MQTT-4.4.0-1], and the queue (packet ids
 * included) survives an mqttd restart. Then a QoS 2 stream into Debian's mosquitto across an
 * mqttd restart (with a full queue) and an upstream restart, counted at the remote: exactly once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mqttPacket from 'mqtt-packet';
import { MqttClient } from '../../src/client/MqttClient';
import { connectClient, startMqttd, type MqttdProcess } from '../helpers/broker';
import { hasCommand, waitForOutput } from '../helpers/processes';
import { persistentSubscriber, until, upstream } from './bridgeTestKit';

/** One connection to the scripted remote: the packets the bridge sent, and a way to answer. */
interface RemoteConnection {
  socket: Socket;
  packets: mqttPacket.Packet[];
  send(packet: mqttPacket.Packet): void;
}

/** A TCP server playing the remote broker's side by hand, so the test sees every packet id and DUP flag. */
async function scriptedRemote(sessionPresent: (n: number) => boolean): Promise<{ server: Server; port: number; connections: RemoteConnection[] }> {
  const connections: RemoteConnection[] = [];
  const server = createServer((socket) => {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const connection: RemoteConnection = {
      socket,
      packets: [],
      send: (packet) => socket.write(mqttPacket.generate(packet, { protocolVersion: 4 })),
    };
    const n = connections.push(connection) - 1;
    parser.on('packet', (packet: mqttPacket.Packet) => {
      connection.packets.push(packet);
      if (packet.cmd === 'connect') connection.send({ cmd: 'connack', returnCode: 0, sessionPresent: sessionPresent(n) });
      if (packet.cmd === 'pingreq') connection.send({ cmd: 'pingresp' });
    });
    socket.on('data', (d) => parser.parse(d));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0, connections };
}

async function publishLocal(port: number, topic: string, payload: string, qos: 1 | 2): Promise<void> {
  const client = new MqttClient({ host: '127.0.0.1', port, protocolVersion: 4, clientId: '', clean: true, keepalive: 60 });
  assert.ok((await client.connect()).ok);
  const result = await client.publish(topic, Buffer.from(payload), { qos });
  assert.ok(result.ok && result.value.reasonCode === 0);
  await client.disconnect();
}

const publishes = (c: RemoteConnection): mqttPacket.IPublishPacket[] =>
  c.packets.filter((p): p is mqttPacket.IPublishPacket => p.cmd === 'publish');

/** mqttd with a store and a journal in `dir`, bridged (persistent session) to the scripted remote. */
function bridgedConfig(dir: string, remotePort: number, topic: string): string[] {
  return [
    'allow_anonymous true',
    'persistence true',
    `persistence_location ${dir}/`,
    `persistence_journal ${dir}/journal/`,
    'connection remote',
    `address 127.0.0.1:${remotePort}`,
    'cleansession false',
    'notifications false',
    'restart_timeout 1',
    topic,
  ];
}

for (const restart of [undefined, 'SIGTERM', 'SIGKILL'] as const) {
  test(`after a reconnect${restart ? ` and an mqttd restart (${restart})` : ''}: the unacknowledged QoS 1 message goes again with its packet id and DUP, the PUBREC'ed QoS 2 one only gets PUBREL`, async () => {
    const remote = await scriptedRemote((n) => n > 0);
    const dir = mkdtempSync(join(tmpdir(), 'mqttd-resend-'));
    const lines = bridgedConfig(dir, remote.port, 'topic w/# out 2');
    let d: MqttdProcess = await startMqttd(lines, { dir });
    try {
      await until(() => remote.connections.length === 1 && remote.connections[0]!.packets.length > 0, 'the bridge to connect');
      const first = remote.connections[0]!;
      await publishLocal(d.port, 'w/1', 'one', 1);
      await publishLocal(d.port, 'w/2', 'two', 2);
      await until(() => publishes(first).length === 2, 'both messages at the remote', () => JSON.stringify(first.packets));
      const [p1, p2] = publishes(first) as [mqttPacket.IPublishPacket, mqttPacket.IPublishPacket];
      assert.equal(p1.dup, false);
      assert.equal(p2.qos, 2);
      first.send({ cmd: 'pubrec', messageId: p2.messageId! }); // QoS 2 received; QoS 1 left unacknowledged
      await until(() => first.packets.some((p) => p.cmd === 'pubrel'), 'the PUBREL');
      if (restart) {
        // The bridge queue (its packet ids, the PUBREC) must come back from the store (SIGTERM)
        // or from the journal (kill -9).
        d.process.child.kill(restart);
        await d.process.exited;
        first.socket.destroy();
        d = await startMqttd(lines, { dir, port: d.port });
      } else {
        first.socket.destroy();
      }
      await until(() => remote.connections.length === 2, 'the bridge to reconnect', () => d.process.output());
      const second = remote.connections[1]!;
      await until(
        () => publishes(second).length >= 1 && second.packets.some((p) => p.cmd === 'pubrel'),
        'the resend and the PUBREL',
        () => JSON.stringify(second.packets),
      );
      const resent = publishes(second);
      assert.equal(resent.length, 1, 'only the QoS 1 message is published again');
      assert.equal(resent[0]!.topic, 'w/1');
      assert.equal(resent[0]!.messageId, p1.messageId, 'the original packet id');
      assert.equal(resent[0]!.dup, true, 'DUP set');
      const pubrel = second.packets.find((p) => p.cmd === 'pubrel') as mqttPacket.IPubrelPacket;
      assert.equal(pubrel.messageId, p2.messageId);
      second.send({ cmd: 'puback', messageId: p1.messageId! });
      second.send({ cmd: 'pubcomp', messageId: p2.messageId! });
      // Finished: nothing is sent a third time after another reconnect.
      await new Promise((r) => setTimeout(r, 200));
      second.socket.destroy();
      await until(() => remote.connections.length === 3 && remote.connections[2]!.packets.length > 0, 'a third connection');
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(remote.connections[2]!.packets.map((p) => p.cmd), ['connect']);
    } finally {
      await d.stop();
      for (const c of remote.connections) c.socket.destroy();
      remote.server.close();
    }
  });
}

test('a QoS 2 message from the remote held between our PUBREC and its PUBREL survives kill -9 and is delivered once, at the PUBREL', async () => {
  const remote = await scriptedRemote((n) => n > 0);
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-held-'));
  const lines = bridgedConfig(dir, remote.port, 'topic in/# in 2');
  let d: MqttdProcess = await startMqttd(lines, { dir });
  try {
    await until(() => remote.connections[0]?.packets.some((p) => p.cmd === 'subscribe') === true, 'the bridge to subscribe');
    const first = remote.connections[0]!;
    const subscribe = first.packets.find((p) => p.cmd === 'subscribe') as mqttPacket.ISubscribePacket;
    first.send({ cmd: 'suback', messageId: subscribe.messageId!, granted: [2] });
    first.send({ cmd: 'publish', topic: 'in/held', payload: Buffer.from('once'), qos: 2, retain: true, dup: false, messageId: 77 });
    await until(() => first.packets.some((p) => p.cmd === 'pubrec'), 'the PUBREC');
    // Not delivered yet (it is, at the PUBREL), and now mqttd dies.
    d.process.child.kill('SIGKILL');
    await d.process.exited;
    first.socket.destroy();
    d = await startMqttd(lines, { dir, port: d.port });
    await until(() => remote.connections.length === 2 && remote.connections[1]!.packets.some((p) => p.cmd === 'subscribe'), 'the bridge to come back');
    const second = remote.connections[1]!;
    const again = second.packets.find((p) => p.cmd === 'subscribe') as mqttPacket.ISubscribePacket;
    second.send({ cmd: 'suback', messageId: again.messageId!, granted: [2] });
    second.send({ cmd: 'pubrel', messageId: 77 });
    await until(() => second.packets.some((p) => p.cmd === 'pubcomp'), 'the PUBCOMP');
    const reader = await connectClient(`mqtt://127.0.0.1:${d.port}`);
    await reader.client.subscribeAsync('in/#', { qos: 2 });
    const got = await reader.next();
    assert.equal(`${got.topic}=${got.payload}`, 'in/held=once');
    assert.equal(await reader.nothingWithin(300), true, 'delivered once');
    await reader.end();
  } finally {
    await d.stop();
    for (const c of remote.connections) c.socket.destroy();
    remote.server.close();
  }
});

const haveMosquitto = hasCommand('mosquitto');

test('a QoS 2 stream into mosquitto across an mqttd restart (with a full queue) and an upstream restart arrives exactly once', { skip: !haveMosquitto && 'mosquitto is not installed' }, async (t) => {
  const COUNT = 300;
  const up = await upstream(['allow_anonymous true', 'persistence true', 'persistence_location %DIR%/']);
  await up.start();
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-bridge-q2-'));
  const lines = [
    'allow_anonymous true',
    'persistence true',
    `persistence_location ${dir}/`,
    `persistence_journal ${dir}/journal/`,
    'connection up',
    `address 127.0.0.1:${up.port}`,
    'cleansession false',
    'remote_clientid router-q2',
    'restart_timeout 1',
    'topic q2/# out 2',
  ];
  let d: MqttdProcess = await startMqttd(lines, { dir });
  const sink = persistentSubscriber(up.port, 'cloud-q2', 'q2/#', 2);
  const publisher = new MqttClient({ host: '127.0.0.1', port: d.port, protocolVersion: 4, clientId: 'q2-pub', clean: true, keepalive: 60 });
  let pub: MqttClient = publisher;
  const publishRange = async (from: number, to: number): Promise<void> => {
    for (let i = from; i < to; i++) {
      const result = await pub.publish(`q2/${i}`, Buffer.from(String(i)), { qos: 2 });
      assert.ok(result.ok, `PUBCOMP for ${i}`);
    }
  };
  const count = (): Map<number, number> => {
    const seen = new Map<number, number>();
    for (const m of sink.messages) seen.set(Number(m.payload.toString()), (seen.get(Number(m.payload.toString())) ?? 0) + 1);
    return seen;
  };
  try {
    await sink.ready;
    await waitForOutput(d.process, /Bridge up connected/);
    assert.ok((await pub.connect()).ok);
    await publishRange(0, 100);
    // Upstream goes away: the next messages wait in the bridge queue...
    await up.stop();
    await publishRange(100, 200);
    await pub.disconnect();
    // ...and mqttd restarts with that queue full.
    await d.stop();
    d = await startMqttd(lines, { dir, port: d.port });
    pub = new MqttClient({ host: '127.0.0.1', port: d.port, protocolVersion: 4, clientId: 'q2-pub', clean: true, keepalive: 60 });
    assert.ok((await pub.connect()).ok);
    await publishRange(200, 250);
    await up.start();
    await publishRange(250, COUNT);
    await until(() => count().size === COUNT, 'every message at the remote', () => `${count().size} of ${COUNT}\n${d.process.output()}`, 30000);
    // Late duplicates would arrive right after: give them the chance.
    await new Promise((r) => setTimeout(r, 1000));
    const seen = count();
    const duplicated = [...seen].filter(([, n]) => n > 1).map(([i]) => i);
    t.diagnostic(`${COUNT} QoS 2 messages, ${sink.messages.length} received at the remote, ${duplicated.length} duplicated`);
    assert.deepEqual(duplicated, [], 'exactly once');
    assert.equal(seen.size, COUNT);
  } finally {
    pub.destroy();
    sink.stop();
    await d.stop();
    await up.stop();
  }
});

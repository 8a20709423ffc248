/**
 * MQTT over WebSocket at the frame level: paths, the `mqtt` subprotocol, packets split
 * across frames and several packets in one frame, and a plain HTTP request.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import * as mqttPacket from 'mqtt-packet';
import WebSocket from 'ws';
import { connectClient, startBroker, type TestBroker } from '../helpers/broker';

let b: TestBroker;
before(async () => {
  b = await startBroker({ websockets: true });
});
after(async () => {
  await b.stop();
});

/** A WebSocket client that collects the MQTT packets the broker sends. */
async function wsPeer(path: string): Promise<{ ws: WebSocket; protocol: string; next(): Promise<mqttPacket.Packet> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${b.wsPort}${path}`, 'mqtt');
  await new Promise<void>((r, j) => {
    ws.once('open', () => r());
    ws.once('error', j);
  });
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const packets: mqttPacket.Packet[] = [];
  parser.on('packet', (p: mqttPacket.Packet) => packets.push(p));
  ws.on('message', (data: Buffer) => parser.parse(data));
  let taken = 0;
  return {
    ws,
    protocol: ws.protocol,
    async next() {
      const deadline = Date.now() + 5000;
      while (taken >= packets.length) {
        if (Date.now() > deadline) throw new Error('no packet over the WebSocket');
        await new Promise((r) => setTimeout(r, 10));
      }
      return packets[taken++];
    },
  };
}

const connect = (clientId: string) =>
  mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 0 });

for (const path of ['/', '/mqtt']) {
  test(`path ${path}: subprotocol mqtt is chosen, a CONNECT split over frames and packets sharing a frame work`, async () => {
    const watcher = await connectClient(b.url);
    await watcher.client.subscribeAsync('ws/#', { qos: 1 });
    const peer = await wsPeer(path);
    assert.equal(peer.protocol, 'mqtt');
    const bytes = connect(`frames${path.length}`);
    peer.ws.send(bytes.subarray(0, 3));
    peer.ws.send(bytes.subarray(3));
    assert.equal((await peer.next()).cmd, 'connack');
    const two = Buffer.concat([
      mqttPacket.generate({ cmd: 'publish', topic: 'ws/a', payload: Buffer.from('1'), qos: 0, retain: false, dup: false }),
      mqttPacket.generate({ cmd: 'publish', topic: 'ws/b', payload: Buffer.from('2'), qos: 1, messageId: 9, retain: false, dup: false }),
    ]);
    peer.ws.send(two);
    const ack = (await peer.next()) as mqttPacket.IPubackPacket;
    assert.deepEqual([ack.cmd, ack.messageId], ['puback', 9]);
    assert.deepEqual([(await watcher.next()).topic, (await watcher.next()).topic], ['ws/a', 'ws/b']);
    peer.ws.close();
    await watcher.end();
  });
}

test('a plain HTTP request to the WebSocket port gets a short answer, not a hang', async () => {
  const status = await new Promise<number>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: b.wsPort, path: '/' }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(status, 426);
});

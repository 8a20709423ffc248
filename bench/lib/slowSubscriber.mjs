// The slow side of the `slow-subscriber` scenario, in the harness: a QoS 1 subscriber that
// acknowledges one message every 3 s (an ESP8266 on weak Wi-Fi), fed by a publisher of its
// own topic at a steady rate. Raw sockets and mqtt-packet, so the harness itself stays light.
import { connect } from 'node:net';
import mqtt from 'mqtt-packet';

function client(port, clientId, onPacket) {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const parser = mqtt.parser({ protocolVersion: 4 });
    const state = { socket, closedByBroker: false, stopping: false };
    parser.on('packet', (p) => {
      if (p.cmd === 'connack') resolve(state);
      else onPacket(p, state);
    });
    socket.on('data', (d) => parser.parse(d));
    socket.on('error', reject);
    socket.on('close', () => {
      if (!state.stopping) state.closedByBroker = true;
    });
    socket.write(mqtt.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 60 }));
  });
}

/** Starts the slow subscriber and its publisher; `stop()` ends both and says whether the broker closed either. */
export async function startSlowSubscriber(port, { ackEveryMs = 3000, publishRate = 200, payload = 64 } = {}) {
  const pending = [];
  const sub = await client(port, 'bench-slow-sub', (p) => {
    if (p.cmd === 'publish' && p.qos === 1) pending.push(p.messageId);
  });
  sub.socket.write(mqtt.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'slow/#', qos: 1 }] }));
  const acker = setInterval(() => {
    const id = pending.shift();
    if (id !== undefined) sub.socket.write(mqtt.generate({ cmd: 'puback', messageId: id }));
  }, ackEveryMs);
  const pub = await client(port, 'bench-slow-pub', () => {});
  const body = Buffer.alloc(payload, 0x73);
  let id = 0;
  const publisher = setInterval(() => {
    for (let i = 0; i < publishRate / 100; i++) {
      id = (id % 65535) + 1;
      pub.socket.write(mqtt.generate({ cmd: 'publish', topic: 'slow/data', payload: body, qos: 1, messageId: id, retain: false, dup: false }));
    }
  }, 10);
  return {
    stop() {
      clearInterval(acker);
      clearInterval(publisher);
      const closed = [sub, pub].filter((c) => c.closedByBroker).length;
      for (const c of [sub, pub]) {
        c.stopping = true;
        c.socket.destroy();
      }
      return { disconnected: closed, unacked: pending.length };
    },
  };
}

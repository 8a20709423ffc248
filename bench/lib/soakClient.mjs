// A small MQTT client for the soak attacks: raw packets over TCP (mqtt-packet), from any
// loopback address, with a timeout on every wait. Attacks need to send what real clients
// would not (one frame of 90 MiB, 30 KB properties, half a packet) and to count answers.
import { connect as netConnect } from 'node:net';
import mqttPacket from 'mqtt-packet';

export const USER = { username: 'user', password: Buffer.from('user-password') };
export const VICTIM = 'victim';

export function rawClient(port, { localAddress, protocolVersion = 4 } = {}) {
  const socket = netConnect({ port, host: '127.0.0.1', localAddress });
  socket.setNoDelay(true);
  const parser = mqttPacket.parser({ protocolVersion });
  const waiters = [];
  const client = {
    socket,
    protocolVersion,
    closed: false,
    onPacket: undefined,
    send(packet) {
      if (!socket.destroyed) socket.write(mqttPacket.generate(packet, { protocolVersion }));
    },
    /** Next packet of this type (or any when cmd is undefined); null on close or timeout. */
    wait(cmd, timeoutMs = 10000) {
      return new Promise((resolve) => {
        const w = { cmd, resolve, timer: setTimeout(() => done(null), timeoutMs) };
        const done = (p) => {
          clearTimeout(w.timer);
          const i = waiters.indexOf(w);
          if (i >= 0) waiters.splice(i, 1);
          resolve(p);
        };
        w.done = done;
        if (client.closed) return done(null);
        waiters.push(w);
      });
    },
    end() {
      socket.destroy();
    },
  };
  parser.on('packet', (p) => {
    client.onPacket?.(p);
    const w = waiters.find((x) => x.cmd === undefined || x.cmd === p.cmd);
    if (w) w.done(p);
  });
  parser.on('error', () => socket.destroy());
  socket.on('data', (d) => parser.parse(d));
  socket.on('error', () => undefined);
  socket.on('close', () => {
    client.closed = true;
    for (const w of [...waiters]) w.done(null);
  });
  client.ready = new Promise((resolve) => {
    socket.once('connect', () => resolve(true));
    socket.once('error', () => resolve(false));
  });
  return client;
}

/**
 * Connects and waits for CONNACK. Resolves { client, code, ms }: code 0 accepted, a refusal
 * code, 'closed' (no CONNACK) or 'timeout'.
 */
export async function login(port, options = {}) {
  const { protocolVersion = 4, timeoutMs = 20000, localAddress, ...connect } = options;
  const started = performance.now();
  const client = rawClient(port, { localAddress, protocolVersion });
  if (!(await client.ready)) return { client, code: 'closed', ms: performance.now() - started };
  client.send({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion,
    clean: true,
    keepalive: 60,
    ...connect,
  });
  const ack = await client.wait('connack', timeoutMs);
  const ms = performance.now() - started;
  if (!ack) return { client, code: client.closed ? 'closed' : 'timeout', ms };
  return { client, code: protocolVersion === 5 ? ack.reasonCode ?? 0 : ack.returnCode ?? 0, ms };
}

/** Publishes QoS 1 messages with a window of in-flight ones; counts refusals (reason ≥ 0x80) and losses. */
export async function publishMany(client, messages, window = 50) {
  let next = 1;
  let refused = 0;
  let unanswered = 0;
  const inflight = new Map();
  let wake;
  const freed = () => new Promise((r) => (wake = r));
  const settle = (id, code) => {
    const entry = inflight.get(id);
    if (!entry) return;
    inflight.delete(id);
    clearTimeout(entry.timer);
    if (code === undefined) unanswered++;
    else if (code >= 0x80) refused++;
    entry.resolve();
    wake?.();
  };
  client.onPacket = (p) => {
    if (p.cmd === 'puback') settle(p.messageId, p.reasonCode ?? 0);
  };
  client.socket.once('close', () => {
    for (const id of [...inflight.keys()]) settle(id, undefined);
    wake?.();
  });
  const pending = [];
  for (const m of messages) {
    while (inflight.size >= window && !client.closed) await freed();
    if (client.closed) break;
    const id = next;
    next = next === 65535 ? 1 : next + 1;
    pending.push(
      new Promise((resolve) => {
        inflight.set(id, { resolve, timer: setTimeout(() => settle(id, undefined), 15000) });
      }),
    );
    client.send({ cmd: 'publish', qos: 1, messageId: id, dup: false, retain: false, ...m });
  }
  await Promise.all(pending);
  return { refused, unanswered, closed: client.closed };
}

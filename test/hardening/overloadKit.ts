/** Small raw-socket clients and a heap meter for the overload and fault tests. */
import { connect as netConnect, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as mqttPacket from 'mqtt-packet';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Heap in use after a full collection, in KiB: what is really still referenced. */
export function heapKiB(): number {
  gc();
  gc();
  return Math.round(process.memoryUsage().heapUsed / 1024);
}

export interface ConnackResult {
  /** The CONNACK return code (v3/v4), or 'closed' if the broker closed without one. */
  outcome: number | 'closed';
  ms: number;
}

/** Opens a socket (from `localAddress`, e.g. 127.0.0.2) and sends bytes. */
export function openSocket(port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ port, host: '127.0.0.1', localAddress });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

export function connectPacket(clientId: string, username?: string, password?: string): Buffer {
  return mqttPacket.generate({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clientId,
    clean: true,
    keepalive: 0,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password: Buffer.from(password) } : {}),
  });
}

/** Sends CONNECT and resolves with the CONNACK code, or 'closed' when none came. */
export async function tryConnect(port: number, clientId: string, options: { localAddress?: string; username?: string; password?: string } = {}): Promise<ConnackResult & { socket: Socket }> {
  const started = Date.now();
  let socket: Socket;
  try {
    socket = await openSocket(port, options.localAddress);
  } catch {
    return { outcome: 'closed', ms: Date.now() - started, socket: netConnect(1, '127.0.0.1').on('error', () => undefined) };
  }
  return new Promise((resolve) => {
    let data = Buffer.alloc(0);
    let done = false;
    const finish = (outcome: number | 'closed') => {
      if (done) return;
      done = true;
      resolve({ outcome, ms: Date.now() - started, socket });
    };
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      if (data.length >= 4 && data[0] === 0x20) finish(data[3]);
    });
    socket.once('close', () => finish('closed'));
    socket.write(connectPacket(clientId, options.username, options.password));
  });
}

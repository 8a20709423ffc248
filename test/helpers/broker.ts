/**
 * One-line brokers for tests: an in-process Broker + MqttServer on a free port, or a real
 * `node dist/mqttd.js -c <conf>` process. Plus small client-side helpers (MQTT.js message
 * queues and a raw-socket MQTT peer) shared by the broker, protocol and integration tests.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as mqttPacket from 'mqtt-packet';
import type { IClientOptions, IConnackPacket, MqttClient, IPublishPacket } from 'mqtt';
import { connect } from 'mqtt';
import { Broker, type BrokerOptions } from '../../src/broker/Broker';
import { defaultListener, type ListenerConfig } from '../../src/config/BrokerConfig';
import { MqttServer } from '../../src/server/MqttServer';
import { freePort, waitForPort } from './ports';
import { startProcess, waitForOutput, type RunningProcess } from './processes';

export interface TestBroker {
  broker: Broker;
  server: MqttServer;
  /** TCP port on 127.0.0.1. */
  port: number;
  /** WebSocket port on 127.0.0.1 (when asked for). */
  wsPort: number;
  url: string;
  wsUrl: string;
  stop(): Promise<void>;
}

/** An in-process broker on 127.0.0.1 (TCP, and WebSocket when `websockets` is set). */
export async function startBroker(
  options: BrokerOptions & { websockets?: boolean; listener?: Partial<ListenerConfig> } = {},
): Promise<TestBroker> {
  const broker = new Broker(options);
  const server = new MqttServer(broker);
  const tcp = await server.listen({ ...defaultListener(0), bindAddress: '127.0.0.1', ...options.listener });
  const port = tcp.addresses()[0].port;
  let wsPort = 0;
  if (options.websockets) {
    const ws = await server.listen({ ...defaultListener(0), bindAddress: '127.0.0.1', protocol: 'websockets' });
    wsPort = ws.addresses()[0].port;
  }
  return {
    broker,
    server,
    port,
    wsPort,
    url: `mqtt://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${wsPort}/mqtt`,
    stop: () => server.close(),
  };
}

export const MQTTD = resolve(__dirname, '../../../dist/mqttd.js');

export interface MqttdProcess {
  port: number;
  dir: string;
  confPath: string;
  process: RunningProcess;
  stop(): Promise<void>;
}

/**
 * Starts `node dist/mqttd.js -c <dir>/mqttd.conf` with `listener <port> 127.0.0.1` and the
 * given lines. `%DIR%` in a line is replaced with the test directory. Resolves once it runs.
 */
export async function startMqttd(
  lines: string[],
  options: { dir?: string; port?: number; extraArgs?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<MqttdProcess> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'mqttd-test-'));
  const port = options.port ?? (await freePort());
  const confPath = join(dir, 'mqttd.conf');
  const text = [`listener ${port} 127.0.0.1`, ...lines].map((l) => l.replaceAll('%DIR%', dir)).join('\n') + '\n';
  writeFileSync(confPath, text);
  const env = options.env && { ...process.env, ...options.env };
  const p = startProcess(process.execPath, [MQTTD, '-c', confPath, ...(options.extraArgs ?? [])], { env });
  await waitForOutput(p, /mqttd version \S+ running/);
  await waitForPort(port);
  return { port, dir, confPath, process: p, stop: () => p.stop() };
}

// ---- MQTT.js helpers --------------------------------------------------------------------

export interface Received {
  topic: string;
  payload: string;
  packet: IPublishPacket;
}

/** MQTT.js client whose messages are queued so tests can await them in order. */
export interface TestClient {
  client: MqttClient;
  /** Next message (rejects after timeoutMs with what was received so far). */
  next(timeoutMs?: number): Promise<Received>;
  /** True when no message (beyond those already taken) arrived within ms: for "nothing comes" checks. */
  nothingWithin(ms: number): Promise<boolean>;
  received: Received[];
  /** The CONNACK that accepted the connection (set by connectClient). */
  connack: IConnackPacket | undefined;
  end(): Promise<void>;
}

export function wrapClient(client: MqttClient): TestClient {
  const received: Received[] = [];
  let waiter: (() => void) | undefined;
  let taken = 0;
  // Errors after CONNACK (a reset socket) show as 'close'; an unheard 'error' would throw.
  client.on('error', () => undefined);
  client.on('message', (topic, payload, packet) => {
    received.push({ topic, payload: payload.toString(), packet });
    waiter?.();
  });
  const next = async (timeoutMs = 5000): Promise<Received> => {
    const deadline = Date.now() + timeoutMs;
    while (taken >= received.length) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no message within ${timeoutMs} ms (had ${received.map((r) => r.topic).join(', ')})`);
      await new Promise<void>((resolveWait) => {
        const t = setTimeout(resolveWait, left);
        waiter = () => {
          clearTimeout(t);
          resolveWait();
        };
      });
      waiter = undefined;
    }
    return received[taken++];
  };
  return {
    client,
    received,
    connack: undefined,
    next,
    async nothingWithin(ms) {
      await new Promise((r) => setTimeout(r, ms));
      return received.length === taken;
    },
    end: () => client.endAsync(false).then(() => undefined),
  };
}

/**
 * Connects MQTT.js (no reconnects, so a refused client fails instead of retrying). The
 * message queue is attached before CONNECT, so messages a session had queued are not missed.
 */
export function connectClient(url: string, options: IClientOptions = {}): Promise<TestClient> {
  const client = connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
  const wrapped = wrapClient(client);
  return new Promise((resolveConnect, reject) => {
    const onError = (err: Error) => fail(err);
    const onClose = () => fail(new Error('connection closed before CONNACK'));
    const fail = (err: Error) => {
      client.off('error', onError);
      client.off('close', onClose);
      client.end(true);
      reject(err);
    };
    client.once('connect', (connack) => {
      client.off('error', onError);
      client.off('close', onClose);
      wrapped.connack = connack;
      resolveConnect(wrapped);
    });
    client.once('error', onError);
    client.once('close', onClose);
  });
}

/** Resolves when the client's connection closes. */
export function closed(client: MqttClient): Promise<void> {
  return new Promise((r) => {
    if (!client.connected && (client as unknown as { disconnected: boolean }).disconnected) return r();
    client.once('close', () => r());
  });
}

// ---- Raw MQTT over node:net --------------------------------------------------------------

/** A socket that speaks raw bytes and parses what the broker answers. */
export interface RawPeer {
  socket: Socket;
  packets: mqttPacket.Packet[];
  /** What mqtt-packet could not parse of the broker's output (should stay empty). */
  parseErrors: string[];
  send(bytes: Buffer | number[]): void;
  sendPacket(packet: mqttPacket.Packet, protocolVersion?: number): void;
  /** Next packet from the broker (rejects if the socket closes first or on timeout). */
  next(timeoutMs?: number): Promise<mqttPacket.Packet>;
  /** Resolves when the broker closes the connection. */
  closed: Promise<void>;
  isClosed(): boolean;
  destroy(): void;
}

export async function rawConnect(port: number, protocolVersion = 4): Promise<RawPeer> {
  const socket = netConnect(port, '127.0.0.1');
  await new Promise<void>((r, j) => {
    socket.once('connect', r);
    socket.once('error', j);
  });
  const parser = mqttPacket.parser({ protocolVersion });
  const packets: mqttPacket.Packet[] = [];
  const parseErrors: string[] = [];
  let taken = 0;
  let wake: (() => void) | undefined;
  let isClosed = false;
  parser.on('packet', (p: mqttPacket.Packet) => {
    packets.push(p);
    wake?.();
  });
  // A packet the test's parser rejects ends the connection like a strict client would.
  parser.on('error', (err: Error) => {
    parseErrors.push(err.message);
    socket.destroy();
  });
  socket.on('data', (d) => parser.parse(d));
  socket.on('error', () => undefined);
  const closedPromise = new Promise<void>((r) =>
    socket.once('close', () => {
      isClosed = true;
      wake?.();
      r();
    }),
  );
  return {
    socket,
    packets,
    parseErrors,
    send: (bytes) => void socket.write(Buffer.from(bytes)),
    sendPacket: (packet, v = protocolVersion) => void socket.write(mqttPacket.generate(packet, { protocolVersion: v })),
    async next(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (taken >= packets.length) {
        if (isClosed) throw new Error('connection closed before the next packet');
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no packet within ${timeoutMs} ms`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, left);
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
        wake = undefined;
      }
      return packets[taken++];
    },
    closed: closedPromise,
    isClosed: () => isClosed,
    destroy: () => socket.destroy(),
  };
}

/** A raw peer that has sent CONNECT and received CONNACK. */
export async function rawSession(
  port: number,
  clientId: string,
  protocolVersion = 4,
  extra: Partial<mqttPacket.IConnectPacket> = {},
): Promise<RawPeer> {
  const peer = await rawConnect(port, protocolVersion);
  peer.sendPacket({
    cmd: 'connect',
    protocolId: protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion: protocolVersion as 3 | 4 | 5,
    clientId,
    clean: true,
    keepalive: 0,
    ...extra,
  });
  const connack = await peer.next();
  if (connack.cmd !== 'connack') throw new Error(`expected CONNACK, got ${connack.cmd}`);
  return peer;
}

/** Waits (polling) until `check` is true; fails with `what` after timeoutMs. */
export async function eventually(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** SUBSCRIBE through MQTT.js and return the SUBACK's codes, refusals (≥ 0x80) included. */
export function subackCodes(client: MqttClient, filter: string, qos: 0 | 1 | 2 = 1): Promise<number[]> {
  return new Promise((resolveCodes, reject) =>
    client.subscribe(filter, { qos }, (err, granted) => {
      const packet = (err as { packet?: mqttPacket.ISubackPacket } | null)?.packet;
      if (packet) resolveCodes(packet.granted as number[]);
      else if (err) reject(err);
      else resolveCodes((granted ?? []).map((g) => g.qos));
    }),
  );
}

/** Waits until `pattern` has appeared at least `times` times in a process's output. */
export async function waitForCount(p: RunningProcess, pattern: RegExp, times: number, timeoutMs = 20000): Promise<void> {
  const global = new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : pattern.flags + 'g');
  await eventually(() => (p.output().match(global) ?? []).length >= times, `${times} × ${pattern}:\n${p.output()}`, timeoutMs);
}

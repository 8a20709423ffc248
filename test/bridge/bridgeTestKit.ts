/**
 * Helpers for the bridge tests: a real mosquitto upstream that can be stopped and started
 * again on the same port and directory (so its persistence carries over), and an
 * in-process mqttd daemon with bridges whose state the test can read.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bridge } from '../../src/bridge/Bridge';
import { Bridges } from '../../src/bridge/Bridges';
import { MqttClient, type Message as RemoteMessage } from '../../src/client/MqttClient';
import { parseConfig } from '../../src/config/ConfigFile';
import { Daemon } from '../../src/daemon/Daemon';
import { freePort, waitForPort } from '../helpers/ports';
import { startProcess, type RunningProcess } from '../helpers/processes';

export interface Upstream {
  port: number;
  dir: string;
  /** Starts (again) on the same port with the same files. */
  start(): Promise<void>;
  /** SIGTERM: mosquitto saves its persistence file before it exits. */
  stop(): Promise<void>;
  output(): string;
}

/** Debian's mosquitto on 127.0.0.1; `%DIR%` in a line is its directory. Not started yet. */
export async function upstream(lines: string[], port?: number): Promise<Upstream> {
  const p = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-bridge-up-'));
  // Started as root, mosquitto drops to its own user, which must still write its persistence file.
  chmodSync(dir, 0o777);
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, [`listener ${p} 127.0.0.1`, ...lines, ''].join('\n').replaceAll('%DIR%', dir));
  let running: RunningProcess | undefined;
  let log = '';
  return {
    port: p,
    dir,
    async start() {
      running = startProcess('/usr/sbin/mosquitto', ['-c', conf]);
      await waitForPort(p);
    },
    async stop() {
      if (!running) return;
      await running.stop();
      log += running.output();
      running = undefined;
    },
    output: () => log + (running?.output() ?? ''),
  };
}

export interface LocalBroker {
  daemon: Daemon;
  port: number;
  dir: string;
  bridge: Bridge;
  bridges: Bridge[];
  log(): string;
  stop(): Promise<void>;
}

/**
 * mqttd in this process, anonymous, on a free port, with the given config lines after its
 * listener (bridge `connection` blocks go here). `%DIR%` is a fresh directory.
 */
export async function startLocal(lines: string[]): Promise<LocalBroker> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-bridge-local-'));
  const logFile = join(dir, 'mqttd.log');
  const text = [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    `log_dest file ${logFile}`,
    'sys_interval 1',
    ...lines,
    '',
  ]
    .join('\n')
    .replaceAll('%DIR%', dir);
  const config = parseConfig(text, join(dir, 'mqttd.conf'), { hostname: 'testhost' });
  let made: Bridges | undefined;
  const daemon = await Daemon.start({ config, extensions: [(broker, log) => (made = new Bridges(config, broker, log))] });
  const bridges = made!.bridges;
  return {
    daemon,
    port,
    dir,
    bridge: bridges[0],
    bridges,
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    stop: () => daemon.stop(),
  };
}

/** Waits (polling) until `check` holds; the error names `what` and shows `context()`. */
export async function until(check: () => boolean, what: string, context: () => string = () => '', timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${context()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A subscriber that records every message (topic, payload, QoS, retain) in order. */
export interface Recorder {
  client: MqttClient;
  messages: RemoteMessage[];
  payloads(topic?: string): string[];
  close(): Promise<void>;
}

export async function record(
  port: number,
  filters: { topic: string; qos: 0 | 1 | 2 }[],
  options: { clientId?: string; clean?: boolean; protocolVersion?: 4 | 5 } = {},
): Promise<Recorder> {
  const client = new MqttClient({
    host: '127.0.0.1',
    port,
    protocolVersion: options.protocolVersion ?? 4,
    clientId: options.clientId ?? `rec-${Math.random().toString(36).slice(2, 10)}`,
    clean: options.clean ?? true,
    keepalive: 60,
  });
  const messages: RemoteMessage[] = [];
  client.on('message', (m: RemoteMessage) => messages.push(m));
  const connected = await client.connect();
  if (!connected.ok) throw new Error(`cannot connect to ${port}: ${connected.error.message}`);
  const subscribed = await client.subscribe(filters);
  if (!subscribed.ok) throw new Error(`cannot subscribe: ${subscribed.error.message}`);
  return {
    client,
    messages,
    payloads: (topic) => messages.filter((m) => topic === undefined || m.topic === topic).map((m) => m.payload.toString()),
    close: () => client.disconnect(),
  };
}

/** One publish from a short-lived client (QoS 1/2 wait for the acknowledgement). */
export async function publishOnce(
  port: number,
  topic: string,
  payload: string,
  options: { qos?: 0 | 1 | 2; retain?: boolean } = {},
): Promise<void> {
  const client = new MqttClient({ host: '127.0.0.1', port, protocolVersion: 4, clientId: '', clean: true, keepalive: 60 });
  const connected = await client.connect();
  if (!connected.ok) throw new Error(`cannot connect to ${port}: ${connected.error.message}`);
  const result = await client.publish(topic, Buffer.from(payload), options);
  if (!result.ok) throw new Error(`publish failed: ${result.error.message}`);
  await client.disconnect();
}

/** A subscriber with a kept session that reconnects whenever its broker comes back. */
export function persistentSubscriber(port: number, clientId: string, filter: string, qos: 0 | 1 | 2 = 1): { messages: RemoteMessage[]; ready: Promise<void>; stop(): void } {
  const messages: RemoteMessage[] = [];
  let stopped = false;
  let current: MqttClient | undefined;
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (markReady = r));
  void (async () => {
    while (!stopped) {
      const client = new MqttClient({ host: '127.0.0.1', port, protocolVersion: 4, clientId, clean: false, keepalive: 10 });
      current = client;
      client.on('message', (m: RemoteMessage) => messages.push(m));
      const closed = new Promise<void>((r) => client.once('close', () => r()));
      const connected = await client.connect();
      if (connected.ok) {
        const sub = await client.subscribe([{ topic: filter, qos }]);
        if (sub.ok) markReady();
        await closed;
      } else client.destroy();
      if (!stopped) await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    messages,
    ready,
    stop() {
      stopped = true;
      current?.destroy();
    },
  };
}

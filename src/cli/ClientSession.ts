/**
 * What mqttd_pub and mqttd_sub share once the command line is read: turning the config
 * into a connected MqttClient, libmosquitto's -d log lines, and its error texts.
 */
import { writeToStream, type Packet } from 'mqtt-packet';
import type { ClientError } from '../client/ClientError';
import { MqttClient, type ConnectOptions, type PacketDirection } from '../client/MqttClient';
import { effectivePort, usesTls, type ClientConfig } from './ClientConfig';
import { connectionErrorLine } from './ReasonStrings';

/** Process-wide output helpers; `quiet` silences err_printf as --quiet does. */
export class Console {
  constructor(readonly quiet: boolean) {}
  out(text: string | Buffer): void {
    process.stdout.write(text);
  }
  /** err_printf: suppressed by --quiet. */
  err(text: string): void {
    if (!this.quiet) process.stderr.write(text);
  }
}

/** Exits once stdout and stderr have flushed what was written to them. */
export function exitWith(code: number): void {
  process.exitCode = code;
  let waiting = 2;
  const done = (): void => {
    if (--waiting === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}

/** mosquitto's MQTT 3.1 client ids are at most 23 characters. */
function randomClientId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let id = 'mqttd-';
  for (let i = 0; i < 17; i++) id += alphabet[Math.floor(Math.random() * alphabet.length)];
  return id;
}

export function connectOptions(cfg: ClientConfig): ConnectOptions {
  let clientId = cfg.id ?? '';
  if (cfg.idPrefix !== undefined) clientId = `${cfg.idPrefix}${process.pid}`;
  // MQTT 3.1 has no broker-assigned ids, so libmosquitto makes one up.
  if (clientId === '' && cfg.protocolVersion === 3) clientId = randomClientId();
  const options: ConnectOptions = {
    host: cfg.host,
    port: effectivePort(cfg),
    noDelay: cfg.noDelay,
    protocolVersion: cfg.protocolVersion,
    clientId,
    clean: cfg.cleanSession,
    keepalive: cfg.keepalive,
    maxInflight: cfg.maxInflight,
    properties: cfg.properties.connect,
  };
  if (cfg.unixPath !== undefined) options.unixPath = cfg.unixPath;
  if (cfg.bindAddress !== undefined) options.bindAddress = cfg.bindAddress;
  if (cfg.username !== undefined) options.username = cfg.username;
  if (cfg.password !== undefined) options.password = Buffer.from(cfg.password);
  if (cfg.willTopic !== undefined) {
    options.will = {
      topic: cfg.willTopic,
      payload: cfg.willPayload ?? Buffer.alloc(0),
      qos: cfg.willQos,
      retain: cfg.willRetain,
      properties: cfg.properties.will,
    };
  }
  if (usesTls(cfg)) {
    options.tls = {
      insecure: cfg.insecure,
      useOsCerts: cfg.tlsUseOsCerts || (cfg.cafile === undefined && cfg.capath === undefined),
    };
    if (cfg.cafile !== undefined) options.tls.cafile = cfg.cafile;
    if (cfg.capath !== undefined) options.tls.capath = cfg.capath;
    if (cfg.certfile !== undefined) options.tls.certfile = cfg.certfile;
    if (cfg.keyfile !== undefined) options.tls.keyfile = cfg.keyfile;
    if (cfg.tlsVersion !== undefined) options.tls.version = cfg.tlsVersion;
    if (cfg.ciphers !== undefined) options.tls.ciphers = cfg.ciphers;
    if (cfg.tlsAlpn !== undefined) options.tls.alpn = cfg.tlsAlpn;
  }
  return options;
}

/** libmosquitto's log line for one packet, as -d prints it. */
export function debugLine(client: MqttClient, direction: PacketDirection, packet: Packet): string[] {
  const who = `Client ${client.clientId === '' ? '(null)' : client.clientId}`;
  const verb = direction === 'out' ? 'sending' : 'received';
  switch (packet.cmd) {
    case 'connect':
      return [`${who} sending CONNECT`];
    case 'connack':
      return [`${who} received CONNACK (${(client.options.protocolVersion === 5 ? packet.reasonCode : packet.returnCode) ?? 0})`];
    case 'publish': {
      const bytes = typeof packet.payload === 'string' ? Buffer.byteLength(packet.payload) : packet.payload.length;
      const mid = packet.messageId ?? 0;
      return [`${who} ${verb} PUBLISH (d${packet.dup ? 1 : 0}, q${packet.qos}, r${packet.retain ? 1 : 0}, m${mid}, '${packet.topic}', ... (${bytes} bytes))`];
    }
    case 'puback':
    case 'pubcomp': {
      const name = packet.cmd.toUpperCase();
      if (direction === 'in') return [`${who} received ${name} (Mid: ${packet.messageId ?? 0}, RC:${packet.reasonCode ?? 0})`];
      return packet.cmd === 'puback' ? [`${who} sending PUBACK (m${packet.messageId ?? 0}, rc${packet.reasonCode ?? 0})`] : [`${who} sending PUBCOMP (m${packet.messageId ?? 0})`];
    }
    case 'pubrec':
      return direction === 'in' ? [`${who} received PUBREC (Mid: ${packet.messageId ?? 0})`] : [`${who} sending PUBREC (m${packet.messageId ?? 0}, rc${packet.reasonCode ?? 0})`];
    case 'pubrel':
      return direction === 'in' ? [`${who} received PUBREL (Mid: ${packet.messageId ?? 0})`] : [`${who} sending PUBREL (m${packet.messageId ?? 0})`];
    case 'subscribe':
      return packet.subscriptions.map((s) => {
        const options = (s.nl ? 4 : 0) | (s.rap ? 8 : 0) | ((s.rh ?? 0) << 4);
        return `${who} sending SUBSCRIBE (Mid: ${packet.messageId ?? 0}, Topic: ${s.topic}, QoS: ${s.qos}, Options: 0x${options.toString(16).padStart(2, '0')})`;
      });
    case 'suback':
      return [`${who} received SUBACK`];
    case 'unsubscribe':
      return packet.unsubscriptions.map((t) => `${who} sending UNSUBSCRIBE (Mid: ${packet.messageId ?? 0}, Topic: ${t})`);
    case 'unsuback':
      return [`${who} received UNSUBACK`];
    case 'pingreq':
      return [`${who} sending PINGREQ`];
    case 'pingresp':
      return [`${who} received PINGRESP`];
    case 'disconnect':
      return direction === 'out' ? [`${who} sending DISCONNECT`] : [`${who} received DISCONNECT (${packet.reasonCode ?? 0})`];
    default:
      return [];
  }
}

/** How a failed connect is reported; `code` is the exit status mosquitto would use. */
export interface ConnectFailure {
  code: number;
  lines: string;
  /** A CONNACK refusal, which mqttd_pub follows with a second "Error:" line. */
  refused: boolean;
  /** Why, for -d's stdout: the TLS library's reason, which libmosquitto logs as "OpenSSL Error". */
  debug?: string;
}

export function connectFailure(cfg: ClientConfig, error: ClientError): ConnectFailure {
  switch (error.code) {
    case 'ECONNACK': {
      const code = error.reasonCode ?? 1;
      return { code, lines: connectionErrorLine(cfg.protocolVersion, code), refused: true };
    }
    case 'ELOOKUP':
      return { code: 1, lines: 'Unable to connect (Lookup error.).\n', refused: false };
    case 'ETLS':
      // MOSQ_ERR_TLS: mosquitto says no more than this (the reason only with -d), exit 8.
      return { code: 8, lines: 'Error: A TLS error occurred.\n', refused: false, debug: `OpenSSL Error[0]: ${error.message}\n` };
    case 'ETLSCONFIG':
      return { code: 1, lines: `Error: ${error.message}\n`, refused: false };
    case 'ETLSCONTEXT':
      // libmosquitto builds its TLS context inside mosquitto_connect(), so this is a connect failure.
      return { code: 1, lines: 'Unable to connect (A TLS error occurred.).\n', refused: false, debug: `OpenSSL Error[0]: ${error.message}\n` };
    case 'EINVAL':
      return { code: 1, lines: 'Unable to connect (Invalid function arguments provided.).\n', refused: false };
    case 'ESOCKET':
      return { code: 1, lines: `Error: ${error.message}\n`, refused: false };
    default:
      // The broker closed the socket before CONNACK (MOSQ_ERR_CONN_LOST).
      return { code: 7, lines: 'Error: The connection was lost.\n', refused: false };
  }
}

/** A client wired to print -d lines when asked. */
export function createClient(cfg: ClientConfig, console: Console): MqttClient {
  // mqtt-packet's first generate() fills a cache of 65,536 two-byte buffers (one per message
  // id): about a third of a command's start-up on a PC, and garbage, for a handful of packets.
  writeToStream.cacheNumbers = false;
  const client = new MqttClient(connectOptions(cfg));
  if (cfg.debug) {
    client.on('packet', (direction: PacketDirection, packet: Packet) => {
      for (const line of debugLine(client, direction, packet)) console.out(line + '\n');
    });
  }
  return client;
}

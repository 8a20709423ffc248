import { readFileSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { TLSSocket, SecureVersion } from 'node:tls';
import type { ListenerConfig } from '../config/BrokerConfig';
import { PEM_CERTIFICATE, readCaPath, type CaPathContents } from './CaPath';

/** What a transport knows about a new byte stream; it knows nothing of MQTT. */
export interface StreamInfo {
  remoteAddress: string;
  /** CN of a client certificate that verified against the listener's CA. */
  certificateIdentity?: string;
  /**
   * WebSocket only: lets messages grow up to `bytes` from now on (the client logged in).
   * Until then a message may be at most the listener's `firstMessageBytes`.
   */
  raiseMessageLimit?(bytes: number): void;
}

/** How much a transport may buffer for one message before the protocol layer sees it. */
export interface TransportLimits {
  /**
   * WebSocket: the largest message (all fragments) accepted before raiseMessageLimit. ws
   * buffers a whole message before handing over a byte, so this bounds what an
   * unauthenticated client makes the broker hold; 0: no limit.
   */
  firstMessageBytes: number;
}

export type StreamHandler = (stream: Duplex, info: StreamInfo) => void;

/** A listener, possibly bound on several addresses (an interface with IPv4 and IPv6). */
export interface Listener {
  readonly config: ListenerConfig;
  /** Actual bound addresses, e.g. to learn the port when configured as 0. */
  addresses(): { address: string; port: number }[];
  close(): Promise<void>;
}

export class ListenerError extends Error {
  readonly code = 'ELISTEN';
  /**
   * True when trying again later can succeed: the address is not there yet (an interface
   * still coming up, an IPv6 address still tentative: EADDRNOTAVAIL) or the port is taken
   * (EADDRINUSE). False when only a configuration change can help (EACCES, a bad host, an
   * unreadable certificate).
   */
  constructor(
    message: string,
    readonly retryable = false,
  ) {
    super(message);
  }
}

/** bind() errors that a later attempt can get past without anyone changing the config. */
const RETRYABLE_BIND_ERRORS = new Set(['EADDRNOTAVAIL', 'EADDRINUSE']);

/** Opens a listener as its config says: TCP, TLS, WebSocket or secure WebSocket. */
export async function openListener(
  config: ListenerConfig,
  onStream: StreamHandler,
  limits: TransportLimits,
): Promise<Listener> {
  const hosts = bindAddresses(config);
  const servers: (TcpServer | HttpServer)[] = [];
  let open = 0;
  const admit = (socket: Socket): boolean => {
    if (config.maxConnections >= 0 && open >= config.maxConnections) {
      socket.destroy();
      return false;
    }
    open++;
    socket.once('close', () => open--);
    return true;
  };
  try {
    for (const host of hosts) {
      const server = config.protocol === 'websockets' ? webSocketServer(config, limits, admit, onStream) : streamServer(config, admit, onStream);
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port: config.port, host }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    }
  } catch (err) {
    for (const s of servers) s.close();
    if (err instanceof ListenerError) throw err;
    const where = `${hosts[0] ?? '*'}:${config.port}`;
    const code = (err as NodeJS.ErrnoException).code ?? '';
    throw new ListenerError(`cannot listen on ${where}: ${(err as Error).message}`, RETRYABLE_BIND_ERRORS.has(code));
  }
  return {
    config,
    addresses() {
      const out: { address: string; port: number }[] = [];
      for (const s of servers) {
        const a = s.address();
        if (a && typeof a === 'object') out.push({ address: a.address, port: a.port });
      }
      return out;
    },
    async close() {
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}

/** The addresses to bind: bind_interface's addresses, bind_address, or all (undefined). */
function bindAddresses(config: ListenerConfig): (string | undefined)[] {
  if (config.bindInterface !== undefined) {
    const addrs = networkInterfaces()[config.bindInterface];
    if (!addrs || addrs.length === 0) throw new ListenerError(`interface ${config.bindInterface} has no address`, true);
    return addrs.filter((a) => !a.address.startsWith('fe80')).map((a) => a.address);
  }
  return [config.bindAddress];
}

function tlsOptions(config: ListenerConfig) {
  const read = (path: string | undefined, what: string) => {
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ListenerError(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  };
  return {
    cert: read(config.certfile, 'certfile'),
    key: read(config.keyfile, 'keyfile'),
    // Never undefined: Node would then trust its public root CAs for client certificates.
    ca: clientCaCertificates(config, read),
    // As mosquitto (net.c, net__load_certificates): SSL_VERIFY_PEER | FAIL_IF_NO_PEER_CERT with
    // require_certificate, else SSL_VERIFY_NONE, which asks no client for a certificate at all.
    requestCert: config.requireCertificate,
    rejectUnauthorized: config.requireCertificate,
    minVersion: tlsMinVersion(config.tlsVersion),
  };
}

/**
 * The CAs a client certificate must chain to: cafile's, then capath's. A listener that asks
 * for client certificates refuses to open without one, so that none is trusted by default.
 */
function clientCaCertificates(config: ListenerConfig, read: (path: string | undefined, what: string) => Buffer | undefined): Buffer[] {
  const ca: Buffer[] = [];
  const cafile = read(config.cafile, 'cafile');
  if (cafile) {
    if (!PEM_CERTIFICATE.test(cafile.toString('latin1'))) throw new ListenerError(`cafile ${config.cafile} holds no PEM certificate`);
    ca.push(cafile);
  }
  if (config.capath !== undefined) {
    let contents: CaPathContents;
    try {
      contents = readCaPath(config.capath);
    } catch (err) {
      throw new ListenerError(`cannot read capath ${config.capath}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    const bad = contents.unreadable[0];
    if (bad) throw new ListenerError(`cannot read ${join(config.capath, bad.name)} in capath: ${bad.code}`);
    if (contents.certificates.length === 0) {
      throw new ListenerError(`capath ${config.capath} holds no CA certificate (*.pem, *.crt or \`openssl rehash\` names)`);
    }
    ca.push(...contents.certificates);
  }
  if (config.requireCertificate && ca.length === 0) {
    throw new ListenerError('require_certificate needs cafile or capath: no CA to check client certificates against');
  }
  return ca;
}

function tlsMinVersion(v: string | undefined): SecureVersion | undefined {
  if (v === 'tlsv1.3') return 'TLSv1.3';
  if (v === 'tlsv1.2') return 'TLSv1.2';
  if (v === 'tlsv1.1') return 'TLSv1.1';
  return undefined;
}

function isTls(config: ListenerConfig): boolean {
  return config.certfile !== undefined && config.keyfile !== undefined;
}

function peerIdentity(socket: TLSSocket): string | undefined {
  if (!socket.authorized) return undefined;
  const cn = socket.getPeerCertificate()?.subject?.CN;
  return Array.isArray(cn) ? cn[0] : cn;
}

function remote(socket: Socket): string {
  const addr = socket.remoteAddress ?? 'unknown';
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}

// TLS, HTTP and ws load only when a listener needs them: each costs a router megabytes of RSS.
function tlsModule(): typeof import('node:tls') {
  return require('node:tls') as typeof import('node:tls');
}

function streamServer(config: ListenerConfig, admit: (s: Socket) => boolean, onStream: StreamHandler): TcpServer {
  if (isTls(config)) {
    const server = tlsModule().createServer(tlsOptions(config), (socket) => {
      if (!admit(socket)) return;
      socket.setNoDelay(true);
      onStream(socket, { remoteAddress: remote(socket), certificateIdentity: peerIdentity(socket) });
    });
    // A failed handshake concerns that client only.
    server.on('tlsClientError', (_err, socket) => socket.destroy());
    return server;
  }
  return createTcpServer((socket) => {
    if (!admit(socket)) return;
    socket.setNoDelay(true);
    onStream(socket, { remoteAddress: remote(socket) });
  });
}

/** MQTT over WebSocket: subprotocol `mqtt` (or 3.1's `mqttv3.1`), any path (`/`, `/mqtt`). */
function webSocketServer(config: ListenerConfig, limits: TransportLimits, admit: (s: Socket) => boolean, onStream: StreamHandler): HttpServer {
  const server = isTls(config)
    ? (require('node:https') as typeof import('node:https')).createServer(tlsOptions(config))
    : (require('node:http') as typeof import('node:http')).createServer();
  const { WebSocketServer, createWebSocketStream } = require('ws') as typeof import('ws');
  server.on('request', (_req, res) => {
    res.writeHead(426, { 'Content-Type': 'text/plain' });
    res.end('This is an MQTT over WebSocket endpoint.\n');
  });
  const wss = new WebSocketServer({
    server,
    perMessageDeflate: false,
    maxPayload: limits.firstMessageBytes,
    handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
  });
  wss.on('connection', (ws, req) => {
    const socket = req.socket;
    if (!admit(socket)) {
      ws.terminate();
      return;
    }
    socket.setNoDelay(true);
    // After a frame error (a message over maxPayload) ws sends its close frame, then keeps
    // reading and discarding what the client sends until the client closes: up to 100 MiB of
    // garbage per attacker. Once the close frame is out, drop the socket.
    ws.once('error', () => setImmediate(() => ws.terminate()));
    const stream = createWebSocketStream(ws);
    const identity = isTls(config) ? peerIdentity(socket as TLSSocket) : undefined;
    onStream(stream, {
      remoteAddress: remote(socket),
      certificateIdentity: identity,
      raiseMessageLimit: (bytes) => raiseMessageLimit(ws, bytes),
    });
  });
  return server;
}

/**
 * ws fixes maxPayload per server and has no public way to change it for one connection; its
 * Receiver reads `_maxPayload` on every frame (ws 8, lib/receiver.js haveLength), so setting
 * it lets a logged-in client send what max_packet_size allows. A test (WebSocket.test.ts)
 * fails if a ws upgrade moves the field.
 */
function raiseMessageLimit(ws: import('ws').WebSocket, bytes: number): void {
  const receiver = (ws as unknown as { _receiver?: { _maxPayload: number } })._receiver;
  if (receiver !== undefined && typeof receiver._maxPayload === 'number') receiver._maxPayload = bytes;
}

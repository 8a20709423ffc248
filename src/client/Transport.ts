import type { Socket } from 'node:net';
import { connect as netConnect } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { readFileSync } from 'node:fs';
import { PEM_CERTIFICATE, readCaPath } from '../transport/CaPath';
import { clientError, type Result } from './ClientError';

/** Where and how to open the byte stream an MQTT session runs over. */
export interface TransportOptions {
  host: string;
  port: number;
  /** Unix domain socket path; when set, host and port are ignored. */
  unixPath?: string;
  /** Local address to bind the outgoing socket to (mosquitto's -A). */
  bindAddress?: string;
  noDelay?: boolean;
  tls?: TlsOptions;
}

export interface TlsOptions {
  cafile?: string;
  capath?: string;
  certfile?: string;
  keyfile?: string;
  /** Skip the host name check (the chain is still verified). */
  insecure?: boolean;
  /** The lowest version accepted: 'tlsv1.3' | 'tlsv1.2' | 'tlsv1.1' as mosquitto spells them. */
  version?: string;
  ciphers?: string;
  alpn?: string;
  /** Trust the system CA store (mqtts:// URLs, --tls-use-os-certs). */
  useOsCerts?: boolean;
}

const TLS_VERSIONS: Record<string, 'TLSv1.3' | 'TLSv1.2' | 'TLSv1.1'> = {
  'tlsv1.3': 'TLSv1.3',
  'tlsv1.2': 'TLSv1.2',
  'tlsv1.1': 'TLSv1.1',
};

/** Opens the socket; resolves once it can carry bytes (after the TLS handshake). */
export function openTransport(options: TransportOptions): Promise<Result<Socket>> {
  return new Promise((resolve) => {
    let socket: Socket;
    let settled = false;
    const done = (r: Result<Socket>): void => {
      if (settled) return;
      settled = true;
      resolve(r);
    };
    const onError = (err: NodeJS.ErrnoException): void => {
      socket.destroy();
      if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN' || err.code === 'EAI_FAIL') {
        done({ ok: false, error: clientError('ELOOKUP', 'Lookup error.') });
      } else if (options.tls && !err.syscall) {
        done({ ok: false, error: clientError('ETLS', err.message) });
      } else {
        done({ ok: false, error: clientError('ESOCKET', systemMessage(err)) });
      }
    };
    try {
      if (options.tls) {
        const built = tlsOptions(options);
        if (!built.ok) return done(built);
        // Loaded only when asked for: most router invocations are plain TCP, and tls costs start-up time.
        const tls = require('node:tls') as typeof import('node:tls');
        socket = tls.connect(built.value, () => done({ ok: true, value: socket }));
      } else if (options.unixPath !== undefined) {
        socket = netConnect({ path: options.unixPath }, () => done({ ok: true, value: socket }));
      } else {
        socket = netConnect(
          { host: options.host, port: options.port, localAddress: options.bindAddress },
          () => done({ ok: true, value: socket }),
        );
      }
    } catch (err) {
      // Refused before any byte is sent, and thrown rather than emitted: OpenSSL rejecting
      // a key that does not match its certificate, a file that is not PEM or an unknown
      // cipher list; Node rejecting a port above 65535. A value, so no caller can crash on it.
      const message = err instanceof Error ? err.message : String(err);
      return done({ ok: false, error: clientError(options.tls ? 'ETLSCONTEXT' : 'EINVAL', message) });
    }
    socket.once('error', onError);
    socket.once('close', () => done({ ok: false, error: clientError('ECLOSED', 'The connection was lost.') }));
    if (options.noDelay) socket.setNoDelay(true);
  });
}

function tlsOptions(options: TransportOptions): Result<ConnectionOptions> {
  const t = options.tls as TlsOptions;
  // localAddress is passed through to net.connect, though tls's typings omit it.
  const out: ConnectionOptions & { localAddress?: string } = {
    host: options.host,
    port: options.port,
    localAddress: options.bindAddress,
    servername: isIp(options.host) ? undefined : options.host,
    rejectUnauthorized: true,
  };
  const ca: Buffer[] = [];
  try {
    if (t.cafile) ca.push(readFileSync(t.cafile));
    if (t.certfile) out.cert = readFileSync(t.certfile);
    if (t.keyfile) out.key = readFileSync(t.keyfile);
  } catch {
    return { ok: false, error: clientError('ETLSCONFIG', 'Problem setting TLS options: File not found.') };
  }
  if (t.cafile && !PEM_CERTIFICATE.test(ca[0]!.toString('latin1'))) {
    // OpenSSL's load_verify_locations fails on a CA file without a certificate.
    return { ok: false, error: clientError('ETLSCONTEXT', `no certificate in ${t.cafile}`) };
  }
  // An unreadable --capath adds no CA, as with libmosquitto: the server then fails the check.
  try {
    if (t.capath) ca.push(...readCaPath(t.capath).certificates);
  } catch {
    // The directory itself could not be read: it contributes nothing.
  }
  if (t.cafile || t.capath) {
    // Only what was given (an empty list trusts nothing), plus the system's with --tls-use-os-certs.
    out.ca = t.useOsCerts ? [...(require('node:tls') as typeof import('node:tls')).rootCertificates, ...ca.map((b) => b.toString())] : ca;
  }
  if (t.version !== undefined) {
    const v = TLS_VERSIONS[t.version];
    if (!v) return { ok: false, error: clientError('ETLSCONFIG', 'Problem setting TLS options, check the options are valid.') };
    // A floor, not a pin: libmosquitto 2.0 turns off only the older versions, so
    // --tls-version tlsv1.2 still negotiates TLS 1.3 with a broker that offers it.
    out.minVersion = v;
  }
  if (t.ciphers) out.ciphers = t.ciphers;
  if (t.alpn) out.ALPNProtocols = [t.alpn];
  // --insecure keeps chain verification but skips the host name match, as libmosquitto does.
  if (t.insecure) out.checkServerIdentity = () => undefined;
  return { ok: true, value: out };
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}

/** strerror()-style text, as mosquitto prints after "Error: ". */
function systemMessage(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'Connection refused';
    case 'ENOENT':
      return 'No such file or directory';
    case 'EACCES':
      return 'Permission denied';
    case 'ETIMEDOUT':
      return 'Connection timed out';
    case 'EHOSTUNREACH':
      return 'No route to host';
    case 'ENETUNREACH':
      return 'Network is unreachable';
    case 'EADDRNOTAVAIL':
      return 'Cannot assign requested address';
    case 'ECONNRESET':
      return 'Connection reset by peer';
    default:
      return err.message;
  }
}

/**
 * Why a client operation failed. Errors are values: every failure the CLI must report
 * (and map to mosquitto's exit code) carries one of these codes.
 */
export type ClientErrorCode =
  /** Host name did not resolve (mosquitto: "Lookup error."). */
  | 'ELOOKUP'
  /** TCP/unix socket could not be opened; `message` is the system's text. */
  | 'ESOCKET'
  /** TLS handshake or certificate check failed; `message` is OpenSSL's/Node's reason. */
  | 'ETLS'
  /** The TLS settings cannot be used: a CA/cert/key file unreadable, an unknown version. */
  | 'ETLSCONFIG'
  /** The files could be read but OpenSSL refuses them (key/cert mismatch, not PEM, bad ciphers). */
  | 'ETLSCONTEXT'
  /** The broker answered CONNECT with a non-zero return/reason code. */
  | 'ECONNACK'
  /** The broker sent something MQTT does not allow. */
  | 'EPROTOCOL'
  /** The connection closed before the operation completed. */
  | 'ECLOSED'
  /** No PINGRESP within the keepalive period. */
  | 'EKEEPALIVE'
  /** The caller used the client wrongly (not connected, bad topic, a port above 65535...). */
  | 'EINVAL';

export interface ClientError {
  code: ClientErrorCode;
  message: string;
  /** CONNACK return code (v3) or reason code (v5) for ECONNACK. */
  reasonCode?: number;
}

export function clientError(code: ClientErrorCode, message: string, reasonCode?: number): ClientError {
  return reasonCode === undefined ? { code, message } : { code, message, reasonCode };
}

/** Either the value or why there is none. */
export type Result<T> = { ok: true; value: T } | { ok: false; error: ClientError };

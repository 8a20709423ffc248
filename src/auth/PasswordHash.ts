/**
 * Password hashes in mosquitto's passwd-file formats: the text after `username:`.
 *
 *   $7$<iterations>$<b64 salt>$<b64 PBKDF2-HMAC-SHA512>   mosquitto 2.0 default (101 iterations, 12-byte salt);
 *                                                         2.1 writes 1000 iterations and a 64-byte salt
 *   $6$<b64 salt>$<b64 SHA512(password || salt)>          mosquitto 1.x default (12-byte salt)
 *   $2a$ / $2b$ / $2y$ bcrypt                             an mqttd extension: mosquitto reads no bcrypt
 *
 * Salts must be 12 or 64 bytes, as mosquitto 2.1 requires, so a file mqttd accepts is one
 * mosquitto 2.1 accepts too (2.0 accepts only 12). `$argon2id$` (2.1 built with libargon2)
 * is recognised but cannot be verified here: Node 20 has no argon2.
 *
 * Verifying never blocks the event loop: PBKDF2 runs on libuv's thread pool, bcrypt on a
 * worker thread (BcryptWorkers), $6$ is a single SHA-512. Hashing (mqttd_passwd) runs bcrypt
 * on the calling thread.
 */
import { isUtf8 } from 'node:buffer';
import type * as Bcrypt from 'bcryptjs';
import { bcryptWorkers } from './BcryptWorkers';

/** Crypto and bcryptjs load on first use, so a broker without passwords never pays for them. */
function crypto(): typeof import('node:crypto') {
  return require('node:crypto') as typeof import('node:crypto');
}

function bcrypt(): typeof Bcrypt {
  return require('bcryptjs') as typeof Bcrypt;
}

export type HashAlgorithm = 'sha512-pbkdf2' | 'sha512' | 'bcrypt';

export interface HashOptions {
  algorithm?: HashAlgorithm;
  /** PBKDF2 iterations, or the bcrypt cost. */
  iterations?: number;
}

/** What mosquitto_passwd 2.0 writes. */
export const PBKDF2_DEFAULT_ITERATIONS = 101;
export const BCRYPT_DEFAULT_COST = 10;
const SALT_BYTES = 12;
const MOSQUITTO_SALT_SIZES = [12, 64];
const SHA512_BYTES = 64;
/** A hostile or mistyped file must not make one login cost minutes of CPU. */
export const PBKDF2_MAX_ITERATIONS = 10_000_000;

const BCRYPT_PREFIX = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;

export async function hashPassword(password: string, options: HashOptions = {}): Promise<string> {
  const algorithm = options.algorithm ?? 'sha512-pbkdf2';
  switch (algorithm) {
    case 'sha512-pbkdf2': {
      const iterations = options.iterations ?? PBKDF2_DEFAULT_ITERATIONS;
      if (!Number.isInteger(iterations) || iterations < 1 || iterations > PBKDF2_MAX_ITERATIONS) {
        throw new RangeError(`iterations must be an integer from 1 to ${PBKDF2_MAX_ITERATIONS}`);
      }
      const salt = crypto().randomBytes(SALT_BYTES);
      const hash = await pbkdf2Async(Buffer.from(password, 'utf8'), salt, iterations);
      return `$7$${iterations}$${salt.toString('base64')}$${hash.toString('base64')}`;
    }
    case 'sha512': {
      const salt = crypto().randomBytes(SALT_BYTES);
      const hash = sha512(Buffer.from(password, 'utf8'), salt);
      return `$6$${salt.toString('base64')}$${hash.toString('base64')}`;
    }
    case 'bcrypt': {
      const cost = options.iterations ?? BCRYPT_DEFAULT_COST;
      if (!Number.isInteger(cost) || cost < 4 || cost > 31) throw new RangeError('bcrypt cost must be an integer from 4 to 31');
      return bcrypt().hash(password, cost);
    }
  }
}

/** True when the stored text is in a hash format mqttd can verify (so `-U` never hashes twice). */
export function isHashed(stored: string): boolean {
  return parseHash(stored) !== undefined;
}

/** Checks a password against a stored hash; an unrecognised or malformed hash never matches. */
export async function verifyPassword(stored: string, password: Buffer | string): Promise<boolean> {
  const parsed = parseHash(stored);
  if (parsed === undefined) return false;
  const bytes = typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
  switch (parsed.kind) {
    case 'pbkdf2':
      return equal(await pbkdf2Async(bytes, parsed.salt, parsed.iterations), parsed.hash);
    case 'sha512':
      return equal(sha512(bytes, parsed.salt), parsed.hash);
    case 'bcrypt':
      // bcryptjs takes a string; bytes that are not UTF-8 would collapse to U+FFFD and
      // could then match another password, so they never match.
      if (!isUtf8(bytes)) return false;
      return bcryptWorkers().compare(bytes.toString('utf8'), parsed.text);
  }
}

type ParsedHash =
  | { kind: 'pbkdf2'; iterations: number; salt: Buffer; hash: Buffer }
  | { kind: 'sha512'; salt: Buffer; hash: Buffer }
  | { kind: 'bcrypt'; text: string };

/** Splits a stored hash into its parts, or undefined when it is not one mqttd understands. */
export function parseHash(stored: string): ParsedHash | undefined {
  if (stored.startsWith('$7$')) {
    const parts = stored.split('$'); // ['', '7', iterations, salt, hash]
    if (parts.length !== 5 || !/^[0-9]{1,8}$/.test(parts[2])) return undefined;
    const iterations = Number(parts[2]);
    if (iterations < 1 || iterations > PBKDF2_MAX_ITERATIONS) return undefined;
    const salt = decodeBase64(parts[3]);
    const hash = decodeBase64(parts[4]);
    if (salt === undefined || hash === undefined || !validSizes(salt, hash)) return undefined;
    return { kind: 'pbkdf2', iterations, salt, hash };
  }
  if (stored.startsWith('$6$')) {
    const parts = stored.split('$'); // ['', '6', salt, hash]
    if (parts.length !== 4) return undefined;
    const salt = decodeBase64(parts[2]);
    const hash = decodeBase64(parts[3]);
    if (salt === undefined || hash === undefined || !validSizes(salt, hash)) return undefined;
    return { kind: 'sha512', salt, hash };
  }
  if (BCRYPT_PREFIX.test(stored)) return { kind: 'bcrypt', text: stored };
  return undefined;
}

function validSizes(salt: Buffer, hash: Buffer): boolean {
  return MOSQUITTO_SALT_SIZES.includes(salt.length) && hash.length === SHA512_BYTES;
}

/**
 * Why a stored hash cannot be used, in words fit for a log line. Never quotes the hash:
 * a plain-text password would end up in the log.
 */
export function describeUnusableHash(stored: string): string {
  if (stored.startsWith('$argon2id$')) {
    return 'argon2id hash (mosquitto 2.1 built with argon2) is not supported by mqttd; set this password again with mqttd_passwd';
  }
  if (!stored.startsWith('$')) return 'password is not hashed; hash the file with mqttd_passwd -U';
  if (/^\$[67]\$/.test(stored)) return 'malformed $6$/$7$ hash (needs a 12 or 64 byte base64 salt and a 64 byte base64 hash)';
  if (stored.startsWith('$2')) return 'malformed bcrypt hash';
  return 'unknown password hash type (mqttd reads $6$, $7$ and bcrypt $2a$/$2b$/$2y$)';
}

/** Strict base64: Buffer.from silently skips bad characters, which would hide a corrupt file. */
function decodeBase64(text: string): Buffer | undefined {
  if (text.length === 0 || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return undefined;
  return Buffer.from(text, 'base64');
}

function pbkdf2Async(password: Buffer, salt: Buffer, iterations: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    crypto().pbkdf2(password, salt, iterations, SHA512_BYTES, 'sha512', (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** mosquitto's $6$: SHA512 over the password bytes followed by the salt bytes. */
function sha512(password: Buffer, salt: Buffer): Buffer {
  return crypto().createHash('sha512').update(password).update(salt).digest();
}

function equal(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && crypto().timingSafeEqual(a, b);
}

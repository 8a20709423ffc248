/**
 * The default Security: mosquitto's password_file, acl_file and allow_anonymous, with
 * mosquitto 2.0's rules (security.c mosquitto_unpwd_check, security_default.c):
 *
 *   no username          → accepted only with allow_anonymous
 *   username, no password_file → accepted only with allow_anonymous (mosquitto 2.0: with no
 *                          password check configured, allow_anonymous decides for everyone)
 *   username, password_file    → the user must be in the file and the password must match,
 *                          whatever allow_anonymous says
 *   certificate identity (use_identity_as_username) → accepted; the TLS handshake checked it
 *   no acl_file          → every topic allowed; with one, whatever it does not grant is refused
 *   publishing to $SYS   → refused, except a bridge's $SYS/broker/connection/+/state
 *
 * Until load() has succeeded, configured files count as empty: nobody gets in with a
 * password and no topic is allowed, so a broker that failed to read its files fails closed.
 */
import { FileError } from '../config/FileError';
import type { AuthRequest, AuthResult, ClientIdentity, ConnectedIdentity, Security } from './Security';
import { PasswdFile } from './PasswdFile';
import { AclRules } from './AclRules';
import { AuthThrottle, type AuthThrottleOptions } from './AuthThrottle';
import { CheckQueueFullError, PasswordCheckQueue, type PasswordCheckQueueOptions } from './PasswordCheckQueue';
import { parseHash, verifyPassword } from './PasswordHash';
import { filterLevels, topicMatches } from './TopicFilter';

export interface FileSecurityOptions {
  allowAnonymous: boolean;
  passwordFile?: string;
  aclFile?: string;
  /** Substitute `/` in client ids and usernames into ACL patterns, as mosquitto does. */
  aclPatternAllowSlash?: boolean;
  /** A shared throttle, or options for this instance's own. */
  throttle?: AuthThrottle | AuthThrottleOptions;
  /** How many password checks run at once and how many may wait. */
  checks?: PasswordCheckQueueOptions;
}

export interface ReloadResult {
  /** False when a file could not be read: the previous users and rules stay in force. */
  applied: boolean;
  /** Unreadable files (no line) and bad lines (with line); never contains a password or hash. */
  errors: FileError[];
}

/** Checked against unknown usernames, so they cost as much time as known ones. */
const DUMMY_HASH = '$7$101$AAAAAAAAAAAAAAAA$' + 'A'.repeat(86) + '==';
const BRIDGE_STATE = filterLevels('$SYS/broker/connection/+/state');

export class FileSecurity implements Security {
  private passwd: PasswdFile | undefined;
  private acl: AclRules | undefined;
  private loaded = false;
  /** Bumped by every applied reload (and the first load). */
  generation = 0;
  /** The generation in which each user's password line last changed (added, edited, removed). */
  private readonly changedAt = new Map<string, number>();
  readonly throttle: AuthThrottle;
  /**
   * bcrypt checks (~0.1 s each, on worker threads) queue apart from PBKDF2 and SHA-512 ones
   * (well under 1 ms at mosquitto's 101 iterations): a bcrypt guessing storm must not keep
   * $7$ users out.
   */
  readonly bcryptChecks: PasswordCheckQueue;
  readonly checks: PasswordCheckQueue;

  constructor(private readonly options: FileSecurityOptions) {
    this.throttle = options.throttle instanceof AuthThrottle ? options.throttle : new AuthThrottle(options.throttle);
    this.bcryptChecks = new PasswordCheckQueue(options.checks);
    this.checks = new PasswordCheckQueue(options.checks);
  }

  /**
   * Reads the configured files. Rejects with the FileError of a file that cannot be read
   * (mosquitto refuses to start then); resolves with the per-line errors otherwise.
   */
  async load(): Promise<FileError[]> {
    const result = await this.reload();
    if (!result.applied) throw result.errors.find((e) => e.line === undefined) ?? result.errors[0];
    return result.errors;
  }

  /** Re-reads both files; applies them only if both could be read. */
  async reload(): Promise<ReloadResult> {
    const { passwordFile, aclFile } = this.options;
    const [passwd, acl] = await Promise.allSettled([
      passwordFile === undefined ? Promise.resolve(undefined) : PasswdFile.load(passwordFile),
      aclFile === undefined ? Promise.resolve(undefined) : AclRules.load(aclFile, { patternAllowSlash: this.options.aclPatternAllowSlash === true }),
    ]);
    const unreadable: FileError[] = [];
    for (const r of [passwd, acl]) if (r.status === 'rejected') unreadable.push(asFileError(r.reason));
    if (passwd.status === 'rejected' || acl.status === 'rejected') return { applied: false, errors: unreadable };
    // One synchronous switch: a CONNECT is judged wholly by the old files or by the new ones.
    const before = this.passwd;
    this.passwd = passwd.value?.file;
    this.acl = acl.value?.rules;
    this.loaded = true;
    this.generation++;
    for (const user of new Set([...(before?.usernames() ?? []), ...(this.passwd?.usernames() ?? [])])) {
      if (before?.hashOf(user) !== this.passwd?.hashOf(user)) this.changedAt.set(user, this.generation);
    }
    return { applied: true, errors: [...(passwd.value?.errors ?? []), ...(acl.value?.errors ?? [])] };
  }

  async authenticate(request: AuthRequest): Promise<AuthResult> {
    if (request.certificateIdentity !== undefined) return 'ok';
    const { username } = request;
    if (username === undefined || this.options.passwordFile === undefined) {
      return this.options.allowAnonymous ? 'ok' : 'not-authorized';
    }
    // Refused at once or after at most a second: a throttled client learns it well within
    // its CONNACK timeout, and waiting sockets do not pile up.
    const admission = await this.throttle.admitWithin({ address: request.remoteAddress, username, clientId: request.clientId });
    if (!admission.admitted) return 'rate-limited';
    const { ticket } = admission;
    const password = request.password;
    let ok = false;
    // A reload while the hash was being checked: check again against the new file, so no
    // CONNECT is accepted by a password line that is no longer in force.
    for (let generation = -1; generation !== this.generation; ) {
      generation = this.generation;
      const passwd = this.loaded ? this.passwd : undefined;
      const hash = passwd?.hashOf(username);
      const stored = hash ?? DUMMY_HASH;
      const queue = parseHash(stored)?.kind === 'bcrypt' ? this.bcryptChecks : this.checks;
      try {
        ok = await queue.run(async () => {
          // An empty password never matches, whatever the file holds: mosquitto 2.0.11 reads a
          // zero-length password as none (packet__read_binary) and refuses the client.
          if (password === undefined || password.length === 0) return false;
          const matched = await verifyPassword(stored, password);
          return matched && hash !== undefined;
        }, ticket.known);
      } catch (err) {
        this.throttle.release(ticket);
        if (err instanceof CheckQueueFullError) return 'server-busy';
        throw err;
      }
    }
    if (ok) {
      this.throttle.recordSuccess(ticket);
      return 'ok';
    }
    this.throttle.recordFailure(ticket);
    return 'bad-credentials';
  }

  stillAuthenticated(client: ConnectedIdentity, since: number): boolean {
    if (client.certificateIdentity !== undefined) return true;
    const { username } = client;
    if (username === undefined || this.options.passwordFile === undefined) return this.options.allowAnonymous;
    if (!this.loaded || this.passwd?.hashOf(username) === undefined) return false;
    return (this.changedAt.get(username) ?? 0) <= since;
  }

  canWrite(client: ClientIdentity, topic: string): boolean {
    if (topic.startsWith('$SYS') && !topicMatches(BRIDGE_STATE, topic)) return false;
    return this.aclAllows(client, topic, 'write');
  }

  canRead(client: ClientIdentity, topic: string): boolean {
    return this.aclAllows(client, topic, 'read');
  }

  canSubscribe(client: ClientIdentity, filter: string): boolean {
    if (this.options.aclFile === undefined) return true;
    return this.loaded && this.acl !== undefined && this.acl.canEverRead(client, filter);
  }

  private aclAllows(client: ClientIdentity, topic: string, access: 'read' | 'write'): boolean {
    if (this.options.aclFile === undefined) return true;
    return this.loaded && this.acl !== undefined && this.acl.check(client, topic, access);
  }
}

function asFileError(reason: unknown): FileError {
  return reason instanceof FileError ? reason : new FileError('(security)', undefined, String(reason));
}

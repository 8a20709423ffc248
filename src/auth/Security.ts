/**
 * What the broker asks of an authentication/authorisation backend. The default one is
 * FileSecurity (mosquitto's passwd + ACL files); library users may plug in their own.
 */

/** Who a connected client is, as the ACL sees it. */
export interface ClientIdentity {
  clientId: string;
  /** Undefined for an anonymous client. */
  username?: string;
}

export interface AuthRequest extends ClientIdentity {
  password?: Buffer;
  remoteAddress: string;
  /** Set when the listener uses use_identity_as_username and the certificate verified. */
  certificateIdentity?: string;
}

/**
 * 'ok': accepted; 'bad-credentials': unknown user, wrong or empty password; 'not-authorized':
 * anonymous not allowed, or a plugin said no. Both answer CONNACK 5 (v5 0x87, "not
 * authorised"), as mosquitto 2.0.11 answers both (handle_connect.c): see handleConnect.
 * 'rate-limited': too many failed logins, refused unchecked (CONNACK 5 / v5 0x9F);
 * 'server-busy': too many password checks waiting (CONNACK 3 / v5 0x89).
 */
export type AuthResult = 'ok' | 'bad-credentials' | 'not-authorized' | 'rate-limited' | 'server-busy';

export interface Security {
  authenticate(request: AuthRequest): Promise<AuthResult>;
  /** May this client publish to this topic name? */
  canWrite(client: ClientIdentity, topic: string): boolean;
  /** May this client receive a message on this topic name? Checked at every delivery. */
  canRead(client: ClientIdentity, topic: string): boolean;
  /**
   * May this client subscribe to this filter? False when no topic the filter can match is
   * ever readable by the client, so the SUBACK can refuse it instead of delivering nothing.
   */
  canSubscribe(client: ClientIdentity, filter: string): boolean;
  /**
   * Bumped whenever the users or rules change (a reload). With stillAuthenticated, the
   * broker re-checks connected clients, as mosquitto 2.0 does on SIGHUP
   * (mosquitto_security_apply_default). Both absent: a client stays once accepted.
   */
  readonly generation?: number;
  /**
   * May this client, accepted when `generation` was `since`, stay connected? False when its
   * user was removed or its password changed since, or anonymous access was withdrawn.
   */
  stillAuthenticated?(client: ConnectedIdentity, since: number): boolean;
}

/** A connected client as the re-check after a reload sees it. */
export interface ConnectedIdentity extends ClientIdentity {
  certificateIdentity?: string;
}

/** A Security that accepts everyone and everything: the embedded library's default. */
export const allowAll: Security = {
  authenticate: async () => 'ok',
  canWrite: () => true,
  canRead: () => true,
  canSubscribe: () => true,
};

import type { Message, QoS } from './Message';

export type ProtocolVersion = 3 | 4 | 5;

/**
 * What the broker needs from a connected client's protocol handler. The broker calls it to
 * send; it never sees the socket behind it. The link only reports what its transport did
 * (bytes waiting, bytes taken, drained); what to do about it is the broker's decision.
 */
export interface ClientLink {
  readonly protocolVersion: ProtocolVersion;
  readonly remoteAddress: string;
  /** Bytes written to the transport and not yet sent: a slow reader shows here. */
  readonly backlog: number;
  /** Bytes the transport has taken from this link since it opened (only ever grows). */
  readonly transmitted: number;
  /** Bytes read from this client's transport, for the LuCI clients page. */
  readonly bytesReceived?: number;
  /**
   * Sends one PUBLISH. False when the client cannot take it (larger than its v5 Maximum
   * Packet Size): the message is then discarded as if delivered [MQTT-3.1.2-25].
   */
  sendPublish(
    message: Message,
    qos: QoS,
    retain: boolean,
    packetId: number,
    dup: boolean,
    subscriptionId: number | undefined,
  ): boolean;
  sendPubrel(packetId: number): void;
  /** Asks for one call of the session's `drain()` once the transport has taken what it was given. */
  requestDrainNotice(): void;
  /** Stop (and later resume) reading from this client: flow control towards a publisher. */
  pauseReading(): void;
  resumeReading(): void;
  /**
   * Ends the connection; `reasonCode` is sent in a v5 DISCONNECT where it applies. The will
   * is published unless `publishWill` is false (a client whose rights were withdrawn).
   */
  close(reasonCode: number, reason: string, publishWill?: boolean): void;
}

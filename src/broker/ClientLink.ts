import type { Message, QoS } from './Message';

export type ProtocolVersion = 3 | 4 | 5;

/**
 * What the broker needs from a connected client's protocol handler. The broker calls it to
 * send; it never sees the socket behind it.
 */
export interface ClientLink {
  readonly protocolVersion: ProtocolVersion;
  readonly remoteAddress: string;
  /** Bytes written to the transport and not yet sent: a slow reader shows here. */
  readonly backlog: number;
  sendPublish(
    message: Message,
    qos: QoS,
    retain: boolean,
    packetId: number,
    dup: boolean,
    subscriptionId: number | undefined,
  ): void;
  sendPubrel(packetId: number): void;
  /** Stop (and later resume) reading from this client: flow control towards a publisher. */
  pauseReading(): void;
  resumeReading(): void;
  /** Ends the connection; `reasonCode` is sent in a v5 DISCONNECT where it applies. */
  close(reasonCode: number, reason: string): void;
}

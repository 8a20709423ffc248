import type { StoredMessageProperties } from '../persistence/StoreSnapshot';

export type QoS = 0 | 1 | 2;

/**
 * One application message as the broker routes it. It is shared, never copied, by every
 * delivery of it: the protocol layer caches its encoded forms on it (`encoded`), so a
 * message fanned out to N subscribers is encoded once per wire form, not N times.
 */
export class Message {
  /** Encoded packets keyed by wire form; owned by the protocol layer's PublishEncoder. */
  encoded: (Buffer | undefined)[] | undefined = undefined;
  /** Where the packet id sits in the cached QoS 1/2 forms (same for every form of one version). */
  packetIdOffset = 0;

  constructor(
    readonly topic: string,
    readonly payload: Buffer,
    readonly qos: QoS,
    readonly retain: boolean,
    /** MQTT 5 properties forwarded to receivers (never topic alias or subscription id). */
    readonly properties: StoredMessageProperties | undefined,
    /** Absolute expiry (ms since epoch) from Message Expiry Interval. */
    readonly expiresAt: number | undefined,
    /** Client id of the publisher, for No Local; undefined for the broker's own messages. */
    readonly origin: string | undefined,
  ) {}

  isExpired(now: number): boolean {
    return this.expiresAt !== undefined && now >= this.expiresAt;
  }

  /** The same message with another retain flag, sharing the payload. */
  withRetain(retain: boolean): Message {
    return new Message(this.topic, this.payload, this.qos, retain, this.properties, this.expiresAt, this.origin);
  }
}

import type { StoredMessageProperties } from '../persistence/StoreSnapshot';

export type QoS = 0 | 1 | 2;

/**
 * One application message as the broker routes it. It is shared, never copied, by every
 * delivery of it, and its payload is written to every subscriber's socket as it is. It
 * carries no wire encoding: the protocol layer's PublishEncoder keeps those for one fan-out.
 */
export class Message {
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

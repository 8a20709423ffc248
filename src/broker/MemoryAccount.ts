import type { Message } from './Message';

/**
 * The bytes clients have made the broker hold, by kind, for `memory_limit` (mosquitto's
 * option: new messages, and here new subscriptions, are refused while the broker holds more
 * than the limit). Each part
 * is kept up to date where the bytes are taken and let go, so a check costs an addition.
 */
export class MemoryAccount {
  /** Messages queued for clients: each message once, however many queues hold it, and each queue entry. */
  queuedBytes = 0;
  /** Queued messages → how many queues hold them. */
  private readonly queues = new Map<Message, number>();
  /** Packets being read: incomplete packets waiting for their remaining bytes. */
  bufferedBytes = 0;
  /** Subscriptions (their objects and filters), bounded per client but many across sessions. */
  subscriptionBytes = 0;
  /** Bytes above which new messages are refused; 0: no limit. */
  limit = 0;

  /** `retained`: the retained store, which counts its own bytes (payload, topic and properties). */
  constructor(private readonly retained: { readonly bytes: number }) {}

  get retainedBytes(): number {
    return this.retained.bytes;
  }

  get used(): number {
    return this.retained.bytes + this.queuedBytes + this.bufferedBytes + this.subscriptionBytes;
  }

  /** One more queue holds this message. */
  queue(message: Message): void {
    const holders = this.queues.get(message) ?? 0;
    if (holders === 0) this.queuedBytes += messageBytes(message);
    this.queues.set(message, holders + 1);
    this.queuedBytes += QUEUE_ENTRY_BYTES;
  }

  /** A queue let go of this message. */
  unqueue(message: Message): void {
    const holders = this.queues.get(message);
    if (holders === undefined) return;
    this.queuedBytes -= QUEUE_ENTRY_BYTES;
    if (holders > 1) return void this.queues.set(message, holders - 1);
    this.queues.delete(message);
    this.queuedBytes -= messageBytes(message);
  }

  /** Whether `bytes` more may be taken on (a new PUBLISH, a packet to buffer). */
  admits(bytes: number): boolean {
    return this.limit === 0 || this.used + bytes <= this.limit;
  }
}

/** What one message costs while held: its payload, its topic, its properties and the objects around them. */
export function messageBytes(message: Message): number {
  let bytes = MESSAGE_OVERHEAD + message.payload.length + message.topic.length;
  const props = message.properties;
  if (props !== undefined) {
    bytes += PROPERTIES_OVERHEAD;
    const user = props.userProperties;
    if (user !== undefined) for (const u of user) bytes += u.key.length + u.value.length + PROPERTY_OVERHEAD;
    bytes += (props.correlationData?.length ?? 0) + (props.responseTopic?.length ?? 0) + (props.contentType?.length ?? 0);
  }
  return bytes;
}

/** What one subscription costs: its object, its entry in the session and in the topic tree. */
export function subscriptionBytes(filter: string): number {
  return SUBSCRIPTION_OVERHEAD + 2 * filter.length;
}

/** A Message object and its payload's Buffer object: a generous estimate of V8's object sizes. */
const MESSAGE_OVERHEAD = 200;
/** A Delivery object, its queue slot and an entry of `queues`. */
const QUEUE_ENTRY_BYTES = 100;
const SUBSCRIPTION_OVERHEAD = 250;
const PROPERTIES_OVERHEAD = 100;
const PROPERTY_OVERHEAD = 40;

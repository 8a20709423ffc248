/**
 * The broker's model in the stored forms persistence keeps (StoreSnapshot's types), and back:
 * one mapping, used by Broker.snapshot/restore and by the journal.
 */
import type { StoredMessage, StoredSession } from '../persistence/StoreSnapshot';
import { Message } from './Message';
import type { Session } from './Session';
import { subscriptionKey } from './Subscription';

/** Outlives its connection: saved, and journaled when a journal runs. Local sessions never are. */
export function isPersistent(session: Session): boolean {
  return session.expiryInterval !== 0 && !session.clientId.startsWith('$local-');
}

export function toStored(m: Message): StoredMessage {
  return {
    topic: m.topic,
    payload: m.payload,
    qos: m.qos,
    retain: m.retain,
    properties: m.properties,
    expiresAt: m.expiresAt,
  };
}

export function fromStored(m: StoredMessage): Message {
  return new Message(m.topic, m.payload, m.qos, m.retain, m.properties, m.expiresAt, undefined);
}

/**
 * Restores the messages of many deliveries, one Message per distinct message: deliveries the
 * store read from one entry share its payload Buffer (and properties), as the fan-out that
 * queued them shared one Message. Only deliveries that fromStored would turn into equal
 * Messages share one.
 */
export class SharedMessages {
  private readonly byPayload = new Map<Buffer, Message[]>();

  of(m: StoredMessage): Message {
    const candidates = this.byPayload.get(m.payload);
    if (candidates !== undefined) {
      for (const c of candidates) {
        if (c.topic === m.topic && c.qos === m.qos && c.retain === m.retain && c.properties === m.properties && c.expiresAt === m.expiresAt) return c;
      }
    }
    const message = fromStored(m);
    if (candidates !== undefined) candidates.push(message);
    else this.byPayload.set(m.payload, [message]);
    return message;
  }
}

/** A session as stored; `withQueue` false leaves its messages out (the journal's meta record). */
export function storedSession(s: Session, now: number, withQueue: boolean): StoredSession {
  const stored: StoredSession = {
    clientId: s.clientId,
    username: s.username,
    protocolVersion: s.protocolVersion,
    expiryInterval: s.expiryInterval,
    disconnectedAt: s.link ? now : s.disconnectedAt,
    subscriptions: [],
    queue: [],
    incomingQos2Ids: s.incomingQos2 ? [...s.incomingQos2] : [],
  };
  for (const sub of s.subscriptions.values()) {
    stored.subscriptions.push({
      filter: subscriptionKey(sub.filter, sub.group),
      qos: sub.qos,
      noLocal: sub.noLocal,
      retainAsPublished: sub.retainAsPublished,
      retainHandling: sub.retainHandling,
      subscriptionId: sub.subscriptionId,
    });
  }
  if (withQueue) {
    for (const d of s.pending()) {
      // One literal of one shape (no spread): a save builds one per queued delivery.
      const m = d.message;
      stored.queue.push({
        topic: m.topic,
        payload: m.payload,
        properties: m.properties,
        expiresAt: m.expiresAt,
        qos: d.qos,
        retain: d.retain,
        packetId: d.packetId === 0 ? undefined : d.packetId,
        released: d.released || undefined,
        subscriptionIds: d.subscriptionId === undefined ? undefined : [d.subscriptionId],
      });
    }
  }
  return stored;
}

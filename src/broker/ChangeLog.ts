import type { Message } from './Message';
import type { Delivery, Session } from './Session';
import type { Will } from './Will';

/**
 * What a persistent session tells its change log as its messages move: queued, sent (given a
 * packet id), released (PUBREC), completed (PUBACK/PUBCOMP), or taken off the queue unsent.
 */
export interface SessionChangeLog {
  queued(session: Session, delivery: Delivery): void;
  /** `fromQueue`: the delivery was the head of the queue; otherwise it went out directly. */
  sent(session: Session, delivery: Delivery, fromQueue: boolean): void;
  /** The head of the queue left it without going in flight (expired, or QoS 0 sent). */
  unqueued(session: Session): void;
  released(session: Session, packetId: number): void;
  completed(session: Session, packetId: number): void;
}

/**
 * Every change persistence keeps, told as it happens, so that a journal can make it durable
 * before the packet that acknowledges it (PUBACK, PUBREC, PUBCOMP, CONNACK, SUBACK, UNSUBACK)
 * leaves: the protocol layer calls Broker.commitChanges() before it writes to a socket.
 * Implemented by persistence/Journal; the broker knows nothing of files.
 */
export interface ChangeLog extends SessionChangeLog {
  /** A retained message set, or (empty payload) cleared. */
  retained(message: Message): void;
  /** A persistent session's options, subscriptions or incoming QoS 2 ids changed (not its queue). */
  session(session: Session): void;
  /** A persistent session, whole: created, resumed, or its queue rewritten. */
  sessionWithQueue(session: Session): void;
  /** The session is gone, or no longer outlives its connection. */
  sessionEnded(clientId: string): void;
  /** An incoming QoS 2 packet id was recorded (PUBREC follows) or released (PUBCOMP follows). */
  incomingQos2(session: Session, packetId: number, pending: boolean): void;
  /** A will now waits for its delay (`will` given) or no longer does. */
  pendingWill(clientId: string, username: string | undefined, will: Will | undefined, publishAt: number): void;
  /** Makes everything told so far durable; called before acknowledgements go out. */
  commit(): void;
}

import type { Logger } from '../log/Logger';
import type { ClientLink } from './ClientLink';
import { guardedNotify } from './hookGuards';
import type { Message, QoS } from './Message';
import type { Session } from './Session';

export type LocalHandler = (topic: string, payload: Buffer, message: Message) => void;

/**
 * The ClientLink of an in-process subscriber (`broker.subscribe()`): deliveries go to a
 * function, acknowledged at once, so local code sees exactly what a client would. A handler
 * that throws (or rejects) is logged and the message counts as delivered: the handler is
 * the program's own code, and one bad message neither ends the process nor silently
 * unsubscribes it.
 */
export class LocalClient implements ClientLink {
  readonly protocolVersion = 5 as const;
  readonly remoteAddress = 'local';
  readonly backlog = 0;
  readonly transmitted = 0;
  session: Session | undefined;

  constructor(
    private readonly handler: LocalHandler,
    private readonly log: Logger,
  ) {}

  sendPublish(message: Message, qos: QoS, retain: boolean, packetId: number): boolean {
    const delivered = retain === message.retain ? message : message.withRetain(retain);
    // Later, never inside route(): a handler that publishes must not reorder the fan-out.
    // One microtask per batch, not per delivery: queueMicrotask costs more than the handler
    // call when a busy topic has local subscribers (rules).
    pending.push({ client: this, message: delivered, qos, packetId });
    if (pending.length === 1) queueMicrotask(deliverPending);
    return true;
  }

  /** Runs one delivery (from deliverPending). */
  deliver(message: Message, qos: QoS, packetId: number): void {
    guardedNotify(this.log, LOCAL_HANDLER, undefined, callHandler, this.handler, message);
    if (qos > 0) this.session?.acknowledge(packetId);
  }

  sendPubrel(packetId: number): void {
    queueMicrotask(() => this.session?.acknowledge(packetId));
  }

  /** Never asked for: a local client has no backlog. */
  requestDrainNotice(): void {}
  pauseReading(): void {}
  resumeReading(): void {}
  close(): void {}
}

const LOCAL_HANDLER = 'broker.subscribe handler';

function callHandler(handler: LocalHandler, message: Message): unknown {
  return handler(message.topic, message.payload, message);
}

interface PendingDelivery {
  client: LocalClient;
  message: Message;
  qos: QoS;
  packetId: number;
}

/** Deliveries to local subscribers waiting for the next microtask, in routing order. */
const pending: PendingDelivery[] = [];

function deliverPending(): void {
  // Deliveries a handler causes join the end of this batch, so order is kept. The batch is
  // always emptied: a delivery left in it would keep the next one from being scheduled.
  let i = 0;
  try {
    for (; i < pending.length; i++) {
      const d = pending[i];
      d.client.deliver(d.message, d.qos, d.packetId);
    }
  } finally {
    if (i >= pending.length) {
      pending.length = 0;
    } else {
      // A handler threw (it is logged where it is called): the rest goes in the next microtask.
      const rest = pending.splice(0, pending.length).slice(i + 1);
      if (rest.length > 0) {
        pending.push(...rest);
        queueMicrotask(deliverPending);
      }
    }
  }
}

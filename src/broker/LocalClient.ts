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
    queueMicrotask(() => {
      guardedNotify(this.log, LOCAL_HANDLER, undefined, callHandler, this.handler, delivered);
      if (qos > 0) this.session?.acknowledge(packetId);
    });
    return true;
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

import type { Message } from './Message';

/** A client's last will, held while it is connected and, with a Will Delay, a while after. */
export interface Will {
  message: Message;
  /** Seconds after an unclean disconnect before publishing (MQTT 5 Will Delay Interval). */
  delay: number;
}

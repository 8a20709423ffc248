import type { QoS } from './Message';
import type { Session } from './Session';

/** One client's subscription to one filter, with its MQTT 5 options. */
export interface Subscription {
  readonly session: Session;
  /** The filter as it is matched (for a shared subscription, without `$share/<group>/`). */
  readonly filter: string;
  /** Share group name, for `$share/<group>/<filter>`. */
  readonly group: string | undefined;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  subscriptionId: number | undefined;
}

/** The subscribers of one `$share/<group>/<filter>`: each message goes to one of them. */
export interface ShareGroup {
  readonly group: string;
  readonly filter: string;
  readonly members: Subscription[];
  /** Round-robin position. */
  next: number;
}

export type SubscriptionEntry = Subscription | ShareGroup;

export function isShareGroup(entry: SubscriptionEntry): entry is ShareGroup {
  return (entry as ShareGroup).members !== undefined;
}

/** The key a session files a subscription under (the filter as the client wrote it). */
export function subscriptionKey(filter: string, group: string | undefined): string {
  return group === undefined ? filter : `$share/${group}/${filter}`;
}

/**
 * The QoS a message goes out at: the lower of its own and the granted one [MQTT-3.8.4-8],
 * or the granted one when `upgrade_outgoing_qos` is set (as mosquitto's option).
 */
export function outgoingQos(messageQos: QoS, granted: QoS, upgrade: boolean): QoS {
  return upgrade || messageQos > granted ? granted : messageQos;
}

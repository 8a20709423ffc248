/**
 * Everything the broker keeps across restarts, in a form independent of its in-memory
 * structures. The broker builds a snapshot to save and rebuilds its state from one on load.
 */

export interface StoredUserProperty {
  key: string;
  value: string;
}

/** The MQTT 5 properties a message carries to its receivers. */
export interface StoredMessageProperties {
  payloadFormatIndicator?: boolean;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: StoredUserProperty[];
}

export interface StoredMessage {
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain: boolean;
  properties?: StoredMessageProperties;
  /** Absolute expiry time (ms since epoch) from Message Expiry Interval; undefined: never. */
  expiresAt?: number;
}

export interface StoredSubscription {
  filter: string;
  qos: 0 | 1 | 2;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  subscriptionId?: number;
}

/** A message on its way to an offline persistent client. */
export interface StoredQueuedMessage extends StoredMessage {
  /** Set when it was sent once and not yet acknowledged: resent with DUP on reconnect. */
  packetId?: number;
  /** QoS 2 message whose PUBREC arrived: only PUBREL remains to be sent. */
  released?: boolean;
  subscriptionIds?: number[];
}

export interface StoredSession {
  clientId: string;
  username?: string;
  protocolVersion: 3 | 4 | 5;
  /** Seconds after disconnect the session lives; 0xFFFFFFFF: never expires. */
  expiryInterval: number;
  /** ms since epoch when the client went away (or when saved, for a connected client). */
  disconnectedAt: number;
  subscriptions: StoredSubscription[];
  queue: StoredQueuedMessage[];
  /** Incoming QoS 2 packet ids whose PUBREL has not arrived yet [MQTT-4.3.3]. */
  incomingQos2Ids: number[];
}

/** A will waiting out its Will Delay Interval (MQTT 5 §3.1.3.2.2) when the broker stopped. */
export interface StoredWill {
  clientId: string;
  username?: string;
  message: StoredMessage;
  /** ms since epoch when it is due; a restart after that time publishes it at once. */
  publishAt: number;
}

/** A bridge's messages for its remote broker, oldest first (topics are the remote's). */
export interface StoredBridgeQueue {
  /** The bridge's `connection` name. */
  name: string;
  queue: StoredQueuedMessage[];
  /** QoS 2 messages from the remote held between our PUBREC and its PUBREL (packetId set). */
  incoming?: StoredQueuedMessage[];
}

export interface StoreSnapshot {
  retained: StoredMessage[];
  sessions: StoredSession[];
  /** Delayed wills; absent when there are none. */
  wills?: StoredWill[];
  /** Bridge queues; absent when there are none. */
  bridges?: StoredBridgeQueue[];
  /**
   * The first RAM journal generation the snapshot does not contain (see Journal.ts): journal
   * files below it are already in the snapshot. Absent: 0.
   */
  journalGeneration?: number;
}

export function emptySnapshot(): StoreSnapshot {
  return { retained: [], sessions: [] };
}

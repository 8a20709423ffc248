/** Counters behind `$SYS/broker/...`; incremented in place by the protocol layer and broker. */
export class BrokerStats {
  readonly startedAt = Date.now();
  messagesReceived = 0;
  messagesSent = 0;
  publishReceived = 0;
  publishSent = 0;
  publishDropped = 0;
  publishBytesReceived = 0;
  publishBytesSent = 0;
  bytesReceived = 0;
  bytesSent = 0;
  connections = 0;
  sockets = 0;
  clientsMaximum = 0;
  clientsExpired = 0;
}

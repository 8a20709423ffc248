import type * as mqtt from 'mqtt-packet';
import type { BrokerLimits } from '../broker/Broker';
import { Message } from '../broker/Message';
import { isBridgeStateTopic, isValidTopicName } from '../broker/topics';
import { escape } from '../log/Logger';
import { ack, type Connection } from './Connection';
import { fromPacketProperties } from './messageProperties';
import { ReasonCode } from './reasonCodes';

const PUBACK = 0x40;
const PUBREC = 0x50;

/**
 * Whether a PUBLISH whose payload has `payloadLength` bytes may be read, decided from its
 * first bytes before the payload is buffered: 0, or PacketTooLarge (message_size_limit) or
 * QuotaExceeded (memory_limit) for refusePublish.
 */
export function admitPublish(conn: Connection, payloadLength: number): number {
  const broker = conn.broker;
  const limit = broker.limits.messageSizeLimit;
  if (limit > 0 && payloadLength > limit) return ReasonCode.PacketTooLarge;
  if (!broker.memory.admits(payloadLength)) return ReasonCode.QuotaExceeded;
  return 0;
}

/**
 * Answers a PUBLISH refused before its payload was read. v5 hears why (0x97: 0x95 is no
 * PUBACK/PUBREC code, §3.4.2.1, and strict clients such as MQTT.js drop the connection on it).
 * v3 has no way to say no: a message over message_size_limit is acknowledged and dropped, as
 * mosquitto does; over memory_limit a QoS 1/2 publisher is disconnected unacknowledged, so it
 * sends the message again later instead of losing it (mosquitto disconnects it too).
 */
export function refusePublish(conn: Connection, qos: 0 | 1 | 2, packetId: number, code: number): void {
  const broker = conn.broker;
  const stats = broker.stats;
  stats.publishReceived++;
  stats.publishDropped++;
  const reason =
    code === ReasonCode.PacketTooLarge
      ? `PUBLISH payload exceeds message_size_limit ${broker.limits.messageSizeLimit}`
      : `broker memory over memory_limit ${broker.memory.limit}`;
  if (broker.log.isEnabled('debug')) broker.log.debug(`Dropped PUBLISH from ${escape(conn.clientId)}: ${reason}.`);
  if (qos === 0) return;
  const v5 = conn.protocolVersion === 5;
  if (!v5 && code === ReasonCode.QuotaExceeded) return conn.close(code, reason);
  if (!v5) {
    // Recorded (and journaled) as an accepted one is: its PUBREL must find it, after a restart too.
    if (qos === 2) broker.incomingQos2(conn.session!, packetId, true);
    conn.write(ack(qos === 1 ? PUBACK : PUBREC, packetId));
    return;
  }
  const properties = conn.problemInformation ? { reasonString: reason } : undefined;
  const cmd = qos === 1 ? 'puback' : 'pubrec';
  conn.writePacket({ cmd, messageId: packetId, reasonCode: ReasonCode.QuotaExceeded, properties } as mqtt.IPubackPacket);
}

/**
 * QoS 2 messages a client may have awaiting PUBREL: what mosquitto holds for a client,
 * max_inflight_messages plus max_queued_messages. v5 clients are told it as the Receive
 * Maximum (QoS 1 messages are acknowledged at once, so only QoS 2 ones count).
 */
export function incomingQos2Maximum(limits: BrokerLimits): number {
  const inflight = limits.maxInflightMessages;
  const queued = limits.maxQueuedMessages;
  return inflight > 0 && queued > 0 && inflight + queued < 65535 ? inflight + queued : 65535;
}

/**
 * PUBLISH from a client (§3.3): resolve a topic alias, validate, authorise, route, then
 * acknowledge (PUBACK for QoS 1, PUBREC for QoS 2).
 */
export function handlePublish(conn: Connection, packet: mqtt.IPublishPacket): void {
  const broker = conn.broker;
  const session = conn.session!;
  const v5 = conn.protocolVersion === 5;
  const props = packet.properties;
  let topic = packet.topic;

  const alias = props?.topicAlias;
  if (v5 && alias !== undefined) {
    if (alias === 0 || alias > conn.topicAliasMaximum) {
      return conn.protocolViolation(ReasonCode.TopicAliasInvalid, `topic alias ${alias} out of range`);
    }
    if (topic.length > 0) (conn.topicAliases ??= new Map()).set(alias, topic);
    else {
      const known = conn.topicAliases?.get(alias);
      if (known === undefined) return conn.protocolViolation(ReasonCode.ProtocolError, `unknown topic alias ${alias}`);
      topic = known;
    }
  }
  // No wildcards, NUL or invalid UTF-8 in a topic name [MQTT-3.3.2-2, MQTT-1.5.3-1].
  if (!isValidTopicName(topic)) {
    return conn.protocolViolation(ReasonCode.TopicNameInvalid, `invalid topic name ${escape(topic)}`);
  }
  const qos = packet.qos;
  const packetId = packet.messageId ?? 0;
  const stats = broker.stats;
  stats.publishReceived++;
  stats.publishBytesReceived += packet.payload.length;

  if (qos === 2) {
    // A resent QoS 2 PUBLISH whose PUBREL has not come yet is not routed twice [MQTT-4.3.3-9].
    const pending = (session.incomingQos2 ??= new Set());
    if (pending.has(packetId)) {
      conn.write(ack(PUBREC, packetId));
      return;
    }
    const most = incomingQos2Maximum(broker.limits);
    if (pending.size >= most) {
      // More QoS 2 messages awaiting PUBREL than the Receive Maximum the client was told [MQTT-3.3.4-9].
      return conn.protocolViolation(ReasonCode.ReceiveMaximumExceeded, `more than ${most} QoS 2 messages awaiting PUBREL`);
    }
  }
  if (packet.retain && !broker.limits.retainAvailable) {
    return conn.protocolViolation(ReasonCode.RetainNotSupported, 'retain is not available');
  }

  let refusal = 0;
  let reason = '';
  if (topic.startsWith('$SYS') && !isBridgeStateTopic(topic)) {
    refusal = ReasonCode.NotAuthorized;
    reason = 'clients may not publish to $SYS';
  } else {
    if (conn.info.mountPoint !== undefined) topic = conn.info.mountPoint + topic;
    if (!broker.canWrite(session, topic)) {
      refusal = ReasonCode.NotAuthorized;
      reason = 'not authorised to publish to this topic';
      if (broker.log.isEnabled('debug')) broker.log.debug(`Denied PUBLISH from ${escape(conn.clientId)} to ${escape(topic)}.`);
    }
  }

  let matched = true;
  if (refusal === 0) {
    const expiry = props?.messageExpiryInterval;
    // PacketReader made the payload a buffer of its own: storing it pins no socket chunk.
    const payload = packet.payload as Buffer;
    const message = new Message(
      topic,
      payload,
      qos,
      packet.retain,
      v5 ? fromPacketProperties(props) : undefined,
      expiry !== undefined ? Date.now() + expiry * 1000 : undefined,
      conn.clientId,
    );
    // retain_available false was refused above.
    if (message.retain && !broker.canRetain(message)) {
      refusal = ReasonCode.QuotaExceeded;
      reason = 'max_retained_messages or max_retained_bytes reached';
      if (broker.log.isEnabled('debug')) {
        broker.log.debug(`Dropped retained PUBLISH from ${escape(conn.clientId)} to ${escape(topic)}: ${reason}.`);
      }
    } else {
      matched = broker.route(message, session);
    }
  }
  if (refusal !== 0) stats.publishDropped++;

  if (qos === 0) return;
  // A refusal says why, unless the client asked for no problem information (§3.1.2.11.7).
  const properties = refusal !== 0 && conn.problemInformation ? { reasonString: reason } : undefined;
  // v3 has no way to say no: a refused message is acknowledged and dropped, as mosquitto does.
  // v5 hears when nobody was subscribed (0x10, a success code), as from mosquitto.
  const code = v5 ? (refusal !== 0 ? refusal : matched ? 0 : ReasonCode.NoMatchingSubscribers) : 0;
  if (qos === 1) {
    if (code === 0) conn.write(ack(PUBACK, packetId));
    else conn.writePacket({ cmd: 'puback', messageId: packetId, reasonCode: code, properties } as mqtt.IPubackPacket);
    return;
  }
  if (code < 0x80) {
    broker.incomingQos2(session, packetId, true);
    if (code === 0) conn.write(ack(PUBREC, packetId));
    else conn.writePacket({ cmd: 'pubrec', messageId: packetId, reasonCode: code } as mqtt.IPubrecPacket);
  } else {
    conn.writePacket({ cmd: 'pubrec', messageId: packetId, reasonCode: code, properties } as mqtt.IPubrecPacket);
  }
}

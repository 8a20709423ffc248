import type * as mqtt from 'mqtt-packet';
import type { QoS } from '../broker/Message';
import type { Subscription } from '../broker/Subscription';
import { escape } from '../log/Logger';
import type { Connection } from './Connection';
import { hasIllFormedText } from './propertyRules';
import { ReasonCode } from './reasonCodes';

/**
 * SUBSCRIBE (§3.8): one result per filter in the SUBACK, then the retained messages of
 * the new subscriptions. Overlapping subscriptions: see Broker.oneCopyPerV3Client (one
 * copy for a v3 client, one per subscription for v5, as mosquitto 2.0 by default).
 */
export function handleSubscribe(conn: Connection, packet: mqtt.ISubscribePacket): void {
  const broker = conn.broker;
  const session = conn.session!;
  const v5 = conn.protocolVersion === 5;
  const subscriptionId = v5 ? (packet.properties?.subscriptionIdentifier as number | undefined) : undefined;
  // A SUBSCRIBE needs a non-zero packet id [MQTT-2.2.1-3]; mosquitto 2.0.11 calls it malformed.
  if (packet.messageId === 0) return conn.protocolViolation(ReasonCode.MalformedPacket, 'SUBSCRIBE with packet id 0');
  // At least one filter [MQTT-3.8.3-3]; an empty SUBACK cannot even be encoded.
  if (packet.subscriptions.length === 0) return conn.protocolViolation(ReasonCode.ProtocolError, 'SUBSCRIBE with no topic filter');
  const mountPoint = conn.info.mountPoint ?? '';
  const granted: number[] = [];
  const retainedToSend: { filter: string; subscription: Subscription; isNew: boolean }[] = [];
  for (const s of packet.subscriptions) {
    if (hasIllFormedText(s.topic)) {
      return conn.protocolViolation(ReasonCode.MalformedPacket, `subscription filter ${escape(s.topic)} is not valid UTF-8 or contains U+0000`);
    }
    // No Local on a shared subscription is a Protocol Error [MQTT-3.8.3-4].
    if (v5 && s.nl === true && s.topic.startsWith('$share/')) {
      return conn.protocolViolation(ReasonCode.ProtocolError, `No Local on shared subscription ${escape(s.topic)}`);
    }
    const filter = mountPoint + s.topic;
    const result = broker.addSubscription(session, filter, {
      qos: s.qos as QoS,
      noLocal: v5 ? s.nl === true : conn.isBridge,
      retainAsPublished: v5 ? s.rap === true : conn.isBridge,
      retainHandling: v5 ? ((s.rh ?? 0) as 0 | 1 | 2) : 0,
      subscriptionId,
    });
    if (result.code === ReasonCode.TopicFilterInvalid && !v5) {
      // v3 has no code for this: a malformed filter closes the connection, as mosquitto does.
      return conn.protocolViolation(ReasonCode.TopicFilterInvalid, `invalid subscription filter ${escape(s.topic)}`);
    }
    // v3.1.1 has one failure code (0x80); v5 says why.
    granted.push(result.code < 0x80 || v5 ? result.code : 0x80);
    if (result.subscription) retainedToSend.push({ filter, subscription: result.subscription, isNew: result.isNew });
    if (broker.log.isEnabled('subscribe')) broker.log.log('subscribe', `${escape(conn.clientId)} ${result.code} ${escape(s.topic)}`);
  }
  conn.writePacket({ cmd: 'suback', messageId: packet.messageId, granted } as mqtt.ISubackPacket);
  for (const r of retainedToSend) broker.sendRetained(session, r.subscription, r.isNew);
}

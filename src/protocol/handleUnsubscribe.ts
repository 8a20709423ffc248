import type * as mqtt from 'mqtt-packet';
import { escape } from '../log/Logger';
import type { Connection } from './Connection';
import { isValidTopicFilter, parseSharedFilter } from '../broker/topics';
import { hasIllFormedText } from './propertyRules';
import { ReasonCode } from './reasonCodes';

/** UNSUBSCRIBE (§3.10): v5 says per filter whether there was such a subscription. */
export function handleUnsubscribe(conn: Connection, packet: mqtt.IUnsubscribePacket): void {
  const broker = conn.broker;
  const session = conn.session!;
  const mountPoint = conn.info.mountPoint ?? '';
  // At least one filter [MQTT-3.10.3-2]; an empty v5 UNSUBACK cannot even be encoded.
  if (packet.unsubscriptions.length === 0) return conn.protocolViolation(ReasonCode.ProtocolError, 'UNSUBSCRIBE with no topic filter');
  // A non-zero packet id [MQTT-2.2.1-3]; mosquitto 2.0.11 calls it malformed.
  if (packet.messageId === 0) return conn.protocolViolation(ReasonCode.MalformedPacket, 'UNSUBSCRIBE with packet id 0');
  const v5 = conn.protocolVersion === 5;
  const granted: number[] = [];
  for (const filter of packet.unsubscriptions) {
    if (hasIllFormedText(filter)) {
      return conn.protocolViolation(ReasonCode.MalformedPacket, `unsubscribe filter ${escape(filter)} is not valid UTF-8 or contains U+0000`);
    }
    if (!isWellFormedFilter(filter)) {
      // v3 has no code for it: the connection closes, as mosquitto does; v5 says 0x8F.
      if (!v5) return conn.protocolViolation(ReasonCode.TopicFilterInvalid, `invalid unsubscribe filter ${escape(filter)}`);
      granted.push(ReasonCode.TopicFilterInvalid);
      continue;
    }
    const existed = broker.removeSubscription(session, mountPoint + filter);
    granted.push(existed ? ReasonCode.Success : ReasonCode.NoSubscriptionExisted);
    if (broker.log.isEnabled('unsubscribe')) broker.log.log('unsubscribe', `${escape(conn.clientId)} ${escape(filter)}`);
  }
  // v3 UNSUBACK has no payload; mqtt-packet writes `granted` only for v5.
  conn.writePacket({ cmd: 'unsuback', messageId: packet.messageId, granted } as mqtt.IUnsubackPacket);
}

/** The filter rules SUBSCRIBE applies, `$share/<group>/` included. */
function isWellFormedFilter(filter: string): boolean {
  const shared = parseSharedFilter(filter);
  return shared === undefined ? isValidTopicFilter(filter) : shared !== null;
}

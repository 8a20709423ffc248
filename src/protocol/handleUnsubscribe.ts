import type * as mqtt from 'mqtt-packet';
import { escape } from '../log/Logger';
import type { Connection } from './Connection';
import { ReasonCode } from './reasonCodes';

/** UNSUBSCRIBE (§3.10): v5 says per filter whether there was such a subscription. */
export function handleUnsubscribe(conn: Connection, packet: mqtt.IUnsubscribePacket): void {
  const broker = conn.broker;
  const session = conn.session!;
  const mountPoint = conn.info.mountPoint ?? '';
  // At least one filter [MQTT-3.10.3-2]; an empty v5 UNSUBACK cannot even be encoded.
  if (packet.unsubscriptions.length === 0) return conn.protocolViolation(ReasonCode.ProtocolError, 'UNSUBSCRIBE with no topic filter');
  const granted: number[] = [];
  for (const filter of packet.unsubscriptions) {
    const existed = broker.removeSubscription(session, mountPoint + filter);
    granted.push(existed ? ReasonCode.Success : ReasonCode.NoSubscriptionExisted);
    if (broker.log.isEnabled('unsubscribe')) broker.log.log('unsubscribe', `${escape(conn.clientId)} ${escape(filter)}`);
  }
  // v3 UNSUBACK has no payload; mqtt-packet writes `granted` only for v5.
  conn.writePacket({ cmd: 'unsuback', messageId: packet.messageId, granted } as mqtt.IUnsubackPacket);
}

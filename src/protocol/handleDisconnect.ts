import type * as mqtt from 'mqtt-packet';
import { escape } from '../log/Logger';
import type { Connection } from './Connection';
import { ReasonCode } from './reasonCodes';

/**
 * DISCONNECT from a client (§3.14): a normal close discards the will [MQTT-3.14.4-3];
 * v5 reason 0x04 keeps it, and may change the Session Expiry Interval.
 */
export function handleDisconnect(conn: Connection, packet: mqtt.IDisconnectPacket): void {
  const session = conn.session!;
  const expiry = packet.properties?.sessionExpiryInterval;
  if (conn.protocolVersion === 5 && expiry !== undefined) {
    // A session that expired at disconnect may not be made persistent now [MQTT-3.14.2-2].
    if (session.expiryInterval === 0 && expiry !== 0) {
      return conn.protocolViolation(ReasonCode.ProtocolError, 'session expiry set at DISCONNECT after 0 at CONNECT');
    }
    conn.broker.setSessionExpiry(session, expiry);
  }
  if (conn.broker.log.isEnabled('information')) conn.broker.log.info(`Client ${escape(conn.clientId)} disconnected.`);
  conn.closeGracefully(packet.reasonCode === ReasonCode.DisconnectWithWill);
}

import type * as mqtt from 'mqtt-packet';
import type { Connection } from './Connection';
import { ReasonCode } from './reasonCodes';

/**
 * The client's answers to messages the broker sent: PUBACK (QoS 1 done), PUBREC (QoS 2
 * received: send PUBREL), PUBCOMP (QoS 2 done). An unknown PUBACK or PUBCOMP id is ignored, as
 * mosquitto does.
 */
export function handlePuback(conn: Connection, packet: mqtt.IPubackPacket): void {
  conn.broker.acknowledge(conn.session!, packet.messageId ?? 0);
}

export function handlePubrec(conn: Connection, packet: mqtt.IPubrecPacket): void {
  const session = conn.session!;
  // A v5 PUBREC with an error code ends the exchange [MQTT-4.3.3-4].
  if ((packet.reasonCode ?? 0) >= 0x80) conn.broker.acknowledge(session, packet.messageId ?? 0);
  else if (!session.received(packet.messageId ?? 0)) {
    // An unknown id still gets its PUBREL, as from mosquitto; v5 says why [MQTT-4.3.3].
    const id = packet.messageId ?? 0;
    if (conn.protocolVersion === 5) {
      conn.writePacket({ cmd: 'pubrel', messageId: id, reasonCode: ReasonCode.PacketIdentifierNotFound } as mqtt.IPubrelPacket);
    } else {
      conn.sendPubrel(id);
    }
  }
}

export function handlePubcomp(conn: Connection, packet: mqtt.IPubcompPacket): void {
  conn.broker.acknowledge(conn.session!, packet.messageId ?? 0);
}

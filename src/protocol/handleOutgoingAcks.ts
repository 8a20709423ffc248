import type * as mqtt from 'mqtt-packet';
import type { Connection } from './Connection';

/**
 * The client's answers to messages the broker sent: PUBACK (QoS 1 done), PUBREC (QoS 2
 * received: send PUBREL), PUBCOMP (QoS 2 done). An unknown id is ignored, as mosquitto does.
 */
export function handlePuback(conn: Connection, packet: mqtt.IPubackPacket): void {
  conn.broker.acknowledge(conn.session!, packet.messageId ?? 0);
}

export function handlePubrec(conn: Connection, packet: mqtt.IPubrecPacket): void {
  const session = conn.session!;
  // A v5 PUBREC with an error code ends the exchange [MQTT-4.3.3-4].
  if ((packet.reasonCode ?? 0) >= 0x80) conn.broker.acknowledge(session, packet.messageId ?? 0);
  else session.received(packet.messageId ?? 0);
}

export function handlePubcomp(conn: Connection, packet: mqtt.IPubcompPacket): void {
  conn.broker.acknowledge(conn.session!, packet.messageId ?? 0);
}

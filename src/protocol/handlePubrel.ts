import type * as mqtt from 'mqtt-packet';
import { ack, type Connection } from './Connection';

const PUBCOMP = 0x70;

/** PUBREL from a client (§3.6): the QoS 2 exchange ends; answer PUBCOMP. */
export function handlePubrel(conn: Connection, packet: mqtt.IPubrelPacket): void {
  const id = packet.messageId ?? 0;
  if (conn.broker.incomingQos2(conn.session!, id, false) || conn.protocolVersion !== 5) {
    conn.write(ack(PUBCOMP, id));
  } else {
    conn.writePacket({ cmd: 'pubcomp', messageId: id, reasonCode: 0x92 } as mqtt.IPubcompPacket);
  }
}

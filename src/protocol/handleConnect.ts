import type * as mqtt from 'mqtt-packet';
import type { ConnectRefusal } from '../broker/Broker';
import { Message, type QoS } from '../broker/Message';
import { NEVER_EXPIRES } from '../broker/Session';
import { isValidTopicName } from '../broker/topics';
import { escape } from '../log/Logger';
import type { Connection } from './Connection';
import { fromPacketProperties } from './messageProperties';
import { ConnackV3, ReasonCode, connackCodeV3 } from './reasonCodes';

/**
 * How a refusal reads on the wire, as a v5 reason code. A wrong password or unknown user
 * gets "not authorised" (v3 code 5, v5 0x87), exactly as mosquitto 2.0 answers, so scripts
 * that check mosquitto_sub's exit code or message keep working.
 */
const REFUSAL_REASON: Record<Exclude<ConnectRefusal, 'ok'>, number> = {
  'bad-credentials': ReasonCode.NotAuthorized,
  'not-authorized': ReasonCode.NotAuthorized,
  // Throttled after failed logins: refused at once, unchecked (v3: "not authorised").
  'rate-limited': ReasonCode.ConnectionRateExceeded,
  'server-busy': ReasonCode.ServerBusy,
};

/**
 * CONNECT (§3.1): validate, authenticate, attach or create the session, CONNACK, then
 * resend what the session had pending.
 */
export async function handleConnect(conn: Connection, packet: mqtt.IConnectPacket): Promise<void> {
  const broker = conn.broker;
  const limits = broker.limits;
  const version = packet.protocolVersion ?? 4;
  conn.protocolVersion = version;
  const v5 = version === 5;
  // mosquitto's bridge bit (0x80 on the level) asks for loop prevention in v3 (try_private).
  conn.isBridge = !v5 && (packet as { bridgeMode?: boolean }).bridgeMode === true;
  conn.problemInformation = packet.properties?.requestProblemInformation !== false;

  // Protocol name must match the level: MQIsdp for 3.1, MQTT for 3.1.1 and 5 [MQTT-3.1.2-1].
  if ((version === 3) !== (packet.protocolId === 'MQIsdp')) {
    conn.protocolViolation(ReasonCode.ProtocolError, `protocol name ${packet.protocolId} does not match level ${version}`);
    return;
  }
  const props = packet.properties;
  if (v5 && props?.authenticationMethod !== undefined) {
    return refuse(conn, ReasonCode.BadAuthenticationMethod, 'enhanced authentication is not supported');
  }
  if (v5 && props?.receiveMaximum === 0) {
    conn.protocolViolation(ReasonCode.ProtocolError, 'Receive Maximum of 0');
    return;
  }

  // Client identifier rules (§3.1.3.1).
  let clientId = packet.clientId ?? '';
  let assignedClientId: string | undefined;
  const clean = packet.clean !== false;
  if (clientId.includes('\u0000') || clientId.includes('\ufffd')) {
    return refuse(conn, ReasonCode.ClientIdentifierNotValid, 'client id is not valid UTF-8');
  }
  if (version === 3 && (clientId.length === 0 || clientId.length > 23)) {
    return refuse(conn, ReasonCode.ClientIdentifierNotValid, 'MQTT 3.1 client ids are 1 to 23 characters');
  }
  if (clientId.length === 0) {
    // v3.1.1: a zero-length id needs clean session [MQTT-3.1.3-8]; v5 allows it always.
    if (!limits.allowZeroLengthClientId || (version === 4 && !clean)) {
      return refuse(conn, ReasonCode.ClientIdentifierNotValid, 'zero-length client id not allowed');
    }
    // node:crypto is loaded only when an id is assigned: it costs megabytes of RSS.
    clientId = limits.autoIdPrefix + (require('node:crypto') as typeof import('node:crypto')).randomBytes(12).toString('hex');
    if (v5) assignedClientId = clientId;
  }
  conn.clientId = clientId;

  // Keepalive: v5 gets a Server Keep Alive; v3 clients above the limit are refused (as mosquitto).
  let keepalive = packet.keepalive ?? 0;
  let serverKeepAlive: number | undefined;
  if (limits.maxKeepalive > 0 && (keepalive > limits.maxKeepalive || (v5 && keepalive === 0 && limits.maxKeepalive < 65535))) {
    if (!v5) return refuse(conn, ReasonCode.ClientIdentifierNotValid, `keepalive ${keepalive} exceeds max_keepalive`);
    keepalive = serverKeepAlive = limits.maxKeepalive;
  }
  conn.keepalive = keepalive;

  // Will (§3.1.2.5).
  if (packet.will) {
    const w = packet.will;
    const topic = (conn.info.mountPoint ?? '') + w.topic;
    if (!isValidTopicName(w.topic)) {
      return refuse(conn, v5 ? ReasonCode.TopicNameInvalid : ReasonCode.NotAuthorized, 'invalid will topic');
    }
    if (w.retain && !limits.retainAvailable) return refuse(conn, ReasonCode.RetainNotSupported, 'retain not available');
    const payload = typeof w.payload === 'string' ? Buffer.from(w.payload) : w.payload;
    const wp = w.properties;
    const expiry = wp?.messageExpiryInterval;
    conn.will = {
      message: new Message(
        topic,
        payload,
        (w.qos ?? 0) as QoS,
        w.retain === true,
        fromPacketProperties(wp),
        expiry !== undefined ? Date.now() + expiry * 1000 : undefined,
        clientId,
      ),
      delay: wp?.willDelayInterval ?? 0,
    };
  }

  let username = packet.username;
  let password = packet.password;
  if (conn.info.useIdentityAsUsername) {
    if (conn.info.certificateIdentity === undefined) {
      return refuse(conn, ReasonCode.NotAuthorized, 'no verified client certificate');
    }
    username = conn.info.certificateIdentity;
    password = undefined;
  }
  if (!v5 && version === 4 && password !== undefined && username === undefined) {
    conn.protocolViolation(ReasonCode.ProtocolError, 'password without username');
    return;
  }

  const sessionExpiryInterval = v5 ? props?.sessionExpiryInterval ?? 0 : clean ? 0 : NEVER_EXPIRES;
  const outcome = await broker.connect({
    clientId,
    username,
    password,
    remoteAddress: conn.remoteAddress,
    certificateIdentity: conn.info.certificateIdentity,
    protocolVersion: version,
    cleanStart: clean,
    sessionExpiryInterval,
    receiveMaximum: props?.receiveMaximum ?? 65535,
    will: conn.will,
    link: conn,
  });
  if (conn.state === 'closed') {
    // The socket went away while authenticating.
    if (outcome.accepted) broker.disconnect(outcome.session, conn, conn.will);
    return;
  }
  if (!outcome.accepted) {
    if (broker.log.isEnabled('notice')) {
      const who = username === undefined ? '' : ` u'${escape(username)}'`;
      broker.log.notice(`Client ${escape(clientId)}${who} from ${conn.remoteAddress} refused: ${outcome.reason}.`);
    }
    return refuse(conn, REFUSAL_REASON[outcome.reason], outcome.reason);
  }

  conn.session = outcome.session;
  conn.clientMaximumPacketSize = props?.maximumPacketSize ?? 0;
  const connack: mqtt.IConnackPacket = { cmd: 'connack', sessionPresent: outcome.sessionPresent };
  if (v5) {
    connack.reasonCode = 0;
    const p: NonNullable<mqtt.IConnackPacket['properties']> = { topicAliasMaximum: conn.topicAliasMaximum };
    if (assignedClientId !== undefined) p.assignedClientIdentifier = assignedClientId;
    if (serverKeepAlive !== undefined) p.serverKeepAlive = serverKeepAlive;
    if (limits.maxPacketSize > 0) p.maximumPacketSize = limits.maxPacketSize;
    if (!limits.retainAvailable) p.retainAvailable = false;
    connack.properties = p;
  } else {
    connack.returnCode = ConnackV3.Accepted;
  }
  conn.writePacket(connack);
  if (broker.log.isEnabled('information')) {
    broker.log.info(
      `New client connected from ${conn.remoteAddress} as ${escape(clientId)} (p${version}, c${clean ? 1 : 0}, k${keepalive}` +
        `${username === undefined ? '' : `, u'${escape(username)}'`}).`,
    );
  }
  conn.connected();
  outcome.session.resume();
}

/** CONNACK with a refusal code, then close [MQTT-3.2.2-5]. */
export function refuse(conn: Connection, reason: number, text: string): void {
  if (conn.state === 'closed') return;
  const connack: mqtt.IConnackPacket = { cmd: 'connack', sessionPresent: false };
  if (conn.protocolVersion === 5) {
    connack.reasonCode = reason;
    connack.properties = { reasonString: text };
  } else {
    connack.returnCode = connackCodeV3(reason);
  }
  conn.writePacket(connack);
  conn.closeGracefully(false);
}

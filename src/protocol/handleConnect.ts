import * as mqtt from 'mqtt-packet';
import type { ConnectRefusal } from '../broker/Broker';
import { Message, type QoS } from '../broker/Message';
import { NEVER_EXPIRES } from '../broker/Session';
import { isValidTopicName } from '../broker/topics';
import { escape } from '../log/Logger';
import type { Connection } from './Connection';
import { incomingQos2Maximum } from './handlePublish';
import { fromPacketProperties } from './messageProperties';
import { hasIllFormedText } from './propertyRules';
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
  // v3: 3, server unavailable.
  'session-limit': ReasonCode.QuotaExceeded,
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
  // Set before any CONNACK: a refusal's reason string must fit it too [MQTT-3.1.2-25].
  conn.clientMaximumPacketSize = v5 ? props?.maximumPacketSize ?? 0 : 0;
  if (v5 && props?.authenticationMethod !== undefined) {
    return refuse(conn, ReasonCode.BadAuthenticationMethod, 'enhanced authentication is not supported', packet.username);
  }

  // Client identifier rules (§3.1.3.1). A string with U+0000 or bytes that are not UTF-8
  // (read as U+FFFD) closes the connection without a CONNACK [MQTT-1.5.3-1, MQTT-1.5.3-2,
  // MQTT-3.1.4-1], as mosquitto 2.0.11 does.
  let clientId = packet.clientId ?? '';
  let assignedClientId: string | undefined;
  const clean = packet.clean !== false;
  conn.clientId = clientId; // for the log lines of a refusal; an assigned id replaces it
  if (hasIllFormedText(clientId)) {
    conn.protocolViolation(ReasonCode.MalformedPacket, 'client id is not valid UTF-8 or contains U+0000');
    return;
  }
  if (packet.username !== undefined && hasIllFormedText(packet.username)) {
    conn.protocolViolation(ReasonCode.MalformedPacket, 'username is not valid UTF-8 or contains U+0000');
    return;
  }
  // MQTT 3.1 limits ids to 23 characters; mosquitto 2.0.11 accepts longer ones, and so do the
  // clients that still speak 3.1. It refuses an empty one [MQTT 3.1 §3.1].
  if (version === 3 && clientId.length === 0) {
    return refuse(conn, ReasonCode.ClientIdentifierNotValid, 'MQTT 3.1 client id is empty', packet.username);
  }
  if (clientId.length === 0) {
    // v3.1.1: a zero-length id needs clean session [MQTT-3.1.3-8]; v5 allows it always.
    if (!limits.allowZeroLengthClientId || (version === 4 && !clean)) {
      return refuse(conn, ReasonCode.ClientIdentifierNotValid, 'zero-length client id not allowed', packet.username);
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
    // As mosquitto 2.0.12 and later; 2.0.11 accepts the client with its own keepalive.
    if (!v5) return refuse(conn, ReasonCode.ClientIdentifierNotValid, `keepalive ${keepalive} exceeds max_keepalive`, packet.username);
    keepalive = serverKeepAlive = limits.maxKeepalive;
  }
  conn.keepalive = keepalive;

  // Will (§3.1.2.5).
  if (packet.will) {
    const w = packet.will;
    const topic = (conn.info.mountPoint ?? '') + w.topic;
    // Will QoS 3 is malformed [MQTT-3.1.2-12]; mqtt-packet reads it as given.
    if ((w.qos as number) === 3) {
      conn.protocolViolation(ReasonCode.MalformedPacket, 'Will QoS 3');
      return;
    }
    // An invalid will topic closes without a CONNACK, as mosquitto 2.0.11 does [MQTT-3.1.4-1].
    if (!isValidTopicName(w.topic)) {
      conn.protocolViolation(ReasonCode.TopicNameInvalid, `invalid will topic ${escape(w.topic)}`);
      return;
    }
    if (w.retain && !limits.retainAvailable) return refuse(conn, ReasonCode.RetainNotSupported, 'retain not available', packet.username);
    const payload = typeof w.payload === 'string' ? Buffer.from(w.payload) : w.payload;
    // message_size_limit covers wills too; mosquitto 2.0.11 refuses the CONNECT (will__read).
    const sizeLimit = limits.messageSizeLimit;
    if (sizeLimit > 0 && payload.length > sizeLimit) {
      const text = `will payload of ${payload.length} bytes exceeds message_size_limit ${sizeLimit}`;
      return refuse(conn, ReasonCode.PacketTooLarge, text, packet.username, ConnackV3.NotAuthorized);
    }
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
      return refuse(conn, ReasonCode.NotAuthorized, 'no verified client certificate', packet.username);
    }
    username = conn.info.certificateIdentity;
    password = undefined;
  }
  if (!v5 && password !== undefined && username === undefined) {
    conn.protocolViolation(ReasonCode.ProtocolError, 'password without username');
    return;
  }

  // The accepting CONNACK is known before authentication: if it cannot fit the client's
  // Maximum Packet Size, the client cannot be served [MQTT-3.1.2-24].
  const connack: mqtt.IConnackPacket = { cmd: 'connack', sessionPresent: false };
  if (v5) {
    connack.reasonCode = 0;
    const p: NonNullable<mqtt.IConnackPacket['properties']> = { topicAliasMaximum: conn.topicAliasMaximum };
    if (assignedClientId !== undefined) p.assignedClientIdentifier = assignedClientId;
    if (serverKeepAlive !== undefined) p.serverKeepAlive = serverKeepAlive;
    if (limits.maxPacketSize > 0) p.maximumPacketSize = limits.maxPacketSize;
    const receiveMaximum = incomingQos2Maximum(limits);
    if (receiveMaximum < 65535) p.receiveMaximum = receiveMaximum;
    if (!limits.retainAvailable) p.retainAvailable = false;
    connack.properties = p;
    const max = conn.clientMaximumPacketSize;
    if (max > 0 && mqtt.generate(connack, { protocolVersion: 5 }).length > max) {
      conn.protocolViolation(ReasonCode.ImplementationSpecificError, `CONNACK would exceed the client's Maximum Packet Size ${max}`);
      return;
    }
  } else {
    connack.returnCode = ConnackV3.Accepted;
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
  if (!outcome.accepted) return refuse(conn, REFUSAL_REASON[outcome.reason], outcome.reason, username);

  conn.session = outcome.session;
  // The session-present bit is reserved in MQTT 3.1 (its CONNACK's first byte is unused).
  connack.sessionPresent = version !== 3 && outcome.sessionPresent;
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

/**
 * Logs the refusal, answers with a CONNACK carrying the code, then closes [MQTT-3.2.2-5].
 * `v3Code` overrides the v3 code mapped from the v5 reason.
 */
export function refuse(conn: Connection, reason: number, text: string, username?: string, v3Code?: number): void {
  if (conn.state === 'closed') return;
  const log = conn.broker.log;
  if (log.isEnabled('notice')) {
    const who = username === undefined ? '' : ` u'${escape(username)}'`;
    log.notice(`Client ${escape(conn.clientId || '<unknown>')}${who} from ${conn.remoteAddress} refused: ${escape(text)}.`);
  }
  const connack: mqtt.IConnackPacket = { cmd: 'connack', sessionPresent: false };
  if (conn.protocolVersion === 5) {
    connack.reasonCode = reason;
    connack.properties = { reasonString: text };
  } else {
    connack.returnCode = v3Code ?? connackCodeV3(reason);
  }
  conn.writePacket(connack);
  conn.closeGracefully(false);
}

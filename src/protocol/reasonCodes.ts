/** MQTT 5 reason codes (§2.4) used by mqttd, and their MQTT 3.x CONNACK equivalents. */
export const ReasonCode = {
  Success: 0x00,
  NormalDisconnection: 0x00,
  DisconnectWithWill: 0x04,
  NoMatchingSubscribers: 0x10,
  NoSubscriptionExisted: 0x11,
  UnspecifiedError: 0x80,
  MalformedPacket: 0x81,
  ProtocolError: 0x82,
  ImplementationSpecificError: 0x83,
  UnsupportedProtocolVersion: 0x84,
  ClientIdentifierNotValid: 0x85,
  BadUsernameOrPassword: 0x86,
  NotAuthorized: 0x87,
  ServerUnavailable: 0x88,
  ServerBusy: 0x89,
  BadAuthenticationMethod: 0x8c,
  KeepAliveTimeout: 0x8d,
  SessionTakenOver: 0x8e,
  TopicFilterInvalid: 0x8f,
  TopicNameInvalid: 0x90,
  PacketIdentifierNotFound: 0x92,
  ReceiveMaximumExceeded: 0x93,
  TopicAliasInvalid: 0x94,
  PacketTooLarge: 0x95,
  QuotaExceeded: 0x97,
  RetainNotSupported: 0x9a,
  ConnectionRateExceeded: 0x9f,
  ServerShuttingDown: 0x8b,
} as const;

/** MQTT 3.1/3.1.1 CONNACK return codes (§3.2.2.3). */
export const ConnackV3 = {
  Accepted: 0,
  UnacceptableProtocolVersion: 1,
  IdentifierRejected: 2,
  ServerUnavailable: 3,
  BadUsernameOrPassword: 4,
  NotAuthorized: 5,
} as const;

/** The v3 CONNACK code for a v5 refusal reason. */
export function connackCodeV3(reason: number): number {
  switch (reason) {
    case ReasonCode.UnsupportedProtocolVersion:
      return ConnackV3.UnacceptableProtocolVersion;
    case ReasonCode.ClientIdentifierNotValid:
      return ConnackV3.IdentifierRejected;
    case ReasonCode.BadUsernameOrPassword:
      return ConnackV3.BadUsernameOrPassword;
    case ReasonCode.NotAuthorized:
    case ReasonCode.ConnectionRateExceeded:
      return ConnackV3.NotAuthorized;
    default:
      return ConnackV3.ServerUnavailable;
  }
}

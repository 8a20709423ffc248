/** The texts libmosquitto prints for CONNACK codes and v5 reason codes (strings_mosq.c). */

/** mosquitto_connack_string: MQTT 3.1/3.1.1 CONNACK return codes. */
export function connackString(code: number): string {
  switch (code) {
    case 0:
      return 'Connection Accepted.';
    case 1:
      return 'Connection Refused: unacceptable protocol version.';
    case 2:
      return 'Connection Refused: identifier rejected.';
    case 3:
      return 'Connection Refused: broker unavailable.';
    case 4:
      return 'Connection Refused: bad user name or password.';
    case 5:
      return 'Connection Refused: not authorised.';
    default:
      return 'Connection Refused: unknown reason.';
  }
}

const REASONS: Record<number, string> = {
  0: 'Success',
  1: 'Granted QoS 1',
  2: 'Granted QoS 2',
  4: 'Disconnect with Will Message',
  16: 'No matching subscribers',
  17: 'No subscription existed',
  24: 'Continue authentication',
  25: 'Re-authenticate',
  128: 'Unspecified error',
  129: 'Malformed Packet',
  130: 'Protocol Error',
  131: 'Implementation specific error',
  132: 'Unsupported Protocol Version',
  133: 'Client Identifier not valid',
  134: 'Bad User Name or Password',
  135: 'Not authorized',
  136: 'Server unavailable',
  137: 'Server busy',
  138: 'Banned',
  139: 'Server shutting down',
  140: 'Bad authentication method',
  141: 'Keep Alive timeout',
  142: 'Session taken over',
  143: 'Topic Filter invalid',
  144: 'Topic Name invalid',
  145: 'Packet Identifier in use',
  146: 'Packet Identifier not found',
  147: 'Receive Maximum exceeded',
  148: 'Topic Alias invalid',
  149: 'Packet too large',
  150: 'Message rate too high',
  151: 'Quota exceeded',
  152: 'Administrative action',
  153: 'Payload format invalid',
  154: 'Retain not supported',
  155: 'QoS not supported',
  156: 'Use another server',
  157: 'Server moved',
  158: 'Shared Subscriptions not supported',
  159: 'Connection rate exceeded',
  160: 'Maximum connect time',
  161: 'Subscription identifiers not supported',
  162: 'Wildcard Subscriptions not supported',
};

/** mosquitto_reason_string: MQTT v5 reason codes. */
export function reasonString(code: number): string {
  return REASONS[code] ?? 'Unknown reason';
}

/** The "Connection error: ..." line both tools print when CONNACK refuses them. */
export function connectionErrorLine(protocolVersion: number, code: number): string {
  if (protocolVersion !== 5) return `Connection error: ${connackString(code)}\n`;
  if (code === 132) {
    return `Connection error: ${reasonString(code)}. Try connecting to an MQTT v5 broker, or use MQTT v3.x mode.\n`;
  }
  return `Connection error: ${reasonString(code)}\n`;
}

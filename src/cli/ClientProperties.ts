/**
 * MQTT v5 properties given on the command line: `-D command identifier value` (or
 * `-D command user-property name value`), with mosquitto's names, rules and messages.
 */

export type PropertyCommand = 'connect' | 'publish' | 'subscribe' | 'unsubscribe' | 'disconnect' | 'will' | 'auth';
type PropertyType = 'byte' | 'int16' | 'int32' | 'varint' | 'string' | 'binary' | 'pair';

interface PropertyInfo {
  /** mqtt-packet's key for this property. */
  key: string;
  type: PropertyType;
  /** Packets the spec allows it on (mosquitto_property_check_command). */
  allowed: readonly string[];
}

const PUBLISH_WILL = ['publish', 'will'];
const PROPERTIES: Record<string, PropertyInfo> = {
  'payload-format-indicator': { key: 'payloadFormatIndicator', type: 'byte', allowed: PUBLISH_WILL },
  'message-expiry-interval': { key: 'messageExpiryInterval', type: 'int32', allowed: PUBLISH_WILL },
  'content-type': { key: 'contentType', type: 'string', allowed: PUBLISH_WILL },
  'response-topic': { key: 'responseTopic', type: 'string', allowed: PUBLISH_WILL },
  'correlation-data': { key: 'correlationData', type: 'binary', allowed: PUBLISH_WILL },
  'subscription-identifier': { key: 'subscriptionIdentifier', type: 'varint', allowed: ['publish', 'subscribe'] },
  'session-expiry-interval': { key: 'sessionExpiryInterval', type: 'int32', allowed: ['connect', 'connack', 'disconnect'] },
  'assigned-client-identifier': { key: 'assignedClientIdentifier', type: 'string', allowed: ['connack'] },
  'server-keep-alive': { key: 'serverKeepAlive', type: 'int16', allowed: ['connack'] },
  'authentication-method': { key: 'authenticationMethod', type: 'string', allowed: ['connect', 'connack', 'auth'] },
  'authentication-data': { key: 'authenticationData', type: 'binary', allowed: ['connect', 'connack', 'auth'] },
  'request-problem-information': { key: 'requestProblemInformation', type: 'byte', allowed: ['connect'] },
  'will-delay-interval': { key: 'willDelayInterval', type: 'int32', allowed: ['will'] },
  'request-response-information': { key: 'requestResponseInformation', type: 'byte', allowed: ['connect'] },
  'response-information': { key: 'responseInformation', type: 'string', allowed: ['connack'] },
  'server-reference': { key: 'serverReference', type: 'string', allowed: ['connack', 'disconnect'] },
  'reason-string': {
    key: 'reasonString',
    type: 'string',
    allowed: ['connack', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'suback', 'unsuback', 'disconnect', 'auth'],
  },
  'receive-maximum': { key: 'receiveMaximum', type: 'int16', allowed: ['connect', 'connack'] },
  'topic-alias-maximum': { key: 'topicAliasMaximum', type: 'int16', allowed: ['connect', 'connack'] },
  'topic-alias': { key: 'topicAlias', type: 'int16', allowed: ['publish'] },
  'maximum-qos': { key: 'maximumQoS', type: 'byte', allowed: ['connack'] },
  'retain-available': { key: 'retainAvailable', type: 'byte', allowed: ['connack'] },
  'user-property': {
    key: 'userProperties',
    type: 'pair',
    allowed: ['connect', 'connack', 'publish', 'will', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'subscribe', 'suback', 'unsubscribe', 'unsuback', 'disconnect', 'auth'],
  },
  'maximum-packet-size': { key: 'maximumPacketSize', type: 'int32', allowed: ['connect', 'connack'] },
  'wildcard-subscription-available': { key: 'wildcardSubscriptionAvailable', type: 'byte', allowed: ['connack'] },
  'subscription-identifier-available': { key: 'subscriptionIdentifiersAvailable', type: 'byte', allowed: ['connack'] },
  'shared-subscription-available': { key: 'sharedSubscriptionAvailable', type: 'byte', allowed: ['connack'] },
};

const COMMANDS = new Set([
  'connect', 'connack', 'publish', 'puback', 'pubrec', 'pubrel', 'pubcomp',
  'subscribe', 'suback', 'unsubscribe', 'unsuback', 'disconnect', 'auth', 'will',
]);

/** Property bags keyed the way mqtt-packet expects, one per packet kind. */
export type PropertyBag = Record<string, unknown>;
export type PropertySets = Record<PropertyCommand, PropertyBag>;

export function emptyPropertySets(): PropertySets {
  return { connect: {}, publish: {}, subscribe: {}, unsubscribe: {}, disconnect: {}, will: {}, auth: {} };
}

/** Result of reading one -D: how many argv entries it used, or the error text to print. */
export type PropertyParse = { ok: true; used: number } | { ok: false; message: string };

/** Parses argv[at..] (the words after -D) into `sets`. */
export function parseProperty(argv: readonly string[], at: number, sets: PropertySets): PropertyParse {
  const notEnough = { ok: false as const, message: 'Error: --property argument given but not enough arguments specified.\n\n' };
  if (at + 3 > argv.length) return notEnough;
  const command = argv[at] as string;
  const name = argv[at + 1] as string;
  if (!COMMANDS.has(command)) return { ok: false, message: 'Error: Invalid command given in --property argument.\n\n' };
  const info = PROPERTIES[name];
  if (!info) return { ok: false, message: 'Error: Invalid property name given in --property argument.\n\n' };
  if (!info.allowed.includes(command)) {
    return { ok: false, message: `Error: ${name} property not allowed for ${command} in --property argument.\n\n` };
  }
  const used = info.type === 'pair' ? 4 : 3;
  if (at + used > argv.length) return notEnough;
  const notSupported = { ok: false as const, message: `Error: ${name} property not supported for ${command} in --property argument.\n\n` };
  let bag: PropertyBag;
  switch (command) {
    case 'connect':
    case 'publish':
    case 'will':
    case 'auth':
      if (command === 'publish' && name === 'subscription-identifier') return notSupported;
      bag = sets[command];
      break;
    case 'subscribe':
      if (name !== 'subscription-identifier' && name !== 'user-property') return notSupported;
      bag = sets.subscribe;
      break;
    case 'unsubscribe':
      if (name !== 'user-property') return notSupported;
      bag = sets.unsubscribe;
      break;
    case 'disconnect':
      bag = sets.disconnect;
      break;
    default:
      return notSupported;
  }
  const value = argv[at + used - 1] as string;
  switch (info.type) {
    case 'pair': {
      const key = argv[at + 2] as string;
      const users = (bag.userProperties ?? {}) as Record<string, string | string[]>;
      const prior = users[key];
      users[key] = prior === undefined ? value : Array.isArray(prior) ? [...prior, value] : [prior, value];
      bag.userProperties = users;
      break;
    }
    case 'string':
      bag[info.key] = value;
      break;
    case 'binary':
      bag[info.key] = Buffer.from(value);
      break;
    default: {
      const n = cInt(value);
      const max = info.type === 'byte' ? 255 : info.type === 'int16' ? 65535 : info.type === 'varint' ? 268435455 : 4294967295;
      if (n < 0 || n > max) return { ok: false, message: `Error: Property value (${value}) out of range for property ${name}.\n\n` };
      // mqtt-packet carries these one-byte flags as booleans.
      bag[info.key] = info.type === 'byte' && info.key !== 'maximumQoS' ? n !== 0 : n;
      break;
    }
  }
  return { ok: true, used };
}

/** C's atoi: leading whitespace, optional sign, digits; 0 when there are none. */
export function cInt(text: string): number {
  const m = /^\s*([+-]?\d+)/.exec(text);
  return m ? Number.parseInt(m[1] as string, 10) : 0;
}

/**
 * fast-check arbitraries for StoreSnapshot, covering every optional field both present and
 * absent (absent keys are absent, not undefined, as the broker builds them).
 */
import fc from 'fast-check';
import type {
  StoreSnapshot,
  StoredMessage,
  StoredMessageProperties,
  StoredQueuedMessage,
  StoredSession,
  StoredSubscription,
} from '../../src/persistence/StoreSnapshot';

// 'binary': any Unicode code point (U+0000, U+FEFF, astral), never a lone surrogate, which
// MQTT forbids [MQTT-1.5.4-1] and which UTF-8 cannot carry.
const text = fc.string({ unit: 'binary', maxLength: 12 });
const bytes = fc.uint8Array({ maxLength: 48 }).map((a) => Buffer.from(a));
const qos = fc.constantFrom<0 | 1 | 2>(0, 1, 2);
const time = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const subscriptionId = fc.integer({ min: 1, max: 268_435_455 });
const packetId = fc.integer({ min: 1, max: 0xffff });

const options = { noNullPrototype: true } as const;

export const propertiesArb: fc.Arbitrary<StoredMessageProperties> = fc.record(
  {
    payloadFormatIndicator: fc.boolean(),
    contentType: text,
    responseTopic: text,
    correlationData: bytes,
    userProperties: fc.array(fc.record({ key: text, value: text }, options), { maxLength: 3 }),
  },
  { requiredKeys: [], ...options },
);

const messageModel = {
  topic: text,
  payload: bytes,
  qos,
  retain: fc.boolean(),
  properties: propertiesArb,
  expiresAt: time,
};

export const messageArb: fc.Arbitrary<StoredMessage> = fc.record(messageModel, {
  requiredKeys: ['topic', 'payload', 'qos', 'retain'],
  ...options,
});

export const queuedMessageArb: fc.Arbitrary<StoredQueuedMessage> = fc.record(
  {
    ...messageModel,
    packetId,
    released: fc.boolean(),
    subscriptionIds: fc.array(subscriptionId, { maxLength: 3 }),
  },
  { requiredKeys: ['topic', 'payload', 'qos', 'retain'], ...options },
);

export const subscriptionArb: fc.Arbitrary<StoredSubscription> = fc.record(
  {
    filter: text,
    qos,
    noLocal: fc.boolean(),
    retainAsPublished: fc.boolean(),
    retainHandling: fc.constantFrom<0 | 1 | 2>(0, 1, 2),
    subscriptionId,
  },
  { requiredKeys: ['filter', 'qos', 'noLocal', 'retainAsPublished', 'retainHandling'], ...options },
);

export const sessionArb: fc.Arbitrary<StoredSession> = fc.record(
  {
    clientId: text,
    username: text,
    protocolVersion: fc.constantFrom<3 | 4 | 5>(3, 4, 5),
    expiryInterval: fc.integer({ min: 0, max: 0xffff_ffff }),
    disconnectedAt: time,
    subscriptions: fc.array(subscriptionArb, { maxLength: 3 }),
    queue: fc.array(queuedMessageArb, { maxLength: 3 }),
    incomingQos2Ids: fc.array(packetId, { maxLength: 3 }),
  },
  {
    requiredKeys: ['clientId', 'protocolVersion', 'expiryInterval', 'disconnectedAt', 'subscriptions', 'queue', 'incomingQos2Ids'],
    ...options,
  },
);

export const snapshotArb: fc.Arbitrary<StoreSnapshot> = fc.record(
  {
    retained: fc.array(messageArb, { maxLength: 4 }),
    sessions: fc.array(sessionArb, { maxLength: 3 }),
  },
  options,
);

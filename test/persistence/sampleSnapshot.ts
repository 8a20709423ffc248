/** Hand-written snapshots that use every field, for tests that need a known, readable value. */
import type { StoreSnapshot } from '../../src/persistence/StoreSnapshot';

/** Every field of the format set at least once, with edge values (0, max, empty, binary). */
export function fullSnapshot(): StoreSnapshot {
  return {
    retained: [
      {
        topic: 'home/livingroom/temperature',
        payload: Buffer.from('21.5'),
        qos: 1,
        retain: true,
        properties: {
          payloadFormatIndicator: true,
          contentType: 'text/plain; charset=utf-8',
          responseTopic: 'home/reply/☃',
          correlationData: Buffer.from([0x00, 0xff, 0x10]),
          userProperties: [
            { key: 'unit', value: '°C' },
            { key: 'unit', value: 'duplicate keys are allowed' },
            { key: '', value: '' },
          ],
        },
        expiresAt: 1_893_456_000_123,
      },
      { topic: 'empty/payload', payload: Buffer.alloc(0), qos: 0, retain: true },
      {
        topic: 'binary/blob',
        payload: Buffer.from([0x00, 0x01, 0xfe, 0xff, 0x80]),
        qos: 2,
        retain: true,
        properties: { payloadFormatIndicator: false },
      },
      { topic: 'props/empty', payload: Buffer.from('x'), qos: 0, retain: true, properties: { userProperties: [] } },
    ],
    sessions: [
      {
        clientId: 'sensor-1',
        username: 'alice',
        protocolVersion: 5,
        expiryInterval: 0xffff_ffff,
        disconnectedAt: 1_700_000_000_000,
        subscriptions: [
          { filter: 'home/+/set', qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 2, subscriptionId: 268_435_455 },
          { filter: '#', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
          { filter: '$SYS/broker/uptime', qos: 1, noLocal: false, retainAsPublished: true, retainHandling: 1, subscriptionId: 1 },
        ],
        queue: [
          { topic: 'home/a/set', payload: Buffer.from('on'), qos: 1, retain: false, packetId: 1 },
          {
            topic: 'home/b/set',
            payload: Buffer.from('off'),
            qos: 2,
            retain: false,
            packetId: 65535,
            released: true,
            subscriptionIds: [1, 268_435_455],
            expiresAt: 1_700_000_060_000,
            properties: { contentType: 'text/plain', correlationData: Buffer.alloc(0) },
          },
          { topic: 'home/c/set', payload: Buffer.from('later'), qos: 2, retain: true, released: false, subscriptionIds: [] },
        ],
        incomingQos2Ids: [1, 2, 65535],
      },
      {
        clientId: '',
        protocolVersion: 3,
        expiryInterval: 0,
        disconnectedAt: 0,
        subscriptions: [],
        queue: [],
        incomingQos2Ids: [],
      },
      {
        clientId: 'v311-client',
        username: '',
        protocolVersion: 4,
        expiryInterval: 3600,
        disconnectedAt: 1_700_000_000_001,
        subscriptions: [{ filter: 'a/b', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
        queue: [{ topic: 'a/b', payload: Buffer.from('queued while offline'), qos: 1, retain: false }],
        incomingQos2Ids: [],
      },
    ],
  };
}

/** A snapshot identified by n, so a reader can tell which of many saves it got. */
export function numberedSnapshot(n: number, payloadBytes = 0): StoreSnapshot {
  return {
    retained: [
      { topic: 'test/round', payload: Buffer.from(String(n)), qos: 1, retain: true },
      { topic: 'test/filler', payload: Buffer.alloc(payloadBytes, n & 0xff), qos: 0, retain: true },
    ],
    sessions: [],
  };
}

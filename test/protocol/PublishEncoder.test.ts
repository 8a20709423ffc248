import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as mqtt from 'mqtt-packet';
import { Message, type QoS } from '../../src/broker/Message';
import { publishHeader } from '../../src/protocol/PublishEncoder';
import type { StoredMessageProperties } from '../../src/persistence/StoreSnapshot';

/** Decodes one packet with mqtt-packet's parser, failing on leftovers or errors. */
function decode(bytes: Buffer, protocolVersion: 4 | 5): mqtt.IPublishPacket {
  const parser = mqtt.parser({ protocolVersion });
  const packets: mqtt.Packet[] = [];
  let error: Error | undefined;
  parser.on('packet', (p: mqtt.Packet) => packets.push(p));
  parser.on('error', (e: Error) => (error = e));
  const left = parser.parse(bytes);
  assert.equal(error, undefined);
  assert.equal(left, 0, 'no bytes left over');
  assert.equal(packets.length, 1);
  assert.equal(packets[0].cmd, 'publish');
  return packets[0] as mqtt.IPublishPacket;
}

const NOW = 1_700_000_000_000;

/** The packet as it goes on the wire: the encoder's header, then the message's own payload. */
function encodePublish(m: Message, v5: boolean, qos: QoS, retain: boolean, packetId: number, dup: boolean, subscriptionId: number | undefined, now: number): Buffer {
  return Buffer.concat([publishHeader(m, v5, qos, retain, packetId, dup, subscriptionId, now), m.payload]);
}

function message(topic: string, payload: Buffer, props?: StoredMessageProperties, expiresAt?: number): Message {
  return new Message(topic, payload, 2, false, props, expiresAt, 'origin');
}

test('v4: every QoS, retain and DUP decodes to what was asked, cached forms equal fresh ones', () => {
  for (const qos of [0, 1, 2] as QoS[]) {
    for (const retain of [false, true]) {
      for (const dup of qos > 0 ? [false, true] : [false]) {
        const shared = message('a/b/ü', Buffer.from('hello'));
        const packetId = qos > 0 ? 0xbeef : 0;
        const first = encodePublish(shared, false, qos, retain, packetId, dup, undefined, NOW);
        // Second call on the same message takes the cached template.
        const second = encodePublish(shared, false, qos, retain, qos > 0 ? 7 : 0, dup, undefined, NOW);
        const fresh = encodePublish(message('a/b/ü', Buffer.from('hello')), false, qos, retain, 7, dup, undefined, NOW);
        const p = decode(first, 4);
        assert.equal(p.topic, 'a/b/ü');
        assert.equal(p.payload.toString(), 'hello');
        assert.equal(p.qos, qos);
        assert.equal(p.retain, retain);
        assert.equal(p.dup, dup);
        if (qos > 0) assert.equal(p.messageId, 0xbeef);
        if (qos > 0) assert.deepEqual(second, fresh);
        assert.equal(decode(second, 4).messageId, qos > 0 ? 7 : undefined);
      }
    }
  }
});

test('one encoding per wire form per fan-out: QoS 0 headers are shared, the cache ends with the next message', () => {
  const first = message('fan/out', Buffer.from('x'));
  const a = publishHeader(first, false, 0, false, 0, false, undefined, NOW);
  assert.equal(publishHeader(first, false, 0, false, 0, false, undefined, NOW), a, 'a second subscriber shares the header');
  assert.notEqual(publishHeader(first, true, 0, false, 0, false, undefined, NOW), a, 'v5 is another wire form');
  assert.notEqual(publishHeader(first, false, 1, false, 1, false, undefined, NOW), a);
  // The next message's fan-out replaces the cache: nothing stays attached to the first one.
  publishHeader(message('other', Buffer.from('y')), false, 0, false, 0, false, undefined, NOW);
  const again = publishHeader(first, false, 0, false, 0, false, undefined, NOW);
  assert.notEqual(again, a);
  assert.deepEqual(again, a);
  assert.deepEqual(Object.keys(first).sort(), ['expiresAt', 'origin', 'payload', 'properties', 'qos', 'retain', 'topic']);
});

test('cached QoS 1/2 forms are copies: a later packet id does not change an earlier buffer', () => {
  const shared = message('t', Buffer.from('x'));
  const a = encodePublish(shared, true, 1, false, 1, false, undefined, NOW);
  const b = encodePublish(shared, true, 2, false, 2, false, undefined, NOW);
  assert.equal(decode(a, 5).messageId, 1);
  assert.equal(decode(a, 5).qos, 1);
  assert.equal(decode(b, 5).messageId, 2);
  assert.equal(decode(b, 5).qos, 2);
});

test('v5: forwarded properties, subscription id and the remaining message expiry', () => {
  const props: StoredMessageProperties = {
    payloadFormatIndicator: true,
    contentType: 'text/plain',
    responseTopic: 'reply/here',
    correlationData: Buffer.from([1, 2, 3]),
    userProperties: [
      { key: 'k', value: 'v1' },
      { key: 'k', value: 'v2' },
      { key: 'ü', value: '€' },
    ],
  };
  const m = message('t/x', Buffer.from('body'), props, NOW + 9_500);
  for (const qos of [0, 1, 2] as QoS[]) {
    const p = decode(encodePublish(m, true, qos, true, qos ? 300 : 0, false, 268_435_455, NOW), 5);
    assert.equal(p.topic, 't/x');
    assert.equal(p.payload.toString(), 'body');
    assert.equal(p.qos, qos);
    assert.equal(p.retain, true);
    const pp = p.properties!;
    assert.equal(pp.payloadFormatIndicator, true);
    assert.equal(pp.contentType, 'text/plain');
    assert.equal(pp.responseTopic, 'reply/here');
    assert.deepEqual(pp.correlationData, Buffer.from([1, 2, 3]));
    assert.deepEqual({ ...pp.userProperties }, { k: ['v1', 'v2'], ü: '€' });
    assert.deepEqual(pp.subscriptionIdentifier, 268_435_455);
    // 9.5 s left is sent as 10 (rounded up: never 0 while the message is alive).
    assert.equal(pp.messageExpiryInterval, 10);
    assert.equal(pp.topicAlias, undefined);
  }
  // The expiry counts down between two deliveries of the same message.
  const later = decode(encodePublish(m, true, 1, false, 1, false, undefined, NOW + 5_000), 5);
  assert.equal(later.properties?.messageExpiryInterval, 5);
});

test('v4 never carries properties, even for a message that has them', () => {
  const m = message('t', Buffer.from('x'), { contentType: 'a/b' }, NOW + 1000);
  const bytes = encodePublish(m, false, 1, false, 5, false, 3, NOW);
  const p = decode(bytes, 4);
  assert.equal(p.properties, undefined);
  assert.equal(p.payload.toString(), 'x');
});

test('property: any topic, payload size and QoS round-trips through mqtt-packet for v4 and v5', () => {
  const topic = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((t) => !/[+#\u0000]/.test(t));
  fc.assert(
    fc.property(
      topic,
      fc.uint8Array({ maxLength: 300 }),
      fc.constantFrom<QoS>(0, 1, 2),
      fc.boolean(),
      fc.integer({ min: 1, max: 65535 }),
      fc.option(fc.integer({ min: 1, max: 268_435_455 }), { nil: undefined }),
      (t, body, qos, v5, packetId, subscriptionId) => {
        const payload = Buffer.from(body);
        const m = message(t, payload);
        for (let pass = 0; pass < 2; pass++) {
          const p = decode(encodePublish(m, v5, qos, false, packetId, false, subscriptionId, NOW), v5 ? 5 : 4);
          assert.equal(p.topic, t);
          assert.deepEqual(Buffer.from(p.payload), payload);
          assert.equal(p.qos, qos);
          if (qos > 0) assert.equal(p.messageId, packetId);
          if (v5) assert.equal(p.properties?.subscriptionIdentifier, subscriptionId);
        }
      },
    ),
    { numRuns: 400 },
  );
});

test('a payload large enough for a 3- and 4-byte remaining length', () => {
  for (const size of [16_383, 16_384, 2_097_151, 2_097_152]) {
    const p = decode(encodePublish(message('big', Buffer.alloc(size, 7)), true, 1, false, 1, false, undefined, NOW), 5);
    assert.equal(p.payload.length, size);
  }
});

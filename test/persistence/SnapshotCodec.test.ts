import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { crc32, crc32After, crc32Js } from '../../src/persistence/Crc32';
import {
  decodeSnapshot,
  decodeStore,
  encodeSnapshot,
  encodeStore,
  STORE_HEADER_SIZE,
  STORE_MAGIC,
  writeSession,
  encodeStoreInSteps,
  ENCODE_STEP_BYTES,
} from '../../src/persistence/SnapshotCodec';
import { ByteWriter } from '../../src/persistence/ByteWriter';
import { SnapshotInvalidError } from '../../src/persistence/SnapshotInvalidError';
import { StoreCorruptError } from '../../src/persistence/StoreCorruptError';
import { emptySnapshot, type StoreSnapshot } from '../../src/persistence/StoreSnapshot';
import { snapshotArb } from './snapshotArbitrary';
import { fullSnapshot } from './sampleSnapshot';
import { fileWithBody, withFixedHeader } from './storeFileBytes';

/** Decodes, requiring a StoreCorruptError (and nothing else). */
function corruptError(file: Buffer): StoreCorruptError {
  let result: StoreSnapshot | undefined;
  try {
    result = decodeSnapshot(file);
  } catch (err) {
    if (err instanceof StoreCorruptError) return err;
    throw new Error(`expected StoreCorruptError, got ${String(err)}`);
  }
  throw new Error(`expected StoreCorruptError, got a snapshot: ${JSON.stringify(result).slice(0, 200)}`);
}

describe('SnapshotCodec', () => {
  it('CRC-32 is the standard IEEE one (check value of "123456789")', () => {
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
    assert.equal(crc32(Buffer.alloc(0)), 0);
    // zlib's native crc32 where Node has it, the JS table otherwise: the same values.
    const bytes = randomBytes(1000);
    assert.equal(crc32(bytes, 7, 900), crc32Js(bytes, 7, 900));
    assert.equal(crc32Js(Buffer.from('123456789')), 0xcbf43926);
    // Continued over pieces (the journal's checkpoint record: its type byte, then the store).
    assert.equal(crc32After(crc32(bytes, 0, 300), bytes.subarray(300)), crc32(bytes));
    assert.equal(crc32Js(bytes, 300, 1000, crc32Js(bytes, 0, 300)), crc32(bytes));
  });

  it('round-trips every field: v5 properties, user properties, binary payloads, queue state, QoS 2 ids, expiry', () => {
    const snapshot = fullSnapshot();
    assert.deepEqual(decodeSnapshot(encodeSnapshot(snapshot)), snapshot);
  });

  it('keeps absent and empty apart (no properties vs {}, released unset vs false, no subscription ids vs [])', () => {
    const base = { topic: 't', payload: Buffer.from('p'), qos: 1 as const, retain: false };
    const session = (queue: StoreSnapshot['sessions'][0]['queue']): StoreSnapshot => ({
      retained: [base, { ...base, properties: {} }, { ...base, properties: { userProperties: [] } }],
      sessions: [{ clientId: 'c', protocolVersion: 5, expiryInterval: 1, disconnectedAt: 2, subscriptions: [], queue, incomingQos2Ids: [] }],
    });
    const snapshot = session([base, { ...base, released: false }, { ...base, subscriptionIds: [] }, { ...base, packetId: 7 }]);
    const decoded = decodeSnapshot(encodeSnapshot(snapshot));
    assert.deepEqual(decoded, snapshot);
    assert.equal('properties' in decoded.retained[0]!, false);
    assert.equal('released' in decoded.sessions[0]!.queue[0]!, false);
    assert.equal('username' in decoded.sessions[0]!, false);
  });

  it('round-trips the empty snapshot in 21 bytes', () => {
    const file = encodeSnapshot(emptySnapshot());
    // Header, journal generation, and five empty sections (retained, messages, sessions, wills, bridges).
    assert.equal(file.length, STORE_HEADER_SIZE + 6);
    assert.deepEqual(decodeSnapshot(file), emptySnapshot());
  });

  it('round-trips a 256 KB random binary payload and an empty one', () => {
    const big = randomBytes(256 * 1024);
    const snapshot: StoreSnapshot = {
      retained: [
        { topic: 'big', payload: big, qos: 0, retain: true },
        { topic: 'empty', payload: Buffer.alloc(0), qos: 0, retain: true },
      ],
      sessions: [],
    };
    const file = encodeSnapshot(snapshot);
    // Compact: the header plus a few bytes of framing around the payload.
    assert.ok(file.length < big.length + 50, `file is ${file.length} bytes`);
    assert.deepEqual(decodeSnapshot(file), snapshot);
  });

  it('property: decode(encode(x)) deep-equals x', () => {
    fc.assert(
      fc.property(snapshotArb, (snapshot) => {
        assert.deepEqual(decodeSnapshot(encodeSnapshot(snapshot)), snapshot);
      }),
      { numRuns: 300 },
    );
  });

  it('property: any change to a valid file (flip, overwrite, insert, delete, truncate, extend) is a StoreCorruptError', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('extend' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    );
    fc.assert(
      fc.property(snapshotArb, fc.array(mutation, { minLength: 1, maxLength: 3 }), (snapshot, mutations) => {
        const original = encodeSnapshot(snapshot);
        let file = Buffer.from(original);
        for (const m of mutations) {
          if (m.kind === 'extend') file = Buffer.concat([file, m.extra]);
          else if (file.length === 0) continue;
          else if (m.kind === 'set') file[m.at % file.length] = m.value;
          else if (m.kind === 'flip') file[m.at % file.length]! ^= 1 << m.bit;
          else if (m.kind === 'insert') {
            const at = m.at % (file.length + 1);
            file = Buffer.concat([file.subarray(0, at), Buffer.from([m.value]), file.subarray(at)]);
          } else if (m.kind === 'delete') {
            const at = m.at % file.length;
            file = Buffer.concat([file.subarray(0, at), file.subarray(at + 1)]);
          } else file = file.subarray(0, m.at % file.length);
        }
        fc.pre(!file.equals(original));
        corruptError(file);
      }),
      { numRuns: 500 },
    );
  });

  it('every truncation of a valid file is a StoreCorruptError, even with the header fixed to match', () => {
    const file = encodeSnapshot(fullSnapshot());
    for (let length = 0; length < file.length; length++) {
      corruptError(file.subarray(0, length));
      if (length >= STORE_HEADER_SIZE) corruptError(withFixedHeader(file.subarray(0, length)));
    }
  });

  it('property: a body changed behind a valid CRC either fails as StoreCorruptError or decodes to exactly what re-encodes to it', () => {
    // The CRC stops random damage; this checks the structural validation behind it. A result
    // that re-encodes to the same bytes is a complete, valid snapshot, never a partial one.
    fc.assert(
      fc.property(snapshotArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (snapshot, at, value) => {
        const file = Buffer.from(encodeSnapshot(snapshot));
        const body = file.length - STORE_HEADER_SIZE;
        file[STORE_HEADER_SIZE + (at % body)] = value;
        const patched = withFixedHeader(file);
        let decoded: StoreSnapshot;
        try {
          decoded = decodeSnapshot(patched);
        } catch (err) {
          assert.ok(err instanceof StoreCorruptError, `unexpected ${String(err)}`);
          return;
        }
        assert.ok(encodeSnapshot(decoded).equals(patched), 'decoded a snapshot that does not re-encode to the file');
      }),
      { numRuns: 1000 },
    );
  });

  it('names the byte offset and what was expected', () => {
    const file = encodeSnapshot(fullSnapshot());

    const badMagic = Buffer.from(file);
    badMagic[0] = 0x4d;
    assert.match(corruptError(badMagic).message, /^byte 0: expected the mqttd store magic/);

    const newer = Buffer.from(file);
    newer[STORE_MAGIC.length] = 4;
    const versionError = corruptError(newer);
    assert.equal(versionError.offset, STORE_MAGIC.length);
    assert.match(versionError.message, /format version 1 to 3, found 4 \(written by a newer mqttd\)/);

    const crcError = corruptError(Buffer.concat([file.subarray(0, file.length - 1), Buffer.from([file[file.length - 1]! ^ 1])]));
    assert.equal(crcError.offset, STORE_MAGIC.length + 5);
    assert.match(crcError.expected, /^CRC-32 0x[0-9a-f]{8} of the body, found 0x[0-9a-f]{8}$/);

    const truncated = corruptError(file.subarray(0, file.length - 10));
    assert.match(truncated.expected, /truncated/);

    const mosquittoDb = Buffer.concat([Buffer.from([0x00, 0xb5, 0x00]), Buffer.from('mosquitto db'), Buffer.alloc(20)]);
    assert.match(corruptError(mosquittoDb).message, /mosquitto\.db/);

    assert.equal(corruptError(Buffer.alloc(0)).message, 'byte 0: expected an mqttd store, found an empty file');
    assert.equal(corruptError(Buffer.from('not a store at all, just text\n')).offset, 0);
  });

  it('rejects structurally bad bodies at the offending byte (version 1 layout, still read)', () => {
    const at = (body: number[]): StoreCorruptError => corruptError(fileWithBody(Buffer.from(body), 1));
    const H = STORE_HEADER_SIZE;
    // One retained message whose flags say QoS 3.
    assert.deepEqual(pick(at([1, 0x07, 0, 0, 0])), { offset: H + 1, expected: 'retained[0] flags: QoS 0, 1 or 2, found 3' });
    // An unknown flag bit.
    assert.equal(at([1, 0x80, 0, 0, 0]).offset, H + 1);
    // A count far beyond the file: refused before allocating anything.
    assert.match(at([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0]).expected, /retained message count: at most \d+ \(bytes left\)/);
    // A number in an overlong encoding (1 written as 0x81 0x00).
    assert.match(at([0x81, 0x00, 0]).expected, /shortest encoding/);
    // A topic that is not UTF-8.
    assert.deepEqual(pick(at([1, 0x00, 2, 0xc3, 0x28, 0, 0])), { offset: H + 3, expected: 'retained[0].topic: valid UTF-8' });
    // A topic length that runs past the end.
    assert.match(at([1, 0x00, 9, 0x61]).expected, /length of retained\[0\]\.topic: at most 1 \(bytes left\), found 9/);
    // Trailing bytes after the sessions.
    assert.match(at([0, 0, 0]).expected, /end of store, found 1 more bytes/);
    // A session with protocol version 6.
    assert.match(at([0, 1, 0, 0, 6, 0, 0, 0, 0, 0]).expected, /sessions\[0\]\.protocolVersion: 3, 4 or 5, found 6/);
    // Packet id 0 in the incoming QoS 2 list.
    assert.match(at([0, 1, 0, 0, 5, 0, 0, 0, 0, 1, 0, 0]).expected, /incomingQos2Ids\[0\]: 1\.\.65535, found 0/);
  });

  it('reads a version 1 store (written before the journal): retained messages and sessions', () => {
    // One retained message "t" = "p" (QoS 1, retain), one v5 session "c" with nothing in it.
    const v1 = fileWithBody(Buffer.from([1, 0x05, 1, 0x74, 1, 0x70, 1, 0, 1, 0x63, 5, 0, 0, 0, 0, 0]), 1);
    assert.deepEqual(decodeSnapshot(v1), {
      retained: [{ topic: 't', payload: Buffer.from('p'), qos: 1, retain: true }],
      sessions: [{ clientId: 'c', protocolVersion: 5, expiryInterval: 0, disconnectedAt: 0, subscriptions: [], queue: [], incomingQos2Ids: [] }],
    });
  });

  it('stores a message queued to many sessions once; its decoded deliveries share one payload', () => {
    const payload = randomBytes(10 * 1024);
    const message = { topic: 'fan/out', payload, properties: { contentType: 'x' }, expiresAt: undefined };
    const snapshot = emptySnapshot();
    for (let i = 0; i < 20; i++) {
      snapshot.sessions.push({
        clientId: `c${i}`,
        protocolVersion: 5,
        expiryInterval: 3600,
        disconnectedAt: 1,
        subscriptions: [{ filter: 'fan/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
        // Each delivery is its own object (as Broker.snapshot builds them) around the one message.
        queue: [{ ...message, qos: 1, retain: false, ...(i === 0 ? { packetId: 7 } : {}) }, { ...message, qos: 0, retain: true }],
        incomingQos2Ids: [],
      });
    }
    const file = encodeSnapshot(snapshot);
    assert.ok(file.length < payload.length + 1024, `40 deliveries of one 10 KB message took ${file.length} bytes`);
    const decoded = decodeSnapshot(file);
    assert.deepEqual(JSON.parse(JSON.stringify(decoded)), JSON.parse(JSON.stringify(snapshot)));
    const first = decoded.sessions[0]!.queue[0]!;
    for (const s of decoded.sessions) for (const q of s.queue) assert.equal(q.payload, first.payload);
    assert.equal(decoded.sessions[0]!.queue[0]!.packetId, 7);
    assert.equal(decoded.sessions[5]!.queue[1]!.retain, true);
    assert.ok(encodeSnapshot(decoded).equals(file), 'the decoded snapshot re-encodes to the same file');
  });

  it('encodes a big store in steps (pauses for the event loop) to the same bytes as at once', () => {
    const snapshot = emptySnapshot();
    for (let i = 0; i < 200; i++) snapshot.retained.push({ topic: `r/${i}`, payload: randomBytes(2048), qos: 1, retain: true });
    const steps = encodeStoreInSteps(snapshot);
    let pauses = 0;
    let step = steps.next();
    for (; step.done !== true; step = steps.next()) pauses++;
    // 400 KB of messages: a pause after about every ENCODE_STEP_BYTES, not one long run.
    assert.ok(pauses >= Math.floor((200 * 2048) / ENCODE_STEP_BYTES), `${pauses} pauses`);
    const bytes = Buffer.concat(step.value.chunks);
    assert.equal(bytes.length, step.value.length);
    assert.ok(bytes.equals(encodeSnapshot(snapshot)));
    assert.deepEqual(decodeSnapshot(bytes), snapshot);
    // The bytes exist once: chunks of at most a block (64 KB), not one buffer grown by doubling.
    assert.ok(step.value.chunks.length > 6 && step.value.chunks.every((c) => c.length <= 64 * 1024), `${step.value.chunks.length} chunks`);
  });

  it('reads a version 2 store (each delivery carrying its whole message)', () => {
    const session = {
      clientId: 'c',
      protocolVersion: 4 as const,
      expiryInterval: 0xffffffff,
      disconnectedAt: 5,
      subscriptions: [],
      queue: [{ topic: 'a/b', payload: Buffer.from('hello'), qos: 1 as const, retain: false, packetId: 3 }],
      incomingQos2Ids: [],
    };
    const entry = new ByteWriter();
    writeSession(entry, session, 'session');
    const body = new ByteWriter();
    body.varuint(9); // journal generation
    body.varuint(0); // retained
    body.varuint(1); // sessions
    body.varuint(entry.position);
    body.append(entry);
    body.varuint(0); // wills
    body.varuint(0); // bridges
    assert.deepEqual(decodeSnapshot(fileWithBody(body.finish(), 2)), { retained: [], sessions: [session], journalGeneration: 9 });
  });

  it('a damaged message table entry costs its deliveries, not the sessions', () => {
    const snapshot = emptySnapshot();
    const a = { topic: 'a', payload: Buffer.from('first'), qos: 1 as const, retain: false };
    const b = { topic: 'b', payload: Buffer.from('second'), qos: 1 as const, retain: false };
    snapshot.sessions.push({ clientId: 'c', protocolVersion: 4, expiryInterval: 60, disconnectedAt: 1, subscriptions: [], queue: [a, b], incomingQos2Ids: [] });
    const file = Buffer.from(encodeSnapshot(snapshot));
    // The first table entry's flags byte gets an unknown bit.
    const flagsAt = file.indexOf(Buffer.from([0x00, 0x01, 0x61])); // flags 0, topic length 1, "a"
    file[flagsAt] = 0x80;
    const { snapshot: kept, problems } = decodeStore(withFixedHeader(file));
    assert.ok(problems.length > 0);
    assert.equal(kept.sessions.length, 1);
    assert.deepEqual(kept.sessions[0]!.queue.map((q) => q.topic), ['b']);
  });

  it('round-trips delayed wills, bridge queues and the journal generation', () => {
    const snapshot: StoreSnapshot = {
      ...fullSnapshot(),
      wills: [
        { clientId: 'sensor', username: 'u', publishAt: 1_893_456_000_000, message: { topic: 'w', payload: Buffer.from('gone'), qos: 1, retain: true } },
        { clientId: 'other', publishAt: 0, message: { topic: 'x', payload: Buffer.alloc(0), qos: 0, retain: false } },
      ],
      bridges: [{ name: 'up', queue: [{ topic: 'remote/t', payload: Buffer.from('q'), qos: 2, retain: false, packetId: 9, released: true }] }],
      journalGeneration: 42,
    };
    assert.deepEqual(decodeSnapshot(encodeSnapshot(snapshot)), snapshot);
  });

  it('leaves out the one entry the format cannot carry and keeps the rest (encodeStore)', () => {
    const snapshot = fullSnapshot();
    Reflect.set(snapshot.retained[1]!, 'qos', 3);
    Reflect.set(snapshot.sessions[0]!.subscriptions[0]!, 'retainHandling', 3);
    const { bytes, refused } = encodeStore(snapshot);
    assert.deepEqual(refused.map((e) => e.field), ['retained[1].qos', 'sessions[0].subscriptions[0].retainHandling']);
    const back = decodeSnapshot(bytes);
    const expected = fullSnapshot();
    expected.retained.splice(1, 1);
    expected.sessions[0]!.subscriptions.shift();
    assert.deepEqual(back, expected);
  });

  it('a damaged entry costs that entry, not the store (decodeStore keeps the others)', () => {
    const snapshot = fullSnapshot();
    const file = Buffer.from(encodeSnapshot(snapshot));
    // Break the first retained message's flags byte: header(15) + generation(1) + count(1) + length.
    const lengthBytes = file[STORE_HEADER_SIZE + 2]! & 0x80 ? 2 : 1;
    file[STORE_HEADER_SIZE + 2 + lengthBytes] = 0xff;
    const { snapshot: kept, problems } = decodeStore(file);
    assert.ok(problems.length >= 1);
    assert.match(problems.map((p) => p.message).join('; '), /CRC-32/);
    assert.match(problems.map((p) => p.message).join('; '), /retained\[0\] flags/);
    assert.deepEqual(kept.retained, snapshot.retained.slice(1));
    assert.deepEqual(kept.sessions, snapshot.sessions);
  });

  it('keeps a leading U+FEFF and U+0000 in strings (data, not a byte-order mark)', () => {
    const snapshot: StoreSnapshot = { retained: [{ topic: '\uFEFFa\u0000b', payload: Buffer.alloc(0), qos: 0, retain: true }], sessions: [] };
    assert.deepEqual(decodeSnapshot(encodeSnapshot(snapshot)), snapshot);
  });

  it('refuses to encode values MQTT cannot carry, naming the field', () => {
    const bad = (mutate: (s: StoreSnapshot) => void): SnapshotInvalidError => {
      const snapshot = fullSnapshot();
      mutate(snapshot);
      try {
        encodeSnapshot(snapshot);
      } catch (err) {
        if (err instanceof SnapshotInvalidError) return err;
        throw err;
      }
      throw new Error('encoded an invalid snapshot');
    };
    const session = (s: StoreSnapshot) => s.sessions[0]!;
    const set = (target: object, key: string, value: unknown): void => {
      Reflect.set(target, key, value);
    };
    assert.equal(bad((s) => set(s.retained[0]!, 'qos', 3)).field, 'retained[0].qos');
    assert.equal(bad((s) => set(session(s).queue[0]!, 'packetId', 0)).field, 'sessions[0].queue[0].packetId');
    assert.equal(bad((s) => set(session(s).queue[0]!, 'packetId', 65536)).field, 'sessions[0].queue[0].packetId');
    assert.equal(bad((s) => set(session(s).subscriptions[0]!, 'subscriptionId', 0)).field, 'sessions[0].subscriptions[0].subscriptionId');
    assert.equal(bad((s) => set(session(s).subscriptions[0]!, 'retainHandling', 3)).field, 'sessions[0].subscriptions[0].retainHandling');
    assert.equal(bad((s) => set(s.retained[0]!, 'expiresAt', -1)).field, 'retained[0].expiresAt');
    assert.equal(bad((s) => set(s.retained[0]!, 'expiresAt', 1.5)).field, 'retained[0].expiresAt');
    assert.equal(bad((s) => set(session(s), 'protocolVersion', 6)).field, 'sessions[0].protocolVersion');
    assert.equal(bad((s) => set(session(s), 'expiryInterval', 2 ** 32)).field, 'sessions[0].expiryInterval');
    assert.equal(bad((s) => set(session(s).incomingQos2Ids, '0', 0)).field, 'sessions[0].incomingQos2Ids[0]');
    assert.equal(bad((s) => set(s.retained[1]!, 'payload', 'text')).field, 'retained[1].payload');
  });
});

function pick(err: StoreCorruptError): { offset: number; expected: string } {
  return { offset: err.offset, expected: err.expected };
}

/**
 * ChunkWriter against ByteWriter: any sequence of writes, marks and inserts gives the bytes a
 * single growing buffer would, in chunks no bigger than a block, each byte held once.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ByteWriter } from '../../src/persistence/ByteWriter';
import { ChunkWriter } from '../../src/persistence/ChunkWriter';

type Op = { kind: 'u8'; value: number } | { kind: 'varuint'; value: number } | { kind: 'raw'; bytes: Uint8Array };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('u8' as const), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('varuint' as const), value: fc.maxSafeNat() }),
  fc.record({ kind: fc.constant('raw' as const), bytes: fc.uint8Array({ maxLength: 300 }) }),
);

function apply(w: ByteWriter | ChunkWriter, o: Op): void {
  if (o.kind === 'u8') w.u8(o.value);
  else if (o.kind === 'varuint') w.varuint(o.value);
  else w.raw(o.bytes);
}

describe('ChunkWriter', () => {
  it('property: writes give ByteWriter\'s bytes, in chunks of at most a block', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.integer({ min: 1, max: 64 }), (ops, blockSize) => {
        const chunked = new ChunkWriter(blockSize);
        const flat = new ByteWriter(16);
        for (const o of ops) {
          apply(chunked, o);
          apply(flat, o);
        }
        assert.equal(chunked.length, flat.position);
        const chunks = chunked.finish();
        assert.ok(chunks.every((c) => c.length > 0 && c.length <= blockSize));
        assert.deepEqual(Buffer.concat(chunks), flat.finish());
      }),
      { numRuns: 300 },
    );
  });

  it('property: bytes inserted at a mark come before everything written after it (a section count before its entries)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.array(op, { maxLength: 8 }), fc.uint8Array({ minLength: 1, maxLength: 5 })), { maxLength: 8 }), (sections) => {
        const chunked = new ChunkWriter(16);
        const expected: Buffer[] = [];
        for (const [ops, head] of sections) {
          const mark = chunked.mark();
          const flat = new ByteWriter(16);
          for (const o of ops) {
            apply(chunked, o);
            apply(flat, o);
          }
          chunked.insert(mark, Buffer.from(head));
          expected.push(Buffer.from(head), flat.finish());
        }
        const all = Buffer.concat(expected);
        assert.equal(chunked.length, all.length);
        assert.deepEqual(Buffer.concat(chunked.finish()), all);
      }),
      { numRuns: 300 },
    );
  });

  it('take() moves another writer\'s chunks to the end without copying them', () => {
    const a = new ChunkWriter(8);
    const b = new ChunkWriter(8);
    a.raw(Buffer.from('first-'));
    b.raw(Buffer.from('second part, longer than a block'));
    a.take(b);
    a.raw(Buffer.from('-last'));
    assert.equal(b.length, 0);
    assert.equal(Buffer.concat(a.finish()).toString(), 'first-second part, longer than a block-last');
  });
});

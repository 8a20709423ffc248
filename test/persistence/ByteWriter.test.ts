import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteWriter } from '../../src/persistence/ByteWriter';

test('ByteWriter: resetAndShrink lets a buffer grown by one big write go, and keeps a small one', () => {
  const w = new ByteWriter(16);
  w.raw(Buffer.alloc(1024 * 1024, 1));
  assert.ok(w.capacity >= 1024 * 1024);
  w.resetAndShrink(256 * 1024, 16);
  assert.equal(w.position, 0);
  assert.equal(w.capacity, 16, 'the megabyte buffer is not kept');
  w.raw(Buffer.from('abc'));
  assert.equal(w.view().toString(), 'abc');
  const kept = w.capacity;
  w.resetAndShrink(256 * 1024, 16);
  assert.equal(w.capacity, kept, 'a buffer under the bound is reused, not reallocated');
});

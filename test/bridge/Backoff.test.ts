import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Backoff } from '../../src/bridge/Backoff';

test('a single restart_timeout is a constant delay', () => {
  const b = new Backoff(7, undefined);
  assert.deepEqual([b.next(), b.next(), b.next()], [7, 7, 7]);
});

test('decorrelated jitter: each wait is in [base, min(cap, 3 × previous)], and reset starts from base again', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 0, max: 600 }), fc.array(fc.double({ min: 0, max: 0.999999, noNaN: true }), { minLength: 1, maxLength: 30 }), (base, extra, draws) => {
      const cap = base + extra;
      let k = 0;
      const b = new Backoff(base, cap, () => draws[k++ % draws.length]);
      let previous = base;
      for (let i = 0; i < draws.length; i++) {
        const wait = b.next();
        assert.ok(wait >= base && wait <= cap, `wait ${wait} outside [${base}, ${cap}]`);
        assert.ok(wait <= Math.max(base, previous * 3), `wait ${wait} more than 3 × ${previous}`);
        previous = wait;
      }
      b.reset();
      assert.ok(b.next() <= Math.min(cap, base * 3));
    }),
  );
});

test('with the largest draws the wait grows to the cap and stays there (mosquitto: 5 30 → 14, 30, 30)', () => {
  const b = new Backoff(5, 30, () => 0.999999);
  assert.deepEqual([b.next(), b.next(), b.next()], [14, 30, 30]);
});

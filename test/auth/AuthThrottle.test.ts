import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressKey, AuthThrottle, HashQueueFullError } from '../../src/auth/AuthThrottle';

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test('failures from one address grow its delay up to a bound; other addresses are not slowed', () => {
  const c = clock();
  const throttle = new AuthThrottle({ baseDelayMs: 100, maxDelayMs: 1000, now: c.now });
  assert.equal(throttle.delayFor('10.0.0.1'), 0);
  const seen: number[] = [];
  for (let i = 0; i < 6; i++) {
    throttle.recordFailure('10.0.0.1');
    seen.push(throttle.delayFor('10.0.0.1'));
  }
  assert.deepEqual(seen, [100, 200, 400, 800, 1000, 1000]);
  assert.equal(throttle.delayFor('10.0.0.2'), 0);
  throttle.recordSuccess('10.0.0.1');
  assert.equal(throttle.delayFor('10.0.0.1'), 0);
});

test('an address quiet for forgetAfterMs is forgotten', () => {
  const c = clock();
  const throttle = new AuthThrottle({ baseDelayMs: 100, forgetAfterMs: 60_000, now: c.now });
  throttle.recordFailure('10.0.0.1');
  throttle.recordFailure('10.0.0.1');
  c.advance(59_999);
  assert.equal(throttle.delayFor('10.0.0.1'), 200);
  c.advance(60_001);
  assert.equal(throttle.delayFor('10.0.0.1'), 0);
  throttle.recordFailure('10.0.0.1');
  assert.equal(throttle.delayFor('10.0.0.1'), 100, 'counting restarts');
});

test('the address table is bounded: the least recently failed address goes first', () => {
  const throttle = new AuthThrottle({ maxAddresses: 3 });
  for (const a of ['1.1.1.1', '2.2.2.2', '3.3.3.3']) throttle.recordFailure(a);
  throttle.recordFailure('1.1.1.1'); // now the most recent
  throttle.recordFailure('4.4.4.4');
  assert.equal(throttle.trackedAddresses, 3);
  assert.equal(throttle.delayFor('2.2.2.2'), 0, 'oldest evicted');
  assert.ok(throttle.delayFor('1.1.1.1') > 0);
  for (let i = 0; i < 1000; i++) throttle.recordFailure(`10.0.${i >> 8}.${i & 255}`);
  assert.equal(throttle.trackedAddresses, 3);
});

test('IPv6 addresses count per /64 and IPv4-mapped addresses as IPv4', () => {
  assert.equal(addressKey('2001:db8:1:2:aaaa::1'), addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'));
  assert.notEqual(addressKey('2001:db8:1:2::1'), addressKey('2001:db8:1:3::1'));
  assert.equal(addressKey('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(addressKey('fe80::1%eth0'), addressKey('fe80::2'));
  const throttle = new AuthThrottle();
  throttle.recordFailure('2001:db8::1');
  assert.ok(throttle.delayFor('2001:db8::ffff') > 0);
  assert.equal(throttle.delayFor('2001:db9::1'), 0);
});

test('wait() sleeps for the delay of that address only', async () => {
  const slept: number[] = [];
  const throttle = new AuthThrottle({ baseDelayMs: 50, sleep: async (ms) => void slept.push(ms) });
  throttle.recordFailure('a');
  throttle.recordFailure('a');
  await throttle.wait('a');
  await throttle.wait('b');
  assert.deepEqual(slept, [100]);
});

test('parallel attempts from one address wait in turn, one delay apart', async () => {
  const slept: number[] = [];
  const gates: Array<() => void> = [];
  const throttle = new AuthThrottle({
    baseDelayMs: 50,
    sleep: (ms) => {
      slept.push(ms);
      return new Promise<void>((resolve) => gates.push(resolve));
    },
  });
  throttle.recordFailure('a');
  const waits = [throttle.wait('a'), throttle.wait('a'), throttle.wait('a')];
  assert.deepEqual(slept, [50, 100, 150]);
  for (const open of gates) open();
  await Promise.all(waits);
  await throttle.wait('b');
  assert.deepEqual(slept, [50, 100, 150], 'another address does not wait');
  const again = throttle.wait('a');
  assert.deepEqual(slept, [50, 100, 150, 50], 'once the queue drained, one delay again');
  gates[3]();
  await again;
});

test('at most maxConcurrentHashes run at once; the queue is bounded and refuses beyond it', async () => {
  const throttle = new AuthThrottle({ maxConcurrentHashes: 2, maxQueuedHashes: 1 });
  let running = 0;
  let peak = 0;
  const releases: Array<() => void> = [];
  const task = () =>
    throttle.runHash(async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise<void>((resolve) => releases.push(resolve));
      running--;
      return 'done';
    });
  const first = [task(), task(), task()];
  await new Promise((r) => setImmediate(r));
  assert.equal(running, 2, 'third waits');
  await assert.rejects(task(), HashQueueFullError);
  while (releases.length > 0 || running > 0) {
    releases.shift()?.();
    await new Promise((r) => setImmediate(r));
  }
  assert.deepEqual(await Promise.all(first), ['done', 'done', 'done']);
  assert.equal(peak, 2);
  assert.equal(await throttle.runHash(async () => 'again'), 'again', 'slots were given back');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressKey, AuthThrottle, type Admission, type AttemptTicket, type LoginAttempt } from '../../src/auth/AuthThrottle';

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

function ticket(a: Admission): AttemptTicket {
  assert.ok(a.admitted, `refused (retry after ${a.admitted ? 0 : a.retryAfterMs} ms)`);
  return a.ticket;
}

function refusedFor(a: Admission): number {
  assert.ok(!a.admitted, 'admitted');
  return a.retryAfterMs;
}

const attacker: LoginAttempt = { address: '10.0.0.1', username: 'owner', clientId: 'bot' };

/** n failed attempts, each after the previous one's delay has passed. */
function fail(throttle: AuthThrottle, c: ReturnType<typeof clock>, who: LoginAttempt, n: number): void {
  for (let i = 0; i < n; i++) {
    let a = throttle.admit(who);
    if (!a.admitted) {
      c.advance(a.retryAfterMs);
      a = throttle.admit(who);
    }
    throttle.recordFailure(ticket(a));
  }
}

test('failures of one address+username block it for a doubling time, refused at once, never waited out', () => {
  const c = clock();
  const throttle = new AuthThrottle({ allowance: 0, baseDelayMs: 100, maxDelayMs: 1000, now: c.now });
  const seen: number[] = [];
  for (let i = 0; i < 6; i++) {
    fail(throttle, c, attacker, 1);
    seen.push(refusedFor(throttle.admit(attacker)));
  }
  assert.deepEqual(seen, [100, 200, 400, 800, 1000, 1000]);
  c.advance(999);
  assert.equal(refusedFor(throttle.admit(attacker)), 1);
  c.advance(1);
  ticket(throttle.admit(attacker));
});

test('by default two failures of a pair are free (a typo and its retry); the third starts the doubling', () => {
  const c = clock();
  const throttle = new AuthThrottle({ now: c.now });
  for (let i = 0; i < 3; i++) throttle.recordFailure(ticket(throttle.admit(attacker)));
  assert.equal(refusedFor(throttle.admit(attacker)), 500);
});

test('another username on the same address, and another address, are not slowed', () => {
  const c = clock();
  const throttle = new AuthThrottle({ allowance: 0, baseDelayMs: 100, now: c.now });
  fail(throttle, c, attacker, 5);
  assert.equal(throttle.admit(attacker).admitted, false);
  ticket(throttle.admit({ ...attacker, username: 'kitchen' }));
  ticket(throttle.admit({ ...attacker, address: '10.0.0.2' }));
});

test('once a pair has failed, one check at a time: parallel attempts are refused, not queued', () => {
  const throttle = new AuthThrottle({ allowance: 5, baseDelayMs: 100 });
  // No failure yet: devices sharing one user behind one address log in together.
  const together = [ticket(throttle.admit(attacker)), ticket(throttle.admit({ ...attacker, clientId: 'bot-2' }))];
  throttle.recordFailure(together[0]);
  throttle.recordSuccess(together[1]);
  const first = ticket(throttle.admit(attacker));
  assert.equal(refusedFor(throttle.admit({ ...attacker, clientId: 'bot-3' })), 100);
  throttle.release(first);
  ticket(throttle.admit(attacker));
});

test('a known device behind the same address and username logs in while the attacker is blocked', () => {
  const c = clock();
  const throttle = new AuthThrottle({ allowance: 0, baseDelayMs: 100, maxDelayMs: 16_000, now: c.now });
  const device: LoginAttempt = { ...attacker, clientId: 'thermostat' };
  const first = ticket(throttle.admit(device));
  assert.equal(first.known, false);
  throttle.recordSuccess(first);
  fail(throttle, c, attacker, 8);
  assert.ok(refusedFor(throttle.admit(attacker)) > 0);
  assert.ok(refusedFor(throttle.admit({ ...attacker, clientId: 'new-device' })) > 0, 'an unknown device shares the block');
  const again = ticket(throttle.admit(device));
  assert.equal(again.known, true);
  throttle.recordSuccess(again);
});

test("a success clears only the succeeding device's failures, never the attacker's", () => {
  const c = clock();
  const throttle = new AuthThrottle({ allowance: 0, baseDelayMs: 100, now: c.now });
  fail(throttle, c, attacker, 3);
  const blocked = refusedFor(throttle.admit(attacker));
  // The owner logs in from the same address (another client id) once the pair is free.
  c.advance(blocked);
  const owner = ticket(throttle.admit({ ...attacker, clientId: 'owner-phone' }));
  throttle.recordSuccess(owner);
  fail(throttle, c, attacker, 1);
  assert.equal(refusedFor(throttle.admit(attacker)), 800, 'the attacker kept counting: 4th failure');
});

test('a known device is judged by its own failures', () => {
  const c = clock();
  const throttle = new AuthThrottle({ allowance: 0, baseDelayMs: 100, now: c.now });
  const device: LoginAttempt = { ...attacker, clientId: 'thermostat' };
  throttle.recordSuccess(ticket(throttle.admit(device)));
  throttle.recordFailure(ticket(throttle.admit(device)));
  assert.equal(refusedFor(throttle.admit(device)), 100);
  ticket(throttle.admit({ ...attacker, clientId: 'other' }));
});

test('a network (IPv6 /64) has a looser bound over all its addresses and usernames', () => {
  const c = clock();
  const throttle = new AuthThrottle({ allowance: 0, baseDelayMs: 100, networkAllowance: 5, now: c.now });
  for (let i = 0; i < 5; i++) {
    throttle.recordFailure(ticket(throttle.admit({ address: `2001:db8:1:2::${i + 1}`, username: `u${i}`, clientId: 'x' })));
  }
  const neighbour: LoginAttempt = { address: '2001:db8:1:2::99', username: 'alice', clientId: 'tv' };
  ticket(throttle.admit(neighbour));
  throttle.release(ticket(throttle.admit({ ...neighbour, username: 'bob' })));
  throttle.recordFailure(ticket(throttle.admit({ address: '2001:db8:1:2::6', username: 'u6', clientId: 'x' })));
  assert.equal(refusedFor(throttle.admit({ ...neighbour, username: 'carol' })), 100, 'beyond the allowance the network waits');
  ticket(throttle.admit({ ...neighbour, address: '2001:db8:1:3::1', username: 'carol' }));
});

test('entries fade after forgetAfterMs, and every table is bounded', () => {
  const c = clock();
  const throttle = new AuthThrottle({ allowance: 0, baseDelayMs: 100, forgetAfterMs: 60_000, maxEntries: 3, now: c.now });
  fail(throttle, c, attacker, 2);
  c.advance(60_001);
  ticket(throttle.admit(attacker));
  for (let i = 0; i < 1000; i++) {
    throttle.recordFailure(ticket(throttle.admit({ address: `10.1.${i >> 8}.${i & 255}`, username: 'u', clientId: 'x' })));
  }
  assert.ok(throttle.trackedEntries <= 6, `${throttle.trackedEntries} entries`);
});

test('IPv6 addresses share a network per /64; IPv4-mapped addresses count as IPv4', () => {
  assert.equal(addressKey('2001:db8:1:2:aaaa::1'), addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'));
  assert.notEqual(addressKey('2001:db8:1:2::1'), addressKey('2001:db8:1:3::1'));
  assert.equal(addressKey('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(addressKey('fe80::1%eth0'), addressKey('fe80::2'));
  const throttle = new AuthThrottle({ allowance: 0 });
  throttle.recordFailure(ticket(throttle.admit({ address: '::ffff:192.0.2.7', username: 'u', clientId: 'x' })));
  assert.equal(throttle.admit({ address: '192.0.2.7', username: 'u', clientId: 'y' }).admitted, false);
});

test('admitWithin waits out a block ending within waitUpToMs, and refuses at once one that ends later', async () => {
  const short = new AuthThrottle({ allowance: 0, baseDelayMs: 50, waitUpToMs: 1000 });
  short.recordFailure(ticket(short.admit(attacker)));
  assert.equal(short.admit(attacker).admitted, false, 'blocked right now');
  ticket(await short.admitWithin(attacker));
  const long = new AuthThrottle({ allowance: 0, baseDelayMs: 60_000, waitUpToMs: 1000 });
  long.recordFailure(ticket(long.admit(attacker)));
  assert.ok(refusedFor(await long.admitWithin(attacker)) > 1000);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describeUnusableHash, hashPassword, isHashed, parseHash, verifyPassword } from '../../src/auth/PasswordHash';

test('each algorithm round-trips: the right password verifies, a wrong one does not', async () => {
  for (const algorithm of ['sha512-pbkdf2', 'sha512', 'bcrypt'] as const) {
    const stored = await hashPassword('correct horse é', { algorithm, iterations: algorithm === 'bcrypt' ? 4 : undefined });
    assert.ok(isHashed(stored), `${algorithm}: ${stored}`);
    assert.equal(await verifyPassword(stored, 'correct horse é'), true, algorithm);
    assert.equal(await verifyPassword(stored, Buffer.from('correct horse é', 'utf8')), true, algorithm);
    assert.equal(await verifyPassword(stored, 'correct horse e'), false, algorithm);
    assert.equal(await verifyPassword(stored, ''), false, algorithm);
  }
});

test('the default is what mosquitto_passwd 2.0 writes: $7$, 101 iterations, 12-byte salt, 64-byte hash', async () => {
  const stored = await hashPassword('pw');
  const m = /^\$7\$101\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(stored);
  assert.ok(m, stored);
  assert.equal(Buffer.from(m[1], 'base64').length, 12);
  assert.equal(Buffer.from(m[2], 'base64').length, 64);
  // Recomputed independently: PBKDF2-HMAC-SHA512 over the password bytes and the salt.
  const expected = pbkdf2Sync('pw', Buffer.from(m[1], 'base64'), 101, 64, 'sha512').toString('base64');
  assert.equal(m[2], expected);
});

test('$6$ is SHA512 over password then salt, with a 12-byte salt', async () => {
  const stored = await hashPassword('pw', { algorithm: 'sha512' });
  const parsed = parseHash(stored);
  assert.ok(parsed && parsed.kind === 'sha512');
  assert.equal(parsed.salt.length, 12);
});

test('bcrypt is written as $2b$ cost 10 by default, and $2a$/$2y$ are read', async () => {
  const stored = await hashPassword('pw', { algorithm: 'bcrypt' });
  assert.match(stored, /^\$2b\$10\$/);
  for (const prefix of ['$2a$', '$2y$']) {
    const variant = prefix + stored.slice(4);
    assert.ok(isHashed(variant));
    assert.equal(await verifyPassword(variant, 'pw'), true, prefix);
  }
});

test("mosquitto 2.1's $7$ with 1000 iterations and a 64-byte salt verifies", async () => {
  const salt = randomBytes(64);
  const hash = pbkdf2Sync('secret', salt, 1000, 64, 'sha512');
  const stored = `$7$1000$${salt.toString('base64')}$${hash.toString('base64')}`;
  assert.equal(await verifyPassword(stored, 'secret'), true);
  assert.equal(await verifyPassword(stored, 'Secret'), false);
});

test('malformed hashes are not hashes and never verify', async () => {
  const good = await hashPassword('pw');
  const [, , iter, salt, hash] = good.split('$');
  const bad = [
    'pw', // plain text
    '',
    `$7$0$${salt}$${hash}`, // no iterations
    `$7$x1$${salt}$${hash}`,
    `$7$${iter}$${salt}`, // no hash
    `$7$${iter}$${salt}$${hash}$extra`,
    `$7$${iter}$${Buffer.alloc(16).toString('base64')}$${hash}`, // 16-byte salt: neither 12 nor 64
    `$7$${iter}$${salt}$${hash.slice(4)}`, // short hash
    `$7$${iter}$${salt}$${hash.replace(/.$/, '*')}`, // bad base64
    `$6$${salt}`,
    '$2b$10$tooshort',
    '$argon2id$v=19$m=47104,t=1,p=1$c2FsdA$aGFzaA',
    '$5$salt$hash',
  ];
  for (const stored of bad) {
    assert.equal(isHashed(stored), false, stored);
    assert.equal(await verifyPassword(stored, 'pw'), false, stored);
    assert.ok(describeUnusableHash(stored).length > 0);
    assert.ok(!describeUnusableHash(stored).includes(stored) || stored === '', `reason quotes the hash: ${stored}`);
  }
  assert.match(describeUnusableHash('$argon2id$v=19$x'), /argon2id/);
  assert.match(describeUnusableHash('plain'), /not hashed/);
});

test('a password that is not UTF-8 never matches a bcrypt hash of its replacement characters', async () => {
  const stored = await hashPassword('\uFFFD', { algorithm: 'bcrypt', iterations: 4 });
  assert.equal(await verifyPassword(stored, '\uFFFD'), true);
  assert.equal(await verifyPassword(stored, Buffer.from([0xff])), false);
});

test('bad hashing options are refused', async () => {
  await assert.rejects(hashPassword('x', { iterations: 0 }), RangeError);
  await assert.rejects(hashPassword('x', { algorithm: 'bcrypt', iterations: 3 }), RangeError);
});

test('property: any password round-trips through $7$ and $6$ and differs from any other password', async () => {
  await fc.assert(
    fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ maxLength: 40 }), async (a, b) => {
      for (const algorithm of ['sha512-pbkdf2', 'sha512'] as const) {
        const stored = await hashPassword(a, { algorithm, iterations: algorithm === 'sha512-pbkdf2' ? 2 : undefined });
        assert.equal(await verifyPassword(stored, a), true);
        if (Buffer.from(a, 'utf8').equals(Buffer.from(b, 'utf8'))) continue;
        assert.equal(await verifyPassword(stored, b), false);
      }
    }),
    { numRuns: 60 },
  );
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BcryptWorkers } from '../../src/auth/BcryptWorkers';
import { hashPassword } from '../../src/auth/PasswordHash';
import { eventually } from '../helpers/broker';

test('checks run on worker threads, at most `threads` of them, which stop when idle', async () => {
  const hash = await hashPassword('right', { algorithm: 'bcrypt', iterations: 6 });
  const workers = new BcryptWorkers({ threads: 2, idleMs: 100 });
  assert.equal(workers.running, 0, 'none before the first check');
  const checks = [workers.compare('right', hash), workers.compare('wrong', hash), workers.compare('right', hash), workers.compare('', hash)];
  assert.equal(workers.running, 2, 'four checks at once use two threads');
  assert.deepEqual(await Promise.all(checks), [true, false, true, false]);
  await eventually(() => workers.running === 0, 'idle workers stopped');
  assert.equal(await workers.compare('right', hash), true, 'a new worker starts for the next check');
  await workers.close();
});

test('a worker that goes away fails its pending checks instead of leaving them hanging; the next check gets a new one', async () => {
  const hash = await hashPassword('right', { algorithm: 'bcrypt', iterations: 12 });
  const workers = new BcryptWorkers({ threads: 1 });
  const pending = workers.compare('right', hash);
  await new Promise((r) => setTimeout(r, 20));
  await workers.close();
  await assert.rejects(pending, /bcrypt worker exited/);
  assert.equal(workers.running, 0);
  assert.equal(await workers.compare('wrong', await hashPassword('x', { algorithm: 'bcrypt', iterations: 4 })), false);
  await workers.close();
});

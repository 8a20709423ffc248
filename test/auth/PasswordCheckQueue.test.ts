import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CheckQueueFullError, PasswordCheckQueue } from '../../src/auth/PasswordCheckQueue';

function gatedTask(log: string[], name: string, gates: Map<string, () => void>) {
  return async () => {
    log.push(`start ${name}`);
    await new Promise<void>((resolve) => gates.set(name, resolve));
    return name;
  };
}

const turn = () => new Promise((r) => setImmediate(r));

test('at most `concurrency` checks run; the queue is bounded and refuses beyond it at once', async () => {
  const queue = new PasswordCheckQueue({ concurrency: 2, maxQueued: 1 });
  const log: string[] = [];
  const gates = new Map<string, () => void>();
  const runs = ['a', 'b', 'c'].map((n) => queue.run(gatedTask(log, n, gates)));
  await turn();
  assert.deepEqual(log, ['start a', 'start b']);
  assert.equal(queue.queued, 1);
  await assert.rejects(queue.run(async () => 'd'), CheckQueueFullError);
  gates.get('a')!();
  await turn();
  assert.deepEqual(log, ['start a', 'start b', 'start c'], 'the freed slot went to the waiting check');
  gates.get('b')!();
  gates.get('c')!();
  assert.deepEqual(await Promise.all(runs), ['a', 'b', 'c']);
  assert.equal(queue.running, 0);
  assert.equal(await queue.run(async () => 'again'), 'again', 'slots were given back');
});

test("a known device's check goes ahead of the queue, pushing the newest ordinary one out when full", async () => {
  const queue = new PasswordCheckQueue({ concurrency: 1, maxQueued: 2 });
  const log: string[] = [];
  const gates = new Map<string, () => void>();
  const busy = queue.run(gatedTask(log, 'busy', gates));
  const old = queue.run(gatedTask(log, 'old', gates));
  const newest = queue.run(gatedTask(log, 'newest', gates));
  const known = queue.run(gatedTask(log, 'known', gates), true);
  await assert.rejects(newest, CheckQueueFullError);
  gates.get('busy')!();
  await turn();
  assert.deepEqual(log, ['start busy', 'start known']);
  gates.get('known')!();
  await turn();
  gates.get('old')!();
  assert.deepEqual(await Promise.all([busy, known, old]), ['busy', 'known', 'old']);
});

test('a check that throws gives its slot back', async () => {
  const queue = new PasswordCheckQueue({ concurrency: 1, maxQueued: 0 });
  await assert.rejects(queue.run(async () => { throw new Error('boom'); }), /boom/);
  assert.equal(await queue.run(async () => 1), 1);
});

test('a check that waited longer than maxWaitMs is refused when its turn comes, and one expected to is refused at once', async () => {
  const queue = new PasswordCheckQueue({ concurrency: 1, maxQueued: 10, maxWaitMs: 100 });
  const gates = new Map<string, () => void>();
  const log: string[] = [];
  const slow = queue.run(gatedTask(log, 'slow', gates));
  const late = queue.run(gatedTask(log, 'late', gates));
  await new Promise((r) => setTimeout(r, 150));
  gates.get('slow')!();
  await slow;
  await assert.rejects(late, CheckQueueFullError);
  assert.deepEqual(log, ['start slow'], 'the late check never ran');
  // The average check now takes ~150 ms: a check that would wait behind one is refused at once.
  const next = queue.run(gatedTask(log, 'next', gates));
  await assert.rejects(queue.run(async () => 'behind'), CheckQueueFullError);
  await new Promise((r) => setImmediate(r));
  gates.get('next')!();
  assert.equal(await next, 'next');
});

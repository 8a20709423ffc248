/**
 * The RAM journal on its own: what it replays equals the broker's live state, a torn last
 * record costs only that record (with a log line), checkpoints bound the file and keep the
 * state, compaction removes what the store holds, and a journal that cannot open leaves the
 * broker running without one.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal } from '../../src/persistence/Journal';
import { emptySnapshot, type StoreSnapshot } from '../../src/persistence/StoreSnapshot';
import { Logger, type LogLevel } from '../../src/log/Logger';
import { connectClient, startBroker, type TestBroker } from '../helpers/broker';

interface Setup {
  dir: string;
  b: TestBroker;
  journal: Journal;
  lines: string[];
}

function logger(lines: string[]): Logger {
  return new Logger([{ write: (_level: LogLevel, line: string) => void lines.push(line) }], ['error', 'warning', 'notice'], false);
}

async function withJournal(test: (s: Setup) => Promise<void>, checkpointBytes?: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-journal-'));
  const b = await startBroker();
  const lines: string[] = [];
  const journal = new Journal({ directory: join(dir, 'j'), storePath: join(dir, 'mqttd.db'), log: logger(lines), snapshot: () => b.broker.snapshot(), checkpointBytes });
  assert.equal(journal.open(0), true);
  b.broker.attachChangeLog(journal);
  try {
    await test({ dir, b, journal, lines });
  } finally {
    await b.stop();
  }
}

function recover(s: Setup, base: StoreSnapshot = emptySnapshot()): { snapshot: StoreSnapshot; lines: string[] } {
  s.journal.commit();
  const lines: string[] = [];
  const fresh = new Journal({ directory: join(s.dir, 'j'), storePath: join(s.dir, 'mqttd.db'), log: logger(lines), snapshot: emptySnapshot });
  return { snapshot: fresh.recover(base), lines };
}

/** A snapshot as comparable data: connected sessions' disconnectedAt is "now", so it is left out. */
function comparable(s: StoreSnapshot): unknown {
  const sessions = s.sessions.map((x) => ({ ...x, disconnectedAt: 0 })).sort((a, b) => a.clientId.localeCompare(b.clientId));
  const retained = [...s.retained].sort((a, b) => a.topic.localeCompare(b.topic));
  return JSON.parse(JSON.stringify({ ...s, retained, sessions, journalGeneration: undefined }));
}

/** Live traffic: retained set and cleared, persistent sessions offline (queued) and online (in flight), QoS 2 both ways. */
async function traffic(s: Setup): Promise<void> {
  const url = s.b.url;
  const offline = await connectClient(url, { clientId: 'offline', clean: false });
  await offline.client.subscribeAsync('q/#', { qos: 2 });
  await offline.end();
  const v5 = { clientId: 'online', clean: false, protocolVersion: 5 as const, properties: { sessionExpiryInterval: 600 } };
  const online = await connectClient(url, v5);
  await online.client.subscribeAsync({ 'q/#': { qos: 1 }, 'other/+': { qos: 2 } });
  const pub = await connectClient(url, { clientId: 'pub', clean: false });
  for (let i = 0; i < 30; i++) await pub.client.publishAsync(`q/${i}`, `m${i}`, { qos: (i % 3) as 0 | 1 | 2, retain: i % 5 === 0 });
  await pub.client.publishAsync('q/0', '', { qos: 1, retain: true }); // cleared
  await online.client.unsubscribeAsync('other/+');
  await online.end();
  await pub.end();
}

describe('Journal', () => {
  it('replays to exactly the live state: retained, sessions, subscriptions, queues, in-flight, QoS 2 ids', () =>
    withJournal(async (s) => {
      await traffic(s);
      const live = s.b.broker.snapshot();
      assert.ok(live.sessions.find((x) => x.clientId === 'offline')!.queue.length > 0, 'the offline session has a queue');
      assert.deepEqual(comparable(recover(s).snapshot), comparable(live));
    }));

  it('a torn last record (a crash during an append) is logged and left out; everything before it is kept', () =>
    withJournal(async (s) => {
      s.b.broker.publish('t/1', 'one', { qos: 1, retain: true });
      s.journal.commit();
      s.b.broker.publish('t/2', 'two', { qos: 1, retain: true });
      s.journal.commit();
      const file = join(s.dir, 'j', readdirSync(join(s.dir, 'j'))[0]!);
      truncateSync(file, readFileSync(file).length - 3);
      const { snapshot, lines } = recover(s);
      assert.deepEqual(snapshot.retained.map((m) => m.topic), ['t/1']);
      assert.match(lines.join('\n'), /ends in a torn record .*torn write.*1 records before it replayed/);
    }));

  it('a damaged record in the middle stops that file there, with a log line; the store is never wiped', () =>
    withJournal(async (s) => {
      s.b.broker.publish('t/1', 'one', { qos: 1, retain: true });
      s.journal.commit();
      const file = join(s.dir, 'j', readdirSync(join(s.dir, 'j'))[0]!);
      const at = readFileSync(file).length;
      s.b.broker.publish('t/2', 'two', { qos: 1, retain: true });
      s.b.broker.publish('t/3', 'three', { qos: 1, retain: true });
      s.journal.commit();
      const bytes = readFileSync(file);
      bytes[at + 12] ^= 0xff; // inside t/2's record
      writeFileSync(file, bytes);
      const base: StoreSnapshot = { retained: [{ topic: 'from/store', payload: Buffer.from('x'), qos: 0, retain: true }], sessions: [] };
      const { snapshot, lines } = recover(s, base);
      assert.deepEqual(snapshot.retained.map((m) => m.topic).sort(), ['from/store', 't/1']);
      assert.match(lines.join('\n'), /damaged/);
    }));

  it('checkpoints keep the files bounded and the state whole; older generations are removed', () =>
    withJournal(async (s) => {
      for (let i = 0; i < 400; i++) {
        s.b.broker.publish(`big/${i % 20}`, Buffer.alloc(200, i), { qos: 1, retain: true });
        s.journal.commit();
        await s.journal.checkpointSettled();
      }
      const files = readdirSync(join(s.dir, 'j')).sort();
      // The last checkpoint's generation and the live one after it; generation 0 long gone.
      assert.equal(files.length, 2, `two files after checkpoints: ${files.join(', ')}`);
      assert.ok(!files.some((f) => f.endsWith('-0')), 'later generations only');
      const total = files.reduce((n, f) => n + readFileSync(join(s.dir, 'j', f)).length, 0);
      assert.ok(total < 40_000, `${total} bytes on disk`);
      assert.deepEqual(comparable(recover(s).snapshot), comparable(s.b.broker.snapshot()));
    }, 16 * 1024));

  it('a checkpoint is encoded in steps between event-loop turns; a crash at any step replays the same state', () =>
    withJournal(async (s) => {
      const stateAt = (): unknown => comparable(s.b.broker.snapshot());
      // 200 × 2 KB retained: the trigger comes at about 300 KB, and encoding takes several 64 KB steps.
      for (let i = 0; i < 200 && !s.journal.checkpointing; i++) {
        s.b.broker.publish(`state/${i}`, Buffer.alloc(2048, i), { qos: 1, retain: true });
        s.journal.commit();
      }
      assert.equal(s.journal.checkpointing, true, 'the commit past the limit started a checkpoint');
      const before = readdirSync(join(s.dir, 'j')).sort();
      let steps = 0;
      while (s.journal.checkpointing) {
        // Live changes go on during the checkpoint; each is in the live generation at once.
        s.b.broker.publish(`state/${steps}`, steps % 2 === 0 ? '' : `changed ${steps}`, { qos: 1, retain: true });
        s.journal.commit();
        // A crash here: the files as they are (no checkpoint yet, or a partial one) replay to the live state.
        const crashed = recover(s);
        assert.deepEqual(comparable(crashed.snapshot), stateAt(), `crash at step ${steps}`);
        assert.doesNotMatch(crashed.lines.join('\n'), /torn|not replayed/, 'a partial checkpoint is never read');
        await new Promise((resolve) => setImmediate(resolve));
        steps++;
      }
      assert.ok(steps >= 4, `the checkpoint took ${steps} turns, the event loop ran between them`);
      const after = readdirSync(join(s.dir, 'j')).sort();
      assert.notDeepEqual(after, before);
      assert.equal(after.length, 2, `checkpoint and live generation: ${after.join(', ')}`);
      assert.deepEqual(comparable(recover(s).snapshot), stateAt());
    }, 300 * 1024));

  it('close() during a checkpoint stops it; what is left replays, and a stale partial checkpoint is removed at open', () =>
    withJournal(async (s) => {
      for (let i = 0; i < 200 && !s.journal.checkpointing; i++) {
        s.b.broker.publish(`state/${i}`, Buffer.alloc(2048, i), { qos: 1, retain: true });
        s.journal.commit();
      }
      assert.equal(s.journal.checkpointing, true);
      // Run it until its partial file exists, then stop as a failed save would (files kept).
      const j = join(s.dir, 'j');
      while (!readdirSync(j).some((f) => f.endsWith('.partial'))) await new Promise((resolve) => setImmediate(resolve));
      const live = comparable(s.b.broker.snapshot());
      s.b.broker.attachChangeLog(undefined);
      s.journal.close(false);
      assert.equal(s.journal.checkpointing, false);
      await s.journal.checkpointSettled();
      assert.ok(!readdirSync(j).some((f) => f.endsWith('.partial')), 'the partial file goes with the run');
      // As a crash mid-write would leave it: a partial file beside the generations.
      const generations = readdirSync(j).sort();
      writeFileSync(join(j, `${generations[0]}9.partial`), 'cut short');
      const lines: string[] = [];
      const fresh = new Journal({ directory: j, storePath: join(s.dir, 'mqttd.db'), log: logger(lines), snapshot: emptySnapshot });
      assert.deepEqual(comparable(fresh.recover(emptySnapshot())), live);
      assert.equal(fresh.open(0), true);
      assert.ok(!readdirSync(j).some((f) => f.endsWith('.partial')), 'open() removes a stale partial checkpoint');
      assert.doesNotMatch(lines.join('\n'), /partial|torn/);
      fresh.close(false);
    }, 300 * 1024));

  it('after a save: rotate, then compacted() removes the files the store holds; recover() skips older generations', () =>
    withJournal(async (s) => {
      s.b.broker.publish('a', 'before the save', { qos: 1, retain: true });
      const generation = s.journal.rotate();
      const saved = s.b.broker.snapshot();
      saved.journalGeneration = generation;
      s.b.broker.publish('b', 'after the save', { qos: 1, retain: true });
      s.journal.compacted(generation);
      assert.equal(readdirSync(join(s.dir, 'j')).length, 1);
      // The store (as saved) plus the journal after it: both messages, "a" not applied twice.
      const { snapshot } = recover(s, saved);
      assert.deepEqual(snapshot.retained.map((m) => m.topic).sort(), ['a', 'b']);
      s.journal.close(true);
      assert.deepEqual(readdirSync(join(s.dir, 'j')), []);
    }));

  it('a journal directory that cannot be created: open() says so in the log and returns false', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mqttd-journal-'));
    writeFileSync(join(dir, 'file'), 'not a directory');
    const lines: string[] = [];
    const journal = new Journal({ directory: join(dir, 'file', 'j'), storePath: join(dir, 'mqttd.db'), log: logger(lines), snapshot: emptySnapshot });
    assert.equal(journal.open(0), false);
    assert.match(lines.join('\n'), /cannot be created .*running without a journal/);
  });
});

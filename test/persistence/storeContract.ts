/**
 * The abstract test suite every Store must pass (the pattern of aedes' persistence tests).
 * Call it from a test file with a factory for the implementation under test.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeSnapshot } from '../../src/persistence/SnapshotCodec';
import type { Store } from '../../src/persistence/Store';
import { emptySnapshot, type StoreSnapshot } from '../../src/persistence/StoreSnapshot';
import { fullSnapshot, numberedSnapshot } from './sampleSnapshot';

export interface StoreFixture {
  store: Store;
  /** Another Store over the same storage, as after a broker restart. */
  reopen(): Store;
  cleanup(): Promise<void>;
}

export function storeContract(name: string, factory: () => Promise<StoreFixture>): void {
  const withStore = (test: (f: StoreFixture) => Promise<void>) => async () => {
    const fixture = await factory();
    try {
      await test(fixture);
    } finally {
      await fixture.cleanup();
    }
  };

  describe(`Store contract: ${name}`, () => {
    it('loads an empty snapshot, without a problem, when nothing was ever saved', withStore(async ({ store }) => {
      const result = await store.load();
      assert.deepEqual(result.snapshot, emptySnapshot());
      assert.equal(result.bytes, 0);
      assert.equal(result.problem, undefined);
    }));

    it('loads back exactly what was saved and reports the bytes written', withStore(async ({ store }) => {
      await store.load();
      const snapshot = fullSnapshot();
      const saved = await store.save(snapshot);
      assert.deepEqual(saved, { status: 'written', bytes: encodeSnapshot(snapshot).length });
      const loaded = await store.load();
      assert.deepEqual(loaded.snapshot, snapshot);
      assert.equal(loaded.bytes, saved.bytes);
      assert.equal(loaded.problem, undefined);
    }));

    it('keeps the saved state across a restart', withStore(async ({ store, reopen }) => {
      await store.load();
      assert.equal((await store.save(fullSnapshot())).status, 'written');
      const loaded = await reopen().load();
      assert.deepEqual(loaded.snapshot, fullSnapshot());
      assert.equal(loaded.problem, undefined);
    }));

    it('shares nothing with the caller: changing a saved or loaded snapshot changes nothing stored', withStore(async ({ store }) => {
      await store.load();
      const snapshot = fullSnapshot();
      await store.save(snapshot);
      snapshot.retained[0]!.payload[0] = 0x58;
      snapshot.sessions.pop();
      const first = await store.load();
      first.snapshot.retained[1]!.topic = 'changed';
      first.snapshot.sessions[0]!.queue.length = 0;
      first.snapshot.retained[0]!.payload.fill(0);
      assert.deepEqual((await store.load()).snapshot, fullSnapshot());
    }));

    it('skips a save that is byte-identical to the last one, and writes one that differs', withStore(async ({ store }) => {
      await store.load();
      const first = await store.save(numberedSnapshot(1));
      assert.equal(first.status, 'written');
      assert.deepEqual(await store.save(numberedSnapshot(1)), { status: 'skipped', bytes: first.bytes });
      assert.equal((await store.save(numberedSnapshot(2))).status, 'written');
      assert.equal((await store.save(numberedSnapshot(1))).status, 'written');
      assert.deepEqual((await store.load()).snapshot, numberedSnapshot(1));
    }));

    it('after a restart and load, saving the unchanged state writes nothing', withStore(async ({ store, reopen }) => {
      await store.load();
      await store.save(fullSnapshot());
      const restarted = reopen();
      const loaded = await restarted.load();
      assert.equal((await restarted.save(loaded.snapshot)).status, 'skipped');
    }));

    it('one entry the format cannot carry is left out and reported; everything else is saved', withStore(async ({ store }) => {
      await store.load();
      await store.save(numberedSnapshot(7));
      const invalid = fullSnapshot();
      Reflect.set(invalid.retained[0]!, 'qos', 3); // a whole retained message: left out
      Reflect.set(invalid.sessions[0]!.queue[0]!, 'packetId', 0); // one queued message: its session stays
      const result = await store.save(invalid);
      assert.equal(result.status, 'written');
      const refused = result.status === 'written' ? (result.refused ?? []) : [];
      assert.deepEqual(refused.map((e) => e.field), ['retained[0].qos', 'sessions[0].queue[0].packetId']);
      const expected = fullSnapshot();
      expected.retained.shift();
      expected.sessions[0]!.queue.shift();
      assert.deepEqual((await store.load()).snapshot, expected);
    }));

    it('saving the empty snapshot after a full one stores the empty one', withStore(async ({ store }) => {
      await store.load();
      await store.save(fullSnapshot());
      assert.equal((await store.save(emptySnapshot())).status, 'written');
      assert.deepEqual((await store.load()).snapshot, emptySnapshot());
    }));

    it('overlapping saves all settle and the last one wins', withStore(async ({ store }) => {
      await store.load();
      const saves: Promise<unknown>[] = [];
      for (let n = 1; n <= 5; n++) saves.push(store.save(numberedSnapshot(n, 1000)));
      const results = (await Promise.all(saves)) as { status: string }[];
      assert.deepEqual(results.map((r) => r.status), ['written', 'written', 'written', 'written', 'written']);
      const loaded: StoreSnapshot = (await store.load()).snapshot;
      assert.deepEqual(loaded, numberedSnapshot(5, 1000));
    }));
  });
}

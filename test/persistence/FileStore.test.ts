import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasCommand, underCi } from '../helpers/processes';
import { FileStore } from '../../src/persistence/FileStore';
import { encodeSnapshot } from '../../src/persistence/SnapshotCodec';
import type { LoadResult } from '../../src/persistence/Store';
import { emptySnapshot } from '../../src/persistence/StoreSnapshot';
import { fullSnapshot, numberedSnapshot } from './sampleSnapshot';
import { storeContract } from './storeContract';
import { mountTmpfs, removeDir, runStoreChild, scratchDir, unprivilegedPrefix } from './storeTestEnv';

storeContract('FileStore', async () => {
  const dir = scratchDir();
  const path = join(dir, 'mqttd.db');
  return { store: new FileStore(path), reopen: () => new FileStore(path), cleanup: async () => removeDir(dir) };
});

const pinnedClock = () => new Date(Date.UTC(2024, 0, 2, 3, 4, 5));
const ASIDE = 'mqttd.db.corrupt-20240102-030405';

/** A scratch directory with a store path in it, removed afterwards. */
function inScratch(test: (dir: string, path: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = scratchDir();
    try {
      await test(dir, join(dir, 'mqttd.db'));
    } finally {
      removeDir(dir);
    }
  };
}

function assertEmptyWithProblem(result: LoadResult, code: string, pattern: RegExp): void {
  assert.deepEqual(result.snapshot, emptySnapshot());
  assert.equal(result.problem?.code, code);
  assert.match(result.problem?.message ?? '', pattern);
}

describe('FileStore', () => {
  it('builds its path from persistence_location and persistence_file like mosquitto', () => {
    assert.equal(FileStore.fromConfig('/overlay/mqttd/', 'mqttd.db').path, '/overlay/mqttd/mqttd.db');
    assert.equal(FileStore.fromConfig('/overlay/mqttd', 'mqttd.db').path, '/overlay/mqttd/mqttd.db');
    assert.equal(FileStore.fromConfig('', 'mqttd.db').path, 'mqttd.db');
  });

  it('writes the encoded snapshot, readable only by its owner, and leaves no temp file', inScratch(async (dir, path) => {
    const store = new FileStore(path);
    await store.save(fullSnapshot());
    assert.ok(readFileSync(path).equals(encodeSnapshot(fullSnapshot())));
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir), ['mqttd.db']);
  }));

  it('an identical snapshot is not written: same inode, same mtime; a changed one replaces the file', inScratch(async (dir, path) => {
    const store = new FileStore(path);
    await store.save(fullSnapshot());
    const before = statSync(path, { bigint: true });
    assert.equal((await store.save(fullSnapshot())).status, 'skipped');
    const after = statSync(path, { bigint: true });
    assert.equal(after.ino, before.ino);
    assert.equal(after.mtimeNs, before.mtimeNs);
    // The same check does see a real write (rename brings a new inode).
    assert.equal((await store.save(numberedSnapshot(1))).status, 'written');
    assert.notEqual(statSync(path, { bigint: true }).ino, before.ino);
  }));

  it('a store path that is a symlink is written where it points, and the link stays', inScratch(async (dir, path) => {
    mkdirSync(join(dir, 'flash'));
    const real = join(dir, 'flash', 'mqttd.db');
    symlinkSync(real, path);
    const store = new FileStore(path);
    assert.equal((await store.save(numberedSnapshot(1))).status, 'written');
    assert.equal((await store.save(numberedSnapshot(2))).status, 'written');
    assert.ok(lstatSync(path).isSymbolicLink());
    assert.ok(readFileSync(real).equals(encodeSnapshot(numberedSnapshot(2))));
    assert.deepEqual(readdirSync(join(dir, 'flash')), ['mqttd.db']);
    writeFileSync(`${real}.new`, 'left by a crash');
    assert.deepEqual((await new FileStore(path).load()).snapshot, numberedSnapshot(2));
    assert.deepEqual(readdirSync(join(dir, 'flash')), ['mqttd.db']);
  }));

  it('sets a corrupt store aside, never deletes it, and starts empty with a message naming file and byte', inScratch(async (dir, path) => {
    const garbage = Buffer.from('this is not an mqttd store\n');
    writeFileSync(path, garbage);
    const result = await new FileStore(path, { now: pinnedClock }).load();
    assertEmptyWithProblem(result, 'ESTORECORRUPT', /mqttd\.db is not a valid mqttd store \(byte 0: expected the mqttd store magic/);
    assert.equal(result.problem?.setAsideAs, join(dir, ASIDE));
    assert.match(result.problem?.message ?? '', new RegExp(`kept as .*${ASIDE}, starting with an empty store`));
    assert.ok(readFileSync(join(dir, ASIDE)).equals(garbage));
    assert.equal(existsSync(path), false);
  }));

  it('a torn (truncated) store is set aside with "truncated" in the message, and saving works again', inScratch(async (dir, path) => {
    const whole = encodeSnapshot(fullSnapshot());
    writeFileSync(path, whole.subarray(0, whole.length - 7));
    const store = new FileStore(path, { now: pinnedClock });
    const loaded = await store.load();
    assert.equal(loaded.problem?.code, 'ESTORECORRUPT');
    assert.match(loaded.problem?.message ?? '', /truncated.*starting with the \d+ entries that could be read/);
    // The entries before the torn end are kept: every retained message, the sessions before the last.
    assert.deepEqual(loaded.snapshot.retained, fullSnapshot().retained);
    assert.equal((await store.save(numberedSnapshot(3))).status, 'written');
    assert.deepEqual((await new FileStore(path).load()).snapshot, numberedSnapshot(3));
    assert.ok(readFileSync(join(dir, ASIDE)).equals(whole.subarray(0, whole.length - 7)));
  }));

  it('a mosquitto.db is set aside with a message that says so', inScratch(async (_dir, path) => {
    writeFileSync(path, Buffer.concat([Buffer.from([0x00, 0xb5, 0x00]), Buffer.from('mosquitto db'), Buffer.alloc(64)]));
    assertEmptyWithProblem(await new FileStore(path, { now: pinnedClock }).load(), 'ESTORECORRUPT', /found a mosquitto\.db/);
  }));

  it('never overwrites an earlier set-aside file: the next ones get -2, -3', inScratch(async (dir, path) => {
    writeFileSync(join(dir, ASIDE), 'first');
    writeFileSync(path, 'second');
    assert.equal((await new FileStore(path, { now: pinnedClock }).load()).problem?.setAsideAs, join(dir, `${ASIDE}-2`));
    writeFileSync(path, 'third');
    assert.equal((await new FileStore(path, { now: pinnedClock }).load()).problem?.setAsideAs, join(dir, `${ASIDE}-3`));
    assert.equal(readFileSync(join(dir, ASIDE), 'utf8'), 'first');
    assert.equal(readFileSync(join(dir, `${ASIDE}-2`), 'utf8'), 'second');
    assert.equal(readFileSync(join(dir, `${ASIDE}-3`), 'utf8'), 'third');
  }));

  it('an unreadable store (a directory in its place) is set aside whole and reported as ESTOREREAD', inScratch(async (dir, path) => {
    mkdirSync(path);
    writeFileSync(join(path, 'keep-me'), 'user data');
    const store = new FileStore(path, { now: pinnedClock });
    assertEmptyWithProblem(await store.load(), 'ESTOREREAD', /mqttd\.db could not be read \(EISDIR/);
    assert.equal(readFileSync(join(dir, ASIDE, 'keep-me'), 'utf8'), 'user data');
    assert.equal((await store.save(numberedSnapshot(1))).status, 'written');
  }));

  it('ignores and removes a <file>.new left by a crash: the old file is the truth', inScratch(async (dir, path) => {
    await new FileStore(path).save(numberedSnapshot(1));
    writeFileSync(`${path}.new`, encodeSnapshot(numberedSnapshot(2)).subarray(0, 20));
    const result = await new FileStore(path).load();
    assert.deepEqual(result.snapshot, numberedSnapshot(1));
    assert.equal(result.problem, undefined);
    assert.deepEqual(readdirSync(dir), ['mqttd.db']);
  }));

  it('a <file>.new with no store beside it is a first start', inScratch(async (dir, path) => {
    writeFileSync(`${path}.new`, 'half a store');
    const result = await new FileStore(path).load();
    assert.deepEqual(result, { snapshot: emptySnapshot(), bytes: 0 });
    assert.deepEqual(readdirSync(dir), []);
  }));

  it('a missing directory is a clear save error, not a crash', inScratch(async (dir) => {
    const path = join(dir, 'no-such-dir', 'mqttd.db');
    const result = await new FileStore(path).save(numberedSnapshot(1));
    assert.equal(result.status, 'failed');
    assert.equal(result.status === 'failed' && result.error.errno, 'ENOENT');
    assert.match(result.status === 'failed' ? result.error.message : '', /no-such-dir\/mqttd\.db: could not save while creating .*mqttd\.db\.new \(ENOENT/);
  }));

  it('the store path taken by a directory: save fails as a value, the directory and its content are untouched, later save succeeds', inScratch(async (dir, path) => {
    const store = new FileStore(path);
    mkdirSync(path);
    writeFileSync(join(path, 'keep-me'), 'user data');
    const result = await store.save(numberedSnapshot(1));
    assert.equal(result.status, 'failed');
    assert.equal(result.status === 'failed' && result.error.code, 'ESTOREWRITE');
    assert.match(result.status === 'failed' ? result.error.message : '', /while renaming .* the previous store is unchanged; the next save retries/);
    assert.equal(readFileSync(join(path, 'keep-me'), 'utf8'), 'user data');
    assert.deepEqual(readdirSync(dir), ['mqttd.db']);
    removeDir(path);
    assert.equal((await store.save(numberedSnapshot(1))).status, 'written');
  }));

  it('read-only directory (EACCES): previous store intact, no temp file left, next save succeeds once writable', inScratch(async (dir, path) => {
    if (process.getuid?.() === 0) assert.ok(hasCommand('setpriv'), 'setpriv (util-linux) is needed to drop root');
    await new FileStore(path).save(numberedSnapshot(1));
    const before = readFileSync(path);
    chmodSync(dir, 0o555);
    const [failed] = await runStoreChild(unprivilegedPrefix(), path, ['save:2:0']);
    assert.equal(failed?.status, 'failed');
    assert.equal(failed?.errno, 'EACCES');
    assert.match(failed?.message ?? '', /mqttd\.db: could not save while creating .*mqttd\.db\.new \(EACCES.*the previous store is unchanged/);
    assert.ok(readFileSync(path).equals(before));
    assert.deepEqual(readdirSync(dir), ['mqttd.db']);
    chmodSync(dir, 0o777);
    const [retried] = await runStoreChild(unprivilegedPrefix(), path, ['save:2:0']);
    assert.equal(retried?.status, 'written');
    assert.deepEqual((await new FileStore(path).load()).snapshot, numberedSnapshot(2));
  }));

  it('a corrupt store that cannot be set aside is never overwritten: saves fail with ESTOREBLOCKED', inScratch(async (dir, path) => {
    writeFileSync(path, 'corrupt but precious');
    chmodSync(path, 0o644);
    chmodSync(dir, 0o555);
    const [load, save] = await runStoreChild(unprivilegedPrefix(), path, ['load', 'save:1:0']);
    assert.equal(load?.problem, 'ESTORECORRUPT');
    assert.match(load?.message ?? '', /could not be set aside \(EACCES.*will not be overwritten: move it away and restart mqttd/);
    assert.equal(save?.status, 'failed');
    assert.equal(save?.code, 'ESTOREBLOCKED');
    chmodSync(dir, 0o755);
    assert.equal(readFileSync(path, 'utf8'), 'corrupt but precious');
  }));

  it('a write cut short (file size limit, EFBIG) removes the temp file and keeps the previous store', inScratch(async (dir, path) => {
    assert.ok(hasCommand('prlimit'), 'prlimit (util-linux) caps the file size');
    await new FileStore(path).save(numberedSnapshot(1));
    const before = readFileSync(path);
    const [failed] = await runStoreChild(['prlimit', '--fsize=16384'], path, ['save:2:65536']);
    assert.equal(failed?.status, 'failed');
    assert.equal(failed?.errno, 'EFBIG');
    assert.match(failed?.message ?? '', /while writing .*mqttd\.db\.new \(EFBIG.*the previous store is unchanged/);
    assert.ok(readFileSync(path).equals(before));
    assert.deepEqual(readdirSync(dir), ['mqttd.db']);
    // Under the same limit, a save that fits goes through.
    const [small] = await runStoreChild(['prlimit', '--fsize=16384'], path, ['save:3:0']);
    assert.equal(small?.status, 'written');
    assert.deepEqual((await new FileStore(path).load()).snapshot, numberedSnapshot(3));
    assert.deepEqual(readdirSync(dir), ['mqttd.db']);
  }));

  it('a full file system (ENOSPC on a 64 KB tmpfs) keeps the previous store; saving works again when space is back', async (t) => {
    const fs = mountTmpfs('64k');
    if (typeof fs === 'string') return skipOutsideCi(t, fs);
    try {
      const path = join(fs.dir, 'mqttd.db');
      const store = new FileStore(path);
      assert.equal((await store.save(numberedSnapshot(1, 1000))).status, 'written');
      const before = readFileSync(path);
      const failed = await store.save(numberedSnapshot(2, 200_000));
      assert.equal(failed.status, 'failed');
      assert.equal(failed.status === 'failed' && failed.error.errno, 'ENOSPC');
      assert.match(failed.status === 'failed' ? failed.error.message : '', /while writing .*\(ENOSPC.*the previous store is unchanged/);
      assert.ok(readFileSync(path).equals(before));
      assert.deepEqual(readdirSync(fs.dir), ['mqttd.db']);
      assert.equal((await store.save(numberedSnapshot(3, 1000))).status, 'written');
      assert.deepEqual((await new FileStore(path).load()).snapshot, numberedSnapshot(3, 1000));
    } finally {
      fs.unmount();
    }
  });

  it('a read-only file system (EROFS) keeps the previous store; saving works again after remount rw', async (t) => {
    const fs = mountTmpfs('64k');
    if (typeof fs === 'string') return skipOutsideCi(t, fs);
    try {
      const path = join(fs.dir, 'mqttd.db');
      const store = new FileStore(path);
      await store.save(numberedSnapshot(1));
      fs.remount('ro');
      const failed = await store.save(numberedSnapshot(2));
      assert.equal(failed.status === 'failed' && failed.error.errno, 'EROFS');
      assert.deepEqual((await new FileStore(path).load()).snapshot, numberedSnapshot(1));
      fs.remount('rw');
      assert.equal((await store.save(numberedSnapshot(2))).status, 'written');
      assert.deepEqual((await new FileStore(path).load()).snapshot, numberedSnapshot(2));
    } finally {
      fs.unmount();
    }
  });
});

/** A fault test that cannot make its fault proves nothing: under CI that is a failure, not a skip. */
function skipOutsideCi(t: { skip(message: string): void }, why: string): void {
  if (underCi()) assert.fail(`cannot produce the fault under CI: ${why}`);
  t.skip(why);
}

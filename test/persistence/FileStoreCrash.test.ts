import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess, waitForOutput } from '../helpers/processes';
import { FileStore } from '../../src/persistence/FileStore';
import { numberedSnapshot } from './sampleSnapshot';
import { removeDir, scratchDir, storeChild } from './storeTestEnv';

const ROUNDS = 100;
// Big enough that a good share of each save is spent writing and syncing the temp file.
const FILLER = 128 * 1024;

function lastNumber(output: string, word: string): number {
  const matches = [...output.matchAll(new RegExp(`^${word} (\\d+)$`, 'gm'))];
  return matches.length === 0 ? 0 : Number(matches[matches.length - 1]![1]);
}

describe('FileStore crash safety', () => {
  it(`a process saving in a loop, kill -9ed at random moments ${ROUNDS} times, always leaves a loadable old or new store`, async (t) => {
    const dir = scratchDir();
    const path = join(dir, 'mqttd.db');
    let killedMidSave = 0;
    try {
      assert.equal((await new FileStore(path).save(numberedSnapshot(0, FILLER))).status, 'written');
      let current = 0;
      for (let round = 1; round <= ROUNDS; round++) {
        const child = startProcess(process.execPath, [storeChild(), path, `loop:${FILLER}`]);
        await waitForOutput(child, /^saving \d+$/m);
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 30));
        child.child.kill('SIGKILL');
        await child.exited;
        await child.stop();
        assert.equal(child.child.signalCode, 'SIGKILL', `round ${round}: the saver stopped on its own:\n${child.output()}`);

        const output = child.output();
        const started = lastNumber(output, 'saving');
        const done = lastNumber(output, 'saved');
        const before = done === 0 ? current : done;
        // Completed saves are the truth; the one in flight may or may not have landed.
        const allowed = started > done ? [before, started] : [before];
        if (existsSync(`${path}.new`)) killedMidSave++;

        const result = await new FileStore(path).load();
        assert.equal(result.problem, undefined, `round ${round}: ${result.problem?.message}`);
        const loaded = Number(result.snapshot.retained[0]?.payload.toString());
        assert.ok(allowed.includes(loaded), `round ${round}: loaded ${loaded}, expected one of ${allowed.join(', ')}`);
        assert.deepEqual(result.snapshot, numberedSnapshot(loaded, FILLER), `round ${round}: a mixed snapshot`);
        assert.deepEqual(readdirSync(dir), ['mqttd.db'], `round ${round}: leftover files`);
        current = loaded;
      }
      t.diagnostic(`${killedMidSave} of ${ROUNDS} kills left a half-written mqttd.db.new behind`);
    } finally {
      removeDir(dir);
    }
  });
});

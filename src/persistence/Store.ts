/**
 * Where the broker keeps its StoreSnapshot between runs. Implementations: FileStore (the
 * daemon, `persistence true`) and MemoryStore (persistence off, embedding, tests). Any
 * implementation must pass test/persistence/storeContract.ts.
 *
 * Neither method rejects: failures are values, so a full flash or a corrupt file is logged
 * and the broker keeps serving.
 */
import type { SnapshotInvalidError } from './SnapshotInvalidError';
import type { StoreError } from './StoreError';
import type { StoreSnapshot } from './StoreSnapshot';

export interface LoadResult {
  /** What was stored; empty on a first start or when the stored state was unusable. */
  snapshot: StoreSnapshot;
  /** Size of the store that was read; 0 when there was none. */
  bytes: number;
  /**
   * Set when a store existed but could not be used whole (it is never deleted: see setAsideAs).
   * `snapshot` then holds the entries that could still be read.
   */
  problem?: StoreError;
}

export type SaveResult =
  /** The snapshot is now the stored state (less any `refused` entries). */
  | { status: 'written'; bytes: number; refused?: SnapshotInvalidError[] }
  /** Byte-identical to the last saved state: nothing written (flash wear). */
  | { status: 'skipped'; bytes: number; refused?: SnapshotInvalidError[] }
  /** Nothing changed on disk; the previous stored state is intact. The next save retries. */
  | { status: 'failed'; bytes: 0; error: StoreError };

export interface Store {
  load(): Promise<LoadResult>;
  save(snapshot: StoreSnapshot): Promise<SaveResult>;
}

/**
 * A Store in memory, for persistence off, embedding and tests. It keeps the encoded bytes,
 * not the snapshot object, so it behaves exactly like FileStore: a loaded snapshot shares
 * nothing with the saved one, invalid snapshots are refused and identical saves are skipped.
 */
import { encodeSnapshot, decodeSnapshot } from './SnapshotCodec';
import type { LoadResult, SaveResult, Store } from './Store';
import { StoreError } from './StoreError';
import { emptySnapshot, type StoreSnapshot } from './StoreSnapshot';

export class MemoryStore implements Store {
  private stored: Buffer | undefined;

  async load(): Promise<LoadResult> {
    if (this.stored === undefined) return { snapshot: emptySnapshot(), bytes: 0 };
    return { snapshot: decodeSnapshot(this.stored), bytes: this.stored.length };
  }

  async save(snapshot: StoreSnapshot): Promise<SaveResult> {
    let bytes: Buffer;
    try {
      bytes = encodeSnapshot(snapshot);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      return { status: 'failed', bytes: 0, error: new StoreError('ESNAPSHOT', `invalid snapshot, not saved (${reason})`) };
    }
    if (this.stored !== undefined && this.stored.equals(bytes)) return { status: 'skipped', bytes: bytes.length };
    this.stored = bytes;
    return { status: 'written', bytes: bytes.length };
  }
}

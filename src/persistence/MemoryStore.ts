/**
 * A Store in memory, for persistence off, embedding and tests. It keeps the encoded bytes,
 * not the snapshot object, so it behaves exactly like FileStore: a loaded snapshot shares
 * nothing with the saved one, entries the format cannot carry are left out (and reported),
 * and identical saves are skipped.
 */
import { decodeSnapshot, encodeStore } from './SnapshotCodec';
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
    let encoded;
    try {
      encoded = encodeStore(snapshot);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      return { status: 'failed', bytes: 0, error: new StoreError('ESNAPSHOT', `invalid snapshot, not saved (${reason})`) };
    }
    const { bytes, refused } = encoded;
    const extra = refused.length > 0 ? { refused } : {};
    if (this.stored !== undefined && this.stored.equals(bytes)) return { status: 'skipped', bytes: bytes.length, ...extra };
    this.stored = bytes;
    return { status: 'written', bytes: bytes.length, ...extra };
  }
}

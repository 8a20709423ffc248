/**
 * An append-only byte sequence kept as a list of blocks, never joined: what the whole store
 * is encoded into. A ByteWriter that grows by doubling holds up to twice what it wrote and
 * copies it all at each doubling, and joining its sections copies it again; for a store of
 * 16 MB that was 50–60 MB at once on a 256 MB router. Here the bytes exist once.
 */
export class ChunkWriter {
  private readonly chunks: Buffer[] = [];
  /** The block being filled, and how much of it is used. */
  private block: Buffer;
  private used = 0;
  private total = 0;

  constructor(private readonly blockSize = 64 * 1024) {
    this.block = Buffer.allocUnsafe(blockSize);
  }

  /** Bytes written. */
  get length(): number {
    return this.total;
  }

  u8(value: number): void {
    if (this.used === this.block.length) this.nextBlock();
    this.block[this.used++] = value;
    this.total++;
  }

  /** Unsigned LEB128 (as ByteWriter.varuint). */
  varuint(value: number): void {
    while (value >= 0x80) {
      this.u8((value % 0x80) | 0x80);
      value = Math.floor(value / 0x80);
    }
    this.u8(value);
  }

  /** Copies `value` in (the caller may reuse its buffer). */
  raw(value: Uint8Array): void {
    let from = 0;
    while (from < value.length) {
      if (this.used === this.block.length) this.nextBlock();
      const n = Math.min(this.block.length - this.used, value.length - from);
      this.block.set(value.subarray(from, from + n), this.used);
      this.used += n;
      from += n;
    }
    this.total += value.length;
  }

  /**
   * A place between what was written and what comes next, for bytes known only later (a
   * section's count, which comes before its entries): see insert().
   */
  mark(): number {
    this.seal();
    return this.chunks.length;
  }

  /** Puts `bytes` at a mark, before everything written after it. Marks made after it move on by one. */
  insert(mark: number, bytes: Buffer): void {
    this.chunks.splice(mark, 0, bytes);
    this.total += bytes.length;
  }

  /** Moves another writer's bytes to the end of this one (no copy); `other` is left empty. */
  take(other: ChunkWriter): void {
    this.seal();
    for (const chunk of other.finish()) this.chunks.push(chunk);
    this.total += other.total;
    other.total = 0;
  }

  /** The bytes written, in order; the writer must not be written to after. */
  finish(): Buffer[] {
    this.seal();
    const chunks = this.chunks.splice(0);
    return chunks;
  }

  /** Ends the current block where it is used up to; the rest of it is the next block. */
  private seal(): void {
    if (this.used === 0) return;
    this.chunks.push(this.block.subarray(0, this.used));
    this.block = this.block.subarray(this.used);
    this.used = 0;
  }

  private nextBlock(): void {
    this.seal();
    if (this.block.length === 0) this.block = Buffer.allocUnsafe(this.blockSize);
  }
}

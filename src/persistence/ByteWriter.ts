/** An append-only buffer that grows by doubling: one allocation per doubling, not per field. */
export class ByteWriter {
  private buffer: Buffer;
  private length = 0;

  constructor(initialSize = 1024) {
    this.buffer = Buffer.allocUnsafe(initialSize);
  }

  get position(): number {
    return this.length;
  }

  /** Bytes allocated (what the writer holds in memory, written or not). */
  get capacity(): number {
    return this.buffer.length;
  }

  private reserve(n: number): void {
    const needed = this.length + n;
    if (needed <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < needed) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }

  u8(value: number): void {
    this.reserve(1);
    this.buffer[this.length++] = value;
  }

  u16(value: number): void {
    this.reserve(2);
    this.buffer.writeUInt16BE(value, this.length);
    this.length += 2;
  }

  u32(value: number): void {
    this.reserve(4);
    this.buffer.writeUInt32BE(value, this.length);
    this.length += 4;
  }

  /** Overwrites 4 bytes already written (header fields known only at the end). */
  patchU32(offset: number, value: number): void {
    this.buffer.writeUInt32BE(value, offset);
  }

  /**
   * Unsigned LEB128, up to Number.MAX_SAFE_INTEGER. Division, not bit shifts: shifts would
   * truncate to 32 bits and timestamps in ms need 41.
   */
  varuint(value: number): void {
    this.reserve(8);
    while (value >= 0x80) {
      this.buffer[this.length++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.buffer[this.length++] = value;
  }

  /** Length-prefixed bytes. */
  bytes(value: Uint8Array): void {
    this.varuint(value.length);
    this.raw(value);
  }

  raw(value: Uint8Array): void {
    this.reserve(value.length);
    this.buffer.set(value, this.length);
    this.length += value.length;
  }

  /** Length-prefixed UTF-8. */
  string(value: string): void {
    const byteLength = Buffer.byteLength(value, 'utf8');
    this.varuint(byteLength);
    this.reserve(byteLength);
    this.length += this.buffer.write(value, this.length, byteLength, 'utf8');
  }

  /** Another writer's bytes, appended. */
  append(other: ByteWriter): void {
    this.raw(other.buffer.subarray(0, other.length));
  }

  /** Drops what was written after `position`. */
  truncate(position: number): void {
    if (position < this.length) this.length = position;
  }

  /** Empties the writer and keeps its buffer, for reuse. */
  reset(): void {
    this.length = 0;
  }

  /**
   * Empties the writer and, when one large write grew it past `keepBytes`, lets that buffer go:
   * a long-lived writer (the journal's per-turn batch) must not keep its largest batch forever.
   */
  resetAndShrink(keepBytes: number, initialSize: number): void {
    this.length = 0;
    if (this.buffer.length > keepBytes) this.buffer = Buffer.allocUnsafe(initialSize);
  }

  /** What was written, without copying: valid until the next write or reset. */
  view(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  /** A copy exactly as long as what was written. */
  finish(): Buffer {
    return Buffer.from(this.buffer.subarray(0, this.length));
  }
}

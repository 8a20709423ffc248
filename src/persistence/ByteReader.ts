import { StoreCorruptError } from './StoreCorruptError';

// fatal: invalid UTF-8 is corruption, not U+FFFD. ignoreBOM: a leading U+FEFF is data.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Reads a store body with a bounds check before every access: a malformed file ends in a
 * StoreCorruptError naming the offset, never in a RangeError or a read past the end.
 */
export class ByteReader {
  private offset: number;

  constructor(
    private readonly buffer: Buffer,
    start: number,
    private readonly end: number,
  ) {
    this.offset = start;
  }

  get position(): number {
    return this.offset;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  fail(expected: string, at = this.offset): never {
    throw new StoreCorruptError(at, expected);
  }

  private need(n: number, what: string): void {
    if (this.end - this.offset < n) this.fail(`${what} (${n} bytes, only ${this.end - this.offset} left)`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buffer[this.offset++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const value = this.buffer.readUInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  /** Unsigned LEB128 in its shortest form (one encoding per value keeps files canonical). */
  varuint(what: string, max: number = Number.MAX_SAFE_INTEGER): number {
    const start = this.offset;
    let value = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      if (i === 8) this.fail(`${what}: a number of at most 8 bytes`, start);
      const byte = this.u8(what);
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) {
        if (byte === 0 && i > 0) this.fail(`${what}: a number in its shortest encoding`, start);
        break;
      }
      scale *= 0x80;
    }
    if (value > max) this.fail(`${what}: at most ${max}, found ${value}`, start);
    return value;
  }

  /** A count of items that each take at least one byte: bounded by what is left. */
  count(what: string): number {
    const start = this.offset;
    const n = this.varuint(what);
    if (n > this.remaining) this.fail(`${what}: at most ${this.remaining} (bytes left), found ${n}`, start);
    return n;
  }

  /**
   * A reader over the next `length` bytes (offsets stay those of the whole file); this one
   * moves past them. The caller checked `length` against what is left.
   */
  sub(length: number): ByteReader {
    const reader = new ByteReader(this.buffer, this.offset, this.offset + length);
    this.offset += length;
    return reader;
  }

  /** The bytes left, consumed (no copy). */
  rest(): Buffer {
    const value = this.buffer.subarray(this.offset, this.end);
    this.offset = this.end;
    return value;
  }

  /** A length prefix, checked against the bytes that follow it. */
  private length(what: string): number {
    const start = this.offset;
    const n = this.varuint(`length of ${what}`);
    if (n > this.remaining) this.fail(`length of ${what}: at most ${this.remaining} (bytes left), found ${n}`, start);
    return n;
  }

  /** Length-prefixed bytes, copied so the snapshot does not pin the whole file in memory. */
  bytes(what: string): Buffer {
    const n = this.length(what);
    const value = Buffer.from(this.buffer.subarray(this.offset, this.offset + n));
    this.offset += n;
    return value;
  }

  string(what: string): string {
    const n = this.length(what);
    const start = this.offset;
    let value: string;
    try {
      value = utf8.decode(this.buffer.subarray(start, start + n));
    } catch {
      this.fail(`${what}: valid UTF-8`, start);
    }
    this.offset += n;
    return value;
  }
}

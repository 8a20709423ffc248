/**
 * A store file that cannot be decoded. It says where (byte offset from the start of the file)
 * and what was expected there, so a bug report or a hex dump can be matched to the format.
 */
export class StoreCorruptError extends Error {
  readonly code = 'ESTORECORRUPT';

  constructor(
    /** Byte offset from the start of the file. */
    readonly offset: number,
    /** What the decoder expected at that offset. */
    readonly expected: string,
  ) {
    super(`byte ${offset}: expected ${expected}`);
    this.name = 'StoreCorruptError';
  }
}

/** Builds and patches raw store files, for tests that need a file the encoder would not write. */
import { crc32 } from '../../src/persistence/Crc32';
import { STORE_FORMAT_VERSION, STORE_HEADER_SIZE, STORE_MAGIC } from '../../src/persistence/SnapshotCodec';

/** A file with a correct header (magic, version, length, CRC) around any body. */
export function fileWithBody(body: Uint8Array, version = STORE_FORMAT_VERSION): Buffer {
  const file = Buffer.alloc(STORE_HEADER_SIZE + body.length);
  STORE_MAGIC.copy(file, 0);
  file[STORE_MAGIC.length] = version;
  Buffer.from(body).copy(file, STORE_HEADER_SIZE);
  return withFixedHeader(file);
}

/** Recomputes the length and CRC fields, so only the body's structure is left to check. */
export function withFixedHeader(file: Buffer): Buffer {
  const copy = Buffer.from(file);
  copy.writeUInt32BE(copy.length - STORE_HEADER_SIZE, STORE_MAGIC.length + 1);
  copy.writeUInt32BE(crc32(copy, STORE_HEADER_SIZE), STORE_MAGIC.length + 5);
  return copy;
}

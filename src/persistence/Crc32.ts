/**
 * CRC-32 (IEEE 802.3, the zlib/PNG polynomial). zlib.crc32 (native, from Node 20.15) when the
 * Node has it, else table-driven JS: OpenWrt feeds may ship an older Node 20. Same values.
 */
import * as zlib from 'node:zlib';

const native = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

const TABLE = buildTable();

function buildTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** CRC-32 of bytes[start, end). */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  if (native !== undefined) return native(start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end)) >>> 0;
  return crc32Js(bytes, start, end);
}

/** CRC-32 of the bytes that follow ones whose CRC-32 is `previous`: one CRC over pieces never joined. */
export function crc32After(previous: number, bytes: Uint8Array): number {
  if (native !== undefined) return native(bytes, previous) >>> 0;
  return crc32Js(bytes, 0, bytes.length, previous);
}

/** The portable version (exported so a test can compare the two). */
export function crc32Js(bytes: Uint8Array, start = 0, end = bytes.length, previous = 0): number {
  let c = (previous ^ 0xffffffff) >>> 0;
  for (let i = start; i < end; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

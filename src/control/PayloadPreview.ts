/** Bytes of a payload the explorer keeps and shows; the full size is always reported beside it. */
export const PREVIEW_BYTES = 2048;

/**
 * The first `limit` bytes of a payload. A small payload is shared, not copied (the broker
 * never mutates one); a large one is cut into a copy so the explorer does not pin its buffer.
 */
export function previewOf(payload: Buffer, limit = PREVIEW_BYTES): Buffer {
  return payload.length <= limit ? payload : Buffer.from(payload.subarray(0, limit));
}

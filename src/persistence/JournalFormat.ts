/**
 * The RAM journal's file format (see docs/persistence.md, "The journal").
 *
 *   header  magic "mqttdj" (6) | version (1) | generation u32 BE | CRC-32 of the store path u32 BE
 *   record  body length u32 BE | CRC-32 of the body u32 BE | body (u8 type, fields)
 *
 * Records are appended as changes happen; a crash can only cut the last one short (a torn
 * tail), which the CRC and the length expose. Field encodings are the store's (SnapshotCodec).
 */
import { ByteReader } from './ByteReader';
import { crc32 } from './Crc32';
import { StoreCorruptError } from './StoreCorruptError';

export const JOURNAL_MAGIC = Buffer.from('mqttdj', 'latin1');
export const JOURNAL_VERSION = 1;
export const JOURNAL_HEADER_SIZE = JOURNAL_MAGIC.length + 1 + 4 + 4;
export const RECORD_HEADER_SIZE = 8;

/** Record types (the body's first byte). */
export const enum RecordType {
  /** message: a retained message set, or cleared (empty payload). */
  Retained = 1,
  /** varuint id, message: defines a message the records after it in this file refer to. */
  Message = 2,
  /** session (with its queue): the session, whole. */
  Session = 3,
  /** session (queue empty): options, subscriptions, incoming QoS 2 ids; the queue stays. */
  SessionMeta = 4,
  /** string clientId: the session is gone. */
  SessionEnd = 5,
  /** string clientId, delivery: appended to the queue. */
  Queued = 6,
  /** string clientId, u16 packetId, delivery: sent at once, now in flight. */
  SentDirect = 7,
  /** string clientId, u16 packetId: the head of the queue is now in flight. */
  SentHead = 8,
  /** string clientId: the head of the queue left it without going in flight. */
  Unqueued = 9,
  /** string clientId, u16 packetId: PUBREC received, PUBREL due. */
  Released = 10,
  /** string clientId, u16 packetId: PUBACK or PUBCOMP received, done. */
  Completed = 11,
  /** string clientId, u16 packetId, u8 pending: an incoming QoS 2 id recorded (1) or released (0). */
  IncomingQos2 = 12,
  /** will: a will waits for its delay. */
  Will = 13,
  /** string clientId: that will no longer waits. */
  WillGone = 14,
  /** a whole store file (SnapshotCodec): the state at this point, replacing all before it. */
  Checkpoint = 15,
  /** string bridge, string remote topic, delivery: appended to the bridge's queue. */
  BridgeQueued = 16,
  /** string bridge, u16 packetId: the oldest entry without a packet id got this one. */
  BridgeSent = 17,
  /** string bridge, u16 packetId: the remote's PUBREC came. */
  BridgeReleased = 18,
  /** string bridge, u16 packetId: gone; 0: the oldest entry without a packet id. */
  BridgeDone = 19,
  /** string bridge: every entry lost its packet id (the remote's session is new). */
  BridgeForgotten = 20,
  /** string bridge, u16 packetId, message: a QoS 2 message from the remote, held until its PUBREL. */
  BridgeHeld = 21,
  /** string bridge, u16 packetId: that message was delivered (or its session is gone). */
  BridgeHeldDone = 22,
}

/**
 * delivery = varuint messageId, u8 flags (bits 0-1 QoS, 0x04 retain, 0x08 has subscription
 * id), [varuint subscriptionId].
 */
export const DELIVERY_RETAIN = 0x04;
export const DELIVERY_HAS_SUBSCRIPTION_ID = 0x08;
export const DELIVERY_KNOWN = 0x0f;

export function journalHeader(generation: number, storePathCrc: number): Buffer {
  const header = Buffer.alloc(JOURNAL_HEADER_SIZE);
  JOURNAL_MAGIC.copy(header, 0);
  header[JOURNAL_MAGIC.length] = JOURNAL_VERSION;
  header.writeUInt32BE(generation, JOURNAL_MAGIC.length + 1);
  header.writeUInt32BE(storePathCrc, JOURNAL_MAGIC.length + 5);
  return header;
}

/** One journal file, read: its records' bodies, and why reading stopped early, if it did. */
export interface JournalFileContents {
  records: ByteReader[];
  /** Set when the file ends in a torn or damaged record: everything before it is in `records`. */
  tornAt?: StoreCorruptError;
}

/** Reads a journal file's records; throws StoreCorruptError for a header that is not this journal's. */
export function readJournalFile(file: Buffer, generation: number, storePathCrc: number): JournalFileContents {
  if (file.length < JOURNAL_HEADER_SIZE) {
    throw new StoreCorruptError(file.length, `a ${JOURNAL_HEADER_SIZE}-byte journal header, file has ${file.length} bytes`);
  }
  if (!file.subarray(0, JOURNAL_MAGIC.length).equals(JOURNAL_MAGIC)) throw new StoreCorruptError(0, 'the journal magic "mqttdj"');
  const version = file[JOURNAL_MAGIC.length]!;
  if (version !== JOURNAL_VERSION) throw new StoreCorruptError(JOURNAL_MAGIC.length, `journal version ${JOURNAL_VERSION}, found ${version}`);
  const inFile = file.readUInt32BE(JOURNAL_MAGIC.length + 1);
  if (inFile !== generation) throw new StoreCorruptError(JOURNAL_MAGIC.length + 1, `generation ${generation} (its name), found ${inFile}`);
  if (file.readUInt32BE(JOURNAL_MAGIC.length + 5) !== storePathCrc) {
    throw new StoreCorruptError(JOURNAL_MAGIC.length + 5, 'the journal of this store (another store path wrote it)');
  }
  const records: ByteReader[] = [];
  let at = JOURNAL_HEADER_SIZE;
  while (at < file.length) {
    const left = file.length - at;
    if (left < RECORD_HEADER_SIZE) {
      return { records, tornAt: new StoreCorruptError(at, `a record header (8 bytes), only ${left} left: torn write`) };
    }
    const length = file.readUInt32BE(at);
    if (length === 0 || length > left - RECORD_HEADER_SIZE) {
      return { records, tornAt: new StoreCorruptError(at, `a record of ${length} bytes, only ${left - RECORD_HEADER_SIZE} left: torn write`) };
    }
    const start = at + RECORD_HEADER_SIZE;
    if (crc32(file, start, start + length) !== file.readUInt32BE(at + 4)) {
      return { records, tornAt: new StoreCorruptError(at, 'a record matching its CRC-32: damaged') };
    }
    records.push(new ByteReader(file, start, start + length));
    at = start + length;
  }
  return { records };
}

/**
 * The store file format: a StoreSnapshot as compact bytes (routers write to flash).
 *
 *   header  magic "mqttd\0" (6) | format version (1) | body length u32 BE | CRC-32 of body u32 BE
 *   body    journal generation, retained messages, the message table, sessions, wills,
 *           bridge queues; counts and lengths as shortest-form LEB128, each entry framed.
 *
 * The full layout is in docs/persistence.md. Decoding is strict: every length is checked
 * against the bytes left, every flag bit and enum value is checked, and there is exactly one
 * encoding per snapshot. A damaged entry costs only itself: decodeStore returns the entries
 * that read whole and a StoreCorruptError for each one that did not.
 */
import { ByteReader } from './ByteReader';
import { ByteWriter } from './ByteWriter';
import { ChunkWriter } from './ChunkWriter';
import { crc32, crc32After } from './Crc32';
import { SnapshotInvalidError } from './SnapshotInvalidError';
import { StoreCorruptError } from './StoreCorruptError';
import { emptySnapshot } from './StoreSnapshot';
import type {
  StoreSnapshot,
  StoredMessage,
  StoredMessageProperties,
  StoredQueuedMessage,
  StoredSession,
  StoredSubscription,
  StoredUserProperty,
  StoredWill,
  StoredBridgeQueue,
} from './StoreSnapshot';

export const STORE_MAGIC = Buffer.from('mqttd\0', 'latin1');
export const STORE_FORMAT_VERSION = 3;
/**
 * Version 2 (each queued delivery carries its whole message) and version 1 (no journal
 * generation, no wills, entries not framed) are still read.
 */
const OLDEST_READABLE_VERSION = 1;
export const STORE_HEADER_SIZE = STORE_MAGIC.length + 1 + 4 + 4;

// mosquitto.db starts with 0x00 0xB5 0x00 "mosquitto db": named so a migrating user knows why.
const MOSQUITTO_DB_MAGIC = Buffer.from([0x00, 0xb5, 0x00, ...Buffer.from('mosquitto db', 'latin1')]);

/** Largest Subscription Identifier [MQTT-3.3.2.3.8]: a four-byte Variable Byte Integer. */
const MAX_SUBSCRIPTION_ID = 268_435_455;
const MAX_U32 = 0xffff_ffff;

// Message flags.
const MSG_QOS_MASK = 0x03;
const MSG_RETAIN = 0x04;
const MSG_HAS_PROPERTIES = 0x08;
const MSG_HAS_EXPIRES_AT = 0x10;
const MSG_KNOWN = 0x1f;

// Queue-state flags (queued messages only).
const QUEUED_HAS_PACKET_ID = 0x01;
const QUEUED_HAS_RELEASED = 0x02;
const QUEUED_RELEASED = 0x04;
const QUEUED_HAS_SUBSCRIPTION_IDS = 0x08;
const QUEUED_KNOWN = 0x0f;

// Property flags: presence bits, so an absent field and an empty one stay distinct.
const PROP_HAS_PAYLOAD_FORMAT = 0x01;
const PROP_PAYLOAD_FORMAT_UTF8 = 0x02;
const PROP_CONTENT_TYPE = 0x04;
const PROP_RESPONSE_TOPIC = 0x08;
const PROP_CORRELATION_DATA = 0x10;
const PROP_USER_PROPERTIES = 0x20;
const PROP_KNOWN = 0x3f;

// Subscription flags: bits 0-1 QoS, 4-5 Retain Handling, like the SUBSCRIBE options byte.
const SUB_QOS_MASK = 0x03;
const SUB_NO_LOCAL = 0x04;
const SUB_RETAIN_AS_PUBLISHED = 0x08;
const SUB_RETAIN_HANDLING_SHIFT = 4;
const SUB_HAS_ID = 0x40;
const SUB_KNOWN = 0x7f;

// Session flags.
const SESSION_HAS_USERNAME = 0x01;
const SESSION_KNOWN = 0x01;

// Will flags.
const WILL_HAS_USERNAME = 0x01;
const WILL_KNOWN = 0x01;

// ---------------------------------------------------------------------------------- encode

/** The encoded store and the entries left out because the format cannot carry them. */
export interface EncodedStore {
  bytes: Buffer;
  refused: SnapshotInvalidError[];
}

/** The store as written by encodeStoreInSteps: its bytes in order, never joined into one buffer. */
export interface EncodedStoreChunks {
  chunks: Buffer[];
  length: number;
  refused: SnapshotInvalidError[];
}

/**
 * Encodes a snapshot, leaving out (and reporting) any entry with a value MQTT cannot carry:
 * one bad retained message, session or will never makes the whole state unsaveable.
 */
export function encodeStore(snapshot: StoreSnapshot): EncodedStore {
  const steps = encodeStoreInSteps(snapshot);
  for (;;) {
    const step = steps.next();
    if (step.done === true) return { bytes: Buffer.concat(step.value.chunks, step.value.length), refused: step.value.refused };
  }
}

/** Bytes encoded between two pauses of encodeStoreInSteps. */
export const ENCODE_STEP_BYTES = 64 * 1024;
/** Bytes the CRC covers between two pauses (it runs at gigabytes per second). */
const CRC_STEP_BYTES = 4 * 1024 * 1024;

/**
 * encodeStore, pausing (yielding) after about every ENCODE_STEP_BYTES encoded, so that a
 * caller can let the event loop run between steps: a big store must not freeze every client
 * for the whole encoding. The snapshot must not change until it is done (it is a copy). The
 * bytes come as chunks (ChunkWriter), so they exist once in memory while they are written.
 */
export function* encodeStoreInSteps(snapshot: StoreSnapshot): Generator<void, EncodedStoreChunks, void> {
  const refused: SnapshotInvalidError[] = [];
  const header = Buffer.alloc(STORE_HEADER_SIZE);
  STORE_MAGIC.copy(header, 0);
  header[STORE_MAGIC.length] = STORE_FORMAT_VERSION;
  const body = new ChunkWriter();
  body.varuint(integerOr(snapshot.journalGeneration, 0));
  const entry = new ByteWriter(1024);
  yield* writeSection(body, entry, snapshot.retained, 'retained', writeMessage, refused);
  // Sessions go to their own writer first: writing them fills the message table, which the
  // file holds before them so that a reader meets each message before its deliveries.
  const table = new MessageTable();
  const sessions = new ChunkWriter();
  yield* writeSection(sessions, entry, snapshot.sessions, 'sessions', (e, s: StoredSession, f) => writeTableSession(e, s, f, table), refused, withoutBadParts);
  yield* writeSection(body, entry, table.messages, 'messages', writeMessage, refused);
  body.take(sessions);
  yield* writeSection(body, entry, snapshot.wills ?? [], 'wills', writeWill, refused);
  yield* writeSection(body, entry, snapshot.bridges ?? [], 'bridges', writeBridgeQueue, refused);
  const length = body.length;
  const chunks = body.finish();
  let crc = 0;
  let sinceYield = 0;
  for (const chunk of chunks) {
    crc = crc32After(crc, chunk);
    sinceYield += chunk.length;
    if (sinceYield >= CRC_STEP_BYTES) {
      sinceYield = 0;
      yield;
    }
  }
  header.writeUInt32BE(length, STORE_MAGIC.length + 1);
  header.writeUInt32BE(crc, STORE_MAGIC.length + 5);
  chunks.unshift(header);
  return { chunks, length: STORE_HEADER_SIZE + length, refused };
}

/** Encodes a snapshot; throws SnapshotInvalidError on the first entry the format cannot carry. */
export function encodeSnapshot(snapshot: StoreSnapshot): Buffer {
  const { bytes, refused } = encodeStore(snapshot);
  if (refused.length > 0) throw refused[0];
  return bytes;
}

/**
 * `count, (length, entry) × count`; an entry that fails validation is left out, not the
 * section. Yields after about every ENCODE_STEP_BYTES.
 */
function* writeSection<T>(
  out: ChunkWriter,
  entry: ByteWriter,
  items: T[],
  field: string,
  write: (w: ByteWriter, item: T, field: string) => void,
  refused: SnapshotInvalidError[],
  /** Drops the bad parts of an entry that failed (a session's one bad queued message). */
  repair?: (item: T, field: string, refused: SnapshotInvalidError[]) => T,
): Generator<void, void, void> {
  const countAt = out.mark();
  if (!Array.isArray(items)) {
    refused.push(new SnapshotInvalidError(field, 'an array'));
    out.insert(countAt, varuintBytes(0));
    return;
  }
  let count = 0;
  let paused = out.length;
  for (let i = 0; i < items.length; i++) {
    if (out.length - paused >= ENCODE_STEP_BYTES) {
      paused = out.length;
      yield;
    }
    entry.reset();
    const at = `${field}[${i}]`;
    try {
      write(entry, items[i]!, at);
    } catch (err) {
      if (!(err instanceof SnapshotInvalidError)) throw err;
      if (!writeRepaired(entry, items[i]!, at, write, refused, repair)) {
        refused.push(err);
        continue;
      }
    }
    out.varuint(entry.position);
    out.raw(entry.view());
    count++;
  }
  out.insert(countAt, varuintBytes(count));
}

function varuintBytes(value: number): Buffer {
  const w = new ByteWriter(8);
  w.varuint(value);
  return w.finish();
}

function writeRepaired<T>(
  entry: ByteWriter,
  item: T,
  field: string,
  write: (w: ByteWriter, item: T, field: string) => void,
  refused: SnapshotInvalidError[],
  repair: ((item: T, field: string, refused: SnapshotInvalidError[]) => T) | undefined,
): boolean {
  if (repair === undefined) return false;
  const dropped: SnapshotInvalidError[] = [];
  entry.reset();
  try {
    write(entry, repair(item, field, dropped), field);
  } catch (err) {
    if (!(err instanceof SnapshotInvalidError)) throw err;
    return false;
  }
  refused.push(...dropped);
  return true;
}

/** A session without the subscriptions, queued messages and QoS 2 ids the format cannot carry. */
function withoutBadParts(s: StoredSession, field: string, refused: SnapshotInvalidError[]): StoredSession {
  if (s === null || typeof s !== 'object') return s;
  const probe = new ByteWriter(256);
  const keep = <T>(items: T[], name: string, write: (w: ByteWriter, item: T, field: string) => void): T[] => {
    if (!Array.isArray(items)) return items;
    return items.filter((item, i) => {
      probe.reset();
      try {
        write(probe, item, `${field}.${name}[${i}]`);
        return true;
      } catch (err) {
        if (!(err instanceof SnapshotInvalidError)) throw err;
        refused.push(err);
        return false;
      }
    });
  };
  return {
    ...s,
    subscriptions: keep(s.subscriptions, 'subscriptions', writeSubscription),
    queue: keep(s.queue, 'queue', writeQueuedMessage),
    incomingQos2Ids: keep(s.incomingQos2Ids, 'incomingQos2Ids', (w, id: number, f) => w.u16(integer(id, 1, 0xffff, f))),
  };
}

/**
 * The distinct messages of the sessions' queues, each once, in order of first delivery. A
 * fan-out queues one Message to many sessions; the snapshot's deliveries of it share its
 * payload Buffer and properties, which is what identifies it here.
 */
class MessageTable {
  readonly messages: StoredMessage[] = [];
  private readonly byPayload = new Map<Buffer, number[]>();

  /** The index of `m`'s message, or -1 when the table does not have it yet. */
  find(m: StoredQueuedMessage): number {
    const candidates = this.byPayload.get(m.payload);
    if (candidates !== undefined) {
      for (const i of candidates) {
        const t = this.messages[i]!;
        if (t.topic === m.topic && t.properties === m.properties && t.expiresAt === m.expiresAt) return i;
      }
    }
    return -1;
  }

  /** Adds `m`'s message (find() said it is new); its index. */
  add(m: StoredQueuedMessage): number {
    const index = this.messages.length;
    this.messages.push({ topic: m.topic, payload: m.payload, qos: 0, retain: false, properties: m.properties, expiresAt: m.expiresAt });
    const candidates = this.byPayload.get(m.payload);
    if (candidates !== undefined) candidates.push(index);
    else this.byPayload.set(m.payload, [index]);
    return index;
  }

  /** Forgets the entries added since `length` (a session that failed to encode). */
  truncate(length: number): void {
    while (this.messages.length > length) {
      const m = this.messages.pop()!;
      const candidates = this.byPayload.get(m.payload)!;
      candidates.pop();
      if (candidates.length === 0) this.byPayload.delete(m.payload);
    }
  }
}

/** A session whose queue refers to the message table (version 3). */
function writeTableSession(w: ByteWriter, s: StoredSession, field: string, table: MessageTable): void {
  const tableLength = table.messages.length;
  try {
    writeSessionWith(w, s, field, (q, m, f) => {
      let index = table.find(m);
      if (index < 0) {
        // A new message is checked whole before it enters the table (the table is written
        // as it stands); one already in it was checked when it entered.
        probe.reset();
        writeMessage(probe, m, f);
        index = table.add(m);
      }
      q.varuint(index);
      writeDeliveryState(q, m, f);
    });
  } catch (err) {
    table.truncate(tableLength);
    throw err;
  }
}

const probe = new ByteWriter(256);

function integerOr(value: number | undefined, fallback: number): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : fallback;
}

function invalid(field: string, expected: string): never {
  throw new SnapshotInvalidError(field, expected);
}

// The checks take the field's name in two parts, joined only for an error: a save (and the
// journal, once per message) must not build a string per field.

function list(value: unknown, field: string, part = ''): void {
  if (!Array.isArray(value)) invalid(field + part, 'an array');
}

function integer(value: unknown, min: number, max: number, field: string, part = ''): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    invalid(field + part, `an integer ${min}..${max}`);
  }
  return value;
}

function qos(value: unknown, field: string, part = ''): number {
  return integer(value, 0, 2, field, part);
}

function boolean(value: unknown, field: string, part = ''): boolean {
  if (typeof value !== 'boolean') invalid(field + part, 'true or false');
  return value;
}

function text(value: unknown, field: string, part = ''): string {
  if (typeof value !== 'string') invalid(field + part, 'a string');
  return value;
}

function binary(value: unknown, field: string, part = ''): Buffer {
  if (!Buffer.isBuffer(value)) invalid(field + part, 'a Buffer');
  return value;
}

export function writeMessage(w: ByteWriter, m: StoredMessage, field: string): void {
  if (m === null || typeof m !== 'object') invalid(field, 'a message');
  let flags = qos(m.qos, field, '.qos');
  if (boolean(m.retain, field, '.retain')) flags |= MSG_RETAIN;
  if (m.properties !== undefined) flags |= MSG_HAS_PROPERTIES;
  if (m.expiresAt !== undefined) flags |= MSG_HAS_EXPIRES_AT;
  w.u8(flags);
  w.string(text(m.topic, field, '.topic'));
  w.bytes(binary(m.payload, field, '.payload'));
  if (m.properties !== undefined) writeProperties(w, m.properties, `${field}.properties`);
  if (m.expiresAt !== undefined) {
    w.varuint(integer(m.expiresAt, 0, Number.MAX_SAFE_INTEGER, field, '.expiresAt'));
  }
}

function writeProperties(w: ByteWriter, p: StoredMessageProperties, field: string): void {
  let flags = 0;
  if (p.payloadFormatIndicator !== undefined) {
    flags |= PROP_HAS_PAYLOAD_FORMAT;
    if (boolean(p.payloadFormatIndicator, field, '.payloadFormatIndicator')) flags |= PROP_PAYLOAD_FORMAT_UTF8;
  }
  if (p.contentType !== undefined) flags |= PROP_CONTENT_TYPE;
  if (p.responseTopic !== undefined) flags |= PROP_RESPONSE_TOPIC;
  if (p.correlationData !== undefined) flags |= PROP_CORRELATION_DATA;
  if (p.userProperties !== undefined) flags |= PROP_USER_PROPERTIES;
  w.u8(flags);
  if (p.contentType !== undefined) w.string(text(p.contentType, field, '.contentType'));
  if (p.responseTopic !== undefined) w.string(text(p.responseTopic, field, '.responseTopic'));
  if (p.correlationData !== undefined) w.bytes(binary(p.correlationData, field, '.correlationData'));
  if (p.userProperties !== undefined) {
    list(p.userProperties, field, '.userProperties');
    w.varuint(p.userProperties.length);
    p.userProperties.forEach((u, i) => {
      w.string(text(u.key, `${field}.userProperties[${i}].key`));
      w.string(text(u.value, `${field}.userProperties[${i}].value`));
    });
  }
}

function writeQueuedMessage(w: ByteWriter, m: StoredQueuedMessage, field: string): void {
  writeMessage(w, m, field);
  writeQueueState(w, m, field);
}

/** A version 3 delivery after its table index: its QoS and retain flag, then its queue state. */
function writeDeliveryState(w: ByteWriter, m: StoredQueuedMessage, field: string): void {
  let flags = qos(m.qos, field, '.qos');
  if (boolean(m.retain, field, '.retain')) flags |= MSG_RETAIN;
  w.u8(flags);
  writeQueueState(w, m, field);
}

function writeQueueState(w: ByteWriter, m: StoredQueuedMessage, field: string): void {
  let flags = 0;
  if (m.packetId !== undefined) flags |= QUEUED_HAS_PACKET_ID;
  if (m.released !== undefined) {
    flags |= QUEUED_HAS_RELEASED;
    if (boolean(m.released, field, '.released')) flags |= QUEUED_RELEASED;
  }
  if (m.subscriptionIds !== undefined) flags |= QUEUED_HAS_SUBSCRIPTION_IDS;
  w.u8(flags);
  if (m.packetId !== undefined) w.u16(integer(m.packetId, 1, 0xffff, field, '.packetId'));
  if (m.subscriptionIds !== undefined) {
    list(m.subscriptionIds, field, '.subscriptionIds');
    w.varuint(m.subscriptionIds.length);
    m.subscriptionIds.forEach((id, i) => w.varuint(integer(id, 1, MAX_SUBSCRIPTION_ID, `${field}.subscriptionIds[${i}]`)));
  }
}

function writeSubscription(w: ByteWriter, s: StoredSubscription, field: string): void {
  let flags = qos(s.qos, field, '.qos');
  if (boolean(s.noLocal, field, '.noLocal')) flags |= SUB_NO_LOCAL;
  if (boolean(s.retainAsPublished, field, '.retainAsPublished')) flags |= SUB_RETAIN_AS_PUBLISHED;
  flags |= integer(s.retainHandling, 0, 2, field, '.retainHandling') << SUB_RETAIN_HANDLING_SHIFT;
  if (s.subscriptionId !== undefined) flags |= SUB_HAS_ID;
  w.u8(flags);
  w.string(text(s.filter, field, '.filter'));
  if (s.subscriptionId !== undefined) {
    w.varuint(integer(s.subscriptionId, 1, MAX_SUBSCRIPTION_ID, field, '.subscriptionId'));
  }
}

export function writeWill(w: ByteWriter, will: StoredWill, field: string): void {
  if (will === null || typeof will !== 'object') invalid(field, 'a will');
  w.u8(will.username !== undefined ? WILL_HAS_USERNAME : 0);
  w.string(text(will.clientId, field, '.clientId'));
  if (will.username !== undefined) w.string(text(will.username, field, '.username'));
  w.varuint(integer(will.publishAt, 0, Number.MAX_SAFE_INTEGER, field, '.publishAt'));
  writeMessage(w, will.message, `${field}.message`);
}

function writeBridgeQueue(w: ByteWriter, b: StoredBridgeQueue, field: string): void {
  if (b === null || typeof b !== 'object') invalid(field, 'a bridge queue');
  w.string(text(b.name, field, '.name'));
  list(b.queue, field, '.queue');
  w.varuint(b.queue.length);
  b.queue.forEach((m, i) => writeQueuedMessage(w, m, `${field}.queue[${i}]`));
  const incoming = b.incoming ?? [];
  list(incoming, field, '.incoming');
  w.varuint(incoming.length);
  incoming.forEach((m, i) => writeQueuedMessage(w, m, `${field}.incoming[${i}]`));
}

/** A session with its queued messages whole, as the journal and version 2 keep them. */
export function writeSession(w: ByteWriter, s: StoredSession, field: string): void {
  writeSessionWith(w, s, field, writeQueuedMessage);
}

function writeSessionWith(
  w: ByteWriter,
  s: StoredSession,
  field: string,
  writeQueued: (w: ByteWriter, m: StoredQueuedMessage, field: string) => void,
): void {
  if (s === null || typeof s !== 'object') invalid(field, 'a session');
  w.u8(s.username !== undefined ? SESSION_HAS_USERNAME : 0);
  w.string(text(s.clientId, field, '.clientId'));
  if (s.username !== undefined) w.string(text(s.username, field, '.username'));
  const version = integer(s.protocolVersion, 3, 5, field, '.protocolVersion');
  w.u8(version);
  w.varuint(integer(s.expiryInterval, 0, MAX_U32, field, '.expiryInterval'));
  w.varuint(integer(s.disconnectedAt, 0, Number.MAX_SAFE_INTEGER, field, '.disconnectedAt'));
  list(s.subscriptions, field, '.subscriptions');
  w.varuint(s.subscriptions.length);
  s.subscriptions.forEach((sub, i) => writeSubscription(w, sub, `${field}.subscriptions[${i}]`));
  list(s.queue, field, '.queue');
  w.varuint(s.queue.length);
  s.queue.forEach((m, i) => writeQueued(w, m, `${field}.queue[${i}]`));
  list(s.incomingQos2Ids, `${field}.incomingQos2Ids`);
  w.varuint(s.incomingQos2Ids.length);
  s.incomingQos2Ids.forEach((id, i) => w.u16(integer(id, 1, 0xffff, `${field}.incomingQos2Ids[${i}]`)));
}

// ---------------------------------------------------------------------------------- decode

/** What could be read from a store file, and what could not. */
export interface DecodedStore {
  snapshot: StoreSnapshot;
  /** Empty for a sound file. Otherwise the first problem says why the file is not sound. */
  problems: StoreCorruptError[];
}

/**
 * Decodes a store file, keeping every entry that decodes: a damaged entry (a flipped bit, a
 * torn end) costs that entry, not the store. Only an unknown header (another format, a newer
 * version, an empty file) yields nothing. A file with problems should be kept aside as evidence.
 */
export function decodeStore(file: Buffer): DecodedStore {
  const problems: StoreCorruptError[] = [];
  const snapshot = emptySnapshot();
  let version: number;
  try {
    version = checkHeader(file, problems);
  } catch (err) {
    if (!(err instanceof StoreCorruptError)) throw err;
    return { snapshot, problems: [err] };
  }
  const r = new ByteReader(file, STORE_HEADER_SIZE, file.length);
  try {
    if (version === 1) {
      readUnframed(r, snapshot);
    } else {
      const generation = r.varuint('journal generation');
      if (generation !== 0) snapshot.journalGeneration = generation;
      readSection(r, 'retained', readMessage, snapshot.retained, problems);
      if (version === 2) {
        readSection(r, 'sessions', readSession, snapshot.sessions, problems);
      } else {
        const table = new MessageTableReader(problems);
        readSection(r, 'messages', (e, f) => table.read(e, f), table.messages, problems, null);
        readSection(r, 'sessions', (e, f) => readSessionWith(e, f, (q, qf) => table.delivery(q, qf)), snapshot.sessions, problems);
        table.checkAllReferred(r);
      }
      const wills: StoredWill[] = [];
      readSection(r, 'wills', readWill, wills, problems);
      if (wills.length > 0) snapshot.wills = wills;
      const bridges: StoredBridgeQueue[] = [];
      readSection(r, 'bridges', readBridgeQueue, bridges, problems);
      if (bridges.length > 0) snapshot.bridges = bridges;
    }
    if (r.remaining !== 0) r.fail(`end of store, found ${r.remaining} more bytes`);
  } catch (err) {
    if (!(err instanceof StoreCorruptError)) throw err;
    problems.push(err);
  }
  return { snapshot, problems };
}

/** Decodes a whole store file. Throws StoreCorruptError on anything malformed. */
export function decodeSnapshot(file: Buffer): StoreSnapshot {
  const { snapshot, problems } = decodeStore(file);
  if (problems.length > 0) throw problems[0];
  return snapshot;
}

/** Version 1: no framing, so the first bad byte ends the reading. */
function readUnframed(r: ByteReader, snapshot: StoreSnapshot): void {
  const retainedCount = r.count('retained message count');
  for (let i = 0; i < retainedCount; i++) snapshot.retained.push(readMessage(r, `retained[${i}]`));
  const sessionCount = r.count('session count');
  for (let i = 0; i < sessionCount; i++) snapshot.sessions.push(readSession(r, `sessions[${i}]`));
}

/** `count, (length, entry) × count`: a bad entry is skipped by its length, the others are kept. */
function readSection<T>(
  r: ByteReader,
  field: string,
  read: (r: ByteReader, field: string) => T,
  into: T[],
  problems: StoreCorruptError[],
  /** Keeps a damaged entry's place (the message table: deliveries refer to entries by index). */
  damaged?: T,
): void {
  const n = r.count(`${field} count`);
  for (let i = 0; i < n; i++) {
    const length = r.count(`length of ${field}[${i}]`);
    const entry = r.sub(length);
    try {
      const item = read(entry, `${field}[${i}]`);
      if (entry.remaining !== 0) entry.fail(`end of ${field}[${i}], found ${entry.remaining} more bytes`);
      into.push(item);
    } catch (err) {
      if (!(err instanceof StoreCorruptError)) throw err;
      problems.push(err);
      if (damaged !== undefined) into.push(damaged);
    }
  }
}

/** Checks the header; returns the format version. A wrong length or CRC is noted, not fatal. */
function checkHeader(file: Buffer, problems: StoreCorruptError[]): number {
  if (file.length >= MOSQUITTO_DB_MAGIC.length && file.subarray(0, MOSQUITTO_DB_MAGIC.length).equals(MOSQUITTO_DB_MAGIC)) {
    throw new StoreCorruptError(0, 'an mqttd store, found a mosquitto.db (mosquitto\'s own format is not read)');
  }
  if (file.length === 0) throw new StoreCorruptError(0, 'an mqttd store, found an empty file');
  if (file.length < STORE_HEADER_SIZE) {
    throw new StoreCorruptError(file.length, `a ${STORE_HEADER_SIZE}-byte header, file has ${file.length} bytes`);
  }
  if (!file.subarray(0, STORE_MAGIC.length).equals(STORE_MAGIC)) {
    throw new StoreCorruptError(0, 'the mqttd store magic "mqttd\\0"');
  }
  const version = file[STORE_MAGIC.length]!;
  if (version < OLDEST_READABLE_VERSION || version > STORE_FORMAT_VERSION) {
    throw new StoreCorruptError(
      STORE_MAGIC.length,
      `format version ${OLDEST_READABLE_VERSION} to ${STORE_FORMAT_VERSION}, found ${version}${version > STORE_FORMAT_VERSION ? ' (written by a newer mqttd)' : ''}`,
    );
  }
  const bodyLength = file.readUInt32BE(STORE_MAGIC.length + 1);
  if (bodyLength !== file.length - STORE_HEADER_SIZE) {
    problems.push(new StoreCorruptError(
      STORE_MAGIC.length + 1,
      `body length ${file.length - STORE_HEADER_SIZE} (the file's size), found ${bodyLength}: truncated or extended`,
    ));
    return version;
  }
  const stored = file.readUInt32BE(STORE_MAGIC.length + 5);
  const actual = crc32(file, STORE_HEADER_SIZE);
  if (stored !== actual) {
    problems.push(new StoreCorruptError(STORE_MAGIC.length + 5, `CRC-32 ${hex(actual)} of the body, found ${hex(stored)}`));
  }
  return version;
}

function hex(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}

function flagsByte(r: ByteReader, known: number, what: string): number {
  const at = r.position;
  const flags = r.u8(what);
  if ((flags & ~known) !== 0) r.fail(`${what}: no bits outside ${hex(known)}, found ${hex(flags)}`, at);
  return flags;
}

function readQos(value: number, at: number, r: ByteReader, what: string): 0 | 1 | 2 {
  if (value !== 0 && value !== 1 && value !== 2) r.fail(`${what}: QoS 0, 1 or 2, found ${value}`, at);
  return value as 0 | 1 | 2;
}

export function readMessage(r: ByteReader, field: string): StoredMessage {
  const at = r.position;
  const flags = flagsByte(r, MSG_KNOWN, `${field} flags`);
  const qos = readQos(flags & MSG_QOS_MASK, at, r, `${field} flags`);
  const topic = r.string(`${field}.topic`);
  const message: StoredMessage = { topic, payload: r.bytes(`${field}.payload`), qos, retain: (flags & MSG_RETAIN) !== 0 };
  if (flags & MSG_HAS_PROPERTIES) message.properties = readProperties(r, `${field}.properties`);
  if (flags & MSG_HAS_EXPIRES_AT) message.expiresAt = r.varuint(`${field}.expiresAt`);
  return message;
}

function readProperties(r: ByteReader, field: string): StoredMessageProperties {
  const at = r.position;
  const flags = flagsByte(r, PROP_KNOWN, `${field} flags`);
  if ((flags & PROP_HAS_PAYLOAD_FORMAT) === 0 && (flags & PROP_PAYLOAD_FORMAT_UTF8) !== 0) {
    r.fail(`${field} flags: no payload format value without its presence bit`, at);
  }
  const p: StoredMessageProperties = {};
  if (flags & PROP_HAS_PAYLOAD_FORMAT) p.payloadFormatIndicator = (flags & PROP_PAYLOAD_FORMAT_UTF8) !== 0;
  if (flags & PROP_CONTENT_TYPE) p.contentType = r.string(`${field}.contentType`);
  if (flags & PROP_RESPONSE_TOPIC) p.responseTopic = r.string(`${field}.responseTopic`);
  if (flags & PROP_CORRELATION_DATA) p.correlationData = r.bytes(`${field}.correlationData`);
  if (flags & PROP_USER_PROPERTIES) {
    const n = r.count(`${field}.userProperties count`);
    const userProperties: StoredUserProperty[] = [];
    for (let i = 0; i < n; i++) {
      const key = r.string(`${field}.userProperties[${i}].key`);
      userProperties.push({ key, value: r.string(`${field}.userProperties[${i}].value`) });
    }
    p.userProperties = userProperties;
  }
  return p;
}

function readQueuedMessage(r: ByteReader, field: string): StoredQueuedMessage {
  const m: StoredQueuedMessage = readMessage(r, field);
  readQueueState(r, m, field);
  return m;
}

function readQueueState(r: ByteReader, m: StoredQueuedMessage, field: string): void {
  const at = r.position;
  const flags = flagsByte(r, QUEUED_KNOWN, `${field} queue flags`);
  if ((flags & QUEUED_HAS_RELEASED) === 0 && (flags & QUEUED_RELEASED) !== 0) {
    r.fail(`${field} queue flags: no released value without its presence bit`, at);
  }
  if (flags & QUEUED_HAS_PACKET_ID) m.packetId = readPacketId(r, `${field}.packetId`);
  if (flags & QUEUED_HAS_RELEASED) m.released = (flags & QUEUED_RELEASED) !== 0;
  if (flags & QUEUED_HAS_SUBSCRIPTION_IDS) m.subscriptionIds = readSubscriptionIds(r, field);
}

/** A packet id: never 0 [MQTT-2.2.1-3]. */
export function readPacketId(r: ByteReader, what: string): number {
  const at = r.position;
  const id = r.u16(what);
  if (id === 0) r.fail(`${what}: 1..65535, found 0`, at);
  return id;
}

function readSubscriptionIds(r: ByteReader, field: string): number[] {
  return readList(r, field, 'subscriptionIds', readSubscriptionId);
}

/** `count, item × count` inside one entry: the field's `name` list. */
function readList<T>(r: ByteReader, field: string, name: string, read: (r: ByteReader, field: string) => T): T[] {
  const n = r.count(`${field}.${name} count`);
  const items: T[] = [];
  for (let i = 0; i < n; i++) items.push(read(r, `${field}.${name}[${i}]`));
  return items;
}

export function readSubscriptionId(r: ByteReader, what: string): number {
  const at = r.position;
  const id = r.varuint(what, MAX_SUBSCRIPTION_ID);
  if (id === 0) r.fail(`${what}: 1..${MAX_SUBSCRIPTION_ID}, found 0`, at);
  return id;
}

function readSubscription(r: ByteReader, field: string): StoredSubscription {
  const at = r.position;
  const flags = flagsByte(r, SUB_KNOWN, `${field} flags`);
  const retainHandling = (flags >> SUB_RETAIN_HANDLING_SHIFT) & 0x03;
  if (retainHandling === 3) r.fail(`${field} flags: Retain Handling 0, 1 or 2, found 3`, at);
  const qos = readQos(flags & SUB_QOS_MASK, at, r, `${field} flags`);
  const s: StoredSubscription = {
    filter: r.string(`${field}.filter`),
    qos,
    noLocal: (flags & SUB_NO_LOCAL) !== 0,
    retainAsPublished: (flags & SUB_RETAIN_AS_PUBLISHED) !== 0,
    retainHandling: retainHandling as 0 | 1 | 2,
  };
  if (flags & SUB_HAS_ID) s.subscriptionId = readSubscriptionId(r, `${field}.subscriptionId`);
  return s;
}

export function readWill(r: ByteReader, field: string): StoredWill {
  const flags = flagsByte(r, WILL_KNOWN, `${field} flags`);
  const clientId = r.string(`${field}.clientId`);
  const username = flags & WILL_HAS_USERNAME ? r.string(`${field}.username`) : undefined;
  const publishAt = r.varuint(`${field}.publishAt`);
  const will: StoredWill = { clientId, message: readMessage(r, `${field}.message`), publishAt };
  if (username !== undefined) will.username = username;
  return will;
}

function readBridgeQueue(r: ByteReader, field: string): StoredBridgeQueue {
  const name = r.string(`${field}.name`);
  const queue = readList(r, field, 'queue', readQueuedMessage);
  const incoming = readList(r, field, 'incoming', readQueuedMessage);
  return incoming.length > 0 ? { name, queue, incoming } : { name, queue };
}

/**
 * The message table of a version 3 store. Deliveries of one entry share its payload Buffer
 * and properties, so that the broker restores one Message for them all. The first delivery
 * of each entry comes in table order and every entry has one: one encoding per snapshot.
 */
class MessageTableReader {
  /** null: an entry that could not be read (its deliveries are dropped, the sessions kept). */
  readonly messages: (StoredMessage | null)[] = [];
  private seen: Uint8Array | undefined;
  private distinct = 0;
  private disordered = false;

  constructor(private readonly problems: StoreCorruptError[]) {}

  read(r: ByteReader, field: string): StoredMessage | null {
    const at = r.position;
    const m = readMessage(r, field);
    if (m.qos !== 0 || m.retain) r.fail(`${field} flags: no QoS or retain bits in a table entry`, at);
    return m;
  }

  /** A delivery, or null when its table entry was damaged (that was noted by readSection). */
  delivery(r: ByteReader, field: string): StoredQueuedMessage | null {
    const at = r.position;
    const index = r.varuint(`${field} message index`);
    if (index >= this.messages.length) r.fail(`${field} message index: below ${this.messages.length}, found ${index}`, at);
    this.noteReference(index, at);
    const flagsAt = r.position;
    const flags = flagsByte(r, MSG_QOS_MASK | MSG_RETAIN, `${field} delivery flags`);
    const q = readQos(flags & MSG_QOS_MASK, flagsAt, r, `${field} delivery flags`);
    const base = this.messages[index];
    const d: StoredQueuedMessage = base ? { ...base, qos: q, retain: (flags & MSG_RETAIN) !== 0 } : { topic: '', payload: EMPTY, qos: q, retain: false };
    readQueueState(r, d, field);
    return base ? d : null;
  }

  /** Every entry has a delivery (else the file was altered): noted, the rest is kept. */
  checkAllReferred(r: ByteReader): void {
    if (this.distinct < this.messages.length) {
      this.problems.push(new StoreCorruptError(r.position, `a delivery of each of the ${this.messages.length} message table entries, found deliveries of ${this.distinct}`));
    }
  }

  // Entries come in order of first delivery, so a snapshot has one encoding. A file out of
  // that order is noted as damaged but its deliveries are kept.
  private noteReference(index: number, at: number): void {
    this.seen ??= new Uint8Array(this.messages.length);
    if (this.seen[index] === 1) return;
    this.seen[index] = 1;
    if (index !== this.distinct && !this.disordered) {
      this.disordered = true;
      this.problems.push(new StoreCorruptError(at, `message index ${this.distinct} (the next new entry), found ${index}`));
    }
    this.distinct++;
  }
}

const EMPTY = Buffer.alloc(0);

export function readSession(r: ByteReader, field: string): StoredSession {
  return readSessionWith(r, field, readQueuedMessage);
}

function readSessionWith(
  r: ByteReader,
  field: string,
  readQueued: (r: ByteReader, field: string) => StoredQueuedMessage | null,
): StoredSession {
  const flags = flagsByte(r, SESSION_KNOWN, `${field} flags`);
  const clientId = r.string(`${field}.clientId`);
  const username = flags & SESSION_HAS_USERNAME ? r.string(`${field}.username`) : undefined;
  const versionAt = r.position;
  const protocolVersion = r.u8(`${field}.protocolVersion`);
  if (protocolVersion !== 3 && protocolVersion !== 4 && protocolVersion !== 5) {
    r.fail(`${field}.protocolVersion: 3, 4 or 5, found ${protocolVersion}`, versionAt);
  }
  const expiryInterval = r.varuint(`${field}.expiryInterval`, MAX_U32);
  const disconnectedAt = r.varuint(`${field}.disconnectedAt`);
  const subscriptions = readList(r, field, 'subscriptions', readSubscription);
  const queue: StoredQueuedMessage[] = [];
  const queueCount = r.count(`${field}.queue count`);
  for (let i = 0; i < queueCount; i++) {
    const m = readQueued(r, `${field}.queue[${i}]`);
    if (m !== null) queue.push(m);
  }
  const incomingQos2Ids: number[] = [];
  const idCount = r.count(`${field}.incomingQos2Ids count`);
  for (let i = 0; i < idCount; i++) incomingQos2Ids.push(readPacketId(r, `${field}.incomingQos2Ids[${i}]`));
  const session: StoredSession = {
    clientId,
    protocolVersion: protocolVersion as 3 | 4 | 5,
    expiryInterval,
    disconnectedAt,
    subscriptions,
    queue,
    incomingQos2Ids,
  };
  if (username !== undefined) session.username = username;
  return session;
}

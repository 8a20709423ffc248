/**
 * The write-ahead journal in RAM-backed storage (`persistence_journal`, /var/run/mqttd/ on
 * OpenWrt: tmpfs, which survives a crash and procd's respawn but not a power cut).
 *
 * The broker tells it every change the store keeps (ChangeLog); it encodes each as a record
 * and, before any acknowledgement leaves (Broker.commitChanges) or at the end of the turn,
 * appends the turn's records with one write(2). Once write(2) has returned, the bytes are in
 * the kernel's page cache: a process crash or kill -9 cannot lose them, so no fsync is needed
 * (it would not help tmpfs anyway).
 *
 * Files: `<store file>-<crc of store path>.journal-<generation>`. The flash store names the
 * first generation it does not contain; at start-up the generations from there on are replayed
 * onto it. A flash save rotates to a new generation first and deletes the older files once the
 * save is on flash. When the files grow past a limit, a checkpoint of the whole state (in RAM,
 * not on flash) replaces them, so the journal stays bounded: generation g+1 is set aside for
 * it and live records go on in g+2 while the state is encoded in steps between event-loop
 * turns (the whole state at once would pause every client); once g+1 is complete the files
 * before it go. A crash before then leaves g and g+2, which replay to the same state.
 */
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { BridgeLog } from '../bridge/Bridge';
import type { OutgoingMessage } from '../bridge/OutgoingQueue';
import type { ChangeLog } from '../broker/ChangeLog';
import type { Message } from '../broker/Message';
import type { Delivery, Session } from '../broker/Session';
import { storedSession, toStored } from '../broker/storedForms';
import type { Will } from '../broker/Will';
import type { Logger } from '../log/Logger';
import { ByteWriter } from './ByteWriter';
import { crc32, crc32After } from './Crc32';
import {
  DELIVERY_HAS_SUBSCRIPTION_ID,
  DELIVERY_RETAIN,
  journalHeader,
  readJournalFile,
  RECORD_HEADER_SIZE,
  RecordType,
} from './JournalFormat';
import { JournalReplay } from './JournalReplay';
import { encodeStoreInSteps, type EncodedStoreChunks, writeMessage, writeSession, writeWill } from './SnapshotCodec';
import { SnapshotInvalidError } from './SnapshotInvalidError';
import { StoreCorruptError } from './StoreCorruptError';
import type { StoreSnapshot } from './StoreSnapshot';

export interface JournalOptions {
  /** Directory for the journal files (created, mode 0700, if missing). */
  directory: string;
  /** The flash store the journal belongs to: names its files. */
  storePath: string;
  log: Logger;
  /** The broker's state now, for checkpoints. */
  snapshot: () => StoreSnapshot;
  /** Records past this size (checkpoint included) and past the last checkpoint's size start a new checkpoint. */
  checkpointBytes?: number;
}

/** A checkpoint being encoded: its generation, its encoder, and the turn it waits for. */
interface CheckpointRun {
  generation: number;
  steps: Generator<void, EncodedStoreChunks, void>;
  next: NodeJS.Immediate | undefined;
  /** While written: the open partial file, closed and removed by whoever ends the run. */
  fd: number | undefined;
  partial: string | undefined;
  done: Array<() => void>;
}

/** A checkpoint is written under this suffix and renamed into place once complete. */
const PARTIAL_SUFFIX = '.partial';
/** The checkpoint's bytes are written this much per turn. */
const CHECKPOINT_WRITE_BYTES = 1024 * 1024;

const DEFAULT_CHECKPOINT_BYTES = 4 * 1024 * 1024;
/** The per-turn batch starts this big and is let go of after a turn that grew it past PENDING_KEEP_BYTES. */
const PENDING_INITIAL_BYTES = 16 * 1024;
const PENDING_KEEP_BYTES = 256 * 1024;

export class Journal implements ChangeLog {
  readonly directory: string;
  private readonly prefix: string;
  private readonly pathCrc: number;
  private readonly log: Logger;
  private readonly snapshotNow: () => StoreSnapshot;
  private readonly checkpointBytes: number;
  /** Generations on disk, oldest first (the current one last). */
  private readonly generations: number[] = [];
  private fd: number | undefined;
  private generation = 0;
  private fileBytes = 0;
  private lastCheckpoint = 0;
  /** This turn's records, written by commit(). */
  private readonly pending = new ByteWriter(PENDING_INITIAL_BYTES);
  private commitScheduled = false;
  /** Records appended since the last rotation: a flash save has something to compact. */
  private recordsSinceRotation = 0;
  /** Messages already defined in the current file, by object (a fan-out writes one copy). */
  private messageIds = new WeakMap<Message, number>();
  private nextMessageId = 1;
  private failed = false;
  private checkpointRun: CheckpointRun | undefined;

  constructor(options: JournalOptions) {
    this.directory = options.directory;
    const store = resolve(options.storePath);
    this.pathCrc = crc32(Buffer.from(store, 'utf8'));
    this.prefix = `${basename(store)}-${this.pathCrc.toString(16).padStart(8, '0')}.journal-`;
    this.log = options.log;
    this.snapshotNow = options.snapshot;
    this.checkpointBytes = options.checkpointBytes ?? DEFAULT_CHECKPOINT_BYTES;
  }

  /** Path of a generation's file. */
  fileOf(generation: number): string {
    return join(this.directory, this.prefix + generation);
  }

  /** Whether anything was journaled since the last rotation. */
  get hasRecords(): boolean {
    return this.recordsSinceRotation > 0;
  }

  /** Whether the journal is running (a file is open: fail() and a file that cannot be made close it). */
  get active(): boolean {
    return this.fd !== undefined;
  }

  /**
   * At start-up, before open(): the flash store's state plus every journaled change after it.
   * A torn last record (a crash during an append) is logged and left out; the rest is kept.
   */
  recover(base: StoreSnapshot): StoreSnapshot {
    const from = base.journalGeneration ?? 0;
    let found: number[];
    try {
      found = this.listGenerations();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.error(`Journal ${this.directory}: cannot be listed (${messageOf(err)}).`);
      return base;
    }
    const replay = new JournalReplay(base);
    let files = 0;
    for (const generation of found) {
      this.generations.push(generation);
      if (generation < from) continue; // already in the flash store; deleted at the next save
      const path = this.fileOf(generation);
      let bytes: Buffer;
      try {
        bytes = readFileSync(path);
      } catch (err) {
        this.log.error(`Journal ${path}: cannot be read (${messageOf(err)}); its changes are not restored.`);
        continue;
      }
      let contents;
      try {
        contents = readJournalFile(bytes, generation, this.pathCrc);
      } catch (err) {
        if (!(err instanceof StoreCorruptError)) throw err;
        this.log.error(`Journal ${path} is not a journal of this store (${err.message}); ignored, left in place.`);
        continue;
      }
      files++;
      replay.startFile();
      let skipped = 0;
      for (const record of contents.records) {
        try {
          replay.apply(record);
        } catch (err) {
          if (!(err instanceof StoreCorruptError)) throw err;
          skipped++;
          this.log.error(`Journal ${path}: record at byte ${record.position} not replayed (${err.message}).`);
        }
      }
      if (contents.tornAt !== undefined) {
        this.log.warning(
          `Journal ${path}: ends in a torn record (${contents.tornAt.message}), the remains of a crash during an append; ` +
            `${contents.records.length - skipped} records before it replayed, the torn one was never acknowledged.`,
        );
      }
    }
    // Nothing after the store (the empty file a save leaves): its state as it is, not a copy.
    if (replay.applied === 0) return base;
    this.log.notice(`Replayed ${replay.applied} journaled changes from ${files} file(s) in ${this.directory}.`);
    const snapshot = replay.snapshot();
    if (base.journalGeneration !== undefined) snapshot.journalGeneration = base.journalGeneration;
    return snapshot;
  }

  /** Starts a new generation after every one on disk (and at least `from`). False: no journal. */
  open(from: number): boolean {
    try {
      mkdirSync(this.directory, { recursive: true, mode: 0o700 });
    } catch (err) {
      this.log.error(`Journal directory ${this.directory} cannot be created (${messageOf(err)}): running without a journal.`);
      return false;
    }
    this.removePartials();
    const last = this.generations.length > 0 ? this.generations[this.generations.length - 1]! : -1;
    return this.startGeneration(Math.max(last + 1, from));
  }

  /** Whether a checkpoint is being encoded or written. */
  get checkpointing(): boolean {
    return this.checkpointRun !== undefined;
  }

  /** Resolves once no checkpoint runs (at once when none does). */
  checkpointSettled(): Promise<void> {
    const run = this.checkpointRun;
    if (run === undefined) return Promise.resolve();
    return new Promise((resolve) => run.done.push(resolve));
  }

  /**
   * Before a flash save: later changes go to a new generation, the first one the save will
   * not contain. Returns it (the snapshot's journalGeneration).
   */
  rotate(): number {
    // The save about to be taken holds everything a running checkpoint would: it goes, and
    // none starts now (the save's snapshot would be built and encoded twice).
    this.abandonCheckpoint();
    this.flush();
    const next = this.generation + 1;
    this.recordsSinceRotation = 0;
    // startGeneration names the generation even when its file cannot be made.
    this.startGeneration(next);
    return next;
  }

  /** The flash store now holds everything before `generation`: those files go. */
  compacted(generation: number): void {
    while (this.generations.length > 0 && this.generations[0]! < generation) {
      const old = this.generations.shift()!;
      try {
        unlinkSync(this.fileOf(old));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warning(`Journal ${this.fileOf(old)}: cannot be removed (${messageOf(err)}).`);
      }
    }
  }

  /**
   * At stop, after the final save: `removeFiles` when it succeeded (the store holds
   * everything); after a failed one the files stay, for the restart to replay.
   */
  close(removeFiles: boolean): void {
    this.abandonCheckpoint();
    this.flush();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    if (removeFiles) this.compacted(Number.MAX_SAFE_INTEGER);
  }

  // ---- ChangeLog -----------------------------------------------------------------

  retained(message: Message): void {
    this.record(RecordType.Retained, (w) => writeMessage(w, toStored(message), 'retained'));
  }

  session(session: Session): void {
    this.record(RecordType.SessionMeta, (w) => writeSession(w, storedSession(session, Date.now(), false), 'session'));
  }

  sessionWithQueue(session: Session): void {
    this.record(RecordType.Session, (w) => writeSession(w, storedSession(session, Date.now(), true), 'session'));
  }

  sessionEnded(clientId: string): void {
    this.keyRecord(RecordType.SessionEnd, clientId);
  }

  queued(session: Session, delivery: Delivery): void {
    const id = this.messageId(delivery.message);
    if (id !== 0) this.deliveryRecord(RecordType.Queued, session.clientId, 0, undefined, id, delivery.qos, delivery.retain, delivery.subscriptionId);
  }

  sent(session: Session, delivery: Delivery, fromQueue: boolean): void {
    if (fromQueue) {
      this.packetIdRecord(RecordType.SentHead, session.clientId, delivery.packetId);
      return;
    }
    const id = this.messageId(delivery.message);
    if (id === 0) return;
    this.deliveryRecord(RecordType.SentDirect, session.clientId, delivery.packetId, undefined, id, delivery.qos, delivery.retain, delivery.subscriptionId);
  }

  unqueued(session: Session): void {
    this.keyRecord(RecordType.Unqueued, session.clientId);
  }

  released(session: Session, packetId: number): void {
    this.packetIdRecord(RecordType.Released, session.clientId, packetId);
  }

  completed(session: Session, packetId: number): void {
    this.packetIdRecord(RecordType.Completed, session.clientId, packetId);
  }

  incomingQos2(session: Session, packetId: number, pending: boolean): void {
    const start = this.begin(RecordType.IncomingQos2);
    if (start < 0) return;
    this.pending.string(session.clientId);
    this.pending.u16(packetId);
    this.pending.u8(pending ? 1 : 0);
    this.end(start);
  }

  pendingWill(clientId: string, username: string | undefined, will: Will | undefined, publishAt: number): void {
    if (will === undefined) {
      this.record(RecordType.WillGone, (w) => w.string(clientId));
      return;
    }
    const stored = username === undefined
      ? { clientId, message: toStored(will.message), publishAt }
      : { clientId, username, message: toStored(will.message), publishAt };
    this.record(RecordType.Will, (w) => writeWill(w, stored, 'will'));
  }

  /** The log of one bridge's outgoing queue. */
  bridgeLog(name: string): BridgeLog {
    return {
      queued: (entry: OutgoingMessage) => {
        const id = this.messageId(entry.message);
        if (id !== 0) this.deliveryRecord(RecordType.BridgeQueued, name, 0, entry.topic, id, entry.qos, entry.retain, undefined);
      },
      sent: (entry) => this.packetIdRecord(RecordType.BridgeSent, name, entry.packetId),
      released: (entry) => this.packetIdRecord(RecordType.BridgeReleased, name, entry.packetId),
      done: (entry) => this.packetIdRecord(RecordType.BridgeDone, name, entry.packetId),
      forgotten: () => this.keyRecord(RecordType.BridgeForgotten, name),
      held: (packetId, message) => {
        this.record(RecordType.BridgeHeld, (w) => {
          w.string(name);
          w.u16(packetId);
          writeMessage(w, message, 'message');
        });
      },
      heldDone: (packetId) => this.packetIdRecord(RecordType.BridgeHeldDone, name, packetId),
    };
  }

  /**
   * Appends this turn's records with one write(2), then starts a checkpoint if the files
   * have grown enough. A failing journal is logged and switched off.
   */
  commit(): void {
    if (!this.flush()) return;
    // Records since the checkpoint outgrew it (and both together the limit): a new one pays off.
    if (this.fileBytes + this.lastCheckpoint > this.checkpointBytes && this.fileBytes > this.lastCheckpoint && this.checkpointRun === undefined) {
      this.startCheckpoint();
    }
  }

  /** Appends this turn's records with one write(2); false when nothing was written. */
  private flush(): boolean {
    const pending = this.pending;
    if (pending.position === 0 || this.fd === undefined) return false;
    const bytes = pending.view();
    try {
      writeAll(this.fd, bytes);
    } catch (err) {
      this.fail(`cannot be written (${messageOf(err)})`);
      return false;
    } finally {
      // A checkpoint or a turn of big messages grows the batch to megabytes: not kept after.
      pending.resetAndShrink(PENDING_KEEP_BYTES, PENDING_INITIAL_BYTES);
    }
    this.fileBytes += bytes.length;
    return true;
  }

  // ---- Internals -------------------------------------------------------------------

  // The records a PUBLISH and its acknowledgements make (per delivery) are written in place
  // between begin() and end(), without a closure; record() serves the rarer, bigger ones.

  /** Starts a record in this turn's batch: its start, or -1 when no journal runs. */
  private begin(type: RecordType): number {
    if (this.fd === undefined) return -1;
    const w = this.pending;
    const start = w.position;
    w.u32(0);
    w.u32(0);
    w.u8(type);
    return start;
  }

  /** Seals the record begun at `start` (length, CRC) and schedules the turn's commit. */
  private end(start: number): void {
    const w = this.pending;
    const body = start + RECORD_HEADER_SIZE;
    w.patchU32(start, w.position - body);
    w.patchU32(start + 4, crc32(w.view(), body, w.position));
    this.recordsSinceRotation++;
    if (!this.commitScheduled) {
      this.commitScheduled = true;
      process.nextTick(commitLater, this);
    }
  }

  /**
   * Takes back the record begun at `start`: a value the format cannot carry (from the
   * embedding API) is not kept, the other changes are.
   */
  private drop(start: number, err: unknown): false {
    if (!(err instanceof SnapshotInvalidError)) throw err;
    this.pending.truncate(start);
    this.log.error(`Journal: a change was not journaled (${err.message}).`);
    return false;
  }

  /** False when the change could not be journaled. */
  private record(type: RecordType, write: (w: ByteWriter) => void): boolean {
    const start = this.begin(type);
    if (start < 0) return false;
    try {
      write(this.pending);
    } catch (err) {
      return this.drop(start, err);
    }
    this.end(start);
    return true;
  }

  /** A record of a client id or bridge name alone. */
  private keyRecord(type: RecordType, key: string): void {
    const start = this.begin(type);
    if (start < 0) return;
    this.pending.string(key);
    this.end(start);
  }

  /** A record of a client id or bridge name and a packet id. */
  private packetIdRecord(type: RecordType, key: string, packetId: number): void {
    const start = this.begin(type);
    if (start < 0) return;
    this.pending.string(key);
    this.pending.u16(packetId);
    this.end(start);
  }

  /** key, [packet id unless 0], [remote topic], delivery. */
  private deliveryRecord(
    type: RecordType,
    key: string,
    packetId: number,
    topic: string | undefined,
    messageId: number,
    qos: number,
    retain: boolean,
    subscriptionId: number | undefined,
  ): void {
    const start = this.begin(type);
    if (start < 0) return;
    const w = this.pending;
    w.string(key);
    if (packetId !== 0) w.u16(packetId);
    if (topic !== undefined) w.string(topic);
    try {
      writeDelivery(w, messageId, qos, retain, subscriptionId);
    } catch (err) {
      this.drop(start, err);
      return;
    }
    this.end(start);
  }

  /** The end of the turn: what no acknowledgement flushed yet is written now. */
  commitTick(): void {
    this.commitScheduled = false;
    this.commit();
  }

  /** The message's id in this file, defining it first if needed; 0 when it cannot be journaled. */
  private messageId(message: Message): number {
    const known = this.messageIds.get(message);
    if (known !== undefined) return known;
    const id = this.nextMessageId;
    const defined = this.record(RecordType.Message, (w) => {
      w.varuint(id);
      writeMessage(w, toStored(message), 'message');
    });
    if (!defined) return 0;
    this.nextMessageId++;
    this.messageIds.set(message, id);
    return id;
  }

  /** A new file; false (journal off until the next rotation) when it cannot be created. */
  private startGeneration(generation: number): boolean {
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
    }
    this.messageIds = new WeakMap();
    this.nextMessageId = 1;
    this.generation = generation;
    const path = this.fileOf(generation);
    try {
      // 'ax': O_EXCL, never appends to (or through a link at) a file someone else left there.
      const fd = openSync(path, 'ax', 0o600);
      const header = journalHeader(generation, this.pathCrc);
      writeSync(fd, header);
      this.fd = fd;
      this.fileBytes = header.length;
    } catch (err) {
      this.log.error(`Journal ${path} cannot be created (${messageOf(err)}): changes are kept on flash only, at the next save.`);
      this.failed = true;
      return false;
    }
    if (this.failed) this.log.notice(`Journal ${path} opened; journaling again.`);
    this.failed = false;
    this.generations.push(generation);
    return true;
  }

  /**
   * The files got long. The state now is everything in generations up to this one: the next
   * generation is set aside for its checkpoint, live records go on in the one after, and the
   * checkpoint is encoded and written in steps, a turn of the event loop between them.
   */
  private startCheckpoint(): void {
    const generation = this.generation + 1;
    const snapshot = this.snapshotNow();
    if (!this.startGeneration(generation + 1)) return;
    const run: CheckpointRun = { generation, steps: encodeStoreInSteps(snapshot), next: undefined, fd: undefined, partial: undefined, done: [] };
    this.checkpointRun = run;
    run.next = setImmediate(stepCheckpoint, this, run);
  }

  /** One step of the run's encoding; the last one writes the file. */
  checkpointStep(run: CheckpointRun): void {
    run.next = undefined;
    if (this.checkpointRun !== run) return;
    let step: IteratorResult<void, EncodedStoreChunks>;
    try {
      step = run.steps.next();
    } catch (err) {
      this.endCheckpoint(run);
      this.log.error(`Journal: the checkpoint could not be encoded (${messageOf(err)}); the journal files stay as they are.`);
      return;
    }
    if (step.done !== true) {
      run.next = setImmediate(stepCheckpoint, this, run);
      return;
    }
    for (const refused of step.value.refused) this.log.error(`Journal checkpoint: an entry was left out (${refused.message}).`);
    void this.writeCheckpoint(run, step.value);
  }

  /**
   * Writes the checkpoint under a temporary name a megabyte per turn, renames it into place,
   * and removes the generations before it. Skipped when the journal stopped, failed, or a
   * flash save already holds everything the checkpoint would (its generations are gone).
   */
  private async writeCheckpoint(run: CheckpointRun, store: EncodedStoreChunks): Promise<void> {
    const path = this.fileOf(run.generation);
    const partial = path + PARTIAL_SUFFIX;
    try {
      const record = Buffer.allocUnsafe(RECORD_HEADER_SIZE + 1);
      record.writeUInt32BE(store.length + 1, 0);
      record[RECORD_HEADER_SIZE] = RecordType.Checkpoint;
      let crc = crc32(record, RECORD_HEADER_SIZE);
      for (const chunk of store.chunks) crc = crc32After(crc, chunk);
      record.writeUInt32BE(crc, 4);
      run.fd = openSync(partial, 'wx', 0o600);
      run.partial = partial;
      writeAll(run.fd, journalHeader(run.generation, this.pathCrc));
      writeAll(run.fd, record);
      let i = 0;
      while (i < store.chunks.length) {
        await nextTurn();
        // Ended meanwhile (close, a failed journal): endCheckpoint removed the partial file.
        if (this.checkpointRun !== run || !this.active) return;
        let bytes = 0;
        for (; i < store.chunks.length && bytes < CHECKPOINT_WRITE_BYTES; i++) {
          writeAll(run.fd, store.chunks[i]!);
          bytes += store.chunks[i]!.length;
        }
      }
      closeSync(run.fd);
      run.fd = undefined;
      if (!this.active || this.isCompactedPast(run.generation)) return;
      renameSync(partial, path);
      run.partial = undefined;
    } catch (err) {
      this.log.error(`Journal ${path}: the checkpoint cannot be written (${messageOf(err)}); the journal files stay as they are.`);
      return;
    } finally {
      this.endCheckpoint(run);
    }
    this.insertGeneration(run.generation);
    this.lastCheckpoint = store.length;
    this.compacted(run.generation);
  }

  private endCheckpoint(run: CheckpointRun): void {
    if (run.next !== undefined) clearImmediate(run.next);
    run.next = undefined;
    if (run.fd !== undefined) closeSync(run.fd);
    run.fd = undefined;
    if (run.partial !== undefined) removeQuietly(run.partial);
    run.partial = undefined;
    if (this.checkpointRun === run) this.checkpointRun = undefined;
    for (const resolve of run.done.splice(0)) resolve();
  }

  /** Stops a running checkpoint: its files stay as a crash would leave them, which replays the same. */
  private abandonCheckpoint(): void {
    const run = this.checkpointRun;
    if (run !== undefined) this.endCheckpoint(run);
  }

  /** A flash save's compaction removed every generation from `generation` on that existed. */
  private isCompactedPast(generation: number): boolean {
    return this.generations.length > 0 && this.generations[0]! > generation + 1;
  }

  private insertGeneration(generation: number): void {
    let i = this.generations.length;
    while (i > 0 && this.generations[i - 1]! > generation) i--;
    this.generations.splice(i, 0, generation);
  }

  /** A checkpoint a crash cut short never got its name: removed, it holds nothing the others do not. */
  private removePartials(): void {
    let names: string[];
    try {
      names = readdirSync(this.directory);
    } catch {
      return;
    }
    for (const name of names) {
      if (name.startsWith(this.prefix) && name.endsWith(PARTIAL_SUFFIX)) removeQuietly(join(this.directory, name));
    }
  }

  private fail(what: string): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.failed = true;
    this.log.error(`Journal ${this.fileOf(this.generation)} ${what}: changes are kept on flash only, at the next save.`);
  }

  private listGenerations(): number[] {
    const generations: number[] = [];
    for (const name of readdirSync(this.directory)) {
      if (!name.startsWith(this.prefix)) continue;
      const tail = name.slice(this.prefix.length);
      if (/^(0|[1-9][0-9]{0,9})$/.test(tail)) generations.push(Number(tail));
    }
    return generations.sort((a, b) => a - b);
  }
}

function commitLater(journal: Journal): void {
  journal.commitTick();
}

function stepCheckpoint(journal: Journal, run: CheckpointRun): void {
  journal.checkpointStep(run);
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone (renamed into place, or never created)
  }
}

function writeDelivery(w: ByteWriter, messageId: number, qos: number, retain: boolean, subscriptionId: number | undefined): void {
  if (qos !== 0 && qos !== 1 && qos !== 2) throw new SnapshotInvalidError('delivery.qos', 'an integer 0..2');
  let flags: number = qos;
  if (retain) flags |= DELIVERY_RETAIN;
  if (subscriptionId !== undefined) flags |= DELIVERY_HAS_SUBSCRIPTION_ID;
  w.varuint(messageId);
  w.u8(flags);
  if (subscriptionId !== undefined) w.varuint(subscriptionId);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

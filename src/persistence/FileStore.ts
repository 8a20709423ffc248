/**
 * The store on flash: `persistence_location` + `persistence_file`, written so that a power cut
 * at any instant leaves either the previous store or the new one, never a torn file.
 *
 * save: write `<file>.new`, fsync it, rename it over `<file>`, fsync the directory. rename(2)
 * replaces the name atomically, and the file's data is on disk before the name points at it.
 * load: a missing file is a first start; an unreadable or damaged one is renamed aside to
 * `<file>.corrupt-<YYYYMMDD-HHMMSS>` (UTC), never deleted, and the broker starts with the
 * entries that could still be read from it (none for an unreadable file or unknown header).
 * A store path that is a symlink is written where it points; the link stays.
 */
import { lstat, open, readFile, readlink, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { decodeStore, encodeStoreInSteps, type EncodedStoreChunks } from './SnapshotCodec';
import type { SnapshotInvalidError } from './SnapshotInvalidError';
import type { LoadResult, SaveResult, Store } from './Store';
import { StoreError, type StoreErrorCode } from './StoreError';
import { emptySnapshot, type StoreSnapshot } from './StoreSnapshot';

export interface FileStoreOptions {
  /** Clock used to name a set-aside file; tests pin it. */
  now?: () => Date;
}

export class FileStore implements Store {
  readonly path: string;
  private readonly now: () => Date;
  /**
   * SHA-256 of what the file is known to hold (loaded or saved by us); undefined: unknown.
   * A digest, not a copy: a router should not keep the whole store twice in RAM.
   */
  private lastSaved: Buffer | undefined;
  /** Set when an unusable store could not be moved away: saving would destroy it. */
  private blocked: StoreError | undefined;
  /** Loads and saves run one at a time: two writers would share `<file>.new`. */
  private pending: Promise<unknown> = Promise.resolve();

  constructor(path: string, options: FileStoreOptions = {}) {
    this.path = path;
    this.now = options.now ?? (() => new Date());
  }

  /**
   * From mosquitto.conf's `persistence_location` (a directory; mosquitto wants a trailing
   * slash, we accept either) and `persistence_file`. An empty location means the working
   * directory, as in mosquitto.
   */
  static fromConfig(location: string, file: string, options: FileStoreOptions = {}): FileStore {
    return new FileStore(location === '' ? file : join(location, file), options);
  }

  load(): Promise<LoadResult> {
    return this.serially(() => this.loadNow());
  }

  save(snapshot: StoreSnapshot): Promise<SaveResult> {
    return this.serially(() => this.saveNow(snapshot));
  }

  private serially<T>(task: () => Promise<T>): Promise<T> {
    const run = this.pending.then(task, task);
    this.pending = run.catch(() => undefined);
    return run;
  }

  private async loadNow(): Promise<LoadResult> {
    this.lastSaved = undefined;
    this.blocked = undefined;
    // A leftover temp file means a save died before its rename: the old file is the truth.
    const file = await this.target();
    for (const temp of new Set([`${this.path}.new`, `${file}.new`])) {
      await rm(temp, { force: true }).catch(() => undefined);
    }
    let bytes: Buffer;
    try {
      bytes = await readFile(this.path);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return { snapshot: emptySnapshot(), bytes: 0 };
      return this.setAside('ESTOREREAD', `could not be read (${messageOf(err)})`);
    }
    const { snapshot, problems } = decodeStore(bytes);
    if (problems.length === 0) {
      this.lastSaved = digest(bytes);
      return { snapshot, bytes: bytes.length };
    }
    // Damaged: keep the file as evidence, but not at the cost of what could still be read.
    const kept = snapshot.retained.length + snapshot.sessions.length + (snapshot.wills?.length ?? 0);
    const more = problems.length > 1 ? ` and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''}` : '';
    const what = `is not a valid mqttd store (${problems[0]!.message}${more})`;
    const loaded = await this.setAside('ESTORECORRUPT', what, kept > 0 ? `the ${kept} entries that could be read` : undefined);
    return { ...loaded, snapshot };
  }

  /** Moves an unusable store out of the way, never over an earlier set-aside file. */
  private async setAside(code: StoreErrorCode, what: string, salvaged?: string): Promise<LoadResult> {
    const base = `${this.path}.corrupt-${timestamp(this.now())}`;
    let aside = base;
    for (let n = 2; await exists(aside); n++) aside = `${base}-${n}`;
    try {
      await rename(this.path, aside);
    } catch (err) {
      const message =
        `${this.path} ${what}; it could not be set aside (${messageOf(err)}) and will not be ` +
        `overwritten: move it away and restart mqttd. Running with ${salvaged ?? 'an empty store'}, not saved.`;
      this.blocked = new StoreError('ESTOREBLOCKED', message, this.path, undefined, errnoOf(err));
      return { snapshot: emptySnapshot(), bytes: 0, problem: new StoreError(code, message, this.path) };
    }
    await syncDirectory(dirname(this.path)).catch(() => undefined);
    const start = salvaged !== undefined ? `starting with ${salvaged}` : 'starting with an empty store';
    const message = `${this.path} ${what}; kept as ${aside}, ${start}`;
    return { snapshot: emptySnapshot(), bytes: 0, problem: new StoreError(code, message, this.path, aside) };
  }

  private async saveNow(snapshot: StoreSnapshot): Promise<SaveResult> {
    if (this.blocked !== undefined) return { status: 'failed', bytes: 0, error: this.blocked };
    let chunks: Buffer[];
    let length: number;
    let refused: SnapshotInvalidError[];
    try {
      ({ chunks, length, refused } = await encodeBetweenTurns(snapshot));
    } catch (err) {
      const error = new StoreError('ESNAPSHOT', `${this.path}: invalid snapshot, not saved (${messageOf(err)})`, this.path);
      return { status: 'failed', bytes: 0, error };
    }
    const extra = refused.length > 0 ? { refused } : {};
    // Flash wear: an unchanged state is not rewritten.
    const sum = digest(chunks);
    if (this.lastSaved !== undefined && this.lastSaved.equals(sum)) return { status: 'skipped', bytes: length, ...extra };
    const result = await this.replace(chunks, length, sum);
    return result.status === 'written' ? { ...result, ...extra } : result;
  }

  /**
   * The file a save replaces: where a symlinked store points (a link from RAM to flash stays a
   * link), else the path itself.
   */
  private async target(): Promise<string> {
    let file = this.path;
    // By hand, not realpath(): a link to a store not yet created must still be followed.
    for (let hops = 0; hops < 40; hops++) {
      let link: string;
      try {
        link = await readlink(file);
      } catch {
        return file; // EINVAL: not a link; ENOENT: nothing there yet
      }
      file = resolve(dirname(file), link);
    }
    return file;
  }

  private async replace(chunks: Buffer[], length: number, sum: Buffer): Promise<SaveResult> {
    const file = await this.target();
    const temp = `${file}.new`;
    const directory = dirname(file);
    let step = `removing the stale ${temp}`;
    let handle: FileHandle | undefined;
    let renamed = false;
    try {
      await rm(temp, { force: true });
      step = `creating ${temp}`;
      // 'wx' (O_EXCL): never follow a link planted at the temp name. 0600: queued messages are private.
      handle = await open(temp, 'wx', 0o600);
      step = `writing ${temp}`;
      await writeChunks(handle, chunks, length);
      step = `syncing ${temp}`;
      await handle.sync();
      step = `closing ${temp}`;
      await handle.close();
      handle = undefined;
      step = `renaming ${temp} over ${file}`;
      await rename(temp, file);
      renamed = true;
      step = `syncing the directory ${directory}`;
      await syncDirectory(directory);
    } catch (err) {
      if (handle !== undefined) await handle.close().catch(() => undefined);
      if (!renamed) await rm(temp, { force: true }).catch(() => undefined);
      // Unknown state on disk: the next save writes again rather than skip.
      this.lastSaved = undefined;
      const outcome = renamed
        ? 'the new store is in place but may not survive a power cut; the next save retries'
        : 'the previous store is unchanged; the next save retries';
      const message = `${this.path}: could not save while ${step} (${messageOf(err)}); ${outcome}`;
      return { status: 'failed', bytes: 0, error: new StoreError('ESTOREWRITE', message, this.path, undefined, errnoOf(err)) };
    }
    this.lastSaved = sum;
    return { status: 'written', bytes: length };
  }
}

/**
 * Encodes in steps with the event loop running between them: clients keep being served while
 * a big store is encoded (the snapshot is a copy, so what they change is not in it; the
 * journal keeps those changes).
 */
async function encodeBetweenTurns(snapshot: StoreSnapshot): Promise<EncodedStoreChunks> {
  const steps = encodeStoreInSteps(snapshot);
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
    await nextTurn();
  }
}

/**
 * The encoder's chunks, never joined, with writev (libuv writes IOV_MAX at a time). After a
 * short write (a full disk, a file size limit) the rest is written again, so the error that
 * stopped it (ENOSPC, EFBIG) is what the caller sees.
 */
async function writeChunks(handle: FileHandle, chunks: Buffer[], length: number): Promise<void> {
  let written = 0;
  let rest = chunks;
  while (written < length) {
    const { bytesWritten } = await handle.writev(rest);
    if (bytesWritten === 0) throw new Error(`no progress writing (${written} of ${length} bytes written)`);
    written += bytesWritten;
    rest = after(rest, bytesWritten);
  }
}

/** The chunks without their first `skip` bytes. */
function after(chunks: Buffer[], skip: number): Buffer[] {
  let i = 0;
  while (i < chunks.length && skip >= chunks[i]!.length) skip -= chunks[i++]!.length;
  const rest = chunks.slice(i);
  if (skip > 0 && rest.length > 0) rest[0] = rest[0]!.subarray(skip);
  return rest;
}

/** Makes a rename in `directory` durable. File systems that cannot sync a directory say EINVAL. */
async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } catch (err) {
    const errno = errnoOf(err);
    if (errno !== 'EINVAL' && errno !== 'ENOTSUP' && errno !== 'EOPNOTSUPP') throw err;
  } finally {
    await handle.close();
  }
}

function digest(chunks: Buffer | Buffer[]): Buffer {
  // Loaded here, not at start-up: node:crypto costs megabytes of RSS.
  const hash = (require('node:crypto') as typeof import('node:crypto')).createHash('sha256');
  for (const chunk of Array.isArray(chunks) ? chunks : [chunks]) hash.update(chunk);
  return hash.digest();
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** YYYYMMDD-HHMMSS in UTC: unambiguous whatever zone the router is set to. */
function timestamp(date: Date): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return (
    `${date.getUTCFullYear()}${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}-` +
    `${two(date.getUTCHours())}${two(date.getUTCMinutes())}${two(date.getUTCSeconds())}`
  );
}

function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

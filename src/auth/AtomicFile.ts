/**
 * Replacing a file so that a reader (or a power cut) sees either the old or the new
 * contents, never half of each: write a temp file in the same directory, fsync, rename.
 */
import { promises as fs, constants } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface AtomicWriteOptions {
  /** Mode for a file that does not exist yet. Default 0600: password files are secrets. */
  mode?: number;
}

/**
 * Writes `data` to the file atomically (to a symlink's target, leaving the link). An existing file keeps its mode and, when we are
 * allowed to set it (root), its owner and group; a new file gets `mode` (default 0600).
 */
export async function writeFileAtomic(linkOrPath: string, data: string | Buffer, options: AtomicWriteOptions = {}): Promise<void> {
  // Through a symlink (e.g. /etc/mqttd/passwd → /overlay/…), replace the target, keep the link.
  const path = await fs.realpath(linkOrPath).catch(() => linkOrPath);
  const existing = await fs.stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  // An existing file keeps its mode, minus any access for others: password hashes are secrets.
  const mode = existing ? existing.mode & 0o7770 : (options.mode ?? 0o600);
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${(require('node:crypto') as typeof import('node:crypto')).randomBytes(4).toString('hex')}.tmp`);
  // O_EXCL: never write through a link someone planted under the temp name.
  const handle = await fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  let renamed = false;
  try {
    try {
      await handle.writeFile(data);
      // The umask may have narrowed the mode given to open(); set it exactly.
      await handle.chmod(mode);
      if (existing && (existing.uid !== process.getuid?.() || existing.gid !== process.getgid?.())) {
        await handle.chown(existing.uid, existing.gid).catch(() => undefined);
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, path);
    renamed = true;
    await syncDirectory(dir);
  } finally {
    if (!renamed) await fs.unlink(temp).catch(() => undefined);
  }
}

/** Makes the rename itself durable; some filesystems refuse to fsync a directory, which is fine. */
async function syncDirectory(dir: string): Promise<void> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(dir, constants.O_RDONLY);
    await handle.sync();
  } catch {
    // Best effort only.
  } finally {
    await handle?.close();
  }
}

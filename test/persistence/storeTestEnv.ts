/** Scratch directories, child stores and tiny file systems for the FileStore tests. */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { buildSync } from 'esbuild';
import { startProcess } from '../helpers/processes';

const ROOT = resolve(__dirname, '..', '..', '..');
let bundled: string | undefined;

/**
 * storeChild bundled into one file, once per test process. Children start many times during
 * a test; a bundle keeps them from loading build/ files that a concurrent tsc is rewriting.
 */
export function storeChild(): string {
  if (bundled !== undefined) return bundled;
  const out = join(mkdtempSync(join(tmpdir(), 'mqttd-store-child-')), 'storeChild.js');
  buildSync({
    entryPoints: [join(ROOT, 'test', 'persistence', 'fixtures', 'storeChild.ts')],
    outfile: out,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'warning',
  });
  chmodSync(dirname(out), 0o755);
  process.on('exit', () => rmSync(dirname(out), { recursive: true, force: true }));
  bundled = out;
  return out;
}

/** A fresh directory that the user `nobody` can enter (mkdtemp makes 0700). */
export function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-store-'));
  chmodSync(dir, 0o755);
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface ChildLine {
  op: string;
  status?: string;
  code?: string;
  errno?: string;
  message?: string;
  round?: number | null;
  problem?: string;
  bytes?: number;
}

/**
 * Runs storeChild with the given ops and returns its JSON lines. `prefix` wraps the command
 * (setpriv to drop root, prlimit to cap file size).
 */
export async function runStoreChild(prefix: string[], path: string, ops: string[]): Promise<ChildLine[]> {
  const command = [...prefix, process.execPath, storeChild(), path, ...ops];
  const child = startProcess(command[0]!, command.slice(1));
  const code = await child.exited;
  if (code !== 0) throw new Error(`store child exited ${code}:\n${child.output()}`);
  return child
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as ChildLine);
}

/** The prefix that runs a command without write permission on root-owned 0555 directories. */
export function unprivilegedPrefix(): string[] {
  if (process.getuid?.() !== 0) return [];
  return ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'];
}

/** A tmpfs of `size` mounted on a new directory, or the reason mounting is not possible here. */
export function mountTmpfs(size: string): { dir: string; unmount(): void; remount(mode: 'ro' | 'rw'): void } | string {
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root';
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return `mount -t tmpfs is not permitted here (${String(err).split('\n')[0]})`;
  }
  return {
    dir,
    remount: (mode) => execFileSync('mount', ['-o', `remount,${mode}`, dir], { stdio: 'pipe' }),
    unmount: () => {
      execFileSync('umount', [dir], { stdio: 'pipe' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

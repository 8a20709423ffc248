/**
 * `mqttd.state` of every script rule, kept in its own small file next to the persistence
 * store (`<persistence_location>/mqttd-rules.json`), apart from the snapshot codec so the two
 * can change independently. Written atomically (temp file, fsync, rename) and only when
 * something changed, at the broker's own saves (autosave, SIGUSR1, shutdown): flash wear
 * stays that of the store. A corrupt file is reported and set aside, never overwritten unseen.
 */
import { promises as fs } from 'node:fs';
import { writeFileAtomic } from '../auth/AtomicFile';

export class RuleState {
  /** Script name → its state as JSON text. */
  private readonly states = new Map<string, string>();
  private dirty = false;

  /** `path` undefined: kept in memory only (persistence is off). */
  constructor(readonly path: string | undefined) {}

  /** Reads the file; returns a problem to log (the broker runs on with empty state). */
  async load(): Promise<string | undefined> {
    if (this.path === undefined) return undefined;
    let text: string;
    try {
      text = await fs.readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      return `cannot read ${this.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
      for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) this.states.set(name, JSON.stringify(value));
      return undefined;
    } catch (err) {
      const aside = `${this.path}.corrupt`;
      await fs.rename(this.path, aside).catch(() => undefined);
      return `${this.path}: not valid rule state (${(err as Error).message}); moved to ${aside}, scripts start with empty mqttd.state`;
    }
  }

  get(script: string): string | undefined {
    return this.states.get(script);
  }

  set(script: string, json: string): void {
    if (this.states.get(script) === json) return;
    this.states.set(script, json);
    this.dirty = true;
  }

  /** Writes the file if anything changed since the last write; returns an error text on failure. */
  async save(): Promise<string | undefined> {
    if (this.path === undefined || !this.dirty) return undefined;
    this.dirty = false;
    const body = [...this.states].map(([name, json]) => `${JSON.stringify(name)}:${json}`).join(',\n');
    try {
      await writeFileAtomic(this.path, `{\n${body}\n}\n`, { mode: 0o600 });
      return undefined;
    } catch (err) {
      this.dirty = true;
      return `cannot write ${this.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
    }
  }
}

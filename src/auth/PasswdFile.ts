/**
 * mosquitto's password file (`password_file`), read the way mosquitto 2.0 reads it:
 *
 * - a line starting with `#` (first column) is a comment; a blank line is ignored;
 * - `username:hash` — blanks (space, tab, CR) around the username and the hash are trimmed,
 *   and anything after a second `:` is ignored, as strtok does in mosquitto;
 * - a user whose hash mqttd cannot use (plain text, unknown type, malformed) is dropped,
 *   as mosquitto 2.0 drops it, and the line is reported;
 * - when a username appears twice, the last usable line wins (mosquitto's hash table
 *   finds the entry added last).
 *
 * mosquitto silently skips a non-blank line without `:`; mqttd skips it too but reports
 * it, because it is almost always a typo. Every problem is a FileError naming the line;
 * the other users keep working.
 *
 * The file also edits itself for mqttd_passwd and the LuCI backend: every line that is
 * not the user being changed is written back byte for byte.
 */
import { promises as fs } from 'node:fs';
import { FileError } from '../config/FileError';
import { describeUnusableHash, isHashed, verifyPassword } from './PasswordHash';
import { writeFileAtomic, type AtomicWriteOptions } from './AtomicFile';

/** mosquitto refuses usernames and hashes longer than an MQTT string can carry. */
const MAX_FIELD_LENGTH = 65535;

interface Line {
  /** The line as read, without its '\n' (a '\r' before it is kept, so CRLF files stay CRLF). */
  raw: string;
  /** Set on a `username:hash` line whose hash mqttd can verify. */
  username?: string;
  hash?: string;
  /** Set on any line that names a user, usable or not, so edits can replace it. */
  names?: string;
}

export interface PasswdParseResult {
  file: PasswdFile;
  errors: FileError[];
}

export class PasswdFile {
  private readonly lines: Line[];
  private users = new Map<string, string>();
  private readonly eol: string;

  private constructor(readonly path: string, lines: Line[], eol: string) {
    this.lines = lines;
    this.eol = eol;
    this.index();
  }

  /** An empty file, to be filled with setHash() and written with save(). */
  static empty(path: string): PasswdFile {
    return new PasswdFile(path, [], '\n');
  }

  static parse(text: string, path: string): PasswdParseResult {
    const errors: FileError[] = [];
    const rawLines = text.split('\n');
    if (rawLines.length > 0 && rawLines[rawLines.length - 1] === '') rawLines.pop();
    const crlf = rawLines.filter((l) => l.endsWith('\r')).length;
    const eol = crlf > 0 && crlf >= rawLines.length / 2 ? '\r\n' : '\n';
    const lines: Line[] = [];
    const seenAt = new Map<string, number>();

    rawLines.forEach((raw, i) => {
      const lineNo = i + 1;
      const line: Line = { raw };
      lines.push(line);
      if (raw.startsWith('#') || trimBlanks(raw) === '') return;
      const colon = raw.indexOf(':');
      if (colon < 0) {
        errors.push(new FileError(path, lineNo, 'expected username:password-hash, found no ":" (line ignored)'));
        return;
      }
      const username = trimBlanks(raw.slice(0, colon));
      const rest = raw.slice(colon + 1);
      const nextColon = rest.indexOf(':');
      const hash = trimBlanks(nextColon < 0 ? rest : rest.slice(0, nextColon));
      if (username === '') {
        errors.push(new FileError(path, lineNo, 'empty username (line ignored)'));
        return;
      }
      line.names = username;
      if (username.length > MAX_FIELD_LENGTH) {
        errors.push(new FileError(path, lineNo, 'username longer than 65535 characters (line ignored)'));
        return;
      }
      if (hash === '') {
        errors.push(new FileError(path, lineNo, `user "${username}" has no password hash (user ignored)`));
        return;
      }
      if (hash.length > MAX_FIELD_LENGTH || !isHashed(hash)) {
        const why = hash.length > MAX_FIELD_LENGTH ? 'password hash too long' : describeUnusableHash(hash);
        errors.push(new FileError(path, lineNo, `user "${username}": ${why} (user ignored)`));
        return;
      }
      const earlier = seenAt.get(username);
      if (earlier !== undefined) {
        errors.push(new FileError(path, lineNo, `user "${username}" also defined on line ${earlier}; this later line is used`));
      }
      seenAt.set(username, lineNo);
      line.username = username;
      line.hash = hash;
    });
    return { file: new PasswdFile(path, lines, eol), errors };
  }

  /** Reads and parses a file. An unreadable file rejects with a FileError (no line). */
  static async load(path: string): Promise<PasswdParseResult> {
    let text: string;
    try {
      text = await fs.readFile(path, 'utf8');
    } catch (err) {
      throw new FileError(path, undefined, `cannot read password file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    return PasswdFile.parse(text, path);
  }

  has(username: string): boolean {
    return this.users.has(username);
  }

  usernames(): string[] {
    return [...this.users.keys()];
  }

  /** The stored hash of a user, for tools that re-write files; undefined for an unknown user. */
  hashOf(username: string): string | undefined {
    return this.users.get(username);
  }

  /** False for an unknown user, as for a wrong password. */
  async verify(username: string, password: Buffer | string): Promise<boolean> {
    const hash = this.users.get(username);
    if (hash === undefined) return false;
    return verifyPassword(hash, password);
  }

  /**
   * Sets a user's hash. The first line naming the user is replaced in place and any other
   * line naming them is removed; an unknown user is appended. Other lines are untouched.
   */
  setHash(username: string, hash: string): void {
    const problem = checkUsername(username);
    if (problem) throw new RangeError(problem);
    if (!isHashed(hash)) throw new RangeError('refusing to store a value that is not a supported password hash');
    const text = `${username}:${hash}`;
    const first = this.lines.findIndex((l) => l.names === username);
    if (first < 0) {
      // An appended line ends like the file's other lines.
      this.lines.push({ raw: this.eol === '\r\n' ? text + '\r' : text, username, hash, names: username });
    } else {
      const cr = this.lines[first].raw.endsWith('\r') ? '\r' : '';
      this.lines[first] = { raw: text + cr, username, hash, names: username };
      for (let i = this.lines.length - 1; i > first; i--) if (this.lines[i].names === username) this.lines.splice(i, 1);
    }
    this.index();
  }

  /** Removes every line naming the user; false when there was none. */
  remove(username: string): boolean {
    const before = this.lines.length;
    for (let i = this.lines.length - 1; i >= 0; i--) if (this.lines[i].names === username) this.lines.splice(i, 1);
    this.index();
    return this.lines.length !== before;
  }

  /** The file's text: untouched lines verbatim, a final newline always. */
  toString(): string {
    if (this.lines.length === 0) return '';
    return this.lines.map((l) => l.raw + '\n').join('');
  }

  /** Writes the file atomically (new files 0600 unless options.mode says otherwise). */
  async save(path: string = this.path, options?: AtomicWriteOptions): Promise<void> {
    await writeFileAtomic(path, this.toString(), options);
  }

  private index(): void {
    const users = new Map<string, string>();
    for (const line of this.lines) if (line.username !== undefined && line.hash !== undefined) users.set(line.username, line.hash);
    this.users = users;
  }
}

/**
 * Why a username cannot be stored in a password file, or undefined when it can: it must
 * read back as itself (no ':' or line break, no blanks at either end, not a comment).
 */
export function checkUsername(username: string): string | undefined {
  if (username === '') return 'username is empty';
  if (username.length > MAX_FIELD_LENGTH) return 'username is longer than 65535 characters';
  if (username.includes(':')) return 'username contains ":"';
  if (/[\r\n\0]/.test(username)) return 'username contains a line break or NUL';
  if (trimBlanks(username) !== username) return 'username starts or ends with a blank';
  if (username.startsWith('#')) return 'username starts with "#" (the line would be a comment)';
  return undefined;
}

/** mosquitto's misc__trimblanks: isspace() characters at both ends. */
function trimBlanks(s: string): string {
  return s.replace(/^[ \t\r\n\v\f]+|[ \t\r\n\v\f]+$/g, '');
}

/**
 * mqttd_passwd: manage a mosquitto password file with mosquitto_passwd's usage. Writes are
 * atomic and keep the file's mode and owner; lines other than the user's are kept as they are.
 */
import { promises as fs } from 'node:fs';
import { PasswdFile, checkUsername } from '../auth/PasswdFile';
import { hashPassword, isHashed, type HashAlgorithm } from '../auth/PasswordHash';
import { writeFileAtomic } from '../auth/AtomicFile';
import { VERSION } from '../version';
import { cInt } from './ClientProperties';
import { readPassword } from './PasswordPrompt';

const USAGE = `mqttd_passwd is a tool for managing password files for mosquitto and mqttd.
mqttd_passwd version ${VERSION}.

Usage: mqttd_passwd [-H sha512-pbkdf2 | -H sha512 | -H bcrypt] [-c | -D] passwordfile username
       mqttd_passwd [-H sha512-pbkdf2 | -H sha512 | -H bcrypt] [-c] -b passwordfile username password
       mqttd_passwd -U passwordfile
 -b : run in batch mode to allow passing passwords on the command line.
 -c : create a new password file. This will overwrite existing files.
 -D : delete the username rather than adding/updating its password.
 -H : specify the hashing algorithm. Defaults to sha512-pbkdf2, which is recommended.
      Mosquitto 1.6 and earlier defaulted to sha512. bcrypt files are read by mqttd only.
 -U : update a plain text password file to use hashed passwords.
 --allow-empty : with -b, write an empty password (refused otherwise: no client can log in with it).

See https://mosquitto.org/ for more information.

`;

interface Options {
  create: boolean;
  delete: boolean;
  batch: boolean;
  update: boolean;
  algorithm: HashAlgorithm;
  iterations?: number;
  /** Write the hash of an empty password given with -b. */
  allowEmpty: boolean;
  positional: string[];
}

type Parsed = { kind: 'ok'; options: Options } | { kind: 'usage' } | { kind: 'version' } | { kind: 'error'; message: string };

function parseArgs(argv: string[]): Parsed {
  const o: Options = { create: false, delete: false, batch: false, update: false, allowEmpty: false, algorithm: 'sha512-pbkdf2', positional: [] };
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '-c') o.create = true;
    else if (arg === '-D') o.delete = true;
    else if (arg === '-b') o.batch = true;
    else if (arg === '-U') o.update = true;
    else if (arg === '--allow-empty') o.allowEmpty = true;
    else if (arg === '--help') return { kind: 'usage' };
    else if (arg === '--version') return { kind: 'version' };
    else if (arg === '-H') {
      if (i === argv.length - 1) return { kind: 'error', message: 'Error: -H argument given but not enough arguments.\n' };
      const name = argv[++i] as string;
      if (name !== 'sha512-pbkdf2' && name !== 'sha512' && name !== 'bcrypt') {
        return { kind: 'error', message: `Error: Unknown hash type '${name}'\n` };
      }
      o.algorithm = name;
    } else if (arg === '-I') {
      if (i === argv.length - 1) return { kind: 'error', message: 'Error: -I argument given but not enough arguments.\n' };
      const n = cInt(argv[++i] as string);
      if (n < 1) return { kind: 'error', message: `Error: Number of iterations must be > 0.\n` };
      o.iterations = n;
    } else if (arg.startsWith('-') && arg.length > 1) {
      return { kind: 'usage' };
    } else break;
  }
  o.positional = argv.slice(i);
  if (o.create && o.delete) return { kind: 'error', message: 'Error: -c and -D cannot be used together.\n' };
  if (o.update && (o.create || o.delete || o.batch)) return { kind: 'error', message: 'Error: -U cannot be used with -c, -D or -b.\n' };
  if (o.delete && o.batch) return { kind: 'error', message: 'Error: -D and -b cannot be used together.\n' };
  const wanted = o.update ? 1 : o.batch ? 3 : 2;
  if (o.positional.length !== wanted) return { kind: 'usage' };
  return { kind: 'ok', options: o };
}

function usernameError(username: string): string | undefined {
  if (username.includes(':')) return "Error: Username must not contain the ':' character.\n";
  const problem = checkUsername(username);
  return problem === undefined ? undefined : `Error: Invalid username: ${problem}.\n`;
}

async function hash(options: Options, password: string): Promise<string> {
  return options.iterations === undefined
    ? hashPassword(password, { algorithm: options.algorithm })
    : hashPassword(password, { algorithm: options.algorithm, iterations: options.iterations });
}

/** Exit codes of mosquitto_passwd 2.0.11 (get_password.c): 1 empty or no password, 2 mismatch. */
const EMPTY_PASSWORD = { error: 'Error: Empty password.\n', code: 1 };

async function promptTwice(): Promise<string | { error: string; code: number }> {
  const first = await readPassword('Password: ');
  if (first === undefined || first === '') return EMPTY_PASSWORD;
  const second = await readPassword('Reenter password: ');
  if (second === undefined || second === '') return EMPTY_PASSWORD;
  if (first !== second) return { error: 'Error: Passwords do not match.\n', code: 2 };
  return first;
}

function systemText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'No such file or directory';
    case 'EACCES':
      return 'Permission denied';
    case 'EISDIR':
      return 'Is a directory';
    case 'EROFS':
      return 'Read-only file system';
    case 'ENOSPC':
      return 'No space left on device';
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

async function load(path: string): Promise<PasswdFile | { error: string }> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (err) {
    return { error: `Error: Unable to open password file ${path}. ${systemText(err)}.\n` };
  }
  // Lines mqttd cannot use are kept verbatim; editing one user must not lose the others.
  return PasswdFile.parse(text, path).file;
}

async function save(file: PasswdFile, path: string): Promise<string | undefined> {
  try {
    await file.save(path);
    return undefined;
  } catch (err) {
    return `Error: Unable to open file ${path} for writing. ${systemText(err)}.\n`;
  }
}

/** -U: hash every `user:password` line whose password is still plain text. */
async function updateFile(options: Options, path: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (err) {
    return `Error: Unable to open password file ${path}. ${systemText(err)}.\n`;
  }
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] as string;
    const cr = raw.endsWith('\r') ? '\r' : '';
    const line = cr ? raw.slice(0, -1) : raw;
    if (line.startsWith('#') || line.trim() === '') continue;
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const username = line.slice(0, colon);
    const password = line.slice(colon + 1);
    // Already hashed lines stay as they are: hashing a hash would lock the user out.
    if (password === '' || isHashed(password.trim())) continue;
    lines[i] = `${username}:${await hash(options, password)}${cr}`;
  }
  try {
    await writeFileAtomic(path, lines.join('\n'));
  } catch (err) {
    return `Error: Unable to open file ${path} for writing. ${systemText(err)}.\n`;
  }
  return undefined;
}

async function main(argv: string[]): Promise<number> {
  const parsed = parseArgs(argv);
  if (parsed.kind === 'usage') {
    process.stdout.write(USAGE);
    return 1;
  }
  if (parsed.kind === 'version') {
    process.stdout.write(`mqttd_passwd version ${VERSION}\n`);
    return 1;
  }
  if (parsed.kind === 'error') {
    process.stderr.write(parsed.message);
    return 1;
  }
  const options = parsed.options;
  const [path, username, batchPassword] = options.positional as [string, string, string | undefined];
  if (options.update) {
    const problem = await updateFile(options, path);
    if (problem) process.stderr.write(problem);
    return problem ? 1 : 0;
  }
  const badName = usernameError(username);
  if (badName) {
    process.stderr.write(badName);
    return 1;
  }
  if (options.delete) {
    const file = await load(path);
    if (!(file instanceof PasswdFile)) {
      process.stderr.write(file.error);
      return 1;
    }
    if (!file.remove(username)) {
      process.stderr.write(`Warning: User ${username} not found in password file.\n`);
      return 1;
    }
    const problem = await save(file, path);
    if (problem) process.stderr.write(problem);
    return problem ? 1 : 0;
  }

  let file: PasswdFile;
  if (options.create) file = PasswdFile.empty(path);
  else {
    const loaded = await load(path);
    if (!(loaded instanceof PasswdFile)) {
      process.stderr.write(loaded.error);
      return 1;
    }
    file = loaded;
  }
  let password: string;
  if (batchPassword !== undefined) {
    // A hash of "" is a user nobody can log in as (mqttd and mosquitto refuse an empty
    // password); mosquitto_passwd -b writes one silently, mqttd_passwd only when asked to.
    if (batchPassword === '' && !options.allowEmpty) {
      process.stderr.write('Error: Empty password (use --allow-empty to write it anyway; no client can log in with it).\n');
      return 1;
    }
    password = batchPassword;
  } else {
    const read = await promptTwice();
    if (typeof read !== 'string') {
      process.stderr.write(read.error);
      return read.code;
    }
    password = read;
  }
  let hashed: string;
  try {
    hashed = await hash(options, password);
  } catch (err) {
    process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}.\n`);
    return 1;
  }
  file.setHash(username, hashed);
  const problem = await save(file, path);
  if (problem) process.stderr.write(problem);
  return problem ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);

/**
 * mqttd_passwd writes files Debian's mosquitto 2.0 accepts, and edits files the real
 * mosquitto_passwd wrote without touching any other line.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto';
import { hasCommand } from '../helpers/processes';
import { PasswdFile } from '../../src/auth/PasswdFile';
import { commandFor, runCommand } from './cliRun';

const dir = mkdtempSync(join(tmpdir(), 'mqttd-passwd-'));
chmodSync(dir, 0o755);
const brokers: MosquittoBroker[] = [];
after(async () => {
  for (const b of brokers) await b.stop();
});

function passwd(args: string[], stdin?: string) {
  const { command, prefix } = commandFor('mqttd', 'passwd');
  return runCommand(command, [...prefix, ...args], stdin);
}

async function verify(path: string, user: string, password: string): Promise<boolean> {
  const { file } = await PasswdFile.load(path);
  return file.verify(user, password);
}

test('a file written by mqttd_passwd is accepted by the real mosquitto broker', async () => {
  hasCommand('mosquitto');
  const path = join(dir, 'ours');
  assert.equal((await passwd(['-c', '-b', path, 'alice', 'secret'])).code, 0);
  assert.equal((await passwd(['-b', path, 'bob', 'hunter2'])).code, 0);
  assert.match(readFileSync(path, 'utf8'), /^alice:\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==\nbob:\$7\$101\$/);
  chmodSync(path, 0o644); // mosquitto drops root before reading it
  const broker = await startMosquitto(['allow_anonymous false', `password_file ${path}`]);
  brokers.push(broker);
  const pub = (user: string, pw: string) =>
    runCommand('/usr/bin/mosquitto_pub', ['-p', String(broker.port), '-u', user, '-P', pw, '-t', 't', '-m', 'm']);
  assert.equal((await pub('alice', 'secret')).code, 0);
  assert.equal((await pub('bob', 'hunter2')).code, 0);
  assert.equal((await pub('alice', 'wrong')).code, 5);
});

test('mqttd_passwd -b and -D edit a mosquitto_passwd file and leave the other lines as they were', async () => {
  hasCommand('mosquitto_passwd');
  const path = join(dir, 'theirs');
  await runCommand('/usr/bin/mosquitto_passwd', ['-c', '-b', path, 'alice', 'a-pass']);
  await runCommand('/usr/bin/mosquitto_passwd', ['-b', path, 'bob', 'b-pass']);
  await runCommand('/usr/bin/mosquitto_passwd', ['-b', path, 'carol', 'c-pass']);
  const original = readFileSync(path, 'utf8').split('\n');
  assert.equal(await verify(path, 'bob', 'b-pass'), true, 'mqttd reads mosquitto_passwd hashes');

  assert.equal((await passwd(['-b', path, 'bob', 'new-pass'])).code, 0);
  let lines = readFileSync(path, 'utf8').split('\n');
  assert.equal(lines[0], original[0]);
  assert.equal(lines[2], original[2]);
  assert.notEqual(lines[1], original[1]);
  assert.equal(await verify(path, 'bob', 'new-pass'), true);

  assert.equal((await passwd(['-D', path, 'alice'])).code, 0);
  lines = readFileSync(path, 'utf8').split('\n');
  assert.deepEqual(lines.filter((l) => l.startsWith('carol:')), [original[2]]);
  assert.equal(lines.some((l) => l.startsWith('alice:')), false);

  const missing = await passwd(['-D', path, 'nobody']);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, 'Warning: User nobody not found in password file.\n');
});

test('mqttd_passwd keeps the file mode and refuses bad usernames without writing', async () => {
  const path = join(dir, 'mode');
  await passwd(['-c', '-b', path, 'alice', 'x']);
  assert.equal(statSync(path).mode & 0o777, 0o600, 'a new password file is private');
  chmodSync(path, 0o640);
  await passwd(['-b', path, 'bob', 'y']);
  assert.equal(statSync(path).mode & 0o777, 0o640);
  const before = readFileSync(path, 'utf8');
  for (const bad of ['a:b', '', 'new\nline']) {
    const r = await passwd(['-b', path, bad, 'pw']);
    assert.equal(r.code, 1, `username ${JSON.stringify(bad)}`);
    assert.match(r.stderr, /^Error: /);
  }
  assert.equal(readFileSync(path, 'utf8'), before);
  const gone = await passwd(['-b', join(dir, 'does-not-exist'), 'u', 'p']);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /^Error: Unable to open password file .*does-not-exist\. No such file or directory\.\n$/);
});

test('mqttd_passwd -U hashes plain-text lines once and never re-hashes a hash', async () => {
  const path = join(dir, 'plain');
  await passwd(['-c', '-b', path, 'hashed', 'h-pass']);
  const hashedLine = readFileSync(path, 'utf8').trimEnd();
  writeFileSync(path, `# users\n${hashedLine}\nplain:p-pass\n\n`);
  assert.equal((await passwd(['-U', path])).code, 0);
  const lines = readFileSync(path, 'utf8').split('\n');
  assert.equal(lines[0], '# users');
  assert.equal(lines[1], hashedLine);
  assert.match(lines[2] as string, /^plain:\$7\$101\$/);
  assert.equal(await verify(path, 'plain', 'p-pass'), true);
  assert.equal((await passwd(['-U', path])).code, 0);
  assert.equal(readFileSync(path, 'utf8').split('\n')[2], lines[2]);
});

test('mqttd_passwd -H bcrypt, -H sha512 and -I', async () => {
  const path = join(dir, 'algos');
  await passwd(['-c', '-H', 'bcrypt', '-b', path, 'b', 'pw1']);
  await passwd(['-H', 'sha512', '-b', path, 's', 'pw2']);
  await passwd(['-I', '1000', '-b', path, 'i', 'pw3']);
  const text = readFileSync(path, 'utf8');
  assert.match(text, /^b:\$2b\$10\$/m);
  assert.match(text, /^s:\$6\$/m);
  assert.match(text, /^i:\$7\$1000\$/m);
  assert.equal(await verify(path, 'b', 'pw1'), true);
  assert.equal(await verify(path, 's', 'pw2'), true);
  assert.equal(await verify(path, 'i', 'pw3'), true);
  const bad = await passwd(['-H', 'md5', '-b', path, 'x', 'y']);
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr, "Error: Unknown hash type 'md5'\n");
});

test('mqttd_passwd asks twice and refuses a mismatch', async () => {
  const path = join(dir, 'prompt');
  await passwd(['-c', '-b', path, 'keep', 'k']);
  const ok = await passwd([path, 'typed'], 'same\nsame\n');
  assert.equal(ok.code, 0);
  assert.equal(ok.stdout.toString(), 'Password: \nReenter password: \n');
  assert.equal(await verify(path, 'typed', 'same'), true);
  const before = readFileSync(path, 'utf8');
  const mismatch = await passwd([path, 'typed'], 'one\ntwo\n');
  assert.equal(mismatch.code, 2, 'as mosquitto_passwd');
  assert.equal(mismatch.stderr, 'Error: Passwords do not match.\n');
  assert.equal(readFileSync(path, 'utf8'), before);
});

test('mqttd_passwd usage and version', async () => {
  const usage = await passwd([]);
  assert.equal(usage.code, 1);
  assert.match(usage.stdout.toString(), /^mqttd_passwd is a tool for managing password files/);
  assert.match(usage.stdout.toString(), /Usage: mqttd_passwd \[-H sha512-pbkdf2 \| -H sha512 \| -H bcrypt\] \[-c \| -D\] passwordfile username\n/);
  const { version } = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string };
  assert.equal((await passwd(['--version'])).stdout.toString(), `mqttd_passwd version ${version}\n`);
});

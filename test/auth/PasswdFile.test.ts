import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileError } from '../../src/config/FileError';
import { checkUsername, PasswdFile } from '../../src/auth/PasswdFile';
import { hashPassword } from '../../src/auth/PasswordHash';

async function hashes() {
  return { a: await hashPassword('pa', { iterations: 2 }), b: await hashPassword('pb', { algorithm: 'sha512' }) };
}

test('malformed lines are reported with their line numbers and the other users still work', async () => {
  const { a, b } = await hashes();
  const text = [
    '# a comment', //                    1
    '', //                               2
    `alice:${a}`, //                      3
    'no colon here', //                  4
    'carol:plaintext-secret', //         5
    `:${a}`, //                           6
    'dave:', //                          7
    'erin:$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA', // 8
    'fred:$9$unknown', //                9
    `bob:${b}`, //                        10
    '   ', //                            11
  ].join('\n');
  const { file, errors } = PasswdFile.parse(text, '/etc/mqttd/passwd');
  assert.deepEqual(
    errors.map((e) => e.line),
    [4, 5, 6, 7, 8, 9],
  );
  for (const e of errors) {
    assert.ok(e instanceof FileError);
    assert.equal(e.file, '/etc/mqttd/passwd');
    assert.ok(!e.message.includes('plaintext-secret'), 'a plain-text password leaked into an error');
    assert.ok(!e.message.includes(a) && !e.message.includes('aGFzaA'), 'a hash leaked into an error');
  }
  assert.match(errors[1].reason, /not hashed/);
  assert.match(errors[4].reason, /argon2id/);
  assert.deepEqual(file.usernames().sort(), ['alice', 'bob']);
  assert.equal(await file.verify('alice', 'pa'), true);
  assert.equal(await file.verify('bob', 'pb'), true);
  assert.equal(await file.verify('carol', 'plaintext-secret'), false, 'mosquitto 2.0 drops plain-text users');
  assert.equal(file.has('carol'), false);
});

test('blanks and CR around fields are trimmed and a third field is ignored, as mosquitto does', async () => {
  const { a } = await hashes();
  const { file, errors } = PasswdFile.parse(`  alice \t:  ${a} \r\nbob:${a}:ignored\r\n`, 'p');
  assert.deepEqual(errors, []);
  assert.equal(await file.verify('alice', 'pa'), true);
  assert.equal(await file.verify('bob', 'pa'), true);
});

test('a user defined twice: the last line wins and the duplicate is reported', async () => {
  const { a, b } = await hashes();
  const { file, errors } = PasswdFile.parse(`alice:${a}\nalice:${b}\n`, 'p');
  assert.equal(errors.length, 1);
  assert.equal(errors[0].line, 2);
  assert.equal(await file.verify('alice', 'pb'), true);
  assert.equal(await file.verify('alice', 'pa'), false);
});

test('editing one user keeps every other line byte for byte, CRLF included', async () => {
  const { a, b } = await hashes();
  const original = `# users\r\nalice:${a}\r\n\r\nweird line\r\nbob:${a}\r\n`;
  const { file } = PasswdFile.parse(original, 'p');
  file.setHash('alice', b);
  file.setHash('carol', b);
  assert.equal(file.remove('bob'), true);
  assert.equal(file.remove('nobody'), false);
  assert.equal(file.toString(), `# users\r\nalice:${b}\r\n\r\nweird line\r\ncarol:${b}\r\n`);
  const again = PasswdFile.parse(file.toString(), 'p').file;
  assert.equal(await again.verify('alice', 'pb'), true);
  assert.equal(await again.verify('carol', 'pb'), true);
  assert.equal(again.has('bob'), false);
});

test('setHash replaces every line of a user that appears twice, in place of the first', async () => {
  const { a, b } = await hashes();
  const { file } = PasswdFile.parse(`alice:${a}\nx:${a}\nalice:${a}\n`, 'p');
  file.setHash('alice', b);
  assert.equal(file.toString(), `alice:${b}\nx:${a}\n`);
});

test('setHash refuses usernames that would not read back, and values that are not hashes', async () => {
  const { a } = await hashes();
  const file = PasswdFile.empty('p');
  for (const bad of ['', 'a:b', 'a\nb', ' a', 'a ', '#a']) {
    assert.ok(checkUsername(bad), JSON.stringify(bad));
    assert.throws(() => file.setHash(bad, a), RangeError);
  }
  assert.throws(() => file.setHash('alice', 'plain'), RangeError);
  assert.equal(checkUsername('élan vital'), undefined);
});

test('save writes atomically: a new file is 0600, an existing file keeps its mode, no temp file is left', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-passwd-'));
  try {
    const { a } = await hashes();
    const path = join(dir, 'passwd');
    const file = PasswdFile.empty(path);
    file.setHash('alice', a);
    await file.save();
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(readFileSync(path, 'utf8'), `alice:${a}\n`);

    chmodSync(path, 0o640);
    file.setHash('bob', a);
    await file.save();
    assert.equal(statSync(path).mode & 0o777, 0o640);
    assert.deepEqual(readdirSync(dir), ['passwd']);

    const other = join(dir, 'other');
    await file.save(other, { mode: 0o644 });
    assert.equal(statSync(other).mode & 0o777, 0o644);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('saving through a symlink replaces the target and keeps the link', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-passwd-'));
  try {
    const { a } = await hashes();
    const target = join(dir, 'real');
    const link = join(dir, 'passwd');
    writeFileSync(target, '# kept\n', { mode: 0o600 });
    symlinkSync(target, link);
    const { file } = await PasswdFile.load(link);
    file.setHash('alice', a);
    await file.save();
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(readFileSync(target, 'utf8'), `# kept\nalice:${a}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a file that cannot be read is a FileError naming it, without a line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-passwd-'));
  try {
    const missing = join(dir, 'missing');
    await assert.rejects(PasswdFile.load(missing), (err: unknown) => {
      assert.ok(err instanceof FileError);
      assert.equal(err.file, missing);
      assert.equal(err.line, undefined);
      assert.match(err.reason, /ENOENT/);
      return true;
    });
    writeFileSync(join(dir, 'ok'), '');
    const { file, errors } = await PasswdFile.load(join(dir, 'ok'));
    assert.deepEqual(errors, []);
    assert.deepEqual(file.usernames(), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Files from Debian's real mosquitto_passwd verify in mqttd, and hashes mqttd writes are
 * accepted by Debian's real mosquitto 2.0 broker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCommand } from '../helpers/processes';
import { startMosquitto } from '../helpers/mosquitto';
import { PasswdFile } from '../../src/auth/PasswdFile';
import { hashPassword } from '../../src/auth/PasswordHash';

const PASSWD = '/usr/bin/mosquitto_passwd';

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-auth-'));
  // mosquitto drops root privileges to its own user before reading password_file.
  chmodSync(dir, 0o755);
  return dir;
}

test('files written by the real mosquitto_passwd (-c -b, default and -H sha512) verify in mqttd', async (t) => {
  if (!hasCommand('mosquitto_passwd')) return t.skip('mosquitto_passwd not installed');
  const dir = tempDir();
  try {
    const file = join(dir, 'passwd');
    execFileSync(PASSWD, ['-c', '-b', file, 'alice', 'wonder land']);
    execFileSync(PASSWD, ['-b', file, 'bob', 'b0b:colon']);
    execFileSync(PASSWD, ['-H', 'sha512', '-b', file, 'carol', 'héllo']);
    const text = readFileSync(file, 'utf8');
    assert.match(text, /^alice:\$7\$101\$/m);
    assert.match(text, /^carol:\$6\$/m);
    const { file: passwd, errors } = await PasswdFile.load(file);
    assert.deepEqual(errors, []);
    assert.deepEqual(passwd.usernames().sort(), ['alice', 'bob', 'carol']);
    assert.equal(await passwd.verify('alice', 'wonder land'), true);
    assert.equal(await passwd.verify('alice', 'wonderland'), false);
    assert.equal(await passwd.verify('bob', 'b0b:colon'), true);
    assert.equal(await passwd.verify('bob', 'b0b'), false);
    assert.equal(await passwd.verify('carol', 'héllo'), true);
    assert.equal(await passwd.verify('carol', 'hello'), false);
    assert.equal(await passwd.verify('dave', 'anything'), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the real mosquitto_passwd edits a file mqttd wrote without harming mqttd's users", async (t) => {
  if (!hasCommand('mosquitto_passwd')) return t.skip('mosquitto_passwd not installed');
  const dir = tempDir();
  try {
    const file = join(dir, 'passwd');
    const passwd = PasswdFile.empty(file);
    passwd.setHash('erin', await hashPassword('pw7'));
    passwd.setHash('fred', await hashPassword('pw6', { algorithm: 'sha512' }));
    await passwd.save();
    // Deleting another user through the real tool must keep our lines intact.
    execFileSync(PASSWD, ['-b', file, 'gina', 'pwg']);
    execFileSync(PASSWD, ['-D', file, 'gina']);
    const { file: again, errors } = await PasswdFile.load(file);
    assert.deepEqual(errors, []);
    assert.equal(await again.verify('erin', 'pw7'), true);
    assert.equal(await again.verify('fred', 'pw6'), true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the real mosquitto 2.0 broker accepts $7$ and $6$ hashes written by hashPassword', async (t) => {
  if (!hasCommand('/usr/sbin/mosquitto')) return t.skip('mosquitto not installed');
  if (!hasCommand('mosquitto_pub')) return t.skip('mosquitto_pub not installed');
  const dir = tempDir();
  const file = join(dir, 'passwd');
  writeFileSync(file, `alice:${await hashPassword('right one')}\nbob:${await hashPassword('b pass', { algorithm: 'sha512' })}\n`);
  chmodSync(file, 0o644);
  const broker = await startMosquitto(['allow_anonymous false', `password_file ${file}`]);
  try {
    const pub = (user: string, password: string) =>
      spawnSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.port), '-u', user, '-P', password, '-t', 't', '-m', 'x'], {
        encoding: 'utf8',
        timeout: 10000,
      });
    assert.equal(pub('alice', 'right one').status, 0, broker.process.output());
    assert.equal(pub('bob', 'b pass').status, 0, broker.process.output());
    const wrong = pub('alice', 'wrong');
    assert.notEqual(wrong.status, 0);
    assert.match(wrong.stderr + wrong.stdout, /not authori[sz]ed|refused/i);
    assert.notEqual(pub('bob', 'right one').status, 0);
  } finally {
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

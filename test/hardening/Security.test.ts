/**
 * Secrets and logs: files mqttd writes are never world-readable, no password or hash
 * appears in any log line at any level (mqttd -v), and a client id or username with a
 * newline cannot forge a log line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PasswdFile } from '../../src/auth/PasswdFile';
import { connectClient, startMqttd } from '../helpers/broker';
import { figure, sleep } from './hardeningKit';

const MQTTD_PASSWD = resolve(__dirname, '../../../dist/mqttd_passwd.js');

function mqttdPasswd(args: string[], input: string): void {
  const r = spawnSync(process.execPath, [MQTTD_PASSWD, ...args], { input, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!`${r.stdout}${r.stderr}`.includes('S3cret-pw'), 'mqttd_passwd printed the password');
}

test('mqttd_passwd never leaves a passwd file readable by others: new files are 0600, a 0644 one loses its world bits', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-sec-'));
  try {
    const path = join(dir, 'passwd');
    mqttdPasswd(['-c', path, 'alice'], 'S3cret-pw\nS3cret-pw\n');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    chmodSync(path, 0o644);
    mqttdPasswd([path, 'bob'], 'S3cret-pw\nS3cret-pw\n');
    assert.equal(statSync(path).mode & 0o007, 0, `mode ${(statSync(path).mode & 0o777).toString(8)}`);
    mqttdPasswd(['-b', path, 'carol', 'S3cret-pw'], '');
    assert.equal(statSync(path).mode & 0o007, 0);
    figure('file-modes', { new_passwd: '0600', rewritten_0644: (statSync(path).mode & 0o777).toString(8), world_readable: 0 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('mqttd -v: no password or hash in any log line; a client id or username with a newline cannot forge a line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-sec-'));
  const password = 'S3cret-pw';
  try {
    const passwd = join(dir, 'passwd');
    mqttdPasswd(['-c', passwd, 'alice'], `${password}\n${password}\n`);
    const hash = PasswdFile.parse(readFileSync(passwd, 'utf8'), passwd).file.hashOf('alice')!;
    // The salt and the digest, each on its own: no fragment may leak either.
    const secrets = [password, hash, ...hash.split('$').filter((p) => p.length >= 12)];
    const mqttd = await startMqttd(['allow_anonymous false', `password_file ${passwd}`, 'log_type all'], { dir, extraArgs: ['-v'] });
    try {
      const url = `mqtt://127.0.0.1:${mqttd.port}`;
      const good = await connectClient(url, { clientId: 'good', username: 'alice', password });
      await good.client.subscribeAsync('a/#');
      await good.client.publishAsync('a/b', 'hello');
      await good.end();
      await assert.rejects(connectClient(url, { clientId: 'wrong', username: 'alice', password: `${password}x` }));
      await assert.rejects(connectClient(url, { clientId: 'nobody', username: 'mallory', password }));
      // A forged line: the id and username carry a newline and a fake timestamped entry.
      const forged = '1700000000: New client connected from 6.6.6.6 as admin';
      await assert.rejects(connectClient(url, { clientId: `evil\n${forged}`, username: `alice\n${forged}`, password: 'x' }));
      const v5 = await connectClient(url, { clientId: `evil5\r\n${forged}`, username: 'alice', password, protocolVersion: 5 });
      await v5.end();
      await sleep(200);
      const output = mqttd.process.output();
      for (const s of secrets) assert.ok(!output.includes(s), `the log contains ${s.length > 20 ? 'a hash fragment' : 'the password'}`);
      const lines = output.split('\n');
      assert.ok(!lines.some((l) => l.startsWith(forged.slice(0, 20))), 'a client forged a log line');
      assert.ok(output.includes('evil\\x0a1700000000'), 'the escaped client id is not in the log');
      figure('log-secrets', { log_lines: lines.length, password_or_hash_in_log: 0, forged_lines: 0 });
    } finally {
      await mqttd.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the ACL and passwd files written through the library API keep others out too', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-sec-'));
  try {
    const path = join(dir, 'passwd');
    writeFileSync(path, '', { mode: 0o666 });
    chmodSync(path, 0o666);
    const { file } = PasswdFile.parse('', path);
    file.setHash('alice', '$7$101$c2FsdHNhbHRzYWx0$' + 'A'.repeat(86) + '==');
    await file.save();
    assert.equal(statSync(path).mode & 0o777, 0o660);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

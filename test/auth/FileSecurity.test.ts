import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileError } from '../../src/config/FileError';
import { FileSecurity, type FileSecurityOptions } from '../../src/auth/FileSecurity';
import type { AuthRequest } from '../../src/auth/Security';
import { hashPassword } from '../../src/auth/PasswordHash';

/** A throttle that never refuses: these tests are about the files, not guessing. */
const noDelay = { baseDelayMs: 0, maxDelayMs: 0 };

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mqttd-security-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

function req(username?: string, password?: string, remoteAddress = '192.0.2.1'): AuthRequest {
  return { clientId: 'c', username, password: password === undefined ? undefined : Buffer.from(password), remoteAddress };
}

async function security(options: FileSecurityOptions): Promise<FileSecurity> {
  const s = new FileSecurity({ throttle: noDelay, ...options });
  await s.load();
  return s;
}

test(
  'allow_anonymous matrix, as mosquitto 2.0 decides',
  withDir(async (dir) => {
    const passwordFile = join(dir, 'passwd');
    writeFileSync(passwordFile, `alice:${await hashPassword('secret', { iterations: 2 })}\n`);
    type Case = [string, FileSecurityOptions, AuthRequest, string];
    const cases: Case[] = [
      ['no file, anonymous on: anonymous', { allowAnonymous: true }, req(), 'ok'],
      ['no file, anonymous on: any username', { allowAnonymous: true }, req('whoever', 'x'), 'ok'],
      ['no file, anonymous off: anonymous', { allowAnonymous: false }, req(), 'not-authorized'],
      ['no file, anonymous off: any username', { allowAnonymous: false }, req('alice', 'secret'), 'not-authorized'],
      ['file, anonymous on: anonymous', { allowAnonymous: true, passwordFile }, req(), 'ok'],
      ['file, anonymous on: right password', { allowAnonymous: true, passwordFile }, req('alice', 'secret'), 'ok'],
      ['file, anonymous on: wrong password', { allowAnonymous: true, passwordFile }, req('alice', 'nope'), 'bad-credentials'],
      ['file, anonymous on: unknown user', { allowAnonymous: true, passwordFile }, req('mallory', 'secret'), 'bad-credentials'],
      ['file, anonymous on: username, no password', { allowAnonymous: true, passwordFile }, req('alice'), 'bad-credentials'],
      ['file, anonymous off: anonymous', { allowAnonymous: false, passwordFile }, req(), 'not-authorized'],
      ['file, anonymous off: right password', { allowAnonymous: false, passwordFile }, req('alice', 'secret'), 'ok'],
      ['file, anonymous off: unknown user', { allowAnonymous: false, passwordFile }, req('mallory', 'x'), 'bad-credentials'],
      [
        'file, anonymous off: verified certificate identity',
        { allowAnonymous: false, passwordFile },
        { ...req('cert-user'), certificateIdentity: 'cert-user' },
        'ok',
      ],
    ];
    for (const [name, options, request, expected] of cases) {
      const s = await security(options);
      assert.equal(await s.authenticate(request), expected, name);
    }
  }),
);

test(
  'no ACL file: everything allowed; with one: its rules, and SUBSCRIBE refused when never readable',
  withDir(async (dir) => {
    const aclFile = join(dir, 'acl');
    writeFileSync(aclFile, 'topic read public/#\ntopic deny public/secret\nuser alice\ntopic readwrite alice/#\n');
    const open = await security({ allowAnonymous: true });
    const anon = { clientId: 'c' };
    assert.equal(open.canRead(anon, 'x'), true);
    assert.equal(open.canWrite(anon, 'x'), true);
    assert.equal(open.canSubscribe(anon, '#'), true);

    const s = await security({ allowAnonymous: true, aclFile });
    const alice = { clientId: 'a', username: 'alice' };
    assert.equal(s.canRead(anon, 'public/x'), true);
    assert.equal(s.canWrite(anon, 'public/x'), false);
    assert.equal(s.canRead(anon, 'public/secret'), false);
    assert.equal(s.canSubscribe(anon, 'public/#'), true);
    assert.equal(s.canSubscribe(anon, 'public/secret'), false);
    assert.equal(s.canSubscribe(anon, 'alice/#'), false);
    assert.equal(s.canWrite(alice, 'alice/x'), true);
    assert.equal(s.canSubscribe(alice, '#'), true);
  }),
);

test('publishing to $SYS is refused even without an ACL, except a bridge state topic', async () => {
  const s = await security({ allowAnonymous: true });
  const anon = { clientId: 'c' };
  assert.equal(s.canWrite(anon, '$SYS/broker/uptime'), false);
  assert.equal(s.canWrite(anon, '$SYS/broker/connection/myhost.bridge/state'), true);
  assert.equal(s.canRead(anon, '$SYS/broker/uptime'), true);
});

test(
  'per-line errors come back from load(), and the good lines still work',
  withDir(async (dir) => {
    const passwordFile = join(dir, 'passwd');
    const aclFile = join(dir, 'acl');
    writeFileSync(passwordFile, `broken line\nalice:${await hashPassword('secret', { iterations: 2 })}\nbob:cleartext\n`);
    writeFileSync(aclFile, 'user alice\ntopci read x\ntopic read alice/#\n');
    const s = new FileSecurity({ allowAnonymous: false, passwordFile, aclFile, throttle: noDelay });
    const errors = await s.load();
    assert.deepEqual(
      errors.map((e) => [e.file, e.line]),
      [
        [passwordFile, 1],
        [passwordFile, 3],
        [aclFile, 2],
      ],
    );
    assert.ok(errors.every((e) => !e.message.includes('cleartext')));
    assert.equal(await s.authenticate(req('alice', 'secret')), 'ok');
    assert.equal(await s.authenticate(req('bob', 'cleartext')), 'bad-credentials');
    assert.equal(s.canRead({ clientId: 'c', username: 'alice' }, 'alice/1'), true);
  }),
);

test(
  'a reload that cannot read a file keeps the previous users and rules, and says why',
  withDir(async (dir) => {
    const passwordFile = join(dir, 'passwd');
    const aclFile = join(dir, 'acl');
    writeFileSync(passwordFile, `alice:${await hashPassword('one', { iterations: 2 })}\n`);
    writeFileSync(aclFile, 'user alice\ntopic read a/#\n');
    const s = await security({ allowAnonymous: false, passwordFile, aclFile });
    const alice = { clientId: 'c', username: 'alice' };

    unlinkSync(aclFile);
    writeFileSync(passwordFile, `bob:${await hashPassword('two', { iterations: 2 })}\n`);
    const failed = await s.reload();
    assert.equal(failed.applied, false);
    assert.equal(failed.errors.length, 1);
    assert.ok(failed.errors[0] instanceof FileError);
    assert.equal(failed.errors[0].file, aclFile);
    assert.match(failed.errors[0].message, /ENOENT/);
    // Neither file was applied: alice and her rules are still in force, bob is not.
    assert.equal(await s.authenticate(req('alice', 'one')), 'ok');
    assert.equal(await s.authenticate(req('bob', 'two')), 'bad-credentials');
    assert.equal(s.canRead(alice, 'a/1'), true);

    writeFileSync(aclFile, 'user bob\ntopic read b/#\n');
    const ok = await s.reload();
    assert.deepEqual(ok, { applied: true, errors: [] });
    assert.equal(await s.authenticate(req('alice', 'one')), 'bad-credentials');
    assert.equal(await s.authenticate(req('bob', 'two')), 'ok');
    assert.equal(s.canRead(alice, 'a/1'), false);
    assert.equal(s.canRead({ clientId: 'c', username: 'bob' }, 'b/1'), true);
  }),
);

test(
  'load() rejects with the FileError of an unreadable file, and until then the broker fails closed',
  withDir(async (dir) => {
    const passwordFile = join(dir, 'missing-passwd');
    const aclFile = join(dir, 'missing-acl');
    const s = new FileSecurity({ allowAnonymous: true, passwordFile, aclFile, throttle: noDelay });
    await assert.rejects(s.load(), (err: unknown) => err instanceof FileError && err.file === passwordFile);
    assert.equal(await s.authenticate(req('alice', 'x')), 'bad-credentials');
    assert.equal(s.canRead({ clientId: 'c' }, 'a'), false);
    assert.equal(s.canWrite({ clientId: 'c' }, 'a'), false);
    assert.equal(s.canSubscribe({ clientId: 'c' }, '#'), false);
  }),
);

test(
  'wrong passwords get the pair (address, user) refused at once for a while, not another address or a known device',
  withDir(async (dir) => {
    const passwordFile = join(dir, 'passwd');
    writeFileSync(passwordFile, `alice:${await hashPassword('secret', { iterations: 2 })}\n`);
    let t = 1_000_000;
    const s = await security({ allowAnonymous: false, passwordFile, throttle: { allowance: 0, baseDelayMs: 100, now: () => t } });
    const at = (clientId: string, password: string, remoteAddress: string): AuthRequest => ({ ...req('alice', password, remoteAddress), clientId });
    // The phone logs in once: from now on it is a known device on that address.
    assert.equal(await s.authenticate(at('phone', 'secret', '198.51.100.9')), 'ok');
    assert.equal(await s.authenticate(at('bot', 'guess0', '198.51.100.9')), 'bad-credentials');
    assert.equal(await s.authenticate(at('bot', 'secret', '198.51.100.9')), 'rate-limited', 'refused unchecked, even the right password');
    assert.equal(await s.authenticate(at('tablet', 'secret', '203.0.113.5')), 'ok', 'another address is not slowed');
    assert.equal(await s.authenticate(at('phone', 'secret', '198.51.100.9')), 'ok', 'a known device is not slowed');
    assert.equal(await s.authenticate(at('bot', 'guess1', '198.51.100.9')), 'rate-limited', "the phone's success did not clear the bot's failures");
    t += 100;
    assert.equal(await s.authenticate(at('bot', 'guess1', '198.51.100.9')), 'bad-credentials');
    assert.equal(await s.authenticate(at('bot', 'guess2', '198.51.100.9')), 'rate-limited');
    // Unknown usernames count as failures too.
    assert.equal(await s.authenticate({ ...req('nobody', 'x', '198.51.100.10') }), 'bad-credentials');
    assert.equal(await s.authenticate({ ...req('nobody', 'x', '198.51.100.10') }), 'rate-limited');
  }),
);

test(
  'beyond the password-check queue a login is refused at once as server-busy',
  withDir(async (dir) => {
    const passwordFile = join(dir, 'passwd');
    writeFileSync(passwordFile, `alice:${await hashPassword('secret', { iterations: 2 })}\n`);
    const s = await security({ allowAnonymous: false, passwordFile, checks: { concurrency: 1, maxQueued: 1 } });
    // All three start in one turn: one runs, one waits, the third finds the queue full.
    const results = await Promise.all(
      ['192.0.2.1', '192.0.2.2', '192.0.2.3'].map((a) => s.authenticate(req('alice', 'secret', a))),
    );
    assert.deepEqual(results, ['ok', 'ok', 'server-busy']);
  }),
);

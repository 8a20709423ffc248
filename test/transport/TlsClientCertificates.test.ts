/**
 * Client certificates on a TLS listener of the real daemon: which CAs it trusts (cafile,
 * capath) and never Node's public roots. The "public" CA is a second self-made CA that the
 * daemon's Node is told to trust by default (NODE_EXTRA_CA_CERTS extends Node's root store,
 * which is what a listener without `ca` would fall back to).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MQTTD, connectClient, startMqttd, subackCodes } from '../helpers/broker';
import { mosquittoSub, run } from '../helpers/brokerTools';
import { freePort } from '../helpers/ports';
import { hasCommand } from '../helpers/processes';
import { makeTestCertificates } from '../cli/testCertificates';

const enabled = hasCommand('openssl') && hasCommand('mosquitto_sub');
let dir: string;
const file = (name: string) => join(dir, name);

before(async () => {
  if (!enabled) return;
  dir = mkdtempSync(join(tmpdir(), 'mqttd-tls-client-'));
  // ca, server, client (CN alice, from ca), otherca, rogue (CN alice, from otherca), capath/ (ca, rehashed).
  await makeTestCertificates(dir);
  mkdirSync(file('plain-capath'));
  copyFileSync(file('ca.crt'), file('plain-capath/ca.crt'));
  mkdirSync(file('empty-capath'));
  writeFileSync(file('empty-capath/README'), 'no certificates here\n');
  writeFileSync(file('passwd-empty'), '');
  writeFileSync(file('acl'), 'user alice\ntopic readwrite alice/#\n');
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The daemon's Node trusts otherca as if it were a public root CA. */
const otherCaIsPublic = () => ({ env: { NODE_EXTRA_CA_CERTS: file('otherca.crt') } });
const server = () => [`certfile ${file('server.crt')}`, `keyfile ${file('server.key')}`];
const trust = () => ({ ca: readFileSync(file('ca.crt')), rejectUnauthorized: true });
const asAlice = () => ({ ...trust(), cert: readFileSync(file('client.crt')), key: readFileSync(file('client.key')) });
const asRogue = () => ({ ...trust(), cert: readFileSync(file('rogue.crt')), key: readFileSync(file('rogue.key')) });
const subOnce = (port: number, cert: string, topic: string) =>
  mosquittoSub(port, ['--cafile', file('ca.crt'), '--cert', file(`${cert}.crt`), '--key', file(`${cert}.key`), '-t', topic, '-W', '1', '-C', '1']);

describe('TLS client certificates', { skip: !enabled && 'openssl or mosquitto clients missing' }, () => {
  test('require_certificate with capath: a certificate from the capath CA gets in, one from another CA does not', async () => {
    const d = await startMqttd([...server(), `capath ${file('capath')}`, 'require_certificate true', 'allow_anonymous true'], otherCaIsPublic());
    try {
      const url = `mqtts://127.0.0.1:${d.port}`;
      const ok = await connectClient(url, asAlice());
      await ok.end();
      await assert.rejects(connectClient(url, asRogue()), 'a certificate from a CA outside capath');
      await assert.rejects(connectClient(url, trust()), 'no client certificate');
      // mosquitto_sub -W 1 exits 27 when it was connected and the wait ran out, non-zero before.
      const good = await subOnce(d.port, 'client', 'x');
      assert.equal(good.code, 27, `connected, then timed out: ${good.stderr}`);
      const bad = await subOnce(d.port, 'rogue', 'x');
      assert.notEqual(bad.code, 27, 'mosquitto_sub with a certificate from another CA never connects');
      assert.notEqual(bad.code, 0);
    } finally {
      await d.stop();
    }
  });

  test('capath of plain *.crt files (never rehashed) works as well', async () => {
    const d = await startMqttd([...server(), `capath ${file('plain-capath')}`, 'require_certificate true', 'allow_anonymous true'], otherCaIsPublic());
    try {
      const ok = await connectClient(`mqtts://127.0.0.1:${d.port}`, asAlice());
      await ok.end();
      await assert.rejects(connectClient(`mqtts://127.0.0.1:${d.port}`, asRogue()));
    } finally {
      await d.stop();
    }
  });

  test('use_identity_as_username with capath: the capath CA\'s alice logs in, a foreign CA\'s "alice" never does', async () => {
    const d = await startMqttd(
      [
        ...server(),
        `capath ${file('capath')}`,
        'require_certificate true',
        'use_identity_as_username true',
        `password_file ${file('passwd-empty')}`,
        `acl_file ${file('acl')}`,
        'allow_anonymous false',
      ],
      otherCaIsPublic(),
    );
    try {
      const url = `mqtts://127.0.0.1:${d.port}`;
      const alice = await connectClient(url, asAlice());
      assert.deepEqual(await subackCodes(alice.client, 'alice/#'), [1], 'logged in as alice');
      await alice.end();
      await assert.rejects(connectClient(url, { ...asRogue(), username: 'alice' }), 'the foreign certificate is refused');
      await assert.rejects(connectClient(url, { ...asRogue(), protocolVersion: 5 }));
      const sub = await subOnce(d.port, 'rogue', 'alice/#');
      assert.notEqual(sub.code, 27, 'mosquitto_sub with the foreign "alice" never connects');
      assert.notEqual(sub.code, 0);
    } finally {
      await d.stop();
    }
  });

  test('require_certificate without use_identity_as_username: the certificate opens TLS, the password still decides', async () => {
    const pw = file('passwd-bob');
    const made = await run('mosquitto_passwd', ['-c', '-b', pw, 'bob', 'secret']);
    assert.equal(made.code, 0, made.stderr);
    const d = await startMqttd([...server(), `capath ${file('capath')}`, 'require_certificate true', `password_file ${pw}`, 'allow_anonymous false']);
    try {
      const url = `mqtts://127.0.0.1:${d.port}`;
      await assert.rejects(connectClient(url, asAlice()), 'a verified certificate alone is not a login (as mosquitto)');
      await assert.rejects(connectClient(url, { ...asAlice(), username: 'alice' }));
      const bob = await connectClient(url, { ...asAlice(), username: 'bob', password: 'secret' });
      await bob.end();
    } finally {
      await d.stop();
    }
  });

  for (const [what, capath, expected] of [
    ['an empty capath', 'empty-capath', /capath \S+empty-capath holds no CA certificate/],
    ['a missing capath', 'no-such-dir', /cannot read capath \S+no-such-dir: ENOENT/],
  ] as const) {
    test(`${what} is refused at start-up with a clear error, never replaced by Node's public roots`, async () => {
      const conf = file(`${capath}.conf`);
      writeFileSync(conf, [`listener ${await freePort()} 127.0.0.1`, ...server(), `capath ${file(capath)}`, 'require_certificate true', 'allow_anonymous true', ''].join('\n'));
      const r = await run(process.execPath, [MQTTD, '-c', conf]);
      assert.notEqual(r.code, 0, 'the daemon does not serve the listener');
      assert.match(r.stdout + r.stderr, expected);
    });
  }
});

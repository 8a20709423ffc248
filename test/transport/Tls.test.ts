/**
 * TLS and secure WebSocket listeners of the real daemon, with a CA, server and client
 * certificates made by `openssl` in the test.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectClient, startMqttd, subackCodes, type MqttdProcess } from '../helpers/broker';
import { mosquittoPub } from '../helpers/brokerTools';
import { makeCert } from '../helpers/certificates';
import { freePort } from '../helpers/ports';
import { hasCommand } from '../helpers/processes';

const enabled = hasCommand('openssl') && hasCommand('mosquitto_pub');
let dir: string;
const file = (name: string) => join(dir, name);

before(async () => {
  if (!enabled) return;
  dir = mkdtempSync(join(tmpdir(), 'mqttd-tls-'));
  await makeCert(dir, 'ca', 'mqttd test CA');
  await makeCert(dir, 'server', 'localhost', 'ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await makeCert(dir, 'alice', 'alice', 'ca', 'extendedKeyUsage=clientAuth\n');
  await makeCert(dir, 'rogue', 'alice');
  writeFileSync(file('acl'), 'user alice\ntopic readwrite alice/#\n');
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const tlsLines = () => [`certfile ${file('server.crt')}`, `keyfile ${file('server.key')}`, `cafile ${file('ca.crt')}`];
const trust = () => ({ ca: readFileSync(file('ca.crt')), rejectUnauthorized: true });
const asAlice = () => ({ cert: readFileSync(file('alice.crt')), key: readFileSync(file('alice.key')) });

describe('TLS listeners', { skip: !enabled && 'openssl or mosquitto clients missing' }, () => {
  test('TLS: MQTT.js and mosquitto_pub connect with the CA; a client that does not trust it fails', async () => {
    const d = await startMqttd([...tlsLines(), 'allow_anonymous true']);
    try {
      const url = `mqtts://127.0.0.1:${d.port}`;
      const sub = await connectClient(url, trust());
      await sub.client.subscribeAsync('tls/#', { qos: 1 });
      const r = await mosquittoPub(d.port, ['--cafile', file('ca.crt'), '-t', 'tls/x', '-m', 'secure', '-q', '1']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await sub.next()).payload, 'secure');
      await sub.end();
      await assert.rejects(connectClient(url, { rejectUnauthorized: true }), 'an untrusting client refuses the server');
      const plain = await mosquittoPub(d.port, ['-t', 'tls/x', '-m', 'plain']);
      assert.notEqual(plain.code, 0, 'plain MQTT on a TLS port fails');
      const again = await connectClient(url, trust());
      await again.end();
    } finally {
      await d.stop();
    }
  });

  test('require_certificate: only clients with a certificate from the CA get in', async () => {
    const d = await startMqttd([...tlsLines(), 'require_certificate true', 'allow_anonymous true']);
    try {
      const url = `mqtts://127.0.0.1:${d.port}`;
      await assert.rejects(connectClient(url, trust()), 'no client certificate');
      await assert.rejects(
        connectClient(url, { ...trust(), cert: readFileSync(file('rogue.crt')), key: readFileSync(file('rogue.key')) }),
        'a self-signed client certificate with the same CN',
      );
      const ok = await connectClient(url, { ...trust(), ...asAlice() });
      await ok.end();
      const r = await mosquittoPub(d.port, [
        '--cafile', file('ca.crt'), '--cert', file('alice.crt'), '--key', file('alice.key'), '-t', 'x', '-m', 'y',
      ]);
      assert.equal(r.code, 0, r.stderr);
    } finally {
      await d.stop();
    }
  });

  test('use_identity_as_username: the certificate CN is the username, for auth and ACL', async () => {
    const pw = file('passwd-empty');
    writeFileSync(pw, '');
    const d = await startMqttd([
      ...tlsLines(),
      'require_certificate true',
      'use_identity_as_username true',
      `password_file ${pw}`,
      `acl_file ${file('acl')}`,
      'allow_anonymous false',
    ]);
    try {
      // No password anywhere: the verified certificate is the credential.
      const c = await connectClient(`mqtts://127.0.0.1:${d.port}`, { ...trust(), ...asAlice(), username: 'mallory' });
      assert.deepEqual(await subackCodes(c.client, 'alice/#'), [1], 'alice\'s ACL applies');
      assert.deepEqual(await subackCodes(c.client, 'mallory/#'), [0x80], 'the CONNECT username is ignored');
      await c.client.publishAsync('alice/x', 'mine', { qos: 1 });
      assert.equal((await c.next()).payload, 'mine');
      await c.end();
    } finally {
      await d.stop();
    }
  });

  test('WSS: MQTT over secure WebSocket on its own listener, beside plain TCP', async () => {
    const wssPort = await freePort();
    const d: MqttdProcess = await startMqttd([
      'allow_anonymous true',
      `listener ${wssPort} 127.0.0.1`,
      'protocol websockets',
      ...tlsLines(),
    ]);
    try {
      const ws = await connectClient(`wss://127.0.0.1:${wssPort}/mqtt`, trust());
      const tcp = await connectClient(`mqtt://127.0.0.1:${d.port}`);
      await ws.client.subscribeAsync('wss/#', { qos: 2 });
      await tcp.client.publishAsync('wss/from-tcp', 'crossed', { qos: 2 });
      const m = await ws.next();
      assert.equal(m.payload, 'crossed');
      assert.equal(m.packet.qos, 2);
      const root = await connectClient(`wss://127.0.0.1:${wssPort}/`, { ...trust(), protocolVersion: 5 });
      await root.end();
      await Promise.all([ws.end(), tcp.end()]);
    } finally {
      await d.stop();
    }
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Broker } from '../../src/broker/Broker';
import { ControlServer } from '../../src/control/ControlServer';
import { silentLogger } from '../../src/log/Logger';

function call(url: string, method: string, httpMethod: string, body: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(url + method, { method: httpMethod }, (res) => {
      let out = '';
      res.on('data', (d: Buffer) => (out += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(out) as unknown }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('control server: 127.0.0.1 only, a 0600 file with URL and secret, and nothing answered without the secret', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-control-'));
  const file = join(dir, 'control');
  const broker = new Broker();
  const server = new ControlServer(broker, { file, cacheSize: 10 }, silentLogger());
  await server.start();
  try {
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const [url, token, rest] = readFileSync(file, 'utf8').split('\n');
    assert.equal(url, `http://127.0.0.1:${server.port}/`);
    assert.match(token, /^[0-9a-f]{64}$/);
    assert.equal(rest, '');

    assert.deepEqual(await call(url, 'clients', 'GET', ''), { status: 405, body: { error: 'POST only' } });
    assert.deepEqual(await call(url, 'clients', 'POST', 'nope\n{}'), { status: 401, body: { error: 'not authorised' } });
    assert.deepEqual(await call(url, 'publish', 'POST', `${token.toUpperCase()}\n{"topic":"a"}`), { status: 401, body: { error: 'not authorised' } });
    assert.equal(broker.retained.size + broker.stats.publishReceived, 0, 'a refused request does nothing');
    assert.deepEqual(await call(url, 'shutdown', 'POST', `${token}\n{}`), { status: 404, body: { error: 'unknown method shutdown' } });
    assert.deepEqual(await call(url, 'toString', 'POST', `${token}\n{}`), { status: 404, body: { error: 'unknown method toString' } });
    assert.deepEqual(await call(url, 'clients', 'POST', `${token}\n{not json`), { status: 200, body: { error: 'invalid request: not JSON' } });
    assert.deepEqual(await call(url, 'clients', 'POST', `${token}\n[1]`), { status: 200, body: { error: 'invalid request: expected a JSON object' } });
    assert.deepEqual(await call(url, 'clients', 'POST', `${token}\n`), { status: 200, body: { connected: [], offline: [] } });
    assert.deepEqual(await call(url, 'publish', 'POST', `${token}\n{"topic":"t","payload":"p","retain":true}`), { status: 200, body: { result: 'published' } });
    assert.equal(broker.retained.get('t')?.payload.toString(), 'p');
  } finally {
    await server.stop();
    broker.close();
  }
  assert.equal(existsSync(file), false, 'the file goes with the server');
  assert.equal(server.explorer.watching, false);
  rmSync(dir, { recursive: true, force: true });
});

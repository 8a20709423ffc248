/**
 * The config reader seen through the real daemon (`node dist/mqttd.js -c`): a bad file stops it
 * before it listens, with every bad line and no stack trace; a good one (with include_dir) gives
 * the listeners and security it describes, checked with a real MQTT client.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connectAsync } from 'mqtt';
import { freePort, waitForPort } from '../helpers/ports';
import { startProcess } from '../helpers/processes';

const MQTTD = resolve(__dirname, '../../../dist/mqttd.js');

describe('mqttd -c', () => {
  it('refuses to start on a bad file, printing every bad line and no stack trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mqttd-daemon-config-'));
    const port = await freePort();
    const file = join(dir, 'mqttd.conf');
    writeFileSync(file, `listener ${port} 127.0.0.1\nallow_anonymous yes\nbogus 1\r\npsk_hint x\n`);
    const daemon = startProcess(process.execPath, [MQTTD, '-c', file]);
    const code = await daemon.exited;
    const output = daemon.output();
    assert.equal(code, 3, output);
    assert.ok(output.includes(`${file}:2: allow_anonymous: expected true or false, got 'yes'`), output);
    assert.ok(output.includes(`${file}:3: unknown option 'bogus'`), output);
    assert.ok(output.includes(`${file}:4: option 'psk_hint' is a mosquitto option that mqttd does not support`), output);
    assert.doesNotMatch(output, /\n\s+at /, 'no stack trace');
  });

  /** Starts mqttd on a main file with one listener and an include_dir adding a second. */
  async function startWith(anonymous: boolean): Promise<{ ports: number[]; stop: () => Promise<void> }> {
    const dir = mkdtempSync(join(tmpdir(), 'mqttd-daemon-config-'));
    const ports = [await freePort(), await freePort()];
    mkdirSync(join(dir, 'conf.d'));
    writeFileSync(join(dir, 'conf.d', 'guests.conf'), `listener ${ports[1]} 127.0.0.1\nmax_connections 5\n`);
    writeFileSync(
      join(dir, 'mqttd.conf'),
      `# test\r\nlistener ${ports[0]} 127.0.0.1\r\nallow_anonymous ${anonymous}\r\ninclude_dir ${join(dir, 'conf.d')}\r\n`,
    );
    const daemon = startProcess(process.execPath, [MQTTD, '-c', join(dir, 'mqttd.conf')]);
    try {
      for (const port of ports) await waitForPort(port);
    } catch (err) {
      await daemon.stop();
      throw new Error(`${String(err)}\n${daemon.output()}`);
    }
    return { ports, stop: () => daemon.stop() };
  }

  it('listens where the file and its include_dir say; allow_anonymous true lets clients in', async () => {
    const daemon = await startWith(true);
    try {
      for (const port of daemon.ports) {
        const client = await connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 5000 });
        await client.endAsync();
      }
    } finally {
      await daemon.stop();
    }
  });

  it('allow_anonymous false refuses a client without credentials on every listener', async () => {
    const daemon = await startWith(false);
    try {
      for (const port of daemon.ports) {
        await assert.rejects(
          connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 5000 }),
          (err: Error & { code?: number }) => err.code === 5,
          `port ${port}`,
        );
      }
    } finally {
      await daemon.stop();
    }
  });
});

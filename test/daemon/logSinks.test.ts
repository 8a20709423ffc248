import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileSink } from '../../src/daemon/logSinks';
import { startMqttd } from '../helpers/broker';
import { tempDir } from '../openwrt/routerShell';

const SINKS = join(__dirname, '../../src/daemon/logSinks.js');

/** Runs log_dest syslog in a fresh node with PATH = `bin`, writing a line at each level. */
function logThroughSyslog(bin: string): { stderr: string } {
  const script = `
    const { logSinks } = require(${JSON.stringify(SINKS)});
    const [sink] = logSinks(['syslog'], () => {});
    for (const level of ['error', 'warning', 'notice', 'information', 'debug']) sink.write(level, 'line at ' + level);
    setTimeout(() => {}, 500);
  `;
  const r = spawnSync(process.execPath, ['-e', script], { env: { PATH: bin }, encoding: 'utf8' });
  return { stderr: r.stderr };
}

test('log_dest syslog: each line goes to `logger -t mqttd` at the priority of its level', async () => {
  const bin = tempDir('mqttd-logger-');
  const seen = join(bin, 'seen');
  // A logger that records its arguments and the lines it reads, as busybox logger reads stdin.
  writeFileSync(join(bin, 'logger'), `#!/bin/sh\nwhile IFS= read -r l; do echo "$* | $l" >> ${seen}; done\n`);
  chmodSync(join(bin, 'logger'), 0o755);
  logThroughSyslog(`${bin}:/usr/bin:/bin`);
  // The loggers outlive node by a moment: they finish once their stdin is closed.
  const lines = () => (existsSync(seen) ? readFileSync(seen, 'utf8').trim().split('\n') : []);
  for (let i = 0; i < 200 && lines().length < 5; i++) await new Promise((r) => setTimeout(r, 25));
  assert.deepEqual(lines().sort(), [
    '-t mqttd -p daemon.debug | line at debug',
    '-t mqttd -p daemon.err | line at error',
    '-t mqttd -p daemon.info | line at information',
    '-t mqttd -p daemon.notice | line at notice',
    '-t mqttd -p daemon.warning | line at warning',
  ]);
});

test('log_dest syslog without a logger command: every line, the first ones too, goes to stderr', () => {
  const { stderr } = logThroughSyslog(tempDir('mqttd-nologger-'));
  for (const level of ['error', 'warning', 'notice', 'information', 'debug']) assert.match(stderr, new RegExp(`line at ${level}`));
});

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mqttd-logsink-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test(
  'log_dest file: lines go through an append stream (nothing written during the call), all of them in order by close()',
  withDir(async (dir) => {
    const path = join(dir, 'mqttd.log');
    const errors: string[] = [];
    const sink = fileSink(path, (m) => errors.push(m));
    for (let i = 0; i < 1000; i++) sink.write('notice', `line ${i}`);
    // A synchronous append would have created the file by now.
    assert.equal(existsSync(path) ? readFileSync(path, 'utf8') : '', '');
    await sink.close!();
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 1000);
    assert.equal(lines[999], 'line 999');
    assert.equal(errors.length, 0, errors.join('\n'));
    // Appends, as mosquitto does: a restart keeps the old lines.
    const again = fileSink(path, (m) => errors.push(m));
    again.write('notice', 'after restart');
    await again.close!();
    assert.equal(readFileSync(path, 'utf8').trimEnd().split('\n').at(-1), 'after restart');
  }),
);

test(
  'a log file that cannot be written is reported once, its lines dropped, and nothing throws',
  withDir(async (dir) => {
    const path = join(dir, 'missing-dir', 'mqttd.log');
    const errors: string[] = [];
    const sink = fileSink(path, (m) => errors.push(m));
    sink.write('notice', 'first');
    await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < 100; i++) sink.write('notice', `line ${i}`);
    await new Promise((r) => setTimeout(r, 50));
    await sink.close!();
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.match(errors[0], /cannot write log file .*mqttd\.log: ENOENT/);
  }),
);

test(
  'the daemon flushes its log file at SIGTERM: the last lines are in the file',
  withDir(async (dir) => {
    const log = join(dir, 'mqttd.log');
    const m = await startMqttd([`log_dest file ${log}`, 'log_dest stderr', 'log_type all'], { dir });
    await m.stop();
    const text = readFileSync(log, 'utf8');
    assert.match(text, /mqttd version \S+ running/);
    assert.match(text, /mqttd version \S+ terminating/);
  }),
);

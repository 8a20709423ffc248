import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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

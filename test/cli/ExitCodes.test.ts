/**
 * Exit codes of mqttd, mqttd_pub, mqttd_sub and mqttd_passwd beside those of Debian's
 * mosquitto 2.0.11, mosquitto_pub, mosquitto_sub and mosquitto_passwd for the same
 * arguments and input: scripts written for one keep working with the other.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MQTTD } from '../helpers/broker';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto';
import { freePort } from '../helpers/ports';
import { commandFor, runCommand } from './cliRun';

let dir: string;
let refusing: MosquittoBroker;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mqttd-exit-'));
  refusing = await startMosquitto(['allow_anonymous false']);
});
after(async () => {
  await refusing.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function code(command: string, args: string[], stdin?: string): Promise<number | null> {
  return (await runCommand(command, args, stdin)).code;
}

test('mqttd exits as mosquitto 2.0.11 for command-line and configuration errors', async () => {
  const bad = join(dir, 'bad.conf');
  writeFileSync(bad, 'no_such_option 1\n');
  // Not compared: a listener whose port is in use. mosquitto exits 1; mqttd keeps serving the
  // other listeners and retries that one (docs/config.md, differences).
  const cases: string[][] = [['--bogus'], ['-c'], ['-p'], ['-p', '0'], ['-h'], ['--help'], ['-c', '/nonexistent.conf'], ['-c', bad]];
  for (const args of cases) {
    const mosquitto = await code('/usr/sbin/mosquitto', args);
    const mqttd = await code(process.execPath, [MQTTD, ...args]);
    // Pinned too, so that two runs that were both killed (null) or both started cannot pass.
    assert.equal(mosquitto, 3, `mosquitto ${args.join(' ')} (MOSQ_ERR_INVAL)`);
    assert.equal(mqttd, mosquitto, `mqttd ${args.join(' ')}`);
  }
});

test('mqttd_pub and mqttd_sub exit as mosquitto_pub and mosquitto_sub', async () => {
  const closedPort = String(await freePort());
  const refused = String(refusing.port);
  const cases: { tool: 'pub' | 'sub'; args: string[] }[] = [
    { tool: 'pub', args: [] },
    { tool: 'pub', args: ['--bogus'] },
    { tool: 'pub', args: ['-t', 'a', '-m', 'x', '-q', '3'] },
    { tool: 'pub', args: ['-t', 'a/#', '-m', 'x'] },
    { tool: 'pub', args: ['-h', '127.0.0.1', '-p', closedPort, '-t', 'a', '-m', 'x'] },
    { tool: 'pub', args: ['-h', '127.0.0.1', '-p', refused, '-t', 'a', '-m', 'x'] },
    { tool: 'pub', args: ['-h', '127.0.0.1', '-p', refused, '-t', 'a', '-m', 'x', '-V', '5'] },
    { tool: 'sub', args: [] },
    { tool: 'sub', args: ['-t', 'a', '-q', '3'] },
    { tool: 'sub', args: ['-h', '127.0.0.1', '-p', closedPort, '-t', 'a'] },
    { tool: 'sub', args: ['-h', '127.0.0.1', '-p', refused, '-t', 'a'] },
    { tool: 'sub', args: ['-h', '127.0.0.1', '-p', refused, '-t', 'a', '-V', '5'] },
  ];
  for (const c of cases) {
    const m = commandFor('mosquitto', c.tool);
    const d = commandFor('mqttd', c.tool);
    const mosquitto = await code(m.command, [...m.prefix, ...c.args]);
    const mqttd = await code(d.command, [...d.prefix, ...c.args]);
    // Every case is an error: a null (killed) or 0 on both sides would prove nothing.
    assert.ok(typeof mosquitto === 'number' && mosquitto !== 0, `mosquitto_${c.tool} ${c.args.join(' ')} exited ${mosquitto}`);
    assert.equal(mqttd, mosquitto, `${c.tool} ${c.args.join(' ')}`);
  }
});

test('mqttd_passwd exits as mosquitto_passwd: 2 for a password mismatch, 1 for an empty one', async () => {
  const original = join(dir, 'passwd');
  writeFileSync(original, 'a:$7$101$AAAAAAAAAAAAAAAA$AAAA\n');
  const cases: { args: string[]; stdin?: string }[] = [
    { args: [] },
    { args: ['--bogus'] },
    { args: ['-b', 'FILE', 'u'] },
    { args: ['-b', 'FILE', 'u', 'p'] },
    { args: ['-D', 'FILE', 'nobody'] },
    { args: ['-H', 'md5', '-b', 'FILE', 'u', 'p'] },
    { args: ['-b', 'FILE', 'u:x', 'p'] },
    { args: ['-I', '0', '-b', 'FILE', 'u', 'p'] },
    { args: ['-U', '/nonexistent'] },
    { args: ['FILE', 'u'], stdin: 'one\ntwo\n' },
    { args: ['FILE', 'u'], stdin: 'same\nsame\n' },
    { args: ['FILE', 'u'], stdin: '\n\n' },
    { args: ['FILE', 'u'], stdin: '' },
  ];
  for (const c of cases) {
    const results: (number | null)[] = [];
    for (const impl of ['mosquitto', 'mqttd'] as const) {
      const file = join(dir, `passwd-${impl}`);
      copyFileSync(original, file);
      const { command, prefix } = commandFor(impl, 'passwd');
      results.push(await code(command, [...prefix, ...c.args.map((a) => (a === 'FILE' ? file : a))], c.stdin));
    }
    assert.equal(typeof results[0], 'number', `mosquitto_passwd ${c.args.join(' ')} was killed`);
    assert.equal(results[1], results[0], `passwd ${c.args.join(' ')} <<< ${JSON.stringify(c.stdin)}`);
  }
});

test('mqttd_passwd -b refuses an empty password unless --allow-empty (mosquitto_passwd writes it)', async () => {
  const file = join(dir, 'passwd-empty');
  writeFileSync(file, '');
  const { command, prefix } = commandFor('mqttd', 'passwd');
  const refused = await runCommand(command, [...prefix, '-b', file, 'blank', '']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^Error: Empty password/);
  assert.equal((await runCommand(command, [...prefix, '--allow-empty', '-b', file, 'blank', ''])).code, 0);
});

// --version and --help: what OpenWrt's package tests and users call first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { commandFor, runCommand } from './cliRun';

const { version } = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string };

for (const tool of ['pub', 'sub'] as const) {
  test(`mqttd_${tool} --version prints package.json's version, exit 1 like mosquitto_${tool}`, async () => {
    const { command, prefix } = commandFor('mqttd', tool);
    const r = await runCommand(command, [...prefix, '--version']);
    assert.equal(r.stdout.toString(), `mqttd_${tool} version ${version} running on Node.js ${process.versions.node}.\n`);
    assert.equal(r.code, 1);
  });

  test(`mqttd_${tool} --help prints usage in mosquitto's layout`, async () => {
    const { command, prefix } = commandFor('mqttd', tool);
    const r = await runCommand(command, [...prefix, '--help']);
    const text = r.stdout.toString();
    assert.equal(r.code, 1);
    assert.match(text, new RegExp(`^mqttd_${tool} is a simple mqtt client`));
    assert.match(text, new RegExp(`\\nUsage: mqttd_${tool} \\{\\[-h host\\] \\[--unix path\\]`));
    for (const flag of [' -A :', ' -c :', ' -d :', ' -D :', ' -h :', ' -i :', ' -I :', ' -k :', ' -L :', ' -p :', ' -P :', ' -q :', ' -u :', ' -V :', ' -x :', ' --will-topic :', ' --cafile :', ' --insecure :']) {
      assert.ok(text.includes(`\n${flag}`), `${flag} is documented`);
    }
  });
}

test('mqttd_pub without a message prints the error and the usage, like mosquitto_pub', async () => {
  const { command, prefix } = commandFor('mqttd', 'pub');
  const r = await runCommand(command, [...prefix, '-t', 'x']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'Error: Both topic and message must be supplied.\n');
  assert.match(r.stdout.toString(), /^mqttd_pub is a simple mqtt client/);
});

/**
 * Rules in the shipped bundle (`node dist/mqttd.js`), with Debian's mosquitto clients: the
 * bundle starts its script worker from its own file, a real SIGHUP reloads the scripts
 * without dropping a connected client, and SIGTERM saves mqttd.state for the next start.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, startMqttd, type MqttdProcess } from '../helpers/broker';
import { hasCommand, waitForOutput } from '../helpers/processes';
import { tempDir, writeFiles } from './rulesTestKit';

const skip = !hasCommand('mosquitto_sub') && 'needs mosquitto-clients';

/** Subscriptions to `filter` the broker has logged (log_type subscribe: "<client id> <qos> <filter>"). */
function subscriptions(d: MqttdProcess, filter: string): number {
  return d.process.output().split('\n').filter((l) => l.endsWith(` 1 ${filter}`)).length;
}

/** mosquitto_sub for one message on `listen`, then mosquitto_pub; what the subscriber printed. */
async function roundTrip(d: MqttdProcess, topic: string, payload: string, listen: string): Promise<string> {
  const before = subscriptions(d, listen);
  const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(d.port), '-t', listen, '-C', '1', '-W', '5', '-q', '1']);
  let out = '';
  sub.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const done = new Promise<void>((resolve) => sub.on('close', () => resolve()));
  await eventually(() => subscriptions(d, listen) > before, `the subscription to ${listen}`);
  const port = d.port;
  spawnSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-t', topic, '-m', payload, '-q', '1']);
  await done;
  return out.trim();
}

test('the bundle runs script rules in its worker; SIGHUP reloads them with clients connected; SIGTERM keeps mqttd.state', { skip }, async () => {
  const dir = tempDir();
  const scripts = join(dir, 'rules.d');
  mkdirSync(scripts);
  const script = (reply: string): string => `module.exports = function (mqttd) {
  mqttd.on('ask', (m) => {
    mqttd.state.asked = (mqttd.state.asked || 0) + 1;
    mqttd.publish('answer', '${reply} ' + m.text + ' #' + mqttd.state.asked, { qos: 1 });
  });
};
`;
  writeFiles(scripts, { 'answer.js': script('v1') });
  const lines = [`rules_dir ${scripts}`, 'log_type all', 'allow_anonymous true', 'persistence true', `persistence_location ${dir}/`];
  let d = await startMqttd(lines, { dir });
  const port = d.port;
  let watcher: ReturnType<typeof spawn> | undefined;
  try {
    assert.equal(await roundTrip(d, 'ask', 'hi', 'answer'), 'v1 hi #1');

    // A client that stays connected across the reload.
    const before = subscriptions(d, 'answer');
    watcher = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-t', 'answer', '-q', '1']);
    let watched = '';
    watcher.stdout?.on('data', (b: Buffer) => (watched += b.toString()));
    await eventually(() => subscriptions(d, 'answer') > before, 'the watcher subscribed');
    writeFiles(scripts, { 'answer.js': script('v2') });
    d.process.child.kill('SIGHUP');
    await waitForOutput(d.process, /Reloading rules\.[\s\S]*Rules: 1 active/);
    assert.equal(await roundTrip(d, 'ask', 'again', 'answer'), 'v2 again #2', 'the new script, with the old state');
    // The connected client gets it too: it was not dropped by the reload.
    await eventually(() => /v2 again #2/.test(watched), 'the watcher, connected before the reload, gets the answer');
    assert.equal(watcher.exitCode, null);

    await d.stop();
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'mqttd-rules.json'), 'utf8')), { 'answer.js': { asked: 2 } });
    d = await startMqttd(lines, { dir, port });
    assert.equal(await roundTrip(d, 'ask', 'back', 'answer'), 'v2 back #3');
  } finally {
    watcher?.kill();
    await d.stop();
  }
});

/**
 * The examples of docs/rules.md, run as written: the Tasmota fan rule (rules file) and the
 * "front door open for 5 minutes" script (its 5 minutes shortened to 300 ms).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectClient } from '../helpers/broker';
import { startRulesDaemon, tempDir, writeFiles } from './rulesTestKit';

const DOC = readFileSync(join(__dirname, '../../../docs/rules.md'), 'utf8');

/** The fenced block whose first line is `first`. */
function block(first: string): string {
  const start = DOC.indexOf('```\n' + first) >= 0 ? DOC.indexOf('```\n' + first) + 4 : DOC.indexOf('```js\n' + first) + 6;
  assert.ok(start > 5, `docs/rules.md has a block starting ${first}`);
  return DOC.slice(start, DOC.indexOf('```', start));
}

test('docs/rules.md: the Tasmota fan rule switches the plug above 25 °C, at most once a minute', async () => {
  const dir = tempDir();
  writeFiles(dir, { 'rules.conf': block('# /etc/mqttd/rules.conf') });
  const d = await startRulesDaemon([`rules_file ${join(dir, 'rules.conf')}`], { dir });
  const c = await connectClient(d.url);
  try {
    await c.client.subscribeAsync('cmnd/#');
    await c.client.publishAsync('tele/livingroom/SENSOR', '{"AM2301":{"Temperature":24.9,"Humidity":40}}');
    await c.client.publishAsync('tele/livingroom/SENSOR', '{"AM2301":{"Temperature":25.4,"Humidity":40}}');
    await c.client.publishAsync('tele/livingroom/SENSOR', '{"AM2301":{"Temperature":26.0,"Humidity":40}}');
    const m = await c.next();
    assert.deepEqual([m.topic, m.payload], ['cmnd/livingroom/POWER', 'ON']);
    assert.equal(await c.nothingWithin(300), true, 'debounce 60: once');
  } finally {
    await c.end();
    await d.stop();
  }
});

test('docs/rules.md: the front-door script alerts when the door stays open, and not when it is closed in time', async () => {
  const dir = tempDir();
  const source = block('// /etc/mqttd/rules.d/door.js');
  assert.ok(source.includes('5 * 60 * 1000'));
  writeFiles(dir, { 'door.js': source.replace('5 * 60 * 1000', '300') });
  const d = await startRulesDaemon([`rules_dir ${dir}`], { dir });
  const c = await connectClient(d.url);
  try {
    await c.client.subscribeAsync('notify/#', { qos: 1 });
    await c.client.publishAsync('zigbee2mqtt/front_door', '{"contact":false}');
    await new Promise((r) => setTimeout(r, 100));
    await c.client.publishAsync('zigbee2mqtt/front_door', '{"contact":true}');
    assert.equal(await c.nothingWithin(600), true, 'closed in time: no alert');
    await c.client.publishAsync('zigbee2mqtt/front_door', '{"contact":false}');
    const m = await c.next(3000);
    assert.deepEqual([m.topic, m.payload], ['notify/phone', 'The front door has been open for 5 minutes']);
    assert.equal(d.status('door.js').state, 'active');
  } finally {
    await c.end();
    await d.stop();
  }
});

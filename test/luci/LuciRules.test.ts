import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { freePort, waitForPort } from '../helpers/ports';
import { startProcess, waitForOutput, type RunningProcess } from '../helpers/processes';
import { MQTTD_JS, pluginFiles, routerPath, tempDir, type PluginFiles } from '../openwrt/routerShell';
import { SHOTS, field, eventually as eventuallyWithin, luciSkip, startLuciBrowser, writeLanUci, type LuciBrowser } from './luciHarness';

// The Rules page end to end: rules added, edited, disabled and deleted in the browser are
// written to UCI; the real broker (started from that UCI file) rereads them on SIGHUP, as
// procd sends it on Save & Apply when only rule sections changed (files/etc/init.d/mqttd);
// real mosquitto clients trigger them; the page shows what the broker's status file says.

const skip = luciSkip();

let luci: LuciBrowser;
let broker: RunningProcess;
let files: PluginFiles;
let port = 0;

function open(): Promise<Page> {
  return luci.open('mqttd/rules', 1400);
}

function uci(): string {
  return readFileSync(luci.harness.uciPath, 'utf8');
}

/** As the harness's eventually, with the broker's log in the failure: the rules engine reports there. */
function eventually(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  return eventuallyWithin(check, what, 300, () => `broker output:\n${broker.output()}`);
}

/** Save & Apply: the UCI file is written, then procd's reload signals HUP and the broker rereads its rules. */
async function saveAndApply(page: Page): Promise<void> {
  const before = uci();
  const reloads = (broker.output().match(/Reloading rules/g) ?? []).length;
  await page.click('.cbi-page-actions .cbi-button-apply');
  await eventually(() => uci() !== before, 'the UCI file is written');
  broker.child.kill('SIGHUP');
  await eventually(() => (broker.output().match(/Reloading rules/g) ?? []).length > reloads && /Rules: \d+ active/.test(broker.output().split('Reloading rules').pop() ?? ''), 'the broker reloaded its rules');
}

/** Subscribes with mosquitto_sub, then publishes with mosquitto_pub; resolves with what the subscriber got (or ''). */
/** Subscriptions to `filter` the broker has logged (log_type subscribe: "<client id> <qos> <filter>"). */
function subscriptions(filter: string): number {
  return broker.output().split('\n').filter((l) => l.endsWith(` 0 ${filter}`)).length;
}

async function subscribed(filter: string, before: number): Promise<void> {
  await eventually(() => subscriptions(filter) > before, `the broker has the subscription to ${filter}`);
}

async function trigger(topic: string, payload: string, listen: string, waitSeconds = 3): Promise<string> {
  const before = subscriptions(listen);
  const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-t', listen, '-v', '-C', '1', '-W', String(waitSeconds)]);
  let out = '';
  sub.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<void>((resolve) => sub.on('close', () => resolve()));
  await subscribed(listen, before);
  spawnSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-t', topic, '-m', payload]);
  await done;
  return out;
}

async function statusRow(page: Page, rule: string): Promise<string[]> {
  return page.locator(`#mqttd-rules-status tr[data-rule="${rule}"] td`).allInnerTexts();
}

before(async () => {
  if (skip) return;
  const { bin } = routerPath();
  files = pluginFiles();
  port = await freePort();
  const uciPath = writeLanUci(port, files, [
    "\tlist log_type 'subscribe'",
    // The test reads the broker's log (reloads, subscriptions); on a router it goes to syslog.
    "\toption log_dest 'stderr'",
    `\toption rules_dir '${join(tempDir('mqttd-rules-'), 'rules.d')}'`,
  ]);
  broker = startProcess(process.execPath, [MQTTD_JS, '--uci', uciPath, '--network', 'lan=127.0.0.1']);
  await waitForPort(port);
  await waitForOutput(broker, /running/);
  luci = await startLuciBrowser(bin, files, uciPath);
});

after(async () => {
  await luci?.close();
  await broker?.stop();
});

test('Rules page: add a rule (bad values refused as the broker would), see it fire; edit it; disable it; delete it', { skip }, async () => {
  const page = await open();
  await page.waitForSelector('#mqttd-rules-status[data-running="1"]');
  const create = '#cbi-mqttd-rule .cbi-section-create';
  await page.fill(`${create} .cbi-section-create-name`, 'fan');
  await page.click(`${create} .cbi-button-add`);
  await page.waitForSelector('#cbi-mqttd-fan');

  await page.fill(field('fan', 'when'), 'tele/+x/SENSOR');
  await page.fill(field('fan', 'field'), 'json.AM2301.Temperature');
  await page.selectOption(field('fan', 'op'), '>');
  await page.fill(field('fan', 'value'), 'warm');
  await page.fill(field('fan', 'topic'), 'cmnd/<3>/POWER');
  await page.fill(field('fan', 'payload'), 'ON <temperature>');
  const before = uci();
  await page.click('.cbi-page-actions .cbi-button-apply');
  await page.waitForSelector('.alert-message.danger');
  const alert = await page.innerText('.alert-message.danger');
  for (const expected of ['"+" must be a whole level', 'compares numbers, not "warm"', 'Unknown placeholder <temperature>']) assert.ok(alert.includes(expected), `${expected} in ${alert}`);
  assert.equal(uci(), before, 'nothing saved while a value is invalid');
  for (const f of ['when', 'value', 'payload']) assert.match((await page.getAttribute(field('fan', f), 'class')) ?? '', /cbi-input-invalid/, f);

  await page.fill(field('fan', 'when'), 'tele/+/SENSOR');
  await page.fill(field('fan', 'value'), '25');
  await page.fill(field('fan', 'topic'), 'cmnd/<2>/POWER');
  await page.fill(field('fan', 'payload'), 'ON');
  await page.fill(field('fan', 'debounce'), '0');
  await page.locator('#cbi-mqttd-rule').screenshot({ path: join(SHOTS, 'luci-rules-add.png') });
  await saveAndApply(page);
  const text = uci();
  assert.match(text, /^config rule 'fan'$/m);
  assert.match(text, /^\toption when 'tele\/\+\/SENSOR'$/m);
  assert.match(text, /^\toption op '>'$/m);
  assert.match(text, /^\toption topic 'cmnd\/<2>\/POWER'$/m);

  // Cooler than 25: nothing. Warmer: the plug is switched, and the page shows it fired.
  assert.equal(await trigger('tele/plug1/SENSOR', '{"AM2301":{"Temperature":22}}', 'cmnd/#', 1), '');
  assert.equal(await trigger('tele/plug1/SENSOR', '{"AM2301":{"Temperature":26.5}}', 'cmnd/#'), 'cmnd/plug1/POWER ON\n');
  await page.waitForSelector('#mqttd-rules-status tr[data-rule="fan"][data-state="active"] td[data-title="Fired"] >> text=1', { timeout: 20000 });
  let row = await statusRow(page, 'fan');
  assert.equal(row[1], 'Simple');
  assert.equal(row[2], 'Active');
  assert.notEqual(row[4], '-', 'last fired is shown');
  assert.equal(row[5], '-', 'no error');
  assert.match(row[6], /mqttd:\d+$/, 'defined at the UCI file and line');
  await page.screenshot({ path: join(SHOTS, 'luci-rules-fired.png'), fullPage: true });

  // Edit: the payload carries the temperature now.
  await page.fill(field('fan', 'payload'), 'ON <json.AM2301.Temperature>');
  await saveAndApply(page);
  assert.equal(await trigger('tele/plug2/SENSOR', '{"AM2301":{"Temperature":27}}', 'cmnd/#'), 'cmnd/plug2/POWER ON 27\n');

  // Disable: kept in UCI, no longer fires.
  await page.uncheck(field('fan', 'enabled'));
  await saveAndApply(page);
  assert.match(uci(), /^\toption enabled '0'$/m);
  assert.equal(await trigger('tele/plug3/SENSOR', '{"AM2301":{"Temperature":30}}', 'cmnd/#', 1), '');
  await page.waitForSelector('#mqttd-rules-status tr[data-rule="fan"][data-state="disabled"]', { timeout: 20000 });
  row = await statusRow(page, 'fan');
  assert.equal(row[2], 'Disabled');

  // Delete: gone from UCI and from the broker.
  await page.click('#cbi-mqttd-fan .cbi-section-remove .cbi-button-remove');
  await saveAndApply(page);
  assert.doesNotMatch(uci(), /config rule/);
  await page.waitForSelector('#mqttd-rules-status tr[data-rule="fan"]', { state: 'detached', timeout: 20000 });
  assert.match(uci(), /^config listener 'lan'$/m);
  await page.close();
});

test('Rules page: a rule the broker refuses (edited by hand) shows as invalid with the broker\'s file:line message', { skip }, async () => {
  writeFileSync(luci.harness.uciPath, `${uci()}config rule 'hand'\n\toption every '10'\n\toption topic 'x/<topic>'\n`);
  luci.harness.reread();
  broker.child.kill('SIGHUP');
  const page = await open();
  await page.waitForSelector('#mqttd-rules-status tr[data-rule="hand"][data-state="invalid"]', { timeout: 20000 });
  const row = await statusRow(page, 'hand');
  assert.equal(row[2], 'Invalid');
  assert.match(row[5], /mqttd:\d+: rule 'hand': topic: a timer rule has no trigger message/);
  // The page's own check says the same for this section.
  await page.click('.cbi-page-actions .cbi-button-save');
  await page.waitForSelector('.alert-message.danger >> text=A timer rule has no trigger message');
  await page.close();
});

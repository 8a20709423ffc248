import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { freePort, waitForPort } from '../helpers/ports';
import { startProcess, type RunningProcess } from '../helpers/processes';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto';
import { loadUciConfig } from '../../src/config/UciConfig';
import { ConfigErrors } from '../../src/config/ConfigErrors';
import { MQTTD_JS, pluginFiles, routerPath, tempDir, type PluginFiles } from '../openwrt/routerShell';
import { SHOTS, field, eventually, luciSkip, startLuciBrowser, writeLanUci, type LuciBrowser } from './luciHarness';

// The whole path of a bridge made in LuCI: Settings writes UCI, the real broker reads that UCI
// file and connects to a real mosquitto, the Status page shows what the broker reports.

const skip = luciSkip('mosquitto_passwd');
const REMOTE_USER = 'router1';
const REMOTE_PASSWORD = 'S3cret pass#1';

let luci: LuciBrowser;
let upstream: MosquittoBroker;
let broker: RunningProcess | undefined;
let files: PluginFiles;
let port = 0;

async function tab(page: Page, sid: string, name: string): Promise<void> {
  await page.click(`#cbi-mqttd-${sid} .cbi-tabmenu li[data-tab="${name}"] a`);
}

/** Types an entry into a DynamicList and presses Enter, as a user adds one. */
async function addItem(page: Page, sid: string, option: string, value: string): Promise<void> {
  await page.fill(`${field(sid, option)} .add-item input`, value);
  await page.press(`${field(sid, option)} .add-item input`, 'Enter');
}

async function save(page: Page): Promise<void> {
  const before = readFileSync(luci.harness.uciPath, 'utf8');
  await page.click('.cbi-page-actions .cbi-button-save');
  await eventually(() => readFileSync(luci.harness.uciPath, 'utf8') !== before, 'the UCI file is written');
  await page.waitForSelector('#cbi-mqttd-bridge');
}

function uci(): string {
  return readFileSync(luci.harness.uciPath, 'utf8');
}

/** One message read from a broker (retained, so no race with the publisher). */
function readOne(brokerPort: number, topic: string, auth: string[] = []): string {
  return spawnSync('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(brokerPort), ...auth, '-t', topic, '-v', '-C', '1', '-W', '2'], { encoding: 'utf8' }).stdout;
}

before(async () => {
  if (skip) return;
  const dir = tempDir('mqttd-upstream-');
  const passwd = join(dir, 'passwd');
  spawnSync('mosquitto_passwd', ['-b', '-c', passwd, REMOTE_USER, REMOTE_PASSWORD]);
  // mosquitto started as root reads its password file after dropping to user mosquitto.
  chmodSync(dir, 0o755);
  chmodSync(passwd, 0o644);
  upstream = await startMosquitto(['allow_anonymous false', `password_file ${passwd}`]);

  const { bin } = routerPath();
  files = pluginFiles();
  port = await freePort();
  luci = await startLuciBrowser(bin, files, writeLanUci(port, files));
});

after(async () => {
  await luci?.close();
  await broker?.stop();
  await upstream?.stop();
});

test('Settings page: a bridge added in the browser is written to UCI; bad addresses, topics and names are refused in the page', { skip }, async () => {
  const page = await luci.open('mqttd/settings');
  const create = '#cbi-mqttd-bridge .cbi-section-create';

  // A section name UCI cannot hold is refused before anything is added.
  await page.fill(`${create} .cbi-section-create-name`, 'my-cloud');
  await page.click(`${create} .cbi-button-add`);
  assert.match((await page.getAttribute(`${create} .cbi-section-create-name`, 'class')) ?? '', /cbi-input-invalid/);
  assert.equal(await page.locator('#cbi-mqttd-bridge .cbi-section-node').count(), 0);

  await page.fill(`${create} .cbi-section-create-name`, 'upstream');
  await page.click(`${create} .cbi-button-add`);
  await page.waitForSelector('#cbi-mqttd-upstream');

  // Addresses: a bare IPv6 address (mosquitto would read its last group as the port) and a bad port.
  for (const bad of ['fd00::1', 'broker:99999']) {
    await addItem(page, 'upstream', 'address', bad);
    assert.match((await page.getAttribute(`${field('upstream', 'address')} .add-item input`, 'class')) ?? '', /cbi-input-invalid/, bad);
  }
  assert.equal(await page.locator(`${field('upstream', 'address')} .item`).count(), 0);
  await addItem(page, 'upstream', 'address', `127.0.0.1:${upstream.port}`);
  assert.deepEqual(await page.locator(`${field('upstream', 'address')} .item`).evaluateAll((els) => els.map((e) => e.getAttribute('data-value'))), [
    `127.0.0.1:${upstream.port}`,
  ]);
  await page.fill(field('upstream', 'remote_username'), REMOTE_USER);
  await page.fill(field('upstream', 'remote_password'), REMOTE_PASSWORD);
  assert.equal(await page.getAttribute(field('upstream', 'remote_password'), 'type'), 'password');
  await page.selectOption(field('upstream', 'bridge_protocol_version'), 'mqttv50');
  await page.locator('#cbi-mqttd-bridge').screenshot({ path: join(SHOTS, 'luci-settings-bridge.png') });

  await tab(page, 'upstream', 'topics');
  for (const bad of ['a/#/b out 1', 'x sideways', 'x out 3', '"" out', 'x out 1 bad/+ y/']) {
    await addItem(page, 'upstream', 'topic', bad);
    assert.match((await page.getAttribute(`${field('upstream', 'topic')} .add-item input`, 'class')) ?? '', /cbi-input-invalid/, bad);
  }
  await addItem(page, 'upstream', 'topic', 'sensors/# out 1 "" router1/');
  await addItem(page, 'upstream', 'topic', 'cmd/# in 1 "" router1/');
  await addItem(page, 'upstream', 'topic', '"" both 1 here/state there/state');
  await addItem(page, 'upstream', 'topic', 'a/#/b');
  await page.locator('#cbi-mqttd-bridge').screenshot({ path: join(SHOTS, 'luci-settings-bridge-topics.png') });
  await page.fill(`${field('upstream', 'topic')} .add-item input`, '');

  await tab(page, 'upstream', 'advanced');
  await page.fill(field('upstream', 'keepalive_interval'), '3');
  await page.fill(field('upstream', 'restart_timeout'), '1 2');
  await page.fill(field('upstream', 'bridge_max_queued_messages'), '50');

  // The keepalive is below the broker's minimum: nothing is saved.
  const before = uci();
  await page.click('.cbi-page-actions .cbi-button-save');
  await page.waitForSelector('.alert-message.danger >> text=between 5 and 65535');
  assert.equal(uci(), before);
  await page.fill(field('upstream', 'keepalive_interval'), '30');
  await save(page);

  const text = uci();
  assert.match(text, /^config bridge 'upstream'$/m);
  assert.match(text, new RegExp(`^\\tlist address '127\\.0\\.0\\.1:${upstream.port}'$`, 'm'));
  assert.match(text, /^\tlist topic 'sensors\/# out 1 "" router1\/'$/m);
  assert.match(text, /^\toption bridge_max_queued_messages '50'$/m);
  const [b] = loadUciConfig(luci.harness.uciPath, new Map([['lan', ['127.0.0.1']]])).bridges;
  assert.equal(b.name, 'upstream');
  assert.deepEqual(b.addresses, [{ host: '127.0.0.1', port: upstream.port }]);
  assert.deepEqual(b.topics, [
    { pattern: 'sensors/#', direction: 'out', qos: 1, localPrefix: '', remotePrefix: 'router1/' },
    { pattern: 'cmd/#', direction: 'in', qos: 1, localPrefix: '', remotePrefix: 'router1/' },
    { pattern: '', direction: 'both', qos: 1, localPrefix: 'here/state', remotePrefix: 'there/state' },
  ]);
  assert.equal(b.remoteUsername, REMOTE_USER);
  assert.equal(b.remotePassword, REMOTE_PASSWORD);
  assert.equal(b.protocolVersion, 5);
  assert.equal(b.keepaliveInterval, 30);
  assert.deepEqual(b.restartTimeout, { base: 1, cap: 2 });
  assert.equal(b.maxQueuedMessages, 50);
  assert.equal(b.tryPrivate, true);

  // The stored password is never sent back into the page.
  assert.equal(await page.inputValue(field('upstream', 'remote_password')), '');
  assert.equal((await page.content()).includes(REMOTE_PASSWORD), false);
  await page.close();
});

test('Status page: the real broker, started from that UCI file, connects the bridge to a real mosquitto and messages cross both ways', { skip }, async () => {
  broker = startProcess(process.execPath, [MQTTD_JS, '--uci', luci.harness.uciPath, '--network', 'lan=127.0.0.1']);
  await waitForPort(port);
  const page = await luci.open('mqttd/status');
  const row = 'tr[data-bridge="upstream"]';
  await page.waitForSelector(`${row}[data-state="connected"]`, { timeout: 30000 }).catch((err: Error) => {
    throw new Error(`${err.message}\nbroker output:\n${broker?.output() ?? ''}`);
  });

  // Out: a local retained message reaches the remote under the remote prefix.
  const auth = ['-u', REMOTE_USER, '-P', REMOTE_PASSWORD];
  spawnSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-t', 'sensors/kitchen', '-m', '21.5', '-r', '-q', '1']);
  await eventually(() => readOne(upstream.port, 'router1/sensors/#', auth) === 'router1/sensors/kitchen 21.5\n', 'sensors/kitchen on the remote');
  // In: a remote message arrives locally without the prefix.
  spawnSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(upstream.port), ...auth, '-t', 'router1/cmd/light', '-m', 'on', '-r', '-q', '1']);
  await eventually(() => readOne(port, 'cmd/#') === 'cmd/light on\n', 'cmd/light locally');

  // The page shows the bridge's figures from the status file.
  await page.waitForSelector(`${row} td[data-title="Messages in / out"] >> text=/^[1-9]\\d* \\/ [1-9]\\d*$/`, { timeout: 30000 });
  const cells = await page.locator(`${row} td`).allInnerTexts();
  assert.equal(cells[0], 'upstream');
  assert.equal(cells[1], 'Connected');
  assert.equal(cells[3], `127.0.0.1:${upstream.port}`);
  assert.equal(cells[4], '-');
  assert.equal(cells[6], '0');
  assert.equal(cells[7], '0');
  await page.screenshot({ path: join(SHOTS, 'luci-status-bridge.png'), fullPage: true });

  // The remote goes away: the page says so, with the broker's reason.
  await upstream.stop();
  await page.waitForSelector(`${row}[data-state="down"]`, { timeout: 30000 });
  await page.waitForSelector(`${row} td[data-title="Last error"] >> text=/refused|closed|lost|ECONN/i`, { timeout: 30000 });
  assert.equal(await page.innerText(`${row} td[data-title="State"]`), 'Down');
  await page.screenshot({ path: join(SHOTS, 'luci-status-bridge-down.png'), fullPage: true });
  await page.close();
});

test('Settings page: saving again keeps the stored password; "remove the stored password" and Delete remove it and the bridge', { skip }, async () => {
  const page = await luci.open('mqttd/settings');
  await page.fill(field('upstream', 'remote_clientid'), 'router1-site');
  await save(page);
  assert.match(uci(), /^\toption remote_password 'S3cret pass#1'$/m);
  assert.match(uci(), /^\toption remote_clientid 'router1-site'$/m);

  await page.check(field('upstream', 'clear_remote_password'));
  await save(page);
  assert.doesNotMatch(uci(), /remote_password|clear_remote_password/);
  assert.match(uci(), /^\toption remote_username 'router1'$/m);

  await page.click('#cbi-mqttd-upstream .cbi-section-remove .cbi-button-remove');
  await save(page);
  assert.doesNotMatch(uci(), /config bridge/);
  assert.match(uci(), /^config listener 'lan'$/m);
  await page.close();
});

/** Whether the broker's UCI reader accepts a bridge with this address entry and this topic entry. */
function brokerAccepts(address: string, topic: string): boolean {
  const path = join(tempDir('mqttd-probe-'), 'mqttd');
  const quoteUci = (v: string): string => `'${v.replace(/'/g, `'\\''`)}'`;
  writeFileSync(
    path,
    ["config listener 'l'", "\toption port '1883'", "\toption interface 'lan'", "config bridge 'probe'", `\tlist address ${quoteUci(address)}`, `\tlist topic ${quoteUci(topic)}`, ''].join('\n'),
  );
  try {
    loadUciConfig(path, new Map([['lan', ['127.0.0.1']]]));
    return true;
  } catch (err) {
    assert.ok(err instanceof ConfigErrors, String(err));
    return false;
  }
}

test("Settings page: the page accepts exactly the topic lines and addresses the broker's UCI reader accepts", { skip }, async () => {
  const page = await luci.open('mqttd/settings');
  await page.fill('#cbi-mqttd-bridge .cbi-section-create-name', 'probe');
  await page.click('#cbi-mqttd-bridge .cbi-section-create .cbi-button-add');
  await page.waitForSelector('#cbi-mqttd-probe');
  /** Adds the entry; true if the page took it (then removes it again), false if it marked it invalid. */
  const pageAccepts = async (option: string, value: string): Promise<boolean> => {
    await addItem(page, 'probe', option, value);
    const items = page.locator(`${field('probe', option)} .item`);
    if ((await items.count()) === 0) {
      assert.match((await page.getAttribute(`${field('probe', option)} .add-item input`, 'class')) ?? '', /cbi-input-invalid/, value);
      await page.fill(`${field('probe', option)} .add-item input`, '');
      return false;
    }
    assert.equal(await items.first().getAttribute('data-value'), value);
    await items.first().locator('.remove-item').click();
    return true;
  };

  // A bare IPv6 address is refused by both (mosquitto would read its last group as the port).
  const addresses = ['h', 'h:1', 'h:65535', 'h:0', 'h:65536', 'h:x', 'h:', ':1883', '[fd00::1]', '[fd00::1]:8883', '[fd00::1]:', 'fd00::1', 'a:1 b:2', 'a:1 b:0'];
  for (const address of addresses) assert.equal(await pageAccepts('address', address), brokerAccepts(address, 'x'), `address ${address}`);
  assert.equal(brokerAccepts('fd00::1', 'x'), false);

  await tab(page, 'probe', 'topics');
  const topics = [
    '#', '+/+ both 2', 'a/b IN 0', 'a out 01', 'a out -1', 'a out 3', 'a out x', 'a sideways', 'a out 1 x/',
    'a out 1 x/ y/', 'a out 1 x/ y/ z', 'a out 1 "" ""', '# out 0 a b', '# out 0 a/ b/', 'a/+ in 1 +/ b/',
    'a in 1 b/ c/#', '"" both 1 here/state there/state', '"" out 0 a', '"" out', 'a/#/b', 'a+', 'a out 1 #comment',
  ];
  for (const topic of topics) assert.equal(await pageAccepts('topic', topic), brokerAccepts('h', topic), `topic ${topic}`);
  await page.close();
});

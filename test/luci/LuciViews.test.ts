import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitForPort } from '../helpers/ports';
import { startProcess, type RunningProcess } from '../helpers/processes';
import { loadUciConfig } from '../../src/config/UciConfig';
import { REPO } from '../openwrt/openwrtRoot';
import { MQTTD_JS, pluginFiles, routerPath, tempDir, type PluginFiles } from '../openwrt/routerShell';
import { SHOTS, eventually as eventuallyWithin, luciSkip, startLuciBrowser, type LuciBrowser } from './luciHarness';

const skip = luciSkip();

let luci: LuciBrowser;
let broker: RunningProcess;
let files: PluginFiles;
let port = 0;

function connects(user: string, password: string): boolean {
  const r = spawnSync('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-u', user, '-P', password, '-t', 'x', '-E'], { encoding: 'utf8' });
  return r.status === 0;
}

function eventually(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  return eventuallyWithin(check, what, 100);
}

before(async () => {
  if (skip) return;
  const { bin } = routerPath();
  files = pluginFiles();
  writeFileSync(files.passwd, '', { mode: 0o640 });
  writeFileSync(files.acl, '# shipped rule\npattern readwrite users/%u/#\n', { mode: 0o640 });
  const uciPath = join(tempDir('mqttd-uci-'), 'mqttd');
  copyFileSync(join(REPO, 'files/etc/config/mqttd'), uciPath);

  port = await freePort();
  const conf = join(tempDir('mqttd-conf-'), 'mqttd.conf');
  writeFileSync(
    conf,
    [`listener ${port} 127.0.0.1`, 'allow_anonymous false', `password_file ${files.passwd}`, `acl_file ${files.acl}`, `status_file ${files.status}`, 'sys_interval 2', ''].join('\n'),
  );
  broker = startProcess(process.execPath, [MQTTD_JS, '-c', conf]);
  await waitForPort(port);
  luci = await startLuciBrowser(bin, files, uciPath);
});

after(async () => {
  await luci?.close();
  await broker?.stop();
});

test('Users page: add a user in the browser, and a real client connects with those credentials', { skip }, async () => {
  const page = await luci.open('mqttd/users');
  await page.fill('#mqttd-new-username', 'kitchen');
  await page.fill('#mqttd-new-password', 'Tom@to-42');
  await page.fill('#mqttd-new-password-again', 'Tom@to-42');
  await page.click('#mqttd-add-user');
  await page.waitForSelector('tr[data-username="kitchen"]');
  assert.match(readFileSync(files.passwd, 'utf8'), /^kitchen:\$7\$/m);
  await eventually(() => connects('kitchen', 'Tom@to-42'), 'kitchen connects');

  // A bad name is refused in the page; nothing reaches the router.
  const before = readFileSync(files.passwd, 'utf8');
  await page.fill('#mqttd-new-username', 'bad:name');
  await page.fill('#mqttd-new-password', 'x');
  await page.fill('#mqttd-new-password-again', 'x');
  await page.click('#mqttd-add-user');
  await page.waitForSelector('.alert-message.danger >> text=cannot contain ":"');
  assert.equal(readFileSync(files.passwd, 'utf8'), before);

  // A user name that is markup is shown as text, not run.
  await page.fill('#mqttd-new-username', '<img src=x onerror="document.body.dataset.xss=1">');
  await page.fill('#mqttd-new-password', 'pw');
  await page.fill('#mqttd-new-password-again', 'pw');
  await page.click('#mqttd-add-user');
  await page.waitForSelector('tr[data-username^="<img"]');
  assert.equal(await page.getAttribute('body', 'data-xss'), null);
  await page.screenshot({ path: join(SHOTS, 'luci-users.png'), fullPage: true });

  // Delete it again, and the temporary user too.
  await page.click('tr[data-username^="<img"] .cbi-button-remove');
  await page.waitForSelector('tr[data-username^="<img"]', { state: 'detached' });
  await page.close();
});

test('ACL page: grant a user a topic in the browser; the broker enforces it; a bad filter is refused', { skip }, async () => {
  const page = await luci.open('mqttd/acl');
  // The shipped pattern is shown, with its comment kept.
  assert.equal(await page.inputValue('tr[data-kind="pattern"] input'), 'users/%u/#');

  await page.click('#mqttd-add-user-block');
  await page.fill('input[data-user-index="0"]', 'kitchen');
  await page.selectOption('tr[data-kind="user-0"] select', 'read');
  await page.fill('tr[data-kind="user-0"] input', 'sensors/#');
  await page.click('button[data-add="user-0"]');
  await page.selectOption('tr[data-kind="user-0"] >> nth=1 >> select', 'write');
  await page.fill('tr[data-kind="user-0"] >> nth=1 >> input', 'sensors/kitchen/+');

  // An invalid filter: marked in the page, refused on save, file untouched.
  await page.click('button[data-add="anonymous"]');
  await page.fill('tr[data-kind="anonymous"] input', 'a/#/b');
  assert.equal(await page.getAttribute('tr[data-kind="anonymous"] input', 'class'), 'cbi-input-text cbi-input-invalid');
  const before = readFileSync(files.acl, 'utf8');
  await page.click('.cbi-button-save');
  await page.waitForSelector('.alert-message.danger >> text=must be a whole level');
  assert.equal(readFileSync(files.acl, 'utf8'), before);
  await page.screenshot({ path: join(SHOTS, 'luci-acl-invalid.png'), fullPage: true });

  await page.click('tr[data-kind="anonymous"] .cbi-button-remove');
  await page.click('.cbi-button-save');
  await page.waitForSelector('text=ACL saved and applied.');
  assert.equal(
    readFileSync(files.acl, 'utf8'),
    '# shipped rule\npattern readwrite users/%u/#\n\nuser kitchen\ntopic read sensors/#\ntopic write sensors/kitchen/+\n',
  );
  await page.screenshot({ path: join(SHOTS, 'luci-acl.png'), fullPage: true });
  await page.close();

  // Enforced by the real broker after the plugin's HUP: kitchen may read sensors/#, not other/#.
  await eventually(() => {
    const r = spawnSync('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-u', 'kitchen', '-P', 'Tom@to-42', '-t', 'other/#', '-C', '1', '-W', '5'], {
      encoding: 'utf8',
    });
    return /All subscription requests were denied/.test(r.stderr);
  }, 'other/# denied for kitchen');
  spawnSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-u', 'kitchen', '-P', 'Tom@to-42', '-t', 'sensors/kitchen/temp', '-m', '22', '-r', '-q', '1']);
  const read = spawnSync('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-u', 'kitchen', '-P', 'Tom@to-42', '-t', 'sensors/#', '-C', '1', '-W', '5', '-v'], {
    encoding: 'utf8',
  });
  assert.equal(read.stdout, 'sensors/kitchen/temp 22\n');
});

test('Status page: a connected client appears with its id, username and protocol', { skip }, async () => {
  const client = startProcess('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-u', 'kitchen', '-P', 'Tom@to-42', '-i', 'kitchen-sensor-1', '-t', 'sensors/#', '-V', 'mqttv5']);
  try {
    const page = await luci.open('mqttd/status');
    await page.waitForSelector('#mqttd-clients >> text=kitchen-sensor-1', { timeout: 20000 });
    const row = page.locator('#mqttd-clients tr', { hasText: 'kitchen-sensor-1' });
    const cells = await row.locator('td').allInnerTexts();
    assert.equal(cells[1], 'kitchen');
    assert.match(cells[2], /^127\.0\.0\.1(:\d+)?$/);
    assert.equal(cells[3], 'MQTT 5.0');
    assert.equal(await page.getAttribute('#mqttd-status', 'data-running'), '1');
    assert.match(await page.innerText('#mqttd-listeners'), new RegExp(`\\b${port}\\b`));
    await page.screenshot({ path: join(SHOTS, 'luci-status.png'), fullPage: true });
    await page.close();
  } finally {
    await client.stop();
  }
});

test('Settings page: UCI options and listeners are saved to /etc/config/mqttd; a bad port is refused', { skip }, async () => {
  const page = await luci.open('mqttd/settings');
  assert.equal(await page.isChecked('#widget\\.cbid\\.mqttd\\.general\\.allow_anonymous'), false);
  await page.screenshot({ path: join(SHOTS, 'luci-settings.png'), fullPage: true });

  await page.check('#widget\\.cbid\\.mqttd\\.general\\.allow_anonymous');
  await page.fill('#widget\\.cbid\\.mqttd\\.general\\.max_connections', '32');
  await page.click('#cbi-mqttd-listener > .cbi-button-add');
  const newRow = page.locator('tr[data-sid="new0"]');
  await newRow.locator('input[id$=".port"]').fill('99999');
  const before = readFileSync(luci.harness.uciPath, 'utf8');
  await page.click('.cbi-button-save');
  await page.waitForSelector('.alert-message.danger >> text=port number');
  assert.equal(readFileSync(luci.harness.uciPath, 'utf8'), before);

  await newRow.locator('input[id$=".port"]').fill('8884');
  await page.click('.cbi-button-save');
  await page.waitForSelector('tr[data-sid^="cfg"]');
  const config = loadUciConfig(luci.harness.uciPath, new Map([['lan', ['192.168.1.1']]]));
  assert.equal(config.allowAnonymous, true);
  assert.equal(config.maxConnections, 32);
  assert.deepEqual(
    config.listeners.map((l) => `${l.bindAddress}:${l.port}/${l.protocol}`),
    // The shipped loopback listener (the router's own shell), the LAN one, the new one.
    ['127.0.0.1:1883/mqtt', '192.168.1.1:1883/mqtt', '192.168.1.1:8884/mqtt'],
  );

  // The Limits tab: values the broker's reader would refuse are refused in the page, the rest
  // reach the broker's config as it reads them.
  await page.click('#cbi-mqttd-general .cbi-tabmenu li[data-tab="limits"] a');
  const limit = (name: string): string => `#widget\\.cbid\\.mqttd\\.general\\.${name}`;
  await page.fill(limit('max_packet_size'), '10');
  await page.fill(limit('memory_limit'), '16777216');
  const unchanged = readFileSync(luci.harness.uciPath, 'utf8');
  await page.click('.cbi-button-save');
  await page.waitForSelector('.alert-message.danger >> text=Expecting 0 or a whole number from 20');
  assert.equal(readFileSync(luci.harness.uciPath, 'utf8'), unchanged);
  await page.fill(limit('max_packet_size'), '65536');
  await page.fill(limit('max_retained_messages'), '2.5');
  await page.click('.cbi-button-save');
  await page.waitForSelector('.alert-message.danger >> text=Expecting a whole number from 0');
  await page.fill(limit('max_retained_messages'), '500');
  await page.click('#cbi-mqttd-general .cbi-tabmenu li[data-tab="general"] a');
  await page.check(limit('acl_pattern_allow_slash'));
  await page.click('.cbi-button-save');
  await eventually(() => loadUciConfig(luci.harness.uciPath, new Map([['lan', ['192.168.1.1']]])).memoryLimit === 16777216, 'the limits saved');
  const limited = loadUciConfig(luci.harness.uciPath, new Map([['lan', ['192.168.1.1']]]));
  assert.equal(limited.maxPacketSize, 65536);
  assert.equal(limited.maxRetainedMessages, 500);
  assert.equal(limited.aclPatternAllowSlash, true);
  await page.close();
});

test('Users page: a password changed in the browser works at once and the old one is refused', { skip }, async () => {
  const page = await luci.open('mqttd/users');
  await page.fill('tr[data-username="kitchen"] input[type="password"]', 'N3w-kitchen');
  await page.click('tr[data-username="kitchen"] .cbi-button-edit');
  await page.waitForSelector('text=Password changed for kitchen.');
  await eventually(() => connects('kitchen', 'N3w-kitchen') && !connects('kitchen', 'Tom@to-42'), 'new password only');
  await page.close();
});

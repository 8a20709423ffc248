import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitForPort } from '../helpers/ports';
import { hasCommand, startProcess, type RunningProcess } from '../helpers/processes';
import { REPO } from './openwrtRoot';
import { hasBundle, tempDir } from './routerShell';

const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const skip = !hasBundle() ? 'needs dist/ (npm run build)' : !hasCommand('mosquitto_sub') && 'needs mosquitto-clients';

let out = '';
const roots: Record<string, string> = {};
const control: Record<string, string> = {};
let broker: RunningProcess | undefined;

/** Unpacks an .ipk as opkg does: outer gzipped tar, then control.tar.gz and data.tar.gz. */
function unpack(ipk: string, name: string): void {
  const dir = join(out, name);
  mkdirSync(join(dir, 'CONTROL'), { recursive: true });
  mkdirSync(join(dir, 'root'), { recursive: true });
  const outer = execFileSync('tar', ['-tzf', ipk], { encoding: 'utf8' }).trim().split('\n');
  assert.deepEqual(outer, ['./debian-binary', './data.tar.gz', './control.tar.gz']);
  execFileSync('tar', ['-xzf', ipk, '-C', dir]);
  assert.equal(readFileSync(join(dir, 'debian-binary'), 'utf8'), '2.0\n');
  execFileSync('tar', ['-xzf', join(dir, 'control.tar.gz'), '-C', join(dir, 'CONTROL')]);
  execFileSync('tar', ['-xzf', join(dir, 'data.tar.gz'), '-C', join(dir, 'root')]);
  roots[name] = join(dir, 'root');
  control[name] = join(dir, 'CONTROL');
}

function field(pkg: string, name: string): string | undefined {
  const text = readFileSync(join(control[pkg], 'control'), 'utf8');
  return new RegExp(`^${name}: (.*)$`, 'm').exec(text)?.[1];
}

before(() => {
  if (skip) return;
  out = tempDir('mqttd-ipk-');
  const printed = execFileSync(process.execPath, [join(REPO, 'scripts/package-ipk.mjs'), '--out', out], { encoding: 'utf8' });
  assert.match(printed, new RegExp(`mqttd_${version}-r1_all\\.ipk`));
  unpack(join(out, `mqttd_${version}-r1_all.ipk`), 'mqttd');
  unpack(join(out, `luci-app-mqttd_${version}-r1_all.ipk`), 'luci-app-mqttd');
});

after(async () => {
  await broker?.stop();
});

test('the Makefile follows OpenWrt 24.10/25.x rules and agrees with package.json', () => {
  const makefile = readFileSync(join(REPO, 'Makefile'), 'utf8');
  assert.match(makefile, /^include \$\(TOPDIR\)\/rules\.mk$/m);
  assert.match(makefile, /^include \$\(INCLUDE_DIR\)\/package\.mk$/m);
  assert.match(makefile, new RegExp(`^PKG_VERSION:=${version.replace(/\./g, '\\.')}$`, 'm'));
  // apk (25.x): a plain dotted version and a bare integer release.
  assert.match(/^PKG_VERSION:=(.*)$/m.exec(makefile)?.[1] ?? '', /^\d+(\.\d+)*$/);
  assert.match(/^PKG_RELEASE:=(.*)$/m.exec(makefile)?.[1] ?? '', /^\d+$/);
  assert.match(makefile, /^PKG_BUILD_DEPENDS:=node\/host$/m);
  for (const v of ['PKG_LICENSE', 'PKG_MAINTAINER']) assert.match(makefile, new RegExp(`^${v}:=.+$`, 'm'));
  assert.match(makefile, /^\$\(eval \$\(call BuildPackage,mqttd\)\)$/m);
  assert.match(makefile, /^\$\(eval \$\(call BuildPackage,luci-app-mqttd\)\)$/m);
  // Every path the list installs exists in the tree (or is built into dist/).
  for (const line of readFileSync(join(REPO, 'files/install.list'), 'utf8').split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words.length !== 4 || line.trim().startsWith('#') || words[1] === 'link') continue;
    if (!words[2].startsWith('dist/')) assert.ok(existsSync(join(REPO, words[2])), `${words[2]} is listed but missing`);
  }
});

test('control files: versions, dependencies, user, conffiles and scripts', { skip }, () => {
  assert.equal(field('mqttd', 'Package'), 'mqttd');
  assert.equal(field('mqttd', 'Version'), `${version}-r1`);
  assert.equal(field('mqttd', 'Architecture'), 'all');
  assert.equal(field('mqttd', 'Depends'), 'libc, node');
  assert.equal(field('mqttd', 'Require-User'), 'mqttd=1883:mqttd=1883');
  assert.equal(field('luci-app-mqttd', 'Depends'), 'libc, mqttd, luci-base');
  assert.equal(field('luci-app-mqttd', 'Architecture'), 'all');
  // No passwd: an empty conffile makes opkg warn and leave passwd-opkg on every upgrade.
  assert.equal(readFileSync(join(control.mqttd, 'conffiles'), 'utf8'), '/etc/config/mqttd\n/etc/mqttd/acl\n');
  for (const [pkg, script] of [
    ['mqttd', 'postinst'],
    ['mqttd', 'prerm'],
    ['mqttd', 'postrm'],
    ['luci-app-mqttd', 'postinst'],
    ['luci-app-mqttd', 'postrm'],
  ]) {
    const path = join(control[pkg], script);
    assert.equal(statSync(path).mode & 0o777, 0o755, `${pkg} ${script}`);
    // Make's $$ became the shell's $, and busybox ash can parse the result.
    const text = readFileSync(path, 'utf8');
    assert.ok(!text.includes('$$'), text);
    execFileSync('busybox', ['ash', '-n', path]);
  }
  const postinst = readFileSync(join(control.mqttd, 'postinst'), 'utf8');
  assert.match(postinst, /default_postinst "\$0" "\$@"/);
  // default_postinst enables only on a first install; the script must not do it itself.
  assert.doesNotMatch(postinst, /init\.d\/mqttd enable/);
  assert.match(readFileSync(join(control['luci-app-mqttd'], 'postrm'), 'utf8'), /\/etc\/init\.d\/rpcd reload/);
});

test('data files: paths, modes, owners and command links', { skip }, () => {
  const list = execFileSync('tar', ['-tvzf', join(out, 'mqttd', 'data.tar.gz')], { encoding: 'utf8' });
  for (const line of list.trim().split('\n')) assert.match(line, / root\/root /, line);
  const root = roots.mqttd;
  const mode = (p: string): number => statSync(join(root, p)).mode & 0o777;
  assert.equal(mode('etc/init.d/mqttd'), 0o755);
  assert.equal(mode('etc/config/mqttd'), 0o640);
  assert.equal(existsSync(join(root, 'etc/mqttd/passwd')), false);
  assert.equal(mode('etc/mqttd/acl'), 0o640);
  for (const c of ['mqttd', 'mqttd_pub', 'mqttd_sub', 'mqttd_passwd']) {
    assert.equal(readlinkSync(join(root, 'usr/bin', c)), `../lib/mqttd/${c}.js`);
    assert.equal(mode(`usr/lib/mqttd/${c}.js`), 0o755);
  }
  const luci = roots['luci-app-mqttd'];
  assert.equal(statSync(join(luci, 'usr/libexec/rpcd/mqttd')).mode & 0o777, 0o755);
  for (const v of ['settings', 'users', 'acl', 'status', 'topics', 'live', 'publish', 'clients', 'rules']) assert.ok(existsSync(join(luci, `www/luci-static/resources/view/mqttd/${v}.js`)));
  for (const m of ['payload', 'topicfilter', 'dom']) assert.ok(existsSync(join(luci, `www/luci-static/resources/mqttd/${m}.js`)));
  assert.equal(statSync(join(luci, 'usr/libexec/rpcd/mqttd.explorer')).mode & 0o777, 0o755);
  for (const name of ['luci-app-mqttd', 'luci-app-mqttd-explorer']) {
    JSON.parse(readFileSync(join(luci, `usr/share/luci/menu.d/${name}.json`), 'utf8'));
    JSON.parse(readFileSync(join(luci, `usr/share/rpcd/acl.d/${name}.json`), 'utf8'));
  }
});

test('every installed command answers --version with the package version (OpenWrt CI check)', { skip }, () => {
  for (const c of ['mqttd', 'mqttd_pub', 'mqttd_sub', 'mqttd_passwd']) {
    const r = spawnSync(join(roots.mqttd, 'usr/bin', c), ['--version'], { encoding: 'utf8' });
    assert.match(r.stdout + r.stderr, new RegExp(`^${c} version ${version.replace(/\./g, '\\.')}\\b`), c);
  }
});

test('the unpacked package runs: mqttd --uci on a LAN address, a user made with its mqttd_passwd, a real client', { skip }, async () => {
  const root = roots.mqttd;
  const etc = tempDir('mqttd-pkg-etc-');
  const port = await freePort();
  const passwd = join(etc, 'passwd');
  writeFileSync(passwd, '');
  const made = spawnSync(join(root, 'usr/bin/mqttd_passwd'), [passwd, 'router'], { input: 'p4ss\np4ss\n', encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const uci = readFileSync(join(root, 'etc/config/mqttd'), 'utf8')
    .replaceAll("option port '1883'", `option port '${port}'`)
    .replace("option log_dest 'syslog'", "option log_dest 'stderr'")
    .replace("'/etc/mqttd/passwd'", `'${passwd}'`)
    .replace("'/etc/mqttd/acl'", `'${join(root, 'etc/mqttd/acl')}'`)
    .replace("'/etc/mqttd/data/'", `'${etc}/'`)
    .replace("'/var/run/mqttd/status.json'", `'${join(etc, 'status.json')}'`);
  writeFileSync(join(etc, 'mqttd'), uci);
  broker = startProcess(join(root, 'usr/bin/mqttd'), ['--uci', join(etc, 'mqttd'), '--network', 'lan=127.0.0.2']);
  await waitForPort(port);

  // The shipped ACL gives every user users/<name>/#; anonymous is off.
  const sub = startProcess('mosquitto_sub', ['-p', String(port), '-u', 'router', '-P', 'p4ss', '-t', 'users/router/#', '-C', '1', '-v']);
  const anon = spawnSync('mosquitto_sub', ['-p', String(port), '-t', 'x', '-E'], { encoding: 'utf8' });
  assert.notEqual(anon.status, 0);
  // Retained, so the subscriber gets it whenever it subscribes.
  const pub = spawnSync(join(root, 'usr/bin/mqttd_pub'), ['-p', String(port), '-u', 'router', '-P', 'p4ss', '-t', 'users/router/hello', '-m', 'from the package', '-r', '-q', '1'], {
    encoding: 'utf8',
  });
  assert.equal(pub.status, 0, pub.stderr);
  assert.equal(await sub.exited, 0, sub.output());
  // 'exit' can come before the last output is read: wait for the end of stdout.
  await new Promise((r) => {
    const stdout = sub.child.stdout;
    if (!stdout || stdout.readableEnded || stdout.destroyed) r(undefined);
    else stdout.once('close', r);
  });
  assert.equal(sub.output(), 'users/router/hello from the package\n');
});

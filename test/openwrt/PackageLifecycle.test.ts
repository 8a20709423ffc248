/**
 * Install, upgrade and removal of the real .ipk files the way opkg runs them (openwrt/opkg
 * libopkg: unpack data, keep modified conffiles and write the new one as <file>-opkg, run
 * postinst with PKG_UPGRADE=1 on upgrade, prerm/postrm around removal), against the
 * stand-ins of /lib/functions.sh (default_postinst, default_prerm), rc.common, procd and rpcd.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, canChroot, makeOpenwrtRoot, type OpenwrtRoot } from './openwrtRoot';
import { hasBundle, tempDir } from './routerShell';

const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const skip = !canChroot() ? 'needs root and busybox for the chroot' : !hasBundle() && 'needs dist/ (npm run build)';
let out = '';

before(() => {
  if (skip) return;
  out = tempDir('mqttd-ipk-life-');
  execFileSync(process.execPath, [join(REPO, 'scripts/package-ipk.mjs'), '--out', out], { encoding: 'utf8' });
});

const md5 = (path: string) => createHash('md5').update(readFileSync(path)).digest('hex');

/** opkg install / upgrade of one .ipk into the box. */
function opkgInstall(box: OpenwrtRoot, pkg: string, upgrade: boolean): void {
  const dir = tempDir('mqttd-unpack-');
  execFileSync('tar', ['-xzf', join(out, `${pkg}_${version}-r1_all.ipk`), '-C', dir]);
  mkdirSync(join(dir, 'control'));
  mkdirSync(join(dir, 'data'));
  execFileSync('tar', ['-xzf', join(dir, 'control.tar.gz'), '-C', join(dir, 'control')]);
  execFileSync('tar', ['-xzf', join(dir, 'data.tar.gz'), '-C', join(dir, 'data')]);
  const info = join(box.root, 'usr/lib/opkg/info');
  mkdirSync(info, { recursive: true });
  const conffiles = existsSync(join(dir, 'control/conffiles')) ? readFileSync(join(dir, 'control/conffiles'), 'utf8').split('\n').filter(Boolean) : [];
  const shipped = new Map<string, string>();
  const files = execFileSync('tar', ['-tzf', join(dir, 'data.tar.gz')], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.replace(/^\./, ''))
    .filter((l) => l !== '' && l !== '/' && !l.endsWith('/'));
  for (const f of files) {
    const target = join(box.root, f);
    // A conffile the user changed stays; the package's goes beside it (opkg: "-opkg").
    const old = readStatus(box, pkg).get(f);
    if (conffiles.includes(f) && existsSync(target) && old !== undefined && md5(target) !== old) {
      execFileSync('cp', ['-a', join(dir, 'data', f), `${target}-opkg`]);
    } else {
      mkdirSync(join(target, '..'), { recursive: true });
      rmSync(target, { force: true });
      execFileSync('cp', ['-a', join(dir, 'data', f), target]);
    }
    if (conffiles.includes(f)) shipped.set(f, md5(join(dir, 'data', f)));
  }
  writeFileSync(join(info, `${pkg}.list`), files.join('\n') + '\n');
  writeFileSync(join(info, `${pkg}.control`), readFileSync(join(dir, 'control/control')));
  writeFileSync(join(info, `${pkg}.conffiles-md5`), [...shipped].map(([f, h]) => `${f} ${h}`).join('\n') + '\n');
  for (const s of ['postinst', 'prerm', 'postrm']) {
    if (existsSync(join(dir, 'control', s))) execFileSync('cp', ['-a', join(dir, 'control', s), join(info, `${pkg}.${s}`)]);
  }
  const r = box.run(['/bin/sh', `/usr/lib/opkg/info/${pkg}.postinst`, 'configure'], upgrade ? { PKG_UPGRADE: '1' } : {});
  assert.equal(r.status, 0, `${pkg} postinst: ${r.stdout}${r.stderr}`);
}

function readStatus(box: OpenwrtRoot, pkg: string): Map<string, string> {
  const path = join(box.root, 'usr/lib/opkg/info', `${pkg}.conffiles-md5`);
  if (!existsSync(path)) return new Map();
  return new Map(
    readFileSync(path, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ') as [string, string]),
  );
}

/** opkg remove: prerm, the files (a modified conffile stays), postrm; then empty package dirs. */
function opkgRemove(box: OpenwrtRoot, pkg: string): void {
  const info = join(box.root, 'usr/lib/opkg/info');
  if (existsSync(join(info, `${pkg}.prerm`))) {
    const r1 = box.run(['/bin/sh', `/usr/lib/opkg/info/${pkg}.prerm`, 'remove']);
    assert.equal(r1.status, 0, r1.stderr);
  }
  const conffiles = readStatus(box, pkg);
  const files = readFileSync(join(info, `${pkg}.list`), 'utf8').split('\n').filter(Boolean);
  for (const f of files) {
    const target = join(box.root, f);
    const shipped = conffiles.get(f);
    if (shipped !== undefined && existsSync(target) && md5(target) !== shipped) continue;
    rmSync(target, { force: true });
  }
  if (existsSync(join(info, `${pkg}.postrm`))) {
    const r2 = box.run(['/bin/sh', `/usr/lib/opkg/info/${pkg}.postrm`, 'remove']);
    assert.equal(r2.status, 0, r2.stderr);
  }
  for (const s of ['list', 'control', 'conffiles-md5', 'postinst', 'prerm', 'postrm']) rmSync(join(info, `${pkg}.${s}`), { force: true });
}

function emptyDirs(root: string, under: string[]): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    if (!existsSync(d) || !statSync(d).isDirectory()) return;
    const names = readdirSync(d);
    if (names.length === 0) found.push(d.slice(root.length));
    for (const n of names) walk(join(d, n));
  };
  for (const u of under) walk(join(root, u));
  return found;
}

test('opkg install, upgrade and remove: user and passwd created, a disabled service stays disabled, nothing left behind', { skip }, () => {
  const box = makeOpenwrtRoot('', '', { broker: true });
  try {
    // A router before the package: no mqttd user, no config.
    writeFileSync(join(box.root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/ash\n');
    writeFileSync(join(box.root, 'etc/group'), 'root:x:0:\n');
    writeFileSync(join(box.root, 'etc/shadow'), '');
    rmSync(join(box.root, 'etc/config/mqttd'));
    rmSync(join(box.root, 'etc/mqttd'), { recursive: true });
    writeFileSync(join(box.root, 'etc/test-networks'), 'lan ipv4 127.0.0.2\n');
    // What luci-base and rpcd already put there, on any router with LuCI.
    for (const [path, text, mode] of [
      ['usr/libexec/rpcd/luci', '#!/bin/sh\necho "{}"\n', 0o755],
      ['usr/share/rpcd/acl.d/luci-base.json', '{}\n', 0o644],
      ['usr/share/luci/menu.d/luci-base.json', '{}\n', 0o644],
      ['www/luci-static/resources/view/status/index.js', '\n', 0o644],
    ] as const) {
      mkdirSync(join(box.root, path, '..'), { recursive: true });
      writeFileSync(join(box.root, path), text, { mode });
    }

    opkgInstall(box, 'mqttd', false);
    assert.match(readFileSync(join(box.root, 'etc/passwd'), 'utf8'), /^mqttd:x:1883:1883:/m);
    assert.match(readFileSync(join(box.root, 'etc/group'), 'utf8'), /^mqttd:x:1883:/m);
    const passwd = statSync(join(box.root, 'etc/mqttd/passwd'));
    assert.equal(passwd.size, 0);
    assert.equal(passwd.mode & 0o777, 0o640);
    assert.ok(existsSync(join(box.root, 'etc/rc.d/S80mqttd')), 'a first install enables the service');
    assert.ok(box.pid(), 'and starts it');

    // The user adds someone and disables the service; an upgrade keeps both.
    writeFileSync(join(box.root, 'etc/mqttd/passwd'), 'alice:$7$101$abc$def\n');
    assert.equal(box.initd('disable').status, 0);
    assert.equal(existsSync(join(box.root, 'etc/rc.d/S80mqttd')), false);
    opkgInstall(box, 'mqttd', true);
    assert.equal(existsSync(join(box.root, 'etc/rc.d/S80mqttd')), false, 'the upgrade left it disabled');
    assert.equal(readFileSync(join(box.root, 'etc/mqttd/passwd'), 'utf8'), 'alice:$7$101$abc$def\n');
    assert.equal(existsSync(join(box.root, 'etc/mqttd/passwd-opkg')), false, 'no passwd-opkg beside the users file');

    // LuCI app: rpcd learns the mqttd and mqttd.explorer objects on install and forgets them on removal.
    mkdirSync(join(box.root, 'tmp/luci-modulecache'), { recursive: true });
    writeFileSync(join(box.root, 'tmp/luci-indexcache.json'), '{}');
    assert.equal(box.run(['/etc/init.d/rpcd', 'start']).status, 0);
    opkgInstall(box, 'luci-app-mqttd', false);
    assert.deepEqual(readFileSync(join(box.root, 'var/run/rpcd.objects'), 'utf8').split('\n').filter(Boolean), ['luci', 'mqttd', 'mqttd.explorer']);
    writeFileSync(join(box.root, 'tmp/luci-indexcache.json'), '{}');
    opkgRemove(box, 'luci-app-mqttd');
    assert.deepEqual(readFileSync(join(box.root, 'var/run/rpcd.objects'), 'utf8'), 'luci\n', 'rpcd no longer lists mqttd');
    assert.equal(existsSync(join(box.root, 'tmp/luci-indexcache.json')), false, "LuCI's menu cache is cleared");

    // Removal stops the broker; only the user's data (a non-empty passwd) stays.
    const pid = box.pid();
    opkgRemove(box, 'mqttd');
    assert.ok(pid);
    for (let i = 0; i < 200 && box.pid() !== undefined; i++) execFileSync('sleep', ['0.05']);
    assert.equal(box.pid(), undefined, 'the broker stopped');
    assert.deepEqual(emptyDirs(box.root, ['etc/mqttd', 'usr/lib/mqttd', 'var/run/mqttd', 'www', 'usr/share/luci', 'usr/share/rpcd', 'usr/libexec/rpcd']), []);
    assert.deepEqual(readdirSync(join(box.root, 'etc/mqttd')), ['passwd']);
  } finally {
    box.close();
  }
});

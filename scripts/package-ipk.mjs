// Builds mqttd_<version>_all.ipk and luci-app-mqttd_<version>_all.ipk without the OpenWrt SDK,
// in the format `opkg install` reads (OpenWrt's ipkg-build: a gzipped tar holding
// debian-binary, control.tar.gz and data.tar.gz).
//
// Nothing here is a second copy of the recipe: the control fields, conffiles and scripts are
// read from the root Makefile, and the files from files/install.list, which the Makefile's
// install recipes use too.
//
// Usage: node scripts/package-ipk.mjs [--out <dir>]   (default: dist/)
import { readFileSync, writeFileSync, statSync, mkdirSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readOpenwrtRecipe } from './openwrt-recipe.mjs';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const outIndex = process.argv.indexOf('--out');
const outDir = outIndex > 0 ? resolve(process.argv[outIndex + 1]) : join(root, 'dist');
// Reproducible archives: every entry gets the same timestamp.
const mtime = Number(process.env.SOURCE_DATE_EPOCH ?? 1700000000);

// ---- a minimal ustar writer (what OpenWrt's tar and opkg's libarchive read) ----

function octal(value, width) {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function header(name, { size = 0, mode, type, linkname = '' }) {
  const h = Buffer.alloc(512);
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 155);
    prefix = name.slice(0, cut);
    name = name.slice(cut + 1);
  }
  if (Buffer.byteLength(name) > 100 || Buffer.byteLength(prefix) > 155 || Buffer.byteLength(linkname) > 100) {
    throw new Error(`path too long for ustar: ${prefix}/${name}`);
  }
  h.write(name, 0);
  h.write(octal(mode, 8), 100);
  h.write(octal(0, 8), 108); // uid root
  h.write(octal(0, 8), 116); // gid root
  h.write(octal(size, 12), 124);
  h.write(octal(mtime, 12), 136);
  h.write('        ', 148); // checksum placeholder: spaces
  h.write(type, 156);
  h.write(linkname, 157);
  h.write('ustar\u000000', 257);
  h.write('root', 265);
  h.write('root', 297);
  h.write(prefix, 345);
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(octal(sum, 7) + ' ', 148);
  return h;
}

/** entries: { path: './x', type: 'dir'|'file'|'link', mode, data?, target? } */
function tarGz(entries) {
  const chunks = [];
  for (const e of entries) {
    if (e.type === 'dir') chunks.push(header(e.path.endsWith('/') ? e.path : e.path + '/', { mode: e.mode ?? 0o755, type: '5' }));
    else if (e.type === 'link') chunks.push(header(e.path, { mode: 0o777, type: '2', linkname: e.target }));
    else {
      chunks.push(header(e.path, { mode: e.mode, type: '0', size: e.data.length }));
      chunks.push(e.data);
      const pad = (512 - (e.data.length % 512)) % 512;
      if (pad) chunks.push(Buffer.alloc(pad));
    }
  }
  chunks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(chunks), { level: 9 });
}

// ---- the packages ----

function dataEntries(lines) {
  const entries = [];
  const dirs = new Set();
  let installedSize = 0;
  const addDir = (dir) => {
    if (dir === '' || dirs.has(dir)) return;
    addDir(dirname(dir) === '/' ? '' : dirname(dir));
    dirs.add(dir);
    entries.push({ path: '.' + dir, type: 'dir', mode: 0o755 });
  };
  for (const { mode, source, destination } of lines) {
    addDir(dirname(destination));
    if (mode === 'link') {
      entries.push({ path: '.' + destination, type: 'link', target: source });
    } else {
      const path = join(root, source);
      let data;
      try {
        data = readFileSync(path);
      } catch {
        throw new Error(`${source} is missing: run \`npm run build\` first (files/install.list names it)`);
      }
      installedSize += statSync(path).size;
      entries.push({ path: '.' + destination, type: 'file', mode: parseInt(mode, 8), data });
    }
  }
  return { entries: [{ path: './', type: 'dir', mode: 0o755 }, ...entries], installedSize };
}

function controlFile(recipe, pkg, installedSize) {
  const p = recipe.packages[pkg];
  const depends = (p.DEPENDS ?? '')
    .split(/\s+/)
    .filter(Boolean)
    .map((d) => d.replace(/^\+/, ''));
  const fields = [
    ['Package', pkg],
    ['Version', recipe.version],
    ['Depends', ['libc', ...depends].join(', ')],
    ['Source', `package/${recipe.PKG_NAME}`],
    ['SourceName', pkg],
    ['License', recipe.PKG_LICENSE],
    ['Section', p.SECTION],
    ['URL', p.URL],
    ['Maintainer', recipe.PKG_MAINTAINER],
    ['Require-User', p.USERID],
    ['Architecture', p.PKGARCH ?? 'all'],
    ['Installed-Size', String(installedSize)],
  ].filter(([, v]) => v);
  const description = (p.description ?? p.TITLE).trim().split('\n').map((l) => ' ' + l.trim()).join('\n');
  return fields.map(([k, v]) => `${k}: ${v}`).join('\n') + `\nDescription: ${p.TITLE}\n${description}\n`;
}

export function buildIpk(pkg, recipe, lines) {
  const { entries, installedSize } = dataEntries(lines.filter((l) => l.package === pkg));
  const p = recipe.packages[pkg];
  const control = [
    { path: './', type: 'dir', mode: 0o755 },
    { path: './control', type: 'file', mode: 0o644, data: Buffer.from(controlFile(recipe, pkg, installedSize)) },
  ];
  if (p.conffiles) control.push({ path: './conffiles', type: 'file', mode: 0o644, data: Buffer.from(p.conffiles.trim() + '\n') });
  for (const script of ['preinst', 'postinst', 'prerm', 'postrm']) {
    if (p[script]) control.push({ path: `./${script}`, type: 'file', mode: 0o755, data: Buffer.from(p[script].trim() + '\n') });
  }
  const file = `${pkg}_${recipe.version}_all.ipk`;
  const outer = tarGz([
    { path: './debian-binary', type: 'file', mode: 0o644, data: Buffer.from('2.0\n') },
    { path: './data.tar.gz', type: 'file', mode: 0o644, data: tarGz(entries) },
    { path: './control.tar.gz', type: 'file', mode: 0o644, data: tarGz(control) },
  ]);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, file), outer);
  return join(outDir, file);
}

const recipe = readOpenwrtRecipe(join(root, 'Makefile'));
const pkgVersion = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
if (recipe.PKG_VERSION !== pkgVersion) {
  console.error(`Makefile PKG_VERSION ${recipe.PKG_VERSION} differs from package.json version ${pkgVersion}: make them equal`);
  process.exit(1);
}
const lines = recipe.installList(join(root, 'files/install.list'));
try {
  for (const pkg of Object.keys(recipe.packages)) console.log(buildIpk(pkg, recipe, lines));
} catch (err) {
  console.error(`package-ipk: ${err.message}`);
  process.exit(1);
}

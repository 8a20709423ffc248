// Reads what the package builder needs from the OpenWrt recipe (root Makefile) and from
// files/install.list, so the .ipk builder and the SDK build share one source of truth.
import { readFileSync } from 'node:fs';

/** Make's `$$` is a literal `$` in the scripts OpenWrt exports from a define. */
function unescapeMake(text) {
  return text.replace(/\$\$/g, '$');
}

export function readOpenwrtRecipe(makefile) {
  const text = readFileSync(makefile, 'utf8');
  const vars = {};
  for (const m of text.matchAll(/^([A-Z_]+):=(.*)$/gm)) vars[m[1]] = m[2].trim();
  const packages = {};
  for (const m of text.matchAll(/^define Package\/([A-Za-z0-9_.-]+)(\/[a-z]+)?\n([\s\S]*?)^endef$/gm)) {
    const [, name, part, body] = m;
    const pkg = (packages[name] ??= {});
    if (!part) {
      for (const f of body.matchAll(/^\s*([A-Z_]+):=(.*)$/gm)) pkg[f[1]] = f[2].trim();
    } else if (part === '/install') {
      pkg.install = body;
    } else {
      pkg[part.slice(1)] = part === '/description' ? body : unescapeMake(body);
    }
  }
  for (const [name, pkg] of Object.entries(packages)) {
    if (!pkg.TITLE) throw new Error(`${makefile}: Package/${name} has no TITLE`);
  }
  return {
    ...vars,
    packages,
    // opkg's version string as OpenWrt 24.10 writes it.
    version: `${vars.PKG_VERSION}-r${vars.PKG_RELEASE}`,
    installList(path) {
      const lines = [];
      readFileSync(path, 'utf8')
        .split('\n')
        .forEach((raw, i) => {
          const line = raw.trim();
          if (line === '' || line.startsWith('#')) return;
          const words = line.split(/\s+/);
          if (words.length !== 4 || !(words[1] === 'link' || /^0[0-7]{3}$/.test(words[1])) || !words[3].startsWith('/')) {
            throw new Error(`${path}:${i + 1}: expected <package> <mode|link> <source> </absolute/destination>`);
          }
          if (!packages[words[0]]) throw new Error(`${path}:${i + 1}: no Package/${words[0]} in the Makefile`);
          lines.push({ package: words[0], mode: words[1], source: words[2], destination: words[3] });
        });
      return lines;
    },
  };
}

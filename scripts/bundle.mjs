// Bundles each command into one minified file under dist/: routers have little flash,
// and one file per entry loads faster than a node_modules tree.
import { build } from 'esbuild';
import { existsSync, mkdirSync, writeFileSync, chmodSync, readFileSync } from 'node:fs';

const { version } = JSON.parse(readFileSync('package.json', 'utf8'));

const entries = {
  mqttd: 'src/cli/mqttd.ts',
  mqttd_pub: 'src/cli/mqttd_pub.ts',
  mqttd_sub: 'src/cli/mqttd_sub.ts',
  mqttd_passwd: 'src/cli/mqttd_passwd.ts',
};

// What every bundle is: one minified CommonJS file for the Node on the router, no licence comments.
const common = {
  bundle: true,
  minify: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  legalComments: 'none',
  logLevel: 'warning',
};

// Worker threads' code, carried inside the broker's bundle as strings (one `define` each): a
// worker starts from it with no file of its own, and without loading a second copy of the broker.
// The bcrypt worker (src/auth/bcryptWorkerMain.ts: bcryptjs and a message loop) and the script
// rules' worker (src/rules/scriptWorkerMain.ts).
const workers = {
  MQTTD_BCRYPT_WORKER: 'src/auth/bcryptWorkerMain.ts',
  MQTTD_RULES_WORKER: 'src/rules/scriptWorkerMain.ts',
};
const workerDefines = {};
for (const [name, entry] of Object.entries(workers)) {
  const result = await build({
    ...common,
    entryPoints: [entry],
    write: false,
  });
  workerDefines[name] = JSON.stringify(result.outputFiles[0].text);
}

mkdirSync('dist', { recursive: true });
for (const [name, entry] of Object.entries(entries)) {
  if (!existsSync(entry)) continue;
  const out = `dist/${name}.js`;
  await build({
    ...common,
    entryPoints: [entry],
    outfile: out,
    banner: { js: '#!/usr/bin/env node' },
    // ws loads these optional native accelerators inside try/catch.
    external: ['bufferutil', 'utf-8-validate'],
    // bl (under mqtt-packet) wants the readable-stream polyfill; Node's own stream module is
    // the same API and costs no flash. mqtt-packet's debug tracing is never enabled.
    // mqtt-packet's parser needs only bl's BufferList, not the stream wrapper around it.
    alias: { 'readable-stream': 'stream', debug: './scripts/shims/debug.js', bl: './node_modules/bl/BufferList.js' },
    define: { MQTTD_VERSION: JSON.stringify(version), ...workerDefines },
  });
  chmodSync(out, 0o755);
}
writeFileSync('dist/.built', new Date().toISOString() + '\n');

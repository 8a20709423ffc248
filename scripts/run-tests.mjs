// Runs every compiled test file with Node's own runner. Node 20 has no glob support in
// --test, so the files are listed here. Usage: node scripts/run-tests.mjs [name-filter]
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function find(dir, out) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) find(path, out);
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

const filter = process.argv[2];
const files = find('build/test', []).filter((f) => !filter || f.includes(filter)).sort();
// A filter that matches nothing would hand node --test no files, and it would run every test.
if (files.length === 0) {
  console.error(`run-tests: no test file under build/test matches ${JSON.stringify(filter ?? '')}`);
  process.exit(2);
}
const result = spawnSync(
  process.execPath,
  ['--test', '--test-reporter=spec', '--test-concurrency=2', '--test-timeout=120000', ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);

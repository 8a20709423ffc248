// `npm run fuzz`: the hardening fuzz tests with a long budget, then their figures as a table.
//   npm run fuzz                        60 s per fuzz test, the default seed
//   npm run fuzz -- 600 12345           10 minutes, seed 12345
//   MQTTD_FUZZ_SECONDS / MQTTD_FUZZ_SEED work too; the same tests run in `npm test` with a
//   few seconds each. A failure prints the seed of the input that broke mqttd: re-run with it.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

const [secondsArg, seedArg] = process.argv.slice(2);
const env = { ...process.env };
env.MQTTD_FUZZ_SECONDS = secondsArg ?? env.MQTTD_FUZZ_SECONDS ?? '60';
if (seedArg !== undefined) env.MQTTD_FUZZ_SEED = seedArg;
const seconds = Number(env.MQTTD_FUZZ_SECONDS);

const files = ['build/test/hardening/ProtocolFuzz.test.js', 'build/test/hardening/FileParserFuzz.test.js'];
for (const f of files) {
  if (!existsSync(f)) {
    console.error(`${f} is missing: run npm run build first (npm run fuzz does).`);
    process.exit(1);
  }
}

console.log(`mqttd fuzz: ${seconds} s per test, seed ${env.MQTTD_FUZZ_SEED ?? 'default (20240601)'}`);
const figures = [];
// The test runner relays what a test file writes to stderr as its own stdout: read both.
const child = spawn(
  process.execPath,
  ['--test', '--test-reporter=spec', '--test-concurrency=1', `--test-timeout=${Math.ceil(seconds * 3 + 120) * 1000}`, ...files],
  { env, stdio: ['ignore', 'pipe', 'pipe'] },
);
function collectFigures(stream, echo) {
  let buffered = '';
  stream.on('data', (chunk) => {
    echo.write(chunk);
    buffered += chunk.toString();
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line.startsWith('# figure: ')) figures.push(line.slice('# figure: '.length));
    }
  });
}
collectFigures(child.stdout, process.stdout);
collectFigures(child.stderr, process.stderr);
child.on('exit', (code) => {
  console.log('\n| test | figures |\n|---|---|');
  for (const f of figures) {
    const [name, ...rest] = f.split(' ');
    console.log(`| ${name} | ${rest.join(' ')} |`);
  }
  process.exit(code ?? 1);
});

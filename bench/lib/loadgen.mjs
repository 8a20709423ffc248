// Builds bench/loadgen.c with gcc and runs it, speaking its JSON-lines protocol.
import { spawn, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { statSync, existsSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasCommand, pinned } from './system.mjs';

const source = join(dirname(fileURLToPath(import.meta.url)), '..', 'loadgen.c');

/** Compiles the generator into dir unless an up-to-date binary is already there. */
export function buildLoadgen(dir) {
  if (!hasCommand('gcc')) throw new Error('gcc is needed to build the load generator (apt-get install gcc libc6-dev)');
  mkdirSync(dir, { recursive: true });
  const binary = join(dir, 'loadgen');
  if (existsSync(binary) && statSync(binary).mtimeMs > statSync(source).mtimeMs) return binary;
  execFileSync('gcc', ['-O2', '-Wall', '-o', binary, source], { stdio: ['ignore', 'inherit', 'inherit'] });
  return binary;
}

/**
 * Runs the generator with args, pinned to core. On each {"event":"pause"} line it awaits
 * onPause(name) (e.g. to sample broker memory), then lets the generator continue.
 * Resolves to the result object; rejects with the generator's own error message.
 */
export function runLoadgen(binary, args, { core = null, onPause = async () => {}, logFd = 'ignore', timeoutMs = 120000 } = {}) {
  const argv = pinned(core, [binary, ...args]);
  const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', logFd] });
  let result = null;
  let error = null;
  const lines = createInterface({ input: child.stdout });
  lines.on('line', async (line) => {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      error = `unexpected output from loadgen: ${line}`;
      return;
    }
    if (msg.event === 'pause') {
      try {
        await onPause(msg.name);
      } finally {
        child.stdin.write('go\n');
      }
    } else if (msg.event === 'result') result = msg;
    else if (msg.event === 'error') error = msg.message;
  });
  const timer = setTimeout(() => {
    error = `loadgen timed out after ${timeoutMs} ms`;
    child.kill('SIGKILL');
  }, timeoutMs);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (result && code === 0) resolve(result);
      else reject(new Error(error ?? `loadgen exited with status ${code}`));
    });
  });
}

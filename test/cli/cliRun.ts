import { join } from 'node:path';
import { startProcess, type RunningProcess } from '../helpers/processes';

/** What one run of a command printed and how it exited. */
export interface RunResult {
  stdout: Buffer;
  stderr: string;
  code: number | null;
}

/** A started command whose stdout and stderr are kept apart. */
export interface StartedCommand {
  process: RunningProcess;
  finished: Promise<RunResult>;
}

const DIST = join(__dirname, '..', '..', '..', 'dist');

/** Our bundled command, or the real mosquitto tool of the same kind. */
export function commandFor(impl: 'mosquitto' | 'mqttd', tool: 'pub' | 'sub' | 'passwd'): { command: string; prefix: string[] } {
  if (impl === 'mosquitto') return { command: `/usr/bin/mosquitto_${tool}`, prefix: [] };
  return { command: process.execPath, prefix: [join(DIST, `mqttd_${tool}.js`)] };
}

export function startCommand(command: string, args: string[], stdin?: string | Buffer): StartedCommand {
  const p = startProcess(command, args);
  const out: Buffer[] = [];
  let err = '';
  p.child.stdout?.on('data', (d: Buffer) => out.push(d));
  p.child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  if (stdin !== undefined) p.child.stdin?.end(stdin);
  else p.child.stdin?.end();
  const finished = p.exited.then(async (code) => {
    // 'exit' can come before the last output is read; 'close' means the pipes are drained.
    if (p.child.stdout && !p.child.stdout.readableEnded) await new Promise((r) => p.child.once('close', r));
    return { stdout: Buffer.concat(out), stderr: err, code };
  });
  return { process: p, finished };
}

export async function runCommand(command: string, args: string[], stdin?: string | Buffer): Promise<RunResult> {
  return startCommand(command, args, stdin).finished;
}

/** Waits until the process's combined output, after `from` characters, matches. */
export async function waitForLog(p: RunningProcess, from: number, pattern: RegExp, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(p.output().slice(from))) {
    if (p.child.exitCode !== null) throw new Error(`process exited before ${pattern}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}:\n${p.output().slice(from)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

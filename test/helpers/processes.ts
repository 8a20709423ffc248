import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { execFileSync } from 'node:child_process';

/** A child process whose output is kept, so a failing test can show it. */
export interface RunningProcess {
  child: ChildProcess;
  output(): string;
  /** Kills the process (SIGTERM, then SIGKILL) and waits until it is gone. */
  stop(): Promise<void>;
  exited: Promise<number | null>;
}

const running = new Set<RunningProcess>();

/** Starts a process; every one still running is killed when the test process exits. */
export function startProcess(command: string, args: string[], options: SpawnOptions = {}): RunningProcess {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], ...options });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', (err) => {
      output += String(err);
      resolve(null);
    });
  });
  const handle: RunningProcess = {
    child,
    output: () => output,
    exited,
    async stop() {
      running.delete(handle);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
  running.add(handle);
  return handle;
}

process.on('exit', () => {
  for (const p of running) p.child.kill('SIGKILL');
});

/** Waits until the process's output matches, or fails with what it printed. */
export async function waitForOutput(p: RunningProcess, pattern: RegExp, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(p.output())) {
    if (p.child.exitCode !== null) throw new Error(`process exited (${p.child.exitCode}) before ${pattern}:\n${p.output()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}:\n${p.output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Whether this run is CI's (`CI=true`, as .ci/run and GitHub set it): nothing may skip for a missing tool or fault. */
export function underCi(): boolean {
  return process.env.CI === 'true';
}

/**
 * Whether a command exists. Under CI a missing tool is a failure, never a skip:
 * .ci/run installs everything the tests need.
 */
export function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    if (underCi()) throw new Error(`${name} is required under CI but is not installed`);
    return false;
  }
}

/**
 * Running Debian's mosquitto command-line clients from tests, asynchronously (a test's own
 * MQTT.js clients keep running meanwhile).
 */
import { execFile } from 'node:child_process';
import { hasCommand } from './processes';

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; never rejects (the exit code is in the result). */
export function run(command: string, args: string[], timeoutMs = 15000): Promise<ToolResult> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout: stdout.toString(), stderr: stderr.toString() });
    });
  });
}

/** True when mosquitto's clients are installed (under CI: throws when they are not). */
export function haveMosquittoClients(): boolean {
  return hasCommand('mosquitto_pub') && hasCommand('mosquitto_sub') && hasCommand('mosquitto_passwd');
}

export function mosquittoPub(port: number, args: string[]): Promise<ToolResult> {
  return run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), ...args]);
}

export function mosquittoSub(port: number, args: string[], timeoutMs = 15000): Promise<ToolResult> {
  return run('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), ...args], timeoutMs);
}

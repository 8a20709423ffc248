/**
 * Reading a password the way mosquitto_passwd does: prompt on stdout, no echo when stdin is
 * a terminal, plain lines when it is a pipe (so scripts can feed both answers).
 */
import { readFileSync } from 'node:fs';

let pipedLines: string[] | undefined;

/** Reads one line; undefined at end of input or on Ctrl-C/Ctrl-D. */
export function readPassword(prompt: string): Promise<string | undefined> {
  process.stdout.write(prompt);
  if (process.stdin.isTTY !== true) {
    if (pipedLines === undefined) {
      let text = '';
      try {
        text = readFileSync(0, 'utf8');
      } catch {
        text = '';
      }
      pipedLines = text.length === 0 ? [] : text.replace(/\r?\n$/, '').split(/\r?\n/);
    }
    process.stdout.write('\n');
    return Promise.resolve(pipedLines.shift());
  }
  return readFromTerminal();
}

function readFromTerminal(): Promise<string | undefined> {
  const stdin = process.stdin;
  return new Promise((resolve) => {
    const bytes: number[] = [];
    stdin.setRawMode(true);
    const finish = (value: string | undefined): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stdout.write('\n');
      resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      for (const b of chunk) {
        if (b === 10 || b === 13) return finish(Buffer.from(bytes).toString('utf8'));
        if (b === 3 || b === 4) return finish(undefined);
        if (b === 127 || b === 8) {
          // Drop a whole UTF-8 character, not just its last byte.
          while (bytes.length > 0 && ((bytes.pop() as number) & 0xc0) === 0x80);
          continue;
        }
        bytes.push(b);
      }
    };
    stdin.on('data', onData);
    stdin.resume();
  });
}

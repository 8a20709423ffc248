/**
 * The code of a bcrypt worker thread (see BcryptWorkers): answers compare requests until
 * the broker lets go. It holds bcryptjs and nothing else, so a worker costs ~3 MB of RSS,
 * not the ~12 MB of a second copy of the whole broker. The bundle carries it as a string
 * (scripts/bundle.mjs); the unbundled build runs this file.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { compareSync } from 'bcryptjs';

export interface CheckRequest {
  id: number;
  password: string;
  hash: string;
}

export interface CheckReply {
  id: number;
  matched: boolean;
  error?: string;
}

/**
 * On a one- or two-core router the broker's thread must win the CPU over a guessing storm's
 * checks: this thread runs at nice 19. Linux's setpriority takes a thread id, found through
 * /proc/thread-self; elsewhere the thread keeps the broker's priority.
 */
function lowerThreadPriority(): void {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, 19);
  } catch {
    // Not Linux, or not allowed: checks still run off the event loop, just not niced.
  }
}

lowerThreadPriority();
parentPort?.on('message', (request: CheckRequest) => {
  let reply: CheckReply;
  try {
    reply = { id: request.id, matched: compareSync(request.password, request.hash) };
  } catch (err) {
    reply = { id: request.id, matched: false, error: String(err) };
  }
  parentPort?.postMessage(reply);
});

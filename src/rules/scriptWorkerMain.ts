/**
 * The entry of the script rules' worker thread (see ScriptHost). It holds the worker side
 * only (ScriptWorker, topic checks, clock parsing), not a second copy of the broker. The
 * bundle carries it as a string (scripts/bundle.mjs); the unbundled build runs this file.
 */
import { workerData } from 'node:worker_threads';
import type { ScriptWorkerData } from './ScriptMessages';
import { runScriptWorker } from './ScriptWorker';

runScriptWorker(workerData as ScriptWorkerData);

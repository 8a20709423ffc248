/**
 * Worker threads for mqttd's own work off the broker's event loop (today: script rules).
 * A worker runs this same file, the compiled module or the single-file bundle alike
 * (`__filename` is whichever holds this code), and the role in its workerData picks what
 * it runs. So the bundle needs no second file, and the command's main() runs only when
 * `isMainThread` (see src/cli/mqttd.ts).
 */
import { isMainThread, Worker, workerData, type ResourceLimits } from 'node:worker_threads';
import { runScriptWorker } from '../rules/ScriptWorker';
import type { ScriptWorkerData } from '../rules/ScriptMessages';

interface RoleData {
  rules: ScriptWorkerData;
}

export type WorkerRole = keyof RoleData;

interface RoleEnvelope {
  mqttdRole: WorkerRole;
  data: RoleData[WorkerRole];
}

export function startWorker<R extends WorkerRole>(role: R, data: RoleData[R], resourceLimits?: ResourceLimits): Worker {
  const envelope: RoleEnvelope = { mqttdRole: role, data };
  return new Worker(__filename, { workerData: envelope, resourceLimits, stdout: false, stderr: false });
}

function isEnvelope(value: unknown): value is RoleEnvelope {
  return typeof value === 'object' && value !== null && typeof (value as RoleEnvelope).mqttdRole === 'string';
}

if (!isMainThread && isEnvelope(workerData)) {
  if (workerData.mqttdRole === 'rules') runScriptWorker(workerData.data);
}

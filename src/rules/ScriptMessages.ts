/**
 * What the broker thread (ScriptHost) and the script worker (ScriptWorker) say to each other.
 * Scripts never touch the broker: they ask the host to subscribe, publish and set timers,
 * and the host sends them events, so a script can only block its own thread.
 */

export interface ScriptFile {
  /** The file name, which names the rule (`door.js`). */
  name: string;
  path: string;
}

export interface ScriptWorkerData {
  scripts: ScriptFile[];
  /** Each script's saved `mqttd.state`, as JSON. */
  state: Record<string, string>;
  /**
   * Int32 slots the worker updates around every callback, so the host can tell which
   * script is running and whether it is stuck: see WATCH_* below.
   */
  watch: SharedArrayBuffer;
  /** Bytes of JSON one script's state may take. */
  maxStateBytes: number;
}

/** Index (+1) of the script running a callback now, 0 when idle. */
export const WATCH_CURRENT = 0;
/** Bumped at the start of every callback. */
export const WATCH_GENERATION = 1;
/** Index (+1) of the script that ran last. */
export const WATCH_LAST = 2;
/** The handler id of the running callback (0: loading, setup or a script's own timer). */
export const WATCH_HANDLER = 3;
export const WATCH_SLOTS = 4;

export interface WireMessage {
  topic: string;
  payload: Uint8Array;
  qos: 0 | 1 | 2;
  retain: boolean;
  clientId: string | undefined;
}

export type HostToWorker =
  | { t: 'message'; handler: number; hops: number; message: WireMessage }
  | { t: 'timer'; handler: number }
  | { t: 'retained'; request: number; message: WireMessage | null }
  | { t: 'ping'; seq: number };

export type WorkerToHost =
  | { t: 'on'; script: number; handler: number; filter: string; where: string }
  | { t: 'every'; script: number; handler: number; seconds: number; where: string }
  | { t: 'at'; script: number; handler: number; hour: number; minute: number; weekdays: number[]; where: string }
  | { t: 'cancel'; handler: number }
  | { t: 'publish'; script: number; hops: number; topic: string; payload: Uint8Array | string; qos: 0 | 1 | 2; retain: boolean }
  | { t: 'retained'; script: number; request: number; topic: string }
  | { t: 'log'; script: number; text: string }
  /** `fatal`: the script did not load (syntax error, bad export, throw at load). */
  | { t: 'error'; script: number; where: string; text: string; fatal: boolean }
  | { t: 'state'; script: number; json: string }
  | { t: 'loaded' }
  | { t: 'pong'; seq: number };

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports';
import { startProcess, type RunningProcess } from './processes';

export interface MosquittoBroker {
  port: number;
  dir: string;
  process: RunningProcess;
  stop(): Promise<void>;
}

/** Starts Debian's real mosquitto on a free port with the given extra config lines. */
export async function startMosquitto(extraLines: string[] = ['allow_anonymous true']): Promise<MosquittoBroker> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, ...extraLines, ''].join('\n'));
  const process = startProcess('/usr/sbin/mosquitto', ['-c', conf]);
  await waitForPort(port);
  return { port, dir, process, stop: () => process.stop() };
}

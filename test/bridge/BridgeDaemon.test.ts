/**
 * The real `mqttd --uci` process with a UCI `bridge` section, against mosquitto: the bridge
 * starts from UCI, reports itself in the status file LuCI reads and in `$SYS`, and the
 * upstream's state topic says "0" when mqttd dies (the will) or stops (published on the way out).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MQTTD } from '../helpers/broker';
import { freePort, waitForPort } from '../helpers/ports';
import { hasCommand, startProcess, waitForOutput, type RunningProcess } from '../helpers/processes';
import { publishOnce, record, until, upstream, type Upstream } from './bridgeTestKit';

const haveMosquitto = hasCommand('mosquitto');
const skip = !haveMosquitto && 'mosquitto is not installed';

let up: Upstream;
let dir: string;
let port: number;
let uci: string;

interface StatusBridge {
  name: string;
  state: string;
  since: number;
  last_error: string | null;
  messages_in: number;
  messages_out: number;
  queued: number;
}

function statusBridges(): StatusBridge[] {
  const path = join(dir, 'status.json');
  if (!existsSync(path)) return [];
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { bridges: StatusBridge[] }).bridges;
  } catch {
    return []; // caught between the write and the rename of another writer: read again
  }
}

async function startDaemon(): Promise<RunningProcess> {
  const p = startProcess(process.execPath, [MQTTD, '--uci', uci]);
  await waitForOutput(p, /mqttd version \S+ running/);
  await waitForPort(port);
  return p;
}

before(async () => {
  if (!haveMosquitto) return;
  up = await upstream(['allow_anonymous true']);
  await up.start();
  dir = mkdtempSync(join(tmpdir(), 'mqttd-bridge-uci-'));
  port = await freePort();
  uci = join(dir, 'mqttd');
  writeFileSync(
    uci,
    [
      "config mqttd 'mqttd'",
      "\toption allow_anonymous '1'",
      `\toption status_file '${join(dir, 'status.json')}'`,
      "\toption sys_interval '1'",
      // The test reads the broker's lines from stderr; on a router they go to syslog.
      "\toption log_dest 'stderr'",
      '',
      'config listener',
      `\toption port '${port}'`,
      "\toption address '127.0.0.1'",
      '',
      "config bridge 'cloud'",
      `\tlist address '127.0.0.1:${up.port}'`,
      `\tlist topic 'home/# out 1 "" router1/'`,
      "\tlist topic 'cmd/# in 1'",
      "\toption remote_clientid 'router1'",
      "\toption restart_timeout '1'",
      '',
    ].join('\n'),
  );
});

after(async () => {
  await up?.stop();
});

test('a UCI bridge section runs, shows in the status file and $SYS, and the upstream sees its state', { skip }, async () => {
  const stateOnUpstream = await record(up.port, [{ topic: '$SYS/broker/connection/router1/state', qos: 1 }]);
  let daemon = await startDaemon();
  try {
    await until(() => statusBridges()[0]?.state === 'connected', 'the status file to show the bridge connected', daemon.output);

    const cloud = await record(up.port, [{ topic: 'router1/#', qos: 1 }]);
    const sys = await record(port, [{ topic: '$SYS/broker/bridge/cloud/#', qos: 0 }]);
    try {
      await publishOnce(port, 'home/lamp', 'on', { qos: 1 });
      await publishOnce(up.port, 'cmd/lamp', 'off', { qos: 1 });
      await until(() => cloud.payloads('router1/home/lamp').includes('on'), 'the message on the upstream');
      await until(
        () => statusBridges()[0]?.messages_out >= 1 && statusBridges()[0]?.messages_in >= 1,
        'the counters in the status file',
        () => JSON.stringify(statusBridges()),
      );
      const s = statusBridges()[0];
      assert.deepEqual([s.name, s.state, s.queued], ['cloud', 'connected', 0]);
      assert.ok(s.since > 0);
      await until(() => sys.payloads('$SYS/broker/bridge/cloud/state').includes('connected'), 'the $SYS state topic');
    } finally {
      await cloud.close();
      await sys.close();
    }

    // Killed without a word: the upstream publishes the bridge's will.
    daemon.child.kill('SIGKILL');
    await daemon.exited;
    await until(() => stateOnUpstream.payloads().at(-1) === '0', 'the will "0" on the upstream', () => JSON.stringify(stateOnUpstream.payloads()));

    // Back again, then a clean stop: "0" is published before the DISCONNECT.
    daemon = await startDaemon();
    await until(() => stateOnUpstream.payloads().at(-1) === '1', '"1" on the upstream again');
    await daemon.stop();
    await until(() => stateOnUpstream.payloads().at(-1) === '0', '"0" on the upstream after a clean stop', () => JSON.stringify(stateOnUpstream.payloads()));
    assert.deepEqual(stateOnUpstream.payloads(), ['1', '0', '1', '0']);
  } finally {
    await daemon.stop();
    await stateOnUpstream.close();
  }
});

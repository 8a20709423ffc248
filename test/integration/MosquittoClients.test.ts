/**
 * Debian's mosquitto_pub and mosquitto_sub against the real daemon: QoS 0/1/2 in MQTT 3.1,
 * 3.1.1 and 5.0, retained messages, wills and persistent sessions.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connectClient, startMqttd, type MqttdProcess, type TestClient } from '../helpers/broker';
import { haveMosquittoClients, mosquittoPub, mosquittoSub } from '../helpers/brokerTools';
import { startProcess, waitForOutput } from '../helpers/processes';

const enabled = haveMosquittoClients();
let d: MqttdProcess;

before(async () => {
  if (enabled) d = await startMqttd(['allow_anonymous true', 'log_type all']);
});
after(async () => {
  await d?.stop();
});

/** Waits until the daemon logs that `clientId` subscribed (log_type subscribe). */
async function subscribed(clientId: string): Promise<void> {
  await waitForOutput(d.process, new RegExp(`${clientId} \\d+ `));
}

describe('mosquitto_pub / mosquitto_sub', { skip: !enabled && 'mosquitto clients missing' }, () => {
  for (const version of ['mqttv31', 'mqttv311', 'mqttv5']) {
    for (const qos of [0, 1, 2]) {
      test(`${version} QoS ${qos}: mosquitto_pub to mosquitto_sub`, async () => {
        const id = `sub-${version}-${qos}`;
        const sub = mosquittoSub(d.port, ['-V', version, '-i', id, '-t', `mq/${version}/${qos}`, '-q', String(qos), '-C', '3', '-W', '10', '-F', '%q %t %p']);
        await subscribed(id);
        for (const n of [1, 2, 3]) {
          const r = await mosquittoPub(d.port, ['-V', version, '-t', `mq/${version}/${qos}`, '-m', `m${n}`, '-q', String(qos)]);
          assert.equal(r.code, 0, r.stderr);
        }
        const r = await sub;
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(r.stdout.trim().split('\n'), [1, 2, 3].map((n) => `${qos} mq/${version}/${qos} m${n}`));
      });
    }
  }

  test('retained: set, replace, clear (-r -n), as mosquitto_sub sees it', async () => {
    const pub = (args: string[]) => mosquittoPub(d.port, ['-t', 'mq/retained', '-q', '1', ...args]);
    assert.equal((await pub(['-r', '-m', 'first'])).code, 0);
    assert.equal((await pub(['-r', '-m', 'second'])).code, 0);
    let r = await mosquittoSub(d.port, ['-t', 'mq/retained', '-C', '1', '-W', '5', '--retained-only', '-v']);
    assert.equal(r.stdout.trim(), 'mq/retained second');
    assert.equal((await pub(['-r', '-n'])).code, 0);
    // With nothing retained, -W ends the wait with mosquitto_sub's timeout code (27).
    r = await mosquittoSub(d.port, ['-t', 'mq/retained', '-C', '1', '-W', '1', '--retained-only']);
    assert.equal(r.stdout, '');
    assert.equal(r.code, 27);
  });

  test('will: mosquitto_sub killed with SIGKILL leaves its will; one that exits normally does not', async () => {
    const watcher: TestClient = await connectClient(`mqtt://127.0.0.1:${d.port}`);
    try {
      await watcher.client.subscribeAsync('mq/will/#', { qos: 1 });
      const willArgs = (name: string) => ['-i', name, '-t', 'mq/nothing', '--will-topic', `mq/will/${name}`, '--will-payload', `${name} died`, '--will-qos', '1'];
      const polite = await mosquittoSub(d.port, [...willArgs('polite'), '-C', '1', '-W', '1']);
      assert.equal(polite.code, 27);
      const rude = startProcess('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(d.port), ...willArgs('rude')]);
      await subscribed('rude');
      rude.child.kill('SIGKILL');
      await rude.exited;
      const w = await watcher.next();
      assert.equal(w.topic, 'mq/will/rude');
      assert.equal(w.payload, 'rude died');
      assert.equal(watcher.received.length, 1, 'no will from the client that disconnected properly');
    } finally {
      await watcher.end();
    }
  });

  test('persistent session: mosquitto_sub -c gets the QoS 1 messages published while it was away', async () => {
    const args = ['-i', 'mq-durable', '-c', '-q', '1', '-t', 'mq/durable', '-v'];
    // First visit: subscribe, then leave (-W ends it).
    const first = await mosquittoSub(d.port, [...args, '-C', '1', '-W', '1']);
    assert.equal(first.code, 27);
    for (const n of [1, 2]) {
      assert.equal((await mosquittoPub(d.port, ['-t', 'mq/durable', '-m', `away${n}`, '-q', '1'])).code, 0);
    }
    const back = await mosquittoSub(d.port, [...args, '-C', '2', '-W', '10']);
    assert.equal(back.code, 0, back.stderr);
    assert.deepEqual(back.stdout.trim().split('\n'), ['mq/durable away1', 'mq/durable away2']);
  });
});

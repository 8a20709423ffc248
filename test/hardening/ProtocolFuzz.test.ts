/**
 * The running broker (node dist/mqttd.js, a real process, so a crash is seen as an exit)
 * is fed adversarial byte streams over real sockets, while a well-behaved publisher and
 * subscriber stay connected and must get every QoS 1 message through.
 *
 * Budget: MQTTD_FUZZ_SECONDS (default 4 s here), seed: MQTTD_FUZZ_SEED. Connection n's
 * input comes from seed+n alone, so a connection that misbehaves can be replayed by itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { connectClient, eventually, startMqttd } from '../helpers/broker';
import { budgetSeconds, figure, fuzzSeed, openFds, Random, rssKiB, sleep, stackTraceLines } from './hardeningKit';
import { fuzzInput, type FuzzInput } from './packetFuzzer';

const WORKERS = 6;

/** Sends one fuzz input on a fresh socket; resolves when the socket is gone. */
function runConnection(port: number, input: FuzzInput, r: Random): Promise<'closed-by-broker' | 'closed-by-us'> {
  return new Promise((resolve) => {
    const socket = netConnect(port, '127.0.0.1');
    let byUs = false;
    socket.on('error', () => undefined);
    socket.on('data', () => undefined);
    socket.once('close', () => resolve(byUs ? 'closed-by-us' : 'closed-by-broker'));
    socket.once('connect', async () => {
      for (const packet of input.packets) {
        if (socket.destroyed) break;
        if (r.chance(0.1) && packet.length < 200) {
          // Byte by byte, as a slow or fragmenting link would deliver it.
          for (const byte of packet) {
            if (socket.destroyed) break;
            socket.write(Buffer.from([byte]));
            await new Promise((next) => setImmediate(next));
          }
        } else {
          socket.write(packet);
        }
      }
      // Give the broker a moment to answer or close; then leave, rudely or politely.
      await sleep(r.range(5, 60));
      byUs = true;
      if (r.chance(0.5)) socket.destroy();
      else {
        socket.end();
        setTimeout(() => socket.destroy(), 200).unref();
      }
    });
  });
}

test('protocol fuzz: malformed and adversarial streams never crash the broker, and a good client keeps receiving', async () => {
  const seconds = budgetSeconds(4);
  const seed = fuzzSeed();
  const mqttd = await startMqttd(['allow_anonymous true', 'connect_timeout 2', 'log_type error', 'log_type warning', 'log_type notice']);
  const pid = mqttd.process.child.pid!;
  const tag = randomBytes(4).toString('hex');
  const sub = await connectClient(`mqtt://127.0.0.1:${mqttd.port}`, { clientId: `canary-sub-${tag}`, protocolVersion: 5, clean: true });
  const pub = await connectClient(`mqtt://127.0.0.1:${mqttd.port}`, { clientId: `canary-pub-${tag}`, protocolVersion: 4, clean: true });
  let canaryCloses = 0;
  sub.client.on('close', () => canaryCloses++);
  pub.client.on('close', () => canaryCloses++);
  await sub.client.subscribeAsync(`canary/${tag}`, { qos: 1 });
  await sleep(300);
  const rssBefore = rssKiB(pid);
  const fdsBefore = openFds(pid);

  let failure: string | undefined;
  let published = 0;
  let publishing = true;
  const publisher = (async () => {
    while (publishing && failure === undefined) {
      const acked = await Promise.race([
        pub.client.publishAsync(`canary/${tag}`, String(published), { qos: 1 }).then(() => true),
        sleep(10000).then(() => false),
      ]);
      if (!acked) {
        failure = `canary message ${published} not acknowledged within 10 s (mqttd ${mqttd.process.child.exitCode === null ? 'running' : 'exited'})`;
        break;
      }
      published++;
      await sleep(20);
    }
  })();

  let connections = 0;
  let packets = 0;
  let attacks = 0;
  let closedByBroker = 0;
  const deadline = Date.now() + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (Date.now() < deadline && failure === undefined) {
      const n = connections++;
      const r = new Random(seed + n);
      const input = fuzzInput(r);
      packets += input.packets.length;
      attacks += input.attacks.length;
      const outcome = await runConnection(mqttd.port, input, r);
      if (outcome === 'closed-by-broker') closedByBroker++;
      if (mqttd.process.child.exitCode !== null || mqttd.process.child.signalCode !== null) {
        failure = `mqttd exited during connection ${n} (seed ${seed + n}, attacks: ${input.attacks.join(', ') || 'none'})`;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: WORKERS }, worker));
    publishing = false;
    assert.equal(failure, undefined, `${failure}\n${mqttd.process.output().slice(-4000)}`);
    await publisher;

    // Every canary message arrives, and neither canary was ever disconnected.
    await eventually(() => sub.received.length >= published, `${published} canary messages (got ${sub.received.length})`, 10000);
    const payloads = sub.received.map((m) => Number(m.payload));
    assert.deepEqual(payloads.slice(0, published), Array.from({ length: published }, (_, i) => i), 'canary messages lost or out of order');
    assert.equal(canaryCloses, 0, 'a well-behaved client was disconnected');

    // Every fuzz socket is released (the broker closes a silent one after connect_timeout).
    await eventually(() => openFds(pid) <= fdsBefore, `descriptors back to ${fdsBefore} (now ${openFds(pid)})`, 8000);
    const rssAfter = rssKiB(pid);
    const traces = stackTraceLines(mqttd.process.output());
    assert.deepEqual(traces, [], 'a stack trace reached the log');
    assert.equal(mqttd.process.child.exitCode, null);

    // A fresh client still gets through.
    const late = await connectClient(`mqtt://127.0.0.1:${mqttd.port}`, { clientId: `late-${tag}` });
    await late.end();
    figure('protocol-fuzz', {
      seconds,
      seed,
      connections,
      packets,
      handmade_attacks: attacks,
      closed_by_broker: closedByBroker,
      crashes: 0,
      canary_messages: published,
      canary_lost: 0,
      rss_kib_before: rssBefore,
      rss_kib_after: rssAfter,
      fds_before: fdsBefore,
      fds_after: openFds(pid),
    });
  } finally {
    publishing = false;
    // Forced: a graceful end would wait forever on a broker that is gone.
    sub.client.end(true);
    pub.client.end(true);
    await mqttd.stop();
  }
});

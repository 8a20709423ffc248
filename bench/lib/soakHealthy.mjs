// The healthy publisher/subscriber pair of `npm run soak`, in a process of its own so that
// the attacker's CPU (masking a 90 MiB WebSocket frame, hashing) never shows as broker latency.
// Usage: node bench/lib/soakHealthy.mjs <port>. Prints "ready", then answers lines on stdin:
// "take" → {"samples":[ms…],"lost":n} (since the last take), "probe" → {"ok":bool}.
import { createInterface } from 'node:readline';
import { sleep } from './system.mjs';
import { USER, login } from './soakClient.mjs';

const port = Number(process.argv[2]);
const sub = await login(port, { clientId: 'healthy-sub', ...USER });
const pub = await login(port, { clientId: 'healthy-pub', ...USER });
if (sub.code !== 0 || pub.code !== 0) {
  console.log(JSON.stringify({ error: `healthy clients refused (${sub.code}, ${pub.code})` }));
  process.exit(1);
}
sub.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'healthy/t', qos: 0 }] });
await sub.client.wait('suback', 5000);

let samples = [];
let sent = 0;
let received = 0;
sub.client.onPacket = (p) => {
  if (p.cmd !== 'publish' || p.topic !== 'healthy/t') return;
  received++;
  samples.push(performance.now() - Number(p.payload.toString()));
};
// A timestamped QoS 0 message every 10 ms.
setInterval(() => {
  sent++;
  pub.client.send({ cmd: 'publish', topic: 'healthy/t', payload: String(performance.now()), qos: 0, retain: false, dup: false });
}, 10);

const connected = () => !sub.client.closed && !pub.client.closed;

async function probe() {
  if (!connected()) return false;
  const before = received;
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline) {
    await sleep(50);
    if (received > before + 2) return true;
  }
  return false;
}

console.log('ready');
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'take') {
    console.log(JSON.stringify({ samples, lost: Math.max(0, sent - received), connected: connected() }));
    samples = [];
    sent = received = 0;
  } else if (line === 'probe') {
    console.log(JSON.stringify({ ok: await probe() }));
  }
}
process.exit(0);

// The attacks of issue 12, each bounded in time and size (`quick` shrinks them). Each returns
// { refused, dropped, notes }: what the broker refused or dropped, and the attack's own figures.
import mqttPacket from 'mqtt-packet';
import WebSocket from 'ws';
import { sleep } from './system.mjs';
import { USER, VICTIM, login, publishMany, rawClient } from './soakClient.mjs';

const MiB = 1024 * 1024;

/** Loopback addresses 127.0.0.2 … for attackers "from many addresses". */
const address = (i) => `127.0.${Math.floor(i / 250)}.${2 + (i % 250)}`;

/** Runs `worker(i)` for i < n with at most `parallel` at once. */
async function pool(n, parallel, worker) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, parallel) }, async () => {
      while (next < n) await worker(next++);
    }),
  );
}

/** Loops `worker()` on `parallel` workers until `seconds` have passed. */
async function during(seconds, parallel, worker) {
  const end = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: parallel }, async (_, w) => {
      while (Date.now() < end) await worker(w);
    }),
  );
}

/** The first bytes of a QoS `qos` MQTT 3.1.1 PUBLISH whose payload has `length` bytes: everything but the payload. */
function publishHead(topic, length, qos) {
  const whole = mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.alloc(length), qos, messageId: 1, dup: false, retain: false });
  return whole.subarray(0, whole.length - length);
}

/** Writes `total` bytes of zeros after `head`, chunk by chunk, respecting backpressure; stops when the socket closes. */
async function stream(client, head, total) {
  const socket = client.socket;
  socket.write(head);
  const chunk = Buffer.alloc(MiB);
  let sent = 0;
  while (sent < total && !client.closed) {
    const n = Math.min(chunk.length, total - sent);
    sent += n;
    if (!socket.write(chunk.subarray(0, n)) && !client.closed) {
      await new Promise((resolve) => {
        const done = () => {
          socket.off('drain', done);
          socket.off('close', done);
          resolve();
        };
        socket.on('drain', done);
        socket.on('close', done);
      });
    }
  }
  return sent;
}

export const attacks = [
  {
    id: 'ws-frame',
    what: '4 unauthenticated WebSocket clients each send one 90 MiB frame',
    async run(broker, { quick }) {
      const size = (quick ? 20 : 90) * MiB;
      const frame = Buffer.alloc(size);
      frame[0] = 0x10;
      let refused = 0;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          const ws = new WebSocket(`ws://127.0.0.1:${broker.wsPort}/mqtt`, 'mqtt');
          const opened = await new Promise((r) => (ws.once('open', () => r(true)), ws.once('error', () => r(false))));
          if (!opened) return void refused++;
          const closed = new Promise((r) => ws.once('close', (code) => r(code)));
          ws.on('error', () => undefined);
          ws.send(frame);
          const code = await Promise.race([closed, sleep(10000).then(() => null)]);
          if (code !== null) refused++;
          ws.terminate();
        }),
      );
      return { refused, notes: `${size / MiB} MiB frames; refused = closed by the broker` };
    },
  },
  {
    id: 'session-flood',
    what: 'one client opens as many clean=false sessions as it can',
    async run(broker, { quick }) {
      let accepted = 0;
      let refused = 0;
      let n = 0;
      await during(quick ? 4 : 15, 8, async () => {
        const r = await login(broker.port, { clientId: `flood-${n++}`, clean: false, ...USER, timeoutMs: 5000 });
        if (r.code === 0) accepted++;
        else refused++;
        r.client.end();
      });
      return { refused, notes: `${accepted} sessions accepted` };
    },
  },
  {
    id: 'big-property',
    what: 'v5 retained messages of 10 B payload with a 30 KB user property',
    async run(broker, { quick }) {
      const count = quick ? 200 : 1000;
      const r = await login(broker.port, { clientId: 'props', protocolVersion: 5, ...USER });
      const big = 'p'.repeat(30 * 1024);
      const messages = Array.from({ length: count }, (_, i) => ({
        topic: `prop/${i}`,
        payload: Buffer.from('0123456789'),
        retain: true,
        properties: { userProperties: { big } },
      }));
      const out = await publishMany(r.client, messages);
      r.client.end();
      return { refused: out.refused, dropped: out.unanswered, notes: `${count} messages` };
    },
  },
  {
    id: 'cached-encodings',
    what: 'one v3 and one v5 subscriber read 500 retained messages of 20 KB',
    async run(broker, { quick }) {
      const count = quick ? 200 : 500;
      const pub = await login(broker.port, { clientId: 'enc-pub', ...USER });
      const body = Buffer.alloc(20 * 1024, 0x65);
      const out = await publishMany(pub.client, Array.from({ length: count }, (_, i) => ({ topic: `enc/${i}`, payload: body, retain: true })));
      pub.client.end();
      let got = 0;
      for (const protocolVersion of [4, 5]) {
        const sub = await login(broker.port, { clientId: `enc-sub-${protocolVersion}`, protocolVersion, ...USER });
        let n = 0;
        sub.client.onPacket = (p) => {
          if (p.cmd === 'publish') n++;
        };
        sub.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'enc/#', qos: 0 }] });
        // Until all came, or nothing more for 2 s (the broker dropped the rest).
        let last = n;
        let quiet = Date.now();
        while (n < count && Date.now() - quiet < 2000 && !sub.client.closed) {
          await sleep(50);
          if (n !== last) (last = n), (quiet = Date.now());
        }
        got += n;
        sub.client.end();
      }
      return { refused: out.refused, dropped: 2 * count - got, notes: `${count} × 20 KB, read ${got} of ${2 * count}` };
    },
  },
  {
    id: 'retained-scan',
    what: 'many clients × wildcard filters against many retained messages',
    async run(broker, { quick }) {
      const retained = quick ? 20000 : 100000;
      const clients = quick ? 10 : 50;
      const filters = quick ? 100 : 1000;
      const pub = await login(broker.port, { clientId: 'scan-pub', ...USER });
      for (let i = 0; i < retained; i++) {
        pub.client.send({ cmd: 'publish', topic: `scan/${i % 100}/${i}`, payload: 'r', qos: 0, retain: true, dup: false });
        if (i % 1000 === 999) await sleep(1);
      }
      // Wait until the broker has read them: a QoS 1 publish after them is answered in order.
      await publishMany(pub.client, [{ topic: 'scan/done', payload: 'x' }]);
      pub.client.end();
      let refused = 0;
      let unanswered = 0;
      let subacks = 0;
      const started = performance.now();
      // Bounded: what is not answered by then shows as fewer filters answered.
      const deadline = Date.now() + (quick ? 10 : 30) * 1000;
      await pool(clients, clients, async (c) => {
        const r = await login(broker.port, { clientId: `scan-${c}`, ...USER, timeoutMs: 30000 });
        if (r.code === 'timeout') return void unanswered++;
        if (r.code !== 0) return void refused++;
        for (let f = 0; f < filters && Date.now() < deadline; f += 100) {
          const subscriptions = Array.from({ length: Math.min(100, filters - f) }, (_, k) => ({ topic: `scan/+/${(c * filters + f + k) % retained}`, qos: 0 }));
          r.client.send({ cmd: 'subscribe', messageId: 1 + f / 100, subscriptions });
          const ack = await r.client.wait('suback', Math.max(1, deadline - Date.now()));
          if (!ack) break;
          subacks += subscriptions.length;
          refused += ack.granted.filter((g) => g >= 0x80).length;
        }
        r.client.end();
      });
      const seconds = (performance.now() - started) / 1000;
      return { refused, dropped: unanswered, notes: `${retained} retained, ${subacks} filters answered in ${seconds.toFixed(1)} s; ${unanswered} logins unanswered` };
    },
  },
  {
    id: 'password-guess',
    what: '200 addresses guess the bcrypt user’s password; an honest user logs in meanwhile',
    async run(broker, { quick }) {
      const addresses = quick ? 50 : 200;
      let refused = 0;
      let timeouts = 0;
      let honestMax = 0;
      let honestFailed = 0;
      const honest = (async () => {
        const end = Date.now() + (quick ? 6 : 15) * 1000;
        while (Date.now() < end) {
          const r = await login(broker.port, { clientId: 'honest', ...USER, localAddress: '127.0.0.1', timeoutMs: 20000 });
          if (r.code === 0) honestMax = Math.max(honestMax, r.ms);
          else honestFailed++;
          r.client.end();
          await sleep(500);
        }
      })();
      await during(quick ? 6 : 15, addresses, async (w) => {
        const r = await login(broker.port, { clientId: `guess-${w}`, username: VICTIM, password: Buffer.from(`guess-${Math.random()}`), localAddress: address(w), timeoutMs: 10000 });
        if (r.code === 'timeout') timeouts++;
        else refused++;
        r.client.end();
      });
      await honest;
      return { refused, dropped: timeouts, notes: `${timeouts} guesses unanswered within 10 s; honest login max ${honestMax.toFixed(0)} ms, ${honestFailed} failed` };
    },
  },
  {
    id: 'throttled-refusal',
    what: '10 wrong passwords in a row from one address: how long each refusal takes',
    async run(broker, { quick }) {
      const waits = [];
      const end = Date.now() + (quick ? 20 : 60) * 1000;
      let timeouts = 0;
      for (let i = 0; i < 10 && Date.now() < end; i++) {
        const r = await login(broker.port, { clientId: `throttled-${i}`, username: VICTIM, password: Buffer.from('wrong'), localAddress: '127.0.1.9', timeoutMs: 20000 });
        waits.push(r.ms);
        if (r.code === 'timeout' || r.ms > 10000) timeouts++;
        r.client.end();
      }
      return { refused: waits.length, dropped: timeouts, notes: `slowest refusal ${Math.max(...waits).toFixed(0)} ms; ${timeouts} over 10 s (mqtt_as gives up at 10 s)` };
    },
  },
  {
    id: 'parallel-bad-logins',
    what: '30 parallel wrong passwords from one address, then a good login from it',
    async run(broker) {
      const started = performance.now();
      const bad = Array.from({ length: 30 }, (_, i) =>
        login(broker.port, { clientId: `bad-${i}`, username: VICTIM, password: Buffer.from('wrong'), localAddress: '127.0.1.10', timeoutMs: 30000 }),
      );
      await sleep(100);
      const good = await login(broker.port, { clientId: 'good-after-bad', ...USER, localAddress: '127.0.1.10', timeoutMs: 30000 });
      good.client.end();
      const results = await Promise.all(bad);
      for (const r of results) r.client.end();
      const held = Math.max(...results.map((r) => r.ms));
      return {
        refused: results.filter((r) => r.code !== 'timeout').length,
        dropped: results.filter((r) => r.code === 'timeout').length,
        notes: `bad sockets held up to ${held.toFixed(0)} ms; good login ${good.code === 0 ? `${good.ms.toFixed(0)} ms` : `failed (${good.code})`} after ${(performance.now() - started).toFixed(0)} ms`,
      };
    },
  },
  {
    id: 'publish-100mb',
    what: 'one client sends a 100 MB PUBLISH (message_size_limit 262144)',
    async run(broker, { quick }) {
      const size = (quick ? 30 : 100) * 1000 * 1000;
      const r = await login(broker.port, { clientId: 'huge', ...USER });
      const ack = r.client.wait('puback', 60000);
      const sent = await stream(r.client, publishHead('huge/t', size, 1), size);
      const answer = await Promise.race([ack, sleep(5000).then(() => null)]);
      r.client.end();
      // MQTT 3.1.1 has no refusal code: a PUBACK is mosquitto's "acknowledged and dropped".
      const how = answer ? 'PUBACK' : r.client.closed ? 'closed' : 'no answer';
      const refusedIt = r.client.closed || answer !== null;
      return { refused: refusedIt ? 1 : 0, notes: `${(sent / 1e6).toFixed(0)} MB of ${size / 1e6} sent; ${how}` };
    },
  },
  {
    id: 'long-expiry',
    what: 'v5 sessions with Session Expiry 0xFFFFFFFE subscribe, leave, and get messages queued',
    async run(broker, { quick }) {
      const sessions = quick ? 300 : 1500;
      let refused = 0;
      await pool(sessions, 16, async (i) => {
        const r = await login(broker.port, { clientId: `long-${i}`, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 0xfffffffe }, ...USER });
        if (r.code !== 0) {
          refused++;
          if (process.env.SOAK_DEBUG) console.error('long-expiry refused', r.code);
          return r.client.end();
        }
        r.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'long/#', qos: 1 }] });
        await r.client.wait('suback', 10000);
        r.client.send({ cmd: 'disconnect', reasonCode: 0 });
        r.client.end();
      });
      const pub = await login(broker.port, { clientId: 'long-pub', ...USER });
      const out = await publishMany(pub.client, Array.from({ length: quick ? 20 : 100 }, () => ({ topic: 'long/t', payload: Buffer.alloc(1000) })));
      pub.client.end();
      await sleep(500);
      return { refused: refused + out.refused, dropped: out.unanswered, notes: `${sessions - refused} sessions kept, ${quick ? 20 : 100} × 1 KB queued to each` };
    },
  },
  {
    id: 'big-packets',
    what: 'authenticated clients send 20 MB packets and many 200 KB ones',
    async run(broker, { quick }) {
      const clients = quick ? 4 : 10;
      let refused = 0;
      let closed = 0;
      await pool(clients, clients, async (c) => {
        const big = await login(broker.port, { clientId: `bigp-${c}`, ...USER });
        await stream(big.client, publishHead('bigp/t', 20 * MiB, 0), 20 * MiB);
        await sleep(200);
        if (big.client.closed) refused++;
        big.client.end();
        const ok = await login(broker.port, { clientId: `okp-${c}`, ...USER });
        const out = await publishMany(ok.client, Array.from({ length: quick ? 20 : 50 }, () => ({ topic: 'bigp/ok', payload: Buffer.alloc(200 * 1024) })));
        if (out.closed) closed++;
        refused += out.refused;
        ok.client.end();
      });
      return { refused, dropped: closed, notes: `${clients} × 20 MB (over max_packet_size) and ${clients} × ${quick ? 20 : 50} × 200 KB` };
    },
  },
];

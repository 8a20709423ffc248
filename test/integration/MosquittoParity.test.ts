/**
 * Side by side with Debian's mosquitto: the same password file (from mosquitto_passwd), the
 * same ACL file, the same clients doing the same things. What each client receives must be
 * the same on both brokers. This is the mosquitto user's promise: point your files at mqttd
 * and everything behaves as it did.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectClient, rawSession, startMqttd, type MqttdProcess, type TestClient } from '../helpers/broker';
import { haveMosquittoClients, run } from '../helpers/brokerTools';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto';
import { hasCommand } from '../helpers/processes';
import type * as mqttPacket from 'mqtt-packet';

const enabled = haveMosquittoClients() && hasCommand('/usr/sbin/mosquitto');

const ACL = `topic read public/#
topic readwrite anon/#

user alice
topic readwrite home/#
topic deny home/secret
topic read sensors/+/temp
topic write sensors/#

user bob
topic write home/#
topic readwrite bob/#
topic read public/#

user carol
topic read #
topic deny bob/#

pattern readwrite users/%u/#
pattern read clients/%c/#
pattern readwrite marker/#
`;

const TOPICS = [
  'home/a',
  'home/secret',
  'sensors/x/temp',
  'sensors/x/hum',
  'bob/x',
  'users/alice/x',
  'users/bob/x',
  'clients/alice-c/x',
  'clients/bob-c/x',
  'public/x',
  'anon/x',
];
const FILTERS = ['#', 'home/#', 'home/secret', 'sensors/+/temp', 'users/+/x', 'clients/#', 'public/x'];
const CLIENTS: { id: string; user?: string }[] = [
  { id: 'alice-c', user: 'alice' },
  { id: 'bob-c', user: 'bob' },
  { id: 'carol-c', user: 'carol' },
  { id: 'anon-c' },
];

let dir: string;
let mosquitto: MosquittoBroker | undefined;
let mqttd: MqttdProcess | undefined;

before(async () => {
  if (!enabled) return;
  dir = mkdtempSync(join(tmpdir(), 'mqttd-parity-'));
  // mosquitto started as root drops to the mosquitto user, which must still read the files.
  chmodSync(dir, 0o755);
  const passwd = join(dir, 'passwd');
  for (const [i, user] of ['alice', 'bob', 'carol'].entries()) {
    const r = await run('mosquitto_passwd', ['-b', ...(i === 0 ? ['-c'] : []), passwd, user, `${user}-pw`]);
    assert.equal(r.code, 0, r.stderr);
  }
  chmodSync(passwd, 0o644);
  writeFileSync(join(dir, 'acl'), ACL, { mode: 0o644 });
  const lines = [`password_file ${passwd}`, `acl_file ${join(dir, 'acl')}`, 'allow_anonymous true'];
  mosquitto = await startMosquitto(lines);
  mqttd = await startMqttd(lines);
});
after(async () => {
  await mosquitto?.stop();
  await mqttd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Every client subscribes to every filter and publishes to every topic; returns who got what. */
async function exercise(port: number): Promise<string[]> {
  const url = `mqtt://127.0.0.1:${port}`;
  const clients: TestClient[] = [];
  for (const c of CLIENTS) {
    clients.push(
      await connectClient(url, {
        clientId: c.id,
        ...(c.user ? { username: c.user, password: `${c.user}-pw` } : {}),
      }),
    );
  }
  const got: string[] = [];
  try {
    for (const c of clients) {
      // SUBACK codes may differ by design (mqttd refuses filters that can never deliver);
      // what is delivered may not.
      for (const f of [...FILTERS, 'marker/#']) {
        await new Promise<void>((resolve) => c.client.subscribe(f, { qos: 1 }, () => resolve()));
      }
    }
    for (const [i, c] of clients.entries()) {
      for (const t of TOPICS) await c.client.publishAsync(t, `${CLIENTS[i].id}>${t}`, { qos: 1 }).catch(() => undefined);
      await c.client.publishAsync(`marker/${CLIENTS[i].id}`, 'end', { qos: 1 });
    }
    for (const [i, c] of clients.entries()) {
      // marker/# is readable by every user (pattern) but not by anonymous clients.
      const expectedMarkers = CLIENTS[i].user ? CLIENTS.length : 0;
      const markers = new Set<string>();
      while (markers.size < expectedMarkers) {
        const m = await c.next();
        if (m.topic.startsWith('marker/')) markers.add(m.topic);
      }
      if (!CLIENTS[i].user) await new Promise((r) => setTimeout(r, 300));
      for (const m of c.received) if (!m.topic.startsWith('marker/')) got.push(`${CLIENTS[i].id} <- ${m.payload}`);
    }
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
  return got.sort();
}

test('the same passwd and ACL files deliver exactly the same messages to the same clients', { skip: !enabled && 'mosquitto missing' }, async () => {
  const expected = await exercise(mosquitto!.port);
  const actual = await exercise(mqttd!.port);
  assert.ok(expected.length > 10, `mosquitto delivered ${expected.length} messages: the scenario is too weak`);
  assert.deepEqual(actual, expected);
});

test('the same wire behaviour for overlapping subscriptions, retained flags and unsubscribe codes (v5)', { skip: !enabled && 'mosquitto missing' }, async () => {
  const trace = async (port: number): Promise<string[]> => {
    const user = { username: 'alice', password: Buffer.from('alice-pw') };
    const s = await rawSession(port, 'alice-trace', 5, user);
    const send = async (packet: mqttPacket.Packet) => {
      s.sendPacket(packet);
      const p = await s.next();
      return p;
    };
    const out: string[] = [];
    const note = (p: mqttPacket.Packet) => {
      if (p.cmd === 'publish') {
        const sid = p.properties?.subscriptionIdentifier ?? '-';
        out.push(`publish ${p.topic} q${p.qos} r${p.retain ? 1 : 0} ${p.payload.toString()} sid=${String(sid)}`);
      } else if (p.cmd === 'suback' || p.cmd === 'unsuback') out.push(`${p.cmd} ${JSON.stringify(p.granted ?? null)}`);
      else out.push(p.cmd);
    };
    const pub = await rawSession(port, 'alice-pub', 5, user);
    pub.sendPacket({ cmd: 'publish', topic: 'home/r', payload: Buffer.from('kept'), qos: 1, messageId: 1, retain: true, dup: false });
    await pub.next();
    note(await send({ cmd: 'subscribe', messageId: 1, properties: { subscriptionIdentifier: 5 }, subscriptions: [{ topic: 'home/#', qos: 1, rap: true }] }));
    note(await s.next());
    note(await send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 'home/+', qos: 0, rh: 2 }] }));
    pub.sendPacket({ cmd: 'publish', topic: 'home/r', payload: Buffer.from('live'), qos: 1, messageId: 2, retain: true, dup: false });
    await pub.next();
    const copies = [await s.next(), await s.next()];
    const before = out.length;
    copies.forEach(note);
    out.push(...out.splice(before).sort());
    note(await send({ cmd: 'unsubscribe', messageId: 3, unsubscriptions: ['home/+', 'never/subscribed'] }));
    pub.sendPacket({ cmd: 'publish', topic: 'home/r', payload: Buffer.alloc(0), qos: 1, messageId: 3, retain: true, dup: false });
    await pub.next();
    note(await s.next());
    s.destroy();
    pub.destroy();
    return out;
  };
  const expected = await trace(mosquitto!.port);
  const actual = await trace(mqttd!.port);
  assert.deepEqual(actual, expected);
});

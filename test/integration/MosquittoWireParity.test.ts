/**
 * Wire traces side by side: the same raw packets sent to Debian's mosquitto and to mqttd,
 * and what each client receives compared packet by packet, for MQTT 3.1.1 and 5.0.
 *
 * Collecting is deterministic: a peer sends PINGREQ and everything before the PINGRESP is
 * what the broker had sent it by then (one TCP stream keeps its order).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type * as mqttPacket from 'mqtt-packet';
import { rawConnect, rawSession, startBroker, type RawPeer, type TestBroker } from '../helpers/broker';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto';
import { hasCommand } from '../helpers/processes';

const enabled = hasCommand('/usr/sbin/mosquitto');
let mosquitto: MosquittoBroker | undefined;
let mqttd: TestBroker | undefined;

before(async () => {
  if (!enabled) return;
  mosquitto = await startMosquitto(['allow_anonymous true']);
  mqttd = await startBroker();
});
after(async () => {
  await mosquitto?.stop();
  await mqttd?.stop();
});

function describePacket(p: mqttPacket.Packet): string {
  switch (p.cmd) {
    case 'publish':
      return `publish ${p.topic} q${p.qos} r${p.retain ? 1 : 0} d${p.dup ? 1 : 0} '${p.payload.toString()}'`;
    case 'connack':
      return `connack sp${p.sessionPresent ? 1 : 0} rc${p.returnCode ?? p.reasonCode}`;
    case 'suback':
    case 'unsuback':
      return `${p.cmd} ${JSON.stringify(p.granted)}`;
    case 'puback':
    case 'pubrec':
    case 'pubcomp':
    case 'pubrel':
    case 'disconnect':
      return p.reasonCode === undefined || p.reasonCode === 0 ? p.cmd : `${p.cmd} 0x${p.reasonCode.toString(16)}`;
    default:
      return p.cmd;
  }
}

/** Everything the broker sent this peer (since the last sync), in order. */
async function sync(peer: RawPeer, seen: { n: number }): Promise<string[]> {
  peer.sendPacket({ cmd: 'pingreq' });
  const out: string[] = [];
  for (;;) {
    const p = await peer.next();
    if (p.cmd === 'pingresp') break;
    out.push(describePacket(p));
  }
  seen.n = peer.packets.length;
  // Copies of one message to one client may come in any order: compare them as a set.
  return out;
}

const publish = (topic: string, payload: string, qos: 0 | 1 | 2, retain = false, messageId?: number): mqttPacket.IPublishPacket => ({
  cmd: 'publish',
  topic,
  payload: Buffer.from(payload),
  qos,
  retain,
  dup: false,
  messageId: qos > 0 ? messageId ?? 1 : undefined,
});

type Scenario = (port: number, v: 4 | 5) => Promise<string[]>;

const scenarios: Record<string, Scenario> = {
  async 'persistent session: session present, QoS 0/1/2 queued while away, clean start drops it'(port, v) {
    const out: string[] = [];
    const persistent = { clean: false, ...(v === 5 ? { properties: { sessionExpiryInterval: 100 } } : {}) };
    let s = await rawSession(port, `sp${v}`, v, persistent);
    out.push(describePacket(s.packets[0]));
    s.sendPacket({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'q/#', qos: 2 }] });
    out.push(...(await sync(s, { n: 0 })));
    s.sendPacket({ cmd: 'disconnect' });
    await s.closed;
    const p = await rawSession(port, `pub${v}`, v);
    for (const q of [0, 1, 2] as const) p.sendPacket(publish(`q/${q}`, `m${q}`, q, false, 10 + q));
    p.sendPacket({ cmd: 'pubrel', messageId: 12 });
    out.push('publisher:', ...(await sync(p, { n: 0 })));
    s = await rawSession(port, `sp${v}`, v, persistent);
    out.push(describePacket(s.packets[0]), ...(await sync(s, { n: 0 })));
    s.destroy();
    p.destroy();
    const c = await rawSession(port, `sp${v}`, v, { clean: true });
    out.push(describePacket(c.packets[0]));
    c.destroy();
    return out;
  },

  async 'retained: QoS on subscribe, empty non-retained payloads, $ topics, unsubscribe'(port, v) {
    const p = await rawSession(port, `rp${v}`, v);
    p.sendPacket(publish('rq/a', 'a', 1, true, 1));
    p.sendPacket(publish('rq/b', 'b', 0, true));
    const out = ['publisher:', ...(await sync(p, { n: 0 }))];
    const s = await rawSession(port, `rs${v}`, v);
    s.sendPacket({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'rq/+', qos: 2 }] });
    out.push(...(await sync(s, { n: 0 })));
    s.sendPacket({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: '#', qos: 0 }] });
    out.push(...(await sync(s, { n: 0 })).sort());
    p.sendPacket(publish('rq/c', '', 1, false, 3));
    p.sendPacket(publish('$x/y', 'dollar', 1, false, 5));
    out.push('publisher:', ...(await sync(p, { n: 0 })).map((l) => l.replace('puback 0x10', 'puback')));
    out.push(...(await sync(s, { n: 0 })).sort());
    s.sendPacket({ cmd: 'unsubscribe', messageId: 3, unsubscriptions: ['rq/+', '#', 'never'] });
    out.push(...(await sync(s, { n: 0 })));
    for (const t of ['rq/a', 'rq/b']) p.sendPacket(publish(t, '', 0, true));
    await sync(p, { n: 0 });
    s.destroy();
    p.destroy();
    return out;
  },

  async 'wills: DISCONNECT keeps it back, a dropped socket sends it, v5 DISCONNECT 0x04 sends it'(port, v) {
    const w = await rawSession(port, `watch${v}`, v);
    w.sendPacket({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `will${v}/#`, qos: 1 }] });
    const out = await sync(w, { n: 0 });
    const will = (name: string, retain: boolean) => ({
      will: { topic: `will${v}/${name}`, payload: Buffer.from(name), qos: 1 as const, retain, properties: {} },
    });
    const polite = await rawSession(port, `polite${v}`, v, will('polite', false));
    polite.sendPacket({ cmd: 'disconnect' });
    await polite.closed;
    const dropped = await rawSession(port, `dropped${v}`, v, will('dropped', true));
    dropped.destroy();
    if (v === 5) {
      const asked = await rawSession(port, `asked${v}`, v, will('asked', false));
      asked.sendPacket({ cmd: 'disconnect', reasonCode: 4 });
      await asked.closed;
    }
    // A broker may publish a will when it reads DISCONNECT or when the socket closes: wait
    // for the wills the spec requires (dropped; v5 also asked), then sync for any extra.
    for (let wills = v === 5 ? 2 : 1; wills > 0; wills--) out.push(describePacket(await w.next()));
    out.push(...(await sync(w, { n: 0 })));
    out.sort();
    const late = await rawSession(port, `late${v}`, v);
    late.sendPacket({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: `will${v}/#`, qos: 2 }] });
    out.push(...(await sync(late, { n: 0 })));
    late.sendPacket(publish(`will${v}/dropped`, '', 0, true));
    await sync(late, { n: 0 });
    late.destroy();
    w.destroy();
    return out;
  },

  async 'client ids: assigned for an empty id, long ids accepted, odd characters accepted'(port, v) {
    const out: string[] = [];
    for (const id of ['', 'x'.repeat(100), 'a b/#+']) {
      const p = await rawConnect(port, v);
      p.sendPacket({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: v, clientId: id, clean: true, keepalive: 0 });
      const connack = (await p.next()) as mqttPacket.IConnackPacket;
      out.push(describePacket(connack));
      if (v === 5 && id === '') out.push(`assigned ${connack.properties?.assignedClientIdentifier ? 'yes' : 'no'}`);
      p.destroy();
    }
    return out;
  },
};

for (const [name, scenario] of Object.entries(scenarios)) {
  for (const v of [4, 5] as const) {
    test(`v${v === 4 ? '3.1.1' : '5'} ${name}: the same as mosquitto`, { skip: !enabled && 'mosquitto missing' }, async () => {
      const expected = await scenario(mosquitto!.port, v);
      const actual = await scenario(mqttd!.port, v);
      assert.ok(expected.length >= 3, `too little happened: ${expected}`);
      assert.deepEqual(actual, expected);
    });
  }
}

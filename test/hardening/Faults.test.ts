/**
 * Faults around the running daemon: its store's file system full or read-only while it
 * autosaves, flash wear with and without changes, and clients whose network just vanishes.
 * (The FileStore itself under ENOSPC/EROFS/EACCES/EFBIG, and 100 kill -9s during saves, are
 * proven in test/persistence/FileStore.test and FileStoreCrash.test; this is the daemon
 * around it: it keeps running, says why, and saves again once the fault clears.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connectClient, eventually, startBroker, startMqttd } from '../helpers/broker';
import { FileStore } from '../../src/persistence/FileStore';
import { mountTmpfs } from '../persistence/storeTestEnv';
import { budgetSeconds, figure, sleep, writtenChars } from './hardeningKit';

function count(output: string, pattern: RegExp): number {
  return output.split('\n').filter((l) => pattern.test(l)).length;
}

test('store on a file system that fills up or turns read-only: mqttd keeps serving, logs why, keeps the old store, saves again after', async (t) => {
  const fs = mountTmpfs('256k');
  if (typeof fs === 'string') return t.skip(fs);
  let mqttd: Awaited<ReturnType<typeof startMqttd>> | undefined;
  try {
    mqttd = await startMqttd(['allow_anonymous true', 'persistence true', `persistence_location ${fs.dir}/`, 'autosave_interval 1', 'log_type all']);
    const url = `mqtt://127.0.0.1:${mqttd.port}`;
    const store = join(fs.dir, 'mqttd.db');
    const client = await connectClient(url, { clientId: 'writer' });
    const saves = () => count(mqttd!.process.output(), /Saved the store/);
    const failures = (code: string) => count(mqttd!.process.output(), new RegExp(`(Saving failed|could not save).*${code}`));

    await client.client.publishAsync('state/1', 'one', { qos: 1, retain: true });
    await eventually(() => saves() >= 1, 'first save', 5000);
    const good = readFileSync(store);

    // Read-only: the save fails, the old store stays, clients are still served.
    fs.remount('ro');
    await client.client.publishAsync('state/2', 'two', { qos: 1, retain: true });
    await eventually(() => failures('EROFS') >= 1, 'a logged EROFS failure', 5000).catch((err: Error) => {
      throw new Error(`${err.message}\n${mqttd!.process.output()}`);
    });
    assert.ok(readFileSync(store).equals(good), 'the store changed on a read-only file system');
    const probe = await connectClient(url, { clientId: 'probe-ro' });
    await probe.end();
    fs.remount('rw');
    const savesBefore = saves();
    await eventually(() => saves() > savesBefore, 'a save after remount rw', 5000);

    // Full: a filler takes the space; the save fails, then succeeds once it is removed.
    const filler = join(fs.dir, 'filler');
    const free = 256 * 1024 - statSync(store).size;
    try {
      writeFileSync(filler, Buffer.alloc(free));
    } catch {
      // Filled to the last byte: exactly what we wanted.
    }
    const goodFull = readFileSync(store);
    await client.client.publishAsync('state/3', Buffer.alloc(20_000, 0x33), { qos: 1, retain: true });
    await eventually(() => failures('ENOSPC') >= 1, 'a logged ENOSPC failure', 5000);
    assert.ok(readFileSync(store).equals(goodFull), 'the store changed on a full file system');
    rmSync(filler);
    const savesBeforeSpace = saves();
    await eventually(() => saves() > savesBeforeSpace, 'a save after space came back', 5000);
    await client.end();

    // Everything published survived every fault.
    const loaded = await new FileStore(store).load();
    assert.equal(loaded.problem, undefined);
    assert.deepEqual(loaded.snapshot.retained.map((m) => m.topic).sort(), ['state/1', 'state/2', 'state/3']);
    assert.equal(mqttd.process.child.exitCode, null);
    figure('store-faults', {
      faults: 'EROFS,ENOSPC',
      failed_saves_logged: failures('EROFS') + failures('ENOSPC'),
      broker_exits: 0,
      store_unreadable: 0,
      retained_lost: 0,
    });
  } finally {
    await mqttd?.stop();
    fs.unmount();
  }
});

test('flash wear: no changes, no bytes written at all; with changes, at most one save per autosave interval', async () => {
  const seconds = budgetSeconds(4);
  const mqttd = await startMqttd(['allow_anonymous true', 'persistence true', 'persistence_location %DIR%/', 'autosave_interval 1', 'log_type notice', 'log_type information']);
  try {
    const pid = mqttd.process.child.pid!;
    const url = `mqtt://127.0.0.1:${mqttd.port}`;
    const store = join(mqttd.dir, 'mqttd.db');
    const client = await connectClient(url, { clientId: 'loader' });
    for (let i = 0; i < 1000; i++) client.client.publish(`sensors/${i}`, `reading ${i} ${'x'.repeat(40)}`, { qos: 0, retain: true });
    await client.client.publishAsync('sensors/done', 'yes', { qos: 1, retain: true });
    await client.end();
    const savedLine = /Saved the store \((\d+) bytes\)/;
    await eventually(() => /sensors\/done/.test(readFileSyncSafe(store)), 'the store holds the 1,001 messages', 5000);
    await sleep(1500);
    const sizes = [...mqttd.process.output().matchAll(new RegExp(savedLine, 'g'))].map((m) => Number(m[1]));
    const bytesPerSave = sizes[sizes.length - 1];

    // Idle: not one byte written anywhere (store, log, sockets) over `seconds` autosaves.
    const before = statSync(store);
    const wcharBefore = writtenChars(pid);
    await sleep(seconds * 1000);
    const after = statSync(store);
    const idleBytes = writtenChars(pid) - wcharBefore;
    assert.equal(idleBytes, 0, `mqttd wrote ${idleBytes} bytes while nothing changed`);
    assert.equal(after.ino, before.ino, 'the store was replaced while nothing changed');
    assert.equal(after.mtimeMs, before.mtimeMs);

    // Busy: a change every 100 ms for `seconds`: saves are counted by the log line.
    const writer = await connectClient(url, { clientId: 'busy' });
    const savesBefore = count(mqttd.process.output(), savedLine);
    const started = Date.now();
    for (let i = 0; Date.now() - started < seconds * 1000; i++) {
      await writer.client.publishAsync('sensors/busy', String(i), { qos: 1, retain: true });
      await sleep(100);
    }
    const elapsed = (Date.now() - started) / 1000;
    await writer.end();
    const busySaves = count(mqttd.process.output(), savedLine) - savesBefore;
    assert.ok(busySaves <= Math.ceil(elapsed) + 1, `${busySaves} saves in ${elapsed} s with autosave_interval 1`);
    figure('flash-wear', {
      autosave_interval_s: 1,
      idle_intervals: seconds,
      idle_bytes_written: idleBytes,
      store_replaced_while_idle: 0,
      retained_messages: 1001,
      bytes_per_autosave: bytesPerSave,
      busy_seconds: elapsed.toFixed(1),
      busy_saves: busySaves,
    });
  } finally {
    await mqttd.stop();
  }
});

function readFileSyncSafe(path: string): string {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return '';
  }
}

/** A TCP relay that can "pull the cable": stop forwarding without closing anything. */
async function cablePuller(target: number): Promise<{ port: number; cut(): void; close(): void }> {
  const pairs: Socket[][] = [];
  let cut = false;
  const server = createServer((inbound) => {
    const outbound = netConnect(target, '127.0.0.1');
    pairs.push([inbound, outbound]);
    inbound.on('data', (d) => void (cut || outbound.write(d)));
    outbound.on('data', (d) => void (cut || inbound.write(d)));
    inbound.on('error', () => undefined);
    outbound.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    cut: () => {
      cut = true;
    },
    close: () => {
      for (const p of pairs) for (const s of p) s.destroy();
      server.close();
    },
  };
}

test('a client whose network vanishes: will published, session and its queue kept, connection freed', async () => {
  const b = await startBroker();
  const relay = await cablePuller(b.port);
  try {
    const watcher = await connectClient(b.url, { clientId: 'watcher' });
    await watcher.client.subscribeAsync('lost/#', { qos: 1 });
    const victim = await connectClient(`mqtt://127.0.0.1:${relay.port}`, {
      clientId: 'victim',
      clean: false,
      keepalive: 1,
      will: { topic: 'lost/victim', payload: Buffer.from('gone'), qos: 1, retain: false },
    });
    await victim.client.subscribeAsync('for/victim', { qos: 1 });
    relay.cut();
    // Neither side sees a FIN or RST: only the keepalive can tell.
    const will = await watcher.next(8000);
    assert.equal(will.payload, 'gone');
    await eventually(() => b.server.registry.connections.size === 1 && b.broker.stats.sockets === 1, 'the vanished connection freed');
    const session = b.broker.sessions.get('victim');
    assert.ok(session, 'the persistent session was dropped');
    await watcher.client.publishAsync('for/victim', 'while away', { qos: 1 });
    assert.equal(session.queuedCount + session.inflightCount, 1);
    victim.client.end(true);
    // Back on another network: the session and its message are there.
    const back = await connectClient(b.url, { clientId: 'victim', clean: false });
    assert.equal(back.connack?.sessionPresent, true);
    assert.equal((await back.next()).payload, 'while away');
    await back.end();
    await watcher.end();
    figure('network-loss', { will_published: 'yes', session_kept: 'yes', queued_delivered_on_return: 1, connections_left: 0 });
  } finally {
    relay.close();
    await b.stop();
  }
});

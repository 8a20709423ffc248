/**
 * Simple rules in a running daemon, driven by real MQTT.js clients over TCP: thresholds on
 * JSON fields, debounce, timers and clock times (on an injected clock), rewrites with
 * topic levels, loop protection, and reload without dropping clients.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { connectClient, eventually } from '../helpers/broker';
import { ManualClock } from '../helpers/manualClock';
import { MAX_RULE_HOPS } from '../../src/rules/RulePublisher';
import { startRulesDaemon, tempDir, writeFiles } from './rulesTestKit';

test('JSON threshold: a Tasmota sensor above 25 °C switches its plug on; below, or not JSON, nothing', async () => {
  const dir = tempDir();
  writeFiles(dir, {
    'rules.conf': [
      '# Tasmota: tele/<device>/SENSOR carries {"AM2301":{"Temperature":…}}',
      'rule fan_on',
      'when tele/+/SENSOR',
      'field json.AM2301.Temperature',
      'op >',
      'value 25',
      'topic cmnd/<2>/POWER',
      'payload ON <json.AM2301.Temperature> from <clientid>',
      'qos 1',
    ].join('\n'),
  });
  const d = await startRulesDaemon([`rules_file ${join(dir, 'rules.conf')}`], { dir });
  const sub = await connectClient(d.url);
  const pub = await connectClient(d.url, { clientId: 'sensor-1' });
  try {
    await sub.client.subscribeAsync('cmnd/#', { qos: 1 });
    await pub.client.publishAsync('tele/plug7/SENSOR', JSON.stringify({ AM2301: { Temperature: 24.5 } }));
    await pub.client.publishAsync('tele/plug7/SENSOR', 'not json');
    assert.equal(await sub.nothingWithin(300), true, 'no command below the threshold or for a non-JSON payload');
    await pub.client.publishAsync('tele/plug7/SENSOR', JSON.stringify({ AM2301: { Temperature: 26.5 } }));
    const m = await sub.next();
    assert.equal(m.topic, 'cmnd/plug7/POWER');
    assert.equal(m.payload, 'ON 26.5 from sensor-1');
    assert.equal(m.packet.qos, 1);
    assert.equal(d.status('fan_on').fired, 1);
    assert.equal(d.status('fan_on').state, 'active');
  } finally {
    await Promise.all([sub.end(), pub.end()]);
    await d.stop();
  }
});

test('debounce: a rule fires once per N seconds however often it is triggered', async () => {
  const clock = new ManualClock(new Date(2026, 10, 30, 12, 0, 0));
  const dir = tempDir();
  writeFiles(dir, {
    'rules.conf': ['rule bell', 'when doorbell/press', 'topic notify/bell', 'payload ring', 'debounce 60'].join('\n'),
  });
  const d = await startRulesDaemon([`rules_file ${join(dir, 'rules.conf')}`], { dir, clock });
  const sub = await connectClient(d.url);
  const pub = await connectClient(d.url);
  try {
    await sub.client.subscribeAsync('notify/#');
    for (let i = 0; i < 5; i++) await pub.client.publishAsync('doorbell/press', 'x', { qos: 1 });
    assert.equal((await sub.next()).payload, 'ring');
    assert.equal(await sub.nothingWithin(300), true, 'only one ring within the debounce time');
    clock.advance(59_000);
    await pub.client.publishAsync('doorbell/press', 'x', { qos: 1 });
    assert.equal(await sub.nothingWithin(200), true, 'still quiet at 59 s');
    clock.advance(2_000);
    await pub.client.publishAsync('doorbell/press', 'x', { qos: 1 });
    assert.equal((await sub.next()).payload, 'ring');
  } finally {
    await Promise.all([sub.end(), pub.end()]);
    await d.stop();
  }
});

test('timer and clock rules: every N seconds, at HH:MM on weekdays only, and a delayed publish (injected clock)', async () => {
  // Monday 30 November 2026, 07:29 local time.
  const clock = new ManualClock(new Date(2026, 10, 30, 7, 29, 0));
  const dir = tempDir();
  writeFiles(dir, {
    'rules.conf': [
      'rule heartbeat',
      'every 30',
      'topic router/heartbeat',
      'payload <date> <time>',
      '',
      'rule wake_up',
      'at 07:30',
      'weekdays mon-fri',
      'topic cmnd/blinds/POSITION',
      'payload 100',
      'retain true',
      '',
      'rule lights_off_later',
      'when home/lights/auto',
      'topic cmnd/lights/POWER',
      'payload OFF',
      'delay 300',
    ].join('\n'),
  });
  const d = await startRulesDaemon([`rules_file ${join(dir, 'rules.conf')}`], { dir, clock });
  const sub = await connectClient(d.url);
  try {
    await sub.client.subscribeAsync('router/heartbeat');
    clock.advance(30_000);
    assert.equal((await sub.next()).payload, '2026-11-30 07:29:30');
    clock.advance(60_000);
    assert.deepEqual([(await sub.next()).payload, (await sub.next()).payload], ['2026-11-30 07:30:00', '2026-11-30 07:30:30']);
    await sub.client.unsubscribeAsync('router/heartbeat');

    // 07:30 Monday has passed (fired once, retained); walk through the rest of the week.
    const blinds = await connectClient(d.url);
    await blinds.client.subscribeAsync('cmnd/blinds/POSITION');
    const retained = await blinds.next();
    assert.equal(retained.payload, '100');
    assert.equal(retained.packet.retain, true);
    assert.equal(d.status('wake_up').fired, 1);
    clock.advance(7 * 86400_000); // to next Monday 07:31
    await eventually(() => blinds.received.length >= 6, 'fired Tuesday to Friday and next Monday');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(blinds.received.length, 6, 'no wake-up on Saturday or Sunday');
    assert.equal(d.status('wake_up').fired, 6);
    await blinds.end();

    await sub.client.subscribeAsync('cmnd/lights/POWER');
    await sub.client.publishAsync('home/lights/auto', 'on', { qos: 1 });
    assert.equal(await sub.nothingWithin(200), true, 'nothing before the delay');
    clock.advance(299_000);
    assert.equal(await sub.nothingWithin(100), true, 'nothing at 299 s');
    clock.advance(1_000);
    assert.equal((await sub.next()).payload, 'OFF');
  } finally {
    await sub.end();
    await d.stop();
  }
});

test('topic rewrite with levels; a rule never triggers on its own publishes and a chain of rules stops after the hop limit', async () => {
  const dir = tempDir();
  writeFiles(dir, {
    'rules.conf': [
      'rule rewrite',
      'when tele/+/SENSOR',
      'topic home/<2>/sensor',
      'payload <payload>',
      '',
      // Publishes into its own filter: would loop forever without protection.
      'rule echo',
      'when echo/#',
      'topic echo/<2>/again',
      'payload <payload>',
      '',
      'rule ping',
      'when loop/a',
      'topic loop/b',
      'payload <payload>',
      '',
      'rule pong',
      'when loop/b',
      'topic loop/a',
      'payload <payload>',
    ].join('\n'),
  });
  const d = await startRulesDaemon([`rules_file ${join(dir, 'rules.conf')}`], { dir });
  const sub = await connectClient(d.url);
  const pub = await connectClient(d.url);
  try {
    await sub.client.subscribeAsync([ 'home/#', 'echo/#', 'loop/#' ]);
    await pub.client.publishAsync('tele/kitchen/SENSOR', '{"Temp":21}');
    const m = await sub.next();
    assert.deepEqual([m.topic, m.payload], ['home/kitchen/sensor', '{"Temp":21}']);

    await pub.client.publishAsync('echo/x', 'e');
    assert.deepEqual([(await sub.next()).topic, (await sub.next()).topic], ['echo/x', 'echo/x/again']);
    assert.equal(await sub.nothingWithin(300), true, `echo does not react to its own message: ${sub.received.map((r) => r.topic).join(' ')}`);

    await pub.client.publishAsync('loop/a', 'l');
    await eventually(() => sub.received.filter((r) => r.topic.startsWith('loop/')).length >= MAX_RULE_HOPS + 1, 'the chain');
    await new Promise((r) => setTimeout(r, 300));
    const chain = sub.received.filter((r) => r.topic.startsWith('loop/')).map((r) => r.topic);
    assert.equal(chain.length, MAX_RULE_HOPS + 1, `the client's message and ${MAX_RULE_HOPS} rule hops: ${chain.join(' ')}`);
    // The broker still routes normally afterwards.
    await pub.client.publishAsync('home/other', 'still here');
    await eventually(() => sub.received.some((r) => r.topic === 'home/other'), 'normal routing');
  } finally {
    await Promise.all([sub.end(), pub.end()]);
    await d.stop();
  }
});

test('reload: rules edited on disk apply after reload (SIGHUP), connected clients stay connected, broken rules are reported and skipped', async () => {
  const dir = tempDir();
  const rules = join(dir, 'rules.conf');
  writeFiles(dir, { 'rules.conf': ['rule old', 'when in/x', 'topic out/old'].join('\n') });
  const d = await startRulesDaemon([`rules_file ${rules}`], { dir });
  const sub = await connectClient(d.url);
  let closed = false;
  sub.client.on('close', () => (closed = true));
  try {
    await sub.client.subscribeAsync('out/#');
    await sub.client.publishAsync('in/x', '1');
    assert.equal((await sub.next()).topic, 'out/old');
    writeFiles(dir, { 'rules.conf': ['rule new', 'when in/x', 'topic out/new', '', 'rule broken', 'when in/y', 'topic out/<3>'].join('\n') });
    await d.daemon.reload();
    assert.equal(closed, false, 'the client stayed connected');
    await sub.client.publishAsync('in/x', '2');
    assert.equal((await sub.next()).topic, 'out/new');
    assert.equal(await sub.nothingWithin(200), true, 'the old rule is gone');
    const broken = d.status('broken');
    assert.equal(broken.state, 'invalid');
    assert.match(broken.last_error ?? '', /rules\.conf:7: rule 'broken': topic: <3> but 'in\/y' has only 2 levels/);
    assert.ok(d.logs.some((l) => l.includes('rules.conf:7')), d.logs.join('\n'));
  } finally {
    await sub.end();
    await d.stop();
  }
});

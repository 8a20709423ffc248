/**
 * Script rules (`rules_dir/*.js`) in a running daemon with real MQTT.js clients: the API,
 * mqttd.state across a restart, and scripts that throw or loop without harming the broker,
 * its clients, or the other scripts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectClient, eventually } from '../helpers/broker';
import { startRulesDaemon, tempDir, writeFiles } from './rulesTestKit';

const COUNTER = `module.exports = function (mqttd) {
  mqttd.on('counter/in', (message) => {
    mqttd.state.count = (mqttd.state.count || 0) + 1;
    mqttd.publish('counter/out', String(mqttd.state.count), { qos: 1 });
  });
};
`;

test('a script rule counts in mqttd.state, and the count survives a restart (saved next to the store)', async () => {
  const dir = tempDir();
  const scripts = join(dir, 'rules.d');
  mkdirSync(scripts);
  writeFiles(scripts, { 'counter.js': COUNTER });
  const lines = [`rules_dir ${scripts}`, 'persistence true', `persistence_location ${dir}/`];
  let d = await startRulesDaemon(lines, { dir });
  const port = d.port;
  try {
    let c = await connectClient(d.url);
    await c.client.subscribeAsync('counter/out', { qos: 1 });
    await c.client.publishAsync('counter/in', 'a', { qos: 1 });
    await c.client.publishAsync('counter/in', 'b', { qos: 1 });
    assert.deepEqual([(await c.next()).payload, (await c.next()).payload], ['1', '2']);
    await c.end();
    await d.stop();
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'mqttd-rules.json'), 'utf8')), { 'counter.js': { count: 2 } });

    d = await startRulesDaemon(lines, { dir, port });
    c = await connectClient(d.url);
    await c.client.subscribeAsync('counter/out', { qos: 1 });
    await c.client.publishAsync('counter/in', 'c', { qos: 1 });
    assert.equal((await c.next()).payload, '3', 'the count went on from the saved state');
    await c.end();
  } finally {
    await d.stop();
  }
});

test('script API: message fields and json(), retained(), every(), at() and log()', async () => {
  const dir = tempDir();
  writeFiles(dir, {
    'api.js': `module.exports = function (mqttd) {
  mqttd.on('api/+/in', async (m) => {
    const kept = await mqttd.retained('api/kept');
    mqttd.publish('api/out', { topic: m.topic, text: m.text, bytes: m.payload.length, json: m.json(), qos: m.qos, retain: m.retain, clientId: m.clientId, kept: kept && kept.text });
  });
  const stop = mqttd.every(1, () => { mqttd.publish('api/tick', 'tick'); stop(); });
  mqttd.at('07:30', 'mon', () => {});
  mqttd.log('loaded with', 2, 'handlers');
};
`,
  });
  const d = await startRulesDaemon([`rules_dir ${dir}`], { dir });
  const c = await connectClient(d.url, { clientId: 'api-client' });
  try {
    await c.client.subscribeAsync(['api/out', 'api/tick']);
    await c.client.publishAsync('api/kept', 'remembered', { retain: true, qos: 1 });
    await c.client.publishAsync('api/x/in', '{"v":1}', { qos: 1 });
    const got = [await c.next(3000), await c.next(3000)];
    const out = got.find((m) => m.topic === 'api/out');
    assert.ok(out, got.map((m) => m.topic).join());
    assert.deepEqual(JSON.parse(out.payload), { topic: 'api/x/in', text: '{"v":1}', bytes: 7, json: { v: 1 }, qos: 1, retain: false, clientId: 'api-client', kept: 'remembered' });
    assert.ok(got.some((m) => m.topic === 'api/tick' && m.payload === 'tick'));
    await new Promise((r) => setTimeout(r, 1300));
    assert.equal(c.received.filter((m) => m.topic === 'api/tick').length, 1, 'the every() was cancelled by its stop function');
    assert.equal(d.status('api.js').state, 'active');
  } finally {
    await c.end();
    await d.stop();
  }
});

test('a throwing script is logged with file and line and stopped after repeated failures; a looping one is cut off; the broker and other scripts go on', async () => {
  const dir = tempDir();
  writeFiles(dir, {
    'thrower.js': `module.exports = function (mqttd) {
  mqttd.on('bad/throw', () => {
    throw new Error('sensor value missing');
  });
};
`,
    'looper.js': `module.exports = function (mqttd) {
  mqttd.on('bad/loop', () => {
    for (;;) {}
  });
};
`,
    'echo.js': `module.exports = function (mqttd) {
  mqttd.on('good/in', (m) => mqttd.publish('good/out', 'echo ' + m.text));
};
`,
  });
  const d = await startRulesDaemon([`rules_dir ${dir}`, 'rules_script_time_limit 300'], { dir, scriptLimits: { maxFailures: 3 } });
  const c = await connectClient(d.url);
  const other = await connectClient(d.url);
  try {
    await c.client.subscribeAsync('good/out');
    await other.client.subscribeAsync('plain/#');
    await c.client.publishAsync('good/in', '1', { qos: 1 });
    assert.equal((await c.next()).payload, 'echo 1');

    await c.client.publishAsync('bad/throw', 'x', { qos: 1 });
    await eventually(() => d.status('thrower.js').last_error !== null, 'the throw is recorded');
    assert.match(d.status('thrower.js').last_error ?? '', /thrower\.js:3: handler for bad\/throw: Error: sensor value missing/);
    assert.equal(d.status('thrower.js').state, 'active', 'one throw does not stop the script');
    for (let i = 0; i < 2; i++) await c.client.publishAsync('bad/throw', 'x', { qos: 1 });
    await eventually(() => d.status('thrower.js').state === 'failed', 'stopped after 3 failures');
    assert.ok(d.logs.some((l) => /thrower\.js:3: handler for bad\/throw/.test(l)), d.logs.join('\n'));

    await c.client.publishAsync('bad/loop', 'x', { qos: 1 });
    // While the script thread spins, the broker still routes.
    await c.client.publishAsync('plain/a', 'during the loop', { qos: 1 });
    assert.equal((await other.next()).payload, 'during the loop');
    await eventually(() => d.status('looper.js').state === 'failed', 'the looping script is stopped', 5000);
    assert.match(d.status('looper.js').last_error ?? '', /blocked its thread for more than 300 ms in the handler of .*looper\.js:2/);

    // The thread was restarted without the looper: the good script answers again.
    // (Messages arriving while it restarts are not seen by the scripts: ask until it answers.)
    for (let i = 0; i < 50 && c.received.length < 2; i++) {
      await c.client.publishAsync('good/in', '2', { qos: 1 });
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await c.next(5000)).payload, 'echo 2');
    assert.equal(d.status('echo.js').state, 'active');
  } finally {
    await Promise.all([c.end(), other.end()]);
    await d.stop();
  }
});

test('scripts that do not load (syntax error, wrong export) are reported with file and line; the others run', async () => {
  const dir = tempDir();
  writeFiles(dir, {
    'a-syntax.js': 'module.exports = function (mqttd) {\n  mqttd.on("x", () => {\n};\n',
    'b-export.js': 'module.exports = 42;\n',
    'c-setup.js': 'module.exports = function (mqttd) {\n  mqttd.on("bad/+x", () => {});\n};\n',
    'd-fine.js': 'module.exports = function (mqttd) { mqttd.on("fine/in", () => mqttd.publish("fine/out", "ok")); };\n',
  });
  const d = await startRulesDaemon([`rules_dir ${dir}`], { dir });
  const c = await connectClient(d.url);
  try {
    assert.equal(d.status('a-syntax.js').state, 'invalid');
    assert.match(d.status('a-syntax.js').last_error ?? '', /a-syntax\.js:\d+: SyntaxError/);
    assert.equal(d.status('b-export.js').state, 'invalid');
    assert.match(d.status('b-export.js').last_error ?? '', /module\.exports must be a function/);
    assert.equal(d.status('c-setup.js').state, 'invalid');
    assert.match(d.status('c-setup.js').last_error ?? '', /c-setup\.js:2: setup: TypeError: mqttd\.on: "bad\/\+x" is not a topic filter/);
    await c.client.subscribeAsync('fine/out');
    await c.client.publishAsync('fine/in', 'x');
    assert.equal((await c.next()).payload, 'ok');
    assert.equal(existsSync(join(dir, 'mqttd-rules.json')), false, 'no state file without persistence');
  } finally {
    await c.end();
    await d.stop();
  }
});

test('a script too slow for its traffic: events beyond the backlog bound are dropped and reported, memory does not grow without bound', async () => {
  const dir = tempDir();
  writeFiles(dir, {
    'slow.js': `module.exports = function (mqttd) {
  mqttd.on('slow/in', (m) => {
    const until = Date.now() + 40;
    while (Date.now() < until) {}
    mqttd.publish('slow/out', m.text);
  });
};
`,
  });
  const d = await startRulesDaemon([`rules_dir ${dir}`], { dir, scriptLimits: { maxBacklog: 5 } });
  const c = await connectClient(d.url);
  try {
    await c.client.subscribeAsync('slow/out');
    for (let i = 0; i < 40; i++) c.client.publish('slow/in', String(i));
    await eventually(() => (d.status('slow.js').last_error ?? '').includes('events behind'), 'the drop is reported');
    assert.equal(d.status('slow.js').state, 'active', 'a slow script is not a failed one');
    await new Promise((r) => setTimeout(r, 800));
    const handled = c.received.length;
    assert.ok(handled > 0 && handled < 40, `some handled, some dropped: ${handled}`);
    assert.ok(d.logs.some((l) => /Script rules: 5 events waiting; \d+ dropped so far/.test(l)), d.logs.join('\n'));
  } finally {
    await c.end();
    await d.stop();
  }
});

test('a script that leaks memory ends its own thread at the heap cap; the broker keeps routing and the thread comes back', async () => {
  const dir = tempDir();
  writeFiles(dir, {
    'leak.js': `const kept = [];
module.exports = function (mqttd) {
  mqttd.on('leak/in', () => {
    for (let i = 0; i < 50; i++) kept.push(new Array(100000).fill(i));
  });
  mqttd.on('leak/ping', () => mqttd.publish('leak/pong', 'alive'));
};
`,
  });
  const d = await startRulesDaemon([`rules_dir ${dir}`], { dir, scriptLimits: { maxHeapMb: 16 } });
  const c = await connectClient(d.url);
  try {
    await c.client.subscribeAsync(['leak/pong', 'plain/#']);
    for (let i = 0; i < 10; i++) await c.client.publishAsync('leak/in', 'x', { qos: 1 });
    await eventually(() => d.logs.some((l) => /Script rules: the worker (failed|exited)/.test(l)), 'the worker ran out of memory', 10000);
    await c.client.publishAsync('plain/x', 'routing goes on', { qos: 1 });
    assert.equal((await c.next()).payload, 'routing goes on');
    // Restarted (after 1 s): the script answers again, with an empty heap.
    for (let i = 0; i < 50 && !c.received.some((m) => m.topic === 'leak/pong'); i++) {
      await c.client.publishAsync('leak/ping', 'x', { qos: 1 });
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(c.received.some((m) => m.topic === 'leak/pong'), d.logs.join('\n'));
    // Running out of memory is the thread's end, not a loop: the script is not blamed for blocking.
    assert.equal(d.status('leak.js').state, 'active', d.logs.join('\n'));
    assert.ok(!d.logs.some((l) => l.includes('blocked its thread')), d.logs.join('\n'));
  } finally {
    await c.end();
    await d.stop();
  }
});

/**
 * The mqttd command: config errors and exit codes, the no-config local-only mode, and the
 * informational flags.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { connectClient, MQTTD } from '../helpers/broker';
import { run } from '../helpers/brokerTools';
import { freePort, waitForPort } from '../helpers/ports';
import { startProcess, waitForOutput } from '../helpers/processes';

function conf(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-cli-'));
  const path = join(dir, 'mqttd.conf');
  writeFileSync(path, text);
  return path;
}

test('an option mosquitto has but mqttd does not support: exit code 3, file:line and the option named', async () => {
  const path = conf('# comment\nlistener 1884 127.0.0.1\nallow_anonymous true\nauth_plugin /usr/lib/x.so\n');
  const r = await run(process.execPath, [MQTTD, '-c', path]);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, new RegExp(`${path.replace(/[.]/g, '\\.')}:4`));
  assert.match(r.stderr, /auth_plugin/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

test('a bad value and an unknown option are both reported in one pass, each with its line', async () => {
  const path = conf('listener 1884\nmax_inflight_messages lots\nno_such_option 1\n');
  const r = await run(process.execPath, [MQTTD, '-c', path]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /:2\b[^\n]*max_inflight_messages/);
  assert.match(r.stderr, /:3\b[^\n]*no_such_option/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('a missing config file is a clear error, not a stack trace', async () => {
  const r = await run(process.execPath, [MQTTD, '-c', '/nonexistent/mqttd.conf']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /\/nonexistent\/mqttd\.conf/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('--version exits 0, --help exits 3 as mosquitto 2.0.11 -h does; both say what they should', async () => {
  const v = await run(process.execPath, [MQTTD, '--version']);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^mqttd version \d+\.\d+\.\d+/);
  const h = await run(process.execPath, [MQTTD, '--help']);
  assert.equal(h.code, 3);
  for (const flag of ['-c', '-p', '-v']) assert.ok(h.stdout.includes(` ${flag} `), `help mentions ${flag}`);
});

/** Local addresses of sockets listening on `port`, from /proc/net/tcp and tcp6. */
function listeningAddresses(port: number): string[] {
  const out: string[] = [];
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 4 || fields[3] !== '0A') continue; // 0A: LISTEN
      const [addr, p] = fields[1].split(':');
      if (p === hexPort) out.push(addr);
    }
  }
  return out;
}

test('no config file: listens on loopback only, allows anonymous, and says how to configure', async () => {
  const port = await freePort();
  const p = startProcess(process.execPath, [MQTTD, '-p', String(port)]);
  try {
    await waitForOutput(p, /running/);
    await waitForPort(port);
    assert.match(p.output(), /local only mode/);
    const addresses = listeningAddresses(port);
    assert.ok(addresses.length > 0, 'found the listening socket');
    const loopback = new Set(['0100007F', '00000000000000000000000001000000']);
    for (const a of addresses) assert.ok(loopback.has(a), `listening on non-loopback address ${a}`);
    const c = await connectClient(`mqtt://127.0.0.1:${port}`);
    await c.end();
  } finally {
    await p.stop();
  }
});

test('bind_interface lo: the listener binds the interface\'s own addresses, nothing else', async () => {
  const port = await freePort();
  const path = conf(`listener ${port}\nbind_interface lo\nallow_anonymous true\n`);
  const p = startProcess(process.execPath, [MQTTD, '-c', path]);
  try {
    await waitForOutput(p, /running/);
    await waitForPort(port);
    const addresses = listeningAddresses(port);
    assert.ok(addresses.length > 0);
    const loopback = new Set(['0100007F', '00000000000000000000000001000000']);
    for (const a of addresses) assert.ok(loopback.has(a), `listening on ${a}, which is not lo's`);
  } finally {
    await p.stop();
  }
});

test('SIGTERM exits cleanly (code 0) even while a socket sits without CONNECT', async () => {
  const port = await freePort();
  const path = conf(`listener ${port} 127.0.0.1\nallow_anonymous true\nconnect_timeout 3600\n`);
  const p = startProcess(process.execPath, [MQTTD, '-c', path]);
  await waitForOutput(p, /running/);
  await waitForPort(port);
  const idle = connect(port, '127.0.0.1');
  idle.on('error', () => undefined);
  await new Promise((r) => idle.once('connect', r));
  p.child.kill('SIGTERM');
  // With an hour of CONNECT timeout, only closing that socket lets the daemon finish.
  assert.equal(await p.exited, 0, p.output());
  idle.destroy();
  await p.stop();
});

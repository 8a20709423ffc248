import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import mqtt from 'mqtt';
import { Broker } from '../../src/broker/Broker';
import { defaultConfig, defaultListener } from '../../src/config/BrokerConfig';
import { Daemon } from '../../src/daemon/Daemon';
import { ListenerOpener } from '../../src/daemon/ListenerOpener';
import { Logger, type LogLevel } from '../../src/log/Logger';
import { MqttServer } from '../../src/server/MqttServer';
import { freePort, waitForPort } from '../helpers/ports';

function recordingLogger(): { log: Logger; lines: [LogLevel, string][] } {
  const lines: [LogLevel, string][] = [];
  return { log: new Logger([{ write: (level, line) => lines.push([level, line]) }], ['error', 'warning', 'notice'], false), lines };
}

function connects(port: number, host = '127.0.0.1'): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect({ host, port, reconnectPeriod: 0, connectTimeout: 5000 });
    c.once('connect', () => (c.end(true), resolve()));
    c.once('error', reject);
  });
}

function hold(port: number): Promise<Server> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

test('a port held by another program is retried while the other listener serves, and opens once it is free', async (t) => {
  const free = await freePort();
  const taken = await freePort();
  const holder = await hold(taken);
  const { log, lines } = recordingLogger();
  const server = new MqttServer(new Broker());
  const opener = new ListenerOpener(server, log, 100);
  t.after(async () => {
    opener.close();
    await server.close();
  });
  const fatal = await opener.openAll([
    { ...defaultListener(free), bindAddress: '127.0.0.1' },
    { ...defaultListener(taken), bindAddress: '127.0.0.1' },
  ]);
  assert.deepEqual(fatal, []);
  assert.equal(opener.pending, 1);
  await connects(free);
  const warnings = lines.filter(([level]) => level === 'warning');
  assert.equal(warnings.length, 1);
  assert.match(warnings[0][1], new RegExp(`cannot listen on 127\\.0\\.0\\.1:${taken}: .*EADDRINUSE.*trying again in the background`));

  // Still taken after several attempts: no more lines, only the first one.
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(lines.filter(([level]) => level === 'warning').length, 1);
  await new Promise<void>((r) => holder.close(() => r()));
  await waitForPort(taken, '127.0.0.1', 20000);
  await connects(taken);
  assert.ok(lines.some(([level, line]) => level === 'notice' && line === `Opening ipv4 listen socket on port ${taken} (mqtt).`));
  assert.equal(opener.pending, 0);
});

test('an address not on this machine (EADDRNOTAVAIL, as a tentative IPv6) is retried; close() stops the retries', async (t) => {
  const { log, lines } = recordingLogger();
  const server = new MqttServer(new Broker());
  const opener = new ListenerOpener(server, log, 50);
  t.after(() => server.close());
  const fatal = await opener.openAll([{ ...defaultListener(await freePort()), bindAddress: '192.0.2.1' }]);
  assert.deepEqual(fatal, []);
  assert.equal(opener.pending, 1);
  assert.match(lines[0][1], /EADDRNOTAVAIL/);
  opener.close();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(server.listeners.length, 0);
});

test('the daemon runs while any listener serves or is being retried, and exits only when none ever can', async () => {
  const port = await freePort();
  const serving = defaultConfig();
  serving.logDest = ['none'];
  serving.allowAnonymous = true;
  serving.listeners = [
    { ...defaultListener(port), bindAddress: '127.0.0.1' },
    // Not retryable: an unreadable certificate is the configuration's fault.
    { ...defaultListener(await freePort()), bindAddress: '127.0.0.1', certfile: '/nonexistent/cert.pem', keyfile: '/nonexistent/key.pem' },
    { ...defaultListener(await freePort()), bindAddress: '192.0.2.1' },
  ];
  const daemon = await Daemon.start({ config: serving });
  try {
    await connects(port);
  } finally {
    await daemon.stop();
  }

  const waiting = defaultConfig();
  waiting.logDest = ['none'];
  waiting.listenersAwaitingNetwork = ["listener 'lan' (port 1883) waits for network 'lan' to get an address."];
  const idle = await Daemon.start({ config: waiting });
  assert.equal(idle.server.listeners.length, 0);
  await idle.stop();

  const hopeless = defaultConfig();
  hopeless.logDest = ['none'];
  hopeless.listeners = [{ ...defaultListener(await freePort()), bindAddress: '127.0.0.1', certfile: '/nonexistent/cert.pem', keyfile: '/nonexistent/key.pem' }];
  await assert.rejects(Daemon.start({ config: hopeless }), /cannot read certfile \/nonexistent\/cert\.pem/);
});

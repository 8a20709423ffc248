// The three brokers under test, each started fresh on its own port with comparable settings:
// anonymous access, no persistence, one plain TCP listener on 127.0.0.1.
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitForPort, pinned } from './system.mjs';

const node = process.execPath;

/** Extra Node flags for mqttd only (e.g. what the OpenWrt init script passes), via --mqttd-flags. */
export const mqttdNodeFlags = [];

export const brokers = {
  mqttd: {
    label: 'mqttd',
    /** The bundle as shipped, not the tsc output. */
    missing: () => (existsSync('dist/mqttd.js') ? null : 'dist/mqttd.js is missing (the broker is not built yet)'),
    command(port, dir, extra = []) {
      const conf = join(dir, `mqttd-${port}.conf`);
      writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', ...extra, ''].join('\n'));
      return [node, ...mqttdNodeFlags, 'dist/mqttd.js', '-c', conf];
    },
    pubCommand: (port) => [node, 'dist/mqttd_pub.js', '-h', '127.0.0.1', '-p', String(port), '-n', '-t', 'x'],
    pubLabel: 'mqttd_pub',
    pubMissing: () => (existsSync('dist/mqttd_pub.js') ? null : 'dist/mqttd_pub.js is missing'),
    footprint: () => ({ file: 'dist/mqttd.js', what: 'dist/mqttd.js (bundle; needs Node)' }),
  },
  mosquitto: {
    label: 'mosquitto',
    missing: () => (existsSync('/usr/sbin/mosquitto') ? null : '/usr/sbin/mosquitto is missing (apt-get install mosquitto)'),
    command(port, dir) {
      const conf = join(dir, `mosquitto-${port}.conf`);
      // Debian's defaults otherwise (logging to stderr, max_queued_messages 1000, max_inflight 20).
      writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
      return ['/usr/sbin/mosquitto', '-c', conf];
    },
    pubCommand: (port) => ['/usr/bin/mosquitto_pub', '-h', '127.0.0.1', '-p', String(port), '-n', '-t', 'x'],
    pubLabel: 'mosquitto_pub',
    pubMissing: () => (existsSync('/usr/bin/mosquitto_pub') ? null : 'mosquitto_pub is missing (apt-get install mosquitto-clients)'),
    footprint: () => ({ file: '/usr/sbin/mosquitto', what: '/usr/sbin/mosquitto (ELF; plus libssl, libcjson)' }),
  },
  aedes: {
    label: 'aedes',
    missing: () => (existsSync('node_modules/aedes/package.json') ? null : 'node_modules/aedes is missing (npm ci)'),
    command: (port) => [node, 'bench/aedes-broker.mjs', String(port)],
    // MQTT.js's CLI is what a Node user of aedes would reach for.
    pubCommand: (port) => [node, 'node_modules/mqtt/build/bin/mqtt.js', 'pub', '-h', '127.0.0.1', '-p', String(port), '-t', 'x', '-m', ''],
    pubLabel: 'MQTT.js `mqtt pub`',
    pubMissing: () => (existsSync('node_modules/mqtt/build/bin/mqtt.js') ? null : 'node_modules/mqtt is missing'),
    footprint: () => ({ bundle: 'bench/aedes-broker.mjs', what: 'aedes runner bundled like mqttd (esbuild, minified; needs Node)' }),
  },
};

/**
 * Starts a fresh broker pinned to core; resolves once it accepts TCP connections.
 * Its output goes to a log file, shown when it fails.
 */
export async function startBroker(name, { core, dir, port, extraConfig }) {
  const def = brokers[name];
  port ??= await freePort();
  const argv = pinned(core, def.command(port, dir, extraConfig));
  const log = join(dir, `${name}-${port}.log`);
  const fd = openSync(log, 'w');
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let exitCode = null;
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve((exitCode = code ?? signal))));
  try {
    await waitForPort(port, 15000, () => exitCode === null);
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    throw new Error(`${name} did not start (${err.message}); its log ${log}:\n${tail(log)}`);
  }
  return {
    name,
    port,
    pid: child.pid,
    log,
    alive: () => exitCode === null,
    async stop() {
      if (exitCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export function tail(file, lines = 15) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

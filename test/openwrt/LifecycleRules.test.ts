/**
 * Rules through the OpenWrt lifecycle: the real init script under the procd stand-in runs the
 * real bundle; a rule section changed in /etc/config/mqttd and applied with `reload` (what
 * Save & Apply ends in) is reread by SIGHUP in the same process, no client dropped, while a
 * listener change still restarts (see Lifecycle.test.ts for the stand-ins).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { freePort, waitForPort } from '../helpers/ports';
import { canChroot, makeOpenwrtRoot } from './openwrtRoot';
import { hasBundle } from './routerShell';

const skip = !canChroot() ? 'needs root and busybox for the chroot' : !hasBundle() && 'needs dist/ (npm run build)';

function config(port: number, payload: string): string {
  return [
    "config mqttd 'general'",
    "\toption allow_anonymous '1'",
    "\toption persistence '0'",
    "\toption sys_interval '0'",
    "config listener 'loopback'",
    `\toption port '${port}'`,
    "\toption address '127.0.0.1'",
    "config rule 'fan_on'",
    "\toption when 'tele/+/SENSOR'",
    "\toption field 'json.AM2301.Temperature'",
    "\toption op '>'",
    "\toption value '25'",
    "\toption topic 'cmnd/<2>/POWER'",
    `\toption payload '${payload}'`,
    '',
  ].join('\n');
}

async function until(what: string, check: () => boolean, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a rule changed in UCI and applied with reload is reread by SIGHUP: same broker process, clients stay, the new rule fires', { skip }, async (t) => {
  const port = await freePort();
  const box = makeOpenwrtRoot(config(port, 'ON'), '', { broker: true });
  t.after(() => box.close());
  assert.equal(box.initd('start').status, 0);
  await waitForPort(port, '127.0.0.1', 20000);
  const pid = box.pid();
  assert.ok(pid);

  const client = await mqtt.connectAsync({ host: '127.0.0.1', port, reconnectPeriod: 0 });
  t.after(() => client.end(true));
  let dropped = false;
  client.on('close', () => (dropped = true));
  const got: string[] = [];
  client.on('message', (topic, payload) => got.push(`${topic} ${payload.toString()}`));
  await client.subscribeAsync('cmnd/#');
  await client.publishAsync('tele/plug1/SENSOR', '{"AM2301":{"Temperature":26}}');
  await until('the rule fired', () => got.includes('cmnd/plug1/POWER ON'));

  box.write('etc/config/mqttd', config(port, 'ON <json.AM2301.Temperature>'));
  assert.equal(box.initd('reload').status, 0);
  // The edited rule is in force once the running broker reread the file.
  await until('the edited rule fires', () => {
    if (!got.some((g) => g.startsWith('cmnd/plug2/POWER ON 27'))) void client.publishAsync('tele/plug2/SENSOR', '{"AM2301":{"Temperature":27}}');
    return got.includes('cmnd/plug2/POWER ON 27');
  });
  assert.equal(box.pid(), pid, 'SIGHUP, not a restart');
  assert.equal(dropped, false, 'nobody was disconnected');
});

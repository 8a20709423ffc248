/**
 * The same ACL file in Debian's real mosquitto 2.0 and in AclRules must allow and refuse
 * the same publishes. mosquitto answers a refused MQTT 5 QoS 1 PUBLISH with PUBACK
 * "Not authorized", which mosquitto_pub prints, so each case is decided, not timed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCommand } from '../helpers/processes';
import { startMosquitto } from '../helpers/mosquitto';
import { AclRules } from '../../src/auth/AclRules';
import type { ClientIdentity } from '../../src/auth/Security';

const ACL = [
  'topic write public/#',
  'topic deny public/secret/#',
  'topic read readonly/#',
  'topic write $app/anon',
  'user alice',
  'topic readwrite alice/#',
  'topic deny alice/locked',
  'topic write +/shared',
  'user bob',
  'topic write bob',
  'pattern write dev/%c/out',
  'pattern write users/%u/#',
  'pattern deny users/%u/private',
  '',
].join('\n');

const CASES: Array<[ClientIdentity, string]> = [];
const identities: ClientIdentity[] = [
  { clientId: 'anon1' },
  { clientId: 'alice1', username: 'alice' },
  { clientId: 'bob1', username: 'bob' },
  { clientId: 'carol1', username: 'carol' },
  { clientId: 'x+y', username: 'alice' },
  { clientId: 'evil1', username: 'ev#l' },
];
const topics = [
  'public/a',
  'public',
  'public/secret',
  'public/secret/deep',
  'readonly/a',
  '$app/anon',
  'alice/a',
  'alice/locked',
  'x/shared',
  'bob',
  'bob/x',
  'dev/anon1/out',
  'dev/alice1/out',
  'dev/bob1/out',
  'dev/x+y/out',
  'users/alice/a',
  'users/alice/private',
  'users/carol/a',
  'users/ev#l/a',
];
for (const who of identities) for (const topic of topics) if (!topic.includes('+') && !topic.includes('#')) CASES.push([who, topic]);

/** Asynchronous, so the broker's log pipe keeps being drained while the client runs. */
function mosquittoPub(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('mosquitto_pub', args, { encoding: 'utf8', timeout: 10000 }, (err, stdout, stderr) => {
      const status = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ status, stdout, stderr });
    });
  });
}

test('publishes allowed and refused by real mosquitto 2.0 and by AclRules are the same', async (t) => {
  if (!hasCommand('/usr/sbin/mosquitto') || !hasCommand('mosquitto_pub')) return t.skip('mosquitto not installed');
  const dir = mkdtempSync(join(tmpdir(), 'mqttd-acl-'));
  chmodSync(dir, 0o755);
  const aclFile = join(dir, 'acl');
  writeFileSync(aclFile, ACL);
  chmodSync(aclFile, 0o644);
  const { rules, errors } = AclRules.parse(ACL, aclFile);
  assert.deepEqual(errors, []);
  const broker = await startMosquitto(['allow_anonymous true', `acl_file ${aclFile}`]);
  try {
    const mismatches: string[] = [];
    for (const [who, topic] of CASES) {
      const args = ['-h', '127.0.0.1', '-p', String(broker.port), '-V', '5', '-q', '1', '-i', who.clientId, '-t', topic, '-m', 'x'];
      if (who.username !== undefined) args.push('-u', who.username);
      const run = await mosquittoPub(args);
      assert.equal(run.status, 0, `mosquitto_pub ${args.join(' ')} failed: ${run.stderr}`);
      const mosquitto = !/not authori[sz]ed/i.test(run.stderr + run.stdout);
      const mqttd = rules.check(who, topic, 'write');
      if (mosquitto !== mqttd) mismatches.push(`${who.username ?? '(anonymous)'}/${who.clientId} ${topic}: mosquitto ${mosquitto}, mqttd ${mqttd}`);
    }
    assert.deepEqual(mismatches, []);
    // The table must exercise both answers, or it proves nothing.
    const answers = new Set(CASES.map(([who, topic]) => rules.check(who, topic, 'write')));
    assert.deepEqual([...answers].sort(), [false, true]);
  } finally {
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * `mqttd --check-rules` (the bundle, as users run it): every broken rule reported as
 * file:line, exit code 3; a clean set exits 0. Also the UCI `config rule` sections.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MQTTD } from '../helpers/broker';
import { tempDir, writeFiles } from './rulesTestKit';

function check(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [MQTTD, ...args, '--check-rules'], { encoding: 'utf8', timeout: 20000 });
}

test('--check-rules reports each broken rule and script with file and line, and exits 3', () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'rules.d'));
  writeFiles(dir, {
    'mqttd.conf': [`rules_file ${join(dir, 'rules.conf')}`, `rules_dir ${join(dir, 'rules.d')}`, 'listener 18999 127.0.0.1'].join('\n'),
    'rules.conf': [
      'rule ok',
      'when a/b',
      'topic c',
      '',
      'rule hot',
      'when tele/+/SENSOR',
      'op >',
      'value warm',
      'topic cmnd/<2>/POWER',
      '',
      'rule clock',
      'at 25:00',
      'topic x',
      '',
      'rule ok',
      'every 5',
      'topic y',
      'colour blue',
    ].join('\n'),
  });
  writeFiles(join(dir, 'rules.d'), { 'broken.js': 'module.exports = function (mqttd) {\n  mqttd.on("x", () => {\n    let = ;\n  });\n};\n', 'fine.js': 'module.exports = () => {};\n' });
  const r = check(['-c', join(dir, 'mqttd.conf')]);
  assert.equal(r.status, 3, r.stderr);
  const rules = join(dir, 'rules.conf');
  assert.match(r.stderr, new RegExp(`${rules}:8: rule 'hot': value: '>' compares numbers, got 'warm'`));
  assert.match(r.stderr, new RegExp(`${rules}:12: rule 'clock': at: expected a time HH:MM`));
  assert.match(r.stderr, new RegExp(`${rules}:15: rule 'ok' is already defined at ${rules}:1`));
  assert.match(r.stderr, new RegExp(`${join(dir, 'rules.d', 'broken.js')}:3: SyntaxError`));
  assert.match(r.stderr, /1 simple rule\(s\) and 1 script\(s\) OK; found 4 problem\(s\)/);
});

test('--check-rules with --uci reads config rule sections; a clean set exits 0', () => {
  const dir = tempDir();
  const uci = join(dir, 'mqttd');
  writeFiles(dir, {
    mqttd: [
      "config mqttd 'general'",
      `\toption rules_dir '${join(dir, 'none')}'`,
      "config listener 'lan'",
      "\toption port '18998'",
      "\toption address '127.0.0.1'",
      "config rule 'fan'",
      "\toption when 'tele/+/SENSOR'",
      "\toption field 'json.AM2301.Temperature'",
      "\toption op '>'",
      "\toption value '25'",
      "\toption topic 'cmnd/<2>/POWER'",
      "\toption payload 'ON'",
      "config rule 'morning'",
      "\toption at '07:30'",
      "\tlist weekdays 'mon'",
      "\tlist weekdays 'fri'",
      "\toption topic 'blinds'",
      '',
    ].join('\n'),
  });
  const good = check(['--uci', uci]);
  assert.equal(good.status, 0, good.stderr);
  assert.match(good.stdout, /2 simple rule\(s\) and 0 script\(s\) OK/);

  writeFiles(dir, { mqttd: `${readFileSync(uci, 'utf8')}config rule 'bad'\n\toption when 'a/#/b'\n\toption topic 't'\n\toption qos '3'\n` });
  const bad = check(['--uci', uci]);
  assert.equal(bad.status, 3);
  assert.match(bad.stderr, new RegExp(`${uci}:19: rule 'bad': when: 'a/#/b' is not a topic filter`));
  assert.match(bad.stderr, new RegExp(`${uci}:21: rule 'bad': qos: expected a whole number from 0 to 2, got '3'`));
});

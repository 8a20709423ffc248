/**
 * Nothing the LuCI backend (the rpcd plugin, run by busybox ash) receives can reach a shell
 * unquoted: `$(...)`, backticks, `;`, `|`, `&&`, quotes and newlines in every field of every
 * method, and in the file paths it reads from UCI (which LuCI may also write). A canary file
 * that any injected command would create must never appear.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasCommand } from '../helpers/processes';
import { PLUGIN, callPlugin, pluginFiles, routerPath, tempDir } from '../openwrt/routerShell';
import { figure } from './hardeningKit';

const skip = !hasCommand('busybox') && 'needs busybox';

/** Every way a value could break out of a shell word, each creating `canary`. */
function payloads(canary: string): string[] {
  return [
    `$(touch ${canary})`,
    `\`touch ${canary}\``,
    `x; touch ${canary}`,
    `x | touch ${canary}`,
    `x && touch ${canary}`,
    `x' ; touch ${canary}; '`,
    `x" ; touch ${canary}; "`,
    `x\ntouch ${canary}`,
    `x\rtouch ${canary}`,
    `$(touch ${canary})\n$(touch ${canary})`,
    `\${IFS}$(touch${'${IFS}'}${canary})`,
    `-rf /; touch ${canary}`,
  ];
}

test('rpcd plugin: shell metacharacters and newlines in every field never run a command', { skip }, () => {
  const { bin } = routerPath();
  const files = pluginFiles();
  writeFileSync(files.passwd, '# users\n', { mode: 0o640 });
  writeFileSync(files.acl, 'pattern readwrite users/%u/#\n', { mode: 0o640 });
  const canary = join(tempDir('mqttd-canary-'), 'injected');
  const calls: [string, Record<string, string>][] = [];
  for (const p of payloads(canary)) {
    calls.push(['add_user', { username: p, password: 'pw' }]);
    calls.push(['add_user', { username: `u${calls.length}`, password: p }]);
    calls.push(['set_password', { username: p, password: p }]);
    calls.push(['delete_user', { username: p }]);
    calls.push(['set_acl', { acl: `user ${p}\ntopic read ${p}\n` }]);
    calls.push(['set_acl', { acl: p }]);
  }
  let accepted = 0;
  let refused = 0;
  for (const [method, request] of calls) {
    const reply = callPlugin(bin, files, method, request);
    assert.ok(!existsSync(canary), `${method} ${JSON.stringify(request)} ran an injected command`);
    if ('error' in reply) refused++;
    else accepted++;
    if (method === 'add_user' && !('error' in reply)) {
      // What was accepted is stored literally: the username reads back exactly as sent.
      const users = (callPlugin(bin, files, 'list_users').users as { username: string }[]).map((u) => u.username);
      assert.ok(users.includes(request.username), `${JSON.stringify(request.username)} missing from ${JSON.stringify(users)}`);
    }
  }
  for (const m of ['list_users', 'get_acl', 'status']) callPlugin(bin, files, m);
  assert.ok(!existsSync(canary));
  assert.equal(statMode(files.passwd) & 0o007, 0);
  figure('rpcd-injection', { calls: calls.length, accepted_literally: accepted, refused_with_error: refused, commands_run: 0 });
});

function statMode(path: string): number {
  return statSync(path).mode;
}

test('rpcd plugin: hostile file paths from UCI (password_file, acl_file, status_file) are never run', { skip }, () => {
  const { bin } = routerPath();
  const canary = join(tempDir('mqttd-canary-'), 'injected');
  const root = tempDir('mqttd-uci-');
  for (const [i, p] of payloads(canary).filter((x) => !/[\r\n]/.test(x)).entries()) {
    // A fake `uci` answers every `uci -q get mqttd.general.<option>` with a hostile path.
    const dir = join(root, `case${i}`);
    mkdirSync(dir, { recursive: true });
    const hostile = join(dir, p.replaceAll('/', '_'));
    const uci = join(bin, 'uci');
    writeFileSync(uci, `#!/bin/sh\nprintf '%s\\n' '${hostile.replaceAll("'", "'\\''")}'\n`);
    chmodSync(uci, 0o755);
    for (const [method, request] of [
      ['list_users', {}],
      ['get_acl', {}],
      ['status', {}],
      ['add_user', { username: 'bob', password: 'pw' }],
      ['set_acl', { acl: 'topic read a\n' }],
    ] as const) {
      const r = spawnSync('/usr/bin/busybox', ['ash', PLUGIN, 'call', method], { input: JSON.stringify(request), encoding: 'utf8', env: { PATH: bin } });
      assert.equal(r.status, 0, r.stderr);
      assert.doesNotThrow(() => JSON.parse(r.stdout), `${method} printed ${r.stdout}`);
      assert.ok(!existsSync(canary), `${method} with password_file ${JSON.stringify(hostile)} ran an injected command`);
    }
    // The hostile path is treated as a path: the files land exactly there.
    if (existsSync(hostile)) assert.match(readFileSync(hostile, 'utf8'), /^(bob:|topic read a)/m);
  }
});

/**
 * The server side of the LuCI harness: serves the real view files and the minimal loader,
 * and answers ubus JSON-RPC the way uhttpd + rpcd would — every call's session is checked
 * against the app's acl.d grants first (an unknown or all-zero session is denied), then
 * `mqttd` and `mqttd.explorer` calls run the real rpcd plugins under busybox ash (rpcd
 * exec.c: `<plugin> call <method>`, the arguments on stdin), and `uci` calls read and write
 * a real UCI file as rpcd's uci object does (openwrt/rpcd uci.c; each method below names
 * its function there).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, normalize } from 'node:path';
import assert from 'node:assert/strict';
import { chromium, type Browser, type Page } from 'playwright-core';
import { parseUci, type UciPackage } from '../../src/config/UciConfig';
import type { FileError } from '../../src/config/FileError';
import { hasCommand } from '../helpers/processes';
import { REPO } from '../openwrt/openwrtRoot';
import { PLUGIN, hasBundle, tempDir, type PluginFiles } from '../openwrt/routerShell';

const VIEWS = join(REPO, 'luci/htdocs/luci-static/resources');
const LOADER = join(REPO, 'test/luci/harness/luci-mini.js');
const ACL_DIR = join(REPO, 'luci/root/usr/share/rpcd/acl.d');
const EXPLORER_PLUGIN = join(REPO, 'luci/root/usr/libexec/rpcd/mqttd.explorer');
/** rpcd's session id for "not logged in" (session.c RPC_DEFAULT_SESSION_ID). */
export const NO_SESSION = '00000000000000000000000000000000';

/** ubus object → methods (glob patterns), as an acl.d group grants them in the "ubus" scope. */
type UbusGrants = Map<string, string[]>;

/**
 * The "ubus" scope grants of every group in the app's acl.d files, for the given permissions.
 * rpcd (session.c rpc_login_setup_acl_file) grants a logged-in user each group its login
 * section allows; OpenWrt's root login has `list read '*'` and `list write '*'`, so every
 * group, read and write; a login with only `list read '*'` gets the read grants.
 * The all-zero session gets only the group named "unauthenticated"
 * (rpc_login_test_permission with no login section), which this app does not define.
 */
function loginGrants(perms: readonly ('read' | 'write')[]): UbusGrants {
  const grants: UbusGrants = new Map();
  for (const f of readdirSync(ACL_DIR)) {
    const groups = JSON.parse(readFileSync(join(ACL_DIR, f), 'utf8')) as Record<string, Record<string, { ubus?: Record<string, string[]> }>>;
    for (const [name, group] of Object.entries(groups)) {
      if (name === 'unauthenticated') continue;
      for (const perm of perms) {
        for (const [object, methods] of Object.entries(group[perm]?.ubus ?? {})) grants.set(object, [...(grants.get(object) ?? []), ...methods]);
      }
    }
  }
  // luci-base's root/usr/share/rpcd/acl.d/luci-base.json, group "luci-access": uci get/changes
  // (read) and add/delete/set/... (write). `commit` is this harness's own exception: its uci
  // stand-in saves with commit where LuCI 24.10 uses apply/confirm.
  grants.set('uci', perms.includes('write') ? ['get', 'changes', 'add', 'delete', 'set', 'commit'] : ['get', 'changes']);
  return grants;
}

/** fnmatch(3) as session.c uses it for ACL patterns: only * and ? occur in acl.d files. */
function globMatches(pattern: string, name: string): boolean {
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
  return re.test(name);
}

type UciValues = Record<string, Record<string, string | string[] | boolean | number>>;

function quote(v: string): string {
  return `'${v.replace(/'/g, `'\\''`)}'`;
}

/**
 * UCI sections in memory, as rpcd's `uci get` returns them (uci.c rpc_uci_dump_section: the
 * options plus ".anonymous", ".type", ".name" and ".index"), written back in the format
 * libuci's commit writes (`config <type> '<name>'`, one quoted `option`/`list` a line).
 */
class UciStore {
  values: UciValues = {};
  private next = 0;

  constructor(private readonly path: string) {
    this.read();
  }

  read(): void {
    const errors: FileError[] = [];
    const pkg: UciPackage = parseUci(this.path, readFileSync(this.path, 'utf8'), errors);
    if (errors.length) throw new Error(errors.map((e) => e.message).join('\n'));
    this.values = {};
    pkg.sections.forEach((s, index) => {
      const name = s.name ?? `cfg${(index + 1).toString(16).padStart(6, '0')}`;
      const v: UciValues[string] = { '.type': s.type, '.name': name, '.anonymous': s.name === undefined, '.index': index };
      for (const o of s.options.values()) v[o.name] = o.isList ? [...o.values] : o.values[0];
      this.values[name] = v;
    });
    this.next = pkg.sections.length + 1;
  }

  /** uci.c rpc_uci_set: each value replaces the option (a list for an array). */
  set(section: string, values: Record<string, string | string[] | null>): void {
    const s = this.values[section];
    if (!s) throw new Error(`no section ${section}`);
    for (const [k, v] of Object.entries(values)) {
      if (v === null) delete s[k];
      else s[k] = v;
    }
  }

  /** As rpcd's uci add: a named section keeps its name (which must be new), else cfgNNNNNN. */
  add(type: string, values: Record<string, string | string[] | null>, named?: string): string {
    if (named !== undefined && (!/^[A-Za-z0-9_]+$/.test(named) || this.values[named])) throw new Error(`invalid or existing section name ${named}`);
    const name = named ?? `cfg${(this.next++).toString(16).padStart(6, '0')}`;
    const index = Object.keys(this.values).length;
    this.values[name] = { '.type': type, '.name': name, '.anonymous': named === undefined, '.index': index };
    this.set(name, values);
    return name;
  }

  /** uci.c rpc_uci_delete, for a whole section. */
  delete(section: string): void {
    delete this.values[section];
  }

  /**
   * uci.c rpc_uci_commit: writes the file, then rpc_uci_trigger_event sends procd the
   * "config.change" event for the package — what makes procd run `/etc/init.d/mqttd reload`
   * (test/openwrt/Lifecycle.test.ts follows that path with the procd stand-in).
   */
  commit(): void {
    const out: string[] = [];
    const sections = Object.values(this.values).sort((a, b) => Number(a['.index']) - Number(b['.index']));
    for (const s of sections) {
      out.push('', s['.anonymous'] ? `config ${String(s['.type'])}` : `config ${String(s['.type'])} ${quote(String(s['.name']))}`);
      for (const [k, v] of Object.entries(s)) {
        if (k.startsWith('.')) continue;
        if (Array.isArray(v)) for (const item of v) out.push(`\tlist ${k} ${quote(item)}`);
        else out.push(`\toption ${k} ${quote(String(v))}`);
      }
    }
    writeFileSync(this.path, out.join('\n').replace(/^\n/, '') + '\n');
    this.read();
  }
}

function runPlugin(plugin: string, env: Record<string, string>, method: string, args: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/busybox', ['ash', plugin, 'call', method], { env });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => process.stderr.write(d));
    child.on('error', reject);
    child.on('close', () => {
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`plugin printed invalid JSON: ${out}`));
      }
    });
    // A method that reads no arguments may exit before its stdin is written: as for rpcd
    // (exec.c writes the request with ustream and ignores a closed pipe), that is no error.
    child.stdin.on('error', () => undefined);
    child.stdin.end(JSON.stringify(args ?? {}));
  });
}

const PAGE = (view: string, sessionId: string): string => `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>mqttd – ${view}</title>
<style>
body { font-family: "Helvetica Neue", Arial, sans-serif; font-size: 13px; margin: 0; background: #f3f3f3; color: #333; }
header { background: #1f3c63; color: #fff; padding: 10px 20px; font-size: 16px; }
header small { opacity: .7; margin-left: 10px; }
#maincontent { max-width: 1100px; margin: 16px auto; background: #fff; padding: 16px 24px; box-shadow: 0 1px 3px rgba(0,0,0,.15); }
h2 { margin: 0 0 8px; font-weight: normal; } h3 { border-bottom: 1px solid #ddd; padding-bottom: 4px; font-weight: normal; }
.cbi-map-descr, .cbi-section-descr, .cbi-value-description { color: #666; margin-bottom: 10px; }
.cbi-value { display: flex; align-items: flex-start; margin: 6px 0; }
.cbi-value-title { width: 260px; text-align: right; padding: 6px 16px 0 0; }
table.table { width: 100%; border-collapse: collapse; margin-bottom: 8px; }
.th { text-align: left; background: #eee; padding: 6px; } .td { padding: 6px; border-top: 1px solid #e5e5e5; }
input, select { padding: 4px 6px; border: 1px solid #bbb; border-radius: 3px; font-size: 13px; }
.cbi-input-invalid { border-color: #c00; background: #fee; }
.cbi-button { padding: 4px 10px; border: 1px solid #999; border-radius: 3px; background: #f8f8f8; cursor: pointer; margin: 1px; }
.cbi-button-add, .cbi-button-apply { background: #2e7d32; color: #fff; border-color: #2e7d32; }
.cbi-button-remove { background: #c62828; color: #fff; border-color: #c62828; }
.cbi-button-save, .cbi-button-edit { background: #1565c0; color: #fff; border-color: #1565c0; }
.cbi-page-actions { text-align: right; border-top: 1px solid #ddd; padding-top: 10px; margin-top: 10px; }
.alert-message { padding: 8px 12px; margin: 8px 0; border-radius: 3px; background: #e3f2fd; }
.alert-message.danger { background: #ffebee; color: #b71c1c; } .alert-message h4 { margin: 0; }
.label { padding: 2px 8px; border-radius: 3px; color: #fff; } .label.success { background: #2e7d32; } .label.warning { background: #ef6c00; } .label.notice { background: #1565c0; }
.cbi-tabmenu { list-style: none; padding: 0; margin: 8px 0; border-bottom: 1px solid #ddd; display: flex; } .cbi-tabmenu li { margin-right: 4px; } .cbi-tabmenu a { display: block; padding: 4px 12px; color: #1565c0; text-decoration: none; } .cbi-tabmenu li.cbi-tab a { border: 1px solid #ddd; border-bottom-color: #fff; margin-bottom: -1px; background: #fff; color: #333; }
.cbi-section-node { border: 1px solid #e5e5e5; padding: 8px 12px; margin-bottom: 10px; position: relative; } .cbi-section-remove { position: absolute; right: 12px; top: 8px; } .cbi-section-create { margin-top: 6px; }
.cbi-dynlist .item { display: inline-block; border: 1px solid #bbb; border-radius: 3px; padding: 2px 6px; margin: 0 4px 4px 0; background: #f8f8f8; font-family: monospace; } .cbi-dynlist .remove-item { margin-left: 6px; cursor: pointer; color: #c62828; } .cbi-dynlist .add-item { display: flex; gap: 4px; } .cbi-value .cbi-value-field { flex: 1; } .cbi-value .cbi-value-field input[type=text], .cbi-value .cbi-value-field input[type=password] { min-width: 320px; }
code { background: #eee; padding: 0 3px; }
fieldset { border: none; padding: 0; margin: 0 0 12px; min-width: 0; }
.cbi-tblsection input[type=text], .cbi-tblsection select { width: 100%; box-sizing: border-box; }
</style></head>
<body><header>OpenWrt · LuCI <small>Services › MQTT Broker</small></header>
<div id="notifications" style="max-width:1100px;margin:0 auto"></div>
<div id="maincontent"></div>
<script>window.L = { env: { sessionid: ${JSON.stringify(sessionId)} } };</script>
<script src="/harness/luci-mini.js"></script>
<script>loadView(${JSON.stringify(view)});</script>
</body></html>`;

export interface LuciHarness {
  url: string;
  uciPath: string;
  /** The logged-in administrator's session, as LuCI puts it in L.env.sessionid. */
  sessionId: string;
  /** A logged-in user with read permission only. */
  readOnlySessionId: string;
  /** Rereads the UCI file after a test edited it by hand (as rpcd's uci reads the file anew). */
  reread(): void;
  close(): Promise<void>;
}

export interface LuciHarnessOptions {
  /** The broker's control_file, for the mqttd.explorer plugin. */
  controlFile?: string;
}

export async function startLuciHarness(bin: string, files: PluginFiles, uciPath: string, options: LuciHarnessOptions = {}): Promise<LuciHarness> {
  const uci = new UciStore(uciPath);
  const sessionId = randomBytes(16).toString('hex');
  const readOnlySessionId = randomBytes(16).toString('hex');
  const sessions = new Map<string, UbusGrants>([
    [sessionId, loginGrants(['read', 'write'])],
    [readOnlySessionId, loginGrants(['read'])],
    [NO_SESSION, new Map()],
  ]);
  /** uhttpd ubus.c uh_ubus_allowed(): rpcd's session "access" for scope "ubus"; an unknown session is denied. */
  const allowed = (sid: unknown, object: string, method: string): boolean => {
    const grants = typeof sid === 'string' ? sessions.get(sid) : undefined;
    if (!grants) return false;
    for (const [pattern, methods] of grants) if (globMatches(pattern, object) && methods.some((m) => globMatches(m, method))) return true;
    return false;
  };
  const pluginEnv = { PATH: bin, MQTTD_PASSWORD_FILE: files.passwd, MQTTD_ACL_FILE: files.acl, MQTTD_STATUS_FILE: files.status };
  const explorerEnv = { PATH: bin, MQTTD_CONTROL_FILE: options.controlFile ?? '/nonexistent' };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (status: number, type: string, body: string): void => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(body);
    };
    if (req.method === 'GET' && url.pathname === '/') return send(200, 'text/html', PAGE(url.searchParams.get('view') ?? 'mqttd/status', url.searchParams.get('session') ?? sessionId));
    if (req.method === 'GET' && url.pathname === '/harness/luci-mini.js') return send(200, 'text/javascript', readFileSync(LOADER, 'utf8'));
    if (req.method === 'GET' && url.pathname.startsWith('/luci-static/resources/')) {
      const rel = normalize(url.pathname.slice('/luci-static/resources/'.length));
      if (rel.startsWith('..')) return send(403, 'text/plain', 'no');
      try {
        return send(200, 'text/javascript', readFileSync(join(VIEWS, rel), 'utf8'));
      } catch {
        return send(404, 'text/plain', 'not found');
      }
    }
    if (req.method === 'POST' && url.pathname === '/ubus') {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const rpc = JSON.parse(body) as { id: number; params: [string, string, string, Record<string, unknown>] };
        const [sid, object, method, args] = rpc.params;
        const reply = (result: unknown): void => send(200, 'application/json', JSON.stringify({ jsonrpc: '2.0', id: rpc.id, result: [0, result] }));
        const fail = (message: string, code = -32000): void =>
          send(200, 'application/json', JSON.stringify({ jsonrpc: '2.0', id: rpc.id, error: { code, message } }));
        // uhttpd ubus.c uh_ubus_handle_request_object: no access → ERROR_ACCESS {-32002, "Access denied"},
        // and the call never reaches rpcd's plugin.
        if (!allowed(sid, object, method)) return fail('Access denied', -32002);
        // uh_ubus_send_request adds the caller's session to the arguments, and refuses a
        // call that brings its own ubus_rpc_session (ERROR_PARAMS).
        if (Object.hasOwn(args ?? {}, 'ubus_rpc_session')) return fail('Invalid parameters', -32602);
        const callArgs = { ...args, ubus_rpc_session: sid };
        if (object === 'mqttd') {
          runPlugin(PLUGIN, pluginEnv, method, callArgs).then(reply, (err: Error) => fail(err.message));
          return;
        }
        if (object === 'mqttd.explorer') {
          runPlugin(EXPLORER_PLUGIN, explorerEnv, method, callArgs).then(reply, (err: Error) => fail(err.message));
          return;
        }
        if (object === 'uci' && args.config === 'mqttd') {
          try {
            if (method === 'get') return reply({ values: uci.values });
            const values = args.values as Record<string, string | string[] | null>;
            if (method === 'set') return (uci.set(String(args.section), values), reply({}));
            if (method === 'add') return reply({ section: uci.add(String(args.type), values, args.name === undefined ? undefined : String(args.name)) });
            if (method === 'delete') return (uci.delete(String(args.section)), reply({}));
            if (method === 'commit') return (uci.commit(), reply({}));
          } catch (err) {
            return fail((err as Error).message);
          }
        }
        fail(`access denied: ${object}.${method}`);
      });
      return;
    }
    send(404, 'text/plain', 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    uciPath,
    sessionId,
    readOnlySessionId,
    reread: () => uci.read(),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Where the LuCI tests leave their screenshots (for a reader to look at, not compared). */
export const SHOTS = join(REPO, 'test-results');

/** The id LuCI's form.js gives an option's widget (widget.cbid.<config>.<section>.<option>), as a CSS selector. */
export function field(sid: string, option: string): string {
  return `[id="widget.cbid.mqttd.${sid}.${option}"]`;
}


/**
 * Why a LuCI test cannot run here, or false: it needs Chromium, busybox (the rpcd plugins
 * run under ash), mosquitto-clients plus `extra` commands, and the built bundle. Creates the
 * screenshot folder when it can run.
 */
export function luciSkip(...extra: string[]): string | false {
  if (!['chromium', 'busybox', 'mosquitto_sub', ...extra].every(hasCommand)) return 'needs chromium, busybox and mosquitto-clients';
  if (!hasBundle()) return 'needs dist/mqttd.js (npm run build)';
  mkdirSync(SHOTS, { recursive: true });
  return false;
}

/** Polls `check` every 50 ms, `tries` times; fails naming what never happened (and `detail()`, e.g. the broker's log). */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, tries = 200, detail?: () => string): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`never happened: ${what}${detail ? `\n${detail()}` : ''}`);
}

/** Headless Debian Chromium, quiet: no network of its own, no first-run work. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Opens a view as an administrator would; confirmation dialogs are accepted. Fails if the view failed to load. */
export async function openView(browser: Browser, harness: LuciHarness, view: string, height = 900): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1200, height } });
  page.on('dialog', (d) => void d.accept());
  await page.goto(`${harness.url}/?view=${view}`);
  await page.waitForFunction("document.body.hasAttribute('data-view-ready') || document.body.hasAttribute('data-view-error')");
  const error = await page.getAttribute('body', 'data-view-error');
  assert.equal(error, null, `view ${view} failed: ${error}`);
  return page;
}

/** The harness and the Chromium that browses it: what every LuCI page test starts and stops. */
export interface LuciBrowser {
  harness: LuciHarness;
  browser: Browser;
  /** Opens a view as an administrator would (see openView). */
  open(view: string, height?: number): Promise<Page>;
  close(): Promise<void>;
}

export async function startLuciBrowser(bin: string, files: PluginFiles, uciPath: string, options: LuciHarnessOptions = {}): Promise<LuciBrowser> {
  const harness = await startLuciHarness(bin, files, uciPath, options);
  const browser = await launchChromium().catch(async (err: unknown) => {
    await harness.close();
    throw err;
  });
  return {
    harness,
    browser,
    open: (view, height) => openView(browser, harness, view, height),
    close: async () => {
      await browser.close();
      await harness.close();
    },
  };
}

/**
 * Writes /etc/config/mqttd for a broker the pages drive: anonymous clients, no persistence,
 * $SYS every second, the plugins' status file, one listener on the LAN at `port`; `general`
 * adds lines to the general section. Returns the file's path.
 */
export function writeLanUci(port: number, files: PluginFiles, general: string[] = []): string {
  const uciPath = join(tempDir('mqttd-uci-'), 'mqttd');
  const lines = [
    "config mqttd 'general'",
    "\toption allow_anonymous '1'",
    "\toption persistence '0'",
    "\toption sys_interval '1'",
    `\toption status_file '${files.status}'`,
    ...general,
    "config listener 'lan'",
    `\toption port '${port}'`,
    "\toption interface 'lan'",
    '',
  ];
  writeFileSync(uciPath, lines.join('\n'));
  return uciPath;
}

/**
 * Every file mqttd reads, mutated at random from a realistic sample (inserted control
 * characters, quotes, colons, NUL, invalid surrogates, lines cut, doubled, swapped, the file
 * truncated): the parser answers with a result or with errors naming the file and a line
 * inside it, never an exception of another kind. For passwd and ACL, which load what they
 * can as mosquitto does, no line is dropped silently: each one is used or has its error.
 *
 * This complements the fast-check properties the parsers' owners wrote
 * (test/config/ConfigFuzz, test/persistence/SnapshotCodec): a time budget instead of a run
 * count (MQTTD_FUZZ_SECONDS, split across the five parsers), and mutations of real samples.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AclRules } from '../../src/auth/AclRules';
import { PasswdFile } from '../../src/auth/PasswdFile';
import { ConfigErrors } from '../../src/config/ConfigErrors';
import { parseConfig, type ConfigFileSystem } from '../../src/config/ConfigFile';
import { FileError } from '../../src/config/FileError';
import { parseUci, uciToBrokerConfig } from '../../src/config/UciConfig';
import { decodeSnapshot, encodeSnapshot } from '../../src/persistence/SnapshotCodec';
import { StoreCorruptError } from '../../src/persistence/StoreCorruptError';
import { fullSnapshot } from '../persistence/sampleSnapshot';
import { budgetSeconds, figure, fuzzSeed, Random } from './hardeningKit';

const REPO = join(__dirname, '..', '..', '..');
const SECONDS = budgetSeconds(2.5) / 5;

const noFiles: ConfigFileSystem = {
  readFile: (path) => {
    throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  },
  readDir: (path) => {
    throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  },
  isDirectory: () => false,
};

const CONFIG_SAMPLE = [
  '# mosquitto.conf as a router user writes it',
  'per_listener_settings false',
  'allow_anonymous false',
  'password_file /etc/mqttd/passwd',
  'acl_file /etc/mqttd/acl',
  'persistence true',
  'persistence_location /overlay/mqttd/',
  'autosave_interval 1800',
  'max_queued_messages 500',
  'log_type error',
  'log_dest syslog',
  'listener 1883 192.168.1.1',
  'max_connections 32',
  'listener 9001',
  'protocol websockets',
  'connection cloud',
  'address broker.example.com:8883',
  'topic sensors/# out 1 home/ site/',
  '',
].join('\n');

const PASSWD_SAMPLE = [
  '# users',
  'alice:$7$101$c2FsdHNhbHRzYWx0c2FsdA==$Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYg==',
  'bob:$6$c2FsdA==$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA==',
  'carol:$2b$10$abcdefghijklmnopqrstuuMDyPpUNgs7FnmQ9QbiZeqVKKTDWEdDG',
  '',
].join('\n');

const ACL_SAMPLE = [
  '# anonymous',
  'topic read public/#',
  'user alice',
  'topic readwrite home/#',
  'topic deny home/secret',
  'user bob smith',
  'topic write sensors/+/temp',
  'pattern readwrite users/%u/#',
  'pattern read clients/%c',
  '',
].join('\n');

const UCI_SAMPLE = readFileSync(join(REPO, 'files', 'etc', 'config', 'mqttd'), 'utf8');
const NETWORKS = new Map([['lan', ['192.168.1.1']]]);

const NASTY = ['\n', '\r', '\r\n', '\0', ':', '#', '"', "'", '\\', ' ', '\t', '$', 'é', '\ufeff', '\ud800', '+', '/', '%u', '\u2028', 'x'.repeat(70000)];

/** A text mutated as a hand edit, a bad copy or a torn write would. */
function mutateText(r: Random, text: string): string {
  let t = text;
  for (let n = r.range(1, 5); n > 0; n--) {
    const at = r.int(t.length + 1);
    switch (r.int(7)) {
      case 0:
        t = t.slice(0, at) + r.pick(NASTY) + t.slice(at);
        break;
      case 1:
        t = t.slice(0, at) + t.slice(at + r.range(1, 20));
        break;
      case 2:
        t = t.slice(0, at);
        break;
      case 3: {
        const lines = t.split('\n');
        const i = r.int(lines.length);
        lines.splice(r.int(lines.length + 1), 0, lines[i]);
        t = lines.join('\n');
        break;
      }
      case 4: {
        const lines = t.split('\n');
        const i = r.int(lines.length);
        const j = r.int(lines.length);
        [lines[i], lines[j]] = [lines[j], lines[i]];
        t = lines.join('\n');
        break;
      }
      case 5:
        t = t.slice(0, at) + r.bytes(r.range(1, 12)).toString('latin1') + t.slice(at);
        break;
      default:
        t = t.slice(0, at) + r.bytes(r.range(1, 12)).toString('utf8') + t.slice(at);
    }
  }
  return t;
}

function mutateBytes(r: Random, input: Buffer): Buffer {
  let b = Buffer.from(input);
  for (let n = r.range(1, 4); n > 0; n--) {
    const at = r.int(b.length + 1);
    switch (r.int(4)) {
      case 0:
        if (b.length > 0) b[Math.min(at, b.length - 1)] ^= 1 << r.int(8);
        break;
      case 1:
        b = b.subarray(0, at);
        break;
      case 2:
        b = Buffer.concat([b.subarray(0, at), r.bytes(r.range(1, 16)), b.subarray(at)]);
        break;
      default:
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + r.range(1, 16))]);
    }
  }
  return b;
}

/** Runs `one` on fresh inputs until the budget is spent; returns how many were tried. */
function forBudget(seed: number, one: (r: Random, n: number) => void): number {
  const deadline = Date.now() + SECONDS * 1000;
  let n = 0;
  while (Date.now() < deadline) {
    one(new Random(seed + n), n);
    n++;
  }
  return n;
}

function lineCount(text: string): number {
  return text.split('\n').length;
}

function assertLineInside(err: FileError, file: string, text: string, what: string): void {
  assert.ok(err instanceof FileError, `${what}: not a FileError: ${String(err)}`);
  assert.equal(err.file, file, `${what}: error names ${err.file}`);
  if (err.line !== undefined) {
    assert.ok(Number.isInteger(err.line) && err.line >= 1 && err.line <= lineCount(text), `${what}: line ${err.line} outside the file (${lineCount(text)} lines)`);
  }
}

const seed = fuzzSeed();

test('config (mosquitto.conf syntax): mutated files parse or fail with ConfigErrors on lines inside the file', () => {
  let refused = 0;
  const tried = forBudget(seed, (r, n) => {
    const text = mutateText(r, CONFIG_SAMPLE);
    try {
      parseConfig(text, 'fuzz.conf', { hostname: 'router', fs: noFiles });
    } catch (err) {
      assert.ok(err instanceof ConfigErrors, `input ${seed + n}: ${String(err)}`);
      assert.ok(err.errors.length > 0);
      for (const e of err.errors) {
        if (e.file === 'fuzz.conf') assertLineInside(e, 'fuzz.conf', text, `input ${seed + n}`);
      }
      refused++;
    }
  });
  figure('file-fuzz-config', { seed, inputs: tried, refused_with_line: refused, exceptions: 0 });
});

test('UCI (/etc/config/mqttd): mutated files parse or fail with FileErrors on lines inside the file', () => {
  let refused = 0;
  const tried = forBudget(seed, (r, n) => {
    const text = mutateText(r, UCI_SAMPLE);
    const errors: FileError[] = [];
    try {
      uciToBrokerConfig(parseUci('/etc/config/mqttd', text, errors), NETWORKS, errors);
    } catch (err) {
      assert.fail(`input ${seed + n}: parseUci/uciToBrokerConfig threw ${String(err)}`);
    }
    for (const e of errors) assertLineInside(e, '/etc/config/mqttd', text, `input ${seed + n}`);
    if (errors.length > 0) refused++;
  });
  figure('file-fuzz-uci', { seed, inputs: tried, refused_with_line: refused, exceptions: 0 });
});

test('passwd: every mutated line is either a user or an error naming that line; never an exception', () => {
  let errorLines = 0;
  const tried = forBudget(seed, (r, n) => {
    const text = mutateText(r, PASSWD_SAMPLE);
    const { file, errors } = PasswdFile.parse(text, '/etc/mqttd/passwd');
    for (const e of errors) assertLineInside(e, '/etc/mqttd/passwd', text, `input ${seed + n}`);
    const flagged = new Set(errors.map((e) => e.line));
    errorLines += flagged.size;
    const lines = text.split('\n');
    lines.forEach((raw, i) => {
      if (raw.startsWith('#') || raw.trim() === '') return;
      const colon = raw.indexOf(':');
      const name = colon < 0 ? '' : raw.slice(0, colon).replace(/^[ \t\r\n\v\f]+|[ \t\r\n\v\f]+$/g, '');
      assert.ok(flagged.has(i + 1) || file.has(name), `input ${seed + n}: line ${i + 1} ${JSON.stringify(raw.slice(0, 60))} silently dropped`);
    });
  });
  figure('file-fuzz-passwd', { seed, inputs: tried, error_lines: errorLines, silent_drops: 0, exceptions: 0 });
});

test('ACL: a line that is not a comment, topic, pattern or user line always has an error on that line', () => {
  let errorLines = 0;
  const tried = forBudget(seed, (r, n) => {
    const text = mutateText(r, ACL_SAMPLE);
    const { rules, errors } = AclRules.parse(text, '/etc/mqttd/acl');
    for (const e of errors) assertLineInside(e, '/etc/mqttd/acl', text, `input ${seed + n}`);
    const flagged = new Set(errors.map((e) => e.line));
    errorLines += flagged.size;
    text.split('\n').forEach((raw, i) => {
      const body = raw.replace(/^[ \t]+/, '').replace(/[ \t\r\n\v\f]+$/, '');
      if (body === '' || body.startsWith('#')) return;
      const word = /^[^ \t]*/.exec(body)![0];
      if (word !== 'topic' && word !== 'pattern' && word !== 'user') {
        assert.ok(flagged.has(i + 1), `input ${seed + n}: line ${i + 1} ${JSON.stringify(raw.slice(0, 60))} ignored without an error`);
      }
    });
    // The rules answer, whatever was loaded.
    rules.check({ clientId: 'c', username: 'alice' }, 'home/x', 'read');
  });
  figure('file-fuzz-acl', { seed, inputs: tried, error_lines: errorLines, silent_drops: 0, exceptions: 0 });
});

test('persistence store: a mutated store decodes to a valid snapshot or is a StoreCorruptError naming the byte', () => {
  const sample = encodeSnapshot(fullSnapshot());
  let corrupt = 0;
  const tried = forBudget(seed, (r, n) => {
    const bytes = mutateBytes(r, sample);
    try {
      const snapshot = decodeSnapshot(bytes);
      // What decodes must be something the broker can write back as is.
      assert.ok(encodeSnapshot(snapshot).equals(bytes), `input ${seed + n}: decoded to something that re-encodes differently`);
    } catch (err) {
      assert.ok(err instanceof StoreCorruptError, `input ${seed + n}: ${String(err)}`);
      assert.match(err.message, /byte \d+|truncated|header|magic|CRC|version|empty|short/i, `input ${seed + n}: ${err.message}`);
      corrupt++;
    }
  });
  figure('file-fuzz-store', { seed, inputs: tried, refused_as_corrupt: corrupt, exceptions: 0 });
});

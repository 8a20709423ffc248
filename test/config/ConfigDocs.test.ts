import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OPTIONS_BEGIN, OPTIONS_END, UNSUPPORTED_BEGIN, UNSUPPORTED_END, updateConfigDoc } from '../../src/config/ConfigDocs';
import { CONFIG_OPTIONS } from '../../src/config/ConfigOptions';
import { UNSUPPORTED_OPTIONS } from '../../src/config/UnsupportedOptions';
import { errorsOf } from './configTestKit';

const DOC = join(__dirname, '../../../docs/config.md');

function section(doc: string, begin: string, end: string): string {
  const start = doc.indexOf(begin);
  const stop = doc.indexOf(end);
  assert.ok(start >= 0 && stop > start, `docs/config.md must contain ${begin} … ${end}`);
  return doc.slice(start, stop);
}

describe('docs/config.md', () => {
  const doc = readFileSync(DOC, 'utf8');

  it('has the option tables exactly as generated from the code', () => {
    const expected = updateConfigDoc(doc);
    assert.equal(doc, expected, 'docs/config.md is out of date: regenerate it as its last paragraph says');
  });

  it('lists every option and every unsupported mosquitto option', () => {
    const options = section(doc, OPTIONS_BEGIN, OPTIONS_END);
    for (const option of CONFIG_OPTIONS) assert.ok(options.includes(`| \`${option.name}\``), option.name);
    const unsupported = section(doc, UNSUPPORTED_BEGIN, UNSUPPORTED_END);
    for (const option of UNSUPPORTED_OPTIONS) assert.ok(unsupported.includes(`| \`${option.name}\` |`), option.name);
  });
});

describe('README.md', () => {
  it('carries the same generated option table as docs/config.md', () => {
    const readme = readFileSync(join(__dirname, '../../../README.md'), 'utf8');
    section(readme, OPTIONS_BEGIN, OPTIONS_END);
    assert.equal(readme, updateConfigDoc(readme), 'README.md option table is out of date: copy it from docs/config.md');
  });
});

describe('option tables', () => {
  it('no name is both supported and unsupported, and none is listed twice', () => {
    const supported = CONFIG_OPTIONS.flatMap((o) => [o.name, ...o.aliases]);
    const unsupported = UNSUPPORTED_OPTIONS.map((o) => o.name);
    assert.deepEqual(supported.filter((n) => unsupported.includes(n)), []);
    assert.equal(new Set(supported).size, supported.length);
    assert.equal(new Set(unsupported).size, unsupported.length);
  });

  it('every unsupported mosquitto option is refused with the precise message', () => {
    for (const option of UNSUPPORTED_OPTIONS) {
      const errors = errorsOf(`listener 1884\n${option.name} some-value\n`);
      assert.equal(errors.length, 1, option.name);
      assert.match(errors[0], new RegExp(`^2: option '${option.name.replace('.', '\\.')}' is a mosquitto option that mqttd does not support`));
    }
  });

  it('notes say how mqttd differs wherever it does', () => {
    for (const option of CONFIG_OPTIONS) {
      if (option.mosquitto === 'differs') assert.ok(option.note, `${option.name} differs but has no note`);
    }
  });
});

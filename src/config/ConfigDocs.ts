/**
 * docs/config.md's tables, generated from the option tables so the documentation cannot drift
 * from the code (test/config/ConfigDocs.test.ts compares them).
 */
import { CONFIG_OPTIONS, type ConfigOption, type MosquittoCompat } from './ConfigOptions';
import { UNSUPPORTED_OPTIONS, UNSUPPORTED_PREFIXES } from './UnsupportedOptions';

const COMPAT_TEXT: Record<MosquittoCompat, string> = {
  yes: 'yes',
  differs: 'differs',
  extension: 'mqttd only',
};

/** Markdown table cells cannot hold `|` or line breaks. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function nameCell(option: ConfigOption): string {
  const aliases = option.aliases.map((a) => ` (also \`${a}\`)`).join('');
  return `\`${option.name}\`${aliases}`;
}

/** One table per scope: Option | Default | mosquitto 2.0 | Meaning. */
export function renderOptionTables(): string {
  const sections: [string, ConfigOption['scope']][] = [
    ['General options', 'general'],
    ["Listener options (apply to the latest `listener`, or to mosquitto's default listener before any)", 'listener'],
    ['Bridge options (apply to the latest `connection` of the same file)', 'bridge'],
  ];
  const out: string[] = [];
  for (const [title, scope] of sections) {
    out.push(`### ${title}`, '', '| Option | Default | Same as mosquitto 2.0 | Meaning |', '| --- | --- | --- | --- |');
    for (const option of CONFIG_OPTIONS.filter((o) => o.scope === scope)) {
      const meaning = option.note ? `${option.description} **Differs:** ${option.note}` : option.description;
      out.push(`| ${nameCell(option)} | ${cell(option.default || '—')} | ${COMPAT_TEXT[option.mosquitto]} | ${cell(meaning)} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

/** The mosquitto options mqttd refuses, with what to do instead. */
export function renderUnsupportedList(): string {
  const out = ['| mosquitto option | Instead |', '| --- | --- |'];
  for (const option of UNSUPPORTED_OPTIONS) {
    const accepted = option.harmlessValue !== undefined ? `\`${option.name} ${option.harmlessValue}\` is accepted and ignored. ` : '';
    out.push(`| \`${option.name}\` | ${cell(accepted + (option.hint ?? ''))} |`);
  }
  for (const prefix of UNSUPPORTED_PREFIXES) out.push(`| \`${prefix}*\` | mqttd has no plugins |`);
  out.push('');
  return out.join('\n');
}

export const OPTIONS_BEGIN = '<!-- BEGIN OPTIONS (generated from src/config/ConfigOptions.ts) -->';
export const OPTIONS_END = '<!-- END OPTIONS -->';
export const UNSUPPORTED_BEGIN = '<!-- BEGIN UNSUPPORTED (generated from src/config/UnsupportedOptions.ts) -->';
export const UNSUPPORTED_END = '<!-- END UNSUPPORTED -->';

/** Replaces the generated parts of a document, leaving the prose around them. */
export function updateConfigDoc(doc: string): string {
  return replaceBetween(replaceBetween(doc, OPTIONS_BEGIN, OPTIONS_END, renderOptionTables()), UNSUPPORTED_BEGIN, UNSUPPORTED_END, renderUnsupportedList());
}

function replaceBetween(doc: string, begin: string, end: string, body: string): string {
  const start = doc.indexOf(begin);
  const stop = doc.indexOf(end);
  if (start < 0 || stop < start) return doc;
  return `${doc.slice(0, start + begin.length)}\n${body}${doc.slice(stop)}`;
}

// Turns summarized results into the Markdown table, the target check and the SVG chart.
import { summarize } from './stats.mjs';

const fmt = (v, digits) =>
  v === null || v === undefined || !Number.isFinite(v)
    ? '—'
    : v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** rows: [{ scenario, title, metric, cells: {broker: {values, invalid, failed}} }] */
export function cellText(cell, digits) {
  if (!cell) return 'n/a';
  const s = summarize(cell.values);
  if (!s) return cell.failed ? 'failed' : '—';
  const spread = s.n > 1 && s.min !== s.max ? ` (${fmt(s.min, digits)}–${fmt(s.max, digits)})` : '';
  return `${cell.invalid ? '⚠ ' : ''}${fmt(s.median, digits)}${spread}${cell.undrained ? ' ‡' : ''}${cell.failed ? ' †' : ''}`;
}

export function median(cell) {
  return cell ? summarize(cell.values)?.median ?? null : null;
}

function ratio(a, b) {
  if (a === null || b === null || b === 0) return '—';
  return `${(a / b).toFixed(2)}×`;
}

export function markdownTable(rows, brokerNames) {
  const others = brokerNames.filter((b) => b !== 'mqttd');
  const hasMqttd = brokerNames.includes('mqttd');
  const head = ['Scenario', 'Metric', ...brokerNames, ...(hasMqttd ? others.map((o) => `mqttd/${o}`) : [])];
  const out = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
  let last = '';
  for (const row of rows) {
    const arrow = row.metric.better === 'higher' ? '↑' : '↓';
    const cells = brokerNames.map((b) => cellText(row.cells[b], row.metric.digits));
    const ratios = hasMqttd ? others.map((o) => ratio(median(row.cells.mqttd), median(row.cells[o]))) : [];
    out.push(`| ${row.title === last ? '' : row.title} | ${row.metric.label} ${arrow} | ${[...cells, ...ratios].join(' | ')} |`);
    last = row.title;
  }
  return out.join('\n');
}

/** The issue's targets, checked against this run's medians. */
export function targets(rows) {
  const m = (scenario, key, broker) => median(rows.find((r) => r.scenario === scenario && r.metric.key === key)?.cells[broker]);
  const largest = (prefix) => {
    const keys = rows.filter((r) => r.scenario === 'connections' && r.metric.key.startsWith(prefix)).map((r) => r.metric.key);
    return keys.sort((a, b) => parseInt(a.replace(/\D+/g, '')) - parseInt(b.replace(/\D+/g, ''))).at(-1);
  };
  const checks = [
    ['fan-in QoS 0 ≥ 1.0× mosquitto', m('fanin-qos0', 'delivered_per_s', 'mqttd'), m('fanin-qos0', 'delivered_per_s', 'mosquitto'), 1],
    ['fan-in QoS 0 ≥ 2× aedes', m('fanin-qos0', 'delivered_per_s', 'mqttd'), m('fanin-qos0', 'delivered_per_s', 'aedes'), 2],
    ['fan-out ≥ 1.0× mosquitto', m('fanout', 'delivered_per_s', 'mqttd'), m('fanout', 'delivered_per_s', 'mosquitto'), 1],
    ['fan-out ≥ 2× aedes', m('fanout', 'delivered_per_s', 'mqttd'), m('fanout', 'delivered_per_s', 'aedes'), 2],
    ['fan-in QoS 1 accepted ≥ mosquitto', m('fanin-qos1', 'acked_per_s', 'mqttd'), m('fanin-qos1', 'acked_per_s', 'mosquitto'), 1],
  ].map(([name, a, b, k]) => ({ name, value: a !== null && b !== null ? `${(a / b).toFixed(2)}×` : '—', ok: a !== null && b !== null ? a >= k * b : null }));
  const abs = (name, v, limit, unit, below = true, digits = 0) => ({
    name,
    value: v === null ? '—' : `${fmt(v, digits)} ${unit}`,
    ok: v === null ? null : below ? v <= limit : v >= limit,
  });
  const loss = m('fanin-qos1', 'loss_pct', 'mqttd');
  const p99 = m('latency', 'p99_us', 'mqttd');
  const p99m = m('latency', 'p99_us', 'mosquitto');
  checks.push(
    { name: 'fan-in QoS 1 zero loss', value: loss === null ? '—' : `${fmt(loss, 2)} %`, ok: loss === null ? null : loss === 0 },
    { name: 'latency p99 ≤ mosquitto', value: p99 === null || p99m === null ? '—' : `${(p99 / p99m).toFixed(2)}×`, ok: p99 === null || p99m === null ? null : p99 <= p99m },
  );
  const kb = largest('kb_per_conn_');
  const rate = largest('rate_');
  checks.push(
    abs('≤ 3 KB RSS per idle connection', kb ? m('connections', kb, 'mqttd') : null, 3, 'KB', true, 2),
    abs('idle RSS ≤ 45 MB', m('connections', 'idle_rss_mb', 'mqttd'), 45, 'MB', true, 1),
    abs('≥ 10k connections/s', rate ? m('connections', rate, 'mqttd') : null, 10000, '/s', false),
    abs('bundle ≤ 300 KB', m('footprint', 'raw_kb', 'mqttd'), 300, 'KB', true, 1),
    abs('start-up to listening ≤ 150 ms', m('startup', 'listening_ms', 'mqttd'), 150, 'ms', true, 1),
  );
  return checks;
}

export function targetsTable(checks) {
  const lines = ['| Target | mqttd | Met |', '|---|---:|:---:|'];
  for (const c of checks) lines.push(`| ${c.name} | ${c.value} | ${c.ok === null ? 'n/a' : c.ok ? 'yes' : '**no**'} |`);
  return lines.join('\n');
}

const colors = { mqttd: '#1f6feb', mosquitto: '#2da44e', aedes: '#d4761c' };
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Grouped horizontal bars, one group per metric, each scaled to that metric's largest median. */
export function svgChart(rows, brokerNames, caption) {
  const labelW = 400, barW = 380, valueW = 120, barH = 11, gap = 14;
  const groupH = brokerNames.length * (barH + 2) + gap;
  const top = 62;
  const [first, ...rest] = caption.split(' — ');
  const width = labelW + barW + valueW;
  const height = top + rows.length * groupH + 10;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="8" y="16" font-size="13" font-weight="bold">${esc(first)}</text>`,
    `<text x="8" y="32" fill="#333">${esc(rest.join(' — '))}</text>`,
  ];
  brokerNames.forEach((b, i) => {
    parts.push(`<rect x="${8 + i * 90}" y="42" width="10" height="10" fill="${colors[b] ?? '#888'}"/>`);
    parts.push(`<text x="${22 + i * 90}" y="51">${esc(b)}</text>`);
  });
  parts.push(`<text x="${8 + brokerNames.length * 90}" y="51" fill="#555">↑ higher is better · ↓ lower is better · bars scaled per metric</text>`);
  rows.forEach((row, gi) => {
    const y0 = top + gi * groupH;
    const meds = brokerNames.map((b) => median(row.cells[b]));
    const max = Math.max(...meds.filter((v) => v !== null && Number.isFinite(v)), 0);
    const arrow = row.metric.better === 'higher' ? '↑' : '↓';
    const label = `${row.short} — ${row.metric.label}`;
    const fitted = label.length > 62 ? `${label.slice(0, 61)}…` : label;
    parts.push(`<text x="8" y="${y0 + barH + 2}">${esc(`${fitted} ${arrow}`)}</text>`);
    brokerNames.forEach((b, i) => {
      const v = meds[i];
      const y = y0 + i * (barH + 2);
      const w = v !== null && max > 0 ? Math.max(1, (v / max) * barW) : 0;
      parts.push(`<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${colors[b] ?? '#888'}"/>`);
      const text = v === null ? 'n/a' : (row.cells[b]?.invalid ? '⚠ ' : '') + fmt(v, row.metric.digits);
      parts.push(`<text x="${labelW + w + 4}" y="${y + barH - 1}">${esc(text)}</text>`);
    });
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

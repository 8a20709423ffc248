// Summaries of repeated measurements: the median is the figure, min–max shows the spread.
export function summarize(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const mid = v.length >> 1;
  const median = v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { median, min: v[0], max: v[v.length - 1], n: v.length };
}

/** Broker order for repetition r: A B C, then C B A, … so drift over the run hits all alike. */
export function interleave(brokers, r) {
  return r % 2 === 0 ? [...brokers] : [...brokers].reverse();
}

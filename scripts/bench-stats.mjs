// The statistics of `npm run bench`: nearest-rank percentiles, the median, and rounding for the report.

/** Nearest-rank percentile of an unsorted array of numbers (q in [0, 1]). */
export function percentiles(values, qs) {
  const sorted = Float64Array.from(values).sort();
  return qs.map((q) => (sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]));
}

/** The nearest-rank median of the finite numbers among `values` (the lower middle one of an even count), or null. */
export function median(values) {
  const defined = values.filter((v) => typeof v === 'number' && Number.isFinite(v));
  if (defined.length === 0) return null;
  return percentiles(defined, [0.5])[0];
}

export const round = (value, digits = 2) => (value === null || value === undefined ? null : Number(value.toFixed(digits)));

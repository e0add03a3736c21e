/** Latency summary of a sample, in milliseconds. */
export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(samples: number[]): LatencySummary {
  if (samples.length === 0) return { count: 0, p50: NaN, p95: NaN, p99: NaN, max: NaN, mean: NaN };
  const s = Float64Array.from(samples).sort();
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? NaN;
  let sum = 0;
  for (const v of s) sum += v;
  return { count: s.length, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: at(1), mean: sum / s.length };
}

export const round = (v: number, digits = 2) => Math.round(v * 10 ** digits) / 10 ** digits;

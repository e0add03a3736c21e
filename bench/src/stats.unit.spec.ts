import { describe, expect, it } from 'vitest';
import { summarize } from './stats.js';

describe('summarize', () => {
  it('takes nearest-rank percentiles', () => {
    const s = summarize(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(s).toMatchObject({ count: 100, p50: 50, p95: 95, p99: 99, max: 100, mean: 50.5 });
  });
  it('handles one sample and none', () => {
    expect(summarize([7])).toMatchObject({ p50: 7, p99: 7, max: 7 });
    expect(summarize([]).count).toBe(0);
  });
});

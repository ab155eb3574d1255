import { describe, expect, it } from 'vitest';
import { LatencyHistogram } from '../../cli/bench/latency-histogram.ts';

describe('LatencyHistogram', () => {
  it('is exact below 256 µs', () => {
    const h = new LatencyHistogram();
    for (let us = 1; us <= 100; us++) h.recordMs(us / 1000);
    expect(h.count).toBe(100);
    expect(h.percentileMs(50)).toBe(0.05);
    expect(h.percentileMs(99)).toBe(0.099);
    expect(h.percentileMs(100)).toBe(0.1);
  });

  it('stays within 1 % above 256 µs, from a few ms to minutes', () => {
    for (const ms of [0.3, 1.234, 9.87, 57.3, 1_234.5, 99_000]) {
      const h = new LatencyHistogram();
      h.recordMs(ms);
      expect(Math.abs(h.percentileMs(50) - ms) / ms).toBeLessThan(0.01);
    }
  });

  it('ranks percentiles over a skewed distribution', () => {
    const h = new LatencyHistogram();
    for (let i = 0; i < 990; i++) h.recordMs(1);
    for (let i = 0; i < 10; i++) h.recordMs(50);
    const s = h.summary();
    expect(s.count).toBe(1000);
    expect(s.p50).toBeCloseTo(1, 1);
    expect(s.p99).toBeCloseTo(1, 1);
    expect(s.p999).toBeGreaterThan(49);
    expect(s.max).toBe(50);
    expect(s.mean).toBeCloseTo(1.49, 2);
  });

  it('merges rounds as if they were one', () => {
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    for (let i = 0; i < 100; i++) a.recordMs(2);
    for (let i = 0; i < 300; i++) b.recordMs(8);
    a.merge(b);
    expect(a.count).toBe(400);
    expect(a.percentileMs(25)).toBeCloseTo(2, 1);
    expect(a.percentileMs(26)).toBeCloseTo(8, 1);
  });

  it('reports NaN when empty and refuses nonsense', () => {
    const h = new LatencyHistogram();
    expect(h.percentileMs(50)).toBeNaN();
    expect(() => h.recordMs(-1)).toThrow(/non-negative/);
    expect(() => h.percentileMs(0)).toThrow(/percentile/);
  });
});

/** The flat-cost estimators of bench/scale.ts on runs given by hand (no timing is judged). */
import { describe, expect, it } from 'vitest';
import { flatEstimate, median } from '../../bench/scale.js';

describe('flatEstimate', () => {
  it('judges on the median of the pair ratios and keeps the other estimators beside it', () => {
    // Pair 2 ran while the machine was busy: both of its points are slow, its ratio is not.
    const e = flatEstimate([1000, 2000, 900], [1400, 2600, 1350]);
    expect(e.pairRatios).toEqual([1.4, 1.3, 1.5]);
    expect(e.ratio).toBe(1.4);
    expect(e.ratioOfMedians).toBe(1400 / 1000);
    expect(e.ratioOfBests).toBe(1350 / 900);
    expect(e.fromNs).toEqual([1000, 2000, 900]);
  });

  it('pairs runs by index, the median of an even count is the mean of the middle two', () => {
    expect(flatEstimate([100, 200], [150, 260]).ratio).toBeCloseTo((1.5 + 1.3) / 2, 12);
    expect(median([3, 1, 2, 10])).toBe(2.5);
    expect(flatEstimate([100, 200, 300], [150]).pairRatios).toEqual([1.5]);
  });

  it('gives no ratio without runs', () => {
    const e = flatEstimate([], []);
    expect(e.ratio).toBeNull();
    expect(e.ratioOfMedians).toBeNull();
    expect(e.ratioOfBests).toBeNull();
  });
});

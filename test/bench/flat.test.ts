/** The flat-cost estimators of bench/scale.ts (no timing is judged). */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { flatEstimate, flatInProcess, median } from '../../bench/scale.js';
import { loadRules } from '../../src/policy/load.js';
import { projectRoot } from '../helpers/shared.js';

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

describe('flatInProcess', () => {
  it('pairs a pass on each population per round, both patterns, and judges on the median pair ratio', () => {
    const file = path.join(projectRoot, 'bench', 'rules.json');
    const r = flatInProcess(loadRules(readFileSync(file, 'utf8'), file).rules, 40, 300, 400, 3);
    expect([r.fromMappings, r.toMappings, r.rounds, r.packets]).toEqual([40, 300, 3, 400]);
    for (const e of [r.random, r.burst]) {
      expect(e.fromNs).toHaveLength(3);
      expect(e.toNs).toHaveLength(3);
      for (const x of [...e.fromNs, ...e.toNs]) expect(x).toBeGreaterThan(0);
      expect(e.ratio).toBe(median(e.fromNs.map((x, i) => e.toNs[i]! / x)));
    }
  });
});

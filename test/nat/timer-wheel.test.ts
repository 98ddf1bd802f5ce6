import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { TimerWheel } from '../../src/nat/timer-wheel.js';

function fire(w: TimerWheel, nowMs: number): number[] {
  const out: number[] = [];
  const n = w.advance(nowMs, (id) => out.push(id));
  expect(n).toBe(out.length);
  return out;
}

describe('TimerWheel', () => {
  it('fires each entry at the first advance with nowMs >= its deadline (ms precision)', () => {
    const w = new TimerWheel(8, 1000, 16);
    w.schedule(0, 1500);
    w.schedule(1, 1000);
    w.schedule(2, 2999);
    expect(w.size).toBe(3);
    expect(fire(w, 999)).toEqual([]);
    expect(fire(w, 1000)).toEqual([1]);
    expect(fire(w, 1499)).toEqual([]); // same tick as 1500, not due yet
    expect(fire(w, 1500)).toEqual([0]);
    expect(fire(w, 2998)).toEqual([]);
    expect(fire(w, 5000)).toEqual([2]);
    expect(fire(w, 6000)).toEqual([]);
    expect(w.size).toBe(0);
  });

  it('fires an entry several turns ahead once, on the right turn', () => {
    const w = new TimerWheel(4, 1000, 4); // one turn = 4 s
    w.schedule(3, 10_500);
    for (let t = 0; t <= 10_000; t += 1000) expect(fire(w, t)).toEqual([]);
    expect(fire(w, 11_000)).toEqual([3]);
    for (let t = 12_000; t <= 30_000; t += 1000) expect(fire(w, t)).toEqual([]);
  });

  it('fires everything due after a jump of many turns, oldest bucket first', () => {
    const w = new TimerWheel(4, 1000, 4);
    fire(w, 0);
    w.schedule(0, 50_000);
    w.schedule(1, 2_000);
    w.schedule(2, 99_000);
    w.schedule(3, 1_000_000);
    expect(fire(w, 100_000).sort()).toEqual([0, 1, 2]);
    expect(w.isScheduled(3)).toBe(true);
    expect(w.deadline(3)).toBe(1_000_000);
  });

  it('reschedule moves an entry; cancel removes it', () => {
    const w = new TimerWheel(4, 100, 8);
    w.schedule(1, 500);
    w.schedule(1, 2_000);
    expect(w.size).toBe(1);
    expect(fire(w, 1_000)).toEqual([]);
    w.schedule(2, 1_500);
    expect(w.cancel(2)).toBe(true);
    expect(w.cancel(2)).toBe(false);
    expect(fire(w, 1_999)).toEqual([]);
    expect(fire(w, 2_000)).toEqual([1]);
    expect(w.isScheduled(1)).toBe(false);
    expect(w.deadline(1)).toBe(-1);
  });

  it('a deadline in the past fires at the next advance', () => {
    const w = new TimerWheel(2, 1000, 8);
    fire(w, 50_000);
    w.schedule(0, 10);
    expect(fire(w, 50_000)).toEqual([0]);
  });

  it('lets the callback cancel, reschedule and re-arm: each id still fires at most once per advance', () => {
    const w = new TimerWheel(4, 1000, 8);
    w.schedule(0, 100);
    w.schedule(1, 200);
    w.schedule(2, 300);
    const seen: number[] = [];
    const n = w.advance(1000, (id) => {
      seen.push(id);
      if (id === 0) {
        w.cancel(1); // due but not yet fired: must not fire
        w.schedule(2, 5000); // moved into the future: must not fire now
        w.schedule(0, 500); // re-armed in the past: fires at the NEXT advance
      }
    });
    expect(seen).toEqual([0]);
    expect(n).toBe(1);
    expect(fire(w, 1000)).toEqual([0]);
    expect(fire(w, 5000)).toEqual([2]);
  });

  it('grows its id space', () => {
    const w = new TimerWheel(2, 1000, 8);
    expect(() => w.schedule(5, 10)).toThrow(RangeError);
    w.schedule(1, 10);
    w.grow(8);
    expect(w.capacity).toBe(8);
    w.schedule(5, 20);
    expect(fire(w, 100).sort()).toEqual([1, 5]);
  });

  it.each([
    [8, 'turn = 8 buckets x 10 ms = 80 ms'],
    [256, 'turn = 256 buckets x 10 ms = 2.56 s: runs of empty buckets are skipped 32 at a time'],
  ])('fires exactly the due entries under random schedules, cancels, reschedules and jumps (model, %i buckets)', (buckets) => {
    type Op =
      | { t: 'schedule'; id: number; delta: number }
      | { t: 'cancel'; id: number }
      | { t: 'advance'; dt: number };
    const ids = 12;
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      // deltas from the past to several turns ahead
      fc.record({ t: fc.constant('schedule' as const), id: fc.integer({ min: 0, max: ids - 1 }), delta: fc.integer({ min: -50, max: buckets * 90 }) }),
      fc.record({ t: fc.constant('cancel' as const), id: fc.integer({ min: 0, max: ids - 1 }) }),
      fc.record({ t: fc.constant('advance' as const), dt: fc.oneof(fc.integer({ min: 0, max: 25 }), fc.integer({ min: 70, max: 400 }), fc.integer({ min: 300, max: 6000 })) }),
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 200 }), fc.integer({ min: 0, max: 1_000_000 }), (ops, t0) => {
        const w = new TimerWheel(ids, 10, buckets);
        const model = new Map<number, number>();
        let now = t0;
        const check = (): void => {
          const fired = fire(w, now);
          expect(new Set(fired).size).toBe(fired.length); // no id twice
          const due = [...model].filter(([, at]) => at <= now).map(([id]) => id);
          expect(fired.slice().sort((a, b) => a - b)).toEqual(due.sort((a, b) => a - b));
          for (const id of due) model.delete(id);
          expect(w.size).toBe(model.size);
        };
        for (const op of ops) {
          if (op.t === 'schedule') {
            w.schedule(op.id, now + op.delta);
            model.set(op.id, now + op.delta);
          } else if (op.t === 'cancel') {
            expect(w.cancel(op.id)).toBe(model.delete(op.id));
          } else {
            now += op.dt;
            check();
          }
        }
        now += 100_000;
        check();
        expect(w.size).toBe(0);
      }),
      { numRuns: 400 },
    );
  });
});

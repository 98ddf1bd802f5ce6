import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { HashIndex3, nextPow2 } from '../../src/nat/hash-index.js';

/** Forces collisions: the home slot is k0 (mod capacity), so tests choose clusters exactly. */
class ColdHash extends HashIndex3 {
  protected override home(k0: number): number {
    return k0 & (this.capacity - 1);
  }
}

const keyOf = (k0: number, k1: number, k2: number): string => `${k0 >>> 0},${k1 >>> 0},${k2 >>> 0}`;

// 'add': the flow table's way of inserting, a get that finds nothing, then setAbsent.
type Op = { op: 'set' | 'add'; k: [number, number, number]; v: number } | { op: 'get' | 'delete'; k: [number, number, number] };

/** Applies ops to the index and to a reference Map; every result must agree. */
function runAgainstMap(idx: HashIndex3, ops: Op[], maxEntries: number): void {
  const ref = new Map<string, number>();
  for (const o of ops) {
    const [k0, k1, k2] = o.k;
    const key = keyOf(k0, k1, k2);
    if (o.op === 'set') {
      const fits = ref.has(key) || ref.size < maxEntries;
      expect(idx.set(k0, k1, k2, o.v)).toBe(fits);
      if (fits) ref.set(key, o.v);
    } else if (o.op === 'add') {
      if (idx.get(k0, k1, k2) < 0) {
        expect(ref.has(key)).toBe(false);
        const fits = ref.size < maxEntries;
        expect(idx.setAbsent(k0, k1, k2, o.v)).toBe(fits);
        if (fits) ref.set(key, o.v);
      } else {
        expect(ref.has(key)).toBe(true);
      }
    } else if (o.op === 'get') {
      expect(idx.get(k0, k1, k2)).toBe(ref.get(key) ?? -1);
    } else {
      expect(idx.delete(k0, k1, k2)).toBe(ref.delete(key));
    }
    expect(idx.size).toBe(ref.size);
  }
  expect(idx.checkIntegrity()).toBe('');
  for (const [key, v] of ref) {
    const [a, b, c] = key.split(',').map(Number) as [number, number, number];
    expect(idx.get(a, b, c)).toBe(v);
  }
}

// Small key spaces so that deletes and overwrites hit existing keys often.
const smallKey = fc.tuple(fc.integer({ min: 0, max: 15 }), fc.constantFrom(0, 1, 0xffffffff), fc.integer({ min: 0, max: 3 }));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), k: smallKey, v: fc.integer({ min: 0, max: 0x7fffffff }) }),
  fc.record({ op: fc.constant('add' as const), k: smallKey, v: fc.integer({ min: 0, max: 0x7fffffff }) }),
  fc.record({ op: fc.constant('get' as const), k: smallKey }),
  fc.record({ op: fc.constant('delete' as const), k: smallKey }),
);

describe('HashIndex3 basics', () => {
  it('stores, overwrites, deletes and reports absent keys as -1', () => {
    const idx = new HashIndex3(100);
    expect(idx.get(1, 2, 3)).toBe(-1);
    expect(idx.set(1, 2, 3, 42)).toBe(true);
    expect(idx.set(1, 2, 4, 0)).toBe(true); // value 0 is a value, not "empty"
    expect(idx.get(1, 2, 3)).toBe(42);
    expect(idx.get(1, 2, 4)).toBe(0);
    expect(idx.get(3, 2, 1)).toBe(-1); // word order matters
    expect(idx.set(1, 2, 3, 7)).toBe(true);
    expect(idx.get(1, 2, 3)).toBe(7);
    expect(idx.size).toBe(2);
    expect(idx.delete(1, 2, 3)).toBe(true);
    expect(idx.delete(1, 2, 3)).toBe(false);
    expect(idx.get(1, 2, 3)).toBe(-1);
    expect(idx.size).toBe(1);
  });

  it('takes key words mod 2^32 (-1 and 0xffffffff are one key)', () => {
    const idx = new HashIndex3(10);
    idx.set(-1, 0x80000000, 5, 9);
    expect(idx.get(0xffffffff, -0x80000000, 5)).toBe(9);
    expect(idx.size).toBe(1);
  });

  it('refuses a new key at maxEntries but still overwrites existing ones', () => {
    const idx = new HashIndex3(3, 1, 1);
    expect(idx.set(1, 0, 0, 1)).toBe(true);
    expect(idx.set(2, 0, 0, 2)).toBe(true);
    expect(idx.set(3, 0, 0, 3)).toBe(true);
    expect(idx.set(4, 0, 0, 4)).toBe(false);
    expect(idx.get(4, 0, 0)).toBe(-1);
    expect(idx.set(2, 0, 0, 20)).toBe(true);
    expect(idx.get(2, 0, 0)).toBe(20);
    idx.delete(1, 0, 0);
    expect(idx.set(4, 0, 0, 4)).toBe(true);
    expect(idx.size).toBe(3);
  });

  it('throws on a negative value (programming error: -1 is the empty marker)', () => {
    const idx = new HashIndex3(4);
    expect(() => idx.set(1, 1, 1, -1)).toThrow(RangeError);
    expect(idx.size).toBe(0);
  });

  it('doubles up to nextPow2(2 * maxEntries) and never beyond, keeping load <= 0.5', () => {
    const idx = new HashIndex3(1000, 7, 8);
    expect(idx.capacity).toBe(16);
    expect(idx.maxCapacity).toBe(nextPow2(2000));
    for (let i = 0; i < 1000; i++) {
      expect(idx.set(i, i * 7, i * 13, i)).toBe(true);
      expect(idx.size * 2).toBeLessThanOrEqual(idx.capacity);
    }
    expect(idx.capacity).toBe(2048);
    expect(idx.set(5000, 0, 0, 1)).toBe(false);
    expect(idx.capacity).toBe(2048);
    expect(idx.memoryBytes()).toBe(2048 * 16);
    for (let i = 0; i < 1000; i++) expect(idx.get(i, i * 7, i * 13)).toBe(i);
    expect(idx.checkIntegrity()).toBe('');
  });

  it('clear() empties without shrinking', () => {
    const idx = new HashIndex3(100, 3, 4);
    for (let i = 0; i < 50; i++) idx.set(i, 0, 0, i);
    const cap = idx.capacity;
    idx.clear();
    expect(idx.size).toBe(0);
    expect(idx.capacity).toBe(cap);
    expect(idx.get(10, 0, 0)).toBe(-1);
    expect(idx.set(10, 0, 0, 1)).toBe(true);
  });

  it('is deterministic for a seed (same slot order) and the seed changes the layout', () => {
    const order = (seed: number): string[] => {
      const idx = new HashIndex3(64, seed, 64);
      for (let i = 0; i < 40; i++) idx.set(0x0a000000 + i, 0xc0a80001, (i << 16) | 135, i);
      const keys: string[] = [];
      idx.forEach((a, b, c, v) => keys.push(`${a},${b},${c}=${v}`));
      return keys;
    };
    expect(order(1234)).toEqual(order(1234));
    expect(order(1234)).not.toEqual(order(99));
    expect(order(1234)).toHaveLength(40);
  });
});

describe('HashIndex3 backward-shift deletion', () => {
  // Capacity 8 (maxEntries 4); the home of a key is its k0 & 7.
  it('moves later entries of a cluster that wraps the table end back into the hole', () => {
    const idx = new ColdHash(4, 0, 4);
    expect(idx.capacity).toBe(8);
    idx.set(6, 1, 0, 100); // A: home 6 -> slot 6
    idx.set(6, 2, 0, 101); // B: home 6 -> slot 7
    idx.set(0, 3, 0, 102); // C: home 0 -> slot 0 (its home; must stay)
    idx.set(7, 4, 0, 103); // D: home 7 -> slot 1 (wrapped; must move back to 7)
    expect(idx.checkIntegrity()).toBe('');
    expect(idx.delete(6, 1, 0)).toBe(true);
    expect(idx.checkIntegrity()).toBe('');
    expect(idx.get(6, 2, 0)).toBe(101);
    expect(idx.get(0, 3, 0)).toBe(102);
    expect(idx.get(7, 4, 0)).toBe(103);
    expect(idx.get(6, 1, 0)).toBe(-1);
    // Deleting the rest in another order keeps every survivor reachable.
    expect(idx.delete(0, 3, 0)).toBe(true);
    expect(idx.get(7, 4, 0)).toBe(103);
    expect(idx.delete(6, 2, 0)).toBe(true);
    expect(idx.get(7, 4, 0)).toBe(103);
    expect(idx.size).toBe(1);
    expect(idx.checkIntegrity()).toBe('');
  });

  it('agrees with a Map under random ops with every key colliding into a few slots', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 300 }), (ops) => {
        runAgainstMap(new ColdHash(4, 0, 4), ops, 4);
        runAgainstMap(new ColdHash(24, 0, 1), ops, 24);
      }),
      { numRuns: 300 },
    );
  });
});

describe('HashIndex3 against a reference Map (fast-check)', () => {
  it('agrees on set/get/delete with the real hash, in a tiny table and a growing one', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 400 }), fc.integer(), (ops, seed) => {
        runAgainstMap(new HashIndex3(6, seed, 1), ops, 6);
        runAgainstMap(new HashIndex3(200, seed, 1), ops, 200);
      }),
      { numRuns: 300 },
    );
  });

  it('agrees with wide random keys', () => {
    const wideKey = fc.tuple(fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }), fc.nat(), fc.nat());
    const wideOp: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ op: fc.constant('set' as const), k: wideKey, v: fc.nat() }),
      fc.record({ op: fc.constant('add' as const), k: wideKey, v: fc.nat() }),
      fc.record({ op: fc.constant('delete' as const), k: wideKey }),
      fc.record({ op: fc.constant('get' as const), k: wideKey }),
    );
    fc.assert(
      fc.property(fc.array(wideOp, { maxLength: 200 }), (ops) => {
        runAgainstMap(new HashIndex3(1000, 5, 2), ops, 1000);
      }),
      { numRuns: 100 },
    );
  });
});

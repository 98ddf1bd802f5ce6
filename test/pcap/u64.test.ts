import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DIV_U64_MAX_DIVISOR, U64Quotient, U64Words, divU64, mulAddU64 } from '../../src/pcap/u64.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });

function big(hi: number, lo: number): bigint {
  return (BigInt(hi) << 32n) | BigInt(lo);
}

describe('divU64', () => {
  const q = new U64Quotient();

  it('matches BigInt for the timestamp divisors, at their edges', () => {
    for (const d of [1, 10, 1000, 1e6, 1e7, 1e9, 2 ** 10, 2 ** 16, 2 ** 30, 2 ** 32 - 1, DIV_U64_MAX_DIVISOR]) {
      for (const [hi, lo] of [
        [0, 0],
        [0, 0xffffffff],
        [0x3fffffff, 0xffffffff],
        [0x40000000, 0],
        [0xffffffff, 0xffffffff],
        [0x16345785, 0xdffbcd15],
      ] as Array<[number, number]>) {
        divU64(hi, lo, d, q);
        const v = big(hi, lo);
        expect(BigInt(q.r), `${hi}:${lo}/${d}`).toBe(v % BigInt(d));
        // The quotient is exact while below 2^53.
        if (v / BigInt(d) < 2n ** 53n) expect(BigInt(q.q)).toBe(v / BigInt(d));
      }
    }
  });

  it('matches BigInt on random values (fast-check)', () => {
    fc.assert(
      fc.property(u32, u32, fc.oneof(fc.integer({ min: 1, max: 0xffff }), fc.integer({ min: 0x10000, max: 0x40000000 }), fc.integer({ min: 1, max: DIV_U64_MAX_DIVISOR })), (hi, lo, d) => {
        divU64(hi, lo, d, q);
        const v = big(hi, lo);
        expect(BigInt(q.r)).toBe(v % BigInt(d));
        if (v / BigInt(d) < 2n ** 53n) expect(BigInt(q.q)).toBe(v / BigInt(d));
      }),
      { numRuns: 5000 },
    );
  });

  it('is exact right around quotient boundaries (where a float estimate rounds the wrong way)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 33 }), fc.constantFrom(1e6, 1e9, 2 ** 30, 65536), fc.integer({ min: -3, max: 3 }), (k, d, delta) => {
        const v = BigInt(k) * BigInt(d) + BigInt(delta);
        if (v < 0n || v >= 2n ** 64n) return;
        divU64(Number(v >> 32n), Number(v & 0xffffffffn), d, q);
        expect(BigInt(q.q)).toBe(v / BigInt(d));
        expect(BigInt(q.r)).toBe(v % BigInt(d));
      }),
      { numRuns: 5000 },
    );
  });
});

describe('mulAddU64', () => {
  it('matches BigInt (fast-check)', () => {
    const w = new U64Words();
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 37 - 1 }), fc.constantFrom(1, 1e6, 1e9, 2 ** 32), fc.integer({ min: 0, max: 2 ** 40 }), (a, m, b) => {
        mulAddU64(a, m, b, w);
        const v = (BigInt(a) * BigInt(m) + BigInt(b)) & 0xffffffffffffffffn;
        expect(big(w.hi, w.lo)).toBe(v);
      }),
      { numRuns: 5000 },
    );
  });
});

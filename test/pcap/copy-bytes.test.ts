/**
 * copyBytes: the writers' copy of each frame. Views over one ArrayBuffer (replay's reader and
 * writer buffers) take a copyWithin path; it must copy exactly what the general path copies and
 * refuse the same out-of-range copies.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { copyBytes } from '../../src/pcap/writer.js';

/** What a copy must leave: dst with src's bytes (as they were before the copy) at dstOff. */
function expected(src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number, len: number): Uint8Array {
  const want = dst.slice();
  want.set(src.slice(srcOff, srcOff + len), dstOff);
  return want;
}

describe('copyBytes', () => {
  it('between two views of one ArrayBuffer copies what a copy between two buffers would', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 256, max: 4096 }),
        fc.nat(),
        fc.nat(),
        fc.nat(),
        fc.nat(),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 0, max: 1 << 30 }),
        (size, a, b, c, d, e, f, seed) => {
          const arena = new Uint8Array(size);
          for (let i = 0; i < size; i++) arena[i] = (seed + i * 131) & 0xff;
          // Two views anywhere in the arena (they may overlap), then a range inside each.
          const srcStart = a % size;
          const src = new Uint8Array(arena.buffer, srcStart, 1 + (b % (size - srcStart)));
          const dstStart = c % size;
          const dst = new Uint8Array(arena.buffer, dstStart, 1 + (d % (size - dstStart)));
          const len = e % (Math.min(src.length, dst.length) + 1);
          const srcOff = f % (src.length - len + 1);
          const dstOff = (f * 7 + seed) % (dst.length - len + 1);
          // The views may overlap; the two ranges copied never do (a writer copies a frame out of
          // the reader's part into its own).
          const s = srcStart + srcOff;
          const t = dstStart + dstOff;
          fc.pre(s + len <= t || t + len <= s);
          const want = expected(src, srcOff, dst, dstOff, len);
          copyBytes(src, srcOff, dst, dstOff, len);
          expect(dst).toEqual(want);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a frame copied within one buffer lands whole, its neighbours untouched', () => {
    const arena = new Uint8Array(2048);
    for (let i = 0; i < arena.length; i++) arena[i] = i & 0xff;
    const src = new Uint8Array(arena.buffer, 0, 1024);
    const dst = new Uint8Array(arena.buffer, 1024, 1024);
    copyBytes(src, 100, dst, 7, 700);
    expect(Array.from(dst.subarray(7, 707))).toEqual(Array.from({ length: 700 }, (_, i) => (100 + i) & 0xff));
    expect(dst[6]).toBe((1024 + 6) & 0xff);
    expect(dst[707]).toBe((1024 + 707) & 0xff);
  });

  it('a copy past the end of the destination view throws and writes nothing beyond it', () => {
    const arena = new Uint8Array(4096);
    const src = new Uint8Array(arena.buffer, 0, 2048);
    src.fill(0xab);
    const dst = new Uint8Array(arena.buffer, 2048, 1024);
    expect(() => copyBytes(src, 0, dst, 1000, 200)).toThrow(RangeError);
    expect(arena.subarray(3072).every((x) => x === 0)).toBe(true);
    const apart = new Uint8Array(1024);
    expect(() => copyBytes(src, 0, apart, 1000, 200)).toThrow(RangeError);
  });
});

/**
 * sameBytes (src/dcerpc/same-bytes.ts), four bytes a step, against a byte loop: every length, offset and differing byte;
 * ViewCache follows its buffer; KeptBytes (the memos' copy) equals exactly the ranges holding its bytes.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { KeptBytes, sameBytes, ViewCache, viewOver } from '../../src/dcerpc/same-bytes.js';

describe('sameBytes', () => {
  it('is the byte loop', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 70 }), fc.nat(9), fc.option(fc.nat(), { nil: null }), fc.nat(3), (mine, off, diffAt, slack) => {
      const buf = new Uint8Array(off + mine.length + slack).fill(0xa5);
      buf.set(mine, off);
      if (diffAt !== null && mine.length > 0) buf[off + (diffAt % mine.length)] = buf[off + (diffAt % mine.length)]! ^ (1 + (diffAt & 0x7f));
      let want = true;
      for (let i = 0; i < mine.length; i++) if (mine[i] !== buf[off + i]) want = false;
      // A longer memo array than the compared length, as the memos keep.
      const own = new Uint8Array(mine.length + 8);
      own.set(mine);
      const cache = new ViewCache();
      expect(sameBytes(viewOver(own), buf, cache.of(buf), off, mine.length)).toBe(want);
      // Another buffer (a differing copy, then the first again): the cached view follows the buffer.
      const other = buf.slice();
      other[off] = other[off]! ^ 0xff;
      expect(sameBytes(viewOver(own), other, cache.of(other), off, mine.length)).toBe(mine.length === 0);
      expect(sameBytes(viewOver(own), buf, cache.of(buf), off, mine.length)).toBe(want);
    }), { numRuns: 2000 });
  });
});

describe('KeptBytes', () => {
  const plainEquals = (kept: Uint8Array | null, buf: Uint8Array, off: number, n: number): boolean =>
    kept !== null && n === kept.length && off >= 0 && off + n <= buf.length && kept.every((b, i) => buf[off + i] === b);

  it('equals a range exactly when it holds the kept bytes; empty, it equals nothing', () => {
    // Keeps several copies in turn (growing past its first array), each compared with ranges of
    // a buffer that holds it, a changed copy, and ranges that are off, short, long or outside.
    fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 600 }), { minLength: 1, maxLength: 4 }), fc.nat(7), fc.integer({ min: -3, max: 3 }), (copies, at, shift) => {
      const k = new KeptBytes();
      for (const n of [-1, 0, 1, 20]) expect(k.equals(new Uint8Array(32), 0, n)).toBe(false);
      for (const c of copies) {
        const buf = new Uint8Array(at + c.length + 4).fill(0x3c);
        buf.set(c, at);
        k.keep(buf, at, c.length);
        const changed = buf.slice();
        if (c.length > 0) changed[at + (c.length >> 1)] = changed[at + (c.length >> 1)]! ^ 0x81;
        for (const b of [buf, changed]) {
          for (const [off, n] of [[at, c.length], [at + shift, c.length], [at, c.length + shift], [b.length - c.length + 1, c.length], [-1, c.length]] as const) {
            expect(k.equals(b, off, n), `copy of ${c.length} at ${at}, range ${off}+${n}`).toBe(plainEquals(c, b, off, n));
          }
        }
        k.clear();
        expect(k.equals(buf, at, c.length)).toBe(false);
        k.keep(buf, at, c.length);
      }
    }), { numRuns: 1000 });
  });
});

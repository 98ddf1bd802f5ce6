/** sameBytes (src/dcerpc/same-bytes.ts), four bytes a step, against a byte loop: every length, offset and differing byte; ViewCache follows its buffer. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sameBytes, ViewCache, viewOver } from '../../src/dcerpc/same-bytes.js';

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

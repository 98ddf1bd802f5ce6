/** sameBytes (src/dcerpc/same-bytes.ts), four bytes a step, against a byte loop: every length, offset and differing byte. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sameBytes, viewOver } from '../../src/dcerpc/same-bytes.js';

describe('sameBytes', () => {
  it('is the byte loop', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 70 }), fc.nat(9), fc.option(fc.nat(), { nil: null }), fc.nat(3), (mine, off, diffAt, slack) => {
      const buf = new Uint8Array(off + mine.length + slack).fill(0xa5);
      buf.set(mine, off);
      if (diffAt !== null && mine.length > 0) buf[off + (diffAt % mine.length)] ^= 1 + (diffAt & 0x7f);
      let want = true;
      for (let i = 0; i < mine.length; i++) if (mine[i] !== buf[off + i]) want = false;
      // A longer memo array than the compared length, as the memos keep.
      const own = new Uint8Array(mine.length + 8);
      own.set(mine);
      expect(sameBytes(viewOver(own), buf, off, mine.length)).toBe(want);
      // A second buffer of the same contents elsewhere: the cached view must follow the buffer.
      const other = buf.slice();
      expect(sameBytes(viewOver(own), other, off, mine.length)).toBe(want);
    }), { numRuns: 2000 });
  });
});

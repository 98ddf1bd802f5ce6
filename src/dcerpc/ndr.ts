/**
 * Byte-order aware integer reads/writes for DCE/RPC headers and NDR/NDR64 stub data.
 * `le` is the drep byte order (true = little-endian, as Windows always sends).
 * Callers check bounds first; these helpers do not (a read past the end gives 0 bits, since
 * `undefined | 0 === 0`, and never throws).
 */

/** Unsigned 16-bit read. */
export function rd16(buf: Uint8Array, off: number, le: boolean): number {
  const a = buf[off]! | 0;
  const b = buf[off + 1]! | 0;
  return le ? a | (b << 8) : (a << 8) | b;
}

/** Unsigned 32-bit read. */
export function rd32(buf: Uint8Array, off: number, le: boolean): number {
  const a = buf[off]! | 0;
  const b = buf[off + 1]! | 0;
  const c = buf[off + 2]! | 0;
  const d = buf[off + 3]! | 0;
  return le
    ? (a | (b << 8) | (c << 16) | (d << 24)) >>> 0
    : ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

const TWO_POW_32 = 0x1_0000_0000;
/** Largest high word for which hi * 2^32 + lo stays below 2^53. */
const MAX_SAFE_HI = 0x1f_ffff;

/**
 * Unsigned 64-bit read (NDR64 counts, offsets, referent ids) as a JS number, or -1 when the value
 * is 2^53 or more: no real count is that large, so callers treat -1 as malformed.
 */
export function rd64lo(buf: Uint8Array, off: number, le: boolean): number {
  const lo = le ? rd32(buf, off, true) : rd32(buf, off + 4, false);
  const hi = le ? rd32(buf, off + 4, true) : rd32(buf, off, false);
  if (hi > MAX_SAFE_HI) return -1;
  return hi * TWO_POW_32 + lo;
}

/** 16-bit write; returns 2. */
export function wr16(buf: Uint8Array, off: number, value: number, le: boolean): number {
  if (le) {
    buf[off] = value & 0xff;
    buf[off + 1] = (value >>> 8) & 0xff;
  } else {
    buf[off] = (value >>> 8) & 0xff;
    buf[off + 1] = value & 0xff;
  }
  return 2;
}

/** 32-bit write; returns 4. */
export function wr32(buf: Uint8Array, off: number, value: number, le: boolean): number {
  const v = value >>> 0;
  if (le) {
    buf[off] = v & 0xff;
    buf[off + 1] = (v >>> 8) & 0xff;
    buf[off + 2] = (v >>> 16) & 0xff;
    buf[off + 3] = (v >>> 24) & 0xff;
  } else {
    buf[off] = (v >>> 24) & 0xff;
    buf[off + 1] = (v >>> 16) & 0xff;
    buf[off + 2] = (v >>> 8) & 0xff;
    buf[off + 3] = v & 0xff;
  }
  return 4;
}

/** 64-bit write of a non-negative integer below 2^53; returns 8. */
export function wr64(buf: Uint8Array, off: number, value: number, le: boolean): number {
  const lo = value % TWO_POW_32 >>> 0;
  const hi = Math.floor(value / TWO_POW_32) >>> 0;
  if (le) {
    wr32(buf, off, lo, true);
    wr32(buf, off + 4, hi, true);
  } else {
    wr32(buf, off, hi, false);
    wr32(buf, off + 4, lo, false);
  }
  return 8;
}

/**
 * `off` rounded up so that (off - base) is a multiple of `n` (a power of two: 2, 4 or 8).
 * NDR aligns relative to the stub start (`base`), not to the buffer.
 */
export function align(off: number, base: number, n: number): number {
  const rel = off - base;
  const rem = rel & (n - 1);
  return rem === 0 ? off : off + (n - rem);
}

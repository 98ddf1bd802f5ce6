/**
 * NDR UUIDs (C706 App. A): Data1 u32, Data2 u16, Data3 u16 in the PDU's drep
 * byte order, then Data4[8] as-is. Tower UUIDs are always little-endian.
 *
 * uuidToString/parseUuid build or read text: for configuration and reporting only, never called
 * by decoders. The comparisons are allocation-free and safe on the hot path.
 */

const HEX = '0123456789abcdef';

/** Byte index (0..15) in the wire form of the n-th hex byte of the text form, per byte order. */
const LE_ORDER: readonly number[] = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
const BE_ORDER: readonly number[] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

/** Text form (lower case, 8-4-4-4-12) of the 16-byte UUID at `off`. Caller guarantees 16 bytes. */
export function uuidToString(buf: Uint8Array, off: number, littleEndian = true): string {
  const order = littleEndian ? LE_ORDER : BE_ORDER;
  const c = UUID_TEXT_CODES;
  let k = 0;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) c[k++] = 0x2d; // '-'
    const b = buf[off + (order[i] ?? 0)] ?? 0;
    c[k++] = HEX.charCodeAt(b >>> 4);
    c[k++] = HEX.charCodeAt(b & 15);
  }
  // One flat string: a += chain leaves ~20 cons strings behind (~700 bytes while a connection keeps the label).
  return String.fromCharCode.apply(null, c);
}

const UUID_TEXT_CODES: number[] = new Array<number>(36).fill(0);

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/**
 * Writes the UUID `text` ("8a885d04-1ceb-11c9-9fe8-08002b104860", case-insensitive, optional
 * surrounding braces) as 16 wire bytes at `out[off]`. Returns false (writing nothing) if the
 * text is not a UUID or `out` lacks room.
 */
export function parseUuid(text: string, out: Uint8Array, off: number, littleEndian = true): boolean {
  let t = text;
  if (t.length === 38 && t.charAt(0) === '{' && t.charAt(37) === '}') t = t.slice(1, 37);
  if (t.length !== 36 || off < 0 || off + 16 > out.length) return false;
  if (t.charAt(8) !== '-' || t.charAt(13) !== '-' || t.charAt(18) !== '-' || t.charAt(23) !== '-') return false;
  const bytes = new Uint8Array(16);
  let pos = 0;
  for (let i = 0; i < 16; i++) {
    if (pos === 8 || pos === 13 || pos === 18 || pos === 23) pos++;
    const hi = hexDigit(t.charCodeAt(pos));
    const lo = hexDigit(t.charCodeAt(pos + 1));
    if (hi < 0 || lo < 0) return false;
    bytes[i] = (hi << 4) | lo;
    pos += 2;
  }
  const order = littleEndian ? LE_ORDER : BE_ORDER;
  for (let i = 0; i < 16; i++) out[off + (order[i] ?? 0)] = bytes[i] ?? 0;
  return true;
}

/** Convenience for configuration and tests: a new 16-byte wire UUID; throws on bad text. */
export function uuidBytes(text: string, littleEndian = true): Uint8Array {
  const out = new Uint8Array(16);
  if (!parseUuid(text, out, 0, littleEndian)) throw new Error(`not a UUID: ${text}`);
  return out;
}

/** Byte-for-byte equality of two 16-byte UUIDs written in the same byte order. */
export function uuidEquals(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): boolean {
  for (let i = 0; i < 16; i++) {
    if (a[aOff + i] !== b[bOff + i]) return false;
  }
  return true;
}

/**
 * Equality of two UUIDs that may be in different drep byte orders (e.g. a UUID from a
 * big-endian bind against a wire-LE constant). Only Data1/2/3 differ between orders.
 */
export function uuidEqualsAcrossOrder(
  a: Uint8Array, aOff: number, aLittle: boolean,
  b: Uint8Array, bOff: number, bLittle: boolean,
): boolean {
  if (aLittle === bLittle) return uuidEquals(a, aOff, b, bOff);
  // Opposite orders: Data1 reversed (4 bytes), Data2 and Data3 swapped (2 bytes each).
  return a[aOff] === b[bOff + 3] && a[aOff + 1] === b[bOff + 2] && a[aOff + 2] === b[bOff + 1] &&
    a[aOff + 3] === b[bOff] && a[aOff + 4] === b[bOff + 5] && a[aOff + 5] === b[bOff + 4] &&
    a[aOff + 6] === b[bOff + 7] && a[aOff + 7] === b[bOff + 6] &&
    a[aOff + 8] === b[bOff + 8] && a[aOff + 9] === b[bOff + 9] && a[aOff + 10] === b[bOff + 10] &&
    a[aOff + 11] === b[bOff + 11] && a[aOff + 12] === b[bOff + 12] && a[aOff + 13] === b[bOff + 13] &&
    a[aOff + 14] === b[bOff + 14] && a[aOff + 15] === b[bOff + 15];
}

/**
 * Copies a 16-byte UUID from byte order `srcLittle` to byte order `dstLittle` (the Data1/2/3
 * swap is its own inverse, so one permutation serves both directions).
 */
export function copyUuid(
  src: Uint8Array, srcOff: number, srcLittle: boolean, dst: Uint8Array, dstOff: number, dstLittle: boolean,
): void {
  if (srcLittle === dstLittle) {
    for (let i = 0; i < 16; i++) dst[dstOff + i] = src[srcOff + i]! | 0;
    return;
  }
  for (let i = 0; i < 16; i++) dst[dstOff + (LE_ORDER[i]! | 0)] = src[srcOff + i]! | 0;
}

/** Copies the UUID at `src[srcOff]` (byte order `srcLittle`) to `dst[dstOff]` in little-endian wire form. */
export function copyUuidToLE(src: Uint8Array, srcOff: number, srcLittle: boolean, dst: Uint8Array, dstOff: number): void {
  copyUuid(src, srcOff, srcLittle, dst, dstOff, true);
}

/** Test helpers: annotated hex to bytes, and a buffer pre-filled with 0xa5 (so unwritten bytes show). */

/** Bytes of hex text; `//` comments to the end of a line and all whitespace are ignored. */
export function hex(text: string): Uint8Array {
  const digits = text.replace(/\/\/[^\n]*/g, '').replace(/\s+/g, '');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(digits)) throw new Error(`bad hex: ${digits}`);
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** A buffer of `size` bytes all 0xa5. */
export function filled(size: number): Uint8Array {
  return new Uint8Array(size).fill(0xa5);
}

/** `bytes` copied at `off` into a 0xa5-filled buffer with `tail` spare bytes after. */
export function placed(bytes: Uint8Array, off: number, tail = 0): Uint8Array {
  const buf = filled(off + bytes.length + tail);
  buf.set(bytes, off);
  return buf;
}

/** Hex text of bytes, for readable failure messages. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** Test helpers: byte vectors written as annotated hex lines. */

/** Joins hex fragments ("05 00 0b 03", "d016") into bytes; whitespace is ignored. */
export function hex(...parts: string[]): Uint8Array {
  const s = parts.join('').replace(/\s+/g, '');
  if (s.length % 2 !== 0 || /[^0-9a-fA-F]/.test(s)) throw new Error(`bad hex: ${s}`);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** `inner` copied at `at` inside a larger buffer pre-filled with 0xa5 (so stray writes show). */
export function embed(inner: Uint8Array, at = 7, tail = 9): Uint8Array {
  const b = new Uint8Array(at + inner.length + tail).fill(0xa5);
  b.set(inner, at);
  return b;
}

/** A buffer pre-filled with 0xa5 for encoders. */
export function a5(n: number): Uint8Array {
  return new Uint8Array(n).fill(0xa5);
}

/**
 * Runs an encoder at offset 5 of a 0xa5-filled buffer, checks it touched nothing outside the
 * bytes it reports, and returns those bytes.
 */
export function encodeAt<T>(write: (buf: Uint8Array, off: number, o: T) => number, o: T): Uint8Array {
  const buf = a5(70000);
  const n = write(buf, 5, o);
  for (let i = 0; i < 5; i++) if (buf[i] !== 0xa5) throw new Error(`encoder wrote before its offset at ${i}`);
  for (let i = 5 + n; i < 5 + n + 64 && i < buf.length; i++) {
    if (buf[i] !== 0xa5) throw new Error(`encoder wrote past its length at ${i - 5}`);
  }
  return buf.slice(5, 5 + n);
}

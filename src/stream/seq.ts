/**
 * TCP sequence-number arithmetic modulo 2^32 (RFC 793 §3.3, RFC 1982 serial arithmetic).
 * Every comparison of sequence numbers in rpcgw goes through these: a plain `<` breaks at wrap.
 */

/** (a - b) as a signed 32-bit distance: positive when a is after b. */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

export function seqLeq(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

/** a + n, wrapped to an unsigned 32-bit sequence number. */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

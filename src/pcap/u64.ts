/**
 * Unsigned 64-bit arithmetic on (hi, lo) pairs of u32 without BigInt, for capture timestamps
 * (pcapng: 64-bit units since 1970; NetMon: 100 ns ticks since 1601). Every intermediate value
 * stays below 2^53, so the results are exact and nothing is allocated.
 */

const TWO16 = 65536;
const TWO32 = 4294967296;

/** Output of divU64 (preallocate one and reuse it). */
export class U64Quotient {
  /** Quotient; exact while below 2^53 (timestamps in seconds always are). */
  q = 0;
  /** Remainder, 0 <= r < divisor. */
  r = 0;
}

/** Fast path bounds: dividend below 2^62, divisor in [2^16, 2^30] (microsecond to nanosecond units). */
const FAST_HI_MAX = 0x40000000;
const FAST_DIV_MIN = 65536;
const FAST_DIV_MAX = 0x40000000;

/** Largest divisor divU64 accepts: keeps `r * 65536 + digit` exact and each digit quotient exact. */
export const DIV_U64_MAX_DIVISOR = TWO32;

/**
 * (hi * 2^32 + lo) / d by long division in base 2^16. Requires 1 <= d <= DIV_U64_MAX_DIVISOR
 * (callers check; a larger divisor would lose precision, not throw).
 */
export function divU64(hi: number, lo: number, d: number, out: U64Quotient): void {
  if (hi < FAST_HI_MAX && d >= FAST_DIV_MIN && d <= FAST_DIV_MAX) {
    // Estimate with one float division (the dividend rounded to 53 bits is off by at most
    // 2^9, so the estimate is within 1 of the quotient), then get the exact remainder from the
    // low 32 bits: it lies in [-d, 2d), inside int32, so arithmetic mod 2^32 recovers it.
    let q = Math.floor((hi * TWO32 + lo) / d);
    let r = (lo - Math.imul(q, d)) | 0;
    while (r < 0) {
      q--;
      r += d;
    }
    while (r >= d) {
      q++;
      r -= d;
    }
    out.q = q;
    out.r = r;
    return;
  }
  // Three steps: the high word whole (it is below 2^32), then the low word 16 bits at a time,
  // so every dividend stays below 2^53. Float division can round a quotient up to the next
  // integer when the exact one is just below it; the remainder check corrects that.
  let q = Math.floor(hi / d);
  let r = hi - q * d;
  if (r < 0) {
    q--;
    r += d;
  }
  let n = r * TWO16 + (lo >>> 16);
  let qd = Math.floor(n / d);
  r = n - qd * d;
  if (r < 0) {
    qd--;
    r += d;
  }
  q = q * TWO16 + qd;
  n = r * TWO16 + (lo & 0xffff);
  qd = Math.floor(n / d);
  r = n - qd * d;
  if (r < 0) {
    qd--;
    r += d;
  }
  out.q = q * TWO16 + qd;
  out.r = r;
}

/** Output of mulAddU64: the 64-bit result as two u32 words. */
export class U64Words {
  hi = 0;
  lo = 0;
}

/**
 * a * m + b as a 64-bit (hi, lo) pair, for 0 <= a < 2^37, 0 <= m <= 2^32, 0 <= b < 2^52
 * (a is seconds: 2^37 s is beyond year 6000).
 * Used to turn (seconds, fraction) into pcapng's 64-bit timestamp units.
 */
export function mulAddU64(a: number, m: number, b: number, out: U64Words): void {
  const aHi = Math.floor(a / TWO16);
  const aLo = a - aHi * TWO16;
  // a*m = A * 2^16 + aLo*m where A = aHi*m (each product < 2^53).
  const bigA = aHi * m;
  const low = aLo * m + b;
  const aLow16 = bigA % TWO16;
  const aHigh = Math.floor(bigA / TWO16);
  // total = aHigh * 2^32 + aLow16 * 2^16 + low
  const lowSum = aLow16 * TWO16 + (low % TWO32);
  const carry = Math.floor(lowSum / TWO32);
  out.lo = lowSum - carry * TWO32;
  out.hi = (aHigh + Math.floor(low / TWO32) + carry) % TWO32;
}

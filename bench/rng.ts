/**
 * A small seeded PRNG (mulberry32) so a workload is the same bytes for the same seed on every
 * machine and Node version (Math.random is neither seedable nor specified).
 */
export class Rng {
  private s: number;

  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  /** Uniform u32. */
  u32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  /** Log-uniform in [lo, hi]: as many values in 100..1000 as in 1000..10000 (sizes, gaps). */
  logUniform(lo: number, hi: number): number {
    return Math.round(Math.exp(Math.log(lo) + this.float() * (Math.log(hi) - Math.log(lo))));
  }

  /** Exponentially distributed with the given mean (Poisson inter-arrival times). */
  exp(mean: number): number {
    return -Math.log(1 - this.float()) * mean;
  }

  /** Fills `out[off..off+n)` with pseudo-random bytes (stub contents). */
  fill(out: Uint8Array, off: number, n: number): void {
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const v = this.u32();
      out[off + i] = v;
      out[off + i + 1] = v >>> 8;
      out[off + i + 2] = v >>> 16;
      out[off + i + 3] = v >>> 24;
    }
    for (; i < n; i++) out[off + i] = this.u32();
  }
}

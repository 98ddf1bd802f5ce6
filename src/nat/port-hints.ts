/**
 * UsedPortHints: for each server endpoint (serverIp, gwIp, serverPort) that flows are reaching, a
 * bitmap of the gateway's source ports (gwPort, in gateway.natPorts) its flows hold, so that
 * FlowTable.pickGwPort can step over ports it knows are taken without a probe of the flow index.
 *
 * Why: a new connection's gwPort is its client's port when that is free, else the next free port
 * of a strided walk (pickGwPort). Clients reuse ports (every copy of a multiplied capture, every
 * Windows host's ephemeral range), so a new flow probes ~2.7 ports, and each probe of the flow
 * index at 100k flows is a cache miss in a table of megabytes; a bit in an 8 KiB bitmap is not.
 *
 * Semantics: a HINT, exact in one direction only. A set bit means the flow index holds that
 * internal tuple (the bit is set when the flow is inserted, cleared when it is removed). A clear
 * bit means nothing: the caller asks the index, as it did before. So flows the hints never saw
 * (restored from a snapshot, outbound rows, created while every set was taken) cost a probe but
 * are never missed, and the port chosen is the same as without hints.
 *
 * Bounds: at most `maxSets` endpoints have a set (beyond that the walk probes the index as
 * before; 0: no hints at all); a set is opened with an endpoint's first flow and closed when its last marked flow
 * goes, its bits all clear again (no memset on reuse). Storage: bits per set = the range's span
 * rounded up to 32 (2,016 words for 1024-65535), grown by doubling up to maxSets, plus a small
 * HashIndex3 of the endpoints.
 */
import { HashIndex3 } from './hash-index.js';

const MIN_SETS = 4;

export class UsedPortHints {
  readonly lo: number;
  readonly hi: number;
  readonly maxSets: number;
  /** Int32 words of one set's bitmap. */
  private readonly words: number;
  /** (serverIp, gwIp, serverPort) -> set. */
  private readonly byEndpoint: HashIndex3;
  /** Bits of every set: words x capacity. */
  private bits: Int32Array;
  /** Marked ports per set. */
  private counts: Int32Array;
  /** The endpoint of each set (3 words), to drop it from byEndpoint when the set closes. */
  private keys: Int32Array;
  /** Sets not in use (a stack). */
  private free: Int32Array;
  private nFree = 0;
  private cap = 0;

  constructor(lo: number, hi: number, maxSets: number, seed = 0x5bd1e995) {
    if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo >= 0 && lo <= hi && hi <= 65535)) throw new RangeError(`UsedPortHints: range must be 0 <= lo <= hi <= 65535, got ${lo}-${hi}`);
    if (!(Number.isInteger(maxSets) && maxSets >= 0)) throw new RangeError(`UsedPortHints: maxSets must be an integer >= 0, got ${maxSets}`);
    this.lo = lo;
    this.hi = hi;
    this.maxSets = maxSets;
    this.words = (hi - lo + 32) >>> 5;
    this.byEndpoint = new HashIndex3(Math.max(1, maxSets), seed, MIN_SETS);
    this.bits = new Int32Array(0);
    this.counts = new Int32Array(0);
    this.keys = new Int32Array(0);
    this.free = new Int32Array(0);
  }

  /** Endpoints with a set now. */
  get sets(): number {
    return this.cap - this.nFree;
  }

  /** The set of an endpoint (words as int32), or -1. */
  setOf(serverIp: number, gwIp: number, serverPort: number): number {
    return this.byEndpoint.get(serverIp, gwIp, serverPort);
  }

  /** True when `port` is marked in `set` (so the flow index holds that tuple). */
  used(set: number, port: number): boolean {
    const b = port - this.lo;
    return (this.bits[set * this.words + (b >>> 5)]! & (1 << (b & 31))) !== 0;
  }

  /**
   * Marks `port` used by a flow just inserted toward the endpoint, opening the endpoint's set if
   * it has none and one is free. `set` is what setOf returned for it (-1: none yet).
   */
  mark(set: number, serverIp: number, gwIp: number, serverPort: number, port: number): void {
    if (port < this.lo || port > this.hi) return;
    if (set < 0) {
      set = this.open(serverIp, gwIp, serverPort);
      if (set < 0) return;
    }
    const b = port - this.lo;
    const w = set * this.words + (b >>> 5);
    const bit = 1 << (b & 31);
    const word = this.bits[w]!;
    if ((word & bit) !== 0) return;
    this.bits[w] = word | bit;
    this.counts[set]!++;
  }

  /** The flow holding (endpoint, port) is gone: its bit is cleared (the set closes with its last). */
  unmark(serverIp: number, gwIp: number, serverPort: number, port: number): void {
    if (port < this.lo || port > this.hi) return;
    const set = this.byEndpoint.get(serverIp, gwIp, serverPort);
    if (set < 0) return;
    const b = port - this.lo;
    const w = set * this.words + (b >>> 5);
    const bit = 1 << (b & 31);
    const word = this.bits[w]!;
    if ((word & bit) === 0) return;
    this.bits[w] = word & ~bit;
    if (--this.counts[set]! === 0) {
      const k = set * 3;
      this.byEndpoint.delete(this.keys[k]!, this.keys[k + 1]!, this.keys[k + 2]!);
      this.free[this.nFree++] = set;
    }
  }

  memoryBytes(): number {
    return this.bits.byteLength + this.counts.byteLength + this.keys.byteLength + this.free.byteLength + this.byEndpoint.memoryBytes();
  }

  private open(serverIp: number, gwIp: number, serverPort: number): number {
    if (this.nFree === 0 && !this.grow()) return -1;
    const set = this.free[--this.nFree]!;
    const k = set * 3;
    this.keys[k] = serverIp;
    this.keys[k + 1] = gwIp;
    this.keys[k + 2] = serverPort;
    this.byEndpoint.setAbsent(serverIp, gwIp, serverPort, set);
    return set;
  }

  /** More sets (doubling, up to maxSets); false at the bound. Every set's bits are clear when free. */
  private grow(): boolean {
    const old = this.cap;
    if (old >= this.maxSets) return false;
    const cap = Math.min(this.maxSets, Math.max(MIN_SETS, old * 2));
    const bits = new Int32Array(cap * this.words);
    bits.set(this.bits);
    const counts = new Int32Array(cap);
    counts.set(this.counts);
    const keys = new Int32Array(cap * 3);
    keys.set(this.keys);
    const free = new Int32Array(cap);
    // Lowest set first (popped from the top of the stack).
    for (let s = cap - 1; s >= old; s--) free[this.nFree++] = s;
    this.bits = bits;
    this.counts = counts;
    this.keys = keys;
    this.free = free;
    this.cap = cap;
    return true;
  }
}

/** The odd primes dividing n (n >= 1), ascending. */
export function oddPrimeFactors(n: number): number[] {
  const ps: number[] = [];
  while (n % 2 === 0 && n > 1) n /= 2;
  for (let p = 3; p * p <= n; p += 2) {
    if (n % p !== 0) continue;
    ps.push(p);
    while (n % p === 0) n /= p;
  }
  if (n > 1) ps.push(n);
  return ps;
}

/**
 * gcd(step, span) === 1 for an odd step, given the span's odd prime factors: a division or two a
 * prime instead of Euclid's ~10 (pickGwPort's stride runs it for each new flow whose port is taken).
 */
export function oddCoprime(step: number, spanOddPrimes: readonly number[]): boolean {
  for (let i = 0; i < spanOddPrimes.length; i++) if (step % spanOddPrimes[i]! === 0) return false;
  return true;
}

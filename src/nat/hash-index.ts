/**
 * HashIndex3: a bounded open-addressing hash index from a key of three u32 words to a
 * non-negative int32 value (in rpcgw: a slot id of a mapping or flow table).
 *
 * Why this shape: the per-packet path must not build string keys or objects, and a JS Map
 * keyed by numbers cannot take a composite (address, address, ports) key without allocating.
 * Every table of the nat layer indexes its entries by such a triple, e.g.
 *   (clientIp, extIp, extPort) -> mapping id, (clientIp, extIp, clientPort<<16|extPort) -> flow id.
 *
 * Layout: one Int32Array, a slot = 4 words = 16 bytes, [k0, k1, k2, value]. The words of a slot
 * are interleaved (not one array per word) so that a probe costs ONE cache line instead of four:
 * on a 1M-entry index (32 MiB) every probe is a cache miss, and that is what a lookup costs.
 * Key words are compared mod 2^32 (-1 and 0xffffffff are one key). value -1 marks an empty
 * slot, so values must be >= 0.
 *
 * Probing is linear. Deletion shifts the following entries of the cluster back (backward-shift
 * deletion), so there are no tombstones and a lookup never walks further than the cluster its
 * key lives in. The load factor is kept <= 0.5: the table doubles (rehash, amortised) until it
 * reaches the fixed maximum capacity nextPow2(2 * maxEntries), then `set` of a new key returns
 * false once `maxEntries` keys are stored. Pass `initialEntries = maxEntries` to allocate the
 * full size up front and never pay a rehash on the packet path.
 *
 * The hash is a seeded murmur3-style mix of the three words: deterministic for one seed (replay
 * gives the same layout), unpredictable to a remote peer when the daemon picks a random seed.
 */

/** Smallest power of two >= n (n >= 1). */
export function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

const MIN_CAPACITY = 8;

export class HashIndex3 {
  /** Most keys the index will ever hold. */
  readonly maxEntries: number;
  /** Capacity (slots) the index never grows beyond. */
  readonly maxCapacity: number;
  private readonly seed: number;
  /** Slots: [k0, k1, k2, value] x capacity. */
  private t: Int32Array;
  /** Slot index mask (capacity - 1). */
  private mask: number;
  private n = 0;

  constructor(maxEntries: number, seed = 0x9e3779b9, initialEntries = 1024) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`HashIndex3: maxEntries must be a positive integer, got ${maxEntries}`);
    this.maxEntries = maxEntries;
    this.maxCapacity = Math.max(MIN_CAPACITY, nextPow2(2 * maxEntries));
    this.seed = seed | 0;
    const initial = Math.min(this.maxCapacity, Math.max(MIN_CAPACITY, nextPow2(2 * Math.max(1, initialEntries))));
    this.t = newSlots(initial);
    this.mask = initial - 1;
  }

  /** Number of keys stored. */
  get size(): number {
    return this.n;
  }

  /** Current number of slots (a power of two). */
  get capacity(): number {
    return this.mask + 1;
  }

  /**
   * Home slot of a key. Protected so a test can subclass it and force collisions; production
   * code never overrides it (the call site stays monomorphic).
   */
  protected home(k0: number, k1: number, k2: number): number {
    let h = this.seed;
    let k = Math.imul(k0, 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    h ^= k;
    h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
    k = Math.imul(k1, 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    h ^= k;
    h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
    k = Math.imul(k2, 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    h ^= k;
    h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
    // fmix32: spreads the last words into the low bits the mask keeps.
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h & this.mask;
  }

  /** Word offset of the slot holding the key (words already int32), or -1. */
  private find(k0: number, k1: number, k2: number): number {
    const t = this.t;
    const wrap = t.length - 1;
    let b = this.home(k0, k1, k2) << 2;
    // Load <= 0.5 guarantees an empty slot, so this terminates.
    while (t[b + 3]! !== -1) {
      if (t[b] === k0 && t[b + 1] === k1 && t[b + 2] === k2) return b;
      b = (b + 4) & wrap;
    }
    return -1;
  }

  /** Value stored for the key, or -1 if absent. */
  get(k0: number, k1: number, k2: number): number {
    const b = this.find(k0 | 0, k1 | 0, k2 | 0);
    return b < 0 ? -1 : this.t[b + 3]!;
  }

  has(k0: number, k1: number, k2: number): boolean {
    return this.find(k0 | 0, k1 | 0, k2 | 0) >= 0;
  }

  /**
   * Inserts or overwrites. Returns false (and changes nothing) when the key is new and the index
   * already holds maxEntries keys. `value` must be an int32 >= 0 (-1 is the empty marker):
   * a negative value is a programming error and throws.
   */
  set(k0: number, k1: number, k2: number, value: number): boolean {
    if (!(value >= 0 && value <= 0x7fffffff)) throw new RangeError(`HashIndex3.set: value must be an int32 >= 0, got ${value}`);
    k0 |= 0;
    k1 |= 0;
    k2 |= 0;
    const found = this.find(k0, k1, k2);
    if (found >= 0) {
      this.t[found + 3] = value;
      return true;
    }
    if (this.n >= this.maxEntries) return false;
    if ((this.n + 1) * 2 > this.mask + 1 && this.mask + 1 < this.maxCapacity) this.grow();
    this.insertNew(k0, k1, k2, value | 0);
    this.n++;
    return true;
  }

  /**
   * Inserts a key the caller has just looked up and found absent (one probe walk instead of
   * set's find-then-place). Same bound and value rules as set; a key that is in fact present
   * would be stored twice, so only call it right after a get/has of the same key returned none.
   */
  setAbsent(k0: number, k1: number, k2: number, value: number): boolean {
    if (!(value >= 0 && value <= 0x7fffffff)) throw new RangeError(`HashIndex3.setAbsent: value must be an int32 >= 0, got ${value}`);
    if (this.n >= this.maxEntries) return false;
    if ((this.n + 1) * 2 > this.mask + 1 && this.mask + 1 < this.maxCapacity) this.grow();
    this.insertNew(k0 | 0, k1 | 0, k2 | 0, value | 0);
    this.n++;
    return true;
  }

  /** Places a key known to be absent (no size bookkeeping). */
  private insertNew(k0: number, k1: number, k2: number, value: number): void {
    const t = this.t;
    const wrap = t.length - 1;
    let b = this.home(k0, k1, k2) << 2;
    while (t[b + 3]! !== -1) b = (b + 4) & wrap;
    t[b] = k0;
    t[b + 1] = k1;
    t[b + 2] = k2;
    t[b + 3] = value;
  }

  /** Doubles the slots and rehashes every key. */
  private grow(): void {
    const old = this.t;
    const cap = Math.min(this.maxCapacity, (this.mask + 1) * 2);
    this.t = newSlots(cap);
    this.mask = cap - 1;
    for (let b = 0; b < old.length; b += 4) {
      const v = old[b + 3]!;
      if (v !== -1) this.insertNew(old[b]!, old[b + 1]!, old[b + 2]!, v);
    }
  }

  /** Removes the key; false if it was absent. */
  delete(k0: number, k1: number, k2: number): boolean {
    let i = this.find(k0 | 0, k1 | 0, k2 | 0);
    if (i < 0) return false;
    const t = this.t;
    const wrap = t.length - 1;
    // Backward shift: walk the rest of the cluster; an entry whose home is not cyclically in
    // (i, j] would become unreachable across the hole at i, so it moves into the hole.
    // (i, j and h are word offsets here: slot * 4.)
    let j = i;
    for (;;) {
      j = (j + 4) & wrap;
      if (t[j + 3] === -1) break;
      const h = this.home(t[j]!, t[j + 1]!, t[j + 2]!) << 2;
      const stays = i <= j ? i < h && h <= j : i < h || h <= j;
      if (stays) continue;
      t[i] = t[j]!;
      t[i + 1] = t[j + 1]!;
      t[i + 2] = t[j + 2]!;
      t[i + 3] = t[j + 3]!;
      i = j;
    }
    t[i + 3] = -1;
    this.n--;
    return true;
  }

  /** Removes every key; keeps the current capacity (no allocation). */
  clear(): void {
    const t = this.t;
    for (let b = 3; b < t.length; b += 4) t[b] = -1;
    this.n = 0;
  }

  /** Calls cb for every stored key (words as u32), in slot order (admin/debug; not for the packet path). */
  forEach(cb: (k0: number, k1: number, k2: number, value: number) => void): void {
    const t = this.t;
    for (let b = 0; b < t.length; b += 4) {
      const v = t[b + 3]!;
      if (v !== -1) cb(t[b]! >>> 0, t[b + 1]! >>> 0, t[b + 2]! >>> 0, v);
    }
  }

  /** Bytes of typed-array storage currently allocated. */
  memoryBytes(): number {
    return this.t.byteLength;
  }

  /**
   * Structural check for tests: every stored key is reachable from its home slot without
   * crossing an empty slot, and the count matches. Returns '' when sound, else what is wrong.
   */
  checkIntegrity(): string {
    const t = this.t;
    const mask = this.mask;
    let count = 0;
    for (let s = 0; s <= mask; s++) {
      if (t[(s << 2) + 3] === -1) continue;
      count++;
      let i = this.home(t[s << 2]!, t[(s << 2) + 1]!, t[(s << 2) + 2]!);
      while (i !== s) {
        if (t[(i << 2) + 3] === -1) return `slot ${s} unreachable: empty slot ${i} between it and its home`;
        i = (i + 1) & mask;
      }
    }
    if (count !== this.n) return `size ${this.n} but ${count} occupied slots`;
    if (this.n * 2 > mask + 1) return `load above 0.5: ${this.n} in ${mask + 1}`;
    return '';
  }
}

function newSlots(capacity: number): Int32Array {
  const t = new Int32Array(capacity * 4);
  for (let b = 3; b < t.length; b += 4) t[b] = -1;
  return t;
}

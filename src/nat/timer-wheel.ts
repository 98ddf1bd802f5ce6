/**
 * TimerWheel: one deadline per entry id, O(1) schedule/cancel, expiry in `advance(nowMs)`.
 *
 * The wheel never reads the clock: time is whatever the caller passes (packet time in replay,
 * the clock in live mode), so a replay expires the same entries at the same packets.
 *
 * Model: time is cut into ticks of `resolutionMs`; tick t lives in bucket t mod B (B = buckets,
 * rounded up to a power of two). Each bucket is an intrusive circular doubly-linked list threaded
 * through two Int32Arrays (`next`, `prev`); nodes 0..B-1 are the bucket sentinels, node B the
 * sentinel of the "due" list, node B+1+id the entry `id`. Because every list has a sentinel,
 * unlinking needs no bucket number: cancel and reschedule are a couple of array writes.
 *
 * Entries further ahead than one turn (B ticks) simply share a bucket with nearer ones; every
 * visit compares the exact deadline (`atMs <= nowMs`, at millisecond precision, not tick
 * precision) and leaves not-yet-due entries in place, so they fire on a later turn. A deadline
 * already in the past at schedule time goes to the current bucket and fires at the next advance.
 *
 * advance(nowMs) first moves every due entry of the buckets from the last processed tick up to
 * now onto the due list (no callback runs while buckets are walked), then pops the due list one
 * entry at a time and calls onExpire(id). So the callback may freely schedule, reschedule or
 * cancel any id: cancelling (or rescheduling) an id still on the due list keeps it from firing;
 * an id (re)scheduled from the callback at a time <= nowMs fires at the NEXT advance, never
 * twice in one. Each due id fires exactly once. Order: by bucket (ascending tick), then by
 * scheduling order within a bucket.
 *
 * A bitmap of buckets that may hold entries (set on link, cleared when a visit finds the bucket
 * empty) lets advance skip empty buckets 32 at a time: a replay whose copies are a day apart
 * jumps a whole turn on every copy, and visiting 4096 empty buckets per jump per table showed
 * as the top function of such a replay.
 *
 * Storage: 16 bytes an id (next, prev, atMs) plus 8 bytes and 1 bit a bucket.
 */
import { nextPow2 } from './hash-index.js';

export class TimerWheel {
  readonly resolutionMs: number;
  /** Number of buckets (power of two). */
  readonly buckets: number;
  /** Node index of entry 0 (= buckets + 1: the sentinels come first). */
  private readonly base: number;
  private readonly due: number;
  private next: Int32Array;
  private prev: Int32Array;
  private atMs: Float64Array;
  /** Bit b set: bucket b may hold entries (clear: certainly empty). */
  private readonly occupied: Int32Array;
  private cap: number;
  private n = 0;
  /** Last tick processed by advance; NaN before the first advance. */
  private curTick = Number.NaN;

  constructor(capacity: number, resolutionMs = 1000, buckets = 4096) {
    if (!(resolutionMs > 0)) throw new RangeError(`TimerWheel: resolutionMs must be > 0, got ${resolutionMs}`);
    this.resolutionMs = resolutionMs;
    this.buckets = nextPow2(Math.max(1, buckets));
    this.due = this.buckets;
    this.base = this.buckets + 1;
    this.cap = Math.max(0, capacity | 0);
    this.next = new Int32Array(this.base + this.cap).fill(-1);
    this.prev = new Int32Array(this.base + this.cap).fill(-1);
    this.atMs = new Float64Array(this.cap);
    this.occupied = new Int32Array((this.buckets + 31) >>> 5);
    for (let s = 0; s < this.base; s++) {
      this.next[s] = s;
      this.prev[s] = s;
    }
  }

  /** Number of ids the wheel can hold (ids are 0..capacity-1). */
  get capacity(): number {
    return this.cap;
  }

  /** Entries currently scheduled. */
  get size(): number {
    return this.n;
  }

  /** Grows the id space (tables call this from their SlotAllocator onGrow hook). Never shrinks. */
  grow(newCapacity: number): void {
    if (newCapacity <= this.cap) return;
    const next = new Int32Array(this.base + newCapacity).fill(-1);
    const prev = new Int32Array(this.base + newCapacity).fill(-1);
    next.set(this.next);
    prev.set(this.prev);
    const at = new Float64Array(newCapacity);
    at.set(this.atMs);
    this.next = next;
    this.prev = prev;
    this.atMs = at;
    this.cap = newCapacity;
  }

  isScheduled(id: number): boolean {
    return id >= 0 && id < this.cap && this.next[this.base + id]! >= 0;
  }

  /** Deadline of a scheduled id, or -1. */
  deadline(id: number): number {
    return this.isScheduled(id) ? this.atMs[id]! : -1;
  }

  /** Schedules id to fire at the first advance with nowMs >= atMs; moves it if already scheduled. */
  schedule(id: number, atMs: number): void {
    if (!(id >= 0 && id < this.cap)) throw new RangeError(`TimerWheel.schedule: id ${id} outside 0..${this.cap - 1}`);
    if (!Number.isFinite(atMs)) throw new RangeError(`TimerWheel.schedule: atMs must be finite, got ${atMs}`);
    const node = this.base + id;
    if (this.next[node]! >= 0) this.unlink(node);
    else this.n++;
    this.atMs[id] = atMs;
    let tick = Math.floor(atMs / this.resolutionMs);
    // A past deadline goes to the current bucket, which the next advance visits first.
    if (tick < this.curTick) tick = this.curTick;
    const bucket = this.bucketOf(tick);
    this.occupied[bucket >>> 5]! |= 1 << (bucket & 31);
    this.linkTail(bucket, node);
  }

  /** Unschedules id; false if it was not scheduled. */
  cancel(id: number): boolean {
    if (!this.isScheduled(id)) return false;
    this.unlink(this.base + id);
    this.n--;
    return true;
  }

  /** Unschedules everything (keeps the storage). */
  clear(): void {
    this.next.fill(-1, this.base);
    this.prev.fill(-1, this.base);
    for (let s = 0; s < this.base; s++) {
      this.next[s] = s;
      this.prev[s] = s;
    }
    this.n = 0;
    this.curTick = Number.NaN;
    this.occupied.fill(0);
  }

  /** Fires (unschedules, then calls onExpire) every id with deadline <= nowMs. Returns how many fired. */
  advance(nowMs: number, onExpire: (id: number) => void): number {
    const nowTick = Math.floor(nowMs / this.resolutionMs);
    const b = this.buckets;
    let start: number;
    let visits: number;
    if (Number.isNaN(this.curTick) || nowTick - this.curTick + 1 >= b) {
      // First advance, or a jump of a whole turn or more: every bucket once, oldest tick first.
      start = nowTick - b + 1;
      visits = b;
    } else if (nowTick < this.curTick) {
      // Time went backwards: only the current bucket can hold something due.
      start = this.curTick;
      visits = 1;
    } else {
      // Revisit the current tick: entries later in that tick stayed there last time.
      start = this.curTick;
      visits = nowTick - this.curTick + 1;
    }
    const occupied = this.occupied;
    for (let k = 0; k < visits; ) {
      const bucket = this.bucketOf(start + k);
      const word = occupied[bucket >>> 5]!;
      if (word === 0 && (bucket & 31) === 0 && visits - k >= 32) {
        k += 32; // 32 empty buckets in a row
        continue;
      }
      if ((word & (1 << (bucket & 31))) !== 0) this.collectDue(bucket, nowMs);
      k++;
    }
    if (Number.isNaN(this.curTick) || nowTick > this.curTick) this.curTick = nowTick;

    let fired = 0;
    const due = this.due;
    for (;;) {
      const node = this.next[due]!;
      if (node === due) break;
      this.unlink(node);
      this.n--;
      fired++;
      onExpire(node - this.base);
    }
    return fired;
  }

  memoryBytes(): number {
    return this.next.byteLength + this.prev.byteLength + this.atMs.byteLength;
  }

  /** Moves the due entries of one bucket to the tail of the due list (no callbacks). */
  private collectDue(bucket: number, nowMs: number): void {
    const next = this.next;
    let node = next[bucket]!;
    while (node !== bucket) {
      const after = next[node]!;
      if (this.atMs[node - this.base]! <= nowMs) {
        this.unlinkKeep(node);
        this.linkTail(this.due, node);
      }
      node = after;
    }
    if (next[bucket] === bucket) this.occupied[bucket >>> 5]! &= ~(1 << (bucket & 31));
  }

  private bucketOf(tick: number): number {
    const r = tick % this.buckets;
    return r < 0 ? r + this.buckets : r;
  }

  private linkTail(sentinel: number, node: number): void {
    const last = this.prev[sentinel]!;
    this.next[last] = node;
    this.prev[node] = last;
    this.next[node] = sentinel;
    this.prev[sentinel] = node;
  }

  /** Detaches node from its list and marks it unscheduled. */
  private unlink(node: number): void {
    this.unlinkKeep(node);
    this.next[node] = -1;
    this.prev[node] = -1;
  }

  /** Detaches node from its list, leaving its own links to be overwritten. */
  private unlinkKeep(node: number): void {
    const p = this.prev[node]!;
    const q = this.next[node]!;
    this.next[p] = q;
    this.prev[q] = p;
  }
}

/**
 * PortPool: the external port range [lo, hi] of one publishing rule, with a reference count
 * per port (how many clients hold a mapping on it) for the MappingTable's allocator.
 *
 * Because pinholes are client-scoped, a port may be held by many clients at once; the pool
 * steers allocation so that ports are shared only once the range is saturated:
 *  - ports with refcount 0 sit in a FIFO (intrusive doubly-linked list over port offsets, in
 *    Uint16Arrays): allocation takes the oldest, a port whose count drops to 0 goes to the
 *    back. The range starts in ascending order (lo first), and a port just released is reused
 *    last, like a round-robin cursor but O(1) however full the range is.
 *  - once no port is unused, `cursor` walks the range round-robin so the extra load spreads
 *    evenly over ports (the table picks the first port from the cursor the client does not
 *    already use, then moves the cursor past it).
 * All deterministic: the same sequence of calls yields the same ports.
 *
 * Storage: 8 bytes a port (u32 count + two u16 links), 512 KiB for a full 1..65535 range.
 */

/** End-of-list marker for the Uint16 links: ranges hold at most 65535 ports (offsets 0..65534). */
const NIL = 0xffff;

export class PortPool {
  readonly lo: number;
  readonly hi: number;
  readonly size: number;
  /** Number of ports with refcount 0. */
  zeroCount: number;
  /** Offset (port - lo) where the saturated-range scan starts. */
  cursor = 0;
  private readonly refs: Uint32Array;
  private readonly zNext: Uint16Array;
  private readonly zPrev: Uint16Array;
  private zHead: number;
  private zTail: number;

  /** 1 <= lo <= hi <= 65535 (the caller validates; port 0 is never handed out). */
  constructor(lo: number, hi: number) {
    this.lo = lo;
    this.hi = hi;
    this.size = hi - lo + 1;
    this.refs = new Uint32Array(this.size);
    this.zNext = new Uint16Array(this.size);
    this.zPrev = new Uint16Array(this.size);
    for (let i = 0; i < this.size; i++) {
      this.zNext[i] = i + 1 < this.size ? i + 1 : NIL;
      this.zPrev[i] = i > 0 ? i - 1 : NIL;
    }
    this.zHead = 0;
    this.zTail = this.size - 1;
    this.zeroCount = this.size;
  }

  contains(port: number): boolean {
    return port >= this.lo && port <= this.hi;
  }

  refCount(port: number): number {
    return this.contains(port) ? this.refs[port - this.lo]! : 0;
  }

  /** Oldest unused port, or -1. */
  firstUnused(): number {
    return this.zHead === NIL ? -1 : this.lo + this.zHead;
  }

  /** Unused port after `port` in FIFO order, or -1 (port must itself be unused). */
  nextUnused(port: number): number {
    const n = this.zNext[port - this.lo]!;
    return n === NIL ? -1 : this.lo + n;
  }

  /** One more client holds `port`; no-op when out of range (a pinhole outside the pool: unref likewise). */
  ref(port: number): void {
    if (!this.contains(port)) return;
    const off = port - this.lo;
    const c = this.refs[off]!;
    if (c === 0) this.unlinkZero(off);
    this.refs[off] = c + 1;
  }

  /** One client fewer holds `port`; no-op when out of range or already 0. */
  unref(port: number): void {
    if (!this.contains(port)) return;
    const off = port - this.lo;
    const c = this.refs[off]!;
    if (c === 0) return;
    this.refs[off] = c - 1;
    if (c === 1) this.appendZero(off);
  }

  /** Port at the cursor. */
  cursorPort(): number {
    return this.lo + this.cursor;
  }

  /** Port following `port` in the range, wrapping. */
  after(port: number): number {
    return port >= this.hi ? this.lo : port + 1;
  }

  /** Puts the cursor just after `port`. */
  moveCursorPast(port: number): void {
    this.cursor = port >= this.hi ? 0 : port + 1 - this.lo;
  }

  memoryBytes(): number {
    return this.refs.byteLength + this.zNext.byteLength + this.zPrev.byteLength;
  }

  private unlinkZero(off: number): void {
    const p = this.zPrev[off]!;
    const n = this.zNext[off]!;
    if (p === NIL) this.zHead = n;
    else this.zNext[p] = n;
    if (n === NIL) this.zTail = p;
    else this.zPrev[n] = p;
    this.zNext[off] = NIL;
    this.zPrev[off] = NIL;
    this.zeroCount--;
  }

  private appendZero(off: number): void {
    this.zPrev[off] = this.zTail;
    this.zNext[off] = NIL;
    if (this.zTail === NIL) this.zHead = off;
    else this.zNext[this.zTail] = off;
    this.zTail = off;
    this.zeroCount++;
  }
}

/**
 * SlotAllocator: hands out entry ids (indices into a table's structure-of-arrays) from a
 * free list, growing the id space by doubling up to a hard capacity.
 *
 * - Ids are integers in [0, capacityNow). `alloc()` returns -1 when `capacity` ids are in use:
 *   that is the table's global bound, never exceeded.
 * - Freed ids go to the BACK of a FIFO queue and fresh ids are only taken when the queue is
 *   empty, so an id is reused as late as possible: a stale id kept by a caller (a flow still
 *   naming a mapping that was flushed) is unlikely to alias a new entry at once. Same calls
 *   give the same ids (deterministic).
 * - Growth: when every id below capacityNow is taken, capacityNow doubles (bounded by
 *   `capacity`) and `onGrow(newCapacity)` is called BEFORE the new id is returned, so the table
 *   owning the allocator resizes its typed arrays in that hook and every id it is handed is
 *   already backed by storage. Pass `initial = capacity` to allocate everything up front
 *   (no copy ever happens on the packet path).
 *
 * Storage: a free queue (Int32Array ring) and an in-use byte per id: 5 bytes an id.
 */
export class SlotAllocator {
  /** Hard maximum of ids in use. */
  readonly capacity: number;
  private capNow: number;
  /** Ids ever handed out: ids >= highWater have never been used (iteration bound). */
  private hwm = 0;
  private used: Uint8Array;
  /** FIFO ring of freed ids: `qLen` ids starting at `qHead`. */
  private queue: Int32Array;
  private qHead = 0;
  private qLen = 0;
  private n = 0;
  private readonly onGrow: ((newCapacity: number) => void) | null;

  constructor(capacity: number, initial = Math.min(capacity, 1024), onGrow: ((newCapacity: number) => void) | null = null) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`SlotAllocator: capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.capNow = Math.max(1, Math.min(capacity, Math.floor(initial)));
    this.used = new Uint8Array(this.capNow);
    this.queue = new Int32Array(this.capNow);
    this.onGrow = onGrow;
  }

  /** Ids currently in use. */
  get count(): number {
    return this.n;
  }

  /** Ids currently backed by storage (grows by doubling up to `capacity`). */
  get capacityNow(): number {
    return this.capNow;
  }

  /** One more than the largest id ever handed out: iterate [0, highWater) to visit every id in use. */
  get highWater(): number {
    return this.hwm;
  }

  /** A free id, or -1 when `capacity` ids are in use. */
  alloc(): number {
    let id: number;
    if (this.qLen > 0) {
      id = this.queue[this.qHead]!;
      this.qHead = this.qHead + 1 === this.capNow ? 0 : this.qHead + 1;
      this.qLen--;
    } else {
      if (this.hwm === this.capNow) {
        if (this.capNow >= this.capacity) return -1;
        this.grow();
      }
      id = this.hwm++;
    }
    this.used[id] = 1;
    this.n++;
    return id;
  }

  /** Returns an id to the free queue; false (nothing done) if it was not in use. */
  free(id: number): boolean {
    if (!this.inUse(id)) return false;
    this.used[id] = 0;
    let tail = this.qHead + this.qLen;
    if (tail >= this.capNow) tail -= this.capNow;
    this.queue[tail] = id;
    this.qLen++;
    this.n--;
    return true;
  }

  inUse(id: number): boolean {
    return this.used[id] === 1;
  }

  /** Frees every id and forgets the order (back to a fresh allocator of the current size). */
  clear(): void {
    this.used.fill(0);
    this.qHead = 0;
    this.qLen = 0;
    this.hwm = 0;
    this.n = 0;
  }

  memoryBytes(): number {
    return this.used.byteLength + this.queue.byteLength;
  }

  private grow(): void {
    const cap = Math.min(this.capacity, this.capNow * 2);
    const used = new Uint8Array(cap);
    used.set(this.used);
    // The queue is empty whenever we grow (fresh ids are only taken then), so it is just resized.
    this.used = used;
    this.queue = new Int32Array(cap);
    this.qHead = 0;
    this.capNow = cap;
    if (this.onGrow !== null) this.onGrow(cap);
  }
}

/** Helpers for tables growing their structure-of-arrays in an onGrow hook. */
export function growU8(a: Uint8Array, n: number): Uint8Array {
  const b = new Uint8Array(n);
  b.set(a);
  return b;
}
export function growU16(a: Uint16Array, n: number): Uint16Array {
  const b = new Uint16Array(n);
  b.set(a);
  return b;
}
export function growU32(a: Uint32Array, n: number): Uint32Array {
  const b = new Uint32Array(n);
  b.set(a);
  return b;
}
export function growI32(a: Int32Array, n: number): Int32Array {
  const b = new Int32Array(n);
  b.set(a);
  return b;
}
export function growF64(a: Float64Array, n: number): Float64Array {
  const b = new Float64Array(n);
  b.set(a);
  return b;
}

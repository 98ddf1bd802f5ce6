/**
 * Calls awaiting their response on one connection: call_id -> opnum (the response carries only
 * the call_id, C706 12.6.4.10), for the EPM leg and `rpcgw inspect`.
 *
 * One Int32Array, three words a slot: call_id (as int32), opnum (-1 = free), insertion order.
 * Taken from a pool on the first call and given back when the last pending call is answered, so
 * an idle connection holds none and steady traffic allocates none. Full: the oldest entry gives
 * way. Slots are stable while an entry lives, so a caller may keep more per call in arrays
 * indexed by slot.
 */

const W_CALL = 0;
const W_OPNUM = 1;
const W_ORDER = 2;
const WORDS = 3;
const NONE: Int32Array = new Int32Array(0);
/** Free row arrays by capacity (a gateway uses one or two capacities). */
const pools = new Map<number, Int32Array[]>();
const MAX_POOLED = 256;

function takeRows(capacity: number): Int32Array {
  return pools.get(capacity)?.pop()?.fill(-1) ?? new Int32Array(capacity * WORDS).fill(-1);
}

function giveRows(capacity: number, rows: Int32Array): void {
  let pool = pools.get(capacity);
  if (pool === undefined) pools.set(capacity, (pool = []));
  if (pool.length < MAX_POOLED) pool.push(rows);
}

export class PendingCalls {
  private rows: Int32Array = NONE;
  private used = 0;
  private order = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.used;
  }

  clear(): void {
    if (this.rows !== NONE) giveRows(this.capacity, this.rows);
    this.rows = NONE;
    this.used = 0;
  }

  /** Records (or updates) a call; returns its slot. */
  expect(callId: number, opnum: number): number {
    let slot = this.find(callId);
    if (slot < 0) {
      if (this.rows === NONE) this.rows = takeRows(this.capacity);
      slot = this.freeSlot();
      if (slot < 0) slot = this.oldest();
      else this.used++;
      this.rows[slot * WORDS + W_CALL] = callId | 0;
      this.rows[slot * WORDS + W_ORDER] = this.order++ | 0;
    }
    this.rows[slot * WORDS + W_OPNUM] = opnum;
    return slot;
  }

  /** The slot of a pending call, or -1. */
  find(callId: number): number {
    const r = this.rows;
    const id = callId | 0;
    for (let i = 0; i < r.length; i += WORDS) if (r[i + W_OPNUM]! >= 0 && r[i + W_CALL] === id) return i / WORDS;
    return -1;
  }

  opnumAt(slot: number): number {
    return this.rows[slot * WORDS + W_OPNUM]!;
  }

  callIdAt(slot: number): number {
    return this.rows[slot * WORDS + W_CALL]! >>> 0;
  }

  /** The opnum of a pending call, or -1. */
  peek(callId: number): number {
    const s = this.find(callId);
    return s < 0 ? -1 : this.opnumAt(s);
  }

  /** The opnum of a pending call, or -1; the call is forgotten. */
  take(callId: number): number {
    const s = this.find(callId);
    if (s < 0) return -1;
    const opnum = this.opnumAt(s);
    this.forget(s);
    return opnum;
  }

  forget(slot: number): void {
    if (slot < 0 || slot * WORDS >= this.rows.length || this.rows[slot * WORDS + W_OPNUM]! < 0) return;
    this.rows[slot * WORDS + W_OPNUM] = -1;
    if (--this.used === 0) this.clear();
  }

  /** [callId, opnum] of every pending call, oldest first (a snapshot). */
  entries(): [number, number][] {
    const out: [number, number, number][] = [];
    const r = this.rows;
    for (let i = 0; i < r.length; i += WORDS) if (r[i + W_OPNUM]! >= 0) out.push([r[i + W_CALL]! >>> 0, r[i + W_OPNUM]!, r[i + W_ORDER]!]);
    return out.sort((a, b) => a[2] - b[2]).map(([c, o]) => [c, o]);
  }

  private freeSlot(): number {
    const r = this.rows;
    for (let i = 0; i < r.length; i += WORDS) if (r[i + W_OPNUM]! < 0) return i / WORDS;
    return -1;
  }

  private oldest(): number {
    const r = this.rows;
    let best = 0;
    for (let i = WORDS; i < r.length; i += WORDS) if (((r[i + W_ORDER]! - r[best * WORDS + W_ORDER]!) | 0) < 0) best = i / WORDS;
    return best;
  }
}

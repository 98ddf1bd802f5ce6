/**
 * The reading state a leg keeps per connection, as typed-array rows: both directions' CoStream
 * cursors, the presentation-context table (CTX_INLINE_SLOTS slots inline) and a word of the
 * leg's own flags. A leg keeps one CoStream per direction and one PresentationContexts, loads a
 * connection's row into them for one call and writes it back after (so one reader serves every
 * connection). Row numbers are dense from 0: the flow id (mapped leg) or the leg object's slot
 * (EPM leg).
 *
 *   Int32 words, LW a row (192 bytes: three cache lines)
 *   0      context table: slots in use (8) | awaiting an ack << 8 | grown into its own array << 9
 *          | the proposal's slots in the map << 10 | else inline: their count (3) << 12 and up
 *          to PEND_INLINE of them, slot + 1 in 3 bits each, from bit 16
 *   1      the leg's flags
 *   2-11   client→server cursor (CoStream.save)      12-21  server→client cursor
 *   22-47  the context table inline: CTX_INLINE_SLOTS * CTX_SLOT_LEN bytes (through `ctx`, a
 *          byte view of the same memory)
 * One array, so that a packet's flags, cursor and (for a request) first context slots share
 * cache lines: with a million connections each packet's row is a cache miss. The rows live in
 * pages of PAGE_ROWS that never move: a table that grows adds a page instead of copying every
 * row into an array half again as large (churn x100 copied ~50 MB a run that way, and each
 * large allocation pushed the GC).
 * Rare or short-lived parts live in maps by row only while they exist: a context table grown
 * past the inline slots, a proposal awaiting its ack that does not fit the context word (more
 * than PEND_INLINE elements, or a slot past PEND_SLOT_MAX), a kept PDU copy spanning segments.
 * The usual bind (one to three elements) leaves no map entry: every connection binds once, and a
 * map entry per bind, deleted at its ack, made the map grow and shrink (rehash) all the time.
 */
import { CO_STATE_WORDS, CoStream, coEndResponse, coSavedAtBoundary, coSavedHasCopy, coSkipBody } from '../dcerpc/co-stream.js';
import { CTX_INLINE_SLOTS, CTX_SLOT_LEN, PresentationContexts } from '../dcerpc/context.js';

const W_CTX = 0;
const W_FLAGS = 1;
const W_C2S = 2;
const W_S2C = W_C2S + CO_STATE_WORDS;
const W_TABLE = W_S2C + CO_STATE_WORDS;
const CTX_ROW = CTX_INLINE_SLOTS * CTX_SLOT_LEN;
const LW = W_TABLE + CTX_ROW / 4;
const C_AWAITING = 1 << 8;
const C_OWN = 1 << 9;
const C_PEND_MAP = 1 << 10;
const C_PEND_COUNT_SHIFT = 12;
const C_PEND_SHIFT = 16;
const PEND_INLINE = 4;
const PEND_BITS = 3;
/** Largest slot an inline entry holds (slot + 1 in PEND_BITS bits; -1, a full table, is 0). */
const PEND_SLOT_MAX = (1 << PEND_BITS) - 2;
const NO_PENDING: readonly number[] = [];
const PAGE_SHIFT = 8;
const PAGE_ROWS = 1 << PAGE_SHIFT;
const PAGE_MASK = PAGE_ROWS - 1;

export class LegRows {
  /** Rows [k * PAGE_ROWS, (k + 1) * PAGE_ROWS) in pages[k]; ctxPages[k] is a byte view of the same page. */
  private readonly pages: Int32Array[] = [];
  private readonly ctxPages: Uint8Array[] = [];
  private readonly bigCtx = new Map<number, Uint8Array>();
  private readonly pending = new Map<number, readonly number[]>();
  /** An inline proposal handed to the table, by element count (read only until the next attach). */
  private readonly pendingOf: number[][] = [[], [-1], [-1, -1], [-1, -1, -1], [-1, -1, -1, -1]];
  /** Kept copies of PDUs in progress, by row * 2 + (0 client→server | 1 server→client). */
  private readonly copies = new Map<number, Uint8Array>();

  /** A fresh row (a new connection); `scratch` gives back what the row's last user left. */
  clear(row: number, scratch: CoStream): void {
    this.release(row, scratch);
    while (row >= this.pages.length << PAGE_SHIFT) {
      const w = new Int32Array(PAGE_ROWS * LW);
      this.pages.push(w);
      this.ctxPages.push(new Uint8Array(w.buffer));
    }
    const at = (row & PAGE_MASK) * LW;
    this.pages[row >>> PAGE_SHIFT]!.fill(0, at, at + LW);
  }

  /** The row's connection left: a PDU copy goes back to the pool (through `scratch`), maps forget it. */
  release(row: number, scratch: CoStream): void {
    if (row >= this.pages.length << PAGE_SHIFT) return;
    const w = this.pages[row >>> PAGE_SHIFT]!;
    const base = (row & PAGE_MASK) * LW;
    for (let d = 0; d < 2; d++) {
      const at = base + (d === 0 ? W_C2S : W_S2C);
      if (!coSavedHasCopy(w, at)) continue;
      scratch.load(w, at, this.copies.get(row * 2 + d) ?? null);
      scratch.reset();
      this.copies.delete(row * 2 + d);
      w[at] = 0;
    }
    // The context word's bits say which maps hold the row (C_OWN: bigCtx, C_PEND_MAP: pending).
    const c = w[base + W_CTX]!;
    if ((c & C_OWN) !== 0) this.bigCtx.delete(row);
    if ((c & C_PEND_MAP) !== 0) this.pending.delete(row);
    w[base + W_CTX] = 0;
  }

  /**
   * Reads the words of the row a packet `fromClient` will use (flags, that direction's cursor, the
   * first context slot) and returns a number made of them, so a caller can load them as soon as
   * it knows the row: with a million connections they are cache misses, which then overlap the
   * others the packet takes (flow row, connection row) instead of following them one by one.
   */
  touch(row: number, fromClient: boolean): number {
    const w = this.pages[row >>> PAGE_SHIFT];
    if (w === undefined) return 0;
    const base = (row & PAGE_MASK) * LW;
    return (w[base + W_FLAGS]! ^ w[base + (fromClient ? W_C2S : W_S2C)]! ^ w[base + W_TABLE]!) | 0;
  }

  flags(row: number): number {
    return this.pages[row >>> PAGE_SHIFT]![(row & PAGE_MASK) * LW + W_FLAGS]!;
  }

  setFlags(row: number, f: number): void {
    this.pages[row >>> PAGE_SHIFT]![(row & PAGE_MASK) * LW + W_FLAGS] = f;
  }

  /** Both directions are between PDUs. */
  atBoundary(row: number): boolean {
    const w = this.pages[row >>> PAGE_SHIFT]!;
    const base = (row & PAGE_MASK) * LW;
    return coSavedAtBoundary(w, base + W_C2S) && coSavedAtBoundary(w, base + W_S2C);
  }

  /** Whether a direction is inside a PDU. */
  midPdu(row: number, fromClient: boolean): boolean {
    return !coSavedAtBoundary(this.pages[row >>> PAGE_SHIFT]!, (row & PAGE_MASK) * LW + (fromClient ? W_C2S : W_S2C));
  }

  /** Loads a direction's cursor into `c`. */
  loadCursor(row: number, fromClient: boolean, c: CoStream): void {
    const w = this.pages[row >>> PAGE_SHIFT]!;
    const at = (row & PAGE_MASK) * LW + (fromClient ? W_C2S : W_S2C);
    c.load(w, at, coSavedHasCopy(w, at) ? this.copies.get(row * 2 + (fromClient ? 0 : 1))! : null);
  }

  /** coSkipBody on a direction's saved cursor: true when `len` body bytes only moved it on. */
  skipBody(row: number, fromClient: boolean, len: number): boolean {
    return coSkipBody(this.pages[row >>> PAGE_SHIFT]!, (row & PAGE_MASK) * LW + (fromClient ? W_C2S : W_S2C), len);
  }

  /** coEndResponse on a direction's saved cursor: true when `len` bytes ended a response and the cursor is reset. */
  endResponse(row: number, fromClient: boolean, len: number): boolean {
    return coEndResponse(this.pages[row >>> PAGE_SHIFT]!, (row & PAGE_MASK) * LW + (fromClient ? W_C2S : W_S2C), len);
  }

  /** Writes `c` back as the direction's cursor. */
  saveCursor(row: number, fromClient: boolean, c: CoStream): void {
    const w = this.pages[row >>> PAGE_SHIFT]!;
    const at = (row & PAGE_MASK) * LW + (fromClient ? W_C2S : W_S2C);
    const key = row * 2 + (fromClient ? 0 : 1);
    const had = coSavedHasCopy(w, at);
    const copy = c.save(w, at);
    if (copy !== null) this.copies.set(key, copy);
    else if (had) this.copies.delete(key);
  }

  /** Points `t` at the row's context table (until detachContexts). */
  attachContexts(row: number, t: PresentationContexts): void {
    const base = (row & PAGE_MASK) * LW;
    const c = this.pages[row >>> PAGE_SHIFT]![base + W_CTX]!;
    const awaiting = (c & C_AWAITING) !== 0;
    let pending = NO_PENDING;
    if (awaiting) {
      if ((c & C_PEND_MAP) !== 0) {
        pending = this.pending.get(row) ?? NO_PENDING;
      } else {
        const n = (c >>> C_PEND_COUNT_SHIFT) & 7;
        const p = this.pendingOf[n]!;
        for (let i = 0; i < n; i++) p[i] = ((c >>> (C_PEND_SHIFT + i * PEND_BITS)) & 7) - 1;
        pending = p;
      }
    }
    const own = (c & C_OWN) !== 0 ? this.bigCtx.get(row) : undefined;
    if (own !== undefined) t.attach(own, 0, own.length / CTX_SLOT_LEN, c & 0xff, awaiting, pending);
    else t.attach(this.ctxPages[row >>> PAGE_SHIFT]!, (base + W_TABLE) * 4, CTX_INLINE_SLOTS, c & 0xff, awaiting, pending);
  }

  /** Writes back what `t` (attached to the row) changed. */
  detachContexts(row: number, t: PresentationContexts): void {
    const w = this.pages[row >>> PAGE_SHIFT]!;
    const at = (row & PAGE_MASK) * LW + W_CTX;
    let c = t.usedSlots;
    const had = w[at]! & C_PEND_MAP;
    if (t.awaiting) {
      c |= C_AWAITING;
      const p = t.pendingSlots;
      const inline = pendInline(p);
      if (inline >= 0) {
        c |= inline;
        if (had !== 0) this.pending.delete(row);
      } else {
        c |= C_PEND_MAP;
        this.pending.set(row, p);
      }
    } else if (had !== 0) {
      this.pending.delete(row);
    }
    if (t.storage !== this.ctxPages[row >>> PAGE_SHIFT]) {
      c |= C_OWN;
      this.bigCtx.set(row, t.storage);
    }
    w[at] = c;
  }

  bytes(): number {
    return this.pages.length * PAGE_ROWS * LW * 4;
  }
}

/** A proposal's slots as the context word's inline bits, or -1 when they do not fit there. */
function pendInline(p: readonly number[]): number {
  const n = p.length;
  if (n > PEND_INLINE) return -1;
  let bits = n << C_PEND_COUNT_SHIFT;
  for (let i = 0; i < n; i++) {
    const s = p[i]!;
    if (s < -1 || s > PEND_SLOT_MAX) return -1;
    bits |= (s + 1) << (C_PEND_SHIFT + i * PEND_BITS);
  }
  return bits;
}

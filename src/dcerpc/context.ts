/**
 * Presentation contexts of one association (one TCP connection), notes A.8 / C.3:
 * p_cont_id -> (abstract interface, negotiated transfer syntax), proposed by bind/alter_context
 * and confirmed by the positional results of bind_ack/alter_context_resp. Requests and responses
 * carry only the p_cont_id, so this table is what tells the gateway which interface and which
 * NDR flavour a call uses.
 *
 * Fail closed: only a context the server accepted answers isAccepted/syntaxOf/interfaceMatches;
 * BTFN elements (result negotiate_ack) and rejected ones are never usable (kept, REJECTED, only
 * so a refusal can name their interface). UUIDs are copied into fixed storage (little-endian
 * wire form) because frame buffers are reused.
 *
 * One byte array, SLOT_LEN bytes a context (one typed array costs ~200 bytes of its own, and every
 * connection keeps a table): 0 u16 p_cont_id | 2 u8 state (EMPTY = free slot) | 3 u8 proposed
 * syntax mask | 4 u8 syntax + 1 | 5 pad | 6 u16 if major | 8 u16 if minor | 10 uuid[16].
 * The array may be a connection row's (attach: CTX_INLINE_SLOTS slots at an offset of a table
 * shared by many connections); a table that needs more slots moves into an array of its own.
 * The element order of a proposal awaiting its ack is held only until the ack.
 */
import { DecodeResult, MALFORMED, OK, UNSUPPORTED } from '../wire/status.js';
import type { Status } from '../wire/status.js';
import {
  MAX_CONTEXTS, MAX_TRANSFER_SYNTAXES, PTYPE_BIND, RESULT_ACCEPTANCE, SYNTAX_NDR, SYNTAX_NDR64, SYNTAX_UNKNOWN,
} from './constants.js';
import type { BindAckView, BindView } from './pdu.js';
import { copyUuidToLE, uuidEquals, uuidToString } from './uuid.js';
import { interfaceLabel } from './label.js';
import { ERR_ACK_WITHOUT_BIND, ERR_CONTEXT_TABLE_FULL, ERR_RESULT_COUNT } from './reasons.js';

export const CTX_STATE_EMPTY = 0;
/** Proposed, no result yet. */
export const CTX_STATE_PENDING = 1;
export const CTX_STATE_ACCEPTED = 2;
/**
 * Answered with a rejection or negotiate_ack (BTFN): never usable, kept only so a refusal record
 * can still name its interface. Its slot is reused before the table grows.
 */
export const CTX_STATE_REJECTED = 3;

const UUID_LEN = 16;
/** Context slots a table starts with (Windows proposes 3 per interface: NDR, NDR64, BTFN). */
const INITIAL_SLOTS = 4;
/** Slots a connection row keeps inline (attach); a table that needs more gets its own array. */
export const CTX_INLINE_SLOTS = INITIAL_SLOTS;
const O_ID = 0;
const O_STATE = 2;
const O_MASK = 3;
const O_SYNTAX = 4;
const O_MAJOR = 6;
const O_MINOR = 8;
const O_UUID = 10;
const SLOT_LEN = O_UUID + UUID_LEN;
/** Bytes a context slot takes (CTX_INLINE_SLOTS of them in a connection row). */
export const CTX_SLOT_LEN = SLOT_LEN;
const NO_PENDING: readonly number[] = Object.freeze([]);
const SCRATCH_UUID = new Uint8Array(UUID_LEN);
/** proposedMask bits: which usable transfer syntaxes the client offered for a context. */
const MASK_NDR = 1 << SYNTAX_NDR;
const MASK_NDR64 = 1 << SYNTAX_NDR64;

/** A context table as plain, JSON-able data (PresentationContexts.exportState). */
export interface ContextsState {
  ids: number[];
  states: number[];
  /** 16 bytes a context, little-endian wire form, hex. */
  uuids: string;
  majors: number[];
  minors: number[];
  masks: number[];
  syntaxes: number[];
  /** Slots of the proposal awaiting its ack, in element order. */
  pending: number[];
  awaitingAck: boolean;
}

export class PresentationContexts extends DecodeResult {
  // Slots grow from INITIAL_SLOTS to MAX_CONTEXTS: a connection uses a handful of contexts, and
  // a gateway keeps one table per connection.
  private rows: Uint8Array = new Uint8Array(INITIAL_SLOTS * SLOT_LEN);
  /** Where slot 0 starts in `rows`, and the slots there (a table attached to a connection row). */
  private base = 0;
  private cap = INITIAL_SLOTS;
  /** Slots of the last bind/alter_context's elements, in element order (-1: not recorded). */
  private pendingSlot: readonly number[] = NO_PENDING;
  /** A bind or alter_context is waiting for its ack. */
  private awaitingAck = false;
  /** Slots [0, highWater) have ever been used: bounds the scans. */
  private highWater = 0;

  /**
   * Works on a table stored elsewhere: `slots` slots at rows[base..] (a connection row, or an
   * array this table grew into earlier), with the rest of its state. Until the next attach,
   * every change lands there; a table that must grow moves into an array of its own (storage).
   */
  attach(rows: Uint8Array, base: number, slots: number, highWater: number, awaitingAck: boolean, pending: readonly number[]): void {
    this.rows = rows;
    this.base = base;
    this.cap = slots;
    this.highWater = highWater;
    this.awaitingAck = awaitingAck;
    this.pendingSlot = pending;
  }

  /** The array the table lives in now (differs from the attached one after growing). */
  get storage(): Uint8Array {
    return this.rows;
  }

  get slots(): number {
    return this.cap;
  }

  get usedSlots(): number {
    return this.highWater;
  }

  get awaiting(): boolean {
    return this.awaitingAck;
  }

  /** Slots of the proposal awaiting its ack, in element order (shared empty array when none). */
  get pendingSlots(): readonly number[] {
    return this.pendingSlot;
  }

  /** Forgets every context (new connection). */
  reset(): void {
    this.rows.fill(0, this.base, this.base + this.cap * SLOT_LEN);
    this.pendingSlot = NO_PENDING;
    this.awaitingAck = false;
    this.highWater = 0;
  }

  /**
   * Records the proposals of a decoded bind or alter_context (`buf` is the buffer `bind` was
   * decoded from). A bind starts a new association and clears the table; alter_context adds.
   * Re-proposing an accepted context with the same interface keeps it usable until the ack
   * answers; with a different interface it is unusable until accepted again.
   * UNSUPPORTED when the table is full (the extra elements are never accepted).
   */
  onBind(buf: Uint8Array, bind: BindView): Status {
    if (bind.ptype === PTYPE_BIND) this.reset();
    let status: Status = OK;
    const n = Math.min(bind.nContexts, MAX_CONTEXTS);
    // Exactly n elements, each set below: push() from [] reserved 17 (~190 bytes a bind).
    const pending = new Array<number>(n);
    this.pendingSlot = pending;
    this.awaitingAck = true;
    for (let i = 0; i < n; i++) {
      const ctxId = bind.ctxId[i]!;
      let slot = this.find(ctxId);
      if (slot < 0) slot = this.allocate(ctxId);
      if (slot < 0) {
        pending[i] = -1;
        status = UNSUPPORTED;
        this.errReason = ERR_CONTEXT_TABLE_FULL;
        this.errOffset = bind.abstractUuidOff[i]!;
        continue;
      }
      copyUuidToLE(buf, bind.abstractUuidOff[i]!, bind.littleEndian, SCRATCH_UUID, 0);
      const major = bind.ifMajor[i]!;
      const minor = bind.ifMinor[i]!;
      const mask = this.maskOf(bind, i);
      const r = this.rows;
      const at = this.at(slot);
      const same = r[at + O_STATE] === CTX_STATE_ACCEPTED &&
        uuidEquals(r, at + O_UUID, SCRATCH_UUID, 0) &&
        this.u16(at + O_MAJOR) === major && this.u16(at + O_MINOR) === minor;
      if (!same) {
        r.set(SCRATCH_UUID, at + O_UUID);
        this.setU16(at + O_MAJOR, major);
        this.setU16(at + O_MINOR, minor);
        r[at + O_STATE] = CTX_STATE_PENDING;
        r[at + O_SYNTAX] = 0;
      }
      r[at + O_MASK] = same ? r[at + O_MASK]! | mask : mask;
      pending[i] = slot;
    }
    if (status === OK) {
      this.errReason = '';
      this.errOffset = 0;
    }
    return status;
  }

  /**
   * Applies a bind_ack / alter_context_resp: result[i] answers element i of the pending
   * proposal. Accepted -> usable with the returned transfer syntax (SYNTAX_UNKNOWN if it is not
   * NDR/NDR64 or was not offered); negotiate_ack (BTFN) and rejections -> forgotten; elements
   * left without a result -> forgotten. MALFORMED without a pending proposal (nothing applied)
   * or when the result count differs from the element count (the common prefix is applied).
   */
  onBindAck(ack: BindAckView): Status {
    if (!this.awaitingAck) {
      this.errReason = ERR_ACK_WITHOUT_BIND;
      this.errOffset = ack.pduOff;
      return MALFORMED;
    }
    const pending = this.pendingSlot;
    const n = Math.min(ack.nResults, pending.length);
    for (let i = 0; i < n; i++) {
      const slot = pending[i]!;
      if (slot < 0) continue;
      if (ack.result[i] === RESULT_ACCEPTANCE) {
        this.accept(slot, ack.transferSyntax[i]!);
      } else {
        this.forget(slot);
      }
    }
    for (let i = n; i < pending.length; i++) {
      const slot = pending[i]!;
      if (slot >= 0 && this.rows[this.at(slot) + O_STATE] === CTX_STATE_PENDING) this.forget(slot);
    }
    const mismatch = ack.nResults !== pending.length;
    this.pendingSlot = NO_PENDING;
    this.awaitingAck = false;
    if (mismatch) {
      this.errReason = ERR_RESULT_COUNT;
      this.errOffset = ack.pduOff;
      return MALFORMED;
    }
    this.errReason = '';
    this.errOffset = 0;
    return OK;
  }

  /** A bind_nak answers the pending bind: none of its proposals is usable. */
  onBindNak(): void {
    for (const slot of this.pendingSlot) if (slot >= 0) this.forget(slot);
    this.pendingSlot = NO_PENDING;
    this.awaitingAck = false;
  }

  /** True if the server accepted `ctxId` (BTFN elements never are). */
  isAccepted(ctxId: number): boolean {
    const slot = this.find(ctxId);
    return slot >= 0 && this.rows[this.at(slot) + O_STATE] === CTX_STATE_ACCEPTED;
  }

  /** SYNTAX_NDR / SYNTAX_NDR64 / SYNTAX_UNKNOWN of an accepted context, -1 if not accepted. */
  syntaxOf(ctxId: number): number {
    const slot = this.find(ctxId);
    const at = this.at(slot);
    return slot >= 0 && this.rows[at + O_STATE] === CTX_STATE_ACCEPTED ? this.rows[at + O_SYNTAX]! - 1 : -1;
  }

  /**
   * True if `ctxId` is accepted and its interface is `uuidWireLE` (16 bytes, little-endian
   * wire form, e.g. UUID_EPM) with major version `major`; when `minor` is given, the context's
   * minor must be <= it (C706 compatibility: a client minor up to the registered one).
   */
  interfaceMatches(ctxId: number, uuidWireLE: Uint8Array, major: number, minor?: number): boolean {
    const slot = this.find(ctxId);
    const at = this.at(slot);
    if (slot < 0 || this.rows[at + O_STATE] !== CTX_STATE_ACCEPTED) return false;
    if (this.u16(at + O_MAJOR) !== major) return false;
    if (minor !== undefined && this.u16(at + O_MINOR) > minor) return false;
    return uuidEquals(this.rows, at + O_UUID, uuidWireLE, 0);
  }

  /** CTX_STATE_* of `ctxId` (EMPTY if unknown, rejected or BTFN). */
  stateOf(ctxId: number): number {
    const slot = this.known(ctxId);
    return slot < 0 ? CTX_STATE_EMPTY : this.rows[this.at(slot) + O_STATE]!;
  }

  /**
   * `uuid@major.minor` of any context proposed since the last bind — rejected ones too (a refusal
   * names the interface the request used), '' if unknown. For reporting only.
   */
  labelOf(ctxId: number): string {
    const slot = this.find(ctxId);
    const at = this.at(slot);
    return slot < 0 ? '' : interfaceLabel(this.rows, at + O_UUID, true, this.u16(at + O_MAJOR), this.u16(at + O_MINOR));
  }

  /** Interface UUID text of a pending or accepted context, '' if unknown. For reporting only. */
  interfaceUuidString(ctxId: number): string {
    const slot = this.known(ctxId);
    return slot < 0 ? '' : uuidToString(this.rows, this.at(slot) + O_UUID, true);
  }

  /** Interface major version of a pending or accepted context, -1 if unknown. */
  ifMajor(ctxId: number): number {
    const slot = this.known(ctxId);
    return slot < 0 ? -1 : this.u16(this.at(slot) + O_MAJOR);
  }

  /** Interface minor version of a pending or accepted context, -1 if unknown. */
  ifMinor(ctxId: number): number {
    const slot = this.known(ctxId);
    return slot < 0 ? -1 : this.u16(this.at(slot) + O_MINOR);
  }

  /** Number of accepted contexts. */
  acceptedCount(): number {
    let n = 0;
    for (let i = 0; i < this.highWater; i++) if (this.rows[this.at(i) + O_STATE] === CTX_STATE_ACCEPTED) n++;
    return n;
  }

  /** The table as plain data (state snapshot of a daemon restart). */
  exportState(): ContextsState {
    const n = this.highWater;
    const r = this.rows;
    const col = (f: (at: number) => number): number[] => Array.from({ length: n }, (_, i) => f(this.at(i)));
    let uuids = '';
    for (let i = 0; i < n; i++) for (let k = 0; k < UUID_LEN; k++) uuids += r[this.at(i) + O_UUID + k]!.toString(16).padStart(2, '0');
    return {
      ids: col((at) => (r[at + O_STATE] === CTX_STATE_EMPTY ? -1 : this.u16(at + O_ID))), states: col((at) => r[at + O_STATE]!), uuids,
      majors: col((at) => this.u16(at + O_MAJOR)), minors: col((at) => this.u16(at + O_MINOR)),
      masks: col((at) => r[at + O_MASK]!), syntaxes: col((at) => r[at + O_SYNTAX]! - 1),
      pending: [...this.pendingSlot], awaitingAck: this.awaitingAck,
    };
  }

  /** Loads exportState()'s output; false (table reset) if it is not a consistent table. */
  importState(s: ContextsState): boolean {
    this.reset();
    const n = s.ids.length;
    const int = (a: number[], lo: number, hi: number): boolean => a.length === n && a.every((x) => Number.isInteger(x) && x >= lo && x <= hi);
    if (
      n > MAX_CONTEXTS || !int(s.ids, -1, 0xffff) || !int(s.states, 0, CTX_STATE_REJECTED) || !int(s.majors, 0, 0xffff) ||
      !int(s.minors, 0, 0xffff) || !int(s.masks, 0, 0xff) || !int(s.syntaxes, -1, 127) || s.uuids.length !== n * UUID_LEN * 2 ||
      !/^[0-9a-f]*$/.test(s.uuids) || s.pending.length > MAX_CONTEXTS || !s.pending.every((x) => Number.isInteger(x) && x >= -1 && x < n)
    ) {
      return false;
    }
    let cap = this.cap;
    while (cap < n) cap *= 2;
    if (cap > this.cap) this.grow(Math.min(MAX_CONTEXTS, cap));
    const r = this.rows;
    for (let i = 0; i < n; i++) {
      const at = this.at(i);
      const free = s.ids[i] === -1;
      this.setU16(at + O_ID, free ? 0 : s.ids[i]!);
      r[at + O_STATE] = free ? CTX_STATE_EMPTY : s.states[i]!;
      this.setU16(at + O_MAJOR, s.majors[i]!);
      this.setU16(at + O_MINOR, s.minors[i]!);
      r[at + O_MASK] = s.masks[i]!;
      r[at + O_SYNTAX] = s.syntaxes[i]! + 1;
      for (let k = 0; k < UUID_LEN; k++) r[at + O_UUID + k] = parseInt(s.uuids.slice((i * UUID_LEN + k) * 2, (i * UUID_LEN + k) * 2 + 2), 16);
    }
    this.pendingSlot = s.pending.length === 0 ? NO_PENDING : [...s.pending];
    this.awaitingAck = s.awaitingAck === true;
    this.highWater = n;
    return true;
  }

  private accept(slot: number, returned: number): void {
    const at = this.at(slot);
    const mask = this.rows[at + O_MASK]!;
    let syntax = SYNTAX_UNKNOWN;
    if (returned === SYNTAX_NDR && (mask & MASK_NDR) !== 0) syntax = SYNTAX_NDR;
    if (returned === SYNTAX_NDR64 && (mask & MASK_NDR64) !== 0) syntax = SYNTAX_NDR64;
    this.rows[at + O_STATE] = CTX_STATE_ACCEPTED;
    this.rows[at + O_SYNTAX] = syntax + 1;
  }

  /** Never usable again; the interface stays for labelOf. */
  private forget(slot: number): void {
    const at = this.at(slot);
    this.rows[at + O_STATE] = CTX_STATE_REJECTED;
    this.rows[at + O_SYNTAX] = 0;
  }

  private at(slot: number): number {
    return this.base + slot * SLOT_LEN;
  }

  private maskOf(bind: BindView, i: number): number {
    let mask = 0;
    const base = i * MAX_TRANSFER_SYNTAXES;
    const nt = bind.nTransfer[i]!;
    for (let j = 0; j < nt; j++) {
      const s = bind.transferSyntax[base + j]!;
      if (s === SYNTAX_NDR) mask |= MASK_NDR;
      else if (s === SYNTAX_NDR64) mask |= MASK_NDR64;
    }
    return mask;
  }

  /** The slot of a pending or accepted context, -1 otherwise. */
  private known(ctxId: number): number {
    const slot = this.find(ctxId);
    return slot >= 0 && this.rows[this.at(slot) + O_STATE] !== CTX_STATE_REJECTED ? slot : -1;
  }

  private find(ctxId: number): number {
    const r = this.rows;
    for (let i = 0; i < this.highWater; i++) {
      const at = this.at(i);
      if (r[at + O_STATE] !== CTX_STATE_EMPTY && this.u16(at + O_ID) === ctxId) return i;
    }
    return -1;
  }

  private allocate(ctxId: number): number {
    for (let pass = 0; pass < 2; pass++) {
      const slots = this.cap;
      // A free slot first, then a rejected one (its label goes), and only then more room.
      for (let want = CTX_STATE_EMPTY; ; want = CTX_STATE_REJECTED) {
        for (let i = 0; i < slots; i++) {
          const at = this.at(i);
          if (this.rows[at + O_STATE] === want) {
            this.setU16(at + O_ID, ctxId);
            this.rows[at + O_STATE] = CTX_STATE_PENDING;
            if (i >= this.highWater) this.highWater = i + 1;
            return i;
          }
        }
        if (want === CTX_STATE_REJECTED) break;
      }
      if (slots >= MAX_CONTEXTS) return -1;
      this.grow(Math.min(MAX_CONTEXTS, slots * 2));
    }
    return -1;
  }

  /** Moves the table into an array of its own with room for `slots` contexts. */
  private grow(slots: number): void {
    const rows = new Uint8Array(slots * SLOT_LEN);
    rows.set(this.rows.subarray(this.base, this.base + this.cap * SLOT_LEN));
    this.rows = rows;
    this.base = 0;
    this.cap = slots;
  }

  private u16(at: number): number {
    return this.rows[at]! | (this.rows[at + 1]! << 8);
  }

  private setU16(at: number, v: number): void {
    this.rows[at] = v & 0xff;
    this.rows[at + 1] = (v >>> 8) & 0xff;
  }
}

/**
 * Presentation contexts of one association (one TCP connection), notes A.8 / C.3:
 * p_cont_id -> (abstract interface, negotiated transfer syntax), proposed by bind/alter_context
 * and confirmed by the positional results of bind_ack/alter_context_resp. Requests and responses
 * carry only the p_cont_id, so this table is what tells the gateway which interface and which
 * NDR flavour a call uses.
 *
 * Fail closed: only a context the server accepted answers isAccepted/syntaxOf/interfaceMatches;
 * BTFN elements (result negotiate_ack) and rejected ones are forgotten. UUIDs are copied into
 * fixed storage (little-endian wire form) because frame buffers are reused.
 */
import { DecodeResult, MALFORMED, OK, UNSUPPORTED } from '../wire/status.js';
import type { Status } from '../wire/status.js';
import {
  MAX_CONTEXTS, MAX_TRANSFER_SYNTAXES, PTYPE_BIND, RESULT_ACCEPTANCE, SYNTAX_NDR, SYNTAX_NDR64, SYNTAX_UNKNOWN,
} from './constants.js';
import type { BindAckView, BindView } from './pdu.js';
import { copyUuidToLE, uuidEquals, uuidToString } from './uuid.js';
import { ERR_ACK_WITHOUT_BIND, ERR_CONTEXT_TABLE_FULL, ERR_RESULT_COUNT } from './reasons.js';

export const CTX_STATE_EMPTY = 0;
/** Proposed, no result yet. */
export const CTX_STATE_PENDING = 1;
export const CTX_STATE_ACCEPTED = 2;

const UUID_LEN = 16;
/** Context slots a table starts with (Windows proposes 3 per interface: NDR, NDR64, BTFN). */
const INITIAL_SLOTS = 4;
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
  private ctxIds = new Int32Array(INITIAL_SLOTS).fill(-1);
  private state: Uint8Array = new Uint8Array(INITIAL_SLOTS);
  private uuids = new Uint8Array(INITIAL_SLOTS * UUID_LEN);
  private majors = new Uint16Array(INITIAL_SLOTS);
  private minors = new Uint16Array(INITIAL_SLOTS);
  private proposedMask: Uint8Array = new Uint8Array(INITIAL_SLOTS);
  private syntax = new Int8Array(INITIAL_SLOTS).fill(-1);
  /** Slots of the last bind/alter_context's elements, in element order (-1: not recorded). */
  private readonly pendingSlot = new Int16Array(MAX_CONTEXTS);
  private pendingCount = 0;
  /** A bind or alter_context is waiting for its ack. */
  private awaitingAck = false;
  /** Slots [0, highWater) have ever been used: bounds the scans. */
  private highWater = 0;
  private readonly scratchUuid = new Uint8Array(UUID_LEN);

  /** Forgets every context (new connection). */
  reset(): void {
    this.ctxIds.fill(-1);
    this.state.fill(CTX_STATE_EMPTY);
    this.syntax.fill(-1);
    this.pendingCount = 0;
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
    this.pendingCount = 0;
    this.awaitingAck = true;
    const n = Math.min(bind.nContexts, MAX_CONTEXTS);
    for (let i = 0; i < n; i++) {
      const ctxId = bind.ctxId[i]!;
      let slot = this.find(ctxId);
      if (slot < 0) slot = this.allocate(ctxId);
      if (slot < 0) {
        this.pendingSlot[this.pendingCount++] = -1;
        status = UNSUPPORTED;
        this.errReason = ERR_CONTEXT_TABLE_FULL;
        this.errOffset = bind.abstractUuidOff[i]!;
        continue;
      }
      copyUuidToLE(buf, bind.abstractUuidOff[i]!, bind.littleEndian, this.scratchUuid, 0);
      const major = bind.ifMajor[i]!;
      const minor = bind.ifMinor[i]!;
      const mask = this.maskOf(bind, i);
      const same = this.state[slot] === CTX_STATE_ACCEPTED &&
        uuidEquals(this.uuids, slot * UUID_LEN, this.scratchUuid, 0) &&
        this.majors[slot] === major && this.minors[slot] === minor;
      if (!same) {
        this.uuids.set(this.scratchUuid, slot * UUID_LEN);
        this.majors[slot] = major;
        this.minors[slot] = minor;
        this.state[slot] = CTX_STATE_PENDING;
        this.syntax[slot] = -1;
      }
      this.proposedMask[slot] = same ? this.proposedMask[slot]! | mask : mask;
      this.pendingSlot[this.pendingCount++] = slot;
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
    const n = Math.min(ack.nResults, this.pendingCount);
    for (let i = 0; i < n; i++) {
      const slot = this.pendingSlot[i]!;
      if (slot < 0) continue;
      if (ack.result[i] === RESULT_ACCEPTANCE) {
        this.accept(slot, ack.transferSyntax[i]!);
      } else {
        this.forget(slot);
      }
    }
    for (let i = n; i < this.pendingCount; i++) {
      const slot = this.pendingSlot[i]!;
      if (slot >= 0 && this.state[slot] === CTX_STATE_PENDING) this.forget(slot);
    }
    const mismatch = ack.nResults !== this.pendingCount;
    this.pendingCount = 0;
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
    for (let i = 0; i < this.pendingCount; i++) {
      const slot = this.pendingSlot[i]!;
      if (slot >= 0) this.forget(slot);
    }
    this.pendingCount = 0;
    this.awaitingAck = false;
  }

  /** True if the server accepted `ctxId` (BTFN elements never are). */
  isAccepted(ctxId: number): boolean {
    const slot = this.find(ctxId);
    return slot >= 0 && this.state[slot] === CTX_STATE_ACCEPTED;
  }

  /** SYNTAX_NDR / SYNTAX_NDR64 / SYNTAX_UNKNOWN of an accepted context, -1 if not accepted. */
  syntaxOf(ctxId: number): number {
    const slot = this.find(ctxId);
    return slot >= 0 && this.state[slot] === CTX_STATE_ACCEPTED ? this.syntax[slot]! : -1;
  }

  /**
   * True if `ctxId` is accepted and its interface is `uuidWireLE` (16 bytes, little-endian
   * wire form, e.g. UUID_EPM) with major version `major`; when `minor` is given, the context's
   * minor must be <= it (C706 compatibility: a client minor up to the registered one).
   */
  interfaceMatches(ctxId: number, uuidWireLE: Uint8Array, major: number, minor?: number): boolean {
    const slot = this.find(ctxId);
    if (slot < 0 || this.state[slot] !== CTX_STATE_ACCEPTED) return false;
    if (this.majors[slot] !== major) return false;
    if (minor !== undefined && this.minors[slot]! > minor) return false;
    return uuidEquals(this.uuids, slot * UUID_LEN, uuidWireLE, 0);
  }

  /** CTX_STATE_* of `ctxId` (EMPTY if unknown, rejected or BTFN). */
  stateOf(ctxId: number): number {
    const slot = this.find(ctxId);
    return slot < 0 ? CTX_STATE_EMPTY : this.state[slot]!;
  }

  /** Interface UUID text of a pending or accepted context, '' if unknown. For reporting only. */
  interfaceUuidString(ctxId: number): string {
    const slot = this.find(ctxId);
    return slot < 0 ? '' : uuidToString(this.uuids, slot * UUID_LEN, true);
  }

  /** Interface major version of a pending or accepted context, -1 if unknown. */
  ifMajor(ctxId: number): number {
    const slot = this.find(ctxId);
    return slot < 0 ? -1 : this.majors[slot]!;
  }

  /** Interface minor version of a pending or accepted context, -1 if unknown. */
  ifMinor(ctxId: number): number {
    const slot = this.find(ctxId);
    return slot < 0 ? -1 : this.minors[slot]!;
  }

  /** Number of accepted contexts. */
  acceptedCount(): number {
    let n = 0;
    for (let i = 0; i < this.highWater; i++) if (this.state[i] === CTX_STATE_ACCEPTED) n++;
    return n;
  }

  /** The table as plain data (state snapshot of a daemon restart). */
  exportState(): ContextsState {
    const n = this.highWater;
    let uuids = '';
    for (let i = 0; i < n * UUID_LEN; i++) uuids += this.uuids[i]!.toString(16).padStart(2, '0');
    return {
      ids: Array.from(this.ctxIds.subarray(0, n)), states: Array.from(this.state.subarray(0, n)), uuids,
      majors: Array.from(this.majors.subarray(0, n)), minors: Array.from(this.minors.subarray(0, n)),
      masks: Array.from(this.proposedMask.subarray(0, n)), syntaxes: Array.from(this.syntax.subarray(0, n)),
      pending: Array.from(this.pendingSlot.subarray(0, this.pendingCount)), awaitingAck: this.awaitingAck,
    };
  }

  /** Loads exportState()'s output; false (table reset) if it is not a consistent table. */
  importState(s: ContextsState): boolean {
    this.reset();
    const n = s.ids.length;
    const int = (a: number[], lo: number, hi: number): boolean => a.length === n && a.every((x) => Number.isInteger(x) && x >= lo && x <= hi);
    if (
      n > MAX_CONTEXTS || !int(s.ids, -1, 0xffff) || !int(s.states, 0, CTX_STATE_ACCEPTED) || !int(s.majors, 0, 0xffff) ||
      !int(s.minors, 0, 0xffff) || !int(s.masks, 0, 0xff) || !int(s.syntaxes, -1, 127) || s.uuids.length !== n * UUID_LEN * 2 ||
      !/^[0-9a-f]*$/.test(s.uuids) || s.pending.length > MAX_CONTEXTS || !s.pending.every((x) => Number.isInteger(x) && x >= -1 && x < n)
    ) {
      return false;
    }
    let cap = this.ctxIds.length;
    while (cap < n) cap *= 2;
    if (cap > this.ctxIds.length) this.grow(Math.min(MAX_CONTEXTS, cap));
    for (let i = 0; i < n; i++) {
      this.ctxIds[i] = s.ids[i]!;
      this.state[i] = s.states[i]!;
      this.majors[i] = s.majors[i]!;
      this.minors[i] = s.minors[i]!;
      this.proposedMask[i] = s.masks[i]!;
      this.syntax[i] = s.syntaxes[i]!;
    }
    for (let i = 0; i < n * UUID_LEN; i++) this.uuids[i] = parseInt(s.uuids.slice(i * 2, i * 2 + 2), 16);
    for (let i = 0; i < s.pending.length; i++) this.pendingSlot[i] = s.pending[i]!;
    this.pendingCount = s.pending.length;
    this.awaitingAck = s.awaitingAck === true;
    this.highWater = n;
    return true;
  }

  private accept(slot: number, returned: number): void {
    let syntax = SYNTAX_UNKNOWN;
    if (returned === SYNTAX_NDR && (this.proposedMask[slot]! & MASK_NDR) !== 0) syntax = SYNTAX_NDR;
    if (returned === SYNTAX_NDR64 && (this.proposedMask[slot]! & MASK_NDR64) !== 0) syntax = SYNTAX_NDR64;
    this.state[slot] = CTX_STATE_ACCEPTED;
    this.syntax[slot] = syntax;
  }

  private forget(slot: number): void {
    this.state[slot] = CTX_STATE_EMPTY;
    this.ctxIds[slot] = -1;
    this.syntax[slot] = -1;
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

  private find(ctxId: number): number {
    for (let i = 0; i < this.highWater; i++) if (this.ctxIds[i] === ctxId) return i;
    return -1;
  }

  private allocate(ctxId: number): number {
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < this.ctxIds.length; i++) {
        if (this.ctxIds[i] === -1) {
          this.ctxIds[i] = ctxId;
          this.state[i] = CTX_STATE_PENDING;
          if (i >= this.highWater) this.highWater = i + 1;
          return i;
        }
      }
      if (this.ctxIds.length >= MAX_CONTEXTS) return -1;
      this.grow(Math.min(MAX_CONTEXTS, this.ctxIds.length * 2));
    }
    return -1;
  }

  private grow(n: number): void {
    const old = this.ctxIds.length;
    const ids = new Int32Array(n).fill(-1);
    ids.set(this.ctxIds);
    this.ctxIds = ids;
    const grownU8 = (a: Uint8Array): Uint8Array => {
      const b = new Uint8Array(n);
      b.set(a);
      return b;
    };
    this.state = grownU8(this.state);
    this.proposedMask = grownU8(this.proposedMask);
    const uuids = new Uint8Array(n * UUID_LEN);
    uuids.set(this.uuids);
    this.uuids = uuids;
    const majors = new Uint16Array(n);
    majors.set(this.majors);
    this.majors = majors;
    const minors = new Uint16Array(n);
    minors.set(this.minors);
    this.minors = minors;
    const syntax = new Int8Array(n).fill(-1);
    syntax.set(this.syntax.subarray(0, old));
    this.syntax = syntax;
  }
}

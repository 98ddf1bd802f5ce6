/**
 * Reassembly of multi-fragment request/response stubs (notes A.11), one instance per connection
 * direction. Calls may interleave (concurrent multiplexing), so fragments are collected per
 * call_id into a bounded set of slots whose buffers are owned here and reused. Every fragment
 * repeats the 24-byte header; the first fragment's p_cont_id/opnum are the ones reported
 * (Windows behaviour, notes A.11).
 */
import { DecodeResult, MALFORMED, OK, fail } from '../wire/status.js';
import type { Status } from '../wire/status.js';
import {
  DCERPC_OFF_CALL_ID, DCERPC_OFF_PFC_FLAGS, PFC_FIRST_FRAG, PFC_LAST_FRAG, PTYPE_REQUEST, REQ_OFF_CTX_ID,
  REQ_OFF_OPNUM, RESP_OFF_CTX_ID,
} from './constants.js';
import type { CoHeader } from './header.js';
import { rd16 } from './ndr.js';
import {
  ERR_CALL_TOO_LARGE, ERR_CONTINUATION_WITHOUT_FIRST, ERR_FIRST_WHILE_IN_PROGRESS, ERR_STUB_BOUNDS, ERR_TOO_MANY_CALLS,
} from './reasons.js';

export const DEFAULT_MAX_CALL_BYTES = 1024 * 1024;
export const DEFAULT_MAX_CALLS = 16;
/** First allocation of a slot's buffer; doubled as needed up to maxCallBytes. */
const INITIAL_SLOT_BYTES = 8192;
const EMPTY = new Uint8Array(0);

/** Result of FragmentReassembler.add. */
export class ReassembledCall extends DecodeResult {
  /** True when the LAST fragment arrived: data[off .. off+len) is the whole stub. */
  complete = false;
  /**
   * The stub: the caller's own buffer for a single-fragment PDU (no copy), otherwise the
   * reassembler's buffer, valid until the next add() or reset().
   */
  data: Uint8Array = EMPTY;
  off = 0;
  len = 0;
  callId = 0;
  /** p_cont_id and opnum of the first fragment (opnum -1 for responses). */
  ctxId = 0;
  opnum = -1;
  /** Fragments in the call so far (1 for a single-fragment PDU). */
  fragments = 0;
}

export class FragmentReassembler {
  readonly maxCallBytes: number;
  readonly maxCalls: number;
  private readonly active: Uint8Array;
  private readonly callIds: Uint32Array;
  private readonly used: Uint32Array;
  private readonly fragCount: Uint32Array;
  private readonly ctxIds: Uint16Array;
  private readonly opnums: Int32Array;
  private readonly buffers: Uint8Array[];
  private activeCount = 0;

  constructor(maxCallBytes = DEFAULT_MAX_CALL_BYTES, maxCalls = DEFAULT_MAX_CALLS) {
    this.maxCallBytes = maxCallBytes;
    this.maxCalls = maxCalls;
    this.active = new Uint8Array(maxCalls);
    this.callIds = new Uint32Array(maxCalls);
    this.used = new Uint32Array(maxCalls);
    this.fragCount = new Uint32Array(maxCalls);
    this.ctxIds = new Uint16Array(maxCalls);
    this.opnums = new Int32Array(maxCalls);
    this.buffers = new Array<Uint8Array>(maxCalls).fill(EMPTY);
  }

  /** Calls currently being collected. */
  get callsInProgress(): number {
    return this.activeCount;
  }

  /** Drops every call in progress (buffers are kept for reuse). */
  reset(): void {
    this.active.fill(0);
    this.activeCount = 0;
  }

  /**
   * Adds one request/response fragment (header already decoded into `header`; its stub at
   * buf[stubOff .. stubOff+stubLen)). OK with out.complete when the call is whole, OK with
   * !complete while collecting, MALFORMED for a continuation without first fragment, a FIRST
   * for a call_id in progress (the old call is dropped), a call over maxCallBytes (dropped),
   * or more than maxCalls calls at once.
   */
  add(buf: Uint8Array, pduOff: number, header: CoHeader, stubOff: number, stubLen: number, out: ReassembledCall): Status {
    const flags = header.pfcFlags;
    const callId = header.callId;
    const first = (flags & PFC_FIRST_FRAG) !== 0;
    const last = (flags & PFC_LAST_FRAG) !== 0;
    out.complete = false;
    out.callId = callId;
    if (stubLen < 0 || stubOff < 0 || stubOff + stubLen > buf.length) return fail(out, MALFORMED, stubOff, ERR_STUB_BOUNDS);
    let slot = this.find(callId);
    if (first) {
      if (slot >= 0) {
        this.release(slot);
        return fail(out, MALFORMED, pduOff + DCERPC_OFF_PFC_FLAGS, ERR_FIRST_WHILE_IN_PROGRESS);
      }
      const le = header.littleEndian;
      const ctxId = rd16(buf, pduOff + (header.ptype === PTYPE_REQUEST ? REQ_OFF_CTX_ID : RESP_OFF_CTX_ID), le);
      const opnum = header.ptype === PTYPE_REQUEST ? rd16(buf, pduOff + REQ_OFF_OPNUM, le) : -1;
      if (last) return this.passThrough(buf, stubOff, stubLen, ctxId, opnum, out);
      if (stubLen > this.maxCallBytes) return fail(out, MALFORMED, stubOff, ERR_CALL_TOO_LARGE);
      slot = this.allocate(callId);
      if (slot < 0) return fail(out, MALFORMED, pduOff + DCERPC_OFF_CALL_ID, ERR_TOO_MANY_CALLS);
      this.ctxIds[slot] = ctxId;
      this.opnums[slot] = opnum;
    } else if (slot < 0) {
      return fail(out, MALFORMED, pduOff + DCERPC_OFF_PFC_FLAGS, ERR_CONTINUATION_WITHOUT_FIRST);
    }
    const total = this.used[slot]! + stubLen;
    if (total > this.maxCallBytes) {
      this.release(slot);
      return fail(out, MALFORMED, stubOff, ERR_CALL_TOO_LARGE);
    }
    const dst = this.room(slot, total);
    // Byte loop rather than set(subarray()): no view object per fragment.
    const base = this.used[slot]! - stubOff;
    for (let i = stubOff, end = stubOff + stubLen; i < end; i++) dst[base + i] = buf[i]!;
    this.used[slot] = total;
    this.fragCount[slot] = this.fragCount[slot]! + 1;
    out.ctxId = this.ctxIds[slot]!;
    out.opnum = this.opnums[slot]!;
    out.fragments = this.fragCount[slot]!;
    out.data = dst;
    out.off = 0;
    out.len = total;
    if (last) {
      out.complete = true;
      this.release(slot);
    }
    out.errOffset = 0;
    out.errReason = '';
    out.needed = 0;
    return OK;
  }

  private passThrough(buf: Uint8Array, stubOff: number, stubLen: number, ctxId: number, opnum: number, out: ReassembledCall): Status {
    out.complete = true;
    out.data = buf;
    out.off = stubOff;
    out.len = stubLen;
    out.ctxId = ctxId;
    out.opnum = opnum;
    out.fragments = 1;
    out.errOffset = 0;
    out.errReason = '';
    out.needed = 0;
    return OK;
  }

  private find(callId: number): number {
    if (this.activeCount === 0) return -1;
    for (let i = 0; i < this.maxCalls; i++) {
      if (this.active[i] === 1 && this.callIds[i] === callId) return i;
    }
    return -1;
  }

  private allocate(callId: number): number {
    for (let i = 0; i < this.maxCalls; i++) {
      if (this.active[i] === 0) {
        this.active[i] = 1;
        this.callIds[i] = callId;
        this.used[i] = 0;
        this.fragCount[i] = 0;
        this.activeCount++;
        return i;
      }
    }
    return -1;
  }

  private release(slot: number): void {
    this.active[slot] = 0;
    this.activeCount--;
  }

  /** The slot's buffer grown (by doubling, capped at maxCallBytes) to hold `total` bytes. */
  private room(slot: number, total: number): Uint8Array {
    const cur = this.buffers[slot]!;
    if (cur.length >= total) return cur;
    let size = Math.max(cur.length, INITIAL_SLOT_BYTES);
    while (size < total) size *= 2;
    const grown = new Uint8Array(Math.min(size, this.maxCallBytes));
    grown.set(cur.subarray(0, this.used[slot]!));
    this.buffers[slot] = grown;
    return grown;
  }
}

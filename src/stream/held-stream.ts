/**
 * One direction of a TCP connection that the gateway must READ before it forwards (the
 * endpoint-mapper leg): segments whose bytes belong to a PDU that is not complete yet are held
 * (copied — capture buffers are reused), patched in place once the PDU can be decided, then
 * released in order. Rewrites are length-preserving, so sequence numbers never move.
 *
 * Sequence space of one direction:
 *
 *   releasedSeq          nextSeq
 *   |  held (contiguous)  |   gap   | ahead (out of order) ...
 *   forwarded <-----------+
 *
 * - `releasedSeq`: first byte not yet forwarded; bytes before it were sent (patched).
 * - `nextSeq`: next byte the parser expects; [releasedSeq, nextSeq) are held.
 * - ahead: segments after a hole, waiting for it to fill (bounded).
 * Patches already sent are remembered until the receiver acknowledges them, so a retransmission
 * of released bytes is rewritten identically. The memory is bounded; a retransmission of bytes
 * whose patch had to be forgotten is refused (`reapply` says so) rather than sent unrewritten.
 */
import { PacketView, readPacket } from '../wire/packet.js';
import { LINKTYPE_RAW } from '../wire/link.js';
import { rewritePayload } from '../wire/rewrite.js';
import { OK } from '../wire/status.js';
import { rd32, wr32 } from '../dcerpc/ndr.js';
import { seqAdd, seqDiff } from './seq.js';

/** How a segment relates to the stream. */
export const SEG_IN_ORDER = 0;
/** Entirely before releasedSeq: a retransmission of bytes already forwarded. */
export const SEG_RETRANSMIT = 1;
/** Overlaps held bytes (not yet forwarded) and brings nothing new: the held copy will go. */
export const SEG_DUPLICATE_HELD = 2;
/** Starts after nextSeq: out of order. */
export const SEG_AHEAD = 3;
/** Starts before nextSeq but carries new bytes too. */
export const SEG_OVERLAP = 4;

/** Patches remembered per direction for retransmissions (pruned as the receiver ACKs). */
const MAX_PATCHES = 4096;
/** A rewritten EPM answer leaves a few patches: small rings stay on V8's heap (no backing store). */
const INITIAL_PATCHES = 4;
/** Shared empty arrays: replaced (never written) on the first patch. */
const NO_PATCHES = new Uint8Array(0);
/** A patch covers one field, or the part of it inside one fragment: at most a few bytes. */
const PATCH_MAX = 8;
const P_LEN = 4;
const P_BYTES = 8;
const P_STRIDE = P_BYTES + PATCH_MAX;

/**
 * A slot (saveSlot/loadSlot): a direction whose only state is a few patches the receiver has not
 * acknowledged yet, in a caller's byte array instead of a HeldStream of its own (every EPM answer
 * leaves two patches a tower until the client's ACK):
 *
 *   0  patch count (<= SLOT_PATCHES)   1  1 if pruned   2..3  0
 *   4  prunedEnd (u32 LE)
 *   8  SLOT_PATCHES patches of P_STRIDE bytes, oldest first, laid out as in the ring
 */
export const SLOT_PATCHES = 4;
const SLOT_HDR = 8;
export const SLOT_BYTES = SLOT_HDR + SLOT_PATCHES * P_STRIDE;

export class HeldSegment {
  constructor(
    readonly pkt: Uint8Array,
    readonly seq: number,
    readonly payloadOff: number,
    readonly payloadLen: number,
  ) {}
}

export type PacketEmit = (pkt: Uint8Array, off: number, len: number) => void;

/** One direction's carried state (HeldStream.exportState), JSON-able. */
export interface HeldStreamState {
  synced: boolean;
  nextSeq: number;
  /** Remembered patches, oldest first: [stream seq, bytes (at most 8)]. */
  patches: [number, number[]][];
  forgottenEnd: number | null;
  prunedEnd: number | null;
}

export class HeldStream {
  synced = false;
  nextSeq = 0;
  releasedSeq = 0;
  readonly held: HeldSegment[] = [];
  readonly ahead: HeldSegment[] = [];
  heldBytes = 0;
  aheadBytes = 0;

  // Remembered patches, oldest first: [patchHead, patchHead + patchCount) of a growable ring.
  // Empty until the first patch: most connections never have one.
  // One array, P_STRIDE bytes a patch (stream seq u32 LE, length, the bytes at P_BYTES): one
  // allocation per ring, small enough to live on V8's heap.
  private patches: Uint8Array = NO_PATCHES;
  private patchHead = 0;
  private patchCount = 0;
  /** Bytes before this (exclusive) had patches forgotten before the receiver ACKed them. */
  private forgottenEnd = 0;
  private forgotten = false;
  /** End of the last patch dropped because the receiver acknowledged it. */
  private prunedEnd = 0;
  private pruned = false;
  /** For re-decoding held packets when patching them (made on first use). */
  private view: PacketView | null = null;

  /**
   * Takes up a direction whose cursor was kept elsewhere (a connection row): synced or not, at
   * `nextSeq` with everything before `releasedSeq` forwarded, nothing held or remembered.
   */
  load(synced: boolean, nextSeq: number, releasedSeq: number): void {
    // Per packet: setting an array's length is a runtime call even when it is already 0.
    if (this.held.length !== 0 || this.ahead.length !== 0) this.dropAll();
    this.heldBytes = this.aheadBytes = 0;
    if (this.patchCount !== 0 || this.forgotten || this.pruned) this.resetPatches();
    this.synced = synced;
    this.nextSeq = nextSeq;
    this.releasedSeq = releasedSeq;
  }

  /** Nothing but the cursor: nothing held or waiting, no patch remembered or forgotten (a row can carry it). */
  get plain(): boolean {
    return this.held.length === 0 && this.ahead.length === 0 && this.patchCount === 0 && !this.forgotten && !this.pruned;
  }

  /**
   * Nothing but the cursor and the end of the last patch the receiver acknowledged (prunedEnd): a
   * row can carry it too, with that one number (loadPruned). Every EPM answer ends like this.
   */
  get prunedOnly(): boolean {
    return this.held.length === 0 && this.ahead.length === 0 && this.patchCount === 0 && !this.forgotten && this.pruned;
  }

  /** End of the last acknowledged patch (meaningful when prunedOnly). */
  get prunedUpTo(): number {
    return this.prunedEnd;
  }

  /** load(), then the pruned mark a prunedOnly stream left: retransmissions before `prunedEnd` stay refused. */
  loadPruned(synced: boolean, nextSeq: number, releasedSeq: number, prunedEnd: number): void {
    this.load(synced, nextSeq, releasedSeq);
    this.pruned = true;
    this.prunedEnd = prunedEnd;
  }

  /**
   * Nothing held or waiting, every byte read forwarded, no patch forgotten and at most
   * SLOT_PATCHES remembered: a slot (saveSlot) and the cursor can carry it.
   */
  get slotFits(): boolean {
    return this.held.length === 0 && this.ahead.length === 0 && this.releasedSeq === this.nextSeq && !this.forgotten && this.patchCount <= SLOT_PATCHES;
  }

  /** Writes the remembered patches and the pruned mark into dst[at, +SLOT_BYTES) (call only when slotFits). */
  saveSlot(dst: Uint8Array, at: number): void {
    const n = this.patchCount;
    dst[at] = n;
    dst[at + 1] = this.pruned ? 1 : 0;
    wr32(dst, at + 4, this.prunedEnd, true);
    const cap = this.patchCap;
    const pb = this.patches;
    for (let k = 0; k < n; k++) {
      const from = ((this.patchHead + k) % cap) * P_STRIDE;
      const to = at + SLOT_HDR + k * P_STRIDE;
      for (let b = 0; b < P_STRIDE; b++) dst[to + b] = pb[from + b]!;
    }
  }

  /** load() at `nextSeq` (everything before it forwarded), then the patches and pruned mark saveSlot wrote at src[at]. */
  loadSlot(synced: boolean, nextSeq: number, src: Uint8Array, at: number): void {
    this.load(synced, nextSeq, nextSeq);
    const n = src[at]!;
    while (this.patchCap < n) this.growPatches();
    const pb = this.patches;
    for (let k = 0; k < n; k++) {
      const from = at + SLOT_HDR + k * P_STRIDE;
      const to = k * P_STRIDE;
      for (let b = 0; b < P_STRIDE; b++) pb[to + b] = src[from + b]!;
    }
    this.patchHead = 0;
    this.patchCount = n;
    this.pruned = src[at + 1] !== 0;
    this.prunedEnd = rd32(src, at + 4, true);
  }

  /** First data byte is isn + 1. */
  onSyn(isn: number): void {
    if (this.synced) return;
    this.nextSeq = this.releasedSeq = seqAdd(isn, 1);
    this.synced = true;
  }

  /** Mid-stream pickup: the first segment seen starts the stream. */
  startAt(seq: number): void {
    this.nextSeq = this.releasedSeq = seq >>> 0;
    this.synced = true;
  }

  classify(seq: number, len: number): number {
    const rel = seqDiff(seq, this.nextSeq);
    if (rel === 0) return SEG_IN_ORDER;
    if (rel > 0) return SEG_AHEAD;
    const end = seqAdd(seq, len);
    if (seqDiff(end, this.releasedSeq) <= 0) return SEG_RETRANSMIT;
    if (seqDiff(end, this.nextSeq) <= 0) return SEG_DUPLICATE_HELD;
    return SEG_OVERLAP;
  }

  /** Keeps a copy of an IP packet whose payload [payloadOff, +payloadLen) starts at `seq`. */
  hold(pkt: Uint8Array, off: number, len: number, seq: number, payloadOff: number, payloadLen: number): void {
    const copy = copyOf(pkt, off, len);
    this.held.push(new HeldSegment(copy, seq >>> 0, payloadOff - off, payloadLen));
    this.heldBytes += len;
  }

  /** Keeps a copy of an out-of-order segment (kept sorted by seq); false if it already waits. */
  holdAhead(pkt: Uint8Array, off: number, len: number, seq: number, payloadOff: number, payloadLen: number): boolean {
    for (const s of this.ahead) if (s.seq === seq >>> 0 && s.payloadLen >= payloadLen) return false;
    const copy = copyOf(pkt, off, len);
    const seg = new HeldSegment(copy, seq >>> 0, payloadOff - off, payloadLen);
    let i = this.ahead.length;
    while (i > 0 && seqDiff(this.ahead[i - 1]!.seq, seg.seq) > 0) i--;
    this.ahead.splice(i, 0, seg);
    this.aheadBytes += len;
    return true;
  }

  /** The first waiting out-of-order segment, if it now starts at or before nextSeq. */
  takeReadyAhead(): HeldSegment | null {
    const s = this.ahead[0];
    if (s === undefined || seqDiff(s.seq, this.nextSeq) > 0) return null;
    this.ahead.shift();
    this.aheadBytes -= s.pkt.length;
    return s;
  }

  /** Forwards every held segment in order; releasedSeq catches up with nextSeq. */
  release(emit: PacketEmit): void {
    for (const s of this.held) emit(s.pkt, 0, s.pkt.length);
    this.held.length = 0;
    this.heldBytes = 0;
    this.releasedSeq = this.nextSeq;
  }

  /** Forgets held and waiting segments (connection refused or reset). */
  dropAll(): void {
    this.held.length = 0;
    this.ahead.length = 0;
    this.heldBytes = 0;
    this.aheadBytes = 0;
  }

  /**
   * Rewrites stream bytes [seq, seq+n) to bytes[bOff..]: in the held segments, in the packet
   * being processed (`cur*`, may be null), and remembered for retransmissions.
   */
  patch(seq: number, bytes: Uint8Array, bOff: number, n: number, cur: Uint8Array | null, curView: PacketView | null, curSeq: number): void {
    for (let done = 0; done < n; ) {
      const k = Math.min(PATCH_MAX, n - done);
      this.remember(seqAdd(seq, done), bytes, bOff + done, k);
      done += k;
    }
    for (const s of this.held) this.patchSegment(s.pkt, s.seq, s.payloadOff, s.payloadLen, seq, bytes, bOff, n);
    if (cur !== null && curView !== null) this.patchInView(cur, curView, curSeq, seq, bytes, bOff, n);
  }

  /**
   * Applies remembered patches to a retransmitted segment so it carries the same bytes again.
   * False when it starts among bytes whose patch is no longer remembered (acknowledged by the
   * receiver, or forgotten at the bound): it must not go out unrewritten.
   */
  reapply(pkt: Uint8Array, view: PacketView, seq: number): boolean {
    if (this.forgotten && seqDiff(seq, this.forgottenEnd) < 0) return false;
    // The receiver acknowledged those bytes (and their patch is gone): a spurious retransmission.
    if (this.pruned && seqDiff(seq, this.prunedEnd) < 0) return false;
    const cap = this.patchCap;
    for (let k = 0; k < this.patchCount; k++) {
      const i = (this.patchHead + k) % cap;
      this.patchInView(pkt, view, seq, this.patchSeqAt(i), this.patches, i * P_STRIDE + P_BYTES, this.patches[i * P_STRIDE + P_LEN]!);
    }
    return true;
  }

  /** The receiver acknowledged everything before `ack`: those patches are no longer needed. */
  acked(ack: number): void {
    const cap = this.patchCap;
    while (this.patchCount > 0) {
      const i = this.patchHead;
      const end = this.patchEndAt(i);
      if (seqDiff(end, ack) > 0) break;
      if (!this.pruned || seqDiff(end, this.prunedEnd) > 0) this.prunedEnd = end;
      this.pruned = true;
      this.patchHead = (i + 1) % cap;
      this.patchCount--;
    }
    if (this.forgotten && seqDiff(ack, this.forgottenEnd) >= 0) this.forgotten = false;
  }

  private remember(seq: number, bytes: Uint8Array, off: number, n: number): void {
    if (this.patchCount === this.patchCap) {
      if (this.patchCount >= MAX_PATCHES) {
        // Full: forget the oldest; retransmissions of its bytes will be refused, never leaked.
        const i = this.patchHead;
        this.forgottenEnd = this.patchEndAt(i);
        this.forgotten = true;
        this.patchHead = (i + 1) % this.patchCap;
        this.patchCount--;
      } else {
        this.growPatches();
      }
    }
    const i = (this.patchHead + this.patchCount) % this.patchCap;
    const pb = this.patches;
    const at = i * P_STRIDE;
    wr32(pb, at, seq, true);
    pb[at + P_LEN] = n;
    // At most PATCH_MAX bytes: a loop, not a subarray object per patch.
    for (let k = 0; k < n; k++) pb[at + P_BYTES + k] = bytes[off + k]!;
    this.patchCount++;
  }

  private growPatches(): void {
    const cap = this.patchCap;
    const next = Math.min(MAX_PATCHES, Math.max(INITIAL_PATCHES, cap * 2));
    const ring = new Uint8Array(next * P_STRIDE);
    for (let k = 0; k < this.patchCount; k++) {
      const i = (this.patchHead + k) % cap;
      ring.set(this.patches.subarray(i * P_STRIDE, (i + 1) * P_STRIDE), k * P_STRIDE);
    }
    this.patches = ring;
    this.patchHead = 0;
  }

  private get patchCap(): number {
    return this.patches.length / P_STRIDE;
  }

  private patchSeqAt(i: number): number {
    return rd32(this.patches, i * P_STRIDE, true);
  }

  private patchEndAt(i: number): number {
    return seqAdd(this.patchSeqAt(i), this.patches[i * P_STRIDE + P_LEN]!);
  }

  /** Forgets every patch (connection reused from the pool). */
  resetPatches(): void {
    this.patchHead = 0;
    this.patchCount = 0;
    this.forgotten = false;
    this.pruned = false;
  }

  /** Nothing held or waiting: every byte read was forwarded (a snapshot may carry the stream). */
  get idle(): boolean {
    return this.held.length === 0 && this.ahead.length === 0 && this.releasedSeq === this.nextSeq;
  }

  /**
   * The state a restarted gateway needs to carry this direction on (call only when `idle`):
   * the next sequence number and the patches still owed to retransmissions.
   */
  exportState(): HeldStreamState {
    const patches: [number, number[]][] = [];
    const cap = this.patchCap;
    for (let k = 0; k < this.patchCount; k++) {
      const i = (this.patchHead + k) % cap;
      const at = i * P_STRIDE;
      patches.push([this.patchSeqAt(i), Array.from(this.patches.subarray(at + P_BYTES, at + P_BYTES + this.patches[at + P_LEN]!))]);
    }
    return {
      synced: this.synced, nextSeq: this.nextSeq, patches,
      forgottenEnd: this.forgotten ? this.forgottenEnd : null, prunedEnd: this.pruned ? this.prunedEnd : null,
    };
  }

  /** Restores exportState()'s output onto a reset stream: synced at the saved next byte. */
  importState(s: HeldStreamState): void {
    this.dropAll();
    this.resetPatches();
    this.synced = s.synced;
    this.nextSeq = this.releasedSeq = s.nextSeq >>> 0;
    for (const [seq, bytes] of s.patches) this.remember(seq >>> 0, Uint8Array.from(bytes), 0, Math.min(PATCH_MAX, bytes.length));
    this.forgotten = s.forgottenEnd !== null;
    this.forgottenEnd = (s.forgottenEnd ?? 0) >>> 0;
    this.pruned = s.prunedEnd !== null;
    this.prunedEnd = (s.prunedEnd ?? 0) >>> 0;
  }

  private patchSegment(pkt: Uint8Array, segSeq: number, payloadOff: number, payloadLen: number, seq: number, bytes: Uint8Array, bOff: number, n: number): void {
    const from = Math.max(0, seqDiff(seq, segSeq));
    const to = Math.min(payloadLen, seqDiff(seqAdd(seq, n), segSeq));
    if (to <= from) return;
    const view = (this.view ??= new PacketView());
    if (readPacket(pkt, 0, pkt.length, LINKTYPE_RAW, view) !== OK) return;
    rewritePayload(pkt, view, payloadOff + from, bytes, bOff + (seqDiff(segSeq, seq) + from), to - from);
  }

  private patchInView(pkt: Uint8Array, view: PacketView, segSeq: number, seq: number, bytes: Uint8Array, bOff: number, n: number): void {
    const from = Math.max(0, seqDiff(seq, segSeq));
    const to = Math.min(view.payloadLen, seqDiff(seqAdd(seq, n), segSeq));
    if (to <= from) return;
    rewritePayload(pkt, view, view.payloadOff + from, bytes, bOff + (seqDiff(segSeq, seq) + from), to - from);
  }
}

/**
 * A real copy: `Buffer.prototype.slice` (live capture buffers are Buffers) returns a view of
 * memory that the capture library overwrites with the next packet.
 */
function copyOf(src: Uint8Array, off: number, len: number): Uint8Array {
  const copy = new Uint8Array(len);
  copy.set(src.subarray(off, off + len));
  return copy;
}

/**
 * One direction of a connection-oriented DCE/RPC byte stream, cut into PDUs: the one reader the
 * EPM leg, the mapped leg and `rpcgw inspect` share (C706 12.6.4, the framing rule: 10 bytes give
 * frag_length in the drep byte order, the PDU is frag_length bytes).
 *
 * A pull parser. `begin(data, off, len, seq)` offers a chunk of in-order bytes; `next()` walks it
 * and stops at each event of the PDU under the cursor:
 *   CO_FRAMED     10 bytes in: fragLen, ptype, littleEndian known (fragLen within 16..65535).
 *                 The caller may ask for the whole PDU with keepWhole().
 *   CO_HEADER     min(24, fragLen) bytes in: authLen, and the request header through opnum
 *                 (hdrU16/hdrByte); authLevel too if the sec_trailer already went by.
 *   CO_PDU        the last byte is in: authLevel (read from the trailer as it passed, -1 without
 *                 auth); with keepWhole(), pduBuf[pduOff, +fragLen) is the PDU.
 *   CO_INCOMPLETE the chunk is used up (consumed = len); `needed` bytes more before the next event.
 *   CO_ERROR      the header bytes present do not frame (checked as each arrives, so junk is
 *                 caught in the segment that carries it): errOffset (in the PDU), errReason.
 * Nothing throws on wire input.
 *
 * State between chunks is a few numbers: the 24 header bytes are packed into six words. Bytes are
 * copied only for a PDU the caller keeps that does not lie whole in one chunk, into a pooled
 * buffer held only until the PDU is decided; a kept PDU inside one chunk is read where it is.
 */
import { NEED_MORE, OK } from '../wire/status.js';
import {
  DCERPC_FRAME_PEEK_LEN, DCERPC_HDR_LEN, DCERPC_OFF_AUTH_LEN, DREP_LITTLE_ENDIAN, MAX_FRAG_LEN, PTYPE_RESPONSE, REQ_HDR_LEN, RPC_VERS,
  RPC_VERS_MINOR_MAX, SEC_TRAILER_LEN,
} from './constants.js';
import { FrameInfo, framePdu } from './framer.js';

export const CO_INCOMPLETE = 0;
export const CO_FRAMED = 1;
export const CO_HEADER = 2;
export const CO_PDU = 3;
export const CO_ERROR = 4;

/** Header bytes kept per PDU: the request header through opnum. */
export const CO_KEEP_HEADER = REQ_HDR_LEN;
/** Offset of auth_level in the 8-byte sec_trailer (auth_type, auth_level, pad, reserved, context id). */
const TRAILER_OFF_AUTH_LEVEL = 1;

const S_PEEK = 0;
const S_FRAMED = 1;
const S_BODY = 2;
const S_END = 3;

const EMPTY = new Uint8Array(0);

// Assembly buffers are pooled: a connection holds one only while a kept PDU spans chunks.
const SMALL_BUF = 4096;
const MAX_SMALL_POOLED = 256;
const MAX_LARGE_POOLED = 8;
const smallPool: Uint8Array[] = [];
const largePool: Uint8Array[] = [];

function takeBuffer(n: number): Uint8Array {
  if (n <= SMALL_BUF) return smallPool.pop() ?? new Uint8Array(SMALL_BUF);
  return largePool.pop() ?? new Uint8Array(MAX_FRAG_LEN);
}

function giveBuffer(b: Uint8Array): void {
  if (b.length === SMALL_BUF) {
    if (smallPool.length < MAX_SMALL_POOLED) smallPool.push(b);
  } else if (largePool.length < MAX_LARGE_POOLED) {
    largePool.push(b);
  }
}

/**
 * Int32 words a cursor's state between chunks takes in a row (save/load), so a reader can keep
 * one CoStream per direction for every connection and the connections' cursors in typed arrays:
 *   0  pos (16) | stage << 16 (2) | keepOn << 18 | littleEndian << 19 | has a kept copy << 20
 *   1  fragLen (16) | (ptype + 1) << 16 (9)
 *   2  authLen (16) | (authLevel + 1) << 16 (9)
 *   3  startSeq
 *   4-9  the header words w0..w5
 * An all-zero row is a reset cursor.
 */
export const CO_STATE_WORDS = 10;
const ST_STAGE_MASK = 3 << 16;
const ST_KEEP_ON = 1 << 18;
const ST_LITTLE = 1 << 19;
const ST_HAS_COPY = 1 << 20;

/** True if a saved cursor's row says it has a kept copy (to be handed back to load). */
export function coSavedHasCopy(rows: Int32Array, at: number): boolean {
  return (rows[at]! & ST_HAS_COPY) !== 0;
}

/** True if a saved cursor is between PDUs. */
export function coSavedAtBoundary(rows: Int32Array, at: number): boolean {
  return (rows[at]! & 0xffff) === 0;
}

/**
 * The common segment's fast path on a saved cursor: `len` bytes that lie inside the body of the
 * PDU in progress, end before its last byte and do not carry the sec_trailer's auth_level, with
 * no copy kept. next() would only count them (one CO_INCOMPLETE); here the row's pos moves and
 * true is returned, the row then equal to what load, begin, next and save would leave.
 * False (row untouched) for anything else: the caller walks the chunk.
 */
export function coSkipBody(rows: Int32Array, at: number, len: number): boolean {
  const w = rows[at]!;
  if ((w & (ST_STAGE_MASK | ST_KEEP_ON | ST_HAS_COPY)) !== S_BODY << 16) return false;
  const pos = w & 0xffff;
  const f = rows[at + 1]!;
  const fragLen = f & 0xffff;
  if (pos + len >= fragLen) return false;
  const authLen = rows[at + 2]! & 0xffff;
  if (authLen !== 0) {
    const a = fragLen - authLen - SEC_TRAILER_LEN + TRAILER_OFF_AUTH_LEVEL;
    if (a >= pos && a < pos + len) return false;
  }
  rows[at] = w + len; // pos + len < fragLen <= 0xffff: stays in the low 16 bits
  return true;
}

/**
 * The last segment of a response on a saved cursor: `len` body bytes that end the PDU in
 * progress exactly, a response (PTYPE 2) with no copy kept. next() would report CO_PDU, and a
 * reader that passes responses resets the cursor and finds the chunk used up (CO_INCOMPLETE);
 * here the row becomes what load, begin, next, reset, next and save leave (a reset cursor
 * keeping its byte order and the PDU's startSeq) and true is returned. The auth_level byte
 * that may go by is not read: reset forgets it. False (row untouched) for anything else.
 */
export function coEndResponse(rows: Int32Array, at: number, len: number): boolean {
  const w = rows[at]!;
  if ((w & (ST_STAGE_MASK | ST_KEEP_ON | ST_HAS_COPY)) !== S_BODY << 16) return false;
  const f = rows[at + 1]!;
  if ((w & 0xffff) + len !== (f & 0xffff) || f >>> 16 !== PTYPE_RESPONSE + 1) return false;
  rows[at] = w & ST_LITTLE;
  rows[at + 1] = 0;
  rows[at + 2] = 0;
  rows[at + 4] = rows[at + 5] = rows[at + 6] = rows[at + 7] = rows[at + 8] = rows[at + 9] = 0;
  return true;
}

/** Framing scratch shared by every cursor (used only inside one synchronous next()). */
const FRAME = new FrameInfo();
const PEEK = new Uint8Array(CO_KEEP_HEADER);

export class CoStream {
  /** Bytes of the current PDU seen so far. */
  pos = 0;
  /** frag_length once framed, else 0. */
  fragLen = 0;
  ptype = -1;
  littleEndian = true;
  /** auth_length once the header is in (CO_HEADER), else 0. */
  authLen = 0;
  /** The sec_trailer's auth_level once it went by; -1 before (or without auth). */
  authLevel = -1;
  /** Stream sequence number of the current PDU's first byte. */
  startSeq = 0;

  private stage = S_PEEK;
  /** Header bytes 0..23, four to a word, byte i at bits (i & 3) * 8 of word i >> 2. */
  private w0 = 0;
  private w1 = 0;
  private w2 = 0;
  private w3 = 0;
  private w4 = 0;
  private w5 = 0;
  private keepOn = false;
  /** The pooled copy of a kept PDU that spans chunks (EMPTY otherwise). */
  private keep: Uint8Array = EMPTY;
  // The chunk being walked (dropped at CO_INCOMPLETE: capture buffers are reused).
  private data: Uint8Array = EMPTY;
  private at = 0;
  private end = 0;
  private chunkOff = 0;
  /** Sequence number of chunk offset 0 (the chunk's first byte is at chunkOff). */
  private seqBase = 0;
  /** Chunk offset of the current PDU's first byte, or -1 if it began in an earlier chunk. */
  private startAt = -1;

  /** Drops the PDU in progress (new connection, or after a gap or an error). */
  reset(): void {
    this.pos = 0;
    this.fragLen = 0;
    this.ptype = -1;
    this.authLen = 0;
    this.authLevel = -1;
    this.stage = S_PEEK;
    this.w0 = this.w1 = this.w2 = this.w3 = this.w4 = this.w5 = 0;
    this.keepOn = false;
    if (this.keep !== EMPTY) {
      giveBuffer(this.keep);
      this.keep = EMPTY;
    }
    this.startAt = -1;
  }

  /**
   * Writes the state between chunks to rows[at, +CO_STATE_WORDS) and returns the kept copy of a
   * PDU in progress (the caller keeps it until load), or null. The cursor is then unusable
   * until load().
   */
  save(rows: Int32Array, at: number): Uint8Array | null {
    const copy = this.keep !== EMPTY ? this.keep : null;
    rows[at] = this.pos | (this.stage << 16) | (this.keepOn ? ST_KEEP_ON : 0) | (this.littleEndian ? ST_LITTLE : 0) | (copy !== null ? ST_HAS_COPY : 0);
    rows[at + 1] = this.fragLen | ((this.ptype + 1) << 16);
    rows[at + 2] = this.authLen | ((this.authLevel + 1) << 16);
    rows[at + 3] = this.startSeq | 0;
    rows[at + 4] = this.w0;
    rows[at + 5] = this.w1;
    rows[at + 6] = this.w2;
    rows[at + 7] = this.w3;
    rows[at + 8] = this.w4;
    rows[at + 9] = this.w5;
    this.keep = EMPTY;
    return copy;
  }

  /** Takes up a state save() wrote, with the kept copy it returned (null if none). */
  load(rows: Int32Array, at: number, copy: Uint8Array | null): void {
    const w = rows[at]!;
    this.pos = w & 0xffff;
    this.stage = (w >>> 16) & 3;
    this.keepOn = (w & ST_KEEP_ON) !== 0;
    this.littleEndian = (w & ST_LITTLE) !== 0;
    const f = rows[at + 1]!;
    this.fragLen = f & 0xffff;
    this.ptype = (f >>> 16) - 1;
    const a = rows[at + 2]!;
    this.authLen = a & 0xffff;
    this.authLevel = (a >>> 16) - 1;
    this.startSeq = rows[at + 3]! >>> 0;
    this.w0 = rows[at + 4]!;
    this.w1 = rows[at + 5]!;
    this.w2 = rows[at + 6]!;
    this.w3 = rows[at + 7]!;
    this.w4 = rows[at + 8]!;
    this.w5 = rows[at + 9]!;
    this.keep = copy ?? EMPTY;
    this.startAt = -1;
  }

  // Results of the last next(), computed rather than stored: a cursor lives as long as its
  // connection, so every field counts.

  /** Bytes of the current chunk consumed so far. */
  get consumed(): number {
    return this.at - this.chunkOff;
  }

  /** With CO_INCOMPLETE: bytes still wanted before the next event. */
  get needed(): number {
    const target = this.stage === S_PEEK ? DCERPC_FRAME_PEEK_LEN : this.stage === S_FRAMED ? Math.min(CO_KEEP_HEADER, this.fragLen) : this.fragLen;
    return target - this.pos;
  }

  /** With CO_ERROR: offset in the PDU of the byte that does not frame, and why. */
  get errOffset(): number {
    return FRAME.errOffset;
  }

  get errReason(): string {
    return FRAME.errReason;
  }

  /** With CO_PDU after keepWhole(): the PDU is pduBuf[pduOff, pduOff + fragLen), valid until next(). */
  get pduBuf(): Uint8Array {
    if (!this.keepOn || this.stage !== S_END) return EMPTY;
    return this.keep !== EMPTY ? this.keep : this.data;
  }

  get pduOff(): number {
    return this.keep !== EMPTY ? 0 : this.startAt;
  }

  /** Offers data[off, off + len), whose first byte is stream sequence `seq`; then call next(). */
  begin(data: Uint8Array, off: number, len: number, seq: number): void {
    this.data = data;
    this.at = off;
    this.end = off + len;
    this.chunkOff = off;
    this.seqBase = (seq - off) >>> 0;
    this.startAt = -1;
  }

  /** Drops the rest of the chunk and the PDU in progress (a reader resynchronising on junk). */
  skipChunk(): void {
    this.at = this.end;
    this.data = EMPTY;
    this.reset();
  }

  /** Walks the chunk to the next event (see the header). */
  next(): number {
    if (this.stage === S_END) this.reset();
    if (this.stage === S_PEEK) {
      if (this.pos === 0 && this.at < this.end) {
        this.startAt = this.at;
        this.startSeq = (this.seqBase + this.at) >>> 0;
      }
      this.takeHeader(DCERPC_FRAME_PEEK_LEN);
      if (this.pos === DCERPC_FRAME_PEEK_LEN && this.framedFromWords()) return CO_FRAMED;
      const st = framePdu(this.peek(), 0, this.pos, FRAME);
      // FRAME keeps errOffset/errReason for the caller.
      if (st !== OK && st !== NEED_MORE) return CO_ERROR;
      if (this.pos < DCERPC_FRAME_PEEK_LEN) return this.incomplete();
      this.fragLen = FRAME.pduLen;
      this.ptype = FRAME.ptype;
      this.littleEndian = FRAME.littleEndian;
      this.stage = S_FRAMED;
      return CO_FRAMED;
    }
    if (this.stage === S_FRAMED) {
      const target = Math.min(CO_KEEP_HEADER, this.fragLen);
      this.takeHeader(target);
      if (this.pos < target) return this.incomplete();
      this.authLen = this.hdrU16(DCERPC_OFF_AUTH_LEN);
      const at = this.authLevelAt();
      if (at >= 0 && at < this.pos) this.authLevel = this.hdrByte(at);
      this.stage = S_BODY;
      return CO_HEADER;
    }
    // S_BODY: the rest of the PDU, counted (and copied only into a kept PDU's buffer).
    const k = Math.min(this.end - this.at, this.fragLen - this.pos);
    if (k > 0) {
      if (this.keep !== EMPTY) this.keep.set(this.data.subarray(this.at, this.at + k), this.pos);
      const a = this.authLevelAt();
      if (a >= this.pos && a < this.pos + k) this.authLevel = this.data[this.at + (a - this.pos)]!;
      this.pos += k;
      this.at += k;
    }
    if (this.pos < this.fragLen) return this.incomplete();
    this.stage = S_END;
    return CO_PDU;
  }

  /** next() for a reader that keeps every PDU whole: stops only at CO_PDU, CO_INCOMPLETE or CO_ERROR. */
  nextPdu(): number {
    for (;;) {
      const ev = this.next();
      if (ev === CO_FRAMED) this.keepWhole();
      else if (ev !== CO_HEADER) return ev;
    }
  }

  /**
   * After CO_FRAMED or CO_HEADER: the whole PDU is wanted at CO_PDU. It is read in place when it
   * lies in the current chunk, else copied into a pooled buffer until the PDU is decided.
   */
  keepWhole(): void {
    if (this.keepOn) return;
    this.keepOn = true;
    if (this.startAt >= 0 && this.startAt + this.fragLen <= this.end) return;
    this.keep = takeBuffer(this.fragLen);
    this.keep.set(this.peek().subarray(0, this.pos), 0);
  }

  /** Header byte `i` (< 24, already seen). */
  hdrByte(i: number): number {
    let w: number;
    switch (i >> 2) {
      case 0: w = this.w0; break;
      case 1: w = this.w1; break;
      case 2: w = this.w2; break;
      case 3: w = this.w3; break;
      case 4: w = this.w4; break;
      default: w = this.w5;
    }
    return (w >>> ((i & 3) << 3)) & 0xff;
  }

  /** u16 of the header at `off`, in the PDU's drep byte order. */
  hdrU16(off: number): number {
    const a = this.hdrByte(off);
    const b = this.hdrByte(off + 1);
    return this.littleEndian ? a | (b << 8) : (a << 8) | b;
  }

  /** Offset of the trailer's auth_level in the PDU, or -1 (no auth yet, or no room for one). */
  private authLevelAt(): number {
    if (this.authLen === 0) return -1;
    const at = this.fragLen - this.authLen - SEC_TRAILER_LEN + TRAILER_OFF_AUTH_LEVEL;
    return at >= 0 ? at : -1;
  }

  /** Moves chunk bytes into the header words (and a kept copy) until `target` PDU bytes are in. */
  private takeHeader(target: number): void {
    const data = this.data;
    // Whole words while they are there (a header word not yet begun is 0): the usual PDU starts
    // with its header in one segment.
    while ((this.pos & 3) === 0 && this.pos + 4 <= target && this.at + 4 <= this.end && this.keep === EMPTY) {
      const a = this.at;
      const v = data[a]! | (data[a + 1]! << 8) | (data[a + 2]! << 16) | (data[a + 3]! << 24);
      switch (this.pos >> 2) {
        case 0: this.w0 = v; break;
        case 1: this.w1 = v; break;
        case 2: this.w2 = v; break;
        case 3: this.w3 = v; break;
        case 4: this.w4 = v; break;
        default: this.w5 = v;
      }
      this.pos += 4;
      this.at = a + 4;
    }
    while (this.pos < target && this.at < this.end) {
      const b = data[this.at++]!;
      const i = this.pos++;
      const v = b << ((i & 3) << 3);
      switch (i >> 2) {
        case 0: this.w0 |= v; break;
        case 1: this.w1 |= v; break;
        case 2: this.w2 |= v; break;
        case 3: this.w3 |= v; break;
        case 4: this.w4 |= v; break;
        default: this.w5 |= v;
      }
      if (this.keep !== EMPTY) this.keep[i] = b;
    }
  }

  /**
   * framePdu's verdict on the 10 bytes in w0..w2 when it is "frames" (then the state moves to
   * S_FRAMED); false sends the caller to framePdu, which locates what does not frame. The usual
   * PDU, without the byte-by-byte copy into the scratch and framePdu's NEED_MORE record into the
   * shared FrameInfo (test/dcerpc/co-stream.test.ts: the same verdict as framePdu, however cut).
   */
  private framedFromWords(): boolean {
    const w0 = this.w0;
    const drep0 = this.w1 & 0xff;
    if ((w0 & 0xff) !== RPC_VERS || ((w0 >>> 8) & 0xff) > RPC_VERS_MINOR_MAX || drep0 >>> 4 > 1) return false;
    const le = (drep0 & 0xf0) === DREP_LITTLE_ENDIAN;
    const b8 = this.w2 & 0xff;
    const b9 = (this.w2 >>> 8) & 0xff;
    const fragLen = le ? b8 | (b9 << 8) : (b8 << 8) | b9;
    if (fragLen < DCERPC_HDR_LEN) return false;
    this.fragLen = fragLen;
    this.ptype = (w0 >>> 16) & 0xff;
    this.littleEndian = le;
    this.stage = S_FRAMED;
    return true;
  }

  /** The header bytes seen so far, in the shared scratch. */
  private peek(): Uint8Array {
    const p = PEEK;
    const n = Math.min(this.pos, CO_KEEP_HEADER);
    for (let i = 0; i < n; i++) p[i] = this.hdrByte(i);
    return p;
  }

  private incomplete(): number {
    this.data = EMPTY;
    return CO_INCOMPLETE;
  }
}

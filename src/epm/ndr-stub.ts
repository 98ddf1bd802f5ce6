/**
 * NDR / NDR64 pieces shared by the ept_map and ept_lookup stub codecs (C706 ch. 14; MS-RPCE 2.2.5):
 * counts and referent ids (u32, or u64 aligned to 8 in NDR64), twr_t, and the failure reasons.
 *
 * Alignment is relative to the stub start (`base`). Decoder helpers return the next offset, or
 * -1 after recording a MALFORMED failure in `out`; they never read past `end`.
 */
import { fail, MALFORMED, OK } from '../wire/status.js';
import type { DecodeResult } from '../wire/status.js';
import { align, rd32, rd64lo, wr32, wr64 } from '../dcerpc/ndr.js';
import { parseUuid } from '../dcerpc/uuid.js';
import { readTower, TowerView } from './tower.js';

// ---- failure reasons shared by the stub decoders (errReason values) ----
export const EPM_ERR_STUB_PAST_BUFFER = 'epm: stub extends past the buffer';
export const EPM_ERR_TRUNCATED = 'epm: stub ends inside a field';
export const EPM_ERR_TRAILING = 'epm: bytes after the last field of the stub';
export const EPM_ERR_COUNT_TOO_LARGE = 'epm: NDR64 count is 2^53 or more';
export const EPM_ERR_COUNT_MISMATCH = 'epm: num_towers/num_ents differs from actual_count';
export const EPM_ERR_ACTUAL_GT_MAX = 'epm: offset + actual_count exceeds max_count';
export const EPM_ERR_TOO_MANY = 'epm: more towers/entries than the view holds';
export const EPM_ERR_REFERENTS_PAST_END = 'epm: referent array extends past the stub';
export const EPM_ERR_ENTRIES_PAST_END = 'epm: entry array extends past the stub';
export const EPM_ERR_TWR_PAST_END = 'epm: twr_t header extends past the stub';
export const EPM_ERR_TWR_LEN_MISMATCH = 'epm: tower_length differs from its conformance (max_count)';
export const EPM_ERR_TOWER_PAST_END = 'epm: tower octets extend past the stub';
export const EPM_ERR_ANNOTATION_TOO_LONG = 'epm: annotation offset + actual_count exceeds 64';
export const EPM_ERR_ANNOTATION_PAST_END = 'epm: annotation extends past the stub';

/** Width of counts and referent ids: u32 (NDR) or u64 (NDR64). */
export function countSize(ndr64: boolean): number {
  return ndr64 ? 8 : 4;
}

/** Count at pos (caller aligned and bounds-checked): u32, or u64 in NDR64 (-1 when >= 2^53). */
export function rdCount(buf: Uint8Array, pos: number, ndr64: boolean, le: boolean): number {
  return ndr64 ? rd64lo(buf, pos, le) : rd32(buf, pos, le);
}

/** True if any of the n bytes at pos is non-zero: a non-null referent id (any byte order). */
export function isNonNull(buf: Uint8Array, pos: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (buf[pos + i] !== 0) return true;
  return false;
}

/** Records a MALFORMED failure and returns -1, for helpers that return offsets. */
function failAt(out: DecodeResult, offset: number, reason: string): number {
  fail(out, MALFORMED, offset, reason);
  return -1;
}

/** Fails with EPM_ERR_STUB_PAST_BUFFER unless [stubOff, stubOff+stubLen) lies inside buf. */
export function checkStub(buf: Uint8Array, stubOff: number, stubLen: number, out: DecodeResult): boolean {
  if (stubOff < 0 || stubLen < 0 || stubOff + stubLen > buf.length) {
    fail(out, MALFORMED, Math.min(Math.max(stubOff, 0), buf.length), EPM_ERR_STUB_PAST_BUFFER);
    return false;
  }
  return true;
}

/**
 * Reads a twr_t (the pointee of a twr_p_t) at pos, after aligning to 4 (NDR) or 8 (NDR64):
 *   max_count   u32 | u64   conformance of tower_octet_string, hoisted to the front (NDR
 *                           puts a conformant array's max_count before its structure)
 *   tower_length u32        must equal max_count (size_is(tower_length))
 *   octets[tower_length]    the tower (C706 App. L), decoded into `tower`
 * Returns the offset just after the octets, or -1 (failure recorded in `out`).
 */
export function readTwr(
  buf: Uint8Array, base: number, pos: number, end: number, ndr64: boolean, le: boolean,
  tower: TowerView, out: DecodeResult,
): number {
  const cs = countSize(ndr64);
  const p = align(pos, base, cs);
  if (p + cs + 4 > end) return failAt(out, p, EPM_ERR_TWR_PAST_END);
  const maxCount = rdCount(buf, p, ndr64, le);
  if (maxCount < 0) return failAt(out, p, EPM_ERR_COUNT_TOO_LARGE);
  const lenOff = p + cs;
  const towerLen = rd32(buf, lenOff, le);
  if (towerLen !== maxCount) return failAt(out, lenOff, EPM_ERR_TWR_LEN_MISMATCH);
  const octets = lenOff + 4;
  if (towerLen > end - octets) return failAt(out, lenOff, EPM_ERR_TOWER_PAST_END);
  if (readTower(buf, octets, towerLen, tower) !== OK) return failAt(out, tower.errOffset, tower.errReason);
  return octets + towerLen;
}

/**
 * Start of the 4-aligned tail of `tailLen` bytes that ends the stub (status; entry_handle +
 * max_towers), following a twr_t or other data that ends at pos. The tail must end exactly at
 * the stub end: trailing bytes are refused, which also keeps an NDR64 stub from decoding as NDR
 * (and the reverse) when a caller has to guess the syntax.
 * NDR: aligned 4. NDR64: MS-RPCE 2.2.5.3.4.1 pads only after the last *nonconformant* field, so
 * nothing pads a twr_t's octets to 8 (impacket writes the tail 4-aligned); samba's pidl pads
 * every NDR64 struct to 8, so the 8-aligned start is accepted too when the stub ends there.
 * Returns the tail offset, or -1 with the failure recorded in `out`.
 */
export function readTail(
  pos: number, base: number, end: number, ndr64: boolean, tailLen: number, out: DecodeResult,
): number {
  const p4 = align(pos, base, 4);
  if (p4 + tailLen === end) return p4;
  if (ndr64) {
    const p8 = align(pos, base, 8);
    if (p8 + tailLen === end) return p8;
  }
  if (p4 + tailLen > end) fail(out, MALFORMED, p4, EPM_ERR_TRUNCATED);
  else fail(out, MALFORMED, p4 + tailLen, EPM_ERR_TRAILING);
  return -1;
}

/**
 * Reads the conformant-varying array header {max_count, offset, actual_count} at pos (aligned to
 * the count size) and checks it against the element count announced before it (num_towers,
 * num_ents). Fills maxCount/offset/actualCount of `out`; returns the offset after the header or -1.
 * max_count is only an allocation size (no bytes stand behind it), so any value below 2^53 is
 * accepted; actual_count is checked against the bytes by the caller.
 */
export function readArrayHeader(
  buf: Uint8Array, base: number, pos: number, end: number, ndr64: boolean, le: boolean, announced: number,
  out: DecodeResult & { maxCount: number; offset: number; actualCount: number },
): number {
  const cs = countSize(ndr64);
  const p = align(pos, base, cs);
  if (p + 3 * cs > end) return failAt(out, p, EPM_ERR_TRUNCATED);
  const maxCount = rdCount(buf, p, ndr64, le);
  const offset = rdCount(buf, p + cs, ndr64, le);
  const actualCount = rdCount(buf, p + 2 * cs, ndr64, le);
  if (maxCount < 0) return failAt(out, p, EPM_ERR_COUNT_TOO_LARGE);
  if (offset < 0) return failAt(out, p + cs, EPM_ERR_COUNT_TOO_LARGE);
  if (actualCount < 0) return failAt(out, p + 2 * cs, EPM_ERR_COUNT_TOO_LARGE);
  out.maxCount = maxCount;
  out.offset = offset;
  out.actualCount = actualCount;
  // length_is(*num_towers) / length_is(*num_ents): the two must agree.
  if (actualCount !== announced) return failAt(out, p + 2 * cs, EPM_ERR_COUNT_MISMATCH);
  if (offset + actualCount > maxCount) return failAt(out, p + 2 * cs, EPM_ERR_ACTUAL_GT_MAX);
  return p + 3 * cs;
}

/**
 * Grows a response view's `views` to at least `n` (a decoder calls it once `n` is within the
 * bound): views are made when a response first has that many towers, never again after, instead
 * of the bound's 512 + 1,024 at every start (1.5 ms of an empty `rpcgw replay`).
 */
export function growTowerViews(views: TowerView[], n: number): void {
  for (let i = views.length; i < n; i++) views.push(new TowerView());
}

// ---- encoder helpers ----

export const NIL_UUID = '00000000-0000-0000-0000-000000000000';

/** Writes an NDR UUID (first three fields in drep order); throws on bad text (encoder input, not wire). */
export function writeNdrUuid(buf: Uint8Array, off: number, text: string, le: boolean): void {
  if (!parseUuid(text, buf, off, le)) throw new RangeError(`bad UUID '${text}'`);
}

/** Zero-fills [from, to) (NDR padding MUST be zero when sent). Returns `to`. */
export function zeroPad(buf: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i++) buf[i] = 0;
  return to;
}

/** Aligns pos (zero-filling the gap) and writes a count/referent id; returns the offset after it. */
export function writeCount(buf: Uint8Array, base: number, pos: number, value: number, ndr64: boolean, le: boolean): number {
  const cs = countSize(ndr64);
  const p = zeroPad(buf, pos, align(pos, base, cs));
  if (ndr64) wr64(buf, p, value, le);
  else wr32(buf, p, value, le);
  return p + cs;
}

/** Aligns pos to 4 (zero-filling) and writes a u32; returns the offset after it. */
export function writeU32(buf: Uint8Array, base: number, pos: number, value: number, le: boolean): number {
  const p = zeroPad(buf, pos, align(pos, base, 4));
  wr32(buf, p, value, le);
  return p + 4;
}

/** Writes a twr_t (max_count, tower_length, octets) at pos after alignment; returns the offset after the octets. */
export function writeTwr(buf: Uint8Array, base: number, pos: number, tower: Uint8Array, ndr64: boolean, le: boolean): number {
  let p = writeCount(buf, base, pos, tower.length, ndr64, le);
  wr32(buf, p, tower.length, le);
  p += 4;
  buf.set(tower, p);
  return p + tower.length;
}

/** Writes a 20-byte context handle at pos after 4-alignment (zeros when handle is undefined). */
export function writeHandle(buf: Uint8Array, base: number, pos: number, handle: Uint8Array | undefined): number {
  const p = zeroPad(buf, pos, align(pos, base, 4));
  if (handle !== undefined) {
    if (handle.length !== 20) throw new RangeError('context handle must be 20 bytes');
    buf.set(handle, p);
  } else {
    zeroPad(buf, p, p + 20);
  }
  return p + 20;
}

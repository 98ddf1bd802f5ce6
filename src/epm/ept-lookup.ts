/**
 * ept_lookup (EPM opnum 2) request and response stubs, NDR and NDR64 (C706 App. O; MS-RPCE 2.2.5 for NDR64).
 *
 * The NDR response layout was checked against real Windows answers (pcapattack rpcdump: 346
 * entries in one call; lookup scan: 349 one-entry calls); the NDR64 layout follows MS-RPCE 2.2.5
 * and matches what impacket's ndr.py produces with isNDR64 (no NDR64 lookup capture exists).
 * Offsets in the views are absolute in `buf`.
 */
import { DecodeResult, fail, MALFORMED, OK, UNSUPPORTED } from '../wire/status.js';
import type { Status } from '../wire/status.js';
import { align, rd16, rd32, wr16 } from '../dcerpc/ndr.js';
import { CONTEXT_HANDLE_LEN, EPT_MAX_ANNOTATION_SIZE, MAX_ENTRIES, UUID_LEN } from './constants.js';
import type { TowerView } from './tower.js';
import {
  checkStub, countSize, EPM_ERR_ANNOTATION_PAST_END, EPM_ERR_ANNOTATION_TOO_LONG,
  EPM_ERR_COUNT_TOO_LARGE, EPM_ERR_ENTRIES_PAST_END, EPM_ERR_TOO_MANY, EPM_ERR_TRUNCATED, isNonNull,
  growTowerViews, rdCount, readArrayHeader, readTail, readTwr, writeCount, writeHandle, writeNdrUuid,
  writeTwr, writeU32, zeroPad,
} from './ndr-stub.js';

/** rpc_if_id_t: UUID (16) + vers_major u16 + vers_minor u16. */
const IF_ID_LEN = 20;
/** vers_option (4) + entry_handle (20) + max_ents (4): the request's tail. */
const LOOKUP_REQ_TAIL_LEN = 4 + CONTEXT_HANDLE_LEN + 4;
/** Smallest ept_entry_t: object UUID, tower referent, annotation offset + actual_count. */
const ENTRY_MIN_NDR = UUID_LEN + 3 * 4;
const ENTRY_MIN_NDR64 = UUID_LEN + 3 * 8;
/** Marks an entry whose tower referent is non-null while its deferred twr_t is not read yet. */
const TOWER_PENDING = -2;

export class EptLookupRequestView extends DecodeResult {
  /** RPC_C_EP_ALL_ELTS (0), MATCH_BY_IF (1), MATCH_BY_OBJ (2), MATCH_BY_BOTH (3). */
  inquiryType = 0;
  objectPresent = false;
  /** Absolute offset of the object NDR UUID (drep order); -1 if NULL. */
  objectUuidOff = -1;
  ifIdPresent = false;
  /** Absolute offset of the interface NDR UUID (drep order); -1 if NULL. */
  ifUuidOff = -1;
  ifMajor = 0;
  ifMinor = 0;
  /** RPC_C_VERS_ALL (1), COMPATIBLE (2), EXACT (3), MAJOR_ONLY (4), UPTO (5). */
  versOption = 0;
  entryHandleOff = -1;
  maxEnts = 0;
}

/**
 * Decodes an ept_lookup request stub.
 *
 * NDR:                                 NDR64:
 *   0  inquiry_type u32                  0  inquiry_type u32, pad 4
 *   4  object referent u32               8  object referent u64
 *   .. [object UUID 16]                  .. [object UUID 16]
 *   .. interface_id referent u32         .. interface_id referent u64 (aligned 8)
 *   .. [if UUID 16, vers_major u16,      .. [rpc_if_id_t 20, aligned 4]
 *       vers_minor u16]
 *   .. vers_option u32                   .. vers_option u32
 *   .. entry_handle 20                   .. entry_handle 20
 *   .. max_ents u32                      .. max_ents u32
 * All referents NULL: 40 bytes (NDR; the lookup-scan capture), 48 (NDR64).
 */
export function readEptLookupRequest(
  buf: Uint8Array, stubOff: number, stubLen: number, ndr64: boolean, littleEndian: boolean, out: EptLookupRequestView,
): Status {
  resetRequest(out);
  if (!checkStub(buf, stubOff, stubLen, out)) return MALFORMED;
  const base = stubOff;
  const end = stubOff + stubLen;
  const cs = countSize(ndr64);
  const le = littleEndian;
  if (base + 4 > end) return fail(out, MALFORMED, base, EPM_ERR_TRUNCATED);
  out.inquiryType = rd32(buf, base, le);
  let pos = align(base + 4, base, cs);
  if (pos + cs > end) return fail(out, MALFORMED, pos, EPM_ERR_TRUNCATED);
  const objectRef = isNonNull(buf, pos, cs);
  pos += cs;
  if (objectRef) {
    if (pos + UUID_LEN > end) return fail(out, MALFORMED, pos, EPM_ERR_TRUNCATED);
    out.objectPresent = true;
    out.objectUuidOff = pos;
    pos += UUID_LEN;
  }
  pos = align(pos, base, cs);
  if (pos + cs > end) return fail(out, MALFORMED, pos, EPM_ERR_TRUNCATED);
  const ifRef = isNonNull(buf, pos, cs);
  pos += cs;
  if (ifRef) {
    pos = align(pos, base, 4);
    if (pos + IF_ID_LEN > end) return fail(out, MALFORMED, pos, EPM_ERR_TRUNCATED);
    out.ifIdPresent = true;
    out.ifUuidOff = pos;
    out.ifMajor = rd16(buf, pos + UUID_LEN, le);
    out.ifMinor = rd16(buf, pos + UUID_LEN + 2, le);
    pos += IF_ID_LEN;
  }
  // vers_option, entry_handle, max_ents end the stub; rpc_if_id_t has no NDR64 trailing pad.
  pos = readTail(pos, base, end, false, LOOKUP_REQ_TAIL_LEN, out);
  if (pos < 0) return MALFORMED;
  out.versOption = rd32(buf, pos, le);
  out.entryHandleOff = pos + 4;
  out.maxEnts = rd32(buf, pos + 4 + CONTEXT_HANDLE_LEN, le);
  return OK;
}

function resetRequest(out: EptLookupRequestView): void {
  out.errOffset = 0;
  out.errReason = '';
  out.needed = 0;
  out.inquiryType = 0;
  out.objectPresent = false;
  out.objectUuidOff = -1;
  out.ifIdPresent = false;
  out.ifUuidOff = -1;
  out.ifMajor = 0;
  out.ifMinor = 0;
  out.versOption = 0;
  out.entryHandleOff = -1;
  out.maxEnts = 0;
}

export class EptLookupResponseView extends DecodeResult {
  entryHandleOff = -1;
  numEnts = 0;
  /** Conformant-varying array header of the entries array. */
  maxCount = 0;
  offset = 0;
  actualCount = 0;
  /** Entries decoded (= actualCount on OK); per-entry arrays below are indexed by entry. */
  entryCount = 0;
  /** Entries whose tower referent was non-null. */
  towerCount = 0;
  /** Absolute offset of each entry's object NDR UUID (drep order). */
  objectUuidOff = new Int32Array(MAX_ENTRIES);
  /** Absolute offset of each annotation's characters and their length without the NUL. */
  annotationOff = new Int32Array(MAX_ENTRIES);
  annotationLen = new Int32Array(MAX_ENTRIES);
  /** Absolute offset and length of each entry's tower octets; -1/0 for a null tower referent. */
  towerOff = new Int32Array(MAX_ENTRIES);
  towerLen = new Int32Array(MAX_ENTRIES);
  /** towers[i] is entry i's tower (valid when towerOff[i] >= 0); at least entryCount views. */
  towers: TowerView[] = [];
  status = 0;
  statusOff = -1;
}

/** Length of the C string at off (bytes before the first NUL, or n if none). */
function cStringLen(buf: Uint8Array, off: number, n: number): number {
  for (let i = 0; i < n; i++) if (buf[off + i] === 0) return i;
  return n;
}

/**
 * Decodes an ept_lookup response stub.
 *
 * NDR (checked on real Windows bytes):     NDR64 (MS-RPCE 2.2.5, as impacket writes it):
 *   0  entry_handle 20                       0  entry_handle 20
 *  20  num_ents u32                         20  num_ents u32
 *  24  max_count u32                        24  max_count u64
 *  28  offset u32                           32  offset u64
 *  32  actual_count u32 (= num_ents)        40  actual_count u64
 *  36  entries, each aligned 4:             48  entries, each aligned 8:
 *        object UUID 16                           object UUID 16
 *        tower referent u32                       tower referent u64
 *        annotation offset u32 (0)                annotation offset u64
 *        annotation actual_count u32              annotation actual_count u64
 *        chars[actual_count] (NUL incl.)          chars[actual_count]
 *  ..  per non-null tower referent, in entry order: twr_t (aligned 4 / 8)
 *  ..  status u32, aligned 4: the last 4 bytes of the stub
 * The annotation is `[string] char[64]`: a varying array without max_count.
 */
export function readEptLookupResponse(
  buf: Uint8Array, stubOff: number, stubLen: number, ndr64: boolean, littleEndian: boolean, out: EptLookupResponseView,
): Status {
  resetResponse(out);
  if (!checkStub(buf, stubOff, stubLen, out)) return MALFORMED;
  const base = stubOff;
  const end = stubOff + stubLen;
  const le = littleEndian;
  if (base + CONTEXT_HANDLE_LEN + 4 > end) return fail(out, MALFORMED, base, EPM_ERR_TRUNCATED);
  out.entryHandleOff = base;
  out.numEnts = rd32(buf, base + CONTEXT_HANDLE_LEN, le);
  let pos = readArrayHeader(buf, base, base + CONTEXT_HANDLE_LEN + 4, end, ndr64, le, out.numEnts, out);
  if (pos < 0) return MALFORMED;
  const n = out.actualCount;
  if (n > (end - pos) / (ndr64 ? ENTRY_MIN_NDR64 : ENTRY_MIN_NDR)) {
    return fail(out, MALFORMED, pos, EPM_ERR_ENTRIES_PAST_END);
  }
  if (n > MAX_ENTRIES) return fail(out, UNSUPPORTED, pos, EPM_ERR_TOO_MANY);
  growTowerViews(out.towers, n);
  for (let i = 0; i < n; i++) {
    pos = readEntry(buf, base, pos, end, ndr64, le, i, out);
    if (pos < 0) return MALFORMED;
    out.entryCount = i + 1;
  }
  // Deferred pointees: the towers of non-null referents, in entry order.
  for (let i = 0; i < n; i++) {
    if (out.towerOff[i] !== TOWER_PENDING) continue;
    const tower = out.towers[i]!;
    pos = readTwr(buf, base, pos, end, ndr64, le, tower, out);
    if (pos < 0) {
      out.towerOff[i] = -1;
      return MALFORMED;
    }
    out.towerOff[i] = tower.off;
    out.towerLen[i] = tower.len;
    out.towerCount++;
  }
  const statusOff = readTail(pos, base, end, ndr64, 4, out);
  if (statusOff < 0) return MALFORMED;
  out.statusOff = statusOff;
  out.status = rd32(buf, statusOff, le);
  return OK;
}

/** Reads the inline part of entry i at pos (ept_entry_t); returns the offset after it or -1. */
function readEntry(
  buf: Uint8Array, base: number, pos: number, end: number, ndr64: boolean, le: boolean, i: number,
  out: EptLookupResponseView,
): number {
  const cs = countSize(ndr64);
  // ept_entry_t aligns to its largest member: 4 in NDR, 8 (the u64 referent) in NDR64.
  let p = align(pos, base, cs);
  const fixedLen = UUID_LEN + 3 * cs;
  if (p + fixedLen > end) return failAt(out, p, EPM_ERR_ENTRIES_PAST_END);
  out.objectUuidOff[i] = p;
  p += UUID_LEN;
  out.towerOff[i] = isNonNull(buf, p, cs) ? TOWER_PENDING : -1;
  out.towerLen[i] = 0;
  p += cs;
  const annOffset = rdCount(buf, p, ndr64, le);
  const annActual = rdCount(buf, p + cs, ndr64, le);
  if (annOffset < 0) return failAt(out, p, EPM_ERR_COUNT_TOO_LARGE);
  if (annActual < 0) return failAt(out, p + cs, EPM_ERR_COUNT_TOO_LARGE);
  if (annOffset + annActual > EPT_MAX_ANNOTATION_SIZE) return failAt(out, p + cs, EPM_ERR_ANNOTATION_TOO_LONG);
  const chars = p + 2 * cs;
  if (chars + annActual > end) return failAt(out, p + cs, EPM_ERR_ANNOTATION_PAST_END);
  out.annotationOff[i] = chars;
  out.annotationLen[i] = cStringLen(buf, chars, annActual);
  return chars + annActual;
}

function failAt(out: DecodeResult, offset: number, reason: string): number {
  fail(out, MALFORMED, offset, reason);
  return -1;
}

function resetResponse(out: EptLookupResponseView): void {
  out.errOffset = 0;
  out.errReason = '';
  out.needed = 0;
  out.entryHandleOff = -1;
  out.numEnts = 0;
  out.maxCount = 0;
  out.offset = 0;
  out.actualCount = 0;
  out.entryCount = 0;
  out.towerCount = 0;
  out.status = 0;
  out.statusOff = -1;
}

// ---- encoders ----

export interface EptLookupRequestSpec {
  ndr64: boolean;
  littleEndian?: boolean;
  inquiryType: number;
  /** Object UUID, or null/undefined for a NULL pointer. */
  object?: string | null;
  /** Interface id, or null/undefined for a NULL pointer. */
  ifId?: { uuid: string; major: number; minor: number } | null;
  versOption: number;
  entryHandle?: Uint8Array;
  maxEnts: number;
}

/** Writes an ept_lookup request stub at `off`; returns the bytes written. */
export function writeEptLookupRequest(buf: Uint8Array, off: number, spec: EptLookupRequestSpec): number {
  const le = spec.littleEndian ?? true;
  const ndr64 = spec.ndr64;
  const base = off;
  let pos = writeU32(buf, base, off, spec.inquiryType, le);
  let ref = 1;
  if (spec.object === null || spec.object === undefined) {
    pos = writeCount(buf, base, pos, 0, ndr64, le);
  } else {
    pos = writeCount(buf, base, pos, ref++, ndr64, le);
    writeNdrUuid(buf, pos, spec.object, le);
    pos += UUID_LEN;
  }
  const ifId = spec.ifId;
  if (ifId === null || ifId === undefined) {
    pos = writeCount(buf, base, pos, 0, ndr64, le);
  } else {
    pos = writeCount(buf, base, pos, ref++, ndr64, le);
    pos = zeroPad(buf, pos, align(pos, base, 4));
    writeNdrUuid(buf, pos, ifId.uuid, le);
    pos += UUID_LEN;
    pos += wr16(buf, pos, ifId.major, le);
    pos += wr16(buf, pos, ifId.minor, le);
  }
  pos = writeU32(buf, base, pos, spec.versOption, le);
  pos = writeHandle(buf, base, pos, spec.entryHandle);
  pos = writeU32(buf, base, pos, spec.maxEnts, le);
  return pos - off;
}

export interface EptLookupEntrySpec {
  object: string;
  /** Annotation text (ASCII, at most 63 chars); written with its NUL. */
  annotation: string;
  /** Tower octets, or null for a null tower referent. */
  tower: Uint8Array | null;
}

export interface EptLookupResponseSpec {
  ndr64: boolean;
  littleEndian?: boolean;
  entryHandle?: Uint8Array;
  entries: EptLookupEntrySpec[];
  /** Conformance of the entries array (the request's max_ents); default entries.length. */
  maxEnts?: number;
  status: number;
}

/** Writes an ept_lookup response stub at `off`; returns the bytes written. Tower referents count from 1. */
export function writeEptLookupResponse(buf: Uint8Array, off: number, spec: EptLookupResponseSpec): number {
  const le = spec.littleEndian ?? true;
  const ndr64 = spec.ndr64;
  const base = off;
  const n = spec.entries.length;
  let pos = writeHandle(buf, base, off, spec.entryHandle);
  pos = writeU32(buf, base, pos, n, le);
  pos = writeCount(buf, base, pos, spec.maxEnts ?? n, ndr64, le);
  pos = writeCount(buf, base, pos, 0, ndr64, le);
  pos = writeCount(buf, base, pos, n, ndr64, le);
  let ref = 1;
  for (const e of spec.entries) {
    if (e.annotation.length >= EPT_MAX_ANNOTATION_SIZE) throw new RangeError('annotation longer than 63 characters');
    pos = zeroPad(buf, pos, align(pos, base, countSize(ndr64)));
    writeNdrUuid(buf, pos, e.object, le);
    pos += UUID_LEN;
    pos = writeCount(buf, base, pos, e.tower === null ? 0 : ref++, ndr64, le);
    pos = writeCount(buf, base, pos, 0, ndr64, le);
    pos = writeCount(buf, base, pos, e.annotation.length + 1, ndr64, le);
    for (let i = 0; i < e.annotation.length; i++) buf[pos + i] = e.annotation.charCodeAt(i) & 0xff;
    buf[pos + e.annotation.length] = 0;
    pos += e.annotation.length + 1;
  }
  for (const e of spec.entries) if (e.tower !== null) pos = writeTwr(buf, base, pos, e.tower, ndr64, le);
  pos = writeU32(buf, base, pos, spec.status, le);
  return pos - off;
}

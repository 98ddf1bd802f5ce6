/**
 * ept_map (EPM opnum 3) request and response stubs, NDR and NDR64 (C706 App. O; MS-RPCE 2.2.5 for NDR64).
 *
 * Stub offset 0 is the first byte after the 24-byte request/response header; NDR alignment is
 * relative to it. `littleEndian` is the PDU's drep integer order; towers ignore it (tower.ts).
 * Every offset a view reports is absolute in `buf`, so the gateway can patch towers in place.
 */
import { DecodeResult, fail, MALFORMED, OK, UNSUPPORTED } from '../wire/status.js';
import type { Status } from '../wire/status.js';
import { align, rd32 } from '../dcerpc/ndr.js';
import { CONTEXT_HANDLE_LEN, MAX_TOWERS, UUID_LEN } from './constants.js';
import { TowerView } from './tower.js';
import {
  checkStub, countSize, EPM_ERR_REFERENTS_PAST_END, EPM_ERR_TOO_MANY, EPM_ERR_TRUNCATED, isNonNull,
  growTowerViews, NIL_UUID, readArrayHeader, readTail, readTwr, writeCount, writeHandle, writeNdrUuid,
  writeTwr, writeU32,
} from './ndr-stub.js';

/** entry_handle (20) + max_towers (4): the request's tail after the tower. */
const MAP_REQ_TAIL_LEN = CONTEXT_HANDLE_LEN + 4;
/** Referent ids Windows Server 2003 insists on in a request (impacket hept_map note, B.3). */
const REQ_OBJECT_REFERENT = 1;
const REQ_TOWER_REFERENT = 2;
/** Windows numbers response tower referents from 3 (MS trace, and real NDR captures). */
const RESP_FIRST_REFERENT = 3;

export class EptMapRequestView extends DecodeResult {
  objectPresent = false;
  /** Absolute offset of the object UUID (NDR UUID: first three fields in drep order); -1 if NULL. */
  objectUuidOff = -1;
  towerPresent = false;
  /** Absolute offset and length of the map_tower octets; -1/0 if NULL. */
  towerOff = -1;
  towerLen = 0;
  tower = new TowerView();
  entryHandleOff = -1;
  maxTowers = 0;
}

/**
 * Decodes an ept_map request stub.
 *
 * NDR (4-byte counts):            NDR64 (8-byte counts and referents, aligned to 8):
 *   0  object referent u32          0  object referent u64
 *   4  [object UUID 16]             8  [object UUID 16]
 *   .. map_tower referent u32       .. map_tower referent u64
 *   .. [max_count u32               .. [max_count u64
 *       tower_length u32                tower_length u32
 *       octets[tower_length]]           octets[tower_length]]
 *   .. pad to 4                     .. pad to 4 (or 8, see readTail)
 *   .. entry_handle 20              .. entry_handle 20
 *   .. max_towers u32               .. max_towers u32
 * Integers in drep order (`littleEndian`). With one 75-byte tower: 132 bytes (NDR), 144 (NDR64).
 * The stub must end with max_towers (no trailing bytes).
 */
export function readEptMapRequest(
  buf: Uint8Array, stubOff: number, stubLen: number, ndr64: boolean, littleEndian: boolean, out: EptMapRequestView,
): Status {
  resetRequest(out);
  if (!checkStub(buf, stubOff, stubLen, out)) return MALFORMED;
  const base = stubOff;
  const end = stubOff + stubLen;
  const cs = countSize(ndr64);
  let pos = base;
  if (pos + cs > end) return fail(out, MALFORMED, pos, EPM_ERR_TRUNCATED);
  if (isNonNull(buf, pos, cs)) {
    pos += cs;
    if (pos + UUID_LEN > end) return fail(out, MALFORMED, pos, EPM_ERR_TRUNCATED);
    out.objectPresent = true;
    out.objectUuidOff = pos;
    pos += UUID_LEN;
  } else {
    pos += cs;
  }
  pos = align(pos, base, cs);
  if (pos + cs > end) return fail(out, MALFORMED, pos, EPM_ERR_TRUNCATED);
  const towerRefOff = pos;
  pos += cs;
  if (isNonNull(buf, towerRefOff, cs)) {
    pos = readTwr(buf, base, pos, end, ndr64, littleEndian, out.tower, out);
    if (pos < 0) return MALFORMED;
    out.towerPresent = true;
    out.towerOff = out.tower.off;
    out.towerLen = out.tower.len;
  }
  const tail = readTail(pos, base, end, ndr64, MAP_REQ_TAIL_LEN, out);
  if (tail < 0) return MALFORMED;
  out.entryHandleOff = tail;
  out.maxTowers = rd32(buf, tail + CONTEXT_HANDLE_LEN, littleEndian);
  return OK;
}

function resetRequest(out: EptMapRequestView): void {
  out.errOffset = 0;
  out.errReason = '';
  out.needed = 0;
  out.objectPresent = false;
  out.objectUuidOff = -1;
  out.towerPresent = false;
  out.towerOff = -1;
  out.towerLen = 0;
  out.tower.reset();
  out.entryHandleOff = -1;
  out.maxTowers = 0;
}

export class EptMapResponseView extends DecodeResult {
  entryHandleOff = -1;
  numTowers = 0;
  /** Conformant-varying array header of the towers array. */
  maxCount = 0;
  offset = 0;
  actualCount = 0;
  /** Towers decoded (non-null referents); towers[0..towerCount) are valid. */
  towerCount = 0;
  towers: TowerView[] = [];
  /** Absolute offset and length of each decoded tower's octets. */
  towerOff = new Int32Array(MAX_TOWERS);
  towerLen = new Int32Array(MAX_TOWERS);
  /** Index in the towers array (0..actualCount) of each decoded tower: null referents are skipped. */
  towerIndex = new Int32Array(MAX_TOWERS);
  /** error_status_t: 0 or EPT_S_NOT_REGISTERED (0x16c9a0d6)... */
  status = 0;
  statusOff = -1;
}

/**
 * Decodes an ept_map response stub.
 *
 * NDR:                                  NDR64:
 *   0  entry_handle 20                    0  entry_handle 20
 *  20  num_towers u32                    20  num_towers u32
 *  24  max_count u32                     24  max_count u64
 *  28  offset u32                        32  offset u64
 *  32  actual_count u32 (= num_towers)   40  actual_count u64
 *  36  actual_count x referent u32       48  actual_count x referent u64
 *  ..  per non-null referent, in order: twr_t {max_count, tower_length u32, octets}, each
 *      twr_t aligned 4 (NDR) / 8 (NDR64)
 *  ..  status u32, aligned 4, the last 4 bytes of the stub (B.4: 1 tower -> 128 bytes NDR;
 *      2 towers -> 216 NDR, 244 NDR64)
 * A response with no tower and status 0x16c9a0d6 (not registered) is OK.
 */
export function readEptMapResponse(
  buf: Uint8Array, stubOff: number, stubLen: number, ndr64: boolean, littleEndian: boolean, out: EptMapResponseView,
): Status {
  resetResponse(out);
  if (!checkStub(buf, stubOff, stubLen, out)) return MALFORMED;
  const base = stubOff;
  const end = stubOff + stubLen;
  const cs = countSize(ndr64);
  if (base + CONTEXT_HANDLE_LEN + 4 > end) return fail(out, MALFORMED, base, EPM_ERR_TRUNCATED);
  out.entryHandleOff = base;
  out.numTowers = rd32(buf, base + CONTEXT_HANDLE_LEN, littleEndian);
  let pos = readArrayHeader(buf, base, base + CONTEXT_HANDLE_LEN + 4, end, ndr64, littleEndian, out.numTowers, out);
  if (pos < 0) return MALFORMED;
  const n = out.actualCount;
  if (n > (end - pos) / cs) return fail(out, MALFORMED, pos, EPM_ERR_REFERENTS_PAST_END);
  if (n > MAX_TOWERS) return fail(out, UNSUPPORTED, pos, EPM_ERR_TOO_MANY);
  growTowerViews(out.towers, n);
  const refsOff = pos;
  pos += n * cs;
  let k = 0;
  for (let i = 0; i < n; i++) {
    if (!isNonNull(buf, refsOff + i * cs, cs)) continue;
    const tower = out.towers[k]!;
    pos = readTwr(buf, base, pos, end, ndr64, littleEndian, tower, out);
    if (pos < 0) return MALFORMED;
    out.towerOff[k] = tower.off;
    out.towerLen[k] = tower.len;
    out.towerIndex[k] = i;
    k++;
    out.towerCount = k;
  }
  const statusOff = readTail(pos, base, end, ndr64, 4, out);
  if (statusOff < 0) return MALFORMED;
  out.statusOff = statusOff;
  out.status = rd32(buf, statusOff, littleEndian);
  return OK;
}

function resetResponse(out: EptMapResponseView): void {
  out.errOffset = 0;
  out.errReason = '';
  out.needed = 0;
  out.entryHandleOff = -1;
  out.numTowers = 0;
  out.maxCount = 0;
  out.offset = 0;
  out.actualCount = 0;
  out.towerCount = 0;
  out.status = 0;
  out.statusOff = -1;
}

// ---- encoders ----

export interface EptMapRequestSpec {
  ndr64: boolean;
  /** drep byte order of the integers; default true. Towers are written as given. */
  littleEndian?: boolean;
  /** Object UUID; undefined = nil UUID sent by reference (as Windows does), null = NULL pointer. */
  object?: string | null;
  /** Tower octets (e.g. from buildTower), or null for a NULL map_tower. */
  tower: Uint8Array | null;
  entryHandle?: Uint8Array;
  maxTowers: number;
}

/** Writes an ept_map request stub at `off` (stub start); returns the bytes written. */
export function writeEptMapRequest(buf: Uint8Array, off: number, spec: EptMapRequestSpec): number {
  const le = spec.littleEndian ?? true;
  const ndr64 = spec.ndr64;
  const base = off;
  let pos = off;
  if (spec.object === null) {
    pos = writeCount(buf, base, pos, 0, ndr64, le);
  } else {
    pos = writeCount(buf, base, pos, REQ_OBJECT_REFERENT, ndr64, le);
    writeNdrUuid(buf, pos, spec.object ?? NIL_UUID, le);
    pos += UUID_LEN;
  }
  if (spec.tower === null) {
    pos = writeCount(buf, base, pos, 0, ndr64, le);
  } else {
    pos = writeCount(buf, base, pos, REQ_TOWER_REFERENT, ndr64, le);
    pos = writeTwr(buf, base, pos, spec.tower, ndr64, le);
  }
  pos = writeHandle(buf, base, pos, spec.entryHandle);
  pos = writeU32(buf, base, pos, spec.maxTowers, le);
  return pos - off;
}

export interface EptMapResponseSpec {
  ndr64: boolean;
  littleEndian?: boolean;
  entryHandle?: Uint8Array;
  /** Tower octets; a null element is sent as a null referent. */
  towers: (Uint8Array | null)[];
  /** Conformance of the towers array (the request's max_towers); default towers.length. */
  maxTowers?: number;
  status: number;
}

/** Writes an ept_map response stub at `off`; returns the bytes written. Referent ids count from 3. */
export function writeEptMapResponse(buf: Uint8Array, off: number, spec: EptMapResponseSpec): number {
  const le = spec.littleEndian ?? true;
  const ndr64 = spec.ndr64;
  const base = off;
  const n = spec.towers.length;
  let pos = writeHandle(buf, base, off, spec.entryHandle);
  pos = writeU32(buf, base, pos, n, le);
  pos = writeCount(buf, base, pos, spec.maxTowers ?? n, ndr64, le);
  pos = writeCount(buf, base, pos, 0, ndr64, le);
  pos = writeCount(buf, base, pos, n, ndr64, le);
  let ref = RESP_FIRST_REFERENT;
  for (const t of spec.towers) pos = writeCount(buf, base, pos, t === null ? 0 : ref++, ndr64, le);
  for (const t of spec.towers) if (t !== null) pos = writeTwr(buf, base, pos, t, ndr64, le);
  pos = writeU32(buf, base, pos, spec.status, le);
  return pos - off;
}

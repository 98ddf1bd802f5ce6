import { describe, it, expect } from 'vitest';
import { MALFORMED, OK, UNSUPPORTED } from '../../src/wire/status.js';
import { uuidToString } from '../../src/dcerpc/uuid.js';
import { EPT_S_NOT_REGISTERED, MAX_TOWERS, PROTO_NCACN_IP_TCP, PROTO_NCACN_NP } from '../../src/epm/constants.js';
import {
  EptMapRequestView, EptMapResponseView, readEptMapRequest, readEptMapResponse, writeEptMapRequest,
  writeEptMapResponse,
} from '../../src/epm/ept-map.js';
import type { EptMapResponseSpec } from '../../src/epm/ept-map.js';
import {
  EPM_ERR_ACTUAL_GT_MAX, EPM_ERR_COUNT_MISMATCH, EPM_ERR_COUNT_TOO_LARGE, EPM_ERR_REFERENTS_PAST_END,
  EPM_ERR_STUB_PAST_BUFFER, EPM_ERR_TOO_MANY, EPM_ERR_TOWER_PAST_END, EPM_ERR_TRAILING,
  EPM_ERR_TRUNCATED, EPM_ERR_TWR_LEN_MISMATCH, EPM_ERR_TWR_PAST_END,
} from '../../src/epm/ndr-stub.js';
import { TOWER_ERR_FLOOR_COUNT, towerUuidToString } from '../../src/epm/tower.js';
import { ipv4ToString } from '../../src/wire/addr.js';
import {
  IMPACKET_MAP_REQ_NP_NDR, IMPACKET_MAP_REQ_NP_NDR64, IMPACKET_MAP_RESP_TCP_NP_NDR,
  IMPACKET_MAP_RESP_TCP_NP_NDR64,
} from './impacket-vectors.js';
import {
  cat, EMSMDB, filled, hex, NSPI, placed, TOWER_EMSMDB_REQ, TOWER_EMSMDB_TCP, TOWER_NSPI_NP,
  TOWER_NSPI_TCP,
} from './vectors.js';

const S = 24; // stub offset inside the test buffers (as after a 24-byte response header)
const Z20 = '00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00';
const NIL = '00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00';

/** protocol-notes B.3, NDR: 132 bytes with the 75-byte EMSMDB request tower. */
const MAP_REQ_NDR = cat(
  hex(`
    01 00 00 00      // 0   object referent id 1
    ${NIL}           // 4   object UUID: nil
    02 00 00 00      // 20  map_tower referent id 2
    4b 00 00 00      // 24  twr_t max_count 75 (conformance hoisted to the front)
    4b 00 00 00      // 28  tower_length 75
  `),
  TOWER_EMSMDB_REQ,  // 32..106 tower octets
  hex(`
    00               // 107 pad to 4
    ${Z20}           // 108 entry_handle (zero: first call)
    04 00 00 00      // 128 max_towers 4
  `),
);

/** B.3, NDR64: 144 bytes. */
const MAP_REQ_NDR64 = cat(
  hex(`
    01 00 00 00 00 00 00 00   // 0   object referent u64
    ${NIL}                    // 8   object UUID
    02 00 00 00 00 00 00 00   // 24  map_tower referent u64
    4b 00 00 00 00 00 00 00   // 32  max_count u64
    4b 00 00 00               // 40  tower_length u32
  `),
  TOWER_EMSMDB_REQ,           // 44..118
  hex(`
    00                        // 119 pad to 4
    ${Z20}                    // 120 entry_handle
    04 00 00 00               // 140 max_towers
  `),
);

/** B.4, NDR, one tower: 128 bytes (the 2003 Exchange answer for EMSMDB, frame 705). */
const MAP_RESP_NDR_1 = cat(
  hex(`
    ${Z20}           // 0   entry_handle
    01 00 00 00      // 20  num_towers 1
    04 00 00 00      // 24  max_count 4 (the request's max_towers)
    00 00 00 00      // 28  offset 0
    01 00 00 00      // 32  actual_count 1
    03 00 00 00      // 36  tower referent id 3
    4b 00 00 00      // 40  max_count 75
    4b 00 00 00      // 44  tower_length 75
  `),
  TOWER_EMSMDB_TCP,  // 48..122: port at 112..113, IPv4 at 119..122
  hex(`
    00               // 123 pad
    00 00 00 00      // 124 status 0
  `),
);

/** B.4, NDR, two towers: 216 bytes. */
const MAP_RESP_NDR_2 = cat(
  hex(`
    ${Z20}                       // 0
    02 00 00 00                  // 20  num_towers 2
    04 00 00 00 00 00 00 00      // 24  max_count 4, 28 offset 0
    02 00 00 00                  // 32  actual_count 2
    03 00 00 00 04 00 00 00      // 36  referent 3, 40 referent 4
    4b 00 00 00 4b 00 00 00      // 44  tower 1 max_count, 48 tower_length
  `),
  TOWER_EMSMDB_TCP,              // 52..126
  hex(`
    00                           // 127 pad
    4b 00 00 00 4b 00 00 00      // 128 tower 2 max_count, 132 tower_length
  `),
  TOWER_NSPI_TCP,                // 136..210
  hex(`
    00                           // 211 pad
    00 00 00 00                  // 212 status
  `),
);

/** B.4, NDR64, two towers: 244 bytes (frag_length 268 in the MS trace). */
const MAP_RESP_NDR64_2 = cat(
  hex(`
    ${Z20}                       // 0
    02 00 00 00                  // 20  num_towers u32
    04 00 00 00 00 00 00 00      // 24  max_count u64
    00 00 00 00 00 00 00 00      // 32  offset u64
    02 00 00 00 00 00 00 00      // 40  actual_count u64
    03 00 00 00 00 00 00 00      // 48  referent 3 (u64)
    04 00 00 00 00 00 00 00      // 56  referent 4
    4b 00 00 00 00 00 00 00      // 64  tower 1 max_count u64
    4b 00 00 00                  // 72  tower_length
  `),
  TOWER_EMSMDB_TCP,              // 76..150
  hex(`
    00                           // 151 pad ("NDR-Padding: 00" in the trace)
    4b 00 00 00 00 00 00 00      // 152 tower 2 max_count u64
    4b 00 00 00                  // 160 tower_length
  `),
  TOWER_NSPI_TCP,                // 164..238
  hex(`
    00                           // 239 pad
    00 00 00 00                  // 240 status
  `),
);

function decodeReq(stub: Uint8Array, ndr64: boolean, le = true): { st: number; v: EptMapRequestView; buf: Uint8Array } {
  const buf = placed(stub, S, 5);
  const v = new EptMapRequestView();
  const st = readEptMapRequest(buf, S, stub.length, ndr64, le, v);
  return { st, v, buf };
}

function decodeResp(stub: Uint8Array, ndr64: boolean, le = true): { st: number; v: EptMapResponseView; buf: Uint8Array } {
  const buf = placed(stub, S, 5);
  const v = new EptMapResponseView();
  const st = readEptMapResponse(buf, S, stub.length, ndr64, le, v);
  return { st, v, buf };
}

/** Encodes at S inside a 0xa5 buffer; checks nothing outside the stub was touched. */
function encodeAt(write: (buf: Uint8Array, off: number) => number, size: number): Uint8Array {
  const buf = filled(S + size + 8);
  const n = write(buf, S);
  expect(buf.subarray(0, S)).toEqual(filled(S));
  expect(buf.subarray(S + n)).toEqual(filled(buf.length - S - n));
  return buf.slice(S, S + n);
}

describe('ept_map request (B.3)', () => {
  it('NDR: 132 bytes, offsets as in B.3', () => {
    expect(MAP_REQ_NDR.length).toBe(132);
    const { st, v, buf } = decodeReq(MAP_REQ_NDR, false);
    expect(st).toBe(OK);
    expect(v.objectPresent).toBe(true);
    expect(v.objectUuidOff).toBe(S + 4);
    expect(v.towerPresent).toBe(true);
    expect(v.towerOff).toBe(S + 32);
    expect(v.towerLen).toBe(75);
    expect(towerUuidToString(buf, v.tower.ifUuidOff)).toBe(EMSMDB);
    expect(v.tower.ifMajor).toBe(0);
    expect(v.tower.ifMinor).toBe(81);
    expect(v.tower.protocol).toBe(PROTO_NCACN_IP_TCP);
    expect(v.tower.portOff).toBe(S + 32 + 64);
    expect(v.entryHandleOff).toBe(S + 108);
    expect(v.maxTowers).toBe(4);
  });

  it('NDR64: 144 bytes, offsets as in B.3', () => {
    expect(MAP_REQ_NDR64.length).toBe(144);
    const { st, v, buf } = decodeReq(MAP_REQ_NDR64, true);
    expect(st).toBe(OK);
    expect(v.objectUuidOff).toBe(S + 8);
    expect(v.towerOff).toBe(S + 44);
    expect(v.towerLen).toBe(75);
    expect(towerUuidToString(buf, v.tower.ifUuidOff)).toBe(EMSMDB);
    expect(v.entryHandleOff).toBe(S + 120);
    expect(v.maxTowers).toBe(4);
  });

  it('encodes both exactly (object sent by reference as a nil UUID, referents 1 and 2)', () => {
    for (const [ndr64, want] of [[false, MAP_REQ_NDR], [true, MAP_REQ_NDR64]] as const) {
      const got = encodeAt((b, o) => writeEptMapRequest(b, o, { ndr64, tower: TOWER_EMSMDB_REQ, maxTowers: 4 }), want.length);
      expect(got).toEqual(want);
    }
  });

  it('equals impacket for a NULL object and an 85-byte np tower, NDR and NDR64', () => {
    for (const [ndr64, want] of [[false, IMPACKET_MAP_REQ_NP_NDR], [true, IMPACKET_MAP_REQ_NP_NDR64]] as const) {
      const got = encodeAt((b, o) => writeEptMapRequest(b, o, { ndr64, object: null, tower: TOWER_NSPI_NP, maxTowers: 4 }), want.length);
      expect(got).toEqual(want);
      const { st, v } = decodeReq(want, ndr64);
      expect(st).toBe(OK);
      expect(v.objectPresent).toBe(false);
      expect(v.objectUuidOff).toBe(-1);
      expect(v.towerOff).toBe(S + (ndr64 ? 28 : 16));
      expect(v.tower.protocol).toBe(PROTO_NCACN_NP);
      // the handle follows the 85-byte tower 4-aligned: 113 -> 116 (NDR64), 101 -> 104 (NDR)
      expect(v.entryHandleOff).toBe(S + (ndr64 ? 116 : 104));
      expect(v.maxTowers).toBe(4);
    }
  });

  it('NDR64 also accepts a twr_t padded to 8 (samba pidl style) when the stub ends right there', () => {
    const padded8 = cat(IMPACKET_MAP_REQ_NP_NDR64.subarray(0, 113), hex('00 00 00 00 00 00 00'), IMPACKET_MAP_REQ_NP_NDR64.subarray(116));
    expect(padded8.length).toBe(144);
    const { st, v } = decodeReq(padded8, true);
    expect(st).toBe(OK);
    expect(v.entryHandleOff).toBe(S + 120);
    expect(v.maxTowers).toBe(4);
  });

  it('NULL object and NULL tower: 32 bytes (NDR), 40 (NDR64)', () => {
    for (const [ndr64, len] of [[false, 32], [true, 40]] as const) {
      const stub = encodeAt((b, o) => writeEptMapRequest(b, o, { ndr64, object: null, tower: null, maxTowers: 1 }), len);
      expect(stub.length).toBe(len);
      const { st, v } = decodeReq(stub, ndr64);
      expect(st).toBe(OK);
      expect(v.objectPresent).toBe(false);
      expect(v.towerPresent).toBe(false);
      expect(v.towerOff).toBe(-1);
      expect(v.entryHandleOff).toBe(S + len - 24);
      expect(v.maxTowers).toBe(1);
    }
  });

  it('big-endian drep flips referents, counts and the object UUID fields, never the tower', () => {
    const stub = encodeAt((b, o) => writeEptMapRequest(b, o, {
      ndr64: false, littleEndian: false, object: EMSMDB, tower: TOWER_EMSMDB_REQ, maxTowers: 4,
    }), 132);
    expect(stub.subarray(0, 32)).toEqual(hex(`
      00 00 00 01                                        // object referent (BE)
      a4 f1 db 00 ca 47 10 67 b3 1f 00 dd 01 06 62 da    // object UUID, Data1-3 big-endian
      00 00 00 02  00 00 00 4b  00 00 00 4b              // map_tower referent, max_count, tower_length
    `));
    expect(stub.subarray(32, 107)).toEqual(TOWER_EMSMDB_REQ);
    expect(stub.subarray(128)).toEqual(hex('00 00 00 04'));
    const { st, v, buf } = decodeReq(stub, false, false);
    expect(st).toBe(OK);
    expect(uuidToString(buf, v.objectUuidOff, false)).toBe(EMSMDB);
    expect(towerUuidToString(buf, v.tower.ifUuidOff)).toBe(EMSMDB);
    expect(v.maxTowers).toBe(4);
    // the same bytes read as little-endian are a lie (max_count 0x4b000000)
    expect(decodeReq(stub, false, true).st).toBe(MALFORMED);
  });

  it('round trips: decode -> encode gives the same bytes', () => {
    for (const [ndr64, stub] of [[false, MAP_REQ_NDR], [true, MAP_REQ_NDR64], [false, IMPACKET_MAP_REQ_NP_NDR], [true, IMPACKET_MAP_REQ_NP_NDR64]] as const) {
      const { v, buf } = decodeReq(stub, ndr64);
      const again = encodeAt((b, o) => writeEptMapRequest(b, o, {
        ndr64,
        object: v.objectPresent ? uuidToString(buf, v.objectUuidOff) : null,
        tower: v.towerPresent ? buf.slice(v.towerOff, v.towerOff + v.towerLen) : null,
        entryHandle: buf.slice(v.entryHandleOff, v.entryHandleOff + 20),
        maxTowers: v.maxTowers,
      }), stub.length);
      expect(again).toEqual(stub);
    }
  });

  it('malformed requests: exact reason and absolute offset', () => {
    const cases: [Uint8Array, boolean, string, number][] = [
      // tower_length 76 with max_count 75
      [patch(MAP_REQ_NDR, 28, 0x4c), false, EPM_ERR_TWR_LEN_MISMATCH, 28],
      // max_count = tower_length = 200: beyond the 132-byte stub
      [patch(patch(MAP_REQ_NDR, 24, 200), 28, 200), false, EPM_ERR_TOWER_PAST_END, 28],
      // stub cut inside the tower
      [MAP_REQ_NDR.subarray(0, 60), false, EPM_ERR_TOWER_PAST_END, 28],
      // cut inside max_towers
      [MAP_REQ_NDR.subarray(0, 130), false, EPM_ERR_TRUNCATED, 108],
      // one byte too many
      [cat(MAP_REQ_NDR, hex('00')), false, EPM_ERR_TRAILING, 132],
      // floor_count 6 inside the tower: located inside the stub
      [patch(MAP_REQ_NDR, 32, 6), false, TOWER_ERR_FLOOR_COUNT, 107],
      // NDR64 max_count >= 2^53
      [patch(MAP_REQ_NDR64, 38, 0x20), true, EPM_ERR_COUNT_TOO_LARGE, 32],
      // cut inside the object UUID
      [MAP_REQ_NDR.subarray(0, 10), false, EPM_ERR_TRUNCATED, 4],
      [MAP_REQ_NDR.subarray(0, 2), false, EPM_ERR_TRUNCATED, 0],
    ];
    for (const [stub, ndr64, reason, at] of cases) {
      const { st, v } = decodeReq(stub, ndr64);
      expect({ st, reason: v.errReason, at: v.errOffset - S }).toEqual({ st: MALFORMED, reason, at });
    }
  });

  it('a stub that does not fit the buffer is refused, not read', () => {
    const v = new EptMapRequestView();
    expect(readEptMapRequest(MAP_REQ_NDR, 10, 132, false, true, v)).toBe(MALFORMED);
    expect(v.errReason).toBe(EPM_ERR_STUB_PAST_BUFFER);
  });
});

describe('ept_map response (B.4)', () => {
  it('NDR, one tower: 128 bytes, port at stub 112..113 and IPv4 at 119..122', () => {
    expect(MAP_RESP_NDR_1.length).toBe(128);
    const { st, v, buf } = decodeResp(MAP_RESP_NDR_1, false);
    expect(st).toBe(OK);
    expect(v.entryHandleOff).toBe(S);
    expect(v.numTowers).toBe(1);
    expect(v.maxCount).toBe(4);
    expect(v.offset).toBe(0);
    expect(v.actualCount).toBe(1);
    expect(v.towerCount).toBe(1);
    expect(v.towerOff[0]).toBe(S + 48);
    expect(v.towerLen[0]).toBe(75);
    expect(v.towerIndex[0]).toBe(0);
    const t = v.towers[0]!;
    expect(towerUuidToString(buf, t.ifUuidOff)).toBe(EMSMDB);
    expect(t.protocol).toBe(PROTO_NCACN_IP_TCP);
    expect(t.portOff).toBe(S + 112);
    expect(t.port).toBe(1032);
    expect(t.ipv4Off).toBe(S + 119);
    expect(ipv4ToString(t.ipv4)).toBe('192.168.0.2');
    expect(v.statusOff).toBe(S + 124);
    expect(v.status).toBe(0);
  });

  it('ignores the pad byte value (Windows 2003 sent 0x08 there)', () => {
    const { st, v } = decodeResp(patch(MAP_RESP_NDR_1, 123, 0x08), false);
    expect(st).toBe(OK);
    expect(v.status).toBe(0);
  });

  it('the reported offsets are the bytes to patch: rewrite port and IPv4 in place', () => {
    const { v, buf } = decodeResp(MAP_RESP_NDR_1, false);
    const t = v.towers[0]!;
    buf[t.portOff] = 0xea; // 60000 big-endian
    buf[t.portOff + 1] = 0x60;
    buf.set([203, 0, 113, 7], t.ipv4Off);
    const again = new EptMapResponseView();
    expect(readEptMapResponse(buf, S, 128, false, true, again)).toBe(OK);
    expect(again.towers[0]!.port).toBe(60000);
    expect(ipv4ToString(again.towers[0]!.ipv4)).toBe('203.0.113.7');
    expect(buf.subarray(0, S)).toEqual(filled(S));
  });

  it('NDR, two towers: 216 bytes with the offsets of B.4', () => {
    expect(MAP_RESP_NDR_2.length).toBe(216);
    const { st, v, buf } = decodeResp(MAP_RESP_NDR_2, false);
    expect(st).toBe(OK);
    expect(v.towerCount).toBe(2);
    expect([v.towerOff[0], v.towerOff[1]]).toEqual([S + 52, S + 136]);
    expect(v.towers[0]!.port).toBe(1032);
    expect(towerUuidToString(buf, v.towers[1]!.ifUuidOff)).toBe(NSPI);
    expect(v.towers[1]!.port).toBe(4997);
    expect(v.towers[1]!.portOff).toBe(S + 136 + 64);
    expect(v.statusOff).toBe(S + 212);
  });

  it('NDR64, two towers: 244 bytes with the offsets of B.4', () => {
    expect(MAP_RESP_NDR64_2.length).toBe(244);
    const { st, v } = decodeResp(MAP_RESP_NDR64_2, true);
    expect(st).toBe(OK);
    expect(v.numTowers).toBe(2);
    expect(v.maxCount).toBe(4);
    expect(v.actualCount).toBe(2);
    expect([v.towerOff[0], v.towerOff[1]]).toEqual([S + 76, S + 164]);
    expect(v.towers[0]!.portOff).toBe(S + 76 + 64);
    expect(v.towers[1]!.ipv4Off).toBe(S + 164 + 71);
    expect(v.statusOff).toBe(S + 240);
  });

  it('encodes the three layouts exactly', () => {
    const cases: [EptMapResponseSpec, Uint8Array][] = [
      [{ ndr64: false, towers: [TOWER_EMSMDB_TCP], maxTowers: 4, status: 0 }, MAP_RESP_NDR_1],
      [{ ndr64: false, towers: [TOWER_EMSMDB_TCP, TOWER_NSPI_TCP], maxTowers: 4, status: 0 }, MAP_RESP_NDR_2],
      [{ ndr64: true, towers: [TOWER_EMSMDB_TCP, TOWER_NSPI_TCP], maxTowers: 4, status: 0 }, MAP_RESP_NDR64_2],
    ];
    for (const [spec, want] of cases) expect(encodeAt((b, o) => writeEptMapResponse(b, o, spec), want.length)).toEqual(want);
  });

  it('equals impacket with a tcp and an 85-byte np tower, NDR and NDR64 (status 4-aligned after it)', () => {
    for (const [ndr64, want, status] of [[false, IMPACKET_MAP_RESP_TCP_NP_NDR, 224], [true, IMPACKET_MAP_RESP_TCP_NP_NDR64, 252]] as const) {
      const got = encodeAt((b, o) => writeEptMapResponse(b, o, { ndr64, towers: [TOWER_NSPI_TCP, TOWER_NSPI_NP], status: 0 }), want.length);
      expect(got).toEqual(want);
      const { st, v, buf } = decodeResp(want, ndr64);
      expect(st).toBe(OK);
      expect(v.towerCount).toBe(2);
      expect(v.towers[1]!.protocol).toBe(PROTO_NCACN_NP);
      expect(String.fromCharCode(...buf.subarray(v.towers[1]!.pipeOff, v.towers[1]!.pipeOff + v.towers[1]!.pipeLen))).toBe('\\PIPE\\x');
      expect(v.statusOff).toBe(S + status);
    }
  });

  it('NDR64 status 8-aligned after an odd tower (samba style) is accepted too', () => {
    const padded8 = cat(IMPACKET_MAP_RESP_TCP_NP_NDR64.subarray(0, 249), hex('00 00 00 00 00 00 00'), hex('d6 a0 c9 16'));
    const { st, v } = decodeResp(padded8, true);
    expect(st).toBe(OK);
    expect(v.statusOff).toBe(S + 256);
    expect(v.status).toBe(EPT_S_NOT_REGISTERED);
  });

  it('null referents are skipped; towerIndex keeps the array position', () => {
    for (const ndr64 of [false, true]) {
      const stub = encodeAt((b, o) => writeEptMapResponse(b, o, { ndr64, towers: [null, TOWER_EMSMDB_TCP, null, TOWER_NSPI_TCP], status: 0 }), 400);
      const { st, v } = decodeResp(stub, ndr64);
      expect(st).toBe(OK);
      expect(v.actualCount).toBe(4);
      expect(v.towerCount).toBe(2);
      expect([v.towerIndex[0], v.towerIndex[1]]).toEqual([1, 3]);
      expect([v.towers[0]!.port, v.towers[1]!.port]).toEqual([1032, 4997]);
    }
  });

  it('no tower and EPT_S_NOT_REGISTERED is OK: 40 bytes NDR, 52 NDR64 (the dcshadow answers)', () => {
    const ndr64Stub = hex(`
      ${Z20}                    // entry_handle
      00 00 00 00               // 20 num_towers 0
      04 00 00 00 00 00 00 00   // 24 max_count 4
      00 00 00 00 00 00 00 00   // 32 offset
      00 00 00 00 00 00 00 00   // 40 actual_count 0
      d6 a0 c9 16               // 48 status 0x16c9a0d6
    `);
    expect(encodeAt((b, o) => writeEptMapResponse(b, o, { ndr64: true, towers: [], maxTowers: 4, status: EPT_S_NOT_REGISTERED }), 52)).toEqual(ndr64Stub);
    for (const [ndr64, stub] of [[true, ndr64Stub], [false, encodeAt((b, o) => writeEptMapResponse(b, o, { ndr64: false, towers: [], maxTowers: 4, status: EPT_S_NOT_REGISTERED }), 40)]] as const) {
      expect(stub.length).toBe(ndr64 ? 52 : 40);
      const { st, v } = decodeResp(stub, ndr64);
      expect(st).toBe(OK);
      expect(v.towerCount).toBe(0);
      expect(v.status).toBe(EPT_S_NOT_REGISTERED);
    }
  });

  it('big-endian drep: counts and status flip, towers do not', () => {
    const stub = encodeAt((b, o) => writeEptMapResponse(b, o, { ndr64: false, littleEndian: false, towers: [TOWER_EMSMDB_TCP], maxTowers: 4, status: EPT_S_NOT_REGISTERED }), 128);
    expect(stub.subarray(20, 48)).toEqual(hex('00 00 00 01  00 00 00 04  00 00 00 00  00 00 00 01  00 00 00 03  00 00 00 4b  00 00 00 4b'));
    expect(stub.subarray(48, 123)).toEqual(TOWER_EMSMDB_TCP);
    expect(stub.subarray(124)).toEqual(hex('16 c9 a0 d6'));
    const { st, v } = decodeResp(stub, false, false);
    expect(st).toBe(OK);
    expect(v.towers[0]!.port).toBe(1032);
    expect(v.towers[0]!.portOff).toBe(S + 112);
    expect(v.status).toBe(EPT_S_NOT_REGISTERED);
    // and NDR64 big-endian
    const stub64 = encodeAt((b, o) => writeEptMapResponse(b, o, { ndr64: true, littleEndian: false, towers: [TOWER_EMSMDB_TCP, TOWER_NSPI_TCP], maxTowers: 4, status: 0 }), 244);
    expect(stub64.subarray(24, 32)).toEqual(hex('00 00 00 00 00 00 00 04'));
    const d64 = decodeResp(stub64, true, false);
    expect(d64.st).toBe(OK);
    expect([d64.v.towerOff[0], d64.v.towerOff[1]]).toEqual([S + 76, S + 164]);
  });

  it('round trips: decode -> encode gives the same bytes', () => {
    for (const [ndr64, stub] of [[false, MAP_RESP_NDR_1], [false, MAP_RESP_NDR_2], [true, MAP_RESP_NDR64_2], [false, IMPACKET_MAP_RESP_TCP_NP_NDR], [true, IMPACKET_MAP_RESP_TCP_NP_NDR64]] as const) {
      const { v, buf } = decodeResp(stub, ndr64);
      const towers: Uint8Array[] = [];
      for (let i = 0; i < v.towerCount; i++) towers.push(buf.slice(v.towerOff[i]!, v.towerOff[i]! + v.towerLen[i]!));
      const again = encodeAt((b, o) => writeEptMapResponse(b, o, {
        ndr64, entryHandle: buf.slice(v.entryHandleOff, v.entryHandleOff + 20), towers, maxTowers: v.maxCount, status: v.status,
      }), stub.length);
      expect(again).toEqual(stub);
    }
  });
});

describe('ept_map response: lies and truncations, exact status, reason and offset', () => {
  function expectFail(stub: Uint8Array, ndr64: boolean, status: number, reason: string, stubOffset: number): void {
    const { st, v } = decodeResp(stub, ndr64);
    expect({ st, reason: v.errReason, at: v.errOffset - S }).toEqual({ st: status, reason, at: stubOffset });
  }

  it('num_towers > actual_count', () => expectFail(patch(MAP_RESP_NDR_1, 20, 2), false, MALFORMED, EPM_ERR_COUNT_MISMATCH, 32));

  it('actual_count > max_count', () => {
    const stub = patch(patch(patch(MAP_RESP_NDR_2, 24, 1), 20, 2), 32, 2);
    expectFail(stub, false, MALFORMED, EPM_ERR_ACTUAL_GT_MAX, 32);
  });

  it('offset + actual_count > max_count', () => expectFail(patch(MAP_RESP_NDR_1, 28, 4), false, MALFORMED, EPM_ERR_ACTUAL_GT_MAX, 32));

  it('conformance / tower_length mismatch', () => expectFail(patch(MAP_RESP_NDR_1, 44, 0x4a), false, MALFORMED, EPM_ERR_TWR_LEN_MISMATCH, 44));

  it('tower_length beyond the data', () => {
    expectFail(patch(patch(MAP_RESP_NDR_1, 40, 0xf0), 44, 0xf0), false, MALFORMED, EPM_ERR_TOWER_PAST_END, 44);
  });

  it('a non-null referent whose twr_t lies past the end', () => {
    // actual_count 2 with two referents present but only one twr_t: the second header is missing
    const stub = cat(hex(`${Z20} 02 00 00 00 04 00 00 00 00 00 00 00 02 00 00 00 03 00 00 00 04 00 00 00 4b 00 00 00 4b 00 00 00`), TOWER_EMSMDB_TCP, hex('00 00 00 00 00'));
    expectFail(stub, false, MALFORMED, EPM_ERR_TWR_PAST_END, 128);
  });

  it('referent array longer than the stub', () => {
    const stub = hex(`${Z20} 64 00 00 00 64 00 00 00 00 00 00 00 64 00 00 00 03 00 00 00 00 00 00 00`);
    expectFail(stub, false, MALFORMED, EPM_ERR_REFERENTS_PAST_END, 36);
  });

  it('more towers than the view holds: UNSUPPORTED', () => {
    const n = MAX_TOWERS + 1;
    const stub = new Uint8Array(36 + 4 * n + 4);
    stub.set(hex(`${Z20}`), 0);
    for (const off of [20, 24, 32]) new DataView(stub.buffer).setUint32(off, n, true); // all referents NULL
    expectFail(stub, false, UNSUPPORTED, EPM_ERR_TOO_MANY, 36);
  });

  it('NDR64 count >= 2^53', () => {
    expectFail(patch(MAP_RESP_NDR64_2, 30, 0x20), true, MALFORMED, EPM_ERR_COUNT_TOO_LARGE, 24);
    expectFail(patch(MAP_RESP_NDR64_2, 70, 0x20), true, MALFORMED, EPM_ERR_COUNT_TOO_LARGE, 64);
    // 2^53 - 1 is representable; the array's max_count is an allocation size with no bytes
    // behind it (only actual_count elements travel), so it is not a lie
    const big = MAP_RESP_NDR64_2.slice();
    big.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0], 24);
    const { st, v } = decodeResp(big, true);
    expect(st).toBe(OK);
    expect(v.maxCount).toBe(2 ** 53 - 1);
    // but an actual_count that large is
    const many = MAP_RESP_NDR64_2.slice();
    many.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0], 40);
    expectFail(many, true, MALFORMED, EPM_ERR_COUNT_MISMATCH, 40);
  });

  it('a tower that is bad inside: the tower reason at its absolute offset', () => {
    expectFail(patch(MAP_RESP_NDR_1, 48, 6), false, MALFORMED, TOWER_ERR_FLOOR_COUNT, 123);
  });

  it('truncated status and trailing bytes', () => {
    expectFail(MAP_RESP_NDR_1.subarray(0, 126), false, MALFORMED, EPM_ERR_TRUNCATED, 124);
    expectFail(cat(MAP_RESP_NDR_1, hex('00 00 00 00')), false, MALFORMED, EPM_ERR_TRAILING, 128);
    expectFail(MAP_RESP_NDR_1.subarray(0, 22), false, MALFORMED, EPM_ERR_TRUNCATED, 0);
    expectFail(MAP_RESP_NDR_1.subarray(0, 30), false, MALFORMED, EPM_ERR_TRUNCATED, 24);
  });

  it('an NDR64 stub read as NDR, or the reverse, does not decode', () => {
    expect(decodeResp(MAP_RESP_NDR64_2, false).st).toBe(MALFORMED);
    expect(decodeResp(MAP_RESP_NDR_2, true).st).toBe(MALFORMED);
    expect(decodeReq(MAP_REQ_NDR64, false).st).toBe(MALFORMED);
    expect(decodeReq(MAP_REQ_NDR, true).st).toBe(MALFORMED);
  });
});

/** A copy of `bytes` with one byte changed. */
function patch(bytes: Uint8Array, off: number, value: number): Uint8Array {
  const c = bytes.slice();
  c[off] = value;
  return c;
}

import { describe, it, expect } from 'vitest';
import { MALFORMED, OK, UNSUPPORTED } from '../../src/wire/status.js';
import { uuidToString } from '../../src/dcerpc/uuid.js';
import {
  EPT_S_NOT_REGISTERED, MAX_ENTRIES, PROTO_NAMES, PROTO_NCACN_HTTP, RPC_C_EP_ALL_ELTS,
  RPC_C_EP_MATCH_BY_BOTH, RPC_C_EP_MATCH_BY_IF, RPC_C_VERS_EXACT,
} from '../../src/epm/constants.js';
import {
  EptLookupRequestView, EptLookupResponseView, readEptLookupRequest, readEptLookupResponse,
  writeEptLookupRequest, writeEptLookupResponse,
} from '../../src/epm/ept-lookup.js';
import type { EptLookupEntrySpec } from '../../src/epm/ept-lookup.js';
import {
  EPM_ERR_ACTUAL_GT_MAX, EPM_ERR_ANNOTATION_PAST_END, EPM_ERR_ANNOTATION_TOO_LONG,
  EPM_ERR_COUNT_MISMATCH, EPM_ERR_COUNT_TOO_LARGE, EPM_ERR_ENTRIES_PAST_END, EPM_ERR_TOO_MANY,
  EPM_ERR_TRAILING, EPM_ERR_TRUNCATED, EPM_ERR_TWR_LEN_MISMATCH, EPM_ERR_TWR_PAST_END,
} from '../../src/epm/ndr-stub.js';
import { towerPipeOrHost, towerUuidToString } from '../../src/epm/tower.js';
import {
  IMPACKET_LOOKUP_REQ_NDR, IMPACKET_LOOKUP_REQ_NDR64, IMPACKET_LOOKUP_RESP_NDR,
  IMPACKET_LOOKUP_RESP_NDR64,
} from './impacket-vectors.js';
import {
  cat, EMSMDB, filled, hex, NSPI, placed, TOWER_EMSMDB_LRPC, TOWER_EMSMDB_TCP, TOWER_NSPI_HTTP_0X20,
  TOWER_NSPI_NP,
} from './vectors.js';

const S = 24;
const Z20 = '00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00';
const NIL = '00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00';
/** A continuation handle: attributes 0 + UUID 3b5ffc7c-b092-4475-a3e3-e4d53df481df. */
const HANDLE = hex('00 00 00 00  7c fc 5f 3b 92 b0 75 44 a3 e3 e4 d5 3d f4 81 df');
const ANNOTATION = 'MS Exchange Directory NSP Interface';
/** "MS Exchange Directory NSP Interface\0", 36 bytes. */
const ANNOTATION_BYTES = cat(new TextEncoder().encode(ANNOTATION), hex('00'));

/**
 * NDR, one entry: the 2003 Exchange server's ept_lookup answer for NSPI over ncacn_http (188
 * bytes; that server used tower referent 3, our encoder numbers from 1).
 */
const LOOKUP_RESP_NDR_1 = cat(
  HANDLE,                     // 0   entry_handle (non-zero: more entries to fetch)
  hex(`
    01 00 00 00               // 20  num_ents 1
    01 00 00 00               // 24  max_count 1
    00 00 00 00               // 28  offset 0
    01 00 00 00               // 32  actual_count 1
    ${NIL}                    // 36  entry 0 object UUID (nil)
    01 00 00 00               // 52  tower referent (deferred)
    00 00 00 00               // 56  annotation offset 0
    24 00 00 00               // 60  annotation actual_count 36 (NUL included)
  `),
  ANNOTATION_BYTES,           // 64..99 (100 is 4-aligned: no pad)
  hex(`
    4b 00 00 00  4b 00 00 00  // 100 twr_t max_count, 104 tower_length
  `),
  TOWER_NSPI_HTTP_0X20,       // 108..182
  hex(`
    00                        // 183 pad
    00 00 00 00               // 184 status 0
  `),
);

/** The same answer in NDR64 (220 bytes): counts and referents u64, entries and twr_t 8-aligned. */
const LOOKUP_RESP_NDR64_1 = cat(
  HANDLE,                     // 0
  hex(`
    01 00 00 00               // 20  num_ents u32
    01 00 00 00 00 00 00 00   // 24  max_count u64
    00 00 00 00 00 00 00 00   // 32  offset u64
    01 00 00 00 00 00 00 00   // 40  actual_count u64
    ${NIL}                    // 48  object UUID
    01 00 00 00 00 00 00 00   // 64  tower referent u64
    00 00 00 00 00 00 00 00   // 72  annotation offset u64
    24 00 00 00 00 00 00 00   // 80  annotation actual_count u64
  `),
  ANNOTATION_BYTES,           // 88..123
  hex(`
    00 00 00 00               // 124 pad to 8
    4b 00 00 00 00 00 00 00   // 128 twr_t max_count u64
    4b 00 00 00               // 136 tower_length u32
  `),
  TOWER_NSPI_HTTP_0X20,       // 140..214
  hex(`
    00                        // 215 pad to 4
    00 00 00 00               // 216 status
  `),
);

/** The entries of the impacket vectors (impacket-vectors.ts). */
const ENTRIES: EptLookupEntrySpec[] = [
  { object: EMSMDB, annotation: 'Exchange', tower: TOWER_EMSMDB_TCP },
  { object: NSPI, annotation: '', tower: TOWER_NSPI_NP },
  { object: EMSMDB, annotation: 'ab', tower: null },
  { object: EMSMDB, annotation: 'lrpc x', tower: TOWER_EMSMDB_LRPC },
  { object: NSPI, annotation: ANNOTATION, tower: TOWER_NSPI_HTTP_0X20 },
];

/** The lookup-scan request: everything NULL, max_ents 1 (40 bytes). */
const LOOKUP_REQ_SCAN = hex(`
  00 00 00 00     // 0  inquiry_type 0 (all elements)
  00 00 00 00     // 4  object referent: NULL
  00 00 00 00     // 8  interface_id referent: NULL
  00 00 00 00     // 12 vers_option 0
  ${Z20}          // 16 entry_handle
  01 00 00 00     // 36 max_ents 1
`);

function decodeResp(stub: Uint8Array, ndr64: boolean, le = true): { st: number; v: EptLookupResponseView; buf: Uint8Array } {
  const buf = placed(stub, S, 5);
  const v = new EptLookupResponseView();
  const st = readEptLookupResponse(buf, S, stub.length, ndr64, le, v);
  return { st, v, buf };
}

function decodeReq(stub: Uint8Array, ndr64: boolean, le = true): { st: number; v: EptLookupRequestView; buf: Uint8Array } {
  const buf = placed(stub, S, 5);
  const v = new EptLookupRequestView();
  const st = readEptLookupRequest(buf, S, stub.length, ndr64, le, v);
  return { st, v, buf };
}

function encodeAt(write: (buf: Uint8Array, off: number) => number, size: number): Uint8Array {
  const buf = filled(S + size + 8);
  const n = write(buf, S);
  expect(buf.subarray(0, S)).toEqual(filled(S));
  expect(buf.subarray(S + n)).toEqual(filled(buf.length - S - n));
  return buf.slice(S, S + n);
}

function text(buf: Uint8Array, off: number, len: number): string {
  return String.fromCharCode(...buf.subarray(off, off + len));
}

function patch(bytes: Uint8Array, off: number, value: number): Uint8Array {
  const c = bytes.slice();
  c[off] = value;
  return c;
}

describe('ept_lookup response, NDR (layout of real Windows answers)', () => {
  it('decodes one entry: object, inline annotation, deferred ncacn_http tower with floor 0x20', () => {
    expect(LOOKUP_RESP_NDR_1.length).toBe(188);
    const { st, v, buf } = decodeResp(LOOKUP_RESP_NDR_1, false);
    expect(st).toBe(OK);
    expect(v.entryHandleOff).toBe(S);
    expect(v.numEnts).toBe(1);
    expect([v.maxCount, v.offset, v.actualCount]).toEqual([1, 0, 1]);
    expect(v.entryCount).toBe(1);
    expect(v.towerCount).toBe(1);
    expect(v.objectUuidOff[0]).toBe(S + 36);
    expect(uuidToString(buf, v.objectUuidOff[0]!)).toBe('00000000-0000-0000-0000-000000000000');
    expect(v.annotationOff[0]).toBe(S + 64);
    expect(v.annotationLen[0]).toBe(35);
    expect(text(buf, v.annotationOff[0]!, v.annotationLen[0]!)).toBe(ANNOTATION);
    expect(v.towerOff[0]).toBe(S + 108);
    expect(v.towerLen[0]).toBe(75);
    const t = v.towers[0]!;
    expect(towerUuidToString(buf, t.ifUuidOff)).toBe(NSPI);
    expect(`${t.ifMajor}.${t.ifMinor}`).toBe('56.0');
    expect(t.protocol).toBe(PROTO_NCACN_HTTP);
    expect(t.port).toBe(5000);
    expect(t.portOff).toBe(S + 108 + 64);
    expect(towerPipeOrHost(buf, t)).toBe('0x20:c0a80002');
    expect(v.statusOff).toBe(S + 184);
    expect(v.status).toBe(0);
  });

  it('encodes it exactly', () => {
    const got = encodeAt((b, o) => writeEptLookupResponse(b, o, {
      ndr64: false, entryHandle: HANDLE, entries: [{ object: '00000000-0000-0000-0000-000000000000', annotation: ANNOTATION, tower: TOWER_NSPI_HTTP_0X20 }], status: 0,
    }), 188);
    expect(got).toEqual(LOOKUP_RESP_NDR_1);
  });

  it('decodes and re-encodes impacket\'s 5 entries: tcp, np, null tower, lrpc, http', () => {
    const { st, v, buf } = decodeResp(IMPACKET_LOOKUP_RESP_NDR, false);
    expect(st).toBe(OK);
    expect(v.entryCount).toBe(5);
    expect(v.towerCount).toBe(4);
    const rows = [];
    for (let i = 0; i < v.entryCount; i++) {
      const t = v.towers[i]!;
      rows.push([
        uuidToString(buf, v.objectUuidOff[i]!),
        text(buf, v.annotationOff[i]!, v.annotationLen[i]!),
        v.towerOff[i]! < 0 ? 'null' : PROTO_NAMES[t.protocol],
        v.towerOff[i]! < 0 ? '' : towerPipeOrHost(buf, t),
      ]);
    }
    expect(rows).toEqual([
      [EMSMDB, 'Exchange', 'ncacn_ip_tcp', ''],
      [NSPI, '', 'ncacn_np', '\\PIPE\\x \\\\SRVAB'],
      [EMSMDB, 'ab', 'null', ''],
      [EMSMDB, 'lrpc x', 'ncalrpc', 'OLE1'],
      [NSPI, ANNOTATION, 'ncacn_http', '0x20:c0a80002'],
    ]);
    expect(v.towerOff[2]).toBe(-1);
    expect(v.towerLen[2]).toBe(0);
    // deferred towers follow the last entry in entry order
    expect(v.towerOff[0]! < v.towerOff[1]! && v.towerOff[1]! < v.towerOff[3]! && v.towerOff[3]! < v.towerOff[4]!).toBe(true);
    expect(v.statusOff).toBe(S + IMPACKET_LOOKUP_RESP_NDR.length - 4);
    expect(encodeAt((b, o) => writeEptLookupResponse(b, o, { ndr64: false, entries: ENTRIES, status: 0 }), 600)).toEqual(IMPACKET_LOOKUP_RESP_NDR);
  });

  it('no entry and EPT_S_NOT_REGISTERED: 40 bytes, OK (the last answer of the lookup scan)', () => {
    const stub = hex(`${Z20} 00 00 00 00  01 00 00 00  00 00 00 00  00 00 00 00  d6 a0 c9 16`);
    expect(encodeAt((b, o) => writeEptLookupResponse(b, o, { ndr64: false, entries: [], maxEnts: 1, status: EPT_S_NOT_REGISTERED }), 40)).toEqual(stub);
    const { st, v } = decodeResp(stub, false);
    expect(st).toBe(OK);
    expect(v.entryCount).toBe(0);
    expect(v.status).toBe(EPT_S_NOT_REGISTERED);
  });
});

describe('ept_lookup response, NDR64 (MS-RPCE 2.2.5, as impacket writes it)', () => {
  it('decodes one entry with 8-aligned entries and twr_t', () => {
    expect(LOOKUP_RESP_NDR64_1.length).toBe(220);
    const { st, v, buf } = decodeResp(LOOKUP_RESP_NDR64_1, true);
    expect(st).toBe(OK);
    expect(v.objectUuidOff[0]).toBe(S + 48);
    expect(v.annotationOff[0]).toBe(S + 88);
    expect(text(buf, v.annotationOff[0]!, v.annotationLen[0]!)).toBe(ANNOTATION);
    expect(v.towerOff[0]).toBe(S + 140);
    expect(v.towers[0]!.portOff).toBe(S + 140 + 64);
    expect(v.statusOff).toBe(S + 216);
    expect(encodeAt((b, o) => writeEptLookupResponse(b, o, {
      ndr64: true, entryHandle: HANDLE, entries: [{ object: '00000000-0000-0000-0000-000000000000', annotation: ANNOTATION, tower: TOWER_NSPI_HTTP_0X20 }], status: 0,
    }), 220)).toEqual(LOOKUP_RESP_NDR64_1);
  });

  it('decodes and re-encodes impacket\'s 5 entries', () => {
    const { st, v, buf } = decodeResp(IMPACKET_LOOKUP_RESP_NDR64, true);
    expect(st).toBe(OK);
    expect(v.entryCount).toBe(5);
    expect(v.towerCount).toBe(4);
    expect(Array.from(v.objectUuidOff.subarray(0, 5), (o) => o - S)).toEqual([48, 104, 152, 200, 248]);
    expect(v.towerOff[2]).toBe(-1);
    expect(text(buf, v.annotationOff[4]!, v.annotationLen[4]!)).toBe(ANNOTATION);
    expect(PROTO_NAMES[v.towers[3]!.protocol]).toBe('ncalrpc');
    expect(encodeAt((b, o) => writeEptLookupResponse(b, o, { ndr64: true, entries: ENTRIES, status: 0 }), 800)).toEqual(IMPACKET_LOOKUP_RESP_NDR64);
  });

  it('an NDR64 stub read as NDR, or the reverse, does not decode', () => {
    expect(decodeResp(IMPACKET_LOOKUP_RESP_NDR64, false).st).toBe(MALFORMED);
    expect(decodeResp(IMPACKET_LOOKUP_RESP_NDR, true).st).toBe(MALFORMED);
    expect(decodeResp(LOOKUP_RESP_NDR64_1, false).st).toBe(MALFORMED);
  });
});

describe('ept_lookup response: byte order and round trips', () => {
  it('big-endian drep flips counts and object UUID fields, not towers or annotations', () => {
    const entries: EptLookupEntrySpec[] = [{ object: EMSMDB, annotation: 'x', tower: TOWER_EMSMDB_TCP }, { object: NSPI, annotation: 'yz', tower: null }];
    for (const ndr64 of [false, true]) {
      const stub = encodeAt((b, o) => writeEptLookupResponse(b, o, { ndr64, littleEndian: false, entries, maxEnts: 500, status: EPT_S_NOT_REGISTERED }), 400);
      const firstEntry = ndr64 ? 48 : 36;
      expect(stub.subarray(firstEntry, firstEntry + 16)).toEqual(hex('a4 f1 db 00 ca 47 10 67 b3 1f 00 dd 01 06 62 da'));
      expect(stub.subarray(stub.length - 4)).toEqual(hex('16 c9 a0 d6'));
      const { st, v, buf } = decodeResp(stub, ndr64, false);
      expect(st).toBe(OK);
      expect(v.maxCount).toBe(500);
      expect(uuidToString(buf, v.objectUuidOff[0]!, false)).toBe(EMSMDB);
      expect(uuidToString(buf, v.objectUuidOff[1]!, false)).toBe(NSPI);
      expect(text(buf, v.annotationOff[1]!, v.annotationLen[1]!)).toBe('yz');
      expect(buf.subarray(v.towerOff[0]!, v.towerOff[0]! + 75)).toEqual(TOWER_EMSMDB_TCP);
      expect(v.towers[0]!.port).toBe(1032);
      expect(v.status).toBe(EPT_S_NOT_REGISTERED);
      expect(decodeResp(stub, ndr64, true).st).toBe(MALFORMED);
    }
  });

  it('round trips: decode -> encode gives the same bytes', () => {
    const cases: [boolean, Uint8Array][] = [
      [false, LOOKUP_RESP_NDR_1], [true, LOOKUP_RESP_NDR64_1], [false, IMPACKET_LOOKUP_RESP_NDR], [true, IMPACKET_LOOKUP_RESP_NDR64],
    ];
    for (const [ndr64, stub] of cases) {
      const { v, buf } = decodeResp(stub, ndr64);
      const entries: EptLookupEntrySpec[] = [];
      for (let i = 0; i < v.entryCount; i++) {
        entries.push({
          object: uuidToString(buf, v.objectUuidOff[i]!),
          annotation: text(buf, v.annotationOff[i]!, v.annotationLen[i]!),
          tower: v.towerOff[i]! < 0 ? null : buf.slice(v.towerOff[i]!, v.towerOff[i]! + v.towerLen[i]!),
        });
      }
      const again = encodeAt((b, o) => writeEptLookupResponse(b, o, {
        ndr64, entryHandle: buf.slice(v.entryHandleOff, v.entryHandleOff + 20), entries, maxEnts: v.maxCount, status: v.status,
      }), stub.length);
      expect(again).toEqual(stub);
    }
  });
});

describe('ept_lookup response: lies and truncations, exact status, reason and offset', () => {
  function expectFail(stub: Uint8Array, ndr64: boolean, status: number, reason: string, stubOffset: number): void {
    const { st, v } = decodeResp(stub, ndr64);
    expect({ st, reason: v.errReason, at: v.errOffset - S }).toEqual({ st: status, reason, at: stubOffset });
  }

  it('num_ents differs from actual_count', () => expectFail(patch(LOOKUP_RESP_NDR_1, 20, 2), false, MALFORMED, EPM_ERR_COUNT_MISMATCH, 32));

  it('actual_count > max_count', () => {
    expectFail(patch(patch(patch(IMPACKET_LOOKUP_RESP_NDR, 24, 4), 20, 5), 32, 5), false, MALFORMED, EPM_ERR_ACTUAL_GT_MAX, 32);
  });

  it('actual_count larger than the entries present', () => {
    const stub = patch(patch(patch(LOOKUP_RESP_NDR_1, 20, 9), 24, 9), 32, 9);
    expectFail(stub, false, MALFORMED, EPM_ERR_ENTRIES_PAST_END, 36);
  });

  it('annotation longer than ept_max_annotation_size (64)', () => expectFail(patch(LOOKUP_RESP_NDR_1, 60, 65), false, MALFORMED, EPM_ERR_ANNOTATION_TOO_LONG, 60));

  it('annotation past the end of the stub', () => expectFail(LOOKUP_RESP_NDR_1.subarray(0, 80), false, MALFORMED, EPM_ERR_ANNOTATION_PAST_END, 60));

  it('deferred tower: conformance / tower_length mismatch, and missing twr_t', () => {
    expectFail(patch(LOOKUP_RESP_NDR_1, 104, 0x4c), false, MALFORMED, EPM_ERR_TWR_LEN_MISMATCH, 104);
    expectFail(LOOKUP_RESP_NDR_1.subarray(0, 104), false, MALFORMED, EPM_ERR_TWR_PAST_END, 100);
  });

  it('NDR64 annotation count >= 2^53', () => {
    expectFail(patch(LOOKUP_RESP_NDR64_1, 86, 0x20), true, MALFORMED, EPM_ERR_COUNT_TOO_LARGE, 80);
    expectFail(patch(LOOKUP_RESP_NDR64_1, 46, 0x40), true, MALFORMED, EPM_ERR_COUNT_TOO_LARGE, 40);
  });

  it('status truncated, trailing bytes, handle truncated', () => {
    expectFail(LOOKUP_RESP_NDR_1.subarray(0, 186), false, MALFORMED, EPM_ERR_TRUNCATED, 184);
    expectFail(cat(LOOKUP_RESP_NDR_1, hex('00')), false, MALFORMED, EPM_ERR_TRAILING, 188);
    expectFail(LOOKUP_RESP_NDR_1.subarray(0, 10), false, MALFORMED, EPM_ERR_TRUNCATED, 0);
  });

  it(`more than MAX_ENTRIES (${MAX_ENTRIES}) entries, all present: UNSUPPORTED`, () => {
    const entries: EptLookupEntrySpec[] = [];
    for (let i = 0; i <= MAX_ENTRIES; i++) entries.push({ object: EMSMDB, annotation: '', tower: null });
    const buf = new Uint8Array(64 * 1024);
    const n = writeEptLookupResponse(buf, 0, { ndr64: false, entries, status: 0 });
    const v = new EptLookupResponseView();
    expect(readEptLookupResponse(buf, 0, n, false, true, v)).toBe(UNSUPPORTED);
    expect(v.errReason).toBe(EPM_ERR_TOO_MANY);
    expect(v.errOffset).toBe(36);
    // exactly MAX_ENTRIES is fine
    const m = writeEptLookupResponse(buf, 0, { ndr64: false, entries: entries.slice(1), status: 0 });
    expect(readEptLookupResponse(buf, 0, m, false, true, v)).toBe(OK);
    expect(v.entryCount).toBe(MAX_ENTRIES);
  });
});

describe('ept_lookup request', () => {
  it('the lookup-scan request: all NULL, 40 bytes', () => {
    const { st, v } = decodeReq(LOOKUP_REQ_SCAN, false);
    expect(st).toBe(OK);
    expect(v.inquiryType).toBe(RPC_C_EP_ALL_ELTS);
    expect(v.objectPresent).toBe(false);
    expect(v.ifIdPresent).toBe(false);
    expect(v.versOption).toBe(0);
    expect(v.entryHandleOff).toBe(S + 16);
    expect(v.maxEnts).toBe(1);
    expect(encodeAt((b, o) => writeEptLookupRequest(b, o, { ndr64: false, inquiryType: 0, versOption: 0, maxEnts: 1 }), 40)).toEqual(LOOKUP_REQ_SCAN);
  });

  it('by interface (impacket): NDR 60 bytes and NDR64 72 bytes', () => {
    for (const [ndr64, stub, ifOff, handleOff] of [[false, IMPACKET_LOOKUP_REQ_NDR, 12, 36], [true, IMPACKET_LOOKUP_REQ_NDR64, 24, 48]] as const) {
      const { st, v, buf } = decodeReq(stub, ndr64);
      expect(st).toBe(OK);
      expect(v.inquiryType).toBe(RPC_C_EP_MATCH_BY_IF);
      expect(v.objectPresent).toBe(false);
      expect(v.ifIdPresent).toBe(true);
      expect(v.ifUuidOff).toBe(S + ifOff);
      expect(uuidToString(buf, v.ifUuidOff)).toBe(EMSMDB);
      expect([v.ifMajor, v.ifMinor]).toEqual([0, 81]);
      expect(v.versOption).toBe(RPC_C_VERS_EXACT);
      expect(v.entryHandleOff).toBe(S + handleOff);
      expect(v.maxEnts).toBe(500);
      expect(encodeAt((b, o) => writeEptLookupRequest(b, o, {
        ndr64, inquiryType: 1, ifId: { uuid: EMSMDB, major: 0, minor: 81 }, versOption: 3, maxEnts: 500,
      }), stub.length)).toEqual(stub);
    }
  });

  it('object and interface, big-endian, with a continuation handle', () => {
    for (const ndr64 of [false, true]) {
      const stub = encodeAt((b, o) => writeEptLookupRequest(b, o, {
        ndr64, littleEndian: false, inquiryType: RPC_C_EP_MATCH_BY_BOTH, object: NSPI,
        ifId: { uuid: EMSMDB, major: 0, minor: 81 }, versOption: RPC_C_VERS_EXACT, entryHandle: HANDLE, maxEnts: 500,
      }), 100);
      expect(stub.length).toBe(ndr64 ? 88 : 76);
      expect(stub.subarray(0, 4)).toEqual(hex('00 00 00 03'));
      const { st, v, buf } = decodeReq(stub, ndr64, false);
      expect(st).toBe(OK);
      expect(uuidToString(buf, v.objectUuidOff, false)).toBe(NSPI);
      expect(uuidToString(buf, v.ifUuidOff, false)).toBe(EMSMDB);
      expect([v.ifMajor, v.ifMinor, v.maxEnts]).toEqual([0, 81, 500]);
      expect(buf.subarray(v.entryHandleOff, v.entryHandleOff + 20)).toEqual(HANDLE);
    }
  });

  it('malformed requests: exact reason and offset', () => {
    const cases: [Uint8Array, boolean, string, number][] = [
      [LOOKUP_REQ_SCAN.subarray(0, 2), false, EPM_ERR_TRUNCATED, 0],
      [LOOKUP_REQ_SCAN.subarray(0, 39), false, EPM_ERR_TRUNCATED, 12],
      [cat(LOOKUP_REQ_SCAN, hex('00 00 00 00')), false, EPM_ERR_TRAILING, 40],
      [IMPACKET_LOOKUP_REQ_NDR.subarray(0, 20), false, EPM_ERR_TRUNCATED, 12],
      [IMPACKET_LOOKUP_REQ_NDR64, false, EPM_ERR_TRAILING, 40], // read as NDR: both referents look NULL
    ];
    for (const [stub, ndr64, reason, at] of cases) {
      const { st, v } = decodeReq(stub, ndr64);
      expect({ st, reason: v.errReason, at: v.errOffset - S }).toEqual({ st: MALFORMED, reason, at });
    }
  });
});

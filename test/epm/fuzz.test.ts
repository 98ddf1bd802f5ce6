import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { MALFORMED, OK, UNSUPPORTED } from '../../src/wire/status.js';
import { uuidToString } from '../../src/dcerpc/uuid.js';
import {
  PROTO_NCACN_HTTP, PROTO_NCACN_IP_TCP, PROTO_NCACN_NP, PROTO_NCADG_IP_UDP, PROTO_NCALRPC,
} from '../../src/epm/constants.js';
import {
  EptMapRequestView, EptMapResponseView, readEptMapRequest, readEptMapResponse, writeEptMapRequest,
  writeEptMapResponse,
} from '../../src/epm/ept-map.js';
import {
  EptLookupRequestView, EptLookupResponseView, readEptLookupRequest, readEptLookupResponse,
  writeEptLookupRequest, writeEptLookupResponse,
} from '../../src/epm/ept-lookup.js';
import { buildTower, readTower, towerUuidToString, TowerView } from '../../src/epm/tower.js';
import type { TowerSpec } from '../../src/epm/tower.js';
import {
  IMPACKET_LOOKUP_REQ_NDR, IMPACKET_LOOKUP_REQ_NDR64, IMPACKET_LOOKUP_RESP_NDR,
  IMPACKET_LOOKUP_RESP_NDR64, IMPACKET_MAP_REQ_NP_NDR, IMPACKET_MAP_REQ_NP_NDR64,
  IMPACKET_MAP_RESP_TCP_NP_NDR, IMPACKET_MAP_RESP_TCP_NP_NDR64,
} from './impacket-vectors.js';
import { TOWER_EMSMDB_LRPC, TOWER_EMSMDB_REQ, TOWER_EMSMDB_TCP, TOWER_NSPI_HTTP_0X20, TOWER_NSPI_NP } from './vectors.js';

const STATUSES = [OK, MALFORMED, UNSUPPORTED];

const mapReq = new EptMapRequestView();
const mapResp = new EptMapResponseView();
const lookupReq = new EptLookupRequestView();
const lookupResp = new EptLookupResponseView();
const towerView = new TowerView();

type Kind = 'mapReq' | 'mapResp' | 'lookupReq' | 'lookupResp';

/** Decodes and, on OK, checks every reported offset lies inside the stub. */
function decodeChecked(kind: Kind, buf: Uint8Array, off: number, len: number, ndr64: boolean, le: boolean): number {
  const end = off + len;
  const inside = (o: number, n: number): void => {
    expect(o).toBeGreaterThanOrEqual(off);
    expect(o + n).toBeLessThanOrEqual(end);
  };
  const towerInside = (t: TowerView): void => {
    inside(t.off, t.len);
    if (t.portOff >= 0) inside(t.portOff, 2);
    if (t.ipv4Off >= 0) inside(t.ipv4Off, 4);
    if (t.pipeOff >= 0) inside(t.pipeOff, t.pipeLen);
    if (t.hostOff >= 0) inside(t.hostOff, t.hostLen);
    inside(t.ifUuidOff, 16);
    inside(t.syntaxUuidOff, 16);
  };
  let st: number;
  switch (kind) {
    case 'mapReq':
      st = readEptMapRequest(buf, off, len, ndr64, le, mapReq);
      if (st === OK) {
        inside(mapReq.entryHandleOff, 24);
        if (mapReq.towerPresent) towerInside(mapReq.tower);
      }
      break;
    case 'mapResp':
      st = readEptMapResponse(buf, off, len, ndr64, le, mapResp);
      if (st === OK) {
        inside(mapResp.statusOff, 4);
        for (let i = 0; i < mapResp.towerCount; i++) towerInside(mapResp.towers[i]!);
      }
      break;
    case 'lookupReq':
      st = readEptLookupRequest(buf, off, len, ndr64, le, lookupReq);
      if (st === OK) inside(lookupReq.entryHandleOff, 24);
      break;
    case 'lookupResp':
      st = readEptLookupResponse(buf, off, len, ndr64, le, lookupResp);
      if (st === OK) {
        inside(lookupResp.statusOff, 4);
        for (let i = 0; i < lookupResp.entryCount; i++) {
          inside(lookupResp.objectUuidOff[i]!, 16);
          inside(lookupResp.annotationOff[i]!, lookupResp.annotationLen[i]!);
          if (lookupResp.towerOff[i]! >= 0) towerInside(lookupResp.towers[i]!);
        }
      }
      break;
  }
  expect(STATUSES).toContain(st);
  return st;
}

const VALID: [Kind, boolean, Uint8Array][] = [
  ['mapReq', false, IMPACKET_MAP_REQ_NP_NDR],
  ['mapReq', true, IMPACKET_MAP_REQ_NP_NDR64],
  ['mapResp', false, IMPACKET_MAP_RESP_TCP_NP_NDR],
  ['mapResp', true, IMPACKET_MAP_RESP_TCP_NP_NDR64],
  ['lookupReq', false, IMPACKET_LOOKUP_REQ_NDR],
  ['lookupReq', true, IMPACKET_LOOKUP_REQ_NDR64],
  ['lookupResp', false, IMPACKET_LOOKUP_RESP_NDR],
  ['lookupResp', true, IMPACKET_LOOKUP_RESP_NDR64],
];
const KINDS: Kind[] = ['mapReq', 'mapResp', 'lookupReq', 'lookupResp'];

describe('fast-check: the stub decoders never throw and never hang', () => {
  it('random bytes, any syntax and byte order', () => {
    fc.assert(fc.property(
      fc.uint8Array({ maxLength: 600 }), fc.constantFrom(...KINDS), fc.boolean(), fc.boolean(), fc.nat(8),
      (bytes, kind, ndr64, le, pre) => {
        const buf = new Uint8Array(pre + bytes.length);
        buf.set(bytes, pre);
        decodeChecked(kind, buf, pre, bytes.length, ndr64, le);
      },
    ), { numRuns: 3000 });
  });

  it('random bytes behind a plausible header (so the loops are reached)', () => {
    fc.assert(fc.property(
      fc.uint8Array({ maxLength: 400 }), fc.nat(600), fc.boolean(), fc.boolean(),
      (tail, count, ndr64, le) => {
        // entry_handle, num = count, max_count = count + 1, offset 0, actual = count
        const cs = ndr64 ? 8 : 4;
        const head = new Uint8Array(24 + 3 * cs);
        const dv = new DataView(head.buffer);
        dv.setUint32(20, count, le);
        dv.setUint32(24 + (le ? 0 : cs - 4), count + 1, le);
        dv.setUint32(24 + 2 * cs + (le ? 0 : cs - 4), count, le);
        const buf = new Uint8Array(head.length + tail.length);
        buf.set(head);
        buf.set(tail, head.length);
        decodeChecked('mapResp', buf, 0, buf.length, ndr64, le);
        decodeChecked('lookupResp', buf, 0, buf.length, ndr64, le);
      },
    ), { numRuns: 2000 });
  });

  it('every truncation of a valid stub fails cleanly (MALFORMED), none decodes', () => {
    for (const [kind, ndr64, stub] of VALID) {
      expect(decodeChecked(kind, stub, 0, stub.length, ndr64, true)).toBe(OK);
      for (let n = 0; n < stub.length; n++) {
        expect(decodeChecked(kind, stub.subarray(0, n), 0, n, ndr64, true)).toBe(MALFORMED);
      }
    }
  });

  it('random single-byte corruptions of valid stubs', () => {
    fc.assert(fc.property(
      fc.constantFrom(...VALID), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(),
      ([kind, ndr64, stub], at, value, cut) => {
        const bytes = stub.slice();
        bytes[at % bytes.length] = value;
        const len = cut % 3 === 0 ? bytes.length : cut % bytes.length;
        decodeChecked(kind, bytes, 0, len, ndr64, true);
      },
    ), { numRuns: 3000 });
  });

  it('readTower on random bytes and on corrupted towers', () => {
    const towers = [TOWER_EMSMDB_REQ, TOWER_EMSMDB_TCP, TOWER_NSPI_NP, TOWER_EMSMDB_LRPC, TOWER_NSPI_HTTP_0X20];
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(300), (bytes, len) => {
      const st = readTower(bytes, 0, Math.min(len, bytes.length + 2), towerView);
      expect(STATUSES).toContain(st);
    }), { numRuns: 3000 });
    fc.assert(fc.property(fc.constantFrom(...towers), fc.nat(), fc.integer({ min: 0, max: 255 }), (t, at, value) => {
      const bytes = t.slice();
      bytes[at % bytes.length] = value;
      const st = readTower(bytes, 0, bytes.length, towerView);
      expect(STATUSES).toContain(st);
      if (st === OK && towerView.portOff >= 0) expect(towerView.portOff + 2).toBeLessThanOrEqual(bytes.length);
    }), { numRuns: 3000 });
  });

  it('a 65535 floor_count or a huge actual_count ends quickly', () => {
    const t = TOWER_EMSMDB_REQ.slice();
    t[0] = 0xff;
    t[1] = 0xff;
    expect(readTower(t, 0, t.length, towerView)).toBe(MALFORMED);
    const stub = new Uint8Array(48);
    new DataView(stub.buffer).setUint32(20, 0xffffffff, true);
    new DataView(stub.buffer).setUint32(24, 0xffffffff, true);
    new DataView(stub.buffer).setUint32(32, 0xffffffff, true);
    expect(readEptMapResponse(stub, 0, 48, false, true, mapResp)).toBe(MALFORMED);
    expect(readEptLookupResponse(stub, 0, 48, false, true, lookupResp)).toBe(MALFORMED);
  });
});

// ---- round-trip properties over generated content ----

const hexChars = '0123456789abcdef';
const arbUuid = fc.array(fc.integer({ min: 0, max: 15 }), { minLength: 32, maxLength: 32 }).map((d) => {
  const s = d.map((x) => hexChars[x]).join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
});
const arbAscii = (max: number): fc.Arbitrary<string> =>
  fc.array(fc.integer({ min: 0x20, max: 0x7e }), { maxLength: max }).map((cs) => String.fromCharCode(...cs));
const arbTowerSpec: fc.Arbitrary<TowerSpec> = fc.record({
  ifUuid: arbUuid,
  ifMajor: fc.integer({ min: 0, max: 0xffff }),
  ifMinor: fc.integer({ min: 0, max: 0xffff }),
  protocol: fc.constantFrom(PROTO_NCACN_IP_TCP, PROTO_NCADG_IP_UDP, PROTO_NCACN_NP, PROTO_NCALRPC, PROTO_NCACN_HTTP),
  port: fc.integer({ min: 0, max: 0xffff }),
  ipv4: fc.integer({ min: 0, max: 0xffffffff }),
  pipe: arbAscii(40),
  host: arbAscii(20),
});
const arbTower = fc.oneof(arbTowerSpec.map((s) => buildTower(s)), fc.constant(null));

describe('fast-check: encode -> decode gives back what was encoded', () => {
  it('towers', () => {
    fc.assert(fc.property(arbTowerSpec, (spec) => {
      const bytes = buildTower(spec);
      expect(readTower(bytes, 0, bytes.length, towerView)).toBe(OK);
      expect(towerView.protocol).toBe(spec.protocol);
      expect(towerUuidToString(bytes, towerView.ifUuidOff)).toBe(spec.ifUuid);
      expect([towerView.ifMajor, towerView.ifMinor]).toEqual([spec.ifMajor, spec.ifMinor]);
      if (towerView.portOff >= 0) expect(towerView.port).toBe(spec.port);
      if (towerView.ipv4Off >= 0) expect(towerView.ipv4).toBe(spec.ipv4);
    }), { numRuns: 500 });
  });

  it('ept_map responses, both syntaxes and byte orders', () => {
    fc.assert(fc.property(fc.array(arbTower, { maxLength: 6 }), fc.boolean(), fc.boolean(), fc.nat(7), fc.integer({ min: 0, max: 0xffffffff }),
      (towers, ndr64, le, off, status) => {
        const buf = new Uint8Array(off + 4096);
        const n = writeEptMapResponse(buf, off, { ndr64, littleEndian: le, towers, status });
        expect(readEptMapResponse(buf, off, n, ndr64, le, mapResp)).toBe(OK);
        const present = towers.filter((t) => t !== null);
        expect(mapResp.towerCount).toBe(present.length);
        present.forEach((t, i) => expect(buf.subarray(mapResp.towerOff[i]!, mapResp.towerOff[i]! + mapResp.towerLen[i]!)).toEqual(t));
        expect(mapResp.status).toBe(status);
      }), { numRuns: 500 });
  });

  it('ept_map requests', () => {
    fc.assert(fc.property(arbTower, fc.option(arbUuid), fc.boolean(), fc.boolean(), fc.nat(7), fc.nat(),
      (tower, object, ndr64, le, off, maxTowers) => {
        const buf = new Uint8Array(off + 1024);
        const n = writeEptMapRequest(buf, off, { ndr64, littleEndian: le, object, tower, maxTowers });
        expect(readEptMapRequest(buf, off, n, ndr64, le, mapReq)).toBe(OK);
        expect(mapReq.objectPresent).toBe(object !== null);
        if (object !== null) expect(uuidToString(buf, mapReq.objectUuidOff, le)).toBe(object);
        expect(mapReq.towerPresent).toBe(tower !== null);
        if (tower !== null) expect(buf.subarray(mapReq.towerOff, mapReq.towerOff + mapReq.towerLen)).toEqual(tower);
        expect(mapReq.maxTowers).toBe(maxTowers >>> 0);
      }), { numRuns: 500 });
  });

  it('ept_lookup requests and responses', () => {
    const arbEntry = fc.record({ object: arbUuid, annotation: arbAscii(63), tower: arbTower });
    fc.assert(fc.property(fc.array(arbEntry, { maxLength: 6 }), fc.boolean(), fc.boolean(), fc.nat(7),
      (entries, ndr64, le, off) => {
        const buf = new Uint8Array(off + 8192);
        const n = writeEptLookupResponse(buf, off, { ndr64, littleEndian: le, entries, status: 0 });
        expect(readEptLookupResponse(buf, off, n, ndr64, le, lookupResp)).toBe(OK);
        expect(lookupResp.entryCount).toBe(entries.length);
        entries.forEach((e, i) => {
          expect(uuidToString(buf, lookupResp.objectUuidOff[i]!, le)).toBe(e.object);
          expect(String.fromCharCode(...buf.subarray(lookupResp.annotationOff[i]!, lookupResp.annotationOff[i]! + lookupResp.annotationLen[i]!))).toBe(e.annotation);
          if (e.tower === null) expect(lookupResp.towerOff[i]).toBe(-1);
          else expect(buf.subarray(lookupResp.towerOff[i]!, lookupResp.towerOff[i]! + lookupResp.towerLen[i]!)).toEqual(e.tower);
        });
      }), { numRuns: 300 });
    fc.assert(fc.property(fc.option(arbUuid), fc.option(arbUuid), fc.boolean(), fc.boolean(), (object, ifUuid, ndr64, le) => {
      const buf = new Uint8Array(200);
      const n = writeEptLookupRequest(buf, 3, {
        ndr64, littleEndian: le, inquiryType: 3, object, ifId: ifUuid === null ? null : { uuid: ifUuid, major: 1, minor: 2 }, versOption: 1, maxEnts: 500,
      });
      expect(readEptLookupRequest(buf, 3, n, ndr64, le, lookupReq)).toBe(OK);
      expect(lookupReq.objectPresent).toBe(object !== null);
      expect(lookupReq.ifIdPresent).toBe(ifUuid !== null);
      if (ifUuid !== null) expect(uuidToString(buf, lookupReq.ifUuidOff, le)).toBe(ifUuid);
      expect(lookupReq.maxEnts).toBe(500);
    }), { numRuns: 300 });
  });
});

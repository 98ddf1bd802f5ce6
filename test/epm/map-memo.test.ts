/**
 * The ept_map memos (src/epm/map-memo.ts) against the plain decoders they shortcut: over random
 * sequences of stubs — a few valid requests and responses, the same with another entry handle,
 * and with single bytes changed anywhere (the handle, the counts right after it, the towers, the
 * status) — every answer is the one a fresh decode of that stub gives, field for field.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EPT_MAP } from '../../src/epm/constants.js';
import {
  EptMapRequestView, EptMapResponseView, readEptMapRequest, writeEptMapRequest, writeEptMapResponse, type EptMapResponseSpec,
} from '../../src/epm/ept-map.js';
import { EptLookupResponseView } from '../../src/epm/ept-lookup.js';
import { decodeMapRequest, readEpmResponse, responseGuess, syntaxOrder } from '../../src/epm/stub-syntax.js';
import { MapRequestMemo, MapResponseMemo } from '../../src/epm/map-memo.js';
import { SYNTAX_NDR, SYNTAX_NDR64, SYNTAX_UNKNOWN } from '../../src/dcerpc/constants.js';
import { TOWER_EMSMDB_REQ, TOWER_EMSMDB_TCP, TOWER_NSPI_NP, TOWER_NSPI_TCP } from './vectors.js';

const ORDERS = [syntaxOrder(SYNTAX_NDR), syntaxOrder(SYNTAX_NDR64), syntaxOrder(SYNTAX_UNKNOWN)];

function handle(seed: number): Uint8Array {
  const h = new Uint8Array(20);
  for (let i = 4; i < 20; i++) h[i] = (seed * 31 + i * 7) & 0xff;
  return h;
}

function responseStub(spec: EptMapResponseSpec): Uint8Array {
  const buf = new Uint8Array(1024);
  return buf.slice(0, writeEptMapResponse(buf, 0, spec));
}

function requestStub(ndr64: boolean, le: boolean, tower: Uint8Array, maxTowers: number): Uint8Array {
  const buf = new Uint8Array(1024);
  return buf.slice(0, writeEptMapRequest(buf, 0, { ndr64, littleEndian: le, tower, maxTowers }));
}

const RESPONSES: { stub: Uint8Array; le: boolean }[] = [];
for (const ndr64 of [false, true]) {
  for (const le of [true, false]) {
    RESPONSES.push({ stub: responseStub({ ndr64, littleEndian: le, towers: [TOWER_EMSMDB_TCP], status: 0 }), le });
    RESPONSES.push({ stub: responseStub({ ndr64, littleEndian: le, entryHandle: handle(7), towers: [TOWER_EMSMDB_TCP], status: 0 }), le });
    RESPONSES.push({ stub: responseStub({ ndr64, littleEndian: le, towers: [TOWER_NSPI_TCP, null, TOWER_NSPI_NP], maxTowers: 4, status: 0 }), le });
    RESPONSES.push({ stub: responseStub({ ndr64, littleEndian: le, towers: [], status: 0x16c9a0d6 }), le });
  }
}
const REQUESTS: { stub: Uint8Array; le: boolean }[] = [];
for (const ndr64 of [false, true]) {
  for (const le of [true, false]) {
    REQUESTS.push({ stub: requestStub(ndr64, le, TOWER_EMSMDB_REQ, 4), le });
    REQUESTS.push({ stub: requestStub(ndr64, le, TOWER_NSPI_TCP, 1), le });
  }
}

/**
 * A run: a base stub (pool entry, syntaxes, byte order, offset) and steps that mostly repeat it —
 * with another handle, one byte changed or the end cut — and sometimes take another stub.
 */
const arbWhere = (pool: { stub: Uint8Array; le: boolean }[]) => fc.record({
  i: fc.nat(pool.length - 1),
  order: fc.nat(ORDERS.length - 1),
  le: fc.boolean(),
  keepLe: fc.boolean(),
  off: fc.constantFrom(0, 0, 24, 37),
});
const arbStep = (pool: { stub: Uint8Array; le: boolean }[]) => fc.record({
  other: fc.oneof({ arbitrary: fc.constant(null), weight: 3 }, { arbitrary: arbWhere(pool), weight: 1 }),
  newHandle: fc.option(fc.nat(255), { nil: null }),
  mutate: fc.option(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { nil: null }),
  cut: fc.oneof({ arbitrary: fc.constant(null), weight: 4 }, { arbitrary: fc.nat(8), weight: 1 }),
  off: fc.oneof({ arbitrary: fc.constant(null), weight: 3 }, { arbitrary: fc.constantFrom(0, 24, 37), weight: 1 }),
});
const arbRun = (pool: { stub: Uint8Array; le: boolean }[]) => fc.tuple(arbWhere(pool), fc.array(arbStep(pool), { minLength: 1, maxLength: 40 }))
  .map(([base, steps]) => steps.map((st) => {
    const w = st.other ?? base;
    return { ...w, off: st.off ?? w.off, newHandle: st.newHandle, mutate: st.mutate, cut: st.cut };
  }));
/** One stub of a run, as arbRun draws it. */
type Case = ReturnType<typeof arbRun> extends fc.Arbitrary<(infer C)[]> ? C : never;

function make(pool: { stub: Uint8Array; le: boolean }[], c: Case, handleAt: number | null): { buf: Uint8Array; off: number; len: number; le: boolean } {
  const base = pool[c.i]!;
  const stub = base.stub.slice();
  if (c.newHandle !== null && handleAt !== null) stub.set(handle(c.newHandle), handleAt);
  if (c.mutate !== null) {
    // Half of the changes land in the first 40 bytes: the handle and the counts right after it.
    const at = c.mutate.at % 2 === 0 ? (c.mutate.at >> 1) % Math.min(40, stub.length) : (c.mutate.at >> 1) % stub.length;
    stub[at] = c.mutate.value;
  }
  const len = c.cut === null ? stub.length : Math.max(0, stub.length - c.cut);
  const buf = new Uint8Array(c.off + stub.length + 3).fill(0xa5);
  buf.set(stub, c.off);
  return { buf, off: c.off, len, le: c.keepLe ? base.le : c.le };
}

function responseFields(v: EptMapResponseView): unknown {
  const towers = [];
  for (let k = 0; k < v.towerCount; k++) {
    const t = v.towers[k]!;
    towers.push({
      off: t.off, len: t.len, floorCount: t.floorCount, ifUuidOff: t.ifUuidOff, ifMajor: t.ifMajor, ifMinor: t.ifMinor,
      syntaxUuidOff: t.syntaxUuidOff, protocol: t.protocol, rpcProto: t.rpcProto, portOff: t.portOff, port: t.port,
      ipv4Off: t.ipv4Off, ipv4: t.ipv4, pipeOff: t.pipeOff, pipeLen: t.pipeLen, hostOff: t.hostOff, hostLen: t.hostLen,
      towerOff: v.towerOff[k], towerLen: v.towerLen[k], towerIndex: v.towerIndex[k],
    });
  }
  return {
    entryHandleOff: v.entryHandleOff, numTowers: v.numTowers, maxCount: v.maxCount, offset: v.offset, actualCount: v.actualCount,
    towerCount: v.towerCount, status: v.status, statusOff: v.statusOff, towers,
  };
}

describe('MapResponseMemo', () => {
  it('answers every stub as readEpmResponse(EPT_MAP) decodes it: opnum, view and syntax', () => {
    fc.assert(fc.property(arbRun(RESPONSES), (cases) => {
      const memo = new MapResponseMemo();
      for (const c of cases) {
        const { buf, off, len, le } = make(RESPONSES, c, 0);
        const order = ORDERS[c.order]!;
        const fresh = new EptMapResponseView();
        const want = readEpmResponse(EPT_MAP, order, buf, off, len, le, fresh, new EptLookupResponseView());
        const ndr64 = responseGuess.ndr64;
        responseGuess.ndr64 = !ndr64; // read must set it, as readEpmResponse does
        const got = memo.read(order, buf, off, len, le);
        expect(got).toBe(want);
        if (got === EPT_MAP) {
          expect(responseGuess.ndr64).toBe(ndr64);
          expect(responseFields(memo.view)).toEqual(responseFields(fresh));
        } else {
          expect([memo.view.errOffset, memo.view.errReason]).toEqual([fresh.errOffset, fresh.errReason]);
        }
      }
    }), { numRuns: 300 });
  });

  it('answers a repeated stub from the memo (the same view, no decode)', () => {
    const memo = new MapResponseMemo();
    const { stub, le } = RESPONSES[0]!;
    expect(memo.read(ORDERS[0]!, stub, 0, stub.length, le)).toBe(EPT_MAP);
    const other = stub.slice();
    other.set(handle(99), 0);
    // A decode would reset the view first: a field set by hand survives only a memo answer.
    memo.view.status = 12345;
    expect(memo.read(ORDERS[0]!, other, 0, other.length, le)).toBe(EPT_MAP);
    expect(memo.view.status).toBe(12345);
    other[20] = other[20]! ^ 1; // num_towers: decoded again
    memo.read(ORDERS[0]!, other, 0, other.length, le);
    expect(memo.view.status).not.toBe(12345);
  });
});

describe('MapRequestMemo', () => {
  it('matches only stubs whose decode is its own; read answers every stub as a fresh decode (or the first syntax\'s failure)', () => {
    fc.assert(fc.property(arbRun(REQUESTS), (cases) => {
      const memo = new MapRequestMemo();
      for (const c of cases) {
        const { buf, off, len, le } = make(REQUESTS, c, null);
        const order = ORDERS[c.order]!;
        const fresh = new EptMapRequestView();
        const got = decodeMapRequest(order, buf, off, len, le, fresh);
        const want = { present: fresh.towerPresent, ifUuidOff: fresh.tower.ifUuidOff, major: fresh.tower.ifMajor, minor: fresh.tower.ifMinor };
        if (memo.matches(order, buf, off, len, le)) {
          expect(got).toBeGreaterThanOrEqual(0);
          expect({ present: memo.towerPresent, ifUuidOff: memo.ifUuidRel < 0 ? -1 : off + memo.ifUuidRel, major: memo.ifMajor, minor: memo.ifMinor }).toEqual(want);
        }
        // read: the EPM leg's way in (remembers what it decodes).
        const st = got >= 0 ? 0 : readEptMapRequest(buf, off, len, order[0]!, le, fresh);
        expect(memo.read(order, buf, off, len, le)).toBe(st);
        if (st !== 0) expect({ at: memo.errOffset, why: memo.errReason }).toEqual({ at: fresh.errOffset, why: fresh.errReason });
        else expect({ present: memo.towerPresent, ifUuidOff: memo.ifUuidOff, major: memo.ifMajor, minor: memo.ifMinor }).toEqual(want);
      }
    }), { numRuns: 300 });
  });

  it('matches the stub it remembered, at any offset', () => {
    const memo = new MapRequestMemo();
    const { stub, le } = REQUESTS[0]!;
    const v = new EptMapRequestView();
    expect(decodeMapRequest(ORDERS[0]!, stub, 0, stub.length, le, v)).toBe(0);
    expect(v.towerPresent && v.tower.ifUuidOff >= 0).toBe(true);
    memo.remember(ORDERS[0]!, stub, 0, stub.length, le, v);
    const buf = new Uint8Array(stub.length + 50).fill(0xa5);
    buf.set(stub, 50);
    expect(memo.matches(ORDERS[0]!, buf, 50, stub.length, le)).toBe(true);
    expect(memo.matches(ORDERS[1]!, buf, 50, stub.length, le)).toBe(false);
    expect(memo.matches(ORDERS[0]!, buf, 50, stub.length, !le)).toBe(false);
    buf[50 + stub.length - 1] = buf[50 + stub.length - 1]! ^ 1;
    expect(memo.matches(ORDERS[0]!, buf, 50, stub.length, le)).toBe(false);
  });
});

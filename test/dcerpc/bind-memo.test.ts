/**
 * BindMemo (src/dcerpc/bind-memo.ts) against readBind, the decoder it shortcuts: over random
 * sequences of binds and alter_contexts — a few distinct ones, repeated at other offsets, with
 * one byte changed anywhere or cut short — every answer is readBind's decode of that PDU, field
 * for field, offsets included.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { OK } from '../../src/wire/status.js';
import { MAX_TRANSFER_SYNTAXES, UUID_EPM, UUID_NDR, UUID_NDR64 } from '../../src/dcerpc/constants.js';
import { BindView, readBind, writeAlterContext, writeBind, type BindOptions } from '../../src/dcerpc/pdu.js';
import { BindMemo } from '../../src/dcerpc/bind-memo.js';

const NDR = { uuid: UUID_NDR, version: 2 };
const NDR64 = { uuid: UUID_NDR64, version: 1 };
const BTFN = { uuid: '6cb71c2c-9812-4540-0300-000000000000', version: 1 };
const NETLOGON = { uuid: '12345678-1234-abcd-ef00-01234567cffb', major: 1, minor: 0 };

function pdu(alter: boolean, o: BindOptions): Uint8Array {
  const buf = new Uint8Array(1024);
  return buf.slice(0, (alter ? writeAlterContext : writeBind)(buf, 0, o));
}

const PDUS: Uint8Array[] = [
  pdu(false, { callId: 1, contexts: [{ ctxId: 0, abstract: { uuid: UUID_EPM, major: 3, minor: 0 }, transfer: [NDR] }] }),
  pdu(false, { callId: 1, contexts: [{ ctxId: 0, abstract: NETLOGON, transfer: [NDR] }], littleEndian: false }),
  pdu(false, {
    callId: 2, assocGroup: 0x1234, contexts: [
      { ctxId: 0, abstract: NETLOGON, transfer: [NDR] }, { ctxId: 1, abstract: NETLOGON, transfer: [NDR64] },
      { ctxId: 2, abstract: NETLOGON, transfer: [BTFN, NDR] },
    ],
  }),
  pdu(true, { callId: 3, contexts: [{ ctxId: 5, abstract: NETLOGON, transfer: [NDR, NDR64] }] }),
  pdu(false, {
    callId: 4, contexts: [{ ctxId: 0, abstract: NETLOGON, transfer: [NDR] }], auth: { type: 10, level: 6, value: new Uint8Array(16).fill(7) },
  }),
];

function fields(v: BindView): unknown {
  const ctx = [];
  for (let i = 0; i < v.nContexts; i++) {
    const ts = [];
    for (let j = 0; j < v.nTransfer[i]!; j++) {
      const k = i * MAX_TRANSFER_SYNTAXES + j;
      ts.push([v.transferUuidOff[k], v.transferVersion[k], v.transferSyntax[k]]);
    }
    ctx.push([v.ctxId[i], v.abstractUuidOff[i], v.ifMajor[i], v.ifMinor[i], ts]);
  }
  return {
    ptype: v.ptype, pfcFlags: v.pfcFlags, littleEndian: v.littleEndian, fragLen: v.fragLen, authLen: v.authLen, callId: v.callId,
    pduOff: v.pduOff, hasAuth: v.hasAuth, authType: v.authType, authLevel: v.authLevel, authPadLen: v.authPadLen,
    authContextId: v.authContextId, secTrailerOff: v.secTrailerOff, authValueOff: v.authValueOff, authValueLen: v.authValueLen,
    maxXmitFrag: v.maxXmitFrag, maxRecvFrag: v.maxRecvFrag, assocGroup: v.assocGroup, contextsEnd: v.contextsEnd, ctx,
  };
}

/** A run: a base PDU, and steps that mostly repeat it (at another offset, changed, cut) and sometimes take another. */
const arbStep = fc.record({
  i: fc.oneof({ arbitrary: fc.constant(-1), weight: 3 }, { arbitrary: fc.nat(PDUS.length - 1), weight: 1 }),
  off: fc.constantFrom(0, 3, 40, 41),
  mutate: fc.oneof({ arbitrary: fc.constant(null), weight: 2 }, { arbitrary: fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), weight: 1 }),
  cut: fc.oneof({ arbitrary: fc.constant(0), weight: 5 }, { arbitrary: fc.nat(12), weight: 1 }),
  tail: fc.nat(6),
});

describe('BindMemo', () => {
  it('answers every PDU as readBind decodes it', () => {
    fc.assert(fc.property(fc.nat(PDUS.length - 1), fc.array(arbStep, { minLength: 1, maxLength: 40 }), (base, steps) => {
      const memo = new BindMemo();
      for (const s of steps) {
        const p = PDUS[s.i < 0 ? base : s.i]!.slice();
        // Half of the changes land in the 24-byte header and the fields right after it.
        if (s.mutate !== null) p[s.mutate.at % 2 === 0 ? (s.mutate.at >> 1) % 24 : (s.mutate.at >> 1) % p.length] = s.mutate.value;
        const buf = new Uint8Array(s.off + p.length + s.tail).fill(0xa5);
        buf.set(p, s.off);
        const len = Math.max(0, p.length + s.tail - s.cut);
        const fresh = new BindView();
        const want = readBind(buf, s.off, len, fresh);
        const got = memo.read(buf, s.off, len);
        expect(got).toBe(want);
        if (got === OK) expect(fields(memo.view)).toEqual(fields(fresh));
        else expect([memo.view.errOffset, memo.view.errReason]).toEqual([fresh.errOffset, fresh.errReason]);
      }
    }), { numRuns: 400 });
  });

  it('answers a repeated PDU from the memo, moved to its offset', () => {
    const memo = new BindMemo();
    const p = PDUS[2]!;
    const buf = new Uint8Array(p.length * 2 + 10);
    buf.set(p, 0);
    buf.set(p, p.length + 10);
    expect(memo.read(buf, 0, p.length)).toBe(OK);
    memo.view.maxXmitFrag = 777; // a decode would read 4280 again: survives only a memo answer
    expect(memo.read(buf, p.length + 10, p.length)).toBe(OK);
    expect(memo.view.maxXmitFrag).toBe(777);
    expect(memo.view.pduOff).toBe(p.length + 10);
    expect(memo.view.abstractUuidOff[2]).toBe(p.length + 10 + 28 + 2 * 44 + 24 + 4 - 24);
  });
});

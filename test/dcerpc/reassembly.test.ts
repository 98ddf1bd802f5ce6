import { describe, it, expect } from 'vitest';
import { OK, MALFORMED } from '../../src/wire/status.js';
import { PFC_FIRST_FRAG, PFC_LAST_FRAG } from '../../src/dcerpc/constants.js';
import { RequestView, ResponseView, readRequest, readResponse, encode, writeRequest, writeResponse } from '../../src/dcerpc/pdu.js';
import { FragmentReassembler, ReassembledCall } from '../../src/dcerpc/reassembly.js';
import {
  ERR_CALL_TOO_LARGE, ERR_CONTINUATION_WITHOUT_FIRST, ERR_FIRST_WHILE_IN_PROGRESS, ERR_TOO_MANY_CALLS, ERR_STUB_BOUNDS,
} from '../../src/dcerpc/reasons.js';
import { REQUEST_NTLM_PRIVACY } from './vectors.js';

const FIRST = PFC_FIRST_FRAG;
const LAST = PFC_LAST_FRAG;

function pattern(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
}

/** Response fragment PDU bytes at an offset inside a bigger buffer. */
function respFrag(callId: number, flags: number, stub: Uint8Array, ctxId = 1, at = 3): { buf: Uint8Array; off: number } {
  const pdu = encode(writeResponse, { callId, ctxId, stub, pfcFlags: flags, allocHint: 9999 });
  const buf = new Uint8Array(at + pdu.length + 5).fill(0xa5);
  buf.set(pdu, at);
  return { buf, off: at };
}

function reqFrag(callId: number, flags: number, stub: Uint8Array, opnum: number, ctxId = 0): Uint8Array {
  return encode(writeRequest, { callId, ctxId, opnum, stub, pfcFlags: flags });
}

/** Decodes a response fragment and adds it. */
function addResp(r: FragmentReassembler, f: { buf: Uint8Array; off: number }, out: ReassembledCall): number {
  const v = new ResponseView();
  expect(readResponse(f.buf, f.off, f.buf.length - f.off, v)).toBe(OK);
  return r.add(f.buf, f.off, v, v.stubOff, v.stubLen, out);
}

function addReq(r: FragmentReassembler, bytes: Uint8Array, out: ReassembledCall): number {
  const v = new RequestView();
  expect(readRequest(bytes, 0, bytes.length, v)).toBe(OK);
  return r.add(bytes, 0, v, v.stubOff, v.stubLen, out);
}

describe('FragmentReassembler', () => {
  it('passes a single FIRST|LAST PDU through without copying', () => {
    const r = new FragmentReassembler();
    const out = new ReassembledCall();
    const v = new RequestView();
    expect(readRequest(REQUEST_NTLM_PRIVACY, 0, 96, v)).toBe(OK);
    expect(r.add(REQUEST_NTLM_PRIVACY, 0, v, v.stubOff, v.stubLen, out)).toBe(OK);
    expect(out.complete).toBe(true);
    expect(out.data).toBe(REQUEST_NTLM_PRIVACY);
    expect(out.off).toBe(24);
    expect(out.len).toBe(36);
    expect(out.opnum).toBe(11);
    expect(out.ctxId).toBe(0);
    expect(out.fragments).toBe(1);
    expect(r.callsInProgress).toBe(0);
  });

  it('reassembles a 3-fragment response', () => {
    const r = new FragmentReassembler();
    const out = new ReassembledCall();
    const a = pattern(1000, 1);
    const b = pattern(1500, 2);
    const c = pattern(17, 3);
    expect(addResp(r, respFrag(5, FIRST, a), out)).toBe(OK);
    expect(out.complete).toBe(false);
    expect(out.fragments).toBe(1);
    expect(r.callsInProgress).toBe(1);
    expect(addResp(r, respFrag(5, 0, b), out)).toBe(OK);
    expect(out.complete).toBe(false);
    expect(out.len).toBe(2500);
    expect(addResp(r, respFrag(5, LAST, c), out)).toBe(OK);
    expect(out.complete).toBe(true);
    expect(out.callId).toBe(5);
    expect(out.ctxId).toBe(1);
    expect(out.opnum).toBe(-1);
    expect(out.fragments).toBe(3);
    expect(out.len).toBe(2517);
    const whole = out.data.subarray(out.off, out.off + out.len);
    expect(whole.subarray(0, 1000)).toEqual(a);
    expect(whole.subarray(1000, 2500)).toEqual(b);
    expect(whole.subarray(2500)).toEqual(c);
    expect(r.callsInProgress).toBe(0);
  });

  it('keeps interleaved calls apart and reports the first fragment ctxId/opnum', () => {
    const r = new FragmentReassembler();
    const out = new ReassembledCall();
    expect(addReq(r, reqFrag(1, FIRST, pattern(10, 1), 4, 2), out)).toBe(OK);
    expect(addReq(r, reqFrag(2, FIRST, pattern(20, 2), 11, 3), out)).toBe(OK);
    expect(r.callsInProgress).toBe(2);
    // a later fragment with a different opnum/ctxId: the first fragment's values win
    expect(addReq(r, reqFrag(1, 0, pattern(5, 3), 99, 9), out)).toBe(OK);
    expect(addReq(r, reqFrag(2, LAST, pattern(7, 4), 11, 3), out)).toBe(OK);
    expect(out.complete).toBe(true);
    expect(out.callId).toBe(2);
    expect(out.opnum).toBe(11);
    expect(out.ctxId).toBe(3);
    expect(Array.from(out.data.subarray(0, out.len))).toEqual([...pattern(20, 2), ...pattern(7, 4)]);
    expect(addReq(r, reqFrag(1, LAST, pattern(3, 5), 4, 2), out)).toBe(OK);
    expect(out.complete).toBe(true);
    expect(out.callId).toBe(1);
    expect(out.opnum).toBe(4);
    expect(out.ctxId).toBe(2);
    expect(Array.from(out.data.subarray(0, out.len))).toEqual([...pattern(10, 1), ...pattern(5, 3), ...pattern(3, 5)]);
    expect(r.callsInProgress).toBe(0);
  });

  it('MALFORMED: continuation without first fragment', () => {
    const r = new FragmentReassembler();
    const out = new ReassembledCall();
    const f = respFrag(8, LAST, pattern(4, 0));
    expect(addResp(r, f, out)).toBe(MALFORMED);
    expect(out.errReason).toBe(ERR_CONTINUATION_WITHOUT_FIRST);
    expect(out.errOffset).toBe(f.off + 3);
    expect(addResp(r, respFrag(8, 0, pattern(4, 0)), out)).toBe(MALFORMED);
    expect(out.errReason).toBe(ERR_CONTINUATION_WITHOUT_FIRST);
  });

  it('MALFORMED: FIRST while the same call_id is in progress (old call dropped)', () => {
    const r = new FragmentReassembler();
    const out = new ReassembledCall();
    expect(addResp(r, respFrag(8, FIRST, pattern(4, 0)), out)).toBe(OK);
    const again = respFrag(8, FIRST, pattern(4, 0), 1, 6);
    expect(addResp(r, again, out)).toBe(MALFORMED);
    expect(out.errReason).toBe(ERR_FIRST_WHILE_IN_PROGRESS);
    expect(out.errOffset).toBe(6 + 3);
    expect(r.callsInProgress).toBe(0);
    // also for a FIRST|LAST PDU reusing an in-progress call_id
    expect(addResp(r, respFrag(9, FIRST, pattern(4, 0)), out)).toBe(OK);
    expect(addResp(r, respFrag(9, FIRST | LAST, pattern(4, 0)), out)).toBe(MALFORMED);
    expect(out.errReason).toBe(ERR_FIRST_WHILE_IN_PROGRESS);
  });

  it('MALFORMED: call exceeds size bound (dropped, and the first fragment alone)', () => {
    const r = new FragmentReassembler(3000, 4);
    const out = new ReassembledCall();
    expect(addResp(r, respFrag(1, FIRST, pattern(2000, 0)), out)).toBe(OK);
    const f = respFrag(1, 0, pattern(1001, 0));
    expect(addResp(r, f, out)).toBe(MALFORMED);
    expect(out.errReason).toBe(ERR_CALL_TOO_LARGE);
    expect(out.errOffset).toBe(f.off + 24);
    expect(r.callsInProgress).toBe(0);
    expect(addResp(r, respFrag(1, LAST, pattern(1, 0)), out)).toBe(MALFORMED);
    expect(out.errReason).toBe(ERR_CONTINUATION_WITHOUT_FIRST);
    expect(addResp(r, respFrag(2, FIRST, pattern(3001, 0)), out)).toBe(MALFORMED);
    expect(out.errReason).toBe(ERR_CALL_TOO_LARGE);
    // exactly at the bound is fine
    expect(addResp(r, respFrag(3, FIRST, pattern(2000, 0)), out)).toBe(OK);
    expect(addResp(r, respFrag(3, LAST, pattern(1000, 0)), out)).toBe(OK);
    expect(out.complete).toBe(true);
    expect(out.len).toBe(3000);
  });

  it('MALFORMED: too many concurrent calls', () => {
    const r = new FragmentReassembler(1 << 20, 2);
    const out = new ReassembledCall();
    expect(addResp(r, respFrag(1, FIRST, pattern(4, 0)), out)).toBe(OK);
    expect(addResp(r, respFrag(2, FIRST, pattern(4, 0)), out)).toBe(OK);
    const f = respFrag(3, FIRST, pattern(4, 0));
    expect(addResp(r, f, out)).toBe(MALFORMED);
    expect(out.errReason).toBe(ERR_TOO_MANY_CALLS);
    expect(out.errOffset).toBe(f.off + 12);
    // single-fragment calls need no slot
    expect(addResp(r, respFrag(4, FIRST | LAST, pattern(4, 0)), out)).toBe(OK);
    expect(out.complete).toBe(true);
    r.reset();
    expect(r.callsInProgress).toBe(0);
    expect(addResp(r, respFrag(3, FIRST, pattern(4, 0)), out)).toBe(OK);
  });

  it('MALFORMED: stub outside the buffer', () => {
    const r = new FragmentReassembler();
    const out = new ReassembledCall();
    const f = respFrag(1, FIRST, pattern(4, 0));
    const v = new ResponseView();
    expect(readResponse(f.buf, f.off, f.buf.length - f.off, v)).toBe(OK);
    expect(r.add(f.buf, f.off, v, v.stubOff, f.buf.length, out)).toBe(MALFORMED);
    expect(out.errReason).toBe(ERR_STUB_BOUNDS);
  });

  it('reuses its buffers across calls (grows once)', () => {
    const r = new FragmentReassembler();
    const out = new ReassembledCall();
    addResp(r, respFrag(1, FIRST, pattern(20000, 0)), out);
    addResp(r, respFrag(1, LAST, pattern(20000, 1)), out);
    const first = out.data;
    addResp(r, respFrag(2, FIRST, pattern(100, 0)), out);
    addResp(r, respFrag(2, LAST, pattern(100, 1)), out);
    expect(out.data).toBe(first);
    expect(out.len).toBe(200);
  });
});

/**
 * The mapped leg counts the body bytes of a PDU in progress without walking them (coSkipBody).
 * Such a segment is still checksum-verified first: a corrupt one is dropped and moves nothing,
 * so the PDU after it is still framed from the right byte.
 */
import { describe, expect, it } from 'vitest';
import { EngineHarness, SIDE_EXTERNAL, SIDE_INTERNAL, concat } from '../helpers/engine-harness.js';
import { EMSMDB, accept, bindAckPdu, bindPdu, ctx, openMapped, patternStub, policyDoc, requestPdu } from '../helpers/policy-harness.js';

describe('mapped leg: body bytes of a PDU in progress', () => {
  it('a body-only segment with a bad checksum is dropped and counts for nothing; its good retransmission goes on and the next request is read from the right byte', () => {
    const h = new EngineHarness(policyDoc({ interfaces: ['exchange'], lookup: 'deny' }));
    const { conn } = openMapped(h);
    conn.clientSend(bindPdu([ctx(0, EMSMDB, 0, 81)]));
    conn.serverSend(bindAckPdu([accept()]));
    // 5,000 stub bytes: the second and third segments are body only.
    const stream = concat([requestPdu(patternStub(5000), { opnum: 11, callId: 2 }), requestPdu(patternStub(100, 2), { opnum: 12, callId: 3 })]);
    const base = conn.cSent;
    const seg = (at: number): Uint8Array => stream.subarray(at, Math.min(stream.length, at + 1460));
    expect(conn.clientSeg(base, seg(0)).map((e) => e.side)).toEqual([SIDE_INTERNAL]);
    const bad = conn.clientPacket(base + 1460, seg(1460));
    bad[40 + 100] = bad[40 + 100]! ^ 0xff; // a payload byte corrupted in flight
    expect(h.inject(SIDE_EXTERNAL, bad)).toEqual([]);
    expect(h.dropReasons()).toEqual(['bad-checksum']);
    for (let at = 1460; at < stream.length; at += 1460) {
      expect(conn.clientSeg(base + at, seg(at)).map((e) => e.side)).toEqual([SIDE_INTERNAL]);
    }
    conn.cSent += stream.length;
    expect(h.refusals()).toEqual([]);
    expect(conn.deliveredToServer().bytes.subarray(-stream.length)).toEqual(stream);
  });
});

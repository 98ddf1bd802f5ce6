/**
 * `requireEncryption: true` on mapped connections: binds, alter_contexts and requests below
 * packet privacy (auth level 6), or without an auth verifier, are refused ('encryption-required');
 * auth3 and the authentication legs of a bind (bind_ack, alter_context, alter_context_resp with
 * tokens) pass untouched. The auth level is read from the sec_trailer wherever TCP cuts it.
 */
import { describe, expect, it } from 'vitest';
import { CLIENT, EngineHarness, SIDE_EXTERNAL, SIDE_INTERNAL, concat } from '../helpers/engine-harness.js';
import {
  EMSMDB, accept, auth, auth3Pdu, bindAckPdu, bindPdu, ctx, expectResetBothWays, openMapped, patternStub, policyDoc, requestFragments,
  requestPdu, responsePdu, sendSegments, verbatimProblems,
} from '../helpers/policy-harness.js';
import type { TcpConn } from '../helpers/engine-harness.js';

const ENCRYPTED = policyDoc({ interfaces: ['exchange'], requireEncryption: true, lookup: 'deny' });
const PRIVACY = 6;
const INTEGRITY = 5;

const atServer = (c: TcpConn): Uint8Array => c.deliveredToServer().bytes;

/** NTLM-style three legs at packet privacy: bind (negotiate), bind_ack (challenge), auth3 (authenticate). */
function privacyBind(h: EngineHarness, c: TcpConn): Uint8Array[] {
  const bind = bindPdu([ctx(0, EMSMDB, 0, 81)], { auth: auth(PRIVACY, 40) });
  const ack = bindAckPdu([accept()], { auth: auth(PRIVACY, 120) });
  const a3 = auth3Pdu(1, auth(PRIVACY, 300));
  expect(verbatimProblems(sendSegments(c, true, bind), SIDE_INTERNAL)).toEqual([]);
  expect(verbatimProblems(sendSegments(c, false, ack), SIDE_EXTERNAL)).toEqual([]);
  expect(verbatimProblems(sendSegments(c, true, a3), SIDE_INTERNAL)).toEqual([]);
  expect(h.refusals()).toEqual([]);
  return [bind, a3];
}

describe('requireEncryption: binds', () => {
  it('a bind without an auth verifier is refused: encryption-required, the event names rule, client, interface', () => {
    const h = new EngineHarness(ENCRYPTED);
    const { conn } = openMapped(h);
    const out = conn.clientSend(bindPdu([ctx(0, EMSMDB, 0, 81)]));
    expectResetBothWays(conn, out);
    expect(atServer(conn).length).toBe(0);
    const [r] = h.refusals();
    expect(r).toMatchObject({ rule: 'r0', client: `${CLIENT}:51000`, reason: 'encryption-required', interface: `${EMSMDB}@0.81` });
    expect(r!.detail).toBe('bind with no authentication; rule "r0" requires packet privacy (6)');
  });

  for (const level of [1, 2, 3, 4, INTEGRITY]) {
    it(`a bind at auth level ${level} is refused`, () => {
      const h = new EngineHarness(ENCRYPTED);
      const { conn } = openMapped(h);
      expectResetBothWays(conn, conn.clientSend(bindPdu([ctx(0, EMSMDB, 0, 81)], { auth: auth(level) })));
      expect(h.refusals().map((r) => [r.reason, r.detail])).toEqual([
        ['encryption-required', `bind with auth level ${level}; rule "r0" requires packet privacy (6)`],
      ]);
    });
  }

  it('a bind at level 6, its bind_ack and auth3 pass untouched; so do level-6 requests and responses', () => {
    const h = new EngineHarness(ENCRYPTED);
    const { conn } = openMapped(h);
    const legs = privacyBind(h, conn);
    const req = requestPdu(patternStub(700), { opnum: 11, auth: auth(PRIVACY, 16) });
    expect(verbatimProblems(sendSegments(conn, true, req, 300), SIDE_INTERNAL)).toEqual([]);
    const resp = responsePdu(patternStub(900, 5));
    expect(verbatimProblems(sendSegments(conn, false, resp, 300), SIDE_EXTERNAL)).toEqual([]);
    expect(atServer(conn)).toEqual(concat([...legs, req]));
    expect(h.refusals()).toEqual([]);
  });

  it('an alter_context leg at level 6 passes; an alter_context without auth is refused', () => {
    const h = new EngineHarness(ENCRYPTED);
    const { conn } = openMapped(h);
    privacyBind(h, conn);
    const alter = bindPdu([ctx(0, EMSMDB, 0, 81)], { alter: true, callId: 2, auth: auth(PRIVACY, 60) });
    expect(verbatimProblems(sendSegments(conn, true, alter), SIDE_INTERNAL)).toEqual([]);
    expect(verbatimProblems(sendSegments(conn, false, bindAckPdu([accept()], { alter: true, callId: 2, auth: auth(PRIVACY, 60) })), SIDE_EXTERNAL)).toEqual([]);
    const plain = bindPdu([ctx(1, EMSMDB, 0, 81)], { alter: true, callId: 3 });
    expectResetBothWays(conn, conn.clientSend(plain));
    expect(h.refusals().map((r) => [r.reason, r.detail])).toEqual([
      ['encryption-required', 'alter_context with no authentication; rule "r0" requires packet privacy (6)'],
    ]);
  });
});

describe('requireEncryption: requests', () => {
  it('after a level-6 bind, a request without auth is refused and never completes at the server', () => {
    const h = new EngineHarness(ENCRYPTED);
    const { conn } = openMapped(h);
    const legs = privacyBind(h, conn);
    const plain = requestPdu(patternStub(2000), { opnum: 11 });
    const sent = sendSegments(conn, true, plain, 1000);
    expect(verbatimProblems(sent.slice(0, -1), SIDE_INTERNAL)).toEqual([]);
    expectResetBothWays(conn, sent[sent.length - 1]!.out);
    expect(atServer(conn)).toEqual(concat([...legs, plain.subarray(0, 2000)]));
    expect(h.refusals().map((r) => [r.reason, r.detail, r.interface])).toEqual([
      ['encryption-required', 'request (opnum 11) with no authentication; rule "r0" requires packet privacy (6)', `${EMSMDB}@0.81`],
    ]);
  });

  it('after a level-6 bind, a request signed at level 5 is refused', () => {
    const h = new EngineHarness(ENCRYPTED);
    const { conn } = openMapped(h);
    privacyBind(h, conn);
    expectResetBothWays(conn, conn.clientSend(requestPdu(patternStub(64), { auth: auth(INTEGRITY) })));
    expect(h.refusals().map((r) => r.detail)).toEqual(['request (opnum 10) with auth level 5; rule "r0" requires packet privacy (6)']);
  });

  it('the auth_level byte read wherever TCP cuts the trailer (every cut of the last 40 bytes)', () => {
    const req6 = requestPdu(patternStub(100), { opnum: 11, auth: auth(PRIVACY, 16) });
    const req5 = requestPdu(patternStub(100), { opnum: 11, auth: auth(INTEGRITY, 16) });
    const levelAt = req6.length - 16 - 8 + 1;
    expect([req6[levelAt], req5[levelAt]]).toEqual([6, 5]);
    for (let cut = req6.length - 40; cut < req6.length; cut++) {
      for (const [req, ok] of [[req6, true], [req5, false]] as const) {
        const h = new EngineHarness(ENCRYPTED);
        const { conn } = openMapped(h);
        privacyBind(h, conn);
        conn.clientSeg(conn.cSent, req.subarray(0, cut));
        const last = conn.clientSeg(conn.cSent + cut, req.subarray(cut));
        conn.cSent += req.length;
        expect([cut, ok, h.refusals().map((r) => r.reason)]).toEqual([cut, ok, ok ? [] : ['encryption-required']]);
        expect(last.length).toBe(ok ? 1 : 2);
      }
    }
  });

  it('a multi-fragment request, every fragment at level 6, passes; one fragment without auth refuses the call', () => {
    const h = new EngineHarness(ENCRYPTED);
    const { conn } = openMapped(h);
    privacyBind(h, conn);
    const frags = requestFragments(patternStub(20000, 8), 4096, { callId: 5, opnum: 11, auth: auth(PRIVACY, 16) });
    expect(verbatimProblems(sendSegments(conn, true, concat(frags), 1460), SIDE_INTERNAL)).toEqual([]);
    expect(h.refusals()).toEqual([]);
    const mixed = requestFragments(patternStub(8192, 9), 4096, { callId: 6, opnum: 11, auth: auth(PRIVACY, 16) });
    mixed[1] = requestFragments(patternStub(8192, 9), 4096, { callId: 6, opnum: 11 })[1]!;
    conn.clientSend(concat(mixed));
    expect(h.refusals().map((r) => r.reason)).toEqual(['encryption-required']);
  });

  it('without requireEncryption the same unauthenticated bind and request pass (control)', () => {
    const h = new EngineHarness(policyDoc({ interfaces: ['exchange'], lookup: 'deny' }));
    const { conn } = openMapped(h);
    expect(verbatimProblems(sendSegments(conn, true, bindPdu([ctx(0, EMSMDB, 0, 81)])), SIDE_INTERNAL)).toEqual([]);
    conn.serverSend(bindAckPdu([accept()]));
    expect(verbatimProblems(sendSegments(conn, true, requestPdu(patternStub(64))), SIDE_INTERNAL)).toEqual([]);
    expect(h.refusals()).toEqual([]);
  });
});

describe('requireEncryption: malformed verifiers', () => {
  // A request whose auth_length leaves no room for the 24-byte header and the 8-byte sec_trailer
  // (frag_length 40, auth_length 16: the "trailer" would start at 16, inside the header). The
  // auth_level the gateway reads is then a header byte (alloc_hint's second byte, here 6).
  // Was a bug, fixed (mapped-leg.ts feed, the `at < KEEP_HEADER` fallback): the level is taken from the
  // header and the PDU passes as "packet privacy"; it should be refused (malformed-rpc or
  // encryption-required), as the protocol notes' framing rule says (auth_length + 8 must fit
  // after the header).
  it('a request whose sec_trailer would overlap its header is refused', () => {
    const h = new EngineHarness(ENCRYPTED);
    const { conn } = openMapped(h);
    privacyBind(h, conn);
    const bad = requestPdu(new Uint8Array(16).fill(0x66), { opnum: 11, allocHint: 0x0600 });
    bad[8] = 40; // frag_length stays 40 (24 + 16)
    bad[10] = 16; // auth_length 16: trailer at 40 - 16 - 8 = 16, inside the header
    expect([bad.length, bad[17]]).toEqual([40, 6]);
    conn.clientSend(bad);
    expect(h.refusals().map((r) => r.reason).length).toBe(1);
  });
});

/**
 * The RPC policy on mapped connections (engine level): every bind and alter_context must name
 * only interfaces the rule allows (major equal, minor not above; NDR, NDR64 and BTFN elements),
 * a request must use a context the server accepted, and nothing else is changed: mapped traffic
 * is not held, each segment goes out at once, byte-identical outside the NAT fields. A refusal
 * resets both ends at the sequence number each expects, and the segment carrying the refused
 * PDU's last byte never reaches the server.
 */
import { describe, expect, it } from 'vitest';
import { CLIENT, EngineHarness, SIDE_EXTERNAL, SIDE_INTERNAL, concat } from '../helpers/engine-harness.js';
import {
  BTFN_SYNTAX, EMSMDB, NDR64_SYNTAX, SRVSVC, WKSSVC, accept, bindAckPdu, bindPdu, connectMapped, ctx, expectResetBothWays,
  openMapped, patternStub, policyDoc, requestFragments, requestPdu, responsePdu, sendSegments, verbatimProblems, walkPdus,
} from '../helpers/policy-harness.js';
import {
  NAK_REASON_NOT_SPECIFIED, PTYPE_REQUEST, REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED, RESULT_NEGOTIATE_ACK, RESULT_PROVIDER_REJECTION,
} from '../../src/dcerpc/constants.js';
import { encode, writeBindNak } from '../../src/dcerpc/pdu-write.js';
import type { TcpConn } from '../helpers/engine-harness.js';

const SRVSVC_PORT = 49152;
/** srvsvc v3.0 only: ept_map and binds for it pass, wkssvc (same Samba worker) does not. */
const SRVSVC_ONLY = policyDoc({ interfaces: [`${SRVSVC}@3.0`], lookup: 'deny' });
const EMSMDB_ONLY = policyDoc({ interfaces: ['emsmdb'], lookup: 'deny' });

function srvsvcSession(h: EngineHarness): { conn: TcpConn; port: number } {
  const { conn, port } = openMapped(h, { iface: SRVSVC, major: 3, minor: 0, serverPort: SRVSVC_PORT });
  return { conn, port };
}

/** Client bytes the server received on `c` (handshake excluded). */
const atServer = (c: TcpConn): Uint8Array => c.deliveredToServer().bytes;

describe('binds on a mapped port: map srvsvc, then bind wkssvc on the same port', () => {
  it('srvsvc binds and calls pass verbatim; wkssvc v1.0 on a second connection to the same port is refused', () => {
    const h = new EngineHarness(SRVSVC_ONLY);
    const { conn: a, port } = srvsvcSession(h);
    expect(port).toBe(40000);
    // The allowed interface works: bind, bind_ack, request, response — each segment forwarded as it came.
    const bind = bindPdu([ctx(0, SRVSVC, 3, 0)]);
    expect(verbatimProblems(sendSegments(a, true, bind), SIDE_INTERNAL)).toEqual([]);
    expect(verbatimProblems(sendSegments(a, false, bindAckPdu([accept()], { port: SRVSVC_PORT })), SIDE_EXTERNAL)).toEqual([]);
    const req = requestPdu(patternStub(300), { opnum: 15 });
    expect(verbatimProblems(sendSegments(a, true, req), SIDE_INTERNAL)).toEqual([]);
    expect(verbatimProblems(sendSegments(a, false, responsePdu(patternStub(500, 9))), SIDE_EXTERNAL)).toEqual([]);
    expect(atServer(a)).toEqual(concat([bind, req]));
    expect(h.refusals()).toEqual([]);

    // wkssvc through the same pinhole, cut into 40-byte segments.
    const b = connectMapped(h, port, { cport: 51001, serverPort: SRVSVC_PORT });
    const bindW = bindPdu([ctx(0, WKSSVC, 1, 0)]);
    const sent = sendSegments(b, true, bindW, 40);
    const last = sent[sent.length - 1]!;
    // Every segment but the last went through at once, untouched; the last produced only the two RSTs.
    expect(verbatimProblems(sent.slice(0, -1), SIDE_INTERNAL)).toEqual([]);
    expect(last.out.length).toBe(2);
    expectResetBothWays(b, last.out);
    expect(atServer(b)).toEqual(bindW.subarray(0, (sent.length - 1) * 40));
    const [r] = h.refusals();
    expect(h.refusals().length).toBe(1);
    expect(r).toMatchObject({ rule: 'r0', client: `${CLIENT}:51001`, reason: 'bind-interface-not-allowed', interface: `${WKSSVC}@1.0` });
    expect(r!.detail).toContain(WKSSVC);
    expect(r!.detail).toContain('"r0"');
    expect(h.engine.counters.dropsByName()).toEqual({ 'bind-interface-not-allowed': 1 });
    // That connection is dead both ways; the first one still works.
    expect(b.clientSend(bindPdu([ctx(0, SRVSVC, 3, 0)]))).toEqual([]);
    expect(b.serverSend(bindAckPdu([accept()]))).toEqual([]);
    expect(verbatimProblems(sendSegments(a, true, requestPdu(patternStub(64), { callId: 3 })), SIDE_INTERNAL)).toEqual([]);
  });

  it('an alter_context adding wkssvc to a srvsvc association is refused; one adding srvsvc on context 1 passes', () => {
    const h = new EngineHarness(SRVSVC_ONLY);
    const { conn: a } = srvsvcSession(h);
    a.clientSend(bindPdu([ctx(0, SRVSVC, 3, 0)]));
    a.serverSend(bindAckPdu([accept()]));
    const alterOk = bindPdu([ctx(1, SRVSVC, 3, 0)], { alter: true, callId: 2 });
    expect(verbatimProblems(sendSegments(a, true, alterOk), SIDE_INTERNAL)).toEqual([]);
    a.serverSend(bindAckPdu([accept()], { alter: true, callId: 2 }));
    expect(verbatimProblems(sendSegments(a, true, requestPdu(patternStub(40), { ctxId: 1, callId: 3 })), SIDE_INTERNAL)).toEqual([]);
    a.serverSend(responsePdu(patternStub(8), { ctxId: 1, callId: 3 }));
    const before = atServer(a).length;
    const alterBad = bindPdu([ctx(2, WKSSVC, 1, 0)], { alter: true, callId: 4 });
    const out = a.clientSend(alterBad);
    expectResetBothWays(a, out);
    expect(atServer(a).length).toBe(before);
    expect(h.refusals().map((r) => [r.reason, r.interface])).toEqual([['bind-interface-not-allowed', `${WKSSVC}@1.0`]]);
    expect(h.refusals()[0]!.detail).toMatch(/^alter_context to /);
  });

  it('one disallowed element among allowed ones refuses the whole bind (checked element by element)', () => {
    const h = new EngineHarness(SRVSVC_ONLY);
    const { conn: a } = srvsvcSession(h);
    const out = a.clientSend(bindPdu([ctx(0, SRVSVC, 3, 0), ctx(1, SRVSVC, 3, 0, [NDR64_SYNTAX]), ctx(2, WKSSVC, 1, 0)]));
    expectResetBothWays(a, out);
    expect(atServer(a).length).toBe(0);
    expect(h.refusals().map((r) => r.interface)).toEqual([`${WKSSVC}@1.0`]);
  });

  it('big-endian binds: UUIDs are compared across byte orders', () => {
    const h = new EngineHarness(SRVSVC_ONLY);
    const { conn: a, port } = srvsvcSession(h);
    const be = bindPdu([ctx(0, SRVSVC, 3, 0)], { littleEndian: false });
    expect(be[4]).toBe(0x00); // drep: big-endian
    expect(verbatimProblems(sendSegments(a, true, be), SIDE_INTERNAL)).toEqual([]);
    const b = connectMapped(h, port, { cport: 51001, serverPort: SRVSVC_PORT });
    expectResetBothWays(b, b.clientSend(bindPdu([ctx(0, WKSSVC, 1, 0)], { littleEndian: false })));
    expect(h.refusals().map((r) => [r.reason, r.interface])).toEqual([['bind-interface-not-allowed', `${WKSSVC}@1.0`]]);
  });
});

describe('interface versions (rule: emsmdb = EMSMDB 0.81)', () => {
  it('0.81 and 0.0 bind; 0.82, 1.0 and 0.65535 are refused', () => {
    const h = new EngineHarness(EMSMDB_ONLY);
    const { port } = openMapped(h);
    const cases: [number, number, boolean][] = [[0, 81, true], [0, 0, true], [0, 82, false], [1, 0, false], [0, 65535, false]];
    cases.forEach(([major, minor, allowed], i) => {
      const c = connectMapped(h, port, { cport: 52000 + i });
      const bind = bindPdu([ctx(0, EMSMDB, major, minor)]);
      const out = c.clientSend(bind);
      if (allowed) {
        expect([`${major}.${minor}`, out.length, out[0]!.side]).toEqual([`${major}.${minor}`, 1, SIDE_INTERNAL]);
        expect(atServer(c)).toEqual(bind);
      } else {
        expectResetBothWays(c, out);
        expect(atServer(c).length).toBe(0);
      }
    });
    expect(h.refusals().map((r) => r.interface)).toEqual([`${EMSMDB}@0.82`, `${EMSMDB}@1.0`, `${EMSMDB}@0.65535`]);
  });
});

describe('NDR64 and BTFN elements (what Windows sends: NDR, NDR64, BTFN for one interface)', () => {
  /** The three elements for EMSMDB 0.81, answered: NDR rejected, NDR64 accepted, BTFN negotiate_ack. */
  function bindThree(h: EngineHarness, c: TcpConn): void {
    const bind = bindPdu([ctx(0, EMSMDB, 0, 81), ctx(1, EMSMDB, 0, 81, [NDR64_SYNTAX]), ctx(2, EMSMDB, 0, 81, [BTFN_SYNTAX])]);
    expect(verbatimProblems(sendSegments(c, true, bind), SIDE_INTERNAL)).toEqual([]);
    const ack = bindAckPdu([
      { result: RESULT_PROVIDER_REJECTION, reason: REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED },
      accept(NDR64_SYNTAX),
      { result: RESULT_NEGOTIATE_ACK, reason: 0x0003 },
    ]);
    expect(verbatimProblems(sendSegments(c, false, ack), SIDE_EXTERNAL)).toEqual([]);
    expect(h.refusals()).toEqual([]);
  }

  it('the bind passes; requests on the NDR64 context pass', () => {
    const h = new EngineHarness(EMSMDB_ONLY);
    const { conn } = openMapped(h);
    bindThree(h, conn);
    expect(verbatimProblems(sendSegments(conn, true, requestPdu(patternStub(200), { ctxId: 1, opnum: 11 })), SIDE_INTERNAL)).toEqual([]);
    expect(h.refusals()).toEqual([]);
  });

  it('a request on the BTFN element\'s context id is refused: BTFN is never a usable context', () => {
    const h = new EngineHarness(EMSMDB_ONLY);
    const { conn } = openMapped(h);
    bindThree(h, conn);
    const out = conn.clientSend(requestPdu(patternStub(64), { ctxId: 2 }));
    expectResetBothWays(conn, out);
    const [r] = h.refusals();
    expect([r!.reason, r!.detail]).toEqual(['context-not-accepted', 'request on presentation context 2, which the server did not accept']);
  });

  it('a request on the context the bind_ack rejected (NDR, ctx 0) is refused', () => {
    const h = new EngineHarness(EMSMDB_ONLY);
    const { conn } = openMapped(h);
    bindThree(h, conn);
    const req = requestPdu(patternStub(64), { ctxId: 0 });
    const before = atServer(conn).length;
    expectResetBothWays(conn, conn.clientSend(req));
    expect(atServer(conn).length).toBe(before);
    expect(h.refusals().map((r) => [r.reason, r.interface])).toEqual([['context-not-accepted', `${EMSMDB}@0.81`]]);
  });

  // Was a bug, fixed (mapped-leg.ts clientRequest): the refusal record's `interface` is the FIRST element of
  // the last bind (lastInterface), not the interface of the context the request used. Here the
  // request is on ctx 1 (wkssvc, rejected by the server) and the log names srvsvc.
  it('a refused request names the interface of its own context in the log record', () => {
    const h = new EngineHarness(policyDoc({ interfaces: [`${SRVSVC}@3.0`, `${WKSSVC}@1.0`], lookup: 'deny' }));
    const { conn } = openMapped(h, { iface: SRVSVC, major: 3, minor: 0, serverPort: SRVSVC_PORT });
    conn.clientSend(bindPdu([ctx(0, SRVSVC, 3, 0), ctx(1, WKSSVC, 1, 0)]));
    conn.serverSend(bindAckPdu([accept(), { result: RESULT_PROVIDER_REJECTION, reason: 1 }]));
    expectResetBothWays(conn, conn.clientSend(requestPdu(patternStub(16), { ctxId: 1 })));
    expect(h.refusals().map((r) => [r.reason, r.interface])).toEqual([['context-not-accepted', `${WKSSVC}@1.0`]]);
  });

  it('a BTFN element naming another interface than its neighbour is still checked as that interface', () => {
    const h = new EngineHarness(EMSMDB_ONLY);
    const { conn } = openMapped(h);
    expectResetBothWays(conn, conn.clientSend(bindPdu([ctx(0, EMSMDB, 0, 81), ctx(1, WKSSVC, 1, 0, [BTFN_SYNTAX])])));
    expect(h.refusals().map((r) => r.interface)).toEqual([`${WKSSVC}@1.0`]);
  });
});

describe('requests and contexts', () => {
  it('a request before any bind is refused: context-not-accepted, nothing of it reaches the server', () => {
    const h = new EngineHarness(EMSMDB_ONLY);
    const { conn } = openMapped(h);
    const out = conn.clientSend(requestPdu(patternStub(100), { ctxId: 0, opnum: 10 }));
    expectResetBothWays(conn, out);
    expect(atServer(conn).length).toBe(0);
    const [r] = h.refusals();
    expect(r).toMatchObject({ rule: 'r0', client: `${CLIENT}:51000`, reason: 'context-not-accepted', detail: 'request before any bind' });
  });

  it('a request on a context id that no bind proposed is refused', () => {
    const h = new EngineHarness(EMSMDB_ONLY);
    const { conn } = openMapped(h);
    conn.clientSend(bindPdu([ctx(0, EMSMDB, 0, 81)]));
    conn.serverSend(bindAckPdu([accept()]));
    expectResetBothWays(conn, conn.clientSend(requestPdu(patternStub(10), { ctxId: 7 })));
    expect(h.refusals().map((r) => r.detail)).toEqual(['request on presentation context 7, which the server did not accept']);
  });

  it('a bind_nak leaves nothing usable: the next request is refused', () => {
    const h = new EngineHarness(EMSMDB_ONLY);
    const { conn } = openMapped(h);
    conn.clientSend(bindPdu([ctx(0, EMSMDB, 0, 81)]));
    const nak = encode(writeBindNak, { callId: 1, reason: NAK_REASON_NOT_SPECIFIED });
    expect(conn.serverSend(nak).length).toBe(1);
    expectResetBothWays(conn, conn.clientSend(requestPdu(patternStub(10), { ctxId: 0 })));
    expect(h.refusals().map((r) => r.reason)).toEqual(['context-not-accepted']);
  });

  it('a 64 KiB request in 16 fragments and a 64 KiB response pass untouched, one packet out per packet in', () => {
    const h = new EngineHarness(EMSMDB_ONLY);
    const { conn } = openMapped(h);
    conn.clientSend(bindPdu([ctx(0, EMSMDB, 0, 81)]));
    conn.serverSend(bindAckPdu([accept()]));
    const stub = patternStub(65536, 42);
    const frags = requestFragments(stub, 4096, { callId: 7, opnum: 11 });
    expect(frags.length).toBe(16);
    const bytes = concat(frags);
    const sent = sendSegments(conn, true, bytes, 1460);
    expect(sent.length).toBe(Math.ceil(bytes.length / 1460));
    expect(verbatimProblems(sent, SIDE_INTERNAL)).toEqual([]);
    const walked = walkPdus(atServer(conn).subarray(atServer(conn).length - bytes.length));
    expect(walked.error).toBe('');
    expect(walked.pdus.map((p) => p.ptype)).toEqual(new Array(16).fill(PTYPE_REQUEST));
    // The response, fragments of 5840 as Windows cuts them.
    const resp = concat(Array.from({ length: 12 }, (_, i) => responsePdu(stub.subarray(i * 5816, Math.min(65536, (i + 1) * 5816)), {
      callId: 7, pfcFlags: (i === 0 ? 1 : 0) | (i === 11 ? 2 : 0),
    })));
    expect(verbatimProblems(sendSegments(conn, false, resp, 1460), SIDE_EXTERNAL)).toEqual([]);
    expect(conn.deliveredToClient().bytes.subarray(-resp.length)).toEqual(resp);
    expect(h.refusals()).toEqual([]);
    expect(h.heldTotal).toBe(0);
  });

  it('a refused request split over many segments: earlier segments are forwarded, the one with its last byte is not', () => {
    const h = new EngineHarness(EMSMDB_ONLY);
    const { conn } = openMapped(h);
    const bind = bindPdu([ctx(0, EMSMDB, 0, 81)]);
    conn.clientSend(bind);
    conn.serverSend(bindAckPdu([accept()]));
    const bad = requestPdu(patternStub(6000, 3), { ctxId: 4 });
    const sent = sendSegments(conn, true, bad, 500);
    expect(sent.length).toBe(13);
    expect(verbatimProblems(sent.slice(0, 12), SIDE_INTERNAL)).toEqual([]);
    expectResetBothWays(conn, sent[12]!.out);
    expect(atServer(conn)).toEqual(concat([bind, bad.subarray(0, 6000)]));
    // Its retransmission gets nothing through either.
    expect(conn.clientSeg(bind.length + 6000, bad.subarray(6000))).toEqual([]);
    expect(h.dropReasons()).toEqual(['refused-connection']);
  });

  it('a segment ending one PDU and starting the refused next: forwarded; the refused PDU\'s end is not', () => {
    const h = new EngineHarness(EMSMDB_ONLY);
    const { conn } = openMapped(h);
    const bind = bindPdu([ctx(0, EMSMDB, 0, 81)]);
    conn.clientSend(bind);
    conn.serverSend(bindAckPdu([accept()]));
    const good = requestPdu(patternStub(100), { callId: 2 });
    const bad = requestPdu(patternStub(100), { callId: 3, ctxId: 9 });
    const both = concat([good, bad]);
    const sent = sendSegments(conn, true, both, good.length + 30);
    expect(sent.length).toBe(2);
    expect(verbatimProblems(sent.slice(0, 1), SIDE_INTERNAL)).toEqual([]);
    expectResetBothWays(conn, sent[1]!.out);
    expect(atServer(conn)).toEqual(concat([bind, good, bad.subarray(0, 30)]));
  });

  it('an unexpected PDU type from the client (a bind_ack) is refused as unexpected-pdu', () => {
    const h = new EngineHarness(EMSMDB_ONLY);
    const { conn } = openMapped(h);
    expectResetBothWays(conn, conn.clientSend(bindAckPdu([accept()])));
    expect(h.refusals().map((r) => r.reason)).toEqual(['unexpected-pdu']);
  });
});

describe('a frag_length of 0 after a valid PDU (found by the hostile-input property test)', () => {
  it('is refused as malformed-rpc, and nothing throws', () => {
    const h = new EngineHarness(SRVSVC_ONLY);
    const { conn } = srvsvcSession(h);
    conn.clientSend(bindPdu([ctx(0, SRVSVC, 3, 0)]));
    conn.serverSend(bindAckPdu([accept()]));
    conn.clientSend(requestPdu(patternStub(40), { ctxId: 0 }));
    const bad = requestPdu(patternStub(40), { ctxId: 0, callId: 7 });
    bad[8] = 0; // frag_length = 0
    bad[9] = 0;
    expect(() => conn.clientSend(bad)).not.toThrow();
    expect(h.refusals().map((r) => r.reason)).toEqual(['malformed-rpc']);
  });
});

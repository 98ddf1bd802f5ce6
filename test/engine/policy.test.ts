/**
 * Policy on TCP 135: only the endpoint mapper may be bound, ept_map only for the rule's
 * interfaces (DCE/RPC version compatibility), ept_lookup per the rule's `lookup`, and no
 * endpoint-mapper writes from outside. A refusal resets both ends and nothing of the refused
 * PDU reaches the server.
 */
import { describe, expect, it } from 'vitest';
import {
  CLIENT, EMSMDB, EXT, EngineHarness, GW, NSPI, SERVER, SIDE_EXTERNAL, SIDE_INTERNAL, SRVSVC, type TcpConn,
  concat, epmBind, epmBindAck, epmSession, eptLookupRequest, eptLookupResponseStub, eptMapRequest, eptMapResponseStub,
  mapCall, parseTcp, responseFragments, rulesDoc, tcpTower, TcpConn as Conn,
} from '../helpers/engine-harness.js';
import { encode, writeAlterContext, writeRequest } from '../../src/dcerpc/pdu-write.js';
import { EPT_DELETE, EPT_INSERT, EPT_LOOKUP_HANDLE_FREE, EPT_MGMT_DELETE } from '../../src/epm/constants.js';
import { TCP_RST } from '../../src/wire/packet.js';

const EXCHANGE = rulesDoc({ interfaces: ['exchange'], lookup: 'deny' });

/** The two RSTs of a refusal, checked: to the client from E:135, to the server from G:gwPort. */
function expectResetBothWays(h: EngineHarness, c: TcpConn, emitted = h.emitted.slice(-2)): void {
  const rst = emitted.map((e) => ({ side: e.side, p: parseTcp(e.pkt) }));
  expect(rst.map((r) => [r.side, r.p.flags])).toEqual([[SIDE_EXTERNAL, TCP_RST], [SIDE_INTERNAL, TCP_RST]]);
  expect([rst[0]!.p.src, rst[0]!.p.sport, rst[0]!.p.dst, rst[0]!.p.dport]).toEqual([EXT, 135, CLIENT, c.cport]);
  expect([rst[1]!.p.src, rst[1]!.p.sport, rst[1]!.p.dst, rst[1]!.p.dport]).toEqual([GW, c.gwPort, SERVER, 135]);
  // Each at the sequence number that end expects: the acknowledgment it last sent.
  expect(rst[0]!.p.seq).toBe(c.lastAckFromClient);
  expect(rst[1]!.p.seq).toBe(c.lastAckFromServer);
  for (const r of rst) expect(r.p.ipChecksumOk && r.p.tcpChecksumOk).toBe(true);
}

/** Client bytes the server received (handshake excluded). */
const atServer = (c: TcpConn): number => c.deliveredToServer().length;

describe('binds on 135', () => {
  it('a bind to a non-EPM interface is refused: reset both ways, the event names the UUID, the server sees nothing', () => {
    const h = new EngineHarness(EXCHANGE);
    const c = new Conn(h);
    expect(c.open()).toBe(true);
    const out = c.clientSend(epmBind(1, false, EMSMDB, 0));
    expect(out.length).toBe(2);
    expectResetBothWays(h, c, out);
    expect(atServer(c)).toBe(0);
    const [r] = h.refusals();
    expect(r!.reason).toBe('bind-interface-not-allowed');
    expect(r!.interface).toBe(`${EMSMDB}@0.0`);
    expect(r!.detail).toContain(EMSMDB);
    expect(h.engine.counters.dropsByName()).toEqual({ 'bind-interface-not-allowed': 1 });
    // The connection is dead from now on, both ways.
    expect(c.clientSend(epmBind())).toEqual([]);
    expect(c.serverSend(epmBindAck())).toEqual([]);
    expect(h.dropReasons()).toEqual(['refused-connection', 'refused-connection']);
  });

  it('the same bind cut into 1-byte segments: still nothing reaches the server', () => {
    const h = new EngineHarness(EXCHANGE);
    const c = new Conn(h);
    expect(c.open()).toBe(true);
    c.clientSend(epmBind(1, false, SRVSVC, 3), 1);
    expect(atServer(c)).toBe(0);
    expect(h.refusals().map((r) => r.reason)).toEqual(['bind-interface-not-allowed']);
    expect(h.refusals()[0]!.detail).toContain(SRVSVC);
  });

  it('a bind to the endpoint mapper v3 passes; v4 passes; v5 does not', () => {
    for (const [major, ok] of [[3, true], [4, true], [5, false]] as const) {
      const h = new EngineHarness(EXCHANGE);
      const c = new Conn(h);
      c.open();
      c.clientSend(epmBind(1, false, undefined, major));
      expect(h.refusals().length, `EPM v${major}`).toBe(ok ? 0 : 1);
      expect(atServer(c)).toBe(ok ? epmBind().length : 0);
    }
  });

  it('an alter_context adding a non-EPM interface is refused', () => {
    const h = new EngineHarness(EXCHANGE);
    const c = epmSession(h);
    const alter = encode(writeAlterContext, { callId: 2, contexts: [{ ctxId: 1, abstract: { uuid: SRVSVC, major: 3, minor: 0 }, transfer: [{ uuid: '8a885d04-1ceb-11c9-9fe8-08002b104860', version: 2 }] }] });
    const before = atServer(c);
    c.clientSend(alter);
    expect(atServer(c)).toBe(before);
    expect(h.refusals().map((r) => [r.reason, r.interface])).toEqual([['bind-interface-not-allowed', `${SRVSVC}@3.0`]]);
  });
});

describe('ept_map', () => {
  it('for an interface outside the rule (srvsvc v3.0 with interfaces ["exchange"]): refused, UUID in the detail, nothing of the request reaches the server', () => {
    const h = new EngineHarness(EXCHANGE);
    const c = epmSession(h);
    const before = atServer(c);
    const out = c.clientSend(eptMapRequest({ ifUuid: SRVSVC, major: 3, minor: 0 }));
    expectResetBothWays(h, c, out);
    expect(atServer(c)).toBe(before);
    const [r] = h.refusals();
    expect(r!.reason).toBe('interface-not-published');
    expect(r!.detail).toContain(SRVSVC);
    expect(r!.detail).toContain('"r0"'); // the rule
    expect(r!.interface).toBe(`${SRVSVC}@3.0`);
    expect(r!.rule).toBe('r0');
    expect(r!.client).toBe(`${CLIENT}:50000`);
  });

  it('same, the request trickling in 1-byte segments', () => {
    const h = new EngineHarness(EXCHANGE);
    const c = epmSession(h);
    const before = atServer(c);
    c.clientSend(eptMapRequest({ ifUuid: SRVSVC, major: 3, minor: 0 }), 1);
    expect(atServer(c)).toBe(before);
    expect(h.refusals().map((r) => r.reason)).toEqual(['interface-not-published']);
  });

  it('EMSMDB 0.81 passes and its answer is rewritten; 0.82 and 1.0 are refused; 0.0 passes', () => {
    for (const [major, minor, ok] of [[0, 81, true], [0, 82, false], [1, 0, false], [0, 0, true]] as const) {
      const h = new EngineHarness(EXCHANGE);
      const c = epmSession(h);
      const before = atServer(c);
      const req = eptMapRequest({ ifUuid: EMSMDB, major, minor });
      c.clientSend(req);
      const label = `EMSMDB ${major}.${minor}`;
      if (!ok) {
        expect(h.refusals().map((r) => [r.reason, r.interface]), label).toEqual([['interface-not-published', `${EMSMDB}@${major}.${minor}`]]);
        expect(atServer(c), label).toBe(before);
        continue;
      }
      expect(h.refusals(), label).toEqual([]);
      expect(atServer(c), label).toBe(before + req.length);
      c.serverSend(responseFragments(eptMapResponseStub([tcpTower(EMSMDB, major, minor, SERVER, 1032)]), 2));
      expect(h.rewrites().map((r) => [r.op, r.interface, r.version, r.original, r.rewritten]), label).toEqual([
        ['ept_map', EMSMDB, `${major}.${minor}`, `${SERVER}:1032`, `${EXT}:40000`],
      ]);
    }
  });

  it('NSPI through "exchange" in NDR64 passes', () => {
    const h = new EngineHarness(EXCHANGE);
    const c = epmSession(h, { ndr64: true });
    mapCall(c, [tcpTower(NSPI, 56, 0, SERVER, 4997)], { ndr64: true, ifUuid: NSPI, major: 56, minor: 0 });
    expect(h.refusals()).toEqual([]);
    expect(h.rewrites().map((r) => r.rewritten)).toEqual([`${EXT}:40000`]);
  });

  it('a request on a context no bind_ack accepted is refused as malformed-rpc', () => {
    const h = new EngineHarness(EXCHANGE);
    const c = new Conn(h);
    c.open();
    c.clientSend(epmBind());
    // no bind_ack from the server
    c.clientSend(eptMapRequest());
    expect(h.refusals().map((r) => r.reason)).toEqual(['malformed-rpc']);
  });
});

describe('ept_lookup', () => {
  const lookupAnswer = (): Uint8Array =>
    responseFragments(
      eptLookupResponseStub([
        { object: '00000000-0000-0000-0000-000000000000', annotation: 'store', tower: tcpTower(EMSMDB, 0, 81, SERVER, 1032) },
        { object: '00000000-0000-0000-0000-000000000000', annotation: 'ab', tower: tcpTower(NSPI, 56, 0, SERVER, 4997) },
      ]),
      2,
    );

  it('lookup "deny": refused, nothing reaches the server', () => {
    const h = new EngineHarness(EXCHANGE);
    const c = epmSession(h);
    const before = atServer(c);
    const out = c.clientSend(eptLookupRequest());
    expectResetBothWays(h, c, out);
    expect(atServer(c)).toBe(before);
    expect(h.refusals().map((r) => r.reason)).toEqual(['lookup-denied']);
    expect(h.refusals()[0]!.detail).toMatch(/deny/);
  });

  it('lookup "allow": passes, every server tower rewritten', () => {
    const h = new EngineHarness(rulesDoc({ interfaces: ['exchange'], lookup: 'allow' }));
    const c = epmSession(h);
    const before = atServer(c);
    const req = eptLookupRequest();
    c.clientSend(req);
    expect(atServer(c)).toBe(before + req.length);
    c.serverSend(lookupAnswer());
    expect(h.refusals()).toEqual([]);
    expect(h.rewrites().map((r) => [r.op, r.original, r.rewritten])).toEqual([
      ['ept_lookup', `${SERVER}:1032`, `${EXT}:40000`],
      ['ept_lookup', `${SERVER}:4997`, `${EXT}:40001`],
    ]);
  });
});

describe('endpoint-mapper writes from outside', () => {
  for (const [name, opnum] of [['ept_insert', EPT_INSERT], ['ept_delete', EPT_DELETE], ['ept_mgmt_delete', EPT_MGMT_DELETE]] as const) {
    it(`${name} (opnum ${opnum}) is refused`, () => {
      const h = new EngineHarness(rulesDoc({ lookup: 'allow' }));
      const c = epmSession(h);
      const before = atServer(c);
      const req = encode(writeRequest, { callId: 2, ctxId: 0, opnum, stub: new Uint8Array(64) });
      const out = c.clientSend(req);
      expectResetBothWays(h, c, out);
      expect(atServer(c)).toBe(before);
      expect(h.refusals().map((r) => r.reason)).toEqual(['epm-operation-not-allowed']);
      expect(h.refusals()[0]!.detail).toContain(String(opnum));
    });
  }

  it('ept_lookup_handle_free passes', () => {
    const h = new EngineHarness(rulesDoc({ lookup: 'allow' }));
    const c = epmSession(h);
    const req = encode(writeRequest, { callId: 2, ctxId: 0, opnum: EPT_LOOKUP_HANDLE_FREE, stub: new Uint8Array(20) });
    const before = atServer(c);
    c.clientSend(req);
    expect(h.refusals()).toEqual([]);
    expect(atServer(c)).toBe(before + req.length);
  });
});

describe('a permitted call after a permitted call', () => {
  it('bind, ept_map, ept_map on one association: both answers rewritten, stream intact', () => {
    const h = new EngineHarness(EXCHANGE);
    const c = epmSession(h);
    mapCall(c, [tcpTower(EMSMDB, 0, 81, SERVER, 1032)], { callId: 2 });
    mapCall(c, [tcpTower(NSPI, 56, 0, SERVER, 4997)], { callId: 3, ifUuid: NSPI, major: 56, minor: 0 });
    expect(h.rewrites().length).toBe(2);
    const sent = concat([epmBind(), eptMapRequest({ callId: 2 }), eptMapRequest({ callId: 3, ifUuid: NSPI, major: 56, minor: 0 })]);
    expect(Buffer.from(c.deliveredToServer().bytes)).toEqual(Buffer.from(sent));
  });
});

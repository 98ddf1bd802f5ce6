/**
 * Pinholes and NAT: who may use a mapped port, how long a pinhole and a connection live, how
 * connections close, what happens when a rule runs out of ports, and reuse of a mapping.
 */
import { describe, expect, it } from 'vitest';
import {
  CLIENT, CLIENT2, EMSMDB, EXT, EngineHarness, GW, NSPI, PORT_LO, SERVER, SIDE_EXTERNAL, SIDE_INTERNAL, TcpConn,
  bindMapped, concat, epmSession, ifBind, ifBindAck, rpcRequest, rpcResponse, ip, lastMappedPort, mapCall, parseTcp, rulesDoc, tcpTower,
} from '../helpers/engine-harness.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../../src/wire/packet.js';

const T0 = 1_000_000;

/** A client's EPM session that maps EMSMDB → SERVER:1032; returns the session and the mapped port. */
function mapEmsmdb(h: EngineHarness, client = CLIENT, cport = 50000, serverPort = 1032): { epm: TcpConn; port: number } {
  const epm = epmSession(h, { client, cport });
  mapCall(epm, [tcpTower(EMSMDB, 0, 81, SERVER, serverPort)]);
  return { epm, port: lastMappedPort(h) };
}

/** A connection from `client` to its mapped port, carried to SERVER:serverPort. */
function mappedConn(h: EngineHarness, client: string, cport: number, port: number, serverPort = 1032): TcpConn {
  return new TcpConn(h, { client, cport, eport: port, sport: serverPort, cIsn: 0x20000000 + cport, sIsn: 0x30000000 + cport });
}

describe('pinholes are per client', () => {
  it('a second client cannot use the first client\'s mapped port: its SYN is dropped (no-pinhole), nothing emitted', () => {
    const h = new EngineHarness(rulesDoc());
    const { port } = mapEmsmdb(h);
    expect(port).toBe(PORT_LO);
    const intruder = mappedConn(h, CLIENT2, 51000, port);
    const before = h.emitted.length;
    expect(intruder.syn()).toEqual([]);
    expect(h.emitted.length).toBe(before);
    expect(h.dropReasons()).toEqual(['no-pinhole']);
    expect(h.engine.counters.dropsByName()).toEqual({ 'no-pinhole': 1 });
    // Nor can a non-SYN sneak in.
    expect(intruder.clientSeg(0, new Uint8Array([1, 2, 3]))).toEqual([]);
    expect(h.dropReasons()).toEqual(['no-pinhole', 'no-pinhole']);
  });

  it('a port of the rule that nobody mapped is no-pinhole; a port outside every rule is port-not-published', () => {
    const h = new EngineHarness(rulesDoc());
    expect(mappedConn(h, CLIENT, 51000, PORT_LO + 5).syn()).toEqual([]);
    expect(mappedConn(h, CLIENT, 51001, 3389).syn()).toEqual([]);
    expect(h.dropReasons()).toEqual(['no-pinhole', 'port-not-published']);
  });

  it('the first client can open several connections to its port, each carried to the server endpoint from the gateway', () => {
    const h = new EngineHarness(rulesDoc());
    const { port } = mapEmsmdb(h);
    const gwPorts = new Set<number>();
    for (const cport of [51000, 51001, 51002]) {
      const c = mappedConn(h, CLIENT, cport, port);
      const syn = c.syn();
      expect(syn.length).toBe(1);
      expect(syn[0]!.side).toBe(SIDE_INTERNAL);
      const p = parseTcp(syn[0]!.pkt);
      expect([p.src, p.dst, p.dport, p.flags]).toEqual([GW, SERVER, 1032, TCP_SYN]);
      expect(p.ipChecksumOk && p.tcpChecksumOk).toBe(true);
      gwPorts.add(p.sport);
      const back = c.synAck();
      expect(back.length).toBe(1);
      const q = parseTcp(back[0]!.pkt);
      expect([back[0]!.side, q.src, q.sport, q.dst, q.dport]).toEqual([SIDE_EXTERNAL, EXT, port, CLIENT, cport]);
      expect(q.ipChecksumOk && q.tcpChecksumOk).toBe(true);
      c.clientSeg(0, new Uint8Array(0), TCP_ACK);
      // RPC both ways, unchanged (the gateway reads the PDU headers of mapped connections too).
      const up = concat([ifBind(1), rpcRequest(2, 3000, cport & 0xff)]);
      const down = concat([ifBindAck(1, 1032), rpcResponse(2, 2000, (cport + 1) & 0xff)]);
      c.clientSend(up.subarray(0, ifBind(1).length));
      c.serverSend(down.subarray(0, ifBindAck(1, 1032).length));
      c.clientSend(up.subarray(ifBind(1).length));
      c.serverSend(down.subarray(ifBindAck(1, 1032).length));
      expect(h.refusals()).toEqual([]);
      expect(Buffer.from(c.deliveredToServer().bytes)).toEqual(Buffer.from(up));
      expect(Buffer.from(c.deliveredToClient().bytes)).toEqual(Buffer.from(down));
    }
    expect(gwPorts.size).toBe(3);
    expect(h.engine.mappings.count).toBe(1);
    expect(h.of('opened').filter((e) => e.rec.kind === 'mapped').map((e) => e.rec.mapping)).toEqual([0, 0, 0]);
  });

  it('two clients may hold the same external port (a one-port range), each translated to its own server endpoint', () => {
    const h = new EngineHarness(rulesDoc({ mappedPorts: '40000' }));
    const a = mapEmsmdb(h, CLIENT, 50000, 1032);
    const b = mapEmsmdb(h, CLIENT2, 50001, 1033);
    expect(a.port).toBe(PORT_LO);
    expect(b.port).toBe(PORT_LO);
    const ca = mappedConn(h, CLIENT, 51000, a.port, 1032);
    const cb = mappedConn(h, CLIENT2, 51000, b.port, 1033);
    expect(parseTcp(ca.syn()[0]!.pkt).dport).toBe(1032);
    expect(parseTcp(cb.syn()[0]!.pkt).dport).toBe(1033);
  });

  it('the same client mapping the same interface again gets the same port (one mapping)', () => {
    const h = new EngineHarness(rulesDoc());
    const first = mapEmsmdb(h, CLIENT, 50000);
    const second = mapEmsmdb(h, CLIENT, 50001);
    expect(second.port).toBe(first.port);
    // On the same association too.
    mapCall(second.epm, [tcpTower(EMSMDB, 0, 81, SERVER, 1032)], { callId: 3 });
    expect(lastMappedPort(h)).toBe(first.port);
    expect(h.of('mappingCreated').length).toBe(1);
    expect(h.rewrites().map((r) => r.mapping)).toEqual([0, 0, 0]);
    // Another endpoint gets another port.
    mapCall(second.epm, [tcpTower(NSPI, 56, 0, SERVER, 4997)], { callId: 4, ifUuid: NSPI, major: 56, minor: 0 });
    expect(lastMappedPort(h)).toBe(PORT_LO + 1);
    expect(h.engine.mappings.count).toBe(2);
  });
});

describe('lifetimes', () => {
  const doc = rulesDoc({ pinholeTimeoutSeconds: 10, idleTimeoutSeconds: 30 });

  it('a pinhole not used within pinholeTimeoutSeconds expires; a later SYN is dropped', () => {
    const h = new EngineHarness(doc);
    h.nowMs = T0;
    const { port } = mapEmsmdb(h);
    h.tick(T0 + 8_000);
    expect(h.engine.mappings.count).toBe(1);
    expect(h.of('mappingExpired')).toEqual([]);
    h.tick(T0 + 12_000);
    expect(h.engine.mappings.count).toBe(0);
    expect(h.of('mappingExpired').map((e) => e.rec.external)).toEqual([`${EXT}:${port}`]);
    h.nowMs = T0 + 12_500;
    expect(mappedConn(h, CLIENT, 51000, port).syn()).toEqual([]);
    expect(h.dropReasons()).toEqual(['no-pinhole']);
  });

  it('the pinhole is usable until then', () => {
    const h = new EngineHarness(doc);
    h.nowMs = T0;
    const { port } = mapEmsmdb(h);
    h.nowMs = T0 + 8_000;
    expect(mappedConn(h, CLIENT, 51000, port).syn().length).toBe(1);
  });

  it('a live connection keeps its mapping beyond the pinhole timeout; the pinhole expires after it closes', () => {
    const h = new EngineHarness(doc);
    h.nowMs = T0;
    const { port } = mapEmsmdb(h);
    h.nowMs = T0 + 1_000;
    const c = mappedConn(h, CLIENT, 51000, port);
    expect(c.open()).toBe(true);
    bindMapped(c);
    // A call every 5 s for 100 s: far beyond the 10 s pinhole, within the 30 s idle timeout.
    for (let t = 5_000; t <= 100_000; t += 5_000) {
      h.nowMs = T0 + t;
      expect(c.clientSend(rpcRequest(t / 1000, 40)).length).toBe(1);
      expect(c.serverSend(rpcResponse(t / 1000, 40)).length).toBe(1);
    }
    expect(h.refusals()).toEqual([]);
    expect(h.engine.mappings.count).toBe(1);
    expect(h.of('mappingExpired')).toEqual([]);
    // The pinhole still admits a second connection of the same client.
    h.nowMs = T0 + 100_500;
    const c2 = mappedConn(h, CLIENT, 51001, port);
    expect(c2.open()).toBe(true);
    // Close both (FIN both ways, last ACK); after the linger and the pinhole timeout the mapping goes.
    for (const x of [c, c2]) {
      x.clientFin();
      x.serverFin();
      x.clientSeg(x.cSent, new Uint8Array(0), TCP_ACK);
    }
    h.tick(T0 + 105_000);
    expect(h.engine.mappings.count).toBe(1);
    h.tick(T0 + 112_000); // linger (10 s) over: connections gone
    expect(h.of('closed').filter((e) => e.rec.kind === 'mapped').map((e) => e.rec.reason)).toEqual(['closed', 'closed']);
    expect(h.engine.mappings.count).toBe(1); // pinhole restarted at the close
    h.tick(T0 + 125_000);
    expect(h.engine.mappings.count).toBe(0);
    h.nowMs = T0 + 125_500;
    expect(mappedConn(h, CLIENT, 51002, port).syn()).toEqual([]);
    expect(h.dropReasons()).toContain('no-pinhole');
  });

  it('an idle connection is cleaned up after idleTimeoutSeconds (connectionClosed reason idle, flow gone)', () => {
    const h = new EngineHarness(doc);
    h.nowMs = T0;
    const { port } = mapEmsmdb(h);
    const c = mappedConn(h, CLIENT, 51000, port);
    expect(c.open()).toBe(true);
    bindMapped(c);
    const last = h.nowMs;
    const flow = h.engine.flows.lookupExternal(ip(CLIENT), 51000, ip(EXT), port);
    expect(flow).toBeGreaterThanOrEqual(0);
    h.tick(last + 25_000);
    expect(h.engine.flows.lookupExternal(ip(CLIENT), 51000, ip(EXT), port)).toBe(flow);
    h.tick(last + 32_000);
    expect(h.engine.flows.lookupExternal(ip(CLIENT), 51000, ip(EXT), port)).toBe(-1);
    const closed = h.of('closed').filter((e) => e.rec.kind === 'mapped');
    expect(closed.map((e) => [e.rec.reason, e.rec.client, e.rec.server])).toEqual([['idle', `${CLIENT}:51000`, `${SERVER}:1032`]]);
    expect(closed[0]!.rec.bytesFromClient).toBeGreaterThan(0);
    // A late segment of the forgotten connection is not forwarded.
    h.nowMs = last + 32_500;
    expect(c.clientSend(rpcRequest(2, 10))).toEqual([]);
    expect(h.dropReasons()).toEqual(['no-connection']);
  });

  it('the EPM connection is cleaned up when idle too', () => {
    const h = new EngineHarness(doc);
    h.nowMs = T0;
    const epm = epmSession(h);
    h.tick(h.nowMs + 31_000);
    expect(h.of('closed').map((e) => [e.rec.kind, e.rec.reason])).toEqual([['epm', 'idle']]);
    expect(h.engine.flows.count).toBe(0);
    expect(epm.clientSend(Uint8Array.of(5, 0, 0))).toEqual([]);
  });

  it('FIN both ways: closed after the linger, retransmitted FIN/ACKs still translated meanwhile', () => {
    const h = new EngineHarness(doc);
    h.nowMs = T0;
    const { port } = mapEmsmdb(h);
    const c = mappedConn(h, CLIENT, 51000, port);
    expect(c.open()).toBe(true);
    expect(c.clientFin().length).toBe(1);
    expect(c.serverFin().length).toBe(1);
    expect(c.clientSeg(c.cSent, new Uint8Array(0), TCP_ACK).length).toBe(1);
    const closedAt = h.nowMs;
    h.nowMs = closedAt + 5_000;
    // The server did not see the last ACK and retransmits its FIN.
    const again = c.serverSeg(0, new Uint8Array(0), TCP_FIN | TCP_ACK);
    expect(again.length).toBe(1);
    expect(parseTcp(again[0]!.pkt).flags & TCP_FIN).toBe(TCP_FIN);
    expect(h.of('closed').filter((e) => e.rec.kind === 'mapped')).toEqual([]);
    h.tick(closedAt + 5_000 + 11_000);
    expect(h.of('closed').filter((e) => e.rec.kind === 'mapped').map((e) => e.rec.reason)).toEqual(['closed']);
    expect(h.engine.flows.lookupExternal(ip(CLIENT), 51000, ip(EXT), port)).toBe(-1);
  });

  it('a RST closes the connection after the linger with reason reset', () => {
    const h = new EngineHarness(doc);
    const { port } = mapEmsmdb(h);
    const c = mappedConn(h, CLIENT, 51000, port);
    expect(c.open()).toBe(true);
    expect(c.serverSeg(0, new Uint8Array(0), TCP_RST).length).toBe(1);
    h.tick(h.nowMs + 11_000);
    expect(h.of('closed').filter((e) => e.rec.kind === 'mapped').map((e) => e.rec.reason)).toEqual(['reset']);
  });
});

describe('port exhaustion in one rule', () => {
  const doc = rulesDoc(
    { mappedPorts: '40000-40001', maxMappingsPerClient: 100 },
    { more: [{ name: 'r1', server: '192.0.2.20', externalAddress: '198.51.100.2', interfaces: ['any'], mappedPorts: '41000-41999', lookup: 'allow' }] },
  );

  it('the third endpoint of a client is refused cleanly: RST both ways at the expected sequence numbers, event mapping-refused', () => {
    const h = new EngineHarness(doc);
    const epm = epmSession(h);
    mapCall(epm, [tcpTower(EMSMDB, 0, 81, SERVER, 1032)], { callId: 2 });
    mapCall(epm, [tcpTower(NSPI, 56, 0, SERVER, 4997)], { callId: 3, ifUuid: NSPI, major: 56, minor: 0 });
    expect(h.rewrites().map((r) => r.rewritten)).toEqual([`${EXT}:40000`, `${EXT}:40001`]);
    const before = h.emitted.length;
    // What each end acknowledged last: the client all the server sent so far, the server all the client sent.
    const sBefore = epm.sSent;
    const clientExpects = epm.serverSeq(epm.sSent);
    const out = mapCall(epm, [tcpTower(EMSMDB, 0, 81, SERVER, 1033)], { callId: 4 });
    const serverExpects = epm.clientSeq(epm.cSent);
    expect(h.refusals().map((r) => [r.reason, r.rule, r.client, r.server])).toEqual([['mapping-refused', 'r0', `${CLIENT}:50000`, `${SERVER}:135`]]);
    expect(h.refusals()[0]!.detail).toMatch(/range-exhausted/);
    // The refused response goes nowhere; exactly two RSTs come out.
    const rsts = out.map((e) => ({ side: e.side, p: parseTcp(e.pkt) }));
    expect(h.emitted.length - before).toBe(1 /* the request's segment */ + 2);
    expect(rsts.map((r) => r.side)).toEqual([SIDE_EXTERNAL, SIDE_INTERNAL]);
    const [toClient, toServer] = rsts;
    expect([toClient!.p.src, toClient!.p.sport, toClient!.p.dst, toClient!.p.dport, toClient!.p.flags]).toEqual([EXT, 135, CLIENT, 50000, TCP_RST]);
    expect(toClient!.p.seq).toBe(clientExpects);
    expect([toServer!.p.src, toServer!.p.sport, toServer!.p.dst, toServer!.p.dport, toServer!.p.flags]).toEqual([GW, epm.gwPort, SERVER, 135, TCP_RST]);
    expect(toServer!.p.seq).toBe(serverExpects);
    expect([toClient!.p.seq, toServer!.p.seq]).toEqual([epm.lastAckFromClient, epm.lastAckFromServer]);
    for (const r of rsts) expect(r.p.ipChecksumOk && r.p.tcpChecksumOk).toBe(true);
    expect(h.engine.counters.resetsSent).toBe(2);
    // Nothing of the refused response reached the client.
    expect(epm.deliveredToClient().length).toBe(sBefore);
    // Later packets of the refused connection are dropped.
    expect(epm.clientSend(Uint8Array.of(5))).toEqual([]);
    expect(h.dropReasons()).toContain('refused-connection');
    // The two mappings it got stay usable.
    expect(mappedConn(h, CLIENT, 51000, 40001, 4997).syn().length).toBe(1);
  });

  it('other clients of the rule and other rules are unaffected', () => {
    const h = new EngineHarness(doc);
    const epm = epmSession(h);
    mapCall(epm, [tcpTower(EMSMDB, 0, 81, SERVER, 1032)], { callId: 2 });
    mapCall(epm, [tcpTower(NSPI, 56, 0, SERVER, 4997)], { callId: 3, ifUuid: NSPI, major: 56, minor: 0 });
    mapCall(epm, [tcpTower(EMSMDB, 0, 81, SERVER, 1033)], { callId: 4 });
    expect(h.refusals().length).toBe(1);
    // Same client, other rule (other external address, other server).
    const other = epmSession(h, { cport: 50001, ext: '198.51.100.2', server: '192.0.2.20' });
    mapCall(other, [tcpTower(EMSMDB, 0, 81, '192.0.2.20', 1032)]);
    expect(h.rewrites().at(-1)!.rewritten).toBe('198.51.100.2:41000');
    expect(h.rewrites().at(-1)!.rule).toBe('r1');
    // Another client of the same rule: the ports are client-scoped.
    const second = epmSession(h, { client: CLIENT2, cport: 50002 });
    mapCall(second, [tcpTower(EMSMDB, 0, 81, SERVER, 1033)]);
    expect(h.rewrites().at(-1)!.rewritten).toBe(`${EXT}:40000`);
    expect(h.refusals().length).toBe(1);
  });

  it('maxMappingsPerClient refuses with client-limit', () => {
    const h = new EngineHarness(rulesDoc({ maxMappingsPerClient: 1 }));
    const epm = epmSession(h);
    mapCall(epm, [tcpTower(EMSMDB, 0, 81, SERVER, 1032), tcpTower(NSPI, 56, 0, SERVER, 4997)]);
    expect(h.refusals().map((r) => r.reason)).toEqual(['mapping-refused']);
    expect(h.refusals()[0]!.detail).toMatch(/client-limit/);
    expect(h.refusals()[0]!.interface).toBe(`${NSPI}@56.0`);
  });
});

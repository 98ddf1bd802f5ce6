/**
 * Engine state across a daemon restart: Engine.snapshot() of one engine, through bytes, into
 * Engine.restore() of a new one built from the same rules. A pinhole keeps its port, an
 * established mapped connection (bound, called) carries on with no SYN, with its presentation
 * contexts (the policy still holds), an endpoint-mapper session carries on, notification relay
 * ports keep relaying. Bad snapshots are error values, bad entries are skipped and counted.
 */
import { describe, expect, it } from 'vitest';
import {
  CLIENT, EXT, EngineHarness, GW, PORT_HI, SERVER, SIDE_EXTERNAL, SIDE_INTERNAL, TcpConn, bindMapped, ip, lastMappedPort, mapCall,
  epmSession, eptLookupRequest, eptLookupResponseStub, eptMapRequest, eptMapResponseStub, parseTcp, responseFragments, rpcRequest, rpcResponse,
  rulesDoc, tcpPacket, tcpTower,
} from '../helpers/engine-harness.js';
import { TCP_ACK } from '../../src/wire/packet.js';
import {
  EMSMDB, SRVSVC, accept, bindAckPdu, bindPdu, connectMapped, ctx, openMapped, parseUdp, policyDoc, registerPushPdu, requestPdu, udpPacket,
} from '../helpers/policy-harness.js';
import { sockaddrIn } from '../../src/exchange/push-notification.js';
import { decodeSnapshot, encodeSnapshot, SNAPSHOT_VERSION, type EngineSnapshot } from '../../src/engine/snapshot.js';

const HOUR = 3_600_000;
const DOC = rulesDoc();

/** Snapshot of `h` at its clock, through bytes, as a restarted daemon reads it. */
function roundTrip(h: EngineHarness): EngineSnapshot {
  const r = decodeSnapshot(encodeSnapshot(h.engine.snapshot(h.nowMs)));
  if (!r.ok) throw new Error(r.error);
  return r.snapshot;
}

/** The same connection seen from a new harness (same tuple, sequence positions carried over). */
function sameConn(h: EngineHarness, c: TcpConn): TcpConn {
  const n = new TcpConn(h, { client: c.client, cport: c.cport, ext: c.ext, eport: c.eport, server: c.server, sport: c.sport, cIsn: c.cIsn, sIsn: c.sIsn });
  n.cSent = c.cSent;
  n.sSent = c.sSent;
  n.gwPort = c.gwPort;
  return n;
}

/** A gateway with a pinhole, an EPM session and a mapped connection bound to EMSMDB and called once. */
function busyGateway(doc: Record<string, unknown> = DOC): { h: EngineHarness; port: number; conn: TcpConn; epm: TcpConn } {
  const h = new EngineHarness(doc);
  const { conn, port, epm } = openMapped(h);
  bindMapped(conn);
  conn.clientSend(rpcRequest(2, 200));
  conn.serverSend(rpcResponse(2, 300));
  expect(h.refusals()).toEqual([]);
  return { h, port, conn, epm };
}

describe('snapshot and restore', () => {
  it('the next call on a restored, bound connection passes with the same translation, with no SYN', () => {
    const { h, port, conn } = busyGateway();
    const snap = roundTrip(h);
    expect(snap.version).toBe(SNAPSHOT_VERSION);
    expect(snap.mappings).toHaveLength(1);
    expect(snap.connections.map((c) => c.kind).sort()).toEqual(['epm', 'mapped']);
    expect(snap.left).toEqual({});

    const h2 = new EngineHarness(DOC);
    h2.nowMs = h.nowMs + 5_000;
    expect(h2.engine.restore(snap, h2.nowMs, HOUR)).toEqual({ ok: true, mappings: 1, connections: 2, notifications: 0, skipped: {} });
    const c2 = sameConn(h2, conn);
    const req = rpcRequest(3, 150, 0x33);
    const out = c2.clientSend(req);
    expect(out).toHaveLength(1);
    const p = parseTcp(out[0]!.pkt);
    expect(out[0]!.side).toBe(SIDE_INTERNAL);
    expect([p.src, p.sport, p.dst, p.dport]).toEqual([GW, conn.gwPort, SERVER, 1032]);
    expect(p.seq).toBe(conn.clientSeq(conn.cSent));
    expect(p.payload).toEqual(req);
    const resp = c2.serverSend(rpcResponse(3, 80));
    expect(resp).toHaveLength(1);
    const q = parseTcp(resp[0]!.pkt);
    expect([resp[0]!.side, q.src, q.sport, q.dst, q.dport]).toEqual([SIDE_EXTERNAL, EXT, port, CLIENT, conn.cport]);
    expect(h2.refusals()).toEqual([]);
    expect(h2.dropReasons()).toEqual([]);
  });

  it('the policy survives: a request on a context the server never accepted is still refused', () => {
    const { h, conn } = busyGateway();
    const h2 = new EngineHarness(DOC);
    expect(h2.engine.restore(roundTrip(h), h.nowMs, HOUR).ok).toBe(true);
    const c2 = sameConn(h2, conn);
    c2.clientSend(requestPdu(new Uint8Array(40), { ctxId: 7, callId: 9 }));
    expect(h2.refusals().map((r) => r.reason)).toEqual(['context-not-accepted']);
  });

  it('a new connection through the old pinhole connects without a new ept_map, and ept_map again names the same port', () => {
    const { h, port, epm } = busyGateway();
    const h2 = new EngineHarness(DOC);
    h2.nowMs = h.nowMs + 1_000;
    expect(h2.engine.restore(roundTrip(h), h2.nowMs, HOUR).ok).toBe(true);
    const fresh = connectMapped(h2, port, { cport: 52000 });
    bindMapped(fresh);
    expect(fresh.clientSend(rpcRequest(2, 64))).toHaveLength(1);
    expect(h2.refusals()).toEqual([]);
    // The restored endpoint-mapper session carries on: the next ept_map reuses the pinhole.
    const e2 = sameConn(h2, epm);
    mapCall(e2, [tcpTower(EMSMDB, 0, 81, SERVER, 1032)], { ifUuid: EMSMDB, major: 0, minor: 81, callId: 3 });
    expect(lastMappedPort(h2)).toBe(port);
    expect(h2.engine.mappings.count).toBe(1);
  });

  it('a pinhole keeps its deadline: it expires when it would have, counted from its last activity', () => {
    const h = new EngineHarness(DOC);
    const epm = epmSession(h);
    mapCall(epm, [tcpTower(EMSMDB, 0, 81, SERVER, 1032)], { ifUuid: EMSMDB, major: 0, minor: 81 });
    const snap = roundTrip(h);
    const timeout = h.rules.rules[0]!.pinholeTimeoutMs;
    const last = snap.mappings[0]!.lastActivityMs;
    const h2 = new EngineHarness(DOC);
    expect(h2.engine.restore(snap, last + timeout - 1_000, HOUR)).toMatchObject({ ok: true, mappings: 1 });
    h2.tick(last + timeout - 10);
    expect(h2.engine.mappings.count).toBe(1);
    h2.tick(last + timeout + 1_000);
    expect(h2.engine.mappings.count).toBe(0);
    // Restored after its deadline: skipped as expired.
    const h3 = new EngineHarness(DOC);
    expect(h3.engine.restore(snap, last + timeout + 1, HOUR)).toMatchObject({ ok: true, mappings: 0, skipped: { expired: 1 } });
  });

  it('a connection in the middle of a PDU is not carried, and the snapshot says so', () => {
    const { h, conn } = busyGateway();
    const req = rpcRequest(3, 3000);
    conn.clientSeg(conn.cSent, req.subarray(0, 1000));
    const snap = roundTrip(h);
    expect(snap.connections.map((c) => c.kind)).toEqual(['epm']);
    expect(snap.left).toEqual({ 'mid-pdu': 1 });
  });

  it('notification registrations keep their relay port: the server\'s datagram still reaches the client', () => {
    const doc = policyDoc({ interfaces: ['exchange'], notifications: true, lookup: 'deny' });
    const h = new EngineHarness(doc);
    const { conn } = openMapped(h);
    conn.clientSend(bindPdu([ctx(0, EMSMDB, 0, 81)]));
    conn.serverSend(bindAckPdu([accept()]));
    const reg = registerPushPdu({ context: Uint8Array.of(1, 2, 3, 4), callback: sockaddrIn(5555, ip('10.1.2.3')) });
    const regAt = conn.cSent;
    const [sentReg] = conn.clientSend(reg);
    const relay = Number(h.of('notification')[0]!.rec.relay.split(':')[1]);
    const h2 = new EngineHarness(doc);
    expect(h2.engine.restore(roundTrip(h), h.nowMs, HOUR)).toMatchObject({ ok: true, connections: 2, notifications: 1 });
    // The server has not ACKed the registration: its retransmission is rewritten the same way.
    const again = sameConn(h2, conn).clientSeg(regAt, reg);
    expect(again).toHaveLength(1);
    expect(parseTcp(again[0]!.pkt).payload).toEqual(parseTcp(sentReg!.pkt).payload);
    expect(parseTcp(again[0]!.pkt).payload).not.toEqual(reg);
    const out = h2.inject(SIDE_INTERNAL, udpPacket({ src: SERVER, dst: GW, sport: 34567, dport: relay, payload: Uint8Array.of(9) }));
    expect(out).toHaveLength(1);
    const d = parseUdp(out[0]!.pkt);
    expect([out[0]!.side, d.src, d.dst, d.dport]).toEqual([SIDE_EXTERNAL, EXT, CLIENT, 5555]);
  });
});

describe('an endpoint-mapper session whose stream was shortened (lookup: published)', () => {
  it('keeps shifting: the next server segment continues the client\'s numbering, the client\'s ACK goes back to the server\'s', () => {
    const doc = policyDoc({ interfaces: ['exchange'], lookup: 'published' });
    const h = new EngineHarness(doc);
    const c = epmSession(h, { cport: 50123 });
    c.clientSend(eptLookupRequest({ callId: 2 }));
    const lookup = eptLookupResponseStub([
      { object: '00000000-0000-0000-0000-000000000000', annotation: 'srvsvc', tower: tcpTower(SRVSVC, 3, 0, SERVER, 49152) },
      { object: '00000000-0000-0000-0000-000000000000', annotation: 'store', tower: tcpTower(EMSMDB, 0, 81, SERVER, 1032) },
    ]);
    c.serverSend(responseFragments(lookup, 2));
    const delivered = c.deliveredToClient().bytes.length;
    expect(delivered).toBeLessThan(c.sSent); // the srvsvc entry was filtered out
    const snap = roundTrip(h);
    expect(snap.connections[0]!.edits).toHaveLength(1);

    const h2 = new EngineHarness(doc);
    expect(h2.engine.restore(snap, h.nowMs, HOUR)).toMatchObject({ ok: true, connections: 1 });
    const c2 = sameConn(h2, c);
    c2.clientSend(eptMapRequest({ callId: 3, ifUuid: EMSMDB, major: 0, minor: 81 }));
    const resp = responseFragments(eptMapResponseStub([tcpTower(EMSMDB, 0, 81, SERVER, 1032)]), 3);
    const out = c2.serverSend(resp);
    expect(out).toHaveLength(1);
    const p = parseTcp(out[0]!.pkt);
    expect(p.seq).toBe(c.serverSeq(delivered));
    // The client ACKs everything in the numbering it received; the server gets its own numbering.
    const ack = h2.inject(SIDE_EXTERNAL, tcpPacket({ src: CLIENT, dst: EXT, sport: c.cport, dport: 135, seq: c.clientSeq(c2.cSent), ack: c.serverSeq(delivered + resp.length), flags: TCP_ACK }));
    expect(ack).toHaveLength(1);
    expect(parseTcp(ack[0]!.pkt).ack).toBe(c.serverSeq(c2.sSent));
    expect(h2.refusals()).toEqual([]);
  });
});

describe('restore skips what no longer fits the rules', () => {
  it('entries of a rule that is gone (by name) are skipped and counted', () => {
    const { h } = busyGateway();
    const h2 = new EngineHarness(rulesDoc({ name: 'other' }));
    expect(h2.engine.restore(roundTrip(h), h.nowMs, HOUR)).toEqual({ ok: true, mappings: 0, connections: 0, notifications: 0, skipped: { 'rule-gone': 3 } });
  });

  it('entries whose server moved are skipped as translation-changed', () => {
    const { h } = busyGateway();
    const h2 = new EngineHarness(rulesDoc({ server: '192.0.2.11' }));
    const r = h2.engine.restore(roundTrip(h), h.nowMs, HOUR);
    expect(r).toMatchObject({ ok: true, mappings: 0, connections: 0, skipped: { 'translation-changed': 2, 'mapping-gone': 1 } });
  });

  it('the rules may be reordered: entries follow the rule by name', () => {
    const { h, conn } = busyGateway();
    const more = { name: 'first', server: '192.0.2.20', externalAddress: '198.51.100.2', interfaces: ['any'], clients: ['0.0.0.0/0'], mappedPorts: `${PORT_HI + 1}-${PORT_HI + 100}` };
    const doc = rulesDoc();
    doc.rules = [more, ...(doc.rules as unknown[])];
    const h2 = new EngineHarness(doc);
    expect(h2.engine.restore(roundTrip(h), h.nowMs, HOUR)).toMatchObject({ ok: true, mappings: 1, connections: 2 });
    expect(sameConn(h2, conn).clientSend(rpcRequest(3, 10))).toHaveLength(1);
  });

  it('an entry that does not read is skipped; the others are restored', () => {
    const { h } = busyGateway();
    const snap = roundTrip(h);
    (snap.connections[0] as unknown as Record<string, unknown>).c2s = { synced: 'yes' };
    const h2 = new EngineHarness(DOC);
    expect(h2.engine.restore(snap, h.nowMs, HOUR)).toMatchObject({ ok: true, mappings: 1, connections: 1, skipped: { unreadable: 1 } });
  });
});

describe('bad snapshots are error values, never exceptions', () => {
  const { h } = busyGateway();
  const snapText = JSON.stringify(h.engine.snapshot(h.nowMs));
  const bytes = encodeSnapshot(JSON.parse(snapText) as EngineSnapshot);
  const lines = new TextDecoder().decode(bytes).split('\n').filter((l) => l !== '');
  /** The file with its header line changed by `f`. */
  const tamper = (f: (o: Record<string, unknown>) => void): Uint8Array => {
    const head = JSON.parse(lines[0]!) as Record<string, unknown>;
    f(head);
    return new TextEncoder().encode([JSON.stringify(head), ...lines.slice(1)].join('\n') + '\n');
  };

  it('the file is one JSON object a line: header, pinholes, connections, end', () => {
    expect(lines).toHaveLength(1 + 1 + 2 + 1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ format: 'rpcgw-state', version: SNAPSHOT_VERSION, mappings: 1, connections: 2 });
    expect(lines[lines.length - 1]).toBe('{"end":true}');
  });

  it('corrupt, truncated, foreign format, future version', () => {
    expect(decodeSnapshot(Uint8Array.of(0xff, 0xfe, 0x00))).toMatchObject({ ok: false });
    expect(decodeSnapshot(new Uint8Array(0))).toMatchObject({ ok: false });
    expect(decodeSnapshot(new TextEncoder().encode('[]'))).toMatchObject({ ok: false });
    // Cut at a line boundary: every line parses, the end is missing.
    const cut = new TextEncoder().encode(lines.slice(0, 3).join('\n') + '\n');
    expect(decodeSnapshot(cut)).toEqual({ ok: false, error: 'state file truncated (2 of 4 lines after the header)' });
    expect(decodeSnapshot(bytes.subarray(0, bytes.length >> 1))).toMatchObject({ ok: false, error: expect.stringMatching(/^not a state file \(line \d+/) });
    expect(decodeSnapshot(tamper((o) => (o.format = 'something-else')))).toMatchObject({ ok: false });
    const future = decodeSnapshot(tamper((o) => (o.version = SNAPSHOT_VERSION + 1)));
    expect(future).toEqual({ ok: false, error: `state file version ${SNAPSHOT_VERSION + 1} is newer than this rpcgw reads (${SNAPSHOT_VERSION})` });
    expect(decodeSnapshot(tamper((o) => delete o.rules))).toMatchObject({ ok: false });
  });

  it('another gateway\'s state, stale state, or an engine that already has state', () => {
    const foreign = decodeSnapshot(tamper((o) => ((o.gateway as Record<string, string>).external = '198.51.100.99')));
    expect(foreign.ok).toBe(true);
    const h2 = new EngineHarness(DOC);
    expect(h2.engine.restore((foreign as { snapshot: EngineSnapshot }).snapshot, h.nowMs, HOUR)).toMatchObject({ ok: false, error: expect.stringContaining('another gateway') });
    const snap = (decodeSnapshot(bytes) as { snapshot: EngineSnapshot }).snapshot;
    expect(h2.engine.restore(snap, h.nowMs + HOUR + 1, HOUR)).toMatchObject({ ok: false, error: expect.stringContaining('stale') });
    expect(h2.engine.flows.count + h2.engine.mappings.count).toBe(0);
    expect(h2.engine.restore(snap, h.nowMs, HOUR).ok).toBe(true);
    expect(h2.engine.restore(snap, h.nowMs, HOUR)).toMatchObject({ ok: false });
  });

  it('every truncation of the file, every field replaced by a wrong type: no throw', () => {
    for (let cut = 0; cut < bytes.length; cut += 13) {
      const d = decodeSnapshot(bytes.subarray(0, cut));
      if (d.ok) new EngineHarness(DOC).engine.restore(d.snapshot, h.nowMs, HOUR);
    }
    const paths: (string | number)[][] = [];
    const walk = (x: unknown, path: (string | number)[]): void => {
      paths.push(path);
      if (x !== null && typeof x === 'object') for (const [k, v] of Object.entries(x)) walk(v, [...path, Array.isArray(x) ? Number(k) : k]);
    };
    walk(JSON.parse(snapText), []);
    let restored = 0;
    for (const path of paths.slice(1)) {
      for (const bad of [null, 'x', -1, 1e300]) {
        const copy = JSON.parse(snapText) as Record<string, unknown>;
        let at: Record<string | number, unknown> = copy;
        for (const k of path.slice(0, -1)) at = at[k] as Record<string | number, unknown>;
        at[path[path.length - 1]!] = bad;
        const r = new EngineHarness(DOC).engine.restore(copy as unknown as EngineSnapshot, h.nowMs, HOUR);
        if (r.ok) restored++;
      }
    }
    expect(restored).toBeGreaterThan(0);
  });
});

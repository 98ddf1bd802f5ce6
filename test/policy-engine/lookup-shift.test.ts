/**
 * `lookup: published` changes a PDU's length — the one place the gateway does. The filtered
 * ept_lookup response replaces the server's, so from there on the server's sequence numbers are
 * shifted towards the client and the client's ACKs shifted back. Synthetic conversation: after
 * a filtered response more PDUs flow both ways (a second lookup, an ept_map and its rewritten
 * answer); the client's TCP plays in the numbering it received (as a real client behind the
 * gateway would). Checked from the emitted packets alone.
 */
import { describe, expect, it } from 'vitest';
import {
  EMSMDB, EngineHarness, EXT, NSPI, SERVER, SIDE_EXTERNAL, SIDE_INTERNAL, TcpConn, concat, epmBind, epmBindAck, epmSession, eptLookupRequest, eptLookupResponseStub, eptMapRequest,
  eptMapResponseStub, parseTcp, responseFragments, tcpTower, towersInStream, type Emitted,
} from '../helpers/engine-harness.js';
import { SRVSVC, WKSSVC, policyDoc, walkPdus } from '../helpers/policy-harness.js';
import { buildTower } from '../../src/epm/tower.js';
import { PROTO_NCACN_NP, PROTO_NCALRPC } from '../../src/epm/constants.js';
import { PTYPE_BIND_ACK, PTYPE_RESPONSE } from '../../src/dcerpc/constants.js';
import { TCP_ACK, TCP_PSH } from '../../src/wire/packet.js';
import { seqDiff } from '../../src/stream/seq.js';
import type { EptLookupEntrySpec } from '../../src/epm/ept-lookup.js';

const RFR = '1544f5e0-613c-11d1-93df-00c04fd7bd09';
const PUBLISHED = policyDoc({ interfaces: ['exchange'], lookup: 'published' });
const OBJ = '00000000-0000-0000-0000-000000000000';

const entry = (tower: Uint8Array, annotation = ''): EptLookupEntrySpec => ({ object: OBJ, annotation, tower });

/** First lookup: two EMSMDB tcp towers kept; srvsvc, wkssvc, a named pipe and a local tower removed. */
const LOOKUP1 = eptLookupResponseStub([
  entry(tcpTower(SRVSVC, 3, 0, SERVER, 49152), 'srvsvc'),
  entry(tcpTower(EMSMDB, 0, 81, SERVER, 1032), 'Exchange Server STORE EMSMDB Interface'),
  entry(buildTower({ ifUuid: EMSMDB, ifMajor: 0, ifMinor: 81, protocol: PROTO_NCACN_NP, pipe: '\\PIPE\\store', host: '\\\\EXCH01' })),
  entry(tcpTower(WKSSVC, 1, 0, SERVER, 49153), 'wkssvc'),
  entry(buildTower({ ifUuid: EMSMDB, ifMajor: 0, ifMinor: 81, protocol: PROTO_NCALRPC, pipe: 'LRPC00000d4c.00000001' })),
  entry(tcpTower(EMSMDB, 0, 81, SERVER, 1033), 'Exchange Server STORE EMSMDB Interface'),
]);
/** Second lookup: NSPI kept, another host's tcp tower and srvsvc removed. */
const LOOKUP2 = eptLookupResponseStub([
  entry(tcpTower(NSPI, 56, 0, '192.0.2.77', 4997)),
  entry(tcpTower(NSPI, 56, 0, SERVER, 4997), 'MS Exchange Directory NSPI Proxy'),
  entry(tcpTower(SRVSVC, 3, 0, SERVER, 49152)),
]);

/** The client's TCP: ACKs what it has received, in the numbering it received it. */
function clientSendAcking(c: TcpConn, data: Uint8Array, mss = 1460): Emitted[] {
  const ackOff = c.deliveredToClient().length;
  const out: Emitted[] = [];
  for (let p = 0; p < data.length || p === 0; p += mss) {
    const seg = data.subarray(p, Math.min(data.length, p + mss));
    out.push(...c.h.inject(SIDE_EXTERNAL, c.clientPacket(c.cSent + p, seg, seg.length > 0 ? TCP_PSH | TCP_ACK : TCP_ACK, ackOff)));
    if (data.length === 0) break;
  }
  c.cSent += data.length;
  return out;
}

interface Played {
  h: EngineHarness;
  c: TcpConn;
  /** What the client sent, all of it. */
  clientBytes: Uint8Array;
  /** The first lookup response as the server sent it (server stream offset, bytes). */
  resp1: { start: number; bytes: Uint8Array };
  /** Packets the gateway emitted to the client for the first filtered response. */
  firstReplacement: Emitted[];
}

/** bind, lookup (filtered), lookup (filtered), ept_map (rewritten in place), all ACKed by the client. */
function play(): Played {
  const h = new EngineHarness(PUBLISHED);
  const c = epmSession(h, { cport: 50123 });
  const sent: Uint8Array[] = [];
  const send = (b: Uint8Array): Emitted[] => {
    sent.push(b);
    return clientSendAcking(c, b);
  };
  send(eptLookupRequest({ callId: 2 }));
  const r1 = responseFragments(LOOKUP1, 2, [200]);
  const start1 = c.sSent;
  const firstReplacement = c.serverSend(r1, 300);
  clientSendAcking(c, new Uint8Array(0));
  send(eptLookupRequest({ callId: 3 }));
  c.serverSend(responseFragments(LOOKUP2, 3), 250);
  send(eptMapRequest({ callId: 4, ifUuid: RFR, major: 1, minor: 0 }));
  c.serverSend(responseFragments(eptMapResponseStub([tcpTower(RFR, 1, 0, SERVER, 4998)]), 4), 100);
  clientSendAcking(c, new Uint8Array(0));
  return {
    h, c, clientBytes: concat([epmBind(), ...sent]), firstReplacement,
    resp1: { start: start1, bytes: r1 },
  };
}

describe('lookup: published — the client-side stream after length changes', () => {
  it('is a valid DCE/RPC stream: no holes, no conflicting copies, good checksums, every PDU frames', () => {
    const { c, h } = play();
    const d = c.deliveredToClient();
    expect([d.holes, d.conflicts.length, d.badChecksums]).toEqual([0, 0, 0]);
    const w = walkPdus(d.bytes);
    expect(w.error).toBe('');
    expect(w.pdus.map((p) => [p.ptype, p.callId])).toEqual([[PTYPE_BIND_ACK, 1], [PTYPE_RESPONSE, 2], [PTYPE_RESPONSE, 3], [PTYPE_RESPONSE, 4]]);
    // Only the published interfaces' tcp towers, each rewritten to E and a mapped port.
    expect(towersInStream(d.bytes).map((t) => [t.callId, t.op, t.ifUuid, t.ip, t.port])).toEqual([
      [2, 'ept_lookup', EMSMDB, EXT, 40000],
      [2, 'ept_lookup', EMSMDB, EXT, 40001],
      [3, 'ept_lookup', NSPI, EXT, 40002],
      [4, 'ept_map', RFR, EXT, 40003],
    ]);
    expect(h.refusals()).toEqual([]);
    expect(h.heldTotal).toBe(0);
  });

  it('the server receives the client\'s bytes unchanged, and never an ACK beyond what it sent', () => {
    const { c, clientBytes } = play();
    expect(c.deliveredToServer().bytes).toEqual(clientBytes);
    const acks = c.toServer().filter((p) => (p.flags & TCP_ACK) !== 0).map((p) => p.ack);
    const sentEnd = c.serverSeq(c.sSent);
    for (const a of acks) expect(seqDiff(a, sentEnd)).toBeLessThanOrEqual(0);
    // The client's last ACK (everything it received) is everything the server sent.
    expect(acks[acks.length - 1]).toBe(sentEnd);
    expect(c.toServer().every((p) => p.ipChecksumOk && p.tcpChecksumOk)).toBe(true);
  });

  it('a client ACK of the whole replacement becomes an ACK of the server\'s whole response; a partial one, of none of it', () => {
    const h = new EngineHarness(PUBLISHED);
    const c = epmSession(h, { cport: 50124 });
    clientSendAcking(c, eptLookupRequest({ callId: 2 }));
    const start = c.sSent;
    const r1 = responseFragments(LOOKUP1, 2);
    c.serverSend(r1, 300);
    const got = c.deliveredToClient().length - start; // the replacement's length
    expect(got).toBeLessThan(r1.length);
    // Half of the replacement acknowledged: the server hears "nothing of the response yet".
    const half = parseTcp(h.inject(SIDE_EXTERNAL, c.clientPacket(c.cSent, new Uint8Array(0), TCP_ACK, start + (got >> 1)))[0]!.pkt);
    expect(half.ack).toBe(c.serverSeq(start));
    const all = parseTcp(h.inject(SIDE_EXTERNAL, c.clientPacket(c.cSent, new Uint8Array(0), TCP_ACK, start + got))[0]!.pkt);
    expect(all.ack).toBe(c.serverSeq(start + r1.length));
    expect(all.tcpChecksumOk).toBe(true);
  });

  it('a server retransmission of the replaced response (client ACK not seen yet) is answered with the replacement bytes', () => {
    const h = new EngineHarness(PUBLISHED);
    const c = epmSession(h, { cport: 50127 });
    clientSendAcking(c, eptLookupRequest({ callId: 2 }));
    const start = c.sSent;
    const r1 = responseFragments(LOOKUP1, 2, [200]);
    const first = c.serverSend(r1, 300);
    expect(first.length).toBeGreaterThan(0);
    // The whole response again, as the server's retransmission timer would send it.
    for (let p = 0; p < r1.length; p += 300) {
      const again = c.serverSeg(start + p, r1.subarray(p, p + 300));
      if (p === 0) expect(again.map((e) => Array.from(e.pkt))).toEqual(first.map((e) => Array.from(e.pkt)));
      else expect(again.every((e) => first.some((f) => Array.from(f.pkt).join() === Array.from(e.pkt).join()))).toBe(true);
    }
    const d = c.deliveredToClient();
    expect([d.holes, d.conflicts.length]).toEqual([0, 0]);
    expect(towersInStream(d.bytes).map((t) => [t.ifUuid, t.ip])).toEqual([[EMSMDB, EXT], [EMSMDB, EXT]]);
  });

  it('after the client ACKed it, a spurious retransmission of the replaced response leaks nothing', () => {
    const { c, h, resp1, firstReplacement } = play();
    const again = c.serverSeg(resp1.start, resp1.bytes.subarray(0, 300));
    const same = again.length === 0 || again.map((e) => Array.from(e.pkt).join()).join('|') === firstReplacement.map((e) => Array.from(e.pkt).join()).join('|');
    expect(same).toBe(true);
    expect(c.deliveredToClient().conflicts).toEqual([]);
    expect(h.refusals()).toEqual([]);
  });

  it('a server retransmission after the edits (client ACK not seen yet) goes out shifted, with the same rewritten bytes', () => {
    const h = new EngineHarness(PUBLISHED);
    const c = epmSession(h, { cport: 50128 });
    clientSendAcking(c, eptLookupRequest({ callId: 2 }));
    c.serverSend(responseFragments(LOOKUP1, 2), 300);
    clientSendAcking(c, eptMapRequest({ callId: 4, ifUuid: RFR, major: 1, minor: 0 }));
    const map = responseFragments(eptMapResponseStub([tcpTower(RFR, 1, 0, SERVER, 4998)]), 4);
    const mapStart = c.sSent;
    const first = c.serverSend(map, 100).map((e) => parseTcp(e.pkt));
    const shift = c.deliveredToClient().length - (mapStart + map.length);
    expect(shift).toBeLessThan(0);
    for (let p = 0; p < map.length; p += 100) {
      const again = c.serverSeg(mapStart + p, map.subarray(p, p + 100));
      expect(again.length).toBe(1);
      const a = parseTcp(again[0]!.pkt);
      const f = first[p / 100]!;
      expect([a.seq, a.seq - c.serverSeq(mapStart + p), Array.from(a.payload)]).toEqual([f.seq, shift, Array.from(f.payload)]);
      expect(a.tcpChecksumOk).toBe(true);
    }
    expect(towersInStream(c.deliveredToClient().bytes).slice(-1).map((t) => [t.ifUuid, t.ip, t.port])).toEqual([[RFR, EXT, 40002]]);
    expect(c.deliveredToClient().conflicts).toEqual([]);
  });

  it('a pure ACK from the server after the edits carries the shifted sequence number', () => {
    const { c, h } = play();
    const d = c.deliveredToClient();
    const out = h.inject(SIDE_INTERNAL, c.serverPacket(c.sSent, new Uint8Array(0), TCP_ACK));
    expect(out.length).toBe(1);
    const p = parseTcp(out[0]!.pkt);
    expect(p.seq).toBe(c.serverSeq(d.length));
    expect(p.tcpChecksumOk).toBe(true);
  });

  it('the RST of a later refusal lands where the client expects (its numbering)', () => {
    const { c, h } = play();
    // ept_insert from outside: refused.
    const bad = eptMapRequest({ callId: 9, opnum: 0 });
    const out = clientSendAcking(c, bad);
    expect(h.refusals().map((r) => r.reason)).toEqual(['epm-operation-not-allowed']);
    const rst = out.map((e) => ({ side: e.side, p: parseTcp(e.pkt) }));
    expect(rst[0]!.side).toBe(SIDE_EXTERNAL);
    expect(rst[0]!.p.seq).toBe(c.serverSeq(c.deliveredToClient().length));
    expect(rst[1]!.p.seq).toBe(c.lastAckFromServer);
  });
});

describe('lookup: published — other encodings', () => {
  const ENTRIES: EptLookupEntrySpec[] = [
    entry(tcpTower(SRVSVC, 3, 0, SERVER, 49152), 'srvsvc'),
    entry(tcpTower(EMSMDB, 0, 81, SERVER, 1032), 'store'),
    entry(tcpTower(NSPI, 56, 0, SERVER, 4997), 'nspi'),
  ];

  for (const [label, ndr64, le] of [['NDR64', true, true], ['big-endian NDR', false, false]] as const) {
    it(`${label}: the re-encoded answer frames, decodes, and lists only the published entries`, () => {
      const h = new EngineHarness(PUBLISHED);
      const c = new TcpConn(h, { cport: 50130 });
      expect(c.open()).toBe(true);
      c.clientSend(epmBind(1, ndr64, undefined, 3, le));
      c.serverSend(epmBindAck(1, ndr64, le));
      clientSendAcking(c, eptLookupRequest({ callId: 2, ndr64, littleEndian: le }));
      const stub = eptLookupResponseStub(ENTRIES, ndr64, le);
      c.serverSend(responseFragments(stub, 2, [], undefined, le), 200);
      const d = c.deliveredToClient();
      expect([d.holes, d.conflicts.length, walkPdus(d.bytes).error]).toEqual([0, 0, '']);
      expect(towersInStream(d.bytes).map((t) => [t.ifUuid, t.ip, t.port])).toEqual([[EMSMDB, EXT, 40000], [NSPI, EXT, 40001]]);
      expect(h.refusals()).toEqual([]);
    });
  }
});

/** The first filtered lookup of LOOKUP1 (two kept EMSMDB entries) as the client must see it. */
const KEPT1 = [[EMSMDB, EXT], [EMSMDB, EXT]];

/** A session where the client pipelines `requests` (one segment) and the server answers `responses` cut every `mss`. */
function pipelined(requests: Uint8Array[], responses: Uint8Array, mss: number): { h: EngineHarness; c: TcpConn } {
  const h = new EngineHarness(PUBLISHED);
  const c = epmSession(h, { cport: 50129 });
  clientSendAcking(c, concat(requests));
  c.serverSend(responses, mss);
  return { h, c };
}

describe('lookup: published — pipelined calls (responses sharing TCP segments)', () => {
  const r1 = responseFragments(LOOKUP1, 2);

  it('control: two pipelined lookups, each response in its own segments, are both filtered', () => {
    const { c } = pipelined([eptLookupRequest({ callId: 2 }), eptLookupRequest({ callId: 3 })], concat([r1, responseFragments(LOOKUP2, 3)]), r1.length);
    const d = c.deliveredToClient();
    expect([d.holes, d.conflicts.length, walkPdus(d.bytes).error]).toEqual([0, 0, '']);
    expect(towersInStream(d.bytes).map((t) => [t.ifUuid, t.ip])).toEqual([...KEPT1, [NSPI, EXT]]);
  });

  // Was a bug, fixed (engine.ts replaceStream / ConnState.pendingReplace): one slot. When two filtered
  // ept_lookup responses complete in the same server segment, the second replaceStream()
  // overwrites the first, and the first response goes to the client UNFILTERED — unpublished
  // interfaces and the server's internal address:port (192.0.2.10:49152, :1032) leak.
  it('two filtered responses completing in one segment are both filtered (the first leaks unfiltered)', () => {
    const { c } = pipelined([eptLookupRequest({ callId: 2 }), eptLookupRequest({ callId: 3 })], concat([r1, responseFragments(LOOKUP1, 3)]), 1460);
    const towers = towersInStream(c.deliveredToClient().bytes);
    expect(towers.filter((t) => t.ip === SERVER)).toEqual([]);
    expect(towers.map((t) => [t.callId, t.ifUuid, t.ip])).toEqual([[2, EMSMDB, EXT], [2, EMSMDB, EXT], [3, EMSMDB, EXT], [3, EMSMDB, EXT]]);
  });

  // Was a bug, fixed (engine.ts emitReplaced): the bytes after the replaced call in the same segment (`after`,
  // the head of the next PDU) go out at once and releasedSeq jumps to the segment's end, although
  // the EPM leg still holds that PDU (midPdu). A later patch of those bytes (ept_map tower port)
  // only reaches the retransmission memory: the client gets the server's real port (4997) with the
  // rewritten address — a tower pointing at EXT:4997, where no pinhole exists.
  it("an ept_map response whose head shares the filtered lookup response's last segment is rewritten", () => {
    const map = responseFragments(eptMapResponseStub([tcpTower(NSPI, 56, 0, SERVER, 4997)]), 3);
    const { c } = pipelined([eptLookupRequest({ callId: 2 }), eptMapRequest({ callId: 3, ifUuid: NSPI, major: 56, minor: 0 })], concat([r1, map]), r1.length + map.length - 10);
    const towers = towersInStream(c.deliveredToClient().bytes);
    expect(towers.map((t) => [t.callId, t.ifUuid, t.ip, t.port])).toEqual([[2, EMSMDB, EXT, 40000], [2, EMSMDB, EXT, 40001], [3, NSPI, EXT, 40002]]);
  });

  // Was a bug, fixed (same root cause, engine.ts emitReplaced): when the next filtered response started in
  // the previous replaced segment, its replacement is cut with rep.start < releasedSeq, so
  // `before = region.subarray(0, negative)` — the client stream stops framing ("rpc_vers is not 5").
  it('two pipelined lookups cut every 200 bytes: the client stream frames and both are filtered', () => {
    const { c } = pipelined([eptLookupRequest({ callId: 2 }), eptLookupRequest({ callId: 3 })], concat([r1, responseFragments(LOOKUP2, 3)]), 200);
    const d = c.deliveredToClient();
    expect([d.holes, d.conflicts.length, walkPdus(d.bytes).error]).toEqual([0, 0, '']);
    expect(towersInStream(d.bytes).map((t) => [t.ifUuid, t.ip])).toEqual([...KEPT1, [NSPI, EXT]]);
  });

  // Was a bug, fixed (engine.ts shiftToClient): a server retransmission that STARTS before the replaced
  // region (a collapsed retransmission of the previous PDU's tail and the lookup response's head)
  // is sent as it is: the server's unfiltered lookup bytes land on top of the replacement in the
  // client's numbering (conflicting bytes; the stream no longer frames).
  it('a collapsed retransmission running into the replaced response sends no unfiltered byte', () => {
    const map = responseFragments(eptMapResponseStub([tcpTower(NSPI, 56, 0, SERVER, 4997)]), 3);
    const { c } = pipelined([eptMapRequest({ callId: 3, ifUuid: NSPI, major: 56, minor: 0 }), eptLookupRequest({ callId: 2 })], concat([map, r1]), map.length);
    const before = c.deliveredToClient();
    expect([before.conflicts.length, walkPdus(before.bytes).error]).toEqual([0, '']);
    c.serverSeg(map.length - 50, concat([map.subarray(map.length - 50), r1.subarray(0, 200)]));
    const d = c.deliveredToClient();
    expect(d.conflicts).toEqual([]);
    expect(walkPdus(d.bytes).error).toBe('');
  });
});

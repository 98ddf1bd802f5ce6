/**
 * Connection state kept as rows by flow id (engine/conn.ts, engine/leg-rows.ts): one reader
 * serves every connection, so what one connection is in the middle of must survive any number of
 * other connections' packets in between, a connection's context table may outgrow its row, and
 * a flow id handed to a new connection carries nothing of the old one.
 */
import { describe, expect, it } from 'vitest';
import {
  CLIENT, CLIENT2, EXT, EngineHarness, SERVER, SIDE_EXTERNAL, SIDE_INTERNAL, epmSession, eptMapRequest, eptMapResponseStub, ip, responseFragments, tcpTower,
} from '../helpers/engine-harness.js';
import {
  EMSMDB, NDR64_SYNTAX, WKSSVC, accept, bindAckPdu, bindPdu, connectMapped, ctx, expectResetBothWays, openMapped, patternStub,
  policyDoc, registerPushPdu, requestPdu, sendSegments, verbatimProblems,
} from '../helpers/policy-harness.js';
import { RESULT_PROVIDER_REJECTION } from '../../src/dcerpc/constants.js';
import { TCP_ACK } from '../../src/wire/packet.js';
import { sockaddrIn } from '../../src/exchange/push-notification.js';
import type { TcpConn } from '../helpers/engine-harness.js';
import type { Emitted } from '../helpers/engine-harness.js';

const EMSMDB_ONLY = policyDoc({ interfaces: ['emsmdb'], lookup: 'deny' });
const NOTIFY = policyDoc({ interfaces: ['exchange'], notifications: true, lookup: 'deny' });
const N = 6;

/** `n` connections through one pinhole, handshakes done. */
function connections(h: EngineHarness, n: number): TcpConn[] {
  const { conn, port } = openMapped(h);
  const all = [conn];
  for (let i = 1; i < n; i++) all.push(connectMapped(h, port, { cport: 52000 + i }));
  return all;
}

/** Sends each connection's bytes in `mss`-byte segments, one segment of each connection in turn. */
function interleaved(conns: TcpConn[], data: Uint8Array[], mss: number, fromClient = true): Emitted[][] {
  const outs: Emitted[][] = conns.map(() => []);
  const sent = conns.map(() => 0);
  for (let more = true; more; ) {
    more = false;
    conns.forEach((c, i) => {
      const d = data[i]!;
      if (sent[i]! >= d.length) return;
      const k = Math.min(mss, d.length - sent[i]!);
      const part = d.subarray(sent[i]!, sent[i]! + k);
      outs[i]!.push(...(fromClient ? c.clientSend(part) : c.serverSend(part)));
      sent[i] = sent[i]! + k;
      more = true;
    });
  }
  return outs;
}

describe('connections read in turn keep their own state', () => {
  it('binds cut into 5-byte segments on six connections, interleaved: the one naming wkssvc is refused, the others pass verbatim', () => {
    const h = new EngineHarness(EMSMDB_ONLY);
    const conns = connections(h, N);
    const binds = conns.map((_, i) => bindPdu([ctx(0, i === 3 ? WKSSVC : EMSMDB, i === 3 ? 1 : 0, i === 3 ? 0 : 81)], { callId: i + 1 }));
    const before = conns.map((c) => c.deliveredToServer().length);
    const outs = interleaved(conns, binds, 5);
    expect(h.refusals().map((r) => [r.client, r.reason, r.interface])).toEqual([[`${CLIENT}:52003`, 'bind-interface-not-allowed', `${WKSSVC}@1.0`]]);
    expectResetBothWays(conns[3]!, outs[3]!);
    conns.forEach((c, i) => {
      if (i === 3) return;
      expect(c.deliveredToServer().bytes.subarray(before[i])).toEqual(binds[i]);
    });
    // The others go on: ack, then a request on the accepted context, interleaved again.
    conns.forEach((c, i) => i !== 3 && c.serverSend(bindAckPdu([accept()])));
    const reqs = conns.map((_, i) => requestPdu(patternStub(200 + i * 13, i), { callId: 10 + i }));
    const live = conns.filter((_, i) => i !== 3);
    const outs2 = interleaved(live, reqs.filter((_, i) => i !== 3), 7);
    for (const o of outs2) expect(o.every((e) => e.side === SIDE_INTERNAL)).toBe(true);
    expect(h.refusals().length).toBe(1);
  });

  it('push registrations held on three connections at once, interleaved in 7-byte segments: each is rewritten to its own relay port', () => {
    const h = new EngineHarness(NOTIFY);
    const conns = [0, 1, 2].map((i) => openMapped(h, { cport: 51000 + i * 10, client: i === 1 ? CLIENT2 : CLIENT }).conn);
    for (const c of conns) {
      c.clientSend(bindPdu([ctx(0, EMSMDB, 0, 81)]));
      c.serverSend(bindAckPdu([accept()]));
    }
    const regs = conns.map((_, i) => registerPushPdu({ context: Uint8Array.of(1, 2, 3, i, 5, 6, 7, 8), callback: sockaddrIn(5555 + i, ip('10.1.2.3')), callId: 7 + i }));
    const before = conns.map((c) => c.deliveredToServer().length);
    interleaved(conns, regs, 7);
    const relays = h.of('notification').map((e) => e.rec);
    expect(relays.length).toBe(3);
    conns.forEach((c, i) => {
      const got = c.deliveredToServer().bytes.subarray(before[i]);
      const rec = relays.find((r) => r.client === `${i === 1 ? CLIENT2 : CLIENT}:${5555 + i}`)!;
      const relay = Number(rec.relay.split(':')[1]);
      const want = regs[i]!.slice();
      want[24 + 50] = relay >>> 8;
      want[24 + 51] = relay & 0xff;
      want.set([192, 0, 2, 1], 24 + 52);
      expect(got).toEqual(want);
    });
    expect(new Set(relays.map((r) => r.relay)).size).toBe(3);
    expect(h.heldTotal).toBe(0);
  });
});

describe('EPM connections read in turn', () => {
  it('three ept_map calls, requests in 9-byte and two-fragment answers in 11-byte segments interleaved: each answer is held whole and rewritten with its own server port', () => {
    const h = new EngineHarness(EMSMDB_ONLY);
    const conns = [0, 1, 2].map((i) => epmSession(h, { client: i === 1 ? CLIENT2 : CLIENT, cport: 50000 + i }));
    interleaved(conns, conns.map((_, i) => eptMapRequest({ callId: 5 + i })), 9);
    expect(h.refusals()).toEqual([]);
    const answers = conns.map((_, i) => responseFragments(eptMapResponseStub([tcpTower(EMSMDB, 0, 81, SERVER, 1032 + i)]), 5 + i, [24 + 8 * i]));
    const outs = interleaved(conns, answers, 11, false);
    // Nothing reaches a client before its whole answer is in: then all of it at once.
    outs.forEach((o, i) => expect(o.length).toBe(Math.ceil(answers[i]!.length / 11)));
    const flowOf = (i: number): number => h.engine.flows.lookupExternal(ip(i === 1 ? CLIENT2 : CLIENT), 50000 + i, ip(EXT), 135);
    expect(h.rewrites().map((r) => [r.flow, r.original])).toEqual(expect.arrayContaining([0, 1, 2].map((i) => [flowOf(i), `${SERVER}:${1032 + i}`])));
    expect(h.rewrites().length).toBe(3);
    expect(h.heldTotal).toBe(0);
  });
});

describe('an acknowledged rewrite carried by the row', () => {
  it('answers acknowledged, other connections between: a retransmission of one is dropped, of an unacknowledged one rewritten again', () => {
    const h = new EngineHarness(EMSMDB_ONLY);
    const conns = [0, 1, 2].map((i) => epmSession(h, { client: i === 1 ? CLIENT2 : CLIENT, cport: 51000 + i }));
    const answers = conns.map((c, i) => {
      c.clientSend(eptMapRequest({ callId: 7 + i }));
      const a = responseFragments(eptMapResponseStub([tcpTower(EMSMDB, 0, 81, SERVER, 1040 + i)]), 7 + i);
      const at = c.sSent;
      const out = c.serverSend(a);
      expect(out.length).toBe(1);
      return { at, bytes: a, first: out[0]!.pkt };
    });
    expect(h.rewrites().length).toBe(3);
    // Clients 0 and 1 acknowledge their answers (a pure ACK); client 2 does not.
    for (const i of [0, 1]) expect(conns[i]!.clientSeg(conns[i]!.cSent, new Uint8Array(0), TCP_ACK).length).toBe(1);
    // Every connection's packets pass in between, so each keeps its state in its row alone
    // (client 2's ACK still names the start of its answer).
    conns.forEach((c, i) => expect(h.inject(SIDE_EXTERNAL, c.clientPacket(c.cSent, new Uint8Array(0), TCP_ACK, i === 2 ? answers[2]!.at : c.sSent)).length).toBe(1));
    const forgotten = (): number => h.engine.counters.dropsByName()['retransmission-of-acknowledged-rewrite'] ?? 0;
    for (const i of [0, 1]) expect(conns[i]!.serverSeg(answers[i]!.at, answers[i]!.bytes)).toEqual([]);
    expect(forgotten()).toBe(2);
    const again = conns[2]!.serverSeg(answers[2]!.at, answers[2]!.bytes);
    expect(again.length).toBe(1);
    expect(again[0]!.pkt).toEqual(answers[2]!.first);
    expect(forgotten()).toBe(2);
  });
});

describe('a context table past the slots a row keeps inline', () => {
  it('a bind of 9 contexts (EMSMDB over NDR or NDR64, wkssvc) with the ack accepting only the last: requests on it pass, on a rejected one are refused naming its interface', () => {
    const h = new EngineHarness(policyDoc({ interfaces: ['emsmdb', `${WKSSVC}@1.0`], lookup: 'deny' }));
    const { conn } = openMapped(h);
    const els = [];
    for (let i = 0; i < 9; i++) els.push(i % 2 === 0 ? ctx(i, EMSMDB, 0, 81, i % 3 === 0 ? [NDR64_SYNTAX] : undefined) : ctx(i, WKSSVC, 1, 0));
    conn.clientSend(bindPdu(els));
    conn.serverSend(bindAckPdu(els.map((_, i) => (i === 8 ? accept() : { result: RESULT_PROVIDER_REJECTION, reason: 1 }))));
    const req = requestPdu(patternStub(64), { ctxId: 8, callId: 2 });
    expect(verbatimProblems(sendSegments(conn, true, req), SIDE_INTERNAL)).toEqual([]);
    expect(h.refusals()).toEqual([]);
    expectResetBothWays(conn, conn.clientSend(requestPdu(patternStub(16), { ctxId: 7, callId: 3 })));
    expect(h.refusals().map((r) => [r.reason, r.interface])).toEqual([['context-not-accepted', `${WKSSVC}@1.0`]]);
  });

  it('a flow id given to a new connection after one with a grown table and a half-read PDU: the new one starts with no context and no cursor', () => {
    const h = new EngineHarness(EMSMDB_ONLY);
    const { conn: a, port } = openMapped(h);
    const els = [0, 1, 2, 3, 4, 5].map((i) => ctx(i, EMSMDB, 0, 81));
    a.clientSend(bindPdu(els));
    a.serverSend(bindAckPdu(els.map(() => accept())));
    a.clientSend(requestPdu(patternStub(300), { ctxId: 5 }).subarray(0, 30)); // half a PDU
    const flow = h.engine.flows.lookupExternal(ip(CLIENT), 51000, ip(EXT), port);
    expect(flow).toBeGreaterThanOrEqual(0);
    // RST from the client; the flow leaves the table after the linger.
    a.clientSeg(a.cSent, new Uint8Array(0), 0x04);
    h.tick(h.nowMs + 600_000);
    expect(h.engine.flows.lookupExternal(ip(CLIENT), 51000, ip(EXT), port)).toBeLessThan(0);
    // The next connection through the pinhole reuses the flow id.
    const b = connectMapped(h, port, { cport: 51500 });
    expect(h.engine.flows.lookupExternal(ip(CLIENT), 51500, ip(EXT), port)).toBe(flow);
    const out = b.clientSend(requestPdu(patternStub(16), { ctxId: 5 }));
    expectResetBothWays(b, out);
    expect(h.refusals().map((r) => [r.client, r.reason, r.detail])).toEqual([[`${CLIENT}:51500`, 'context-not-accepted', 'request before any bind']]);
  });
});

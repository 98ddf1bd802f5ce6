/**
 * A length change in the EPM answer of an OUTBOUND connection: the RPC server is outside, its
 * answers arrive on the external side and go to the client inside. The stream path must re-cut
 * the stream it read (the answers'), send it inside, and renumber both ways from then on, as it
 * does for an inbound connection's answers. No outbound rule changes an answer's length today
 * (ept_lookup filtering is for inbound rules), so the EPM leg is made to ask for it here: the
 * stream path is what is under test.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  EMSMDB, EXT, EngineHarness, SIDE_EXTERNAL, SIDE_INTERNAL, concat, epmBind, epmBindAck, eptMapRequest, eptMapResponseStub, parseTcp,
  responseFragments, tcpPacket, tcpTower,
} from '../helpers/engine-harness.js';
import type { Emitted } from '../helpers/engine-harness.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN } from '../../src/wire/packet.js';
import { EpmLeg } from '../../src/engine/epm-leg.js';
import { PASS } from '../../src/engine/reasons.js';

const C = '192.0.2.50';
const S = '203.0.113.80';
const C_ISN = 0x1000_0000;
const S_ISN = 0x7000_0000;

const doc = {
  gateway: { external: { interface: 'gw-ext', address: EXT }, internal: { interface: 'gw-int', address: '192.0.2.1' } },
  rules: [{ name: 'out', direction: 'outbound', clients: ['192.0.2.0/24'], servers: ['203.0.113.0/24'], interfaces: ['exchange'] }],
};

/** What the EPM leg puts in place of the server's answer: two towers where the server sent one (longer). */
const REPLACEMENT = responseFragments(eptMapResponseStub([tcpTower(EMSMDB, 0, 81, S, 6001), tcpTower(EMSMDB, 0, 81, S, 6002)]), 2);

interface Leg {
  host: { replaceStream(flow: number, start: number, end: number, bytes: Uint8Array): void };
  flow: number;
}
interface Call {
  startSeq: number;
  endSeq: number;
}

afterEach(() => {
  vi.restoreAllMocks();
});

const to = (out: Emitted[], side: number) => out.filter((e) => e.side === side).map((e) => parseTcp(e.pkt));

describe('stream path: a length change on an outbound connection', () => {
  it('re-cuts the answer stream toward the inside client and renumbers the server\'s later bytes and the client\'s ACKs', () => {
    const proto = EpmLeg.prototype as unknown as { rewriteCall(this: Leg, call: Call): number };
    const rewriteCall = proto.rewriteCall;
    vi.spyOn(proto, 'rewriteCall').mockImplementation(function (this: Leg, call: Call): number {
      const v = rewriteCall.call(this, call);
      if (v === PASS) this.host.replaceStream(this.flow, call.startSeq, call.endSeq, REPLACEMENT);
      return v;
    });
    const h = new EngineHarness(doc);
    let cSent = 0;
    let sSent = 0;
    let nat = -1;
    const client = (data: Uint8Array, flags = TCP_PSH | TCP_ACK, ack = S_ISN + 1 + sSent): Emitted[] => {
      const p = tcpPacket({ src: C, dst: S, sport: 50000, dport: 135, seq: C_ISN + 1 + cSent, ack, flags, payload: data });
      cSent += data.length;
      return h.inject(SIDE_INTERNAL, p);
    };
    const server = (data: Uint8Array, flags = TCP_PSH | TCP_ACK): Emitted[] => {
      const p = tcpPacket({ src: S, dst: EXT, sport: 135, dport: nat, seq: S_ISN + 1 + sSent, ack: C_ISN + 1 + cSent, flags, payload: data });
      sSent += data.length + ((flags & TCP_FIN) !== 0 ? 1 : 0);
      return h.inject(SIDE_EXTERNAL, p);
    };
    nat = to(h.inject(SIDE_INTERNAL, tcpPacket({ src: C, dst: S, sport: 50000, dport: 135, seq: C_ISN, ack: 0, flags: TCP_SYN })), SIDE_EXTERNAL)[0]!.sport;
    h.inject(SIDE_EXTERNAL, tcpPacket({ src: S, dst: EXT, sport: 135, dport: nat, seq: S_ISN, ack: C_ISN + 1, flags: TCP_SYN | TCP_ACK }));
    client(new Uint8Array(0), TCP_ACK);
    client(epmBind(1));
    const bindAck = epmBindAck(1);
    expect(to(server(bindAck), SIDE_INTERNAL).length).toBe(1);
    client(eptMapRequest({ callId: 2, ifUuid: EMSMDB, major: 0, minor: 81 }));

    const answer = responseFragments(eptMapResponseStub([tcpTower(EMSMDB, 0, 81, S, 6001)]), 2);
    expect(REPLACEMENT.length).toBeGreaterThan(answer.length);
    const out = server(answer);
    // Inside, the client gets the replacement, in sequence after the bind_ack; nothing goes back out.
    expect(to(out, SIDE_EXTERNAL)).toEqual([]);
    const got = to(out, SIDE_INTERNAL);
    expect(got.length).toBeGreaterThan(0);
    expect(got[0]!.seq).toBe(S_ISN + 1 + bindAck.length);
    expect(concat(got.map((p) => p.payload))).toEqual(REPLACEMENT);
    expect(got.every((p) => p.tcpChecksumOk && p.dst === C && p.dport === 50000)).toBe(true);

    const delta = REPLACEMENT.length - answer.length;
    // The client ACKs all it got (its numbering); the server sees its own.
    const ackOut = to(client(new Uint8Array(0), TCP_ACK, S_ISN + 1 + bindAck.length + REPLACEMENT.length), SIDE_EXTERNAL);
    expect(ackOut.map((p) => p.ack)).toEqual([S_ISN + 1 + bindAck.length + answer.length]);
    // The server's FIN after the answer reaches the client shifted by the change.
    const fin = to(server(new Uint8Array(0), TCP_FIN | TCP_ACK), SIDE_INTERNAL);
    expect(fin.map((p) => p.seq)).toEqual([S_ISN + 1 + bindAck.length + answer.length + delta]);
  });
});

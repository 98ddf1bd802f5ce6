/**
 * Sequence adjustment after a length change (stream/seqadj.ts): one replaced call of 100 server
 * bytes [1000, 1100) sent to the client as 50 bytes [1000, 1050), so later server bytes move by
 * -50 toward the client and the client's ACKs by +50 back. Checksums are checked with a sum
 * written here, not the module's own.
 */
import { describe, expect, it } from 'vitest';
import { HeldStream } from '../../src/stream/held-stream.js';
import { clientSideSeq, emitReplaced, serverSideAck, shiftToClient, shiftToServer, type StreamEdit } from '../../src/stream/seqadj.js';
import { finishIpv4Checksum, finishTcpChecksumV4 } from '../../src/wire/checksum.js';
import { LINKTYPE_RAW } from '../../src/wire/link.js';
import { PacketView, readPacket } from '../../src/wire/packet.js';
import { get16, refL4Checksum } from '../helpers/inet-checksum.js';

const CLIENT = 0xc6336401; // 198.51.100.1
const SERVER = 0xc0000201; // 192.0.2.1

function edit(): StreamEdit {
  return { oldStart: 1000, oldEnd: 1100, newStart: 1000, newEnd: 1050, delta: -50, sent: [] };
}

/** IPv4 + TCP (options `opts`, a multiple of 4) + payload; checksums computed. */
function tcp(src: number, dst: number, seq: number, ack: number, flags: number, opts: number[], payload: Uint8Array): Uint8Array {
  const tcpLen = 20 + opts.length;
  const pkt = new Uint8Array(20 + tcpLen + payload.length);
  const total = pkt.length;
  pkt.set([0x45, 0, total >> 8, total & 0xff, 0, 0, 0x40, 0, 64, 6, 0, 0], 0);
  pkt.set([src >>> 24, (src >>> 16) & 0xff, (src >>> 8) & 0xff, src & 0xff, dst >>> 24, (dst >>> 16) & 0xff, (dst >>> 8) & 0xff, dst & 0xff], 12);
  const t = 20;
  pkt.set([0x01, 0x87, 0xc3, 0x50], t); // ports 391 -> 50000
  pkt.set([seq >>> 24, (seq >>> 16) & 0xff, (seq >>> 8) & 0xff, seq & 0xff, ack >>> 24, (ack >>> 16) & 0xff, (ack >>> 8) & 0xff, ack & 0xff], t + 4);
  pkt[t + 12] = (tcpLen / 4) << 4;
  pkt[t + 13] = flags;
  pkt[t + 14] = 0xff;
  pkt.set(opts, t + 20);
  pkt.set(payload, t + tcpLen);
  finishIpv4Checksum(pkt, 0, 20);
  finishTcpChecksumV4(pkt, 0, t, tcpLen + payload.length);
  return pkt;
}

/** The TCP checksum field equals the reference sum computed from scratch. */
function tcpSumOk(pkt: Uint8Array): boolean {
  return get16(pkt, (pkt[0]! & 0x0f) * 4 + 16) === refL4Checksum(pkt);
}

const u32 = (b: Uint8Array, at: number): number => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
const TCP_ACK = 0x10;
const TCP_PSH = 0x08;

describe('one edit: 100 server bytes became 50', () => {
  it('client-side numbering of server sequence numbers', () => {
    const e = [edit()];
    expect(clientSideSeq(e, 900)).toBe(900); // before the replaced call
    expect(clientSideSeq(e, 1050)).toBe(1050); // inside it: the end of what was sent instead
    expect(clientSideSeq(e, 1100)).toBe(1050);
    expect(clientSideSeq(e, 1200)).toBe(1150);
  });

  it("the client's ACKs in the server's numbering", () => {
    const e = [edit()];
    expect(serverSideAck(e, 900)).toBe(900);
    expect(serverSideAck(e, 1020)).toBe(1000); // part of the new bytes: none of the replaced ones yet
    expect(serverSideAck(e, 1050)).toBe(1100);
    expect(serverSideAck(e, 1150)).toBe(1200);
  });

  it('client → server: the ACK goes back, SACK blocks become NOPs, the checksum stays right', () => {
    // NOP NOP SACK(len 10: one block 1150-1160)
    const sack = [1, 1, 5, 10, 0, 0, 0x04, 0x7e, 0, 0, 0x04, 0x88];
    const pkt = tcp(SERVER, CLIENT, 5000, 1150, TCP_ACK, sack, new Uint8Array(0));
    shiftToServer([edit()], pkt, 0);
    expect(u32(pkt, 28)).toBe(1200);
    expect([...pkt.subarray(40, 52)]).toEqual(Array(12).fill(1));
    expect(tcpSumOk(pkt)).toBe(true);
  });

  it('server → client: a later segment moves by delta; one touching the replaced call is answered with the replacement', () => {
    const e = edit();
    const replacement = tcp(SERVER, CLIENT, 1000, 7000, TCP_ACK | TCP_PSH, [], new Uint8Array(50).fill(0x42));
    e.sent = [replacement];
    const out: Uint8Array[] = [];
    const emit = (p: Uint8Array, off: number, len: number): void => void out.push(p.slice(off, off + len));
    shiftToClient([e], tcp(SERVER, CLIENT, 1200, 7000, TCP_ACK, [], new Uint8Array(10).fill(7)), 0, 50, emit);
    expect(out).toHaveLength(1);
    expect(u32(out[0]!, 24)).toBe(1150);
    expect(tcpSumOk(out[0]!)).toBe(true);
    out.length = 0;
    shiftToClient([e], tcp(SERVER, CLIENT, 1090, 7000, TCP_ACK, [], new Uint8Array(20).fill(7)), 0, 60, emit);
    expect(out).toEqual([replacement]);
  });
});

describe('emitReplaced', () => {
  it('re-cuts the region with the replacement, records the edit, returns what follows the call', () => {
    const hs = new HeldStream();
    hs.startAt(1000);
    const payload = new Uint8Array(150);
    payload.fill(0x41, 0, 100); // the replaced call
    payload.fill(0x43, 100); // the start of the next PDU
    const pkt = tcp(SERVER, CLIENT, 1000, 7000, TCP_ACK, [], payload);
    const v = new PacketView();
    expect(readPacket(pkt, 0, pkt.length, LINKTYPE_RAW, v)).toBe(0);
    hs.nextSeq = 1150;
    const edits: StreamEdit[] = [];
    const out: Uint8Array[] = [];
    const tail = emitReplaced(hs, edits, [{ start: 1000, end: 1100, bytes: new Uint8Array(50).fill(0x42) }], pkt, 0, v, (p, off, len) => void out.push(p.slice(off, off + len)));
    expect(out).toHaveLength(1);
    expect(u32(out[0]!, 24)).toBe(1000);
    expect([...out[0]!.subarray(40)]).toEqual(Array(50).fill(0x42));
    expect(tcpSumOk(out[0]!)).toBe(true);
    expect(edits).toEqual([{ oldStart: 1000, oldEnd: 1100, newStart: 1000, newEnd: 1050, delta: -50, sent: out }]);
    expect(hs.releasedSeq).toBe(1100);
    expect(tail).not.toBeNull();
    expect(u32(tail!, 24)).toBe(1100); // still the server's numbering: shifted when it leaves
    expect([...tail!.subarray(40)]).toEqual(Array(50).fill(0x43));
    expect(tcpSumOk(tail!)).toBe(true);
  });
});

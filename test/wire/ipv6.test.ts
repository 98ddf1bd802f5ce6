import { describe, it, expect } from 'vitest';
import { readIpv6, writeIpv6Header } from '../../src/wire/ipv6.js';
import { PacketView, readPacket, IPPROTO_TCP, IPPROTO_NONE } from '../../src/wire/packet.js';
import { OK, MALFORMED, UNSUPPORTED } from '../../src/wire/status.js';
import { parseIpv6 } from '../../src/wire/addr.js';
import { filled, hex, placed } from './hex.js';
import * as V from './vectors.js';

/** IPv6 packet of the extension-chain vector. Offsets in it: HBH 40, dest-opts 48, routing 64,
 * fragment 88, AH 96, TCP 120, TCP payload 140, end 144. */
const CHAIN = V.ethIpv6ExtChainTcp.subarray(14);
const SLL2_IP6 = V.sll2Ipv6Tcp.subarray(20);

function withBytes(base: Uint8Array, edits: [number, number][]): Uint8Array {
  const b = base.slice();
  for (const [at, val] of edits) b[at] = val;
  return b;
}

function decode(bytes: Uint8Array, off = 0): { st: number; v: PacketView } {
  const buf = placed(bytes, off, 4);
  const v = new PacketView();
  return { st: readIpv6(buf, off, bytes.length, v), v };
}

/** A 40-byte IPv6 header (2001:db8::1 -> 2001:db8::2) followed by `rest`, payload length = rest.length. */
function ip6(nextHeader: number, rest: Uint8Array, payloadLen = rest.length): Uint8Array {
  const out = new Uint8Array(40 + rest.length);
  const src = new Uint8Array(16);
  const dst = new Uint8Array(16);
  parseIpv6('2001:db8::1', src, 0);
  parseIpv6('2001:db8::2', dst, 0);
  writeIpv6Header(out, 0, { src, dst, nextHeader, payloadLen });
  out.set(rest, 40);
  return out;
}

describe('readIpv6', () => {
  it('walks hop-by-hop, destination options, routing, fragment and AH to TCP', () => {
    const { st, v } = decode(CHAIN, 6);
    expect(st).toBe(OK);
    expect(v).toMatchObject({
      l3Off: 6, ipVersion: 6, ipHdrLen: 120, ipTotalLen: 144, ipProto: IPPROTO_TCP, ttl: 64,
      src6Off: 14, dst6Off: 30, isFragment: 1, moreFrags: 1, fragOffset: 0, ipId: 0x12345678,
      l4Off: 126, l4Len: 24,
    });
  });

  it('a non-first fragment stops at the fragment header', () => {
    const { st, v } = decode(V.ethIpv6FragLast.subarray(14));
    expect(st).toBe(OK);
    expect(v).toMatchObject({ ipHdrLen: 48, ipProto: IPPROTO_TCP, fragOffset: 1448, isFragment: 1, l4Off: -1, payloadOff: 48, payloadLen: 16 });
  });

  it('an atomic fragment (offset 0, M 0) is not a fragment and L4 is decoded', () => {
    const tcp = V.sll2Ipv6Tcp.subarray(60);
    const rest = new Uint8Array(8 + tcp.length);
    rest.set(hex('06 00 00 00 00 00 00 2a'), 0); // next header TCP, offset 0, M 0, id 42
    rest.set(tcp, 8);
    const frame = ip6(44, rest);
    const v = new PacketView();
    expect(readPacket(frame, 0, frame.length, 229, v)).toBe(OK);
    expect([v.isFragment, v.ipId, v.ipHdrLen, v.l4Off, v.srcPort, v.dstPort]).toEqual([0, 42, 48, 48, 49152, 135]);
  });

  it('no next header (59) and unknown protocols end the walk with OK', () => {
    let r = decode(ip6(IPPROTO_NONE, new Uint8Array(0)));
    expect(r.st).toBe(OK);
    expect([r.v.ipProto, r.v.ipHdrLen, r.v.l4Len]).toEqual([59, 40, 0]);
    r = decode(ip6(253, hex('01 02 03')));
    expect(r.st).toBe(OK);
    expect([r.v.ipProto, r.v.l4Off, r.v.l4Len]).toEqual([253, 40, 3]);
  });

  it('a long chain of destination-options headers is walked within the declared length', () => {
    const n = 500;
    const rest = new Uint8Array(8 * n);
    for (let i = 0; i < n; i++) rest[8 * i] = i + 1 < n ? 60 : IPPROTO_NONE;
    const { st, v } = decode(ip6(60, rest));
    expect(st).toBe(OK);
    expect([v.ipProto, v.ipHdrLen]).toEqual([IPPROTO_NONE, 40 + 8 * n]);
  });

  it('malformed chains report status, reason and the offending byte', () => {
    const cases: [string, Uint8Array, number, string, number][] = [
      ['dest-opts length 255 beyond the payload', withBytes(CHAIN, [[49, 255]]), MALFORMED, 'ipv6 extension header beyond data', 49],
      ['AH length 255 beyond the payload', withBytes(CHAIN, [[97, 255]]), MALFORMED, 'ipv6 extension header beyond data', 97],
      ['routing length 5 (48 bytes) runs past a 64-byte payload', withBytes(CHAIN.subarray(0, 104), [[4, 0], [5, 64], [65, 5]]), MALFORMED, 'ipv6 extension header beyond data', 65],
      ['payload length 4 leaves no room for hop-by-hop', withBytes(CHAIN, [[4, 0], [5, 4]]), MALFORMED, 'ipv6 extension header truncated', 40],
      ['payload length 52 cuts the fragment header', withBytes(CHAIN, [[4, 0], [5, 52]]), MALFORMED, 'ipv6 extension header truncated', 88],
      ['payload length 60 cuts AH', withBytes(CHAIN, [[4, 0], [5, 60]]), MALFORMED, 'ipv6 extension header truncated', 96],
      ['payload length 105 > captured', withBytes(CHAIN, [[5, 105]]), MALFORMED, 'ip packet truncated by capture', 4],
      ['version 4 in an IPv6 slot', withBytes(CHAIN, [[0, 0x40]]), MALFORMED, 'ipv6 version field not 6', 0],
      ['jumbogram (payload length 0, hop-by-hop)', withBytes(CHAIN, [[4, 0], [5, 0]]), UNSUPPORTED, 'ipv6 jumbogram', 4],
    ];
    for (const [name, bytes, status, reason, errOff] of cases) {
      const { st, v } = decode(bytes, 3);
      expect([st, v.errReason, v.errOffset - 3], name).toEqual([status, reason, errOff]);
    }
  });

  it('acceptTsoZeroLen: payload length 0 takes the capture length (also over a jumbo hop-by-hop)', () => {
    const v = new PacketView();
    v.acceptTsoZeroLen = 1;
    const tso = withBytes(SLL2_IP6, [[4, 0], [5, 0]]);
    expect(readPacket(tso, 0, tso.length, 229, v)).toBe(OK);
    expect([v.ipTotalLen, v.ipLenFromCapture, v.l4Len, v.payloadLen]).toEqual([64, 1, 24, 4]);
    const jumbo = withBytes(CHAIN, [[4, 0], [5, 0]]);
    expect(readIpv6(jumbo, 0, jumbo.length, v)).toBe(OK);
    expect([v.ipTotalLen, v.ipProto, v.ipLenFromCapture]).toEqual([144, IPPROTO_TCP, 1]);
  });

  it('payload length 0 with TCP next: the TCP header is missing', () => {
    const frame = ip6(IPPROTO_TCP, new Uint8Array(0));
    const v = new PacketView();
    expect(readPacket(frame, 0, frame.length, 229, v)).toBe(MALFORMED);
    expect([v.errReason, v.errOffset]).toEqual(['tcp header truncated', 40]);
  });

  it('every truncation of the fixed header is MALFORMED at the header start', () => {
    const v = new PacketView();
    for (let cut = 0; cut < 40; cut++) {
      expect(readIpv6(CHAIN, 0, cut, v)).toBe(MALFORMED);
      expect([v.errReason, v.errOffset]).toEqual(['ipv6 header truncated', 0]);
    }
  });
});

describe('writeIpv6Header', () => {
  it('writes the SLL2 vector IPv6 header byte for byte at an offset (traffic class, flow label split)', () => {
    const src = new Uint8Array(16);
    const dst = new Uint8Array(16);
    parseIpv6('2001:db8::1', src, 0);
    parseIpv6('2001:db8::2', dst, 0);
    const buf = filled(44);
    expect(writeIpv6Header(buf, 2, { src, dst, nextHeader: 6, payloadLen: 24, hopLimit: 63, flowLabel: 0x12345 })).toBe(40);
    expect(buf.subarray(2, 42)).toEqual(SLL2_IP6.subarray(0, 40));
    expect([buf[1], buf[42]]).toEqual([0xa5, 0xa5]);
  });

  it('traffic class straddles bytes 0 and 1', () => {
    const buf = new Uint8Array(40);
    writeIpv6Header(buf, 0, { src: new Uint8Array(16), dst: new Uint8Array(16), nextHeader: 59, payloadLen: 0, trafficClass: 0xb8, flowLabel: 0xfffff });
    expect(Array.from(buf.subarray(0, 4))).toEqual([0x6b, 0x8f, 0xff, 0xff]);
  });
});

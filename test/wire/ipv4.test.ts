import { describe, it, expect } from 'vitest';
import {
  readIpv4,
  writeIpv4Header,
  findIpv4Option,
  IPOPT_RR,
  IPOPT_LSRR,
} from '../../src/wire/ipv4.js';
import { PacketView, readPacket, IPPROTO_TCP, IPPROTO_UDP } from '../../src/wire/packet.js';
import { OK, MALFORMED } from '../../src/wire/status.js';
import { ipv4HeaderChecksumOk } from '../../src/wire/checksum.js';
import { filled, hex, placed } from './hex.js';
import * as V from './vectors.js';

/** The IPv4 packet (header + TCP) of the SYN vector, starting at its version byte. */
const SYN_IP = V.ethIpv4TcpSyn.subarray(14);
/** IPv4 header with NOP + record route options, then UDP. */
const OPTS_IP = V.ethVlanIpv4OptsUdp.subarray(18);

function withBytes(base: Uint8Array, edits: [number, number][]): Uint8Array {
  const b = base.slice();
  for (const [at, val] of edits) b[at] = val;
  return b;
}

function decode(bytes: Uint8Array, off = 0): { st: number; v: PacketView } {
  const buf = placed(bytes, off, 4);
  const v = new PacketView();
  const st = readIpv4(buf, off, bytes.length, v);
  return { st, v };
}

describe('readIpv4', () => {
  it('decodes the header of the SYN vector', () => {
    const { st, v } = decode(SYN_IP, 5);
    expect(st).toBe(OK);
    expect(v).toMatchObject({
      l3Off: 5, ipVersion: 4, ipHdrLen: 20, ipTotalLen: 60, ipId: 0x1c46, ttl: 64, ipProto: IPPROTO_TCP,
      isFragment: 0, fragOffset: 0, moreFrags: 0, src4: 0xc0a87a01, dst4: 0xc0a87a11, l4Off: 25, l4Len: 40,
      payloadOff: 25, payloadLen: 40,
    });
  });

  it('IHL 8: options are skipped and findIpv4Option locates them', () => {
    const { st, v } = decode(OPTS_IP, 3);
    expect(st).toBe(OK);
    expect([v.ipHdrLen, v.l4Off, v.ipProto]).toEqual([32, 35, IPPROTO_UDP]);
    const buf = placed(OPTS_IP, 3, 4);
    expect(findIpv4Option(buf, v, IPOPT_RR)).toBe(3 + 21); // after the NOP at 20
    expect(findIpv4Option(buf, v, IPOPT_LSRR)).toBe(-1);
  });

  it('findIpv4Option: a malformed option list gives -2, an EOL ends it', () => {
    const v = new PacketView();
    const badLen = withBytes(OPTS_IP, [[22, 1]]); // RR length 1
    expect(readIpv4(badLen, 0, badLen.length, v)).toBe(OK);
    expect(findIpv4Option(badLen, v, IPOPT_LSRR)).toBe(-2);
    const beyond = withBytes(OPTS_IP, [[22, 40]]); // RR length past the header
    expect(readIpv4(beyond, 0, beyond.length, v)).toBe(OK);
    expect(findIpv4Option(beyond, v, IPOPT_LSRR)).toBe(-2);
    const eol = withBytes(OPTS_IP, [[20, 0]]); // EOL first: the RR after it is not an option
    expect(readIpv4(eol, 0, eol.length, v)).toBe(OK);
    expect(findIpv4Option(eol, v, IPOPT_RR)).toBe(-1);
  });

  it('fragment flags: DF alone is not a fragment; MF or an offset is', () => {
    const cases: [number, number, number, number, number][] = [
      // flags/offset word, isFragment, moreFrags, fragOffset, l4Off
      [0x4000, 0, 0, 0, 20],
      [0x2000, 1, 1, 0, 20],
      [0x2001, 1, 1, 8, -1],
      [0x0001, 1, 0, 8, -1],
      [0x6000, 1, 1, 0, 20],
    ];
    for (const [word, isFragment, moreFrags, fragOffset, l4Off] of cases) {
      const { st, v } = decode(withBytes(SYN_IP, [[6, word >> 8], [7, word & 0xff]]));
      expect(st).toBe(OK);
      expect([v.isFragment, v.moreFrags, v.fragOffset, v.l4Off]).toEqual([isFragment, moreFrags, fragOffset, l4Off]);
    }
  });

  it('malformed headers report status, reason and the offending byte', () => {
    const cases: [string, Uint8Array, string, number][] = [
      ['IHL 4', withBytes(SYN_IP, [[0, 0x44]]), 'ipv4 ihl < 5', 0],
      ['IHL 0', withBytes(SYN_IP, [[0, 0x40]]), 'ipv4 ihl < 5', 0],
      ['IHL 15 (60 bytes) with 40 bytes captured', withBytes(SYN_IP.subarray(0, 40), [[0, 0x4f]]), 'ipv4 header beyond data', 0],
      ['version 6 in an IPv4 slot', withBytes(SYN_IP, [[0, 0x65]]), 'ipv4 version field not 4', 0],
      ['total length 19 < header', withBytes(SYN_IP, [[2, 0], [3, 19]]), 'ipv4 total length < header length', 2],
      ['total length 0 (as offload captures show), strict by default', withBytes(SYN_IP, [[2, 0], [3, 0]]), 'ipv4 total length 0 (offload capture?)', 2],
      ['total length 61 > 60 captured', withBytes(SYN_IP, [[2, 0], [3, 61]]), 'ip packet truncated by capture', 2],
      ['offset 8191 units (65528 bytes) + 40 data bytes > 65535', withBytes(SYN_IP, [[6, 0x1f], [7, 0xff]]), 'ipv4 fragment ends beyond 65535', 6],
    ];
    for (const [name, bytes, reason, errOff] of cases) {
      const { st, v } = decode(bytes, 9);
      expect([st, v.errReason, v.errOffset - 9], name).toEqual([MALFORMED, reason, errOff]);
    }
  });

  it('acceptTsoZeroLen: total length 0 means "the rest of the capture", flagged', () => {
    const bytes = withBytes(SYN_IP, [[2, 0], [3, 0]]);
    const v = new PacketView();
    v.acceptTsoZeroLen = 1;
    expect(readPacket(bytes, 0, bytes.length, 228, v)).toBe(OK);
    expect([v.ipTotalLen, v.ipLenFromCapture, v.l4Len, v.tcpHdrLen, v.acceptTsoZeroLen]).toEqual([60, 1, 40, 40, 1]);
    // the option survives the reset; the flag does not
    expect(readPacket(SYN_IP, 0, SYN_IP.length, 228, v)).toBe(OK);
    expect([v.ipLenFromCapture, v.acceptTsoZeroLen]).toEqual([0, 1]);
    // a short non-zero total length is still MALFORMED
    expect(readIpv4(withBytes(SYN_IP, [[2, 0], [3, 19]]), 0, 60, v)).toBe(MALFORMED);
  });

  it('a fragment ending within 65535 is accepted', () => {
    // offset 8186 units = 65488 bytes, + 40 data bytes = 65528
    const { st, v } = decode(withBytes(SYN_IP, [[6, 0x1f], [7, 0xfa]]));
    expect(st).toBe(OK);
    expect(v.fragOffset + v.payloadLen).toBe(65528);
  });

  it('every truncation of the header is MALFORMED at the header start', () => {
    const v = new PacketView();
    for (let cut = 0; cut < 20; cut++) {
      expect(readIpv4(SYN_IP, 0, cut, v)).toBe(MALFORMED);
      expect([v.errReason, v.errOffset]).toEqual(['ipv4 header truncated', 0]);
    }
  });
});

describe('writeIpv4Header', () => {
  it('writes the SYN vector header byte for byte, checksum included, at an offset', () => {
    const buf = filled(26);
    const n = writeIpv4Header(buf, 3, {
      src: 0xc0a87a01, dst: 0xc0a87a11, proto: IPPROTO_TCP, totalLen: 60, ttl: 64, id: 0x1c46, dontFragment: true,
    });
    expect(n).toBe(20);
    expect(buf.subarray(3, 23)).toEqual(SYN_IP.subarray(0, 20));
    expect([buf[2], buf[23]]).toEqual([0xa5, 0xa5]);
  });

  it('writes options padded to 4 and the matching IHL (the VLAN vector header)', () => {
    const buf = filled(34);
    const n = writeIpv4Header(buf, 1, {
      src: 0x0a010203, dst: 0x0a040506, proto: IPPROTO_UDP, totalLen: 44, id: 0x0101,
      options: hex('01 07 0b 04 00 00 00 00 00 00 00'), // 11 bytes, padded with one EOL
    });
    expect(n).toBe(32);
    expect(buf.subarray(1, 33)).toEqual(OPTS_IP.subarray(0, 32));
    expect(buf[33]).toBe(0xa5);
  });

  it('round trip: decode, encode the decoded fields, same bytes', () => {
    const v = new PacketView();
    expect(readPacket(V.ethIpv4FragMiddle, 0, V.ethIpv4FragMiddle.length, 1, v)).toBe(OK);
    const buf = filled(20);
    writeIpv4Header(buf, 0, {
      src: v.src4, dst: v.dst4, proto: v.ipProto, totalLen: v.ipTotalLen, ttl: v.ttl, id: v.ipId,
      moreFragments: v.moreFrags === 1, fragOffset: v.fragOffset,
    });
    expect(buf).toEqual(V.ethIpv4FragMiddle.subarray(14, 34));
    const w = new PacketView();
    expect(readIpv4(V.ethIpv4FragMiddle, 14, 36, w)).toBe(OK);
    expect(ipv4HeaderChecksumOk(V.ethIpv4FragMiddle, w)).toBe(true);
  });
});

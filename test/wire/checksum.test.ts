import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  onesSum,
  fold,
  swap16,
  csumReplace16,
  csumReplace32,
  ipv4HeaderChecksumOk,
  l4ChecksumOk,
  finishUdpChecksumV4,
  finishTcpChecksumV4,
  pseudoSumV4,
  finishIpv4Checksum,
} from '../../src/wire/checksum.js';
import { PacketView, readPacket } from '../../src/wire/packet.js';
import { buildUdpV4Frame } from '../../src/wire/build.js';
import { OK } from '../../src/wire/status.js';
import { hex } from './hex.js';
import * as V from './vectors.js';

/** Reference: folded ones'-complement sum by arithmetic mod 0xffff (0 only for all-zero data). */
function refFolded(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += ((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0);
  if (sum === 0) return 0;
  const r = sum % 0xffff;
  return r === 0 ? 0xffff : r;
}

function decoded(frame: Uint8Array, linkType = 1): PacketView {
  const v = new PacketView();
  expect(readPacket(frame, 0, frame.length, linkType, v)).toBe(OK);
  return v;
}

describe('onesSum / fold', () => {
  it('RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2', () => {
    const b = hex('00 01 f2 03 f4 f5 f6 f7');
    expect(onesSum(b, 0, 8, 0)).toBe(0x2ddf0);
    expect(fold(onesSum(b, 0, 8, 0))).toBe(0xddf2);
  });

  it('an odd trailing byte is the high byte of a zero-padded word', () => {
    expect(onesSum(hex('01'), 0, 1, 0)).toBe(0x0100);
    expect(onesSum(hex('ab cd ef'), 0, 3, 0)).toBe(0xabcd + 0xef00);
  });

  it('words pair from the region start whatever its offset in the buffer', () => {
    const b = hex('ff 12 34 56 78 9a');
    expect(onesSum(b, 1, 5, 0)).toBe(0x1234 + 0x5678 + 0x9a00);
    expect(onesSum(b, 1, 4, 7)).toBe(7 + 0x1234 + 0x5678);
  });

  it('fold: end-around carry, zero stays zero', () => {
    expect(fold(0)).toBe(0);
    expect(fold(0xffff)).toBe(0xffff);
    expect(fold(0x10000)).toBe(1);
    expect(fold(0x1fffe)).toBe(0xffff);
    expect(fold(0xffffffff)).toBe(0xffff);
    expect(fold(2 ** 40 + 5)).toBe(fold(5 + 2 ** 8)); // 2^40 = 2^8 (mod 0xffff)
  });

  it('a sum beyond 2^32 (200 000 bytes of 0xff) stays exact and below 2^32', () => {
    const b = new Uint8Array(200_000).fill(0xff);
    const s = onesSum(b, 0, b.length, 0);
    expect(s).toBeLessThanOrEqual(0xffffffff);
    expect(fold(s)).toBe(0xffff);
  });

  it('swap16', () => {
    expect(swap16(0x12ab)).toBe(0xab12);
    expect(swap16(0xffff)).toBe(0xffff);
  });

  it('property: fold(onesSum) equals the mod-0xffff reference at any offset, any length', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(3), fc.nat(0xffff), (bytes, off, initial) => {
        const buf = new Uint8Array(off + bytes.length);
        buf.set(bytes, off);
        expect(fold(onesSum(buf, off, bytes.length, 0))).toBe(refFolded(bytes));
        // `initial` carries a previous (even-length) region's sum
        const withInit = fold(onesSum(buf, off, bytes.length, initial));
        const ref = refFolded(Uint8Array.from([initial >> 8, initial & 0xff, ...bytes]));
        expect(withInit).toBe(ref);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('onesSum on long regions (32-bit word path)', () => {
  it('property: equals the reference for 64..3000 bytes at any byteOffset and offset', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 64, maxLength: 3000 }), fc.nat(7), fc.nat(7), fc.nat(0xffff), (bytes, byteOffset, off, initial) => {
        // A view that does not start at its ArrayBuffer's start, as a capture reader's frames do.
        const buf = new Uint8Array(new ArrayBuffer(byteOffset + off + bytes.length + 5), byteOffset, off + bytes.length + 3);
        buf.set(bytes, off);
        buf.fill(0xa5, off + bytes.length); // bytes after the region must not count
        expect(fold(onesSum(buf, off, bytes.length, 0))).toBe(refFolded(bytes));
        const s = onesSum(buf, off, bytes.length, initial);
        expect(s).toBeLessThanOrEqual(0xffffffff);
        expect(fold(s)).toBe(refFolded(Uint8Array.from([initial >> 8, initial & 0xff, ...bytes])));
      }),
      { numRuns: 1000 },
    );
  });

  it('words whose sum is a multiple of 0xffff fold to 0xffff, not 0 (only all-zero data sums to 0)', () => {
    for (const fill of [0xff, 0x00]) {
      for (let off = 0; off < 4; off++) {
        const buf = new Uint8Array(off + 1500).fill(fill); // 750 words of 0xffff (or 0)
        expect(fold(onesSum(buf, off, 1500, 0))).toBe(fill === 0 ? 0 : 0xffff);
      }
    }
  });

  it('a TCP segment of 1460 bytes in a larger buffer checks out after finishTcpChecksumV4', () => {
    const frame = new Uint8Array(4096);
    const at = 1001; // odd: the IP header sits at an odd address
    frame[at] = 0x45;
    const total = 20 + 20 + 1460;
    frame[at + 2] = total >> 8;
    frame[at + 3] = total & 0xff;
    frame[at + 8] = 64;
    frame[at + 9] = 6;
    frame.set([198, 51, 100, 1, 192, 0, 2, 1], at + 12);
    frame[at + 32] = 0x50;
    for (let i = 0; i < 1460; i++) frame[at + 40 + i] = (i * 151) & 0xff;
    finishTcpChecksumV4(frame, at, at + 20, 20 + 1460);
    // A correct checksum makes the sum over pseudo-header + segment fold to 0xffff.
    expect(fold(onesSum(frame, at + 20, 20 + 1460, pseudoSumV4(frame, at, 6, 20 + 1460)))).toBe(0xffff);
  });
});

describe('RFC 1624 incremental update', () => {
  it('RFC 1624 section 4 example: HC 0xdd2f, m 0x5555 -> 0x3285 gives 0x0000 (eqn. 3, not 0xffff)', () => {
    expect(csumReplace16(0xdd2f, 0x5555, 0x3285)).toBe(0x0000);
  });

  it('csumReplace32 equals two csumReplace16', () => {
    fc.assert(
      fc.property(fc.nat(0xffff), fc.nat(0xffffffff), fc.nat(0xffffffff), (hc, a, b) => {
        const twice = csumReplace16(csumReplace16(hc, a >>> 16, b >>> 16), a & 0xffff, b & 0xffff);
        expect(csumReplace32(hc, a, b)).toBe(twice);
      }),
    );
  });

  it('property: replacing one word of random data matches a full recompute, including the 0x0000 result', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 2, maxLength: 64 }), fc.nat(), fc.nat(0xffff), fc.boolean(), (bytes, at, word, forceZero) => {
        const data = bytes.length % 2 === 0 ? bytes.slice() : Uint8Array.from([...bytes, 0]);
        const i = 2 * (at % (data.length / 2));
        if (forceZero) {
          // Choose the new word so that the new data sums to 0xffff: checksum 0x0000.
          const rest = data.slice();
          rest[i] = 0;
          rest[i + 1] = 0;
          word = 0xffff - refFolded(rest);
        }
        // All-zero data is the one case with two encodings of its checksum; real L4 data never
        // is (the pseudo-header holds the protocol number).
        if (refFolded(data) === 0) return;
        const hc = ~refFolded(data) & 0xffff;
        const old = (data[i]! << 8) | data[i + 1]!;
        data[i] = word >> 8;
        data[i + 1] = word & 0xff;
        if (refFolded(data) === 0) return;
        const full = ~refFolded(data) & 0xffff;
        if (forceZero) expect(full).toBe(0);
        expect(csumReplace16(hc, old, word)).toBe(full);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('verification of real headers', () => {
  it('IPv4 header checksum: good, then one flipped bit', () => {
    const frame = V.ethIpv4TcpSyn.slice();
    const v = decoded(frame);
    expect(ipv4HeaderChecksumOk(frame, v)).toBe(true);
    frame[22] = frame[22]! ^ 0x01; // TTL
    expect(ipv4HeaderChecksumOk(frame, v)).toBe(false);
    expect(ipv4HeaderChecksumOk(V.ethIpv6Udp, decoded(V.ethIpv6Udp))).toBe(false);
  });

  it('property: IPv4 header checksum verdict is the full sum\'s, with and without options, at any offset', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 60, maxLength: 60 }), fc.constantFrom(20, 24, 60), fc.nat(3), fc.boolean(), (bytes, hdrLen, off, fix) => {
        const buf = new Uint8Array(off + 60);
        buf.set(bytes, off);
        if (fix) finishIpv4Checksum(buf, off, hdrLen);
        const v = { ipVersion: 4, l3Off: off, ipHdrLen: hdrLen } as PacketView;
        expect(ipv4HeaderChecksumOk(buf, v)).toBe(fold(onesSum(buf, off, hdrLen, 0)) === 0xffff);
        if (fix) expect(ipv4HeaderChecksumOk(buf, v)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('TCP/UDP/ICMP over v4 and v6 pseudo-headers: good, then corrupted', () => {
    const cases: [Uint8Array, number, number][] = [
      [V.ethIpv4TcpSyn, 1, 60],
      [V.ethQinqIpv4Tcp, 1, 66],
      [V.sll2Ipv6Tcp, 276, 83],
      [V.ethIpv6Udp, 1, 64],
      [V.sllIpv4Udp, 113, 46],
      [V.nullIpv4Icmp, 0, 35],
    ];
    for (const [frame, lt, flipAt] of cases) {
      const f = frame.slice();
      const v = decoded(f, lt);
      expect(l4ChecksumOk(f, v)).toBe(true);
      f[flipAt] = f[flipAt]! ^ 0x40;
      expect(l4ChecksumOk(f, v)).toBe(false);
    }
  });

  it('the pseudo-header is covered: changing the IPv4 destination breaks the TCP checksum', () => {
    const f = V.ethIpv4TcpSyn.slice();
    const v = decoded(f);
    f[33] = f[33]! ^ 1;
    expect(l4ChecksumOk(f, v)).toBe(false);
  });

  it('UDP checksum 0: "none" over IPv4, invalid over IPv6', () => {
    const f4 = V.sllIpv4Udp.slice();
    f4[42] = 0;
    f4[43] = 0;
    expect(l4ChecksumOk(f4, decoded(f4, 113))).toBe(true);
    const f6 = V.ethIpv6Udp.slice();
    f6[60] = 0;
    f6[61] = 0;
    expect(l4ChecksumOk(f6, decoded(f6))).toBe(false);
  });

  it('fragments and ESP cannot be verified', () => {
    expect(l4ChecksumOk(V.ethIpv4FragFirstUdp, decoded(V.ethIpv4FragFirstUdp))).toBe(false);
    expect(l4ChecksumOk(V.ethIpv4FragMiddle, decoded(V.ethIpv4FragMiddle))).toBe(false);
    expect(l4ChecksumOk(V.rawIpv6Esp, decoded(V.rawIpv6Esp, 101))).toBe(false);
  });

  it('a UDP checksum that computes to 0 is sent as 0xffff and still verifies', () => {
    const buf = new Uint8Array(64);
    const o = { src: 0x0a000001, dst: 0x0a000002, srcPort: 1000, dstPort: 2000, payload: new Uint8Array(2) };
    const n = buildUdpV4Frame(buf, 0, o);
    const c0 = (buf[40]! << 8) | buf[41]!;
    // Payload word = the checksum of the zero-payload datagram: the sum becomes 0xffff.
    buf[42] = c0 >> 8;
    buf[43] = c0 & 0xff;
    finishUdpChecksumV4(buf, 14, 34, 10);
    expect([buf[40], buf[41]]).toEqual([0xff, 0xff]);
    expect(l4ChecksumOk(buf, decoded(buf.subarray(0, n)))).toBe(true);
  });
});

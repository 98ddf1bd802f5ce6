import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { L4_CSUM_BAD, L4_CSUM_COMPLETED, L4_CSUM_OK, verifyL4ChecksumV4 } from '../../src/wire/checksum.js';
import { LINKTYPE_RAW, PacketView, readPacket, TCP_ACK, TCP_PSH } from '../../src/wire/packet.js';
import { buildTcpV4Frame, buildUdpV4Frame } from '../../src/wire/build.js';
import { OK } from '../../src/wire/status.js';
import { get16, refL4Checksum, refPseudo, withPartialChecksum } from '../helpers/inet-checksum.js';

const v = new PacketView();
const SRC = 0xcb007105; // 203.0.113.5
const DST = 0xc6336401; // 198.51.100.1

function tcp(payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + 40 + payload.length);
  const n = buildTcpV4Frame(f, 0, { src: SRC, dst: DST, srcPort: 50000, dstPort: 135, seq: 1, ack: 2, flags: TCP_PSH | TCP_ACK, payload });
  return f.slice(14, n);
}

function udp(payload: Uint8Array, noChecksum = false): Uint8Array {
  const f = new Uint8Array(14 + 28 + payload.length);
  const n = buildUdpV4Frame(f, 0, { src: DST, dst: SRC, srcPort: 1000, dstPort: 6001, payload, noChecksum });
  return f.slice(14, n);
}

function verify(pkt: Uint8Array): number {
  expect(readPacket(pkt, 0, pkt.length, LINKTYPE_RAW, v)).toBe(OK);
  return verifyL4ChecksumV4(pkt, v);
}

describe('verifyL4ChecksumV4: partial checksums (CHECKSUM_PARTIAL from an offloading sender)', () => {
  it('a correct TCP checksum is OK and left alone', () => {
    const p = tcp(new Uint8Array(100).fill(7));
    const before = p.slice();
    expect(verify(p)).toBe(L4_CSUM_OK);
    expect(p).toEqual(before);
  });

  it('a TCP field holding the pseudo-header sum is completed to the full checksum, nothing else changes', () => {
    const good = tcp(Uint8Array.from({ length: 333 }, (_, i) => (i * 31) & 0xff));
    const p = withPartialChecksum(good);
    expect(get16(p, 36)).toBe(refPseudo(good));
    expect(verify(p)).toBe(L4_CSUM_COMPLETED);
    expect(get16(p, 36)).toBe(refL4Checksum(good));
    expect(p).toEqual(good);
  });

  it('0x0000 and 0xffff are the same partial value', () => {
    // Choose the source address's low word so that the pseudo-header sum is 0xffff: the sender
    // may then have written either 0xffff or 0x0000.
    const probe = tcp(new Uint8Array(20));
    probe[14] = 0;
    probe[15] = 0;
    const low = 0xffff - refPseudo(probe);
    const good = probe.slice();
    good[14] = low >> 8;
    good[15] = low & 0xff;
    expect(refPseudo(good)).toBe(0xffff);
    for (const field of [0xffff, 0x0000]) {
      const p = good.slice();
      p[36] = field >> 8;
      p[37] = field & 0xff;
      expect(verify(p)).toBe(L4_CSUM_COMPLETED);
      expect(get16(p, 36)).toBe(refL4Checksum(good));
    }
  });

  it('a field that is neither correct nor partial is BAD and not touched', () => {
    const p = tcp(new Uint8Array(64).fill(1));
    p[36] = p[36]! ^ 0x40;
    const before = p.slice();
    expect(verify(p)).toBe(L4_CSUM_BAD);
    expect(p).toEqual(before);
    // A corrupted byte under a partial checksum is not detectable (the sender's NIC never summed
    // it); under a full one it is.
    const q = tcp(new Uint8Array(64).fill(1));
    q[60] = q[60]! ^ 1;
    expect(verify(q)).toBe(L4_CSUM_BAD);
  });

  it('UDP: partial completed (a computed 0 goes out as 0xffff), 0 means no checksum, corrupt is BAD', () => {
    const good = udp(Uint8Array.from({ length: 77 }, (_, i) => i));
    const p = withPartialChecksum(good);
    expect(verify(p)).toBe(L4_CSUM_COMPLETED);
    expect(get16(p, 26)).toBe(refL4Checksum(good));
    const none = udp(new Uint8Array(10), true);
    expect(verify(none)).toBe(L4_CSUM_OK);
    expect(get16(none, 26)).toBe(0);
    const bad = good.slice();
    bad[30] = bad[30]! ^ 0xff;
    expect(verify(bad)).toBe(L4_CSUM_BAD);
  });

  it('property: for any payload, partial → completed equals a from-scratch checksum; correct stays OK', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 1600 }), (payload) => {
        const good = tcp(payload);
        expect(verify(good.slice())).toBe(L4_CSUM_OK);
        const p = withPartialChecksum(good);
        const r = verify(p);
        // A payload whose full checksum happens to equal the partial value verifies as it is.
        if (r === L4_CSUM_OK) expect(get16(p, 36) % 0xffff).toBe(refL4Checksum(good) % 0xffff);
        else expect(r).toBe(L4_CSUM_COMPLETED);
        expect(get16(p, 36) % 0xffff).toBe(refL4Checksum(good) % 0xffff);
      }),
      { numRuns: 300 },
    );
  });
});

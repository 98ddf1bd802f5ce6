import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { translateTcp4 } from '../../src/wire/translate.js';
import { setDstPort, setIpv4Dst, setIpv4Src, setSrcPort } from '../../src/wire/rewrite.js';
import { LINKTYPE_RAW, PacketView, readPacket } from '../../src/wire/packet.js';
import { finishIpv4Checksum, finishTcpChecksumV4, ipv4HeaderChecksumOk, l4ChecksumOk } from '../../src/wire/checksum.js';
import { OK } from '../../src/wire/status.js';

/** An IPv4 + TCP packet (no options) at `off` in a 0xa5-filled buffer; checksums as given or computed. */
function packet(off: number, words: number[], payload: Uint8Array, ipCsum: number | null, tcpCsum: number | null): Uint8Array {
  const len = 40 + payload.length;
  const b = new Uint8Array(off + len + 3).fill(0xa5);
  const [src, dst, sport, dport, seq, ack] = words as [number, number, number, number, number, number];
  b.set([0x45, 0, len >>> 8, len & 0xff, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0], off);
  const put32 = (at: number, x: number): void => {
    b[at] = x >>> 24; b[at + 1] = x >>> 16; b[at + 2] = x >>> 8; b[at + 3] = x;
  };
  put32(off + 12, src);
  put32(off + 16, dst);
  const t = off + 20;
  b[t] = sport >>> 8; b[t + 1] = sport;
  b[t + 2] = dport >>> 8; b[t + 3] = dport;
  put32(t + 4, seq);
  put32(t + 8, ack);
  b.set([0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0], t + 12);
  b.set(payload, off + 40);
  if (ipCsum === null) finishIpv4Checksum(b, off, 20);
  else { b[off + 10] = ipCsum >>> 8; b[off + 11] = ipCsum; }
  if (tcpCsum === null) finishTcpChecksumV4(b, off, t, 20 + payload.length);
  else { b[t + 16] = tcpCsum >>> 8; b[t + 17] = tcpCsum; }
  return b;
}

function decode(b: Uint8Array, off: number): PacketView {
  const v = new PacketView();
  expect(readPacket(b, off, b.length - off - 3, LINKTYPE_RAW, v)).toBe(OK);
  return v;
}

const u32 = fc.oneof(fc.constantFrom(0, 0xffffffff, 0xffff0000, 0x0000ffff, 1), fc.integer({ min: 0, max: 0xffffffff }));
const u16 = fc.oneof(fc.constantFrom(0, 0xffff, 1), fc.integer({ min: 0, max: 0xffff }));
const csum = fc.option(fc.oneof(fc.constantFrom(0, 0xffff), u16), { nil: null });

describe('translateTcp4: one checksum update for the four NAT fields', () => {
  it('property: the same bytes and view as setIpv4Src, setSrcPort, setIpv4Dst, setDstPort in turn', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3 }),
        fc.tuple(u32, u32, u16, u16, u32, u32),
        fc.uint8Array({ maxLength: 64 }),
        csum,
        csum,
        fc.tuple(u32, u16, u32, u16),
        (off, words, payload, ipCsum, tcpCsum, [src, sport, dst, dport]) => {
          const a = packet(off, words, payload, ipCsum, tcpCsum);
          const b = a.slice();
          const va = decode(a, off);
          const vb = decode(b, off);
          setIpv4Src(a, va, src);
          setSrcPort(a, va, sport);
          setIpv4Dst(a, va, dst);
          setDstPort(a, va, dport);
          translateTcp4(b, vb, Uint32Array.of(src, dst), sport, dport);
          expect(b).toEqual(a);
          expect(vb).toEqual(va);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('keeps good checksums good and a corrupt one corrupt', () => {
    const payload = Uint8Array.from([5, 0, 0, 3, 0x10, 0, 0, 0, 0x40, 0]);
    const good = packet(1, [0xc6336401, 0xcb007105, 49152, 40000, 7, 9], payload, null, null);
    const v = decode(good, 1);
    translateTcp4(good, v, Uint32Array.of(0xc0000201, 0xc0000202), 50001, 49700);
    const back = decode(good, 1);
    expect([back.src4, back.srcPort, back.dst4, back.dstPort]).toEqual([0xc0000201, 50001, 0xc0000202, 49700]);
    expect(ipv4HeaderChecksumOk(good, back)).toBe(true);
    expect(l4ChecksumOk(good, back)).toBe(true);
    const bad = packet(0, [0xc6336401, 0xcb007105, 49152, 40000, 7, 9], payload, null, null);
    bad[45] = bad[45]! ^ 0x40; // a payload bit flipped in flight
    const vb = decode(bad, 0);
    expect(l4ChecksumOk(bad, vb)).toBe(false);
    translateTcp4(bad, vb, Uint32Array.of(0xc0000201, 0xc0000202), 50001, 49700);
    expect(l4ChecksumOk(bad, decode(bad, 0))).toBe(false);
  });
});

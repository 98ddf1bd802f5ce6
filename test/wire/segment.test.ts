import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SEG_MTU_TOO_SMALL, SEG_NOT_TCP, segmentTcpV4, type SegmentSink } from '../../src/wire/segment.js';
import { buildTcpV4Frame, buildUdpV4Frame } from '../../src/wire/build.js';
import { TCP_ACK, TCP_CWR, TCP_FIN, TCP_PSH } from '../../src/wire/packet.js';
import { get16, refIpChecksum, refL4Checksum } from '../helpers/inet-checksum.js';

const SRC = 0xc0000201;
const DST = 0xc000020a;

function big(payloadLen: number, flags = TCP_PSH | TCP_ACK | TCP_FIN | TCP_CWR, tcpOptions?: Uint8Array): Uint8Array {
  const payload = Uint8Array.from({ length: payloadLen }, (_, i) => (i * 7 + (i >> 8)) & 0xff);
  const f = new Uint8Array(14 + 60 + 40 + payloadLen);
  const n = buildTcpV4Frame(f, 0, { src: SRC, dst: DST, srcPort: 61001, dstPort: 1032, seq: 0xfffff000, ack: 5, flags, payload, id: 0xfffe, dontFragment: true, ...(tcpOptions ? { tcpOptions } : {}) });
  return f.slice(14, n);
}

class Collect implements SegmentSink {
  readonly segs: Uint8Array[] = [];
  segment(seg: Uint8Array, len: number): void {
    this.segs.push(seg.slice(0, len));
  }
}

describe('segmentTcpV4 (software GSO)', () => {
  it('a 20 KB segment at MTU 1500: full-size segments, seq and IP id advanced, PSH/FIN on the last, CWR on the first, checksums whole', () => {
    const pkt = big(20000);
    const out = new Collect();
    const scratch = new Uint8Array(1500).fill(0xa5);
    expect(segmentTcpV4(pkt, 0, pkt.length, 1500, scratch, out)).toBe(Math.ceil(20000 / 1460));
    let seq = 0xfffff000;
    const payload: number[] = [];
    out.segs.forEach((s, k) => {
      const last = k === out.segs.length - 1;
      expect(s.length).toBeLessThanOrEqual(1500);
      if (!last) expect(s.length).toBe(1500);
      expect(get16(s, 2)).toBe(s.length);
      expect(get16(s, 4)).toBe((0xfffe + k) & 0xffff);
      expect(s[6]! & 0x40).toBe(0x40); // DF kept
      expect(((s[24]! << 24) | (s[25]! << 16) | (s[26]! << 8) | s[27]!) >>> 0).toBe(seq);
      expect(s[33]! & TCP_ACK).toBe(TCP_ACK);
      expect(s[33]! & (TCP_PSH | TCP_FIN)).toBe(last ? TCP_PSH | TCP_FIN : 0);
      expect(s[33]! & TCP_CWR).toBe(k === 0 ? TCP_CWR : 0);
      expect(get16(s, 10)).toBe(refIpChecksum(s));
      expect(get16(s, 36)).toBe(refL4Checksum(s));
      payload.push(...s.subarray(40));
      seq = (seq + s.length - 40) >>> 0;
    });
    expect(Uint8Array.from(payload)).toEqual(pkt.subarray(40));
  });

  it('TCP options are repeated in every segment and counted in its size', () => {
    const ts = Uint8Array.of(1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2);
    const pkt = big(5000, TCP_ACK, ts);
    const out = new Collect();
    segmentTcpV4(pkt, 0, pkt.length, 1500, new Uint8Array(1500), out);
    expect(out.segs[0]!.length).toBe(1500);
    for (const s of out.segs) {
      expect(s.subarray(40, 52)).toEqual(ts);
      expect(get16(s, 36)).toBe(refL4Checksum(s));
    }
    expect(out.segs.map((s) => s.length - 52).reduce((a, b) => a + b)).toBe(5000);
  });

  it('not TCP, no data, or no room for data: nothing emitted', () => {
    const f = new Uint8Array(3000);
    const n = buildUdpV4Frame(f, 0, { src: SRC, dst: DST, srcPort: 1, dstPort: 2, payload: new Uint8Array(2000) });
    const out = new Collect();
    expect(segmentTcpV4(f.subarray(14, n), 0, n - 14, 1500, new Uint8Array(1500), out)).toBe(SEG_NOT_TCP);
    const pkt = big(0);
    expect(segmentTcpV4(pkt, 0, pkt.length, 1500, new Uint8Array(1500), out)).toBe(SEG_NOT_TCP);
    const p2 = big(100);
    expect(segmentTcpV4(p2, 0, p2.length, 40, new Uint8Array(1500), out)).toBe(SEG_MTU_TOO_SMALL);
    expect(out.segs).toEqual([]);
  });

  it('property: any length, MTU and offset in a larger buffer, the payloads concatenate to the input and every segment fits', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30000 }), fc.integer({ min: 68, max: 9000 }), fc.integer({ min: 0, max: 64 }), (len, mtu, at) => {
        const pkt = big(len);
        // The packet `at` bytes into a capture buffer (after a link header), 0xa5 around it.
        const buf = new Uint8Array(at + pkt.length + 16).fill(0xa5);
        buf.set(pkt, at);
        const out = new Collect();
        const n = segmentTcpV4(buf, at, pkt.length, mtu, new Uint8Array(mtu), out);
        expect(n).toBe(out.segs.length);
        const got = Buffer.concat(out.segs.map((s) => s.subarray(40)));
        expect(got.length).toBe(len);
        expect(got.equals(pkt.subarray(40))).toBe(true);
        for (const s of out.segs) expect(s.length).toBeLessThanOrEqual(mtu);
      }),
      { numRuns: 60 },
    );
  });
});

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW, PacketView, readPacket, readRawIpv4Tcp } from '../../src/wire/packet.js';
import { buildTcpV4Frame } from '../../src/wire/build.js';

/** An IPv4 packet mostly TCP and mostly well formed: header fields, options and lengths drawn, then bytes flipped. */
const packetArb = fc
  .record({
    ihl: fc.oneof(fc.constant(5), fc.integer({ min: 0, max: 15 })),
    proto: fc.oneof(fc.constant(6), fc.constantFrom(17, 1, 47)),
    frag: fc.oneof(fc.constant(0x4000), fc.constantFrom(0x2000, 0x0001, 0x2010, 0)),
    doff: fc.oneof(fc.constant(5), fc.integer({ min: 0, max: 15 })),
    opts: fc.uint8Array({ maxLength: 40 }),
    payload: fc.uint8Array({ maxLength: 80 }),
    totalDelta: fc.oneof(fc.constant(0), fc.integer({ min: -50, max: 50 })),
    version: fc.oneof(fc.constant(4), fc.integer({ min: 0, max: 15 })),
    flips: fc.array(fc.tuple(fc.nat(200), fc.nat(255)), { maxLength: 2 }),
    lenCut: fc.oneof(fc.constant(0), fc.nat(60)),
  })
  .map((r) => {
    const ipHdr = Math.max(20, r.ihl * 4);
    const tcpHdr = Math.max(20, r.doff * 4);
    const n = ipHdr + tcpHdr + r.payload.length;
    const b = new Uint8Array(n);
    const total = Math.max(0, Math.min(0xffff, n + r.totalDelta));
    b.set([(r.version << 4) | r.ihl, 0, total >>> 8, total & 0xff, 0, 1, r.frag >>> 8, r.frag & 0xff, 64, r.proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    b.set([0x12, 0x34, 0x00, 0x87, 1, 2, 3, 4, 5, 6, 7, 8, r.doff << 4, 0x18, 0xff, 0xff, 0, 0, 0, 0], ipHdr);
    b.set(r.opts.subarray(0, tcpHdr - 20), ipHdr + 20);
    b.set(r.payload, ipHdr + tcpHdr);
    for (const [at, x] of r.flips) if (at < n) b[at] = x;
    return { bytes: b, len: Math.max(0, n - r.lenCut) };
  });

describe('readRawIpv4Tcp: the engine\'s decoder for raw IPv4 TCP', () => {
  it('property: the same status and view as readPacket(LINKTYPE_RAW), whatever the view held before', () => {
    // A view left dirty by other decodes: an Ethernet VLAN frame with TCP options, or one cut short.
    const eth = new Uint8Array(100);
    const ethLen = buildTcpV4Frame(eth, 0, {
      src: 0xc0000201, dst: 0xc0000202, srcPort: 1, dstPort: 2, seq: 3, ack: 4, flags: 2, vlanIds: [7],
      tcpOptions: Uint8Array.from([2, 4, 5, 180, 3, 3, 7, 4, 2, 1, 1, 0]),
    });
    fc.assert(
      fc.property(packetArb, fc.nat(5), fc.boolean(), ({ bytes, len }, pad, dirtyFirst) => {
        const buf = new Uint8Array(pad + bytes.length + 4).fill(0xa5);
        buf.set(bytes, pad);
        const a = new PacketView();
        const b = new PacketView();
        if (dirtyFirst) {
          readPacket(eth, 0, ethLen, LINKTYPE_ETHERNET, a);
          readPacket(eth, 0, ethLen, LINKTYPE_ETHERNET, b);
          readPacket(eth, 0, 28, LINKTYPE_ETHERNET, b); // the VLAN tag read, the IPv4 header cut: a tag and an error reason left
          expect([b.vlanId, b.errReason !== '']).toEqual([7, true]);
        }
        const sa = readPacket(buf, pad, len, LINKTYPE_RAW, a);
        const sb = readRawIpv4Tcp(buf, pad, len, b);
        expect(sb).toBe(sa);
        expect({ ...b }).toEqual({ ...a });
      }),
      { numRuns: 3000 },
    );
  });
});

/**
 * Gateway-mode replay decodes an Ethernet IPv4 frame from its IP header on (decodeFrame with
 * ipOnly), skipping readPacket's link stage. Shown here: for any frame — well formed or with bytes
 * flipped anywhere in its headers, cut short, with a TSO length of 0, another ethertype or link
 * type — the status, the skip reason and every field gateway mode reads are readPacket's.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeFrame } from '../../src/dataplane/replay.js';
import { CaptureRecord } from '../../src/pcap/record.js';
import { buildTcpV4Frame, buildUdpV4Frame } from '../../src/wire/build.js';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW, PacketView, readPacket } from '../../src/wire/packet.js';

const frameArb = fc
  .record({
    udp: fc.boolean(),
    payload: fc.uint8Array({ maxLength: 60 }),
    tcpOptions: fc.option(fc.uint8Array({ minLength: 1, maxLength: 12 }), { nil: undefined }),
    tso: fc.boolean(),
    flips: fc.array(fc.tuple(fc.nat(70), fc.nat(255)), { maxLength: 3 }),
    cut: fc.oneof(fc.constant(0), fc.nat(80)),
    raw: fc.boolean(),
  })
  .map((r) => {
    const buf = new Uint8Array(200);
    const base = { src: 0xc0000201, dst: 0xc6336401, srcPort: 40000, dstPort: 135, payload: r.payload };
    let len = r.udp ? buildUdpV4Frame(buf, 0, base) : buildTcpV4Frame(buf, 0, { ...base, seq: 1, ack: 2, flags: 0x18, tcpOptions: r.tcpOptions });
    if (r.tso) buf.fill(0, 16, 18);
    for (const [at, x] of r.flips) buf[at] = x;
    len = Math.max(0, len - r.cut);
    return r.raw ? { buf: buf.subarray(14), len: Math.max(0, len - 14), linkType: LINKTYPE_RAW } : { buf, len, linkType: LINKTYPE_ETHERNET };
  });

/** What gateway mode reads of a decoded frame (and its skip reason). */
function gatewayFields(st: number, v: PacketView): unknown[] {
  return [st, v.errReason, v.ipVersion, v.l3Off, v.ipTotalLen, v.ipLenFromCapture, v.ipHdrLen, v.dst4, v.src4, v.ipProto, v.isFragment, v.l4Off];
}

describe('decodeFrame: gateway mode decodes Ethernet IPv4 from the IP header on', () => {
  it('property: status, reason and the fields gateway mode reads are readPacket\'s', () => {
    const a = new PacketView();
    const b = new PacketView();
    a.acceptTsoZeroLen = 1;
    b.acceptTsoZeroLen = 1;
    const rec = new CaptureRecord();
    fc.assert(
      fc.property(frameArb, ({ buf, len, linkType }) => {
        rec.data = buf;
        rec.dataOff = 0;
        rec.capLen = len;
        rec.linkType = linkType;
        const sa = readPacket(buf, 0, len, linkType, a);
        const sb = decodeFrame(rec, b, true);
        expect(gatewayFields(sb, b)).toEqual(gatewayFields(sa, a));
      }),
      { numRuns: 5000 },
    );
  });
});

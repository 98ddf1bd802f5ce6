import { describe, it, expect } from 'vitest';
import { buildTcpV4Frame, buildUdpV4Frame, buildTcpV6Frame, buildUdpV6Frame, frameLen } from '../../src/wire/build.js';
import { PacketView, readPacket, TCP_SYN, TCP_PSH, TCP_ACK, TCP_RST } from '../../src/wire/packet.js';
import { OK } from '../../src/wire/status.js';
import { ipv4HeaderChecksumOk, l4ChecksumOk } from '../../src/wire/checksum.js';
import { parseIpv6 } from '../../src/wire/addr.js';
import { filled, hex } from './hex.js';
import * as V from './vectors.js';

const MAC_A = hex('52 54 00 00 00 01');
const MAC_B = hex('52 54 00 00 00 02');

function v6(text: string): Uint8Array {
  const b = new Uint8Array(16);
  expect(parseIpv6(text, b, 0)).toBe(true);
  return b;
}

/** Builds with `fn` at offset 5 of a 0xa5 buffer; checks nothing outside the frame was written. */
function buildAt5(size: number, fn: (buf: Uint8Array, off: number) => number): Uint8Array {
  const buf = filled(size + 10);
  const n = fn(buf, 5);
  expect(n).toBe(size);
  expect(buf[4]).toBe(0xa5);
  expect(buf[5 + n]).toBe(0xa5);
  return buf.subarray(5, 5 + n);
}

describe('frame builders reproduce the annotated vectors', () => {
  it('buildTcpV4Frame = the SYN vector (options, DF, every checksum)', () => {
    const f = buildAt5(74, (buf, off) =>
      buildTcpV4Frame(buf, off, {
        dstMac: MAC_B, srcMac: MAC_A, src: 0xc0a87a01, dst: 0xc0a87a11, id: 0x1c46,
        srcPort: 51818, dstPort: 135, seq: 0x27ba0db8, ack: 0, flags: TCP_SYN, window: 64240,
        tcpOptions: hex('02 04 05 b4 04 02 08 0a 00 01 e2 40 00 00 00 00 01 03 03 07'),
      }),
    );
    expect(f).toEqual(V.ethIpv4TcpSyn);
  });

  it('buildTcpV4Frame with two VLAN ids = the QinQ vector except the outer TPID (builders tag with 0x8100)', () => {
    const f = buildAt5(67, (buf, off) =>
      buildTcpV4Frame(buf, off, {
        dstMac: MAC_B, srcMac: MAC_A, vlanIds: [200, 100], src: 0xac10050a, dst: 0xac10053a, id: 0xbeef,
        srcPort: 49668, dstPort: 135, seq: 0xfffffff0, ack: 0x80000001, flags: TCP_PSH | TCP_ACK, window: 513,
        payload: hex('05 00 0b 03 10'),
      }),
    );
    const expected = V.ethQinqIpv4Tcp.slice();
    expected.set([0x81, 0x00], 12); // outer TPID
    expected.set([0x00, 0x64], 18); // inner TCI without PCP/DEI
    expect(f).toEqual(expected);
  });

  it('buildUdpV4Frame with IP options = the VLAN vector', () => {
    const f = buildAt5(62, (buf, off) =>
      buildUdpV4Frame(buf, off, {
        dstMac: MAC_B, srcMac: MAC_A, vlanIds: [100], src: 0x0a010203, dst: 0x0a040506, id: 0x0101,
        srcPort: 40000, dstPort: 34964, payload: hex('70 69 6e 67'),
        ipOptions: hex('01 07 0b 04 00 00 00 00 00 00 00 00'),
      }),
    );
    const expected = V.ethVlanIpv4OptsUdp.slice();
    expected.set([0x00, 0x64], 14); // TCI without PCP 5
    expect(f).toEqual(expected);
  });

  it('buildTcpV6Frame = the SLL2 vector\'s IPv6 packet behind an Ethernet header', () => {
    const f = buildAt5(78, (buf, off) =>
      buildTcpV6Frame(buf, off, {
        dstMac: MAC_B, srcMac: MAC_A, src: v6('2001:db8::1'), dst: v6('2001:db8::2'), hopLimit: 63,
        srcPort: 49152, dstPort: 135, seq: 1000, ack: 2000, flags: TCP_PSH | TCP_ACK, window: 8192,
        payload: hex('de ad be ef'),
      }),
    );
    const expected = V.sll2Ipv6Tcp.slice(20);
    expected.set([0x60, 0x00, 0x00, 0x00], 0); // builders leave the flow label 0
    expect(f.subarray(0, 14)).toEqual(V.ethIpv6Udp.subarray(0, 14));
    expect(f.subarray(14)).toEqual(expected);
  });

  it('buildUdpV6Frame = the IPv6/UDP vector', () => {
    const f = buildAt5(65, (buf, off) =>
      buildUdpV6Frame(buf, off, {
        dstMac: MAC_B, srcMac: MAC_A, src: v6('fe80::1'), dst: v6('ff02::1:3'), hopLimit: 1,
        srcPort: 40001, dstPort: 40002, payload: hex('05 00 0c'),
      }),
    );
    expect(f).toEqual(V.ethIpv6Udp);
  });
});

describe('frame builders: defaults and decode', () => {
  it('an engine-style RST with defaults decodes and verifies', () => {
    const buf = new Uint8Array(frameLen(0, 20, 20, 0));
    const n = buildTcpV4Frame(buf, 0, { src: 0x0a000001, dst: 0x0a000002, srcPort: 135, dstPort: 50000, seq: 7, ack: 0, flags: TCP_RST, window: 0 });
    expect(n).toBe(54);
    const v = new PacketView();
    expect(readPacket(buf, 0, n, 1, v)).toBe(OK);
    expect(v).toMatchObject({ ttl: 64, tcpFlags: TCP_RST, tcpSeq: 7, tcpWindow: 0, payloadLen: 0 });
    expect(ipv4HeaderChecksumOk(buf, v) && l4ChecksumOk(buf, v)).toBe(true);
    expect(Array.from(buf.subarray(0, 12))).toEqual([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
    expect(buf[20]).toBe(0x40); // DF by default for TCP
  });

  it('UDP over IPv4 without a checksum', () => {
    const buf = new Uint8Array(64);
    const n = buildUdpV4Frame(buf, 0, { src: 1, dst: 2, srcPort: 3, dstPort: 4, payload: hex('01 02 03'), noChecksum: true });
    const v = new PacketView();
    expect(readPacket(buf, 0, n, 1, v)).toBe(OK);
    expect([buf[40], buf[41]]).toEqual([0, 0]);
    expect(l4ChecksumOk(buf, v)).toBe(true);
  });
});

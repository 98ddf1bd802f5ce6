import { describe, it, expect } from 'vitest';
import { readUdp, writeUdpHeader } from '../../src/wire/udp.js';
import { PacketView, readPacket } from '../../src/wire/packet.js';
import { OK, MALFORMED } from '../../src/wire/status.js';
import { finishUdpChecksumV4, finishUdpChecksumV6, l4ChecksumOk } from '../../src/wire/checksum.js';
import { filled, placed } from './hex.js';
import * as V from './vectors.js';

/** UDP datagram (12 bytes, payload "ping") of the VLAN vector; its IPv4 header is at 18. */
const UDP = V.ethVlanIpv4OptsUdp.subarray(50);

function decode(bytes: Uint8Array, off: number, len: number, isFragment = 0): { st: number; v: PacketView } {
  const buf = placed(bytes, off, 4);
  const v = new PacketView();
  v.isFragment = isFragment;
  return { st: readUdp(buf, off, len, v), v };
}

describe('readUdp', () => {
  it('decodes the VLAN vector datagram', () => {
    const { st, v } = decode(UDP, 3, 12);
    expect(st).toBe(OK);
    expect([v.srcPort, v.dstPort, v.payloadOff, v.payloadLen]).toEqual([40000, 34964, 11, 4]);
  });

  it('a UDP length shorter than the IP payload wins; l4Len becomes it', () => {
    const b = UDP.slice();
    b[5] = 10; // length 10: 2 of the 4 payload bytes
    const { st, v } = decode(b, 0, 12);
    expect(st).toBe(OK);
    expect([v.l4Len, v.payloadLen]).toEqual([10, 2]);
  });

  it('malformed datagrams report status, reason and the offending byte', () => {
    const len7 = UDP.slice();
    len7[5] = 7;
    const len13 = UDP.slice();
    len13[5] = 13;
    const cases: [string, Uint8Array, number, string, number][] = [
      ['length 7', len7, 12, 'udp length < 8', 4],
      ['length 13 > 12 in the IP payload', len13, 12, 'udp length beyond ip payload', 4],
    ];
    for (const [name, bytes, len, reason, errOff] of cases) {
      const { st, v } = decode(bytes, 5, len);
      expect([st, v.errReason, v.errOffset - 5], name).toEqual([MALFORMED, reason, errOff]);
    }
    for (let cut = 0; cut < 8; cut++) {
      const { st, v } = decode(UDP, 0, cut);
      expect([st, v.errReason, v.errOffset]).toEqual([MALFORMED, 'udp header truncated', 0]);
    }
  });

  it('in a first fragment the UDP length covers the whole datagram and is not bounded by the fragment', () => {
    const v = new PacketView();
    expect(readPacket(V.ethIpv4FragFirstUdp, 0, V.ethIpv4FragFirstUdp.length, 1, v)).toBe(OK);
    expect([v.l4Len, v.payloadLen, v.srcPort]).toEqual([24, 16, 135]);
    const { st } = decode(UDP.map((x, i) => (i === 4 ? 0x0b : x)), 0, 12, 1);
    expect(st).toBe(OK);
  });
});

describe('writeUdpHeader', () => {
  it('writes the VLAN vector datagram byte for byte once the checksum is finished', () => {
    const frame = V.ethVlanIpv4OptsUdp;
    const buf = filled(frame.length + 1);
    buf.set(frame.subarray(0, 50), 0);
    buf.set(frame.subarray(58), 58); // payload
    expect(writeUdpHeader(buf, 50, 40000, 34964, 12)).toBe(8);
    expect([buf[56], buf[57]]).toEqual([0, 0]);
    finishUdpChecksumV4(buf, 18, 50, 12);
    expect(buf.subarray(0, frame.length)).toEqual(frame);
    expect(buf[frame.length]).toBe(0xa5);
  });

  it('IPv6: writes the IPv6/UDP vector datagram once the checksum is finished', () => {
    const frame = V.ethIpv6Udp;
    const buf = frame.slice();
    buf.fill(0xa5, 54, 62);
    writeUdpHeader(buf, 54, 40001, 40002, 11);
    finishUdpChecksumV6(buf, 14, 54, 11);
    expect(buf).toEqual(frame);
    const v = new PacketView();
    expect(readPacket(buf, 0, buf.length, 1, v)).toBe(OK);
    expect(l4ChecksumOk(buf, v)).toBe(true);
  });
});

import { describe, it, expect } from 'vitest';
import {
  readEthernet,
  readSll,
  readSll2,
  readNull,
  readLink,
  writeEthernet,
  writeVlanTag,
  writeSll,
  writeSll2,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETHERTYPE_VLAN,
  ETHERTYPE_QINQ,
  ETHERTYPE_ARP,
  ARPHRD_ETHER,
  LINKTYPE_NULL,
  LINKTYPE_LOOP,
  LINKTYPE_RAW,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
  LINKTYPE_LINUX_SLL,
} from '../../src/wire/link.js';
import { PacketView, readPacket } from '../../src/wire/packet.js';
import { OK, MALFORMED, UNSUPPORTED } from '../../src/wire/status.js';
import { filled, hex } from './hex.js';
import * as V from './vectors.js';

const MAC_A = hex('52 54 00 00 00 01');
const MAC_B = hex('52 54 00 00 00 02');
/** The IPv4/ICMP packet of the loopback vector, and the IPv6/ESP packet of the raw vector. */
const IPV4_ICMP = V.nullIpv4Icmp.subarray(4);
const IPV6_ESP = V.rawIpv6Esp;

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

describe('link encoders write exactly the annotated bytes', () => {
  it('writeEthernet', () => {
    const buf = filled(20);
    expect(writeEthernet(buf, 3, MAC_B, MAC_A, ETHERTYPE_IPV4)).toBe(14);
    expect(buf.subarray(3, 17)).toEqual(V.ethIpv4TcpSyn.subarray(0, 14));
    expect(buf[2]).toBe(0xa5);
    expect(buf[17]).toBe(0xa5);
  });

  it('writeEthernet + writeVlanTag x2 = the QinQ header', () => {
    const buf = filled(26);
    let p = 2;
    p += writeEthernet(buf, p, MAC_B, MAC_A, ETHERTYPE_QINQ);
    p += writeVlanTag(buf, p, 200, ETHERTYPE_VLAN);
    p += writeVlanTag(buf, p, (3 << 13) | (1 << 12) | 100, ETHERTYPE_IPV4);
    expect(p).toBe(24);
    expect(buf.subarray(2, 24)).toEqual(V.ethQinqIpv4Tcp.subarray(0, 22));
    expect([buf[1], buf[24]]).toEqual([0xa5, 0xa5]);
  });

  it('writeSll (16 bytes, protocol at 14)', () => {
    const buf = filled(20);
    expect(writeSll(buf, 2, 4, ARPHRD_ETHER, MAC_A, ETHERTYPE_IPV4)).toBe(16);
    expect(buf.subarray(2, 18)).toEqual(V.sllIpv4Udp.subarray(0, 16));
    expect([buf[1], buf[18]]).toEqual([0xa5, 0xa5]);
  });

  it('writeSll2 (20 bytes: protocol, reserved, ifindex, ARPHRD, packet type, addr len, addr)', () => {
    const buf = filled(24);
    expect(writeSll2(buf, 2, ETHERTYPE_IPV6, 3, ARPHRD_ETHER, 0, MAC_B)).toBe(20);
    expect(buf.subarray(2, 22)).toEqual(V.sll2Ipv6Tcp.subarray(0, 20));
    expect([buf[1], buf[22]]).toEqual([0xa5, 0xa5]);
  });
});

describe('Ethernet and VLAN', () => {
  it('readEthernet alone accepts ARP (deciding "not IP" is readPacket\'s job)', () => {
    const v = new PacketView();
    expect(readEthernet(V.ethArp, 0, V.ethArp.length, v)).toBe(OK);
    expect([v.etherType, v.l3Off]).toEqual([ETHERTYPE_ARP, 14]);
  });

  it('an 802.3 length field (LLC frame) is UNSUPPORTED at the type/length field', () => {
    const frame = hex(`
      01 80 c2 00 00 00   // dst MAC (STP)
      52 54 00 00 00 01   // src MAC
      00 26               // 802.3 length 38
      42 42 03            // LLC DSAP/SSAP 0x42 (STP), control 3
    `);
    const v = new PacketView();
    expect(readPacket(frame, 0, frame.length, 1, v)).toBe(UNSUPPORTED);
    expect([v.errReason, v.errOffset]).toEqual(['802.3 length field (llc frame)', 12]);
  });

  it('the pre-standard 0x9100 outer TPID is walked like 0x88a8', () => {
    const frame = concat(
      hex(`52 54 00 00 00 02  52 54 00 00 00 01  // MACs
           91 00  0f ff                          // TPID 0x9100, TCI VID 4095
           81 00  00 05                          // TPID 0x8100, TCI VID 5
           08 00                                 // EtherType IPv4`),
      IPV4_ICMP,
    );
    const v = new PacketView();
    expect(readPacket(frame, 0, frame.length, 1, v)).toBe(OK);
    expect([v.vlanCount, v.vlanId, v.l3Off, v.ipProto]).toEqual([2, 4095, 22, 1]);
  });

  it('a VLAN tag followed by LLC is UNSUPPORTED at the inner type field', () => {
    const frame = hex('52 54 00 00 00 02 52 54 00 00 00 01 81 00 00 07 00 30 42 42 03');
    const v = new PacketView();
    expect(readPacket(frame, 0, frame.length, 1, v)).toBe(UNSUPPORTED);
    expect([v.errReason, v.errOffset, v.vlanId]).toEqual(['802.3 length field (llc frame)', 16, 7]);
  });

  it('a run of VLAN tags with no end is bounded by the frame', () => {
    const frame = new Uint8Array(14 + 4 * 300);
    for (let p = 12; p + 1 < frame.length; p += 4) {
      frame[p] = 0x81;
      frame[p + 1] = 0x00;
    }
    const v = new PacketView();
    expect(readPacket(frame, 0, frame.length, 1, v)).toBe(MALFORMED);
    expect(v.errReason).toBe('vlan tag truncated');
    expect(v.vlanCount).toBe(300);
  });
});

describe('Linux cooked captures', () => {
  it('SLL v1 with a VLAN tag after the header', () => {
    const frame = concat(
      hex(`00 00  00 01  00 06  52 54 00 00 00 01 00 00  // type host, ARPHRD_ETHER, addr len 6, addr
           81 00                                       // protocol 0x8100
           20 0a  08 00                                // TCI PCP 1 VID 10, EtherType IPv4`),
      IPV4_ICMP,
    );
    const v = new PacketView();
    expect(readPacket(frame, 0, frame.length, LINKTYPE_LINUX_SLL, v)).toBe(OK);
    expect([v.linkPktType, v.vlanCount, v.vlanId, v.l3Off]).toEqual([0, 1, 10, 20]);
  });

  it('SLL v1 netlink capture (protocol 0) is UNSUPPORTED', () => {
    const frame = hex('00 04 03 38 00 00 00 00 00 00 00 00 00 00 00 00 10 00 00 00');
    const v = new PacketView();
    expect(readSll(frame, 0, frame.length, v)).toBe(UNSUPPORTED);
    expect([v.errReason, v.errOffset]).toEqual(['802.3 length field (llc frame)', 14]);
  });

  it('SLL v2 reads ifindex as unsigned and packet type from byte 10', () => {
    const frame = concat(hex('08 00 00 00 ff ff ff fe 00 01 04 06 52 54 00 00 00 01 00 00'), IPV4_ICMP);
    const v = new PacketView();
    expect(readSll2(frame, 0, frame.length, v)).toBe(OK);
    expect([v.ifIndex, v.linkPktType, v.etherType, v.l3Off]).toEqual([0xfffffffe, 4, ETHERTYPE_IPV4, 20]);
  });
});

describe('loopback and raw IP', () => {
  const cases: [string, Uint8Array, number, number][] = [
    ['NULL little-endian AF_INET', hex('02 00 00 00'), LINKTYPE_NULL, ETHERTYPE_IPV4],
    ['NULL big-endian AF_INET', hex('00 00 00 02'), LINKTYPE_NULL, ETHERTYPE_IPV4],
    ['NULL Linux AF_INET6 (10)', hex('0a 00 00 00'), LINKTYPE_NULL, ETHERTYPE_IPV6],
    ['NULL BSD AF_INET6 (24)', hex('18 00 00 00'), LINKTYPE_NULL, ETHERTYPE_IPV6],
    ['NULL FreeBSD AF_INET6 (28)', hex('1c 00 00 00'), LINKTYPE_NULL, ETHERTYPE_IPV6],
    ['NULL macOS AF_INET6 (30), big-endian', hex('00 00 00 1e'), LINKTYPE_NULL, ETHERTYPE_IPV6],
    ['LOOP AF_INET6 (24), always big-endian', hex('00 00 00 18'), LINKTYPE_LOOP, ETHERTYPE_IPV6],
  ];
  for (const [name, hdr, lt, etherType] of cases) {
    it(name, () => {
      const frame = concat(hdr, etherType === ETHERTYPE_IPV4 ? IPV4_ICMP : IPV6_ESP);
      const v = new PacketView();
      expect(readPacket(frame, 0, frame.length, lt, v)).toBe(OK);
      expect([v.etherType, v.l3Off, v.ipVersion]).toEqual([etherType, 4, etherType === ETHERTYPE_IPV4 ? 4 : 6]);
    });
  }

  it('LOOP does not guess the byte order: little-endian AF_INET is an unknown family', () => {
    const v = new PacketView();
    const frame = concat(hex('02 00 00 00'), IPV4_ICMP);
    expect(readNull(frame, 0, frame.length, true, v)).toBe(UNSUPPORTED);
    expect([v.errReason, v.errOffset]).toEqual(['loopback family not ip', 0]);
  });

  it('raw IP with version 5 is MALFORMED', () => {
    const v = new PacketView();
    expect(readPacket(hex('50 00 00 14'), 0, 4, LINKTYPE_RAW, v)).toBe(MALFORMED);
    expect([v.errReason, v.errOffset]).toEqual(['raw ip version not 4 or 6', 0]);
  });

  it('LINKTYPE_IPV4 carrying an IPv6 packet is MALFORMED; LINKTYPE_IPV6 with IPv4 too', () => {
    const v = new PacketView();
    expect(readPacket(IPV6_ESP, 0, IPV6_ESP.length, LINKTYPE_IPV4, v)).toBe(MALFORMED);
    expect([v.errReason, v.errOffset]).toEqual(['ipv4 version field not 4', 0]);
    expect(readPacket(IPV4_ICMP, 0, IPV4_ICMP.length, LINKTYPE_IPV6, v)).toBe(MALFORMED);
    expect([v.errReason, v.errOffset]).toEqual(['ipv6 header truncated', 0]);
    const padded = concat(IPV4_ICMP, new Uint8Array(20));
    expect(readPacket(padded, 0, padded.length, LINKTYPE_IPV6, v)).toBe(MALFORMED);
    expect(v.errReason).toBe('ipv6 version field not 6');
  });

  it('readLink sets l3Off for the raw-IP link types', () => {
    const v = new PacketView();
    expect(readLink(IPV4_ICMP, 0, IPV4_ICMP.length, LINKTYPE_IPV4, v)).toBe(OK);
    expect([v.etherType, v.l3Off]).toEqual([ETHERTYPE_IPV4, 0]);
    expect(readLink(IPV6_ESP, 0, IPV6_ESP.length, LINKTYPE_IPV6, v)).toBe(OK);
    expect([v.etherType, v.l3Off]).toEqual([ETHERTYPE_IPV6, 0]);
  });
});

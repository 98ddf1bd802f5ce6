import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  PacketView,
  readPacket,
  LINKTYPE_NULL,
  LINKTYPE_ETHERNET,
  LINKTYPE_RAW,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
  LINKTYPE_LOOP,
  DLT_RAW_12,
  DLT_RAW_14,
  IPPROTO_TCP,
  IPPROTO_UDP,
  TCP_SYN,
  TCP_ACK,
  TCP_PSH,
  TCP_RST,
} from '../../src/wire/packet.js';
import { OK, MALFORMED, UNSUPPORTED } from '../../src/wire/status.js';
import { ipv4HeaderChecksumOk, l4ChecksumOk } from '../../src/wire/checksum.js';
import { parseIpv4 } from '../../src/wire/addr.js';
import { placed } from './hex.js';
import * as V from './vectors.js';

const ALL_LINK_TYPES = [
  LINKTYPE_NULL,
  LINKTYPE_ETHERNET,
  DLT_RAW_12,
  DLT_RAW_14,
  LINKTYPE_RAW,
  LINKTYPE_LOOP,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
  LINKTYPE_LINUX_SLL2,
];

/** Decodes `frame` placed at offset 7 of a 0xa5 buffer with junk after it (which must be ignored). */
function decodeAt7(frame: Uint8Array, linkType: number): { st: number; v: PacketView } {
  const buf = placed(frame, 7, 9);
  const v = new PacketView();
  const st = readPacket(buf, 7, frame.length, linkType, v);
  return { st, v };
}

describe('readPacket on annotated frames (offsets absolute, frame at 7)', () => {
  it('Ethernet / IPv4 / TCP SYN with options', () => {
    const { st, v } = decodeAt7(V.ethIpv4TcpSyn, LINKTYPE_ETHERNET);
    expect(st).toBe(OK);
    expect(v).toMatchObject({
      linkType: 1, l2Off: 7, vlanCount: 0, vlanId: -1, etherType: 0x0800, l3Off: 21,
      ipVersion: 4, ipHdrLen: 20, ipTotalLen: 60, ipProto: IPPROTO_TCP, ttl: 64, ipId: 0x1c46,
      isFragment: 0, src4: parseIpv4('192.168.122.1'), dst4: parseIpv4('192.168.122.17'),
      src6Off: -1, dst6Off: -1, l4Off: 41, l4Len: 40, srcPort: 51818, dstPort: 135,
      tcpSeq: 0x27ba0db8, tcpAck: 0, tcpFlags: TCP_SYN, tcpHdrLen: 40, tcpWindow: 64240,
      tcpMss: 1460, tcpWscale: 7, tcpSackOk: 1, payloadOff: 81, payloadLen: 0, errReason: '',
    });
  });

  it('Ethernet / 802.1Q / IPv4 with options / UDP', () => {
    const { st, v } = decodeAt7(V.ethVlanIpv4OptsUdp, LINKTYPE_ETHERNET);
    expect(st).toBe(OK);
    expect(v).toMatchObject({
      vlanCount: 1, vlanId: 100, etherType: 0x0800, l3Off: 25, ipHdrLen: 32, ipTotalLen: 44,
      ipProto: IPPROTO_UDP, src4: 0x0a010203, dst4: 0x0a040506, l4Off: 57, l4Len: 12,
      srcPort: 40000, dstPort: 34964, payloadOff: 65, payloadLen: 4, tcpHdrLen: 0,
    });
  });

  it('Ethernet / QinQ / IPv4 / TCP with seq and ack above 2^31 kept unsigned', () => {
    const { st, v } = decodeAt7(V.ethQinqIpv4Tcp, LINKTYPE_ETHERNET);
    expect(st).toBe(OK);
    expect(v).toMatchObject({
      vlanCount: 2, vlanId: 200, l3Off: 29, ipTotalLen: 45, l4Off: 49, l4Len: 25,
      tcpSeq: 0xfffffff0, tcpAck: 0x80000001, tcpFlags: TCP_PSH | TCP_ACK, tcpHdrLen: 20,
      tcpMss: -1, tcpWscale: -1, tcpSackOk: 0, payloadOff: 69, payloadLen: 5,
      src4: 0xac10050a, dst4: 0xac10053a,
    });
    expect(v.tcpSeq).toBeGreaterThan(0);
  });

  it('Ethernet padding after the IP packet is excluded', () => {
    const { st, v } = decodeAt7(V.ethIpv4TcpRstPadded, LINKTYPE_ETHERNET);
    expect(st).toBe(OK);
    expect(V.ethIpv4TcpRstPadded.length).toBe(60);
    expect(v).toMatchObject({ ipTotalLen: 40, l4Len: 20, tcpFlags: TCP_RST, ttl: 128, payloadOff: 61, payloadLen: 0 });
  });

  it('Linux cooked v1 / IPv4 / UDP', () => {
    const { st, v } = decodeAt7(V.sllIpv4Udp, LINKTYPE_LINUX_SLL);
    expect(st).toBe(OK);
    expect(v).toMatchObject({
      linkType: 113, linkPktType: 4, ifIndex: -1, etherType: 0x0800, l3Off: 23, ipTotalLen: 31,
      ttl: 255, l4Off: 43, l4Len: 11, srcPort: 34964, dstPort: 34964, payloadOff: 51, payloadLen: 3,
    });
  });

  it('Linux cooked v2 / IPv6 / TCP', () => {
    const { st, v } = decodeAt7(V.sll2Ipv6Tcp, LINKTYPE_LINUX_SLL2);
    expect(st).toBe(OK);
    expect(v).toMatchObject({
      linkType: 276, linkPktType: 0, ifIndex: 3, etherType: 0x86dd, l3Off: 27, ipVersion: 6,
      ipHdrLen: 40, ipTotalLen: 64, ipProto: IPPROTO_TCP, ttl: 63, src4: 0, dst4: 0,
      src6Off: 35, dst6Off: 51, l4Off: 67, l4Len: 24, srcPort: 49152, dstPort: 135,
      tcpSeq: 1000, tcpAck: 2000, payloadOff: 87, payloadLen: 4,
    });
  });

  it('IPv6 extension chain: hop-by-hop, dest-opts, routing, fragment (first), AH, TCP', () => {
    const { st, v } = decodeAt7(V.ethIpv6ExtChainTcp, LINKTYPE_ETHERNET);
    expect(st).toBe(OK);
    expect(v).toMatchObject({
      l3Off: 21, ipHdrLen: 120, ipTotalLen: 144, ipProto: IPPROTO_TCP, isFragment: 1, moreFrags: 1,
      fragOffset: 0, ipId: 0x12345678, l4Off: 141, l4Len: 24, srcPort: 49153, dstPort: 135,
      tcpFlags: TCP_ACK, payloadOff: 161, payloadLen: 4,
    });
  });

  it('IPv6 non-first fragment: IP decoded, no L4', () => {
    const { st, v } = decodeAt7(V.ethIpv6FragLast, LINKTYPE_ETHERNET);
    expect(st).toBe(OK);
    expect(v).toMatchObject({
      ipHdrLen: 48, ipTotalLen: 64, ipProto: IPPROTO_TCP, isFragment: 1, moreFrags: 0, fragOffset: 1448,
      l4Off: -1, l4Len: 0, srcPort: 0, dstPort: 0, payloadOff: 69, payloadLen: 16,
    });
  });

  it('IPv4 first fragment: isFragment set, UDP ports decoded from the fragment', () => {
    const { st, v } = decodeAt7(V.ethIpv4FragFirstUdp, LINKTYPE_ETHERNET);
    expect(st).toBe(OK);
    expect(v).toMatchObject({
      isFragment: 1, moreFrags: 1, fragOffset: 0, ipId: 0x4242, l4Off: 41, l4Len: 24,
      srcPort: 135, dstPort: 50000, payloadOff: 49, payloadLen: 16,
    });
  });

  it('IPv4 middle fragment: IP decoded, l4Off -1, payload = fragment data', () => {
    const { st, v } = decodeAt7(V.ethIpv4FragMiddle, LINKTYPE_ETHERNET);
    expect(st).toBe(OK);
    expect(v).toMatchObject({
      isFragment: 1, moreFrags: 1, fragOffset: 1480, ipProto: IPPROTO_UDP, l4Off: -1, l4Len: 0,
      srcPort: 0, dstPort: 0, payloadOff: 41, payloadLen: 16,
    });
  });

  it('ARP is UNSUPPORTED with the EtherType location', () => {
    const { st, v } = decodeAt7(V.ethArp, LINKTYPE_ETHERNET);
    expect(st).toBe(UNSUPPORTED);
    expect(v.errReason).toBe('not an ip packet');
    expect(v.errOffset).toBe(7 + 12);
    expect(v.etherType).toBe(0x0806);
    expect(v.ipVersion).toBe(0);
  });

  it('BSD loopback / IPv4 / ICMP: OK, ports 0, payload = IP payload', () => {
    const { st, v } = decodeAt7(V.nullIpv4Icmp, LINKTYPE_NULL);
    expect(st).toBe(OK);
    expect(v).toMatchObject({ l3Off: 11, ipProto: 1, l4Off: 31, l4Len: 12, srcPort: 0, dstPort: 0, payloadOff: 31, payloadLen: 12 });
  });

  it('Ethernet / IPv6 / UDP', () => {
    const { st, v } = decodeAt7(V.ethIpv6Udp, LINKTYPE_ETHERNET);
    expect(st).toBe(OK);
    expect(v).toMatchObject({ ipVersion: 6, ttl: 1, l4Off: 61, l4Len: 11, srcPort: 40001, dstPort: 40002, payloadLen: 3 });
  });

  it('raw IPv6 / ESP stops the header walk', () => {
    for (const lt of [LINKTYPE_RAW, DLT_RAW_12, DLT_RAW_14, LINKTYPE_IPV6]) {
      const { st, v } = decodeAt7(V.rawIpv6Esp, lt);
      expect(st).toBe(OK);
      expect(v).toMatchObject({ l2Off: 7, l3Off: 7, ipProto: 50, ipHdrLen: 40, l4Off: 47, l4Len: 24, payloadLen: 24, srcPort: 0 });
    }
  });

  it('every checksum of the annotated frames verifies', () => {
    const cases: [Uint8Array, number][] = [
      [V.ethIpv4TcpSyn, 1], [V.ethVlanIpv4OptsUdp, 1], [V.ethQinqIpv4Tcp, 1], [V.ethIpv4TcpRstPadded, 1],
      [V.sllIpv4Udp, 113], [V.sll2Ipv6Tcp, 276], [V.nullIpv4Icmp, 0], [V.ethIpv6Udp, 1],
    ];
    for (const [frame, lt] of cases) {
      const { st, v } = decodeAt7(frame, lt);
      expect(st).toBe(OK);
      const buf = placed(frame, 7, 9);
      if (v.ipVersion === 4) expect(ipv4HeaderChecksumOk(buf, v)).toBe(true);
      expect(l4ChecksumOk(buf, v)).toBe(true);
    }
  });

  it('a reused view is fully reset between packets', () => {
    const v = new PacketView();
    expect(readPacket(V.ethIpv4TcpSyn, 0, V.ethIpv4TcpSyn.length, 1, v)).toBe(OK);
    expect(readPacket(V.ethIpv4FragMiddle, 0, V.ethIpv4FragMiddle.length, 1, v)).toBe(OK);
    expect(v).toMatchObject({ srcPort: 0, tcpSeq: 0, tcpFlags: 0, tcpHdrLen: 0, tcpMss: -1, tcpSackOk: 0, l4Off: -1 });
    expect(readPacket(V.ethArp, 0, V.ethArp.length, 1, v)).toBe(UNSUPPORTED);
    expect(readPacket(V.ethIpv4TcpSyn, 0, V.ethIpv4TcpSyn.length, 1, v)).toBe(OK);
    expect(v.errReason).toBe('');
  });

  it('an unknown link type is UNSUPPORTED', () => {
    const v = new PacketView();
    expect(readPacket(V.ethIpv4TcpSyn, 0, 74, 147, v)).toBe(UNSUPPORTED);
    expect(v.errReason).toBe('unsupported link type');
  });

  it('an offset/length outside the buffer is refused or clamped, never read past', () => {
    const v = new PacketView();
    expect(readPacket(V.ethIpv4TcpSyn, 75, 10, 1, v)).toBe(MALFORMED);
    expect(v.errReason).toBe('offset/length outside the buffer');
    expect(readPacket(V.ethIpv4TcpSyn, -1, 10, 1, v)).toBe(MALFORMED);
    // len larger than the buffer is clamped to what is there
    expect(readPacket(V.ethIpv4TcpSyn, 0, 1000, 1, v)).toBe(OK);
    expect(readPacket(V.ethIpv4TcpSyn.subarray(0, 50), 0, 74, 1, v)).toBe(MALFORMED);
    expect(v.errReason).toBe('ip packet truncated by capture');
  });
});

/** Expected failure of a frame cut to `cut` bytes: [cut below which it applies, reason, errOffset (relative)]. */
type CutRule = [number, string, number];

function expectCuts(frame: Uint8Array, linkType: number, rules: CutRule[], okFrom: number): void {
  const v = new PacketView();
  for (let cut = 0; cut < frame.length; cut++) {
    const buf = placed(frame.subarray(0, cut), 3, 0);
    const st = readPacket(buf, 3, cut, linkType, v);
    if (cut >= okFrom) {
      expect(st, `cut ${cut}`).toBe(OK);
      continue;
    }
    const rule = rules.find(([below]) => cut < below);
    expect(rule, `cut ${cut}`).toBeDefined();
    expect([st, v.errReason, v.errOffset - 3], `cut ${cut}`).toEqual([MALFORMED, rule![1], rule![2]]);
  }
}

describe('truncated captures at every byte boundary', () => {
  it('Ethernet / IPv4 / TCP', () => {
    expectCuts(
      V.ethIpv4TcpSyn,
      LINKTYPE_ETHERNET,
      [
        [14, 'ethernet header truncated', 0],
        [34, 'ipv4 header truncated', 14],
        [74, 'ip packet truncated by capture', 16],
      ],
      74,
    );
  });

  it('Ethernet / IPv4 / TCP RST: a cut inside the padding is fine', () => {
    expectCuts(
      V.ethIpv4TcpRstPadded,
      LINKTYPE_ETHERNET,
      [
        [14, 'ethernet header truncated', 0],
        [34, 'ipv4 header truncated', 14],
        [54, 'ip packet truncated by capture', 16],
      ],
      54,
    );
  });

  it('Ethernet / 802.1ad / 802.1Q / IPv4 / TCP', () => {
    expectCuts(
      V.ethQinqIpv4Tcp,
      LINKTYPE_ETHERNET,
      [
        [14, 'ethernet header truncated', 0],
        [18, 'vlan tag truncated', 12],
        [22, 'vlan tag truncated', 16],
        [42, 'ipv4 header truncated', 22],
        [67, 'ip packet truncated by capture', 24],
      ],
      67,
    );
  });

  it('Ethernet / 802.1Q / IPv4 with options: the IHL is checked before the total length', () => {
    expectCuts(
      V.ethVlanIpv4OptsUdp,
      LINKTYPE_ETHERNET,
      [
        [14, 'ethernet header truncated', 0],
        [18, 'vlan tag truncated', 12],
        [38, 'ipv4 header truncated', 18],
        [50, 'ipv4 header beyond data', 18],
        [62, 'ip packet truncated by capture', 20],
      ],
      62,
    );
  });

  it('Linux cooked v1 and v2', () => {
    expectCuts(
      V.sllIpv4Udp,
      LINKTYPE_LINUX_SLL,
      [
        [16, 'linux cooked header truncated', 0],
        [36, 'ipv4 header truncated', 16],
        [47, 'ip packet truncated by capture', 18],
      ],
      47,
    );
    expectCuts(
      V.sll2Ipv6Tcp,
      LINKTYPE_LINUX_SLL2,
      [
        [20, 'linux cooked v2 header truncated', 0],
        [60, 'ipv6 header truncated', 20],
        [84, 'ip packet truncated by capture', 24],
      ],
      84,
    );
  });

  it('IPv6 extension chain', () => {
    expectCuts(
      V.ethIpv6ExtChainTcp,
      LINKTYPE_ETHERNET,
      [
        [14, 'ethernet header truncated', 0],
        [54, 'ipv6 header truncated', 14],
        [158, 'ip packet truncated by capture', 18],
      ],
      158,
    );
  });

  it('loopback and raw', () => {
    expectCuts(
      V.nullIpv4Icmp,
      LINKTYPE_NULL,
      [
        [4, 'loopback header truncated', 0],
        [24, 'ipv4 header truncated', 4],
        [36, 'ip packet truncated by capture', 6],
      ],
      36,
    );
    expectCuts(
      V.rawIpv6Esp,
      LINKTYPE_RAW,
      [
        [1, 'raw ip packet empty', 0],
        [40, 'ipv6 header truncated', 0],
        [64, 'ip packet truncated by capture', 4],
      ],
      64,
    );
  });
});

const FRAMES: [Uint8Array, number][] = [
  [V.ethIpv4TcpSyn, LINKTYPE_ETHERNET],
  [V.ethVlanIpv4OptsUdp, LINKTYPE_ETHERNET],
  [V.ethQinqIpv4Tcp, LINKTYPE_ETHERNET],
  [V.ethIpv4TcpRstPadded, LINKTYPE_ETHERNET],
  [V.sllIpv4Udp, LINKTYPE_LINUX_SLL],
  [V.sll2Ipv6Tcp, LINKTYPE_LINUX_SLL2],
  [V.ethIpv6ExtChainTcp, LINKTYPE_ETHERNET],
  [V.ethIpv6FragLast, LINKTYPE_ETHERNET],
  [V.ethIpv4FragFirstUdp, LINKTYPE_ETHERNET],
  [V.ethIpv4FragMiddle, LINKTYPE_ETHERNET],
  [V.ethArp, LINKTYPE_ETHERNET],
  [V.nullIpv4Icmp, LINKTYPE_NULL],
  [V.ethIpv6Udp, LINKTYPE_ETHERNET],
  [V.rawIpv6Esp, LINKTYPE_RAW],
];

/** Whatever the input, an OK view only points inside [off, off + len). */
function checkInvariants(st: number, v: PacketView, off: number, len: number): void {
  expect([OK, MALFORMED, UNSUPPORTED]).toContain(st);
  if (st !== OK) {
    expect(v.errReason).not.toBe('');
    return;
  }
  const end = off + len;
  expect([4, 6]).toContain(v.ipVersion);
  expect(v.l3Off).toBeGreaterThanOrEqual(off);
  expect(v.l3Off + v.ipTotalLen).toBeLessThanOrEqual(end);
  expect(v.ipHdrLen).toBeLessThanOrEqual(v.ipTotalLen);
  if (v.l4Off >= 0) {
    expect(v.l4Off).toBe(v.l3Off + v.ipHdrLen);
    expect(v.l4Off + v.l4Len).toBeLessThanOrEqual(v.l3Off + v.ipTotalLen);
  }
  if (v.payloadOff >= 0) {
    expect(v.payloadLen).toBeGreaterThanOrEqual(0);
    expect(v.payloadOff + v.payloadLen).toBeLessThanOrEqual(v.l3Off + v.ipTotalLen);
  }
  if (v.ipProto === IPPROTO_TCP && v.l4Off >= 0) {
    expect(v.tcpHdrLen).toBeGreaterThanOrEqual(20);
    expect(v.payloadOff).toBe(v.l4Off + v.tcpHdrLen);
  }
  expect(v.src4).toBeGreaterThanOrEqual(0);
  expect(v.dst4).toBeGreaterThanOrEqual(0);
  expect(v.tcpSeq).toBeGreaterThanOrEqual(0);
  expect(v.tcpAck).toBeGreaterThanOrEqual(0);
}

describe('properties: random input never throws and never points outside the frame', () => {
  it('random bytes for every link type', () => {
    const v = new PacketView();
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.constantFrom(...ALL_LINK_TYPES),
        fc.nat(5),
        fc.boolean(),
        (bytes, lt, off, tso) => {
          v.acceptTsoZeroLen = tso ? 1 : 0;
          const buf = placed(bytes, off, 3);
          const st = readPacket(buf, off, bytes.length, lt, v);
          checkInvariants(st, v, off, bytes.length);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('random bytes behind a valid link + IP version prefix (reaches the IP and L4 decoders)', () => {
    const v = new PacketView();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.boolean(), fc.constantFrom(...ALL_LINK_TYPES), fc.boolean(), (tail, six, lt, tso) => {
        v.acceptTsoZeroLen = tso ? 1 : 0;
        const prefix =
          lt === LINKTYPE_ETHERNET ? [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, six ? 0x86 : 0x08, six ? 0xdd : 0x00]
          : lt === LINKTYPE_LINUX_SLL ? [0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, six ? 0x86 : 0x08, six ? 0xdd : 0x00]
          : lt === LINKTYPE_LINUX_SLL2 ? [six ? 0x86 : 0x08, six ? 0xdd : 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0]
          : lt === LINKTYPE_NULL || lt === LINKTYPE_LOOP ? [0, 0, 0, six ? 24 : 2]
          : [];
        const ipFirst = six ? [0x60] : [0x40 | (5 + (tail[0] ?? 0) % 11)];
        const bytes = Uint8Array.from([...prefix, ...ipFirst, ...tail]);
        const st = readPacket(bytes, 0, bytes.length, lt, v);
        checkInvariants(st, v, 0, bytes.length);
      }),
      { numRuns: 3000 },
    );
  });

  it('random truncations and byte corruptions of valid frames', () => {
    const v = new PacketView();
    fc.assert(
      fc.property(
        fc.constantFrom(...FRAMES),
        fc.nat(),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.boolean(),
        ([frame, lt], cutSeed, edits, tso) => {
          v.acceptTsoZeroLen = tso ? 1 : 0;
          const bytes = frame.slice();
          for (const [at, val] of edits) bytes[at % bytes.length] = val;
          const cut = cutSeed % (bytes.length + 1);
          const buf = placed(bytes.subarray(0, cut), 2, 0);
          const st = readPacket(buf, 2, cut, lt, v);
          checkInvariants(st, v, 2, cut);
        },
      ),
      { numRuns: 5000 },
    );
  });
});

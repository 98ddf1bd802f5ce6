/**
 * Whole-frame builders for tests, sample captures and synthesised packets (the engine's RSTs):
 * Ethernet (optionally VLAN-tagged) + IPv4/IPv6 + TCP/UDP + payload, every checksum filled.
 * Each returns the frame length written at `off`; the caller sizes `buf` (frameLenV4/V6 helps).
 */
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN, ETH_HDR_LEN, VLAN_TAG_LEN, writeEthernet, writeVlanTag } from './link.js';
import { IPPROTO_TCP, IPPROTO_UDP } from './ipproto.js';
import { writeIpv4Header } from './ipv4.js';
import { IPV6_HDR_LEN, writeIpv6Header } from './ipv6.js';
import { writeTcpHeader } from './tcp.js';
import { UDP_HDR_LEN, writeUdpHeader } from './udp.js';
import { finishTcpChecksumV4, finishTcpChecksumV6, finishUdpChecksumV4, finishUdpChecksumV6 } from './checksum.js';

/** Locally administered placeholder MACs used when a builder is not given any. */
export const DEFAULT_DST_MAC: Uint8Array = Uint8Array.of(0x02, 0, 0, 0, 0, 0x02);
export const DEFAULT_SRC_MAC: Uint8Array = Uint8Array.of(0x02, 0, 0, 0, 0, 0x01);

export interface L2Opts {
  dstMac?: Uint8Array;
  srcMac?: Uint8Array;
  /** 802.1Q VLAN ids, outermost first (every tag uses TPID 0x8100). */
  vlanIds?: readonly number[];
}

export interface TcpFrameFields {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window?: number;
  /** Raw TCP option bytes (padded to 4 with EOL). */
  tcpOptions?: Uint8Array;
  payload?: Uint8Array;
}

export interface UdpFrameFields {
  srcPort: number;
  dstPort: number;
  payload?: Uint8Array;
  /** Leave the UDP checksum 0 ("none"; IPv4 only). */
  noChecksum?: boolean;
}

export interface V4Fields {
  /** Unsigned u32 addresses. */
  src: number;
  dst: number;
  ttl?: number;
  id?: number;
  dontFragment?: boolean;
  /** Raw IPv4 option bytes (padded to 4 with EOL). */
  ipOptions?: Uint8Array;
}

export interface V6Fields {
  /** 16-byte addresses. */
  src: Uint8Array;
  dst: Uint8Array;
  hopLimit?: number;
}

export type TcpV4FrameOpts = L2Opts & V4Fields & TcpFrameFields;
export type UdpV4FrameOpts = L2Opts & V4Fields & UdpFrameFields;
export type TcpV6FrameOpts = L2Opts & V6Fields & TcpFrameFields;
export type UdpV6FrameOpts = L2Opts & V6Fields & UdpFrameFields;

const EMPTY = new Uint8Array(0);

/** Ethernet + VLAN tags; returns the offset of the IP header. */
function writeL2(buf: Uint8Array, off: number, o: L2Opts, etherType: number): number {
  const tags = o.vlanIds ?? [];
  const dst = o.dstMac ?? DEFAULT_DST_MAC;
  const src = o.srcMac ?? DEFAULT_SRC_MAC;
  let p = off + writeEthernet(buf, off, dst, src, tags.length > 0 ? ETHERTYPE_VLAN : etherType);
  for (let i = 0; i < tags.length; i++) {
    const inner = i + 1 < tags.length ? ETHERTYPE_VLAN : etherType;
    p += writeVlanTag(buf, p, tags[i]! & 0x0fff, inner);
  }
  return p;
}

function copyIn(buf: Uint8Array, at: number, data: Uint8Array): void {
  buf.set(data, at);
}

function padded4(n: number): number {
  return (n + 3) & ~3;
}

/** Bytes a frame will take: link header (14 + 4 per tag) + IP header + L4 header + payload. */
export function frameLen(vlanCount: number, ipHdrLen: number, l4HdrLen: number, payloadLen: number): number {
  return ETH_HDR_LEN + VLAN_TAG_LEN * vlanCount + ipHdrLen + l4HdrLen + payloadLen;
}

/** Ethernet/IPv4/TCP frame with valid IP and TCP checksums; returns its length. */
export function buildTcpV4Frame(buf: Uint8Array, off: number, o: TcpV4FrameOpts): number {
  const payload = o.payload ?? EMPTY;
  const ipOff = writeL2(buf, off, o, ETHERTYPE_IPV4);
  const ipHdrLen = 20 + (o.ipOptions === undefined ? 0 : padded4(o.ipOptions.length));
  const tcpHdrLen = 20 + (o.tcpOptions === undefined ? 0 : padded4(o.tcpOptions.length));
  const l4Len = tcpHdrLen + payload.length;
  writeIpv4Header(buf, ipOff, {
    src: o.src,
    dst: o.dst,
    proto: IPPROTO_TCP,
    totalLen: ipHdrLen + l4Len,
    ttl: o.ttl ?? 64,
    id: o.id ?? 0,
    dontFragment: o.dontFragment ?? true,
    ...(o.ipOptions === undefined ? {} : { options: o.ipOptions }),
  });
  const l4Off = ipOff + ipHdrLen;
  writeTcpHeader(buf, l4Off, {
    srcPort: o.srcPort,
    dstPort: o.dstPort,
    seq: o.seq,
    ack: o.ack,
    flags: o.flags,
    window: o.window ?? 65535,
    ...(o.tcpOptions === undefined ? {} : { options: o.tcpOptions }),
  });
  copyIn(buf, l4Off + tcpHdrLen, payload);
  finishTcpChecksumV4(buf, ipOff, l4Off, l4Len);
  return l4Off + l4Len - off;
}

/** Ethernet/IPv4/UDP frame with valid checksums; returns its length. */
export function buildUdpV4Frame(buf: Uint8Array, off: number, o: UdpV4FrameOpts): number {
  const payload = o.payload ?? EMPTY;
  const ipOff = writeL2(buf, off, o, ETHERTYPE_IPV4);
  const ipHdrLen = 20 + (o.ipOptions === undefined ? 0 : padded4(o.ipOptions.length));
  const l4Len = UDP_HDR_LEN + payload.length;
  writeIpv4Header(buf, ipOff, {
    src: o.src,
    dst: o.dst,
    proto: IPPROTO_UDP,
    totalLen: ipHdrLen + l4Len,
    ttl: o.ttl ?? 64,
    id: o.id ?? 0,
    dontFragment: o.dontFragment ?? false,
    ...(o.ipOptions === undefined ? {} : { options: o.ipOptions }),
  });
  const l4Off = ipOff + ipHdrLen;
  writeUdpHeader(buf, l4Off, o.srcPort, o.dstPort, l4Len);
  copyIn(buf, l4Off + UDP_HDR_LEN, payload);
  if (o.noChecksum !== true) finishUdpChecksumV4(buf, ipOff, l4Off, l4Len);
  return l4Off + l4Len - off;
}

/** Ethernet/IPv6/TCP frame (no extension headers) with a valid TCP checksum; returns its length. */
export function buildTcpV6Frame(buf: Uint8Array, off: number, o: TcpV6FrameOpts): number {
  const payload = o.payload ?? EMPTY;
  const ipOff = writeL2(buf, off, o, ETHERTYPE_IPV6);
  const tcpHdrLen = 20 + (o.tcpOptions === undefined ? 0 : padded4(o.tcpOptions.length));
  const l4Len = tcpHdrLen + payload.length;
  writeIpv6Header(buf, ipOff, { src: o.src, dst: o.dst, nextHeader: IPPROTO_TCP, payloadLen: l4Len, hopLimit: o.hopLimit ?? 64 });
  const l4Off = ipOff + IPV6_HDR_LEN;
  writeTcpHeader(buf, l4Off, {
    srcPort: o.srcPort,
    dstPort: o.dstPort,
    seq: o.seq,
    ack: o.ack,
    flags: o.flags,
    window: o.window ?? 65535,
    ...(o.tcpOptions === undefined ? {} : { options: o.tcpOptions }),
  });
  copyIn(buf, l4Off + tcpHdrLen, payload);
  finishTcpChecksumV6(buf, ipOff, l4Off, l4Len);
  return l4Off + l4Len - off;
}

/** Ethernet/IPv6/UDP frame with a valid UDP checksum (mandatory over IPv6); returns its length. */
export function buildUdpV6Frame(buf: Uint8Array, off: number, o: UdpV6FrameOpts): number {
  const payload = o.payload ?? EMPTY;
  const ipOff = writeL2(buf, off, o, ETHERTYPE_IPV6);
  const l4Len = UDP_HDR_LEN + payload.length;
  writeIpv6Header(buf, ipOff, { src: o.src, dst: o.dst, nextHeader: IPPROTO_UDP, payloadLen: l4Len, hopLimit: o.hopLimit ?? 64 });
  const l4Off = ipOff + IPV6_HDR_LEN;
  writeUdpHeader(buf, l4Off, o.srcPort, o.dstPort, l4Len);
  copyIn(buf, l4Off + UDP_HDR_LEN, payload);
  if (o.noChecksum !== true) finishUdpChecksumV6(buf, ipOff, l4Off, l4Len);
  return l4Off + l4Len - off;
}

/**
 * Frame builders for the workload generator: Ethernet + IPv4 + TCP/UDP/ICMP with every checksum
 * right, written into a caller's buffer. Offline code (it runs once to write a capture), so it
 * favours clarity over allocation-free style.
 */
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETH_HDR_LEN, writeEthernet } from '../src/wire/link.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../src/wire/ipproto.js';
import { writeIpv4Header } from '../src/wire/ipv4.js';
import { writeTcpHeader } from '../src/wire/tcp.js';
import { writeUdpHeader, UDP_HDR_LEN } from '../src/wire/udp.js';
import { finishSum, finishTcpChecksumV4, finishUdpChecksumV4, onesSum } from '../src/wire/checksum.js';
import { buildUdpV6Frame } from '../src/wire/build.js';

export const IP_OFF = ETH_HDR_LEN;
export const IPV4_HDR = 20;
export const TCP_HDR = 20;
/** MSS option (kind 2, length 4, 1460) carried by SYN and SYN-ACK, as Windows sends it. */
const MSS_OPTION = Uint8Array.of(2, 4, 0x05, 0xb4);
export const MSS = 1460;

/** Locally administered MACs: each side's router/server and the gateway's two interfaces. */
export const MAC_EXT_ROUTER = Uint8Array.of(0x02, 0xe0, 0, 0, 0, 0x01);
export const MAC_GW_EXT = Uint8Array.of(0x02, 0x6a, 0, 0, 0, 0x01);
export const MAC_SERVER = Uint8Array.of(0x02, 0x5e, 0, 0, 0, 0x0a);
export const MAC_GW_INT = Uint8Array.of(0x02, 0x6a, 0, 0, 0, 0x02);
const MAC_BROADCAST = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

export interface TcpFrame {
  srcMac: Uint8Array;
  dstMac: Uint8Array;
  src: number;
  dst: number;
  ttl: number;
  id: number;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  /** Payload bytes: data[off..off+len). */
  data?: Uint8Array;
  off?: number;
  len?: number;
  /** SYN / SYN-ACK: add the MSS option. */
  mss?: boolean;
}

/** Ethernet/IPv4/TCP frame at buf[0]; returns its length. */
export function writeTcpFrame(buf: Uint8Array, f: TcpFrame): number {
  const len = f.len ?? 0;
  const tcpHdr = TCP_HDR + (f.mss === true ? MSS_OPTION.length : 0);
  writeEthernet(buf, 0, f.dstMac, f.srcMac, ETHERTYPE_IPV4);
  writeIpv4Header(buf, IP_OFF, { src: f.src, dst: f.dst, proto: IPPROTO_TCP, totalLen: IPV4_HDR + tcpHdr + len, ttl: f.ttl, id: f.id & 0xffff, dontFragment: true });
  const l4 = IP_OFF + IPV4_HDR;
  writeTcpHeader(buf, l4, {
    srcPort: f.srcPort, dstPort: f.dstPort, seq: f.seq >>> 0, ack: f.ack >>> 0, flags: f.flags, window: f.window,
    ...(f.mss === true ? { options: MSS_OPTION } : {}),
  });
  if (len > 0) buf.set(f.data!.subarray(f.off ?? 0, (f.off ?? 0) + len), l4 + tcpHdr);
  finishTcpChecksumV4(buf, IP_OFF, l4, tcpHdr + len);
  return l4 + tcpHdr + len;
}

/** Ethernet/IPv4/UDP frame at buf[0]; returns its length. */
export function writeUdpFrame(
  buf: Uint8Array, srcMac: Uint8Array, dstMac: Uint8Array, src: number, dst: number, srcPort: number, dstPort: number, payload: Uint8Array, ttl = 128, id = 0,
): number {
  writeEthernet(buf, 0, dstMac, srcMac, ETHERTYPE_IPV4);
  const l4Len = UDP_HDR_LEN + payload.length;
  writeIpv4Header(buf, IP_OFF, { src, dst, proto: IPPROTO_UDP, totalLen: IPV4_HDR + l4Len, ttl, id: id & 0xffff, dontFragment: false });
  const l4 = IP_OFF + IPV4_HDR;
  writeUdpHeader(buf, l4, srcPort, dstPort, l4Len);
  buf.set(payload, l4 + UDP_HDR_LEN);
  finishUdpChecksumV4(buf, IP_OFF, l4, l4Len);
  return l4 + l4Len;
}

/** ICMP echo request (type 8) with 32 bytes of data; returns the frame length. */
export function writeIcmpEcho(buf: Uint8Array, srcMac: Uint8Array, dstMac: Uint8Array, src: number, dst: number, ident: number, seq: number): number {
  writeEthernet(buf, 0, dstMac, srcMac, ETHERTYPE_IPV4);
  const icmpLen = 8 + 32;
  writeIpv4Header(buf, IP_OFF, { src, dst, proto: IPPROTO_ICMP, totalLen: IPV4_HDR + icmpLen, ttl: 52, id: seq & 0xffff });
  const p = IP_OFF + IPV4_HDR;
  buf[p] = 8;
  buf[p + 1] = 0;
  buf[p + 2] = 0;
  buf[p + 3] = 0;
  buf[p + 4] = ident >>> 8;
  buf[p + 5] = ident & 0xff;
  buf[p + 6] = (seq >>> 8) & 0xff;
  buf[p + 7] = seq & 0xff;
  for (let i = 0; i < 32; i++) buf[p + 8 + i] = 0x61 + (i % 23); // "abcdefghijklmnopqrstuvwabcdefghi", as Windows ping
  const c = finishSum(onesSum(buf, p, icmpLen, 0));
  buf[p + 2] = c >>> 8;
  buf[p + 3] = c & 0xff;
  return p + icmpLen;
}

/** ARP who-has (not IP: a gateway-side capture is full of them); returns the frame length. */
export function writeArpRequest(buf: Uint8Array, srcMac: Uint8Array, senderIp: number, targetIp: number): number {
  writeEthernet(buf, 0, MAC_BROADCAST, srcMac, ETHERTYPE_ARP);
  const p = ETH_HDR_LEN;
  const hdr = [0, 1, 8, 0, 6, 4, 0, 1];
  for (let i = 0; i < 8; i++) buf[p + i] = hdr[i]!;
  buf.set(srcMac, p + 8);
  put32(buf, p + 14, senderIp);
  buf.fill(0, p + 18, p + 24);
  put32(buf, p + 24, targetIp);
  buf.fill(0, p + 28, p + 46); // pad to the 60-byte Ethernet minimum
  return p + 46;
}

const LLMNR_V6 = Uint8Array.of(0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0x03);
const LLMNR_QUERY = Uint8Array.of(0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4, 0x77, 0x70, 0x61, 0x64, 0, 0, 1, 0, 1); // "wpad" A?

/** An IPv6 LLMNR query to ff02::1:3 (link-local chatter the gateway never sees as IPv4). */
export function writeLlmnrV6(buf: Uint8Array, srcMac: Uint8Array, hostId: number): number {
  const src = new Uint8Array(16);
  src[0] = 0xfe;
  src[1] = 0x80;
  put32(src, 12, hostId);
  return buildUdpV6Frame(buf, 0, { srcMac, dstMac: Uint8Array.of(0x33, 0x33, 0, 1, 0, 3), src, dst: LLMNR_V6, hopLimit: 1, srcPort: 50000 + (hostId % 10000), dstPort: 5355, payload: LLMNR_QUERY });
}

export function put32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

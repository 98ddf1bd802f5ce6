/** One-call decoding of a captured frame: link -> IPv4/IPv6 -> TCP/UDP, into a reusable PacketView (view.ts). */
import { MALFORMED, OK, UNSUPPORTED, fail, type Status } from './status.js';
import { PacketView, R_BUFFER_RANGE, R_NOT_IP, resetPacketView } from './view.js';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, LINKTYPE_RAW, readLink } from './link.js';
import { readIpv4 } from './ipv4.js';
import { readIpv6 } from './ipv6.js';
import { readTcp } from './tcp.js';
import { readUdp } from './udp.js';
import { IPPROTO_TCP, IPPROTO_UDP } from './ipproto.js';

export * from './ipproto.js';
export { PacketView, R_BUFFER_RANGE, R_NOT_IP, resetPacketView } from './view.js';
export {
  LINKTYPE_NULL,
  LINKTYPE_ETHERNET,
  LINKTYPE_RAW,
  LINKTYPE_LOOP,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
  DLT_RAW_12,
  DLT_RAW_14,
} from './link.js';
export { TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, TCP_URG, TCP_ECE, TCP_CWR } from './tcp.js';

/**
 * Decodes one captured frame of `len` bytes at `off` (the capture length, not the wire length).
 *
 * OK: IP was decoded; for TCP/UDP the ports, and for TCP the header fields, are set. Non-first
 * fragments stop after IP (l4Off = -1); other protocols (ICMP, ESP...) leave ports 0 with the IP
 * payload as payload. UNSUPPORTED: not IP (ARP, LLC, unknown link type...). MALFORMED: a header
 * contradicts itself or the capture is shorter than the IP length ("ip packet truncated by
 * capture"); errOffset is the header start for truncations, else the offending field's byte.
 */
export function readPacket(buf: Uint8Array, off: number, len: number, linkType: number, out: PacketView): Status {
  resetPacketView(out);
  out.linkType = linkType;
  out.l2Off = off;
  if (!(off >= 0 && len >= 0 && off <= buf.length)) return fail(out, MALFORMED, 0, R_BUFFER_RANGE);
  if (len > buf.length - off) len = buf.length - off;
  let st = readLink(buf, off, len, linkType, out);
  if (st !== OK) return st;
  const l3Off = out.l3Off;
  const l3Len = off + len - l3Off;
  if (out.etherType === ETHERTYPE_IPV4) st = readIpv4(buf, l3Off, l3Len, out);
  else if (out.etherType === ETHERTYPE_IPV6) st = readIpv6(buf, l3Off, l3Len, out);
  else return fail(out, UNSUPPORTED, l3Off - 2, R_NOT_IP);
  if (st !== OK) return st;
  return readL4(buf, out);
}

/** Decodes TCP or UDP at view.l4Off (set by readIpv4/readIpv6); other protocols are left as is. */
export function readL4(buf: Uint8Array, out: PacketView): Status {
  if (out.l4Off < 0) return OK;
  if (out.ipProto === IPPROTO_TCP) return readTcp(buf, out.l4Off, out.l4Len, out);
  if (out.ipProto === IPPROTO_UDP) return readUdp(buf, out.l4Off, out.l4Len, out);
  return OK;
}

/**
 * readPacket(buf, off, len, LINKTYPE_RAW, out) for the engine's usual packet, an unfragmented
 * IPv4 TCP segment: the same view (test/wire/raw-ipv4-tcp.test.ts checks it field by field), without
 * first resetting the fields the IPv4 and TCP decoders write anyway. Anything else — another
 * protocol or version, a fragment, a header that does not decode — goes through readPacket.
 */
export function readRawIpv4Tcp(buf: Uint8Array, off: number, len: number, out: PacketView): Status {
  if (!(off >= 0 && len > 0 && off + len <= buf.length) || buf[off]! >> 4 !== 4 || buf[off + 9] !== IPPROTO_TCP) {
    return readPacket(buf, off, len, LINKTYPE_RAW, out);
  }
  if (readIpv4(buf, off, len, out) !== OK || out.l4Off < 0 || readTcp(buf, out.l4Off, out.l4Len, out) !== OK) {
    return readPacket(buf, off, len, LINKTYPE_RAW, out);
  }
  // What resetPacketView and readRawIp leave on this path (readIpv4 and readTcp set the rest).
  out.errOffset = 0;
  out.errReason = '';
  out.needed = 0;
  out.linkType = LINKTYPE_RAW;
  out.l2Off = off;
  out.linkPktType = -1;
  out.ifIndex = -1;
  out.vlanCount = 0;
  out.vlanId = -1;
  out.etherType = ETHERTYPE_IPV4;
  return OK;
}

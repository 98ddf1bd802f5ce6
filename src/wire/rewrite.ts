/**
 * In-place, length-preserving NAT rewrites of a decoded packet, keeping every checksum right
 * with RFC 1624 incremental updates (never a full recompute), and keeping the view in step.
 *
 * The old value is always read from the bytes, not the view, so the checksum delta matches what
 * is really in the packet. An invalid checksum stays invalid by the same amount (the receiver
 * still detects the corruption). UDP checksum 0 ("none") stays 0; a UDP result of 0 is sent as
 * 0xffff. Non-first fragments have no L4 header: only the IP header checksum changes.
 */
import type { PacketView } from './view.js';
import { IPPROTO_TCP, IPPROTO_UDP } from './ipproto.js';
import { csumReplace16, csumReplace32, finishTcpChecksumV4, fold, onesSum, swap16 } from './checksum.js';
import { IPV4_OFF_CHECKSUM, IPV4_OFF_DST, IPV4_OFF_SRC, IPV4_OFF_TOTAL_LEN, IPV4_OFF_TTL } from './ipv4.js';
import { IPV6_ADDR_LEN } from './ipv6.js';
import { TCP_HDR_MIN, TCP_OFF_CHECKSUM, TCP_OFF_DATA_OFF, TCPOPT_EOL, TCPOPT_NOP, TCPOPT_SACK } from './tcp.js';
import { UDP_OFF_CHECKSUM } from './udp.js';

function get16(buf: Uint8Array, at: number): number {
  return (buf[at]! << 8) | buf[at + 1]!;
}

function put16(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 8;
  buf[at + 1] = v;
}

function get32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

function put32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 24;
  buf[at + 1] = v >>> 16;
  buf[at + 2] = v >>> 8;
  buf[at + 3] = v;
}

/** Absolute offset of the TCP/UDP checksum field, or -1 when there is none to maintain. */
function l4ChecksumAt(buf: Uint8Array, view: PacketView): number {
  if (view.l4Off < 0) return -1;
  if (view.ipProto === IPPROTO_TCP) return view.l4Off + TCP_OFF_CHECKSUM;
  if (view.ipProto === IPPROTO_UDP) {
    const at = view.l4Off + UDP_OFF_CHECKSUM;
    return get16(buf, at) === 0 ? -1 : at;
  }
  return -1;
}

/** Stores an updated L4 checksum; UDP may not carry 0 (it would mean "no checksum"). */
function storeL4Checksum(buf: Uint8Array, view: PacketView, at: number, c: number): void {
  put16(buf, at, c === 0 && view.ipProto === IPPROTO_UDP ? 0xffff : c);
}

/** Replaces a 32-bit word covered by the IPv4 header checksum and, when pseudo, by the L4 one. */
function replaceIpv4Addr(buf: Uint8Array, view: PacketView, fieldOff: number, addr: number): void {
  const at = view.l3Off + fieldOff;
  const old = get32(buf, at);
  const ipCsumAt = view.l3Off + IPV4_OFF_CHECKSUM;
  put32(buf, at, addr);
  put16(buf, ipCsumAt, csumReplace32(get16(buf, ipCsumAt), old, addr));
  const l4At = l4ChecksumAt(buf, view);
  if (l4At >= 0) storeL4Checksum(buf, view, l4At, csumReplace32(get16(buf, l4At), old, addr));
}

/** Sets the IPv4 source address (u32); false when the view is not IPv4. */
export function setIpv4Src(buf: Uint8Array, view: PacketView, addr: number): boolean {
  if (view.ipVersion !== 4) return false;
  addr >>>= 0;
  replaceIpv4Addr(buf, view, IPV4_OFF_SRC, addr);
  view.src4 = addr;
  return true;
}

/** Sets the IPv4 destination address (u32); false when the view is not IPv4. */
export function setIpv4Dst(buf: Uint8Array, view: PacketView, addr: number): boolean {
  if (view.ipVersion !== 4) return false;
  addr >>>= 0;
  replaceIpv4Addr(buf, view, IPV4_OFF_DST, addr);
  view.dst4 = addr;
  return true;
}

/** Replaces a 16-bit field of the TCP/UDP header (a port) under the L4 checksum. */
function replaceL4Word(buf: Uint8Array, view: PacketView, fieldOff: number, value: number): boolean {
  if (view.l4Off < 0 || (view.ipProto !== IPPROTO_TCP && view.ipProto !== IPPROTO_UDP)) return false;
  const at = view.l4Off + fieldOff;
  const old = get16(buf, at);
  put16(buf, at, value);
  const l4At = l4ChecksumAt(buf, view);
  if (l4At >= 0) storeL4Checksum(buf, view, l4At, csumReplace16(get16(buf, l4At), old, value));
  return true;
}

/** Sets the TCP/UDP source port; false when there is no TCP/UDP header (other protocol, later fragment). */
export function setSrcPort(buf: Uint8Array, view: PacketView, port: number): boolean {
  port &= 0xffff;
  if (!replaceL4Word(buf, view, 0, port)) return false;
  view.srcPort = port;
  return true;
}

/** Sets the TCP/UDP destination port; false when there is no TCP/UDP header. */
export function setDstPort(buf: Uint8Array, view: PacketView, port: number): boolean {
  port &= 0xffff;
  if (!replaceL4Word(buf, view, 2, port)) return false;
  view.dstPort = port;
  return true;
}

/**
 * The checksum contribution of `n` bytes at `at`, placed `rel` bytes from the start of the
 * checksummed block: at an odd distance every byte sits in the other half of its word, and the
 * ones'-complement sum of byte-swapped words is the byte-swapped sum.
 */
function regionSum(buf: Uint8Array, at: number, n: number, rel: number): number {
  const s = fold(onesSum(buf, at, n, 0));
  return (rel & 1) === 0 ? s : swap16(s);
}

/** Copies n bytes, forwards or backwards so an overlapping copy inside one buffer is right. */
function copyBytes(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number, n: number): void {
  if (dst.buffer === src.buffer && dst.byteOffset + dstOff > src.byteOffset + srcOff) {
    for (let i = n - 1; i >= 0; i--) dst[dstOff + i] = src[srcOff + i]!;
  } else {
    for (let i = 0; i < n; i++) dst[dstOff + i] = src[srcOff + i]!;
  }
}

/**
 * Copies `n` bytes of `src` (from srcOff) over the L4 payload at absolute offset absOff and
 * updates the TCP/UDP checksum incrementally; any offset parity and length work. False, with
 * nothing written, when the range is not inside [payloadOff, payloadOff + payloadLen) or
 * `src` is too short. For other protocols the bytes are copied and no checksum is touched
 * (ICMP/ESP payloads are not rewritten by the gateway).
 */
export function rewritePayload(
  buf: Uint8Array,
  view: PacketView,
  absOff: number,
  src: Uint8Array,
  srcOff: number,
  n: number,
): boolean {
  if (n < 0 || srcOff < 0 || srcOff + n > src.length) return false;
  if (view.payloadOff < 0 || absOff < view.payloadOff || absOff + n > view.payloadOff + view.payloadLen) return false;
  if (n === 0) return true;
  const l4At = l4ChecksumAt(buf, view);
  if (l4At < 0) {
    copyBytes(buf, absOff, src, srcOff, n);
    return true;
  }
  const rel = absOff - view.l4Off;
  const oldSum = regionSum(buf, absOff, n, rel);
  const newSum = regionSum(src, srcOff, n, rel);
  copyBytes(buf, absOff, src, srcOff, n);
  storeL4Checksum(buf, view, l4At, csumReplace16(get16(buf, l4At), oldSum, newSum));
  return true;
}

/** Replaces a 16-byte IPv6 address: no IP header checksum, but the L4 pseudo-header sum changes. */
function replaceIpv6Addr(buf: Uint8Array, view: PacketView, at: number, addr: Uint8Array, addrOff: number): boolean {
  if (view.ipVersion !== 6 || addrOff < 0 || addrOff + IPV6_ADDR_LEN > addr.length) return false;
  const l4At = l4ChecksumAt(buf, view);
  // at - l3Off is even (8 or 24), so the address is word-aligned in the pseudo-header.
  const oldSum = fold(onesSum(buf, at, IPV6_ADDR_LEN, 0));
  const newSum = fold(onesSum(addr, addrOff, IPV6_ADDR_LEN, 0));
  copyBytes(buf, at, addr, addrOff, IPV6_ADDR_LEN);
  if (l4At >= 0) storeL4Checksum(buf, view, l4At, csumReplace16(get16(buf, l4At), oldSum, newSum));
  return true;
}

/** Sets the IPv6 source address from 16 bytes of `addr` at addrOff; false when not IPv6. */
export function setIpv6Src(buf: Uint8Array, view: PacketView, addr: Uint8Array, addrOff: number): boolean {
  return replaceIpv6Addr(buf, view, view.src6Off, addr, addrOff);
}

/** Sets the IPv6 destination address; with a routing header the L4 checksum uses the final destination, so prefer not to. */
export function setIpv6Dst(buf: Uint8Array, view: PacketView, addr: Uint8Array, addrOff: number): boolean {
  return replaceIpv6Addr(buf, view, view.dst6Off, addr, addrOff);
}

/**
 * Decrements the IPv4 TTL (updating the header checksum) or the IPv6 hop limit, as a router
 * must when it forwards. False, with nothing changed, when it is already <= 1: the packet
 * must not be forwarded.
 */
export function decrementTtl(buf: Uint8Array, view: PacketView): boolean {
  if (view.ttl <= 1 || view.ipVersion === 0) return false;
  if (view.ipVersion === 6) {
    buf[view.l3Off + 7] = view.ttl - 1;
  } else {
    // TTL shares its checksum word with the protocol byte.
    const at = view.l3Off + IPV4_OFF_TTL;
    const oldWord = get16(buf, at);
    buf[at] = view.ttl - 1;
    const csumAt = view.l3Off + IPV4_OFF_CHECKSUM;
    put16(buf, csumAt, csumReplace16(get16(buf, csumAt), oldWord, get16(buf, at)));
  }
  view.ttl--;
  return true;
}

/**
 * Writes a u32 sequence or acknowledgment number at `at` and updates the TCP checksum at
 * `csumOff` (RFC 1624).
 */
export function writeSeqField(pkt: Uint8Array, at: number, value: number, csumOff: number): void {
  const old = ((pkt[at]! << 24) | (pkt[at + 1]! << 16) | (pkt[at + 2]! << 8) | pkt[at + 3]!) >>> 0;
  const next = csumReplace32(get16(pkt, csumOff), old, value >>> 0);
  pkt[at] = value >>> 24;
  pkt[at + 1] = (value >>> 16) & 0xff;
  pkt[at + 2] = (value >>> 8) & 0xff;
  pkt[at + 3] = value & 0xff;
  put16(pkt, csumOff, next);
}

/**
 * Replaces the SACK options of the TCP header at `t` (IPv4 header at `ipOff`) with NOPs,
 * keeping the checksum right: blocks in another numbering would mislead the receiver.
 */
export function nopSackOptions(pkt: Uint8Array, ipOff: number, t: number): void {
  const end = t + ((pkt[t + TCP_OFF_DATA_OFF]! >>> 4) << 2);
  let changed = false;
  for (let p = t + TCP_HDR_MIN; p < end; ) {
    const kind = pkt[p]!;
    if (kind === TCPOPT_EOL) break;
    if (kind === TCPOPT_NOP) {
      p++;
      continue;
    }
    const optLen = pkt[p + 1]!;
    if (optLen < 2 || p + optLen > end) break;
    if (kind === TCPOPT_SACK) {
      pkt.fill(TCPOPT_NOP, p, p + optLen);
      changed = true;
    }
    p += optLen;
  }
  if (changed) finishTcpChecksumV4(pkt, ipOff, t, ipOff + get16(pkt, ipOff + IPV4_OFF_TOTAL_LEN) - t);
}

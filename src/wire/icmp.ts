/**
 * ICMPv4 errors (RFC 792, RFC 1191, RFC 1812): reading the packet an error quotes, rewriting
 * that quote for NAT (RFC 5508), and writing the errors a router sends.
 */
import { MALFORMED, OK, UNSUPPORTED, DecodeResult, fail, type Status } from './status.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from './ipproto.js';
import { csumReplace16, csumReplace32, finishSum, onesSum } from './checksum.js';
import { IPV4_HDR_MIN, IPV4_OFF_CHECKSUM, IPV4_OFF_DST, IPV4_OFF_SRC, writeIpv4Header } from './ipv4.js';
import { writeSeqField } from './rewrite.js';
import { TCP_OFF_CHECKSUM, TCP_OFF_SEQ } from './tcp.js';
import { UDP_OFF_CHECKSUM } from './udp.js';

export const ICMP_HDR_LEN = 8;
export const ICMP_OFF_TYPE = 0;
export const ICMP_OFF_CODE = 1;
export const ICMP_OFF_CHECKSUM = 2;
/** Type 3 code 4: next-hop MTU (RFC 1191), u16 at 6. */
export const ICMP_OFF_MTU = 6;

export const ICMP_DEST_UNREACH = 3;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_CODE_FRAG_NEEDED = 4;
export const ICMP_CODE_TTL_EXCEEDED = 0;
/** An error must quote the header and at least this much of the datagram's data (RFC 792). */
export const ICMP_QUOTE_L4_MIN = 8;
/** An error is at most this long, quote included (RFC 1812 4.3.2.3; what Linux sends). */
export const ICMP_ERROR_MAX = 576;
/** IP precedence "internetwork control", as Linux sets on the errors it sends. */
const TOS_INTERNETWORK_CONTROL = 0xc0;

export const R_ICMP_TRUNCATED = 'icmp header truncated';
export const R_ICMP_NOT_ERROR = 'icmp type is not an error that quotes a packet';
export const R_ICMP_QUOTE_TRUNCATED = 'icmp quote shorter than an ipv4 header + 8 bytes';
export const R_ICMP_QUOTE_NOT_IPV4 = 'icmp quote is not an ipv4 header';
export const R_ICMP_QUOTE_FRAGMENT = 'icmp quote is a non-first fragment';

/** The packet an ICMP error quotes; absolute offsets into the buffer, -1 when absent. */
export class IcmpQuoteView extends DecodeResult {
  type = 0;
  code = 0;
  /** The quoted IPv4 header, its length, protocol and addresses. */
  ipOff = -1;
  ipHdrLen = 0;
  proto = 0;
  src4 = 0;
  dst4 = 0;
  /** The quoted L4 header, and how many of its bytes the quote holds (>= 8). */
  l4Off = -1;
  l4Len = 0;
  /** Quoted TCP/UDP ports (0 for other protocols). */
  srcPort = 0;
  dstPort = 0;
  /** The quoted TCP/UDP checksum field when the quote reaches it (and, for UDP, it is not 0). */
  l4CsumOff = -1;
}

/*
 * ICMP error, big-endian (at `off`, `len` bytes of ICMP message):
 *   0      type (3 destination unreachable, 11 time exceeded)
 *   1      code
 *   2..3   checksum over the whole ICMP message
 *   4..7   unused; type 3 code 4: 4..5 unused, 6..7 next-hop MTU (RFC 1191)
 *   8..    the original IPv4 header, then at least 8 bytes of its data (the L4 ports)
 * Only errors of types 3 and 11 are read (UNSUPPORTED otherwise); the ICMP checksum is not
 * checked here (see icmpChecksumOk).
 */
export function readIcmpError(buf: Uint8Array, off: number, len: number, out: IcmpQuoteView): Status {
  out.ipOff = out.l4Off = out.l4CsumOff = -1;
  out.ipHdrLen = out.l4Len = out.proto = out.src4 = out.dst4 = out.srcPort = out.dstPort = 0;
  if (len < ICMP_HDR_LEN || off + len > buf.length) return fail(out, MALFORMED, off, R_ICMP_TRUNCATED);
  out.type = buf[off]!;
  out.code = buf[off + 1]!;
  if (out.type !== ICMP_DEST_UNREACH && out.type !== ICMP_TIME_EXCEEDED) return fail(out, UNSUPPORTED, off, R_ICMP_NOT_ERROR);
  const q = off + ICMP_HDR_LEN;
  const qLen = len - ICMP_HDR_LEN;
  if (qLen < IPV4_HDR_MIN + ICMP_QUOTE_L4_MIN) return fail(out, MALFORMED, q, R_ICMP_QUOTE_TRUNCATED);
  if (buf[q]! >> 4 !== 4) return fail(out, MALFORMED, q, R_ICMP_QUOTE_NOT_IPV4);
  const ihl = (buf[q]! & 0x0f) << 2;
  if (ihl < IPV4_HDR_MIN) return fail(out, MALFORMED, q, R_ICMP_QUOTE_NOT_IPV4);
  if (qLen < ihl + ICMP_QUOTE_L4_MIN) return fail(out, MALFORMED, q, R_ICMP_QUOTE_TRUNCATED);
  if ((((buf[q + 6]! << 8) | buf[q + 7]!) & 0x1fff) !== 0) return fail(out, UNSUPPORTED, q + 6, R_ICMP_QUOTE_FRAGMENT);
  out.ipOff = q;
  out.ipHdrLen = ihl;
  out.proto = buf[q + 9]!;
  out.src4 = get32(buf, q + IPV4_OFF_SRC);
  out.dst4 = get32(buf, q + IPV4_OFF_DST);
  const l4 = q + ihl;
  out.l4Off = l4;
  out.l4Len = qLen - ihl;
  if (out.proto === IPPROTO_TCP || out.proto === IPPROTO_UDP) {
    out.srcPort = (buf[l4]! << 8) | buf[l4 + 1]!;
    out.dstPort = (buf[l4 + 2]! << 8) | buf[l4 + 3]!;
    const c = l4 + (out.proto === IPPROTO_TCP ? TCP_OFF_CHECKSUM : UDP_OFF_CHECKSUM);
    if (c + 2 <= l4 + out.l4Len && (out.proto === IPPROTO_TCP || buf[c]! !== 0 || buf[c + 1]! !== 0)) out.l4CsumOff = c;
  }
  return OK;
}

/** True when the ICMP checksum over `len` bytes at `off` verifies. */
export function icmpChecksumOk(buf: Uint8Array, off: number, len: number): boolean {
  return finishSum(onesSum(buf, off, len, 0)) === 0;
}

/** Computes and stores the ICMP checksum over the whole message (no pseudo-header in ICMPv4). */
export function finishIcmpChecksum(buf: Uint8Array, off: number, len: number): void {
  buf[off + ICMP_OFF_CHECKSUM] = 0;
  buf[off + ICMP_OFF_CHECKSUM + 1] = 0;
  const c = finishSum(onesSum(buf, off, len, 0));
  buf[off + ICMP_OFF_CHECKSUM] = c >>> 8;
  buf[off + ICMP_OFF_CHECKSUM + 1] = c & 0xff;
}

function get16(buf: Uint8Array, at: number): number {
  return (buf[at]! << 8) | buf[at + 1]!;
}

function put16(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 8;
  buf[at + 1] = v & 0xff;
}

function get32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

function put32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 24;
  buf[at + 1] = (v >>> 16) & 0xff;
  buf[at + 2] = (v >>> 8) & 0xff;
  buf[at + 3] = v & 0xff;
}

/**
 * Rewrites the quoted packet's source (which = 0) or destination (1) address and port. The
 * quoted IP checksum and, when the quote reaches it, the quoted TCP/UDP checksum are updated
 * incrementally (RFC 1624): the quoted segment is cut, so its checksum cannot be verified or
 * recomputed, but it must stay what the receiver's own packet had (as Linux's NAT does). The
 * ICMP checksum is left to finishIcmpChecksum, once all rewrites are done.
 */
export function rewriteIcmpQuote(buf: Uint8Array, q: IcmpQuoteView, which: 0 | 1, addr: number, port: number): void {
  addr >>>= 0;
  const at = q.ipOff + IPV4_OFF_SRC + which * 4;
  const old = get32(buf, at);
  put32(buf, at, addr);
  const ipc = q.ipOff + IPV4_OFF_CHECKSUM;
  put16(buf, ipc, csumReplace32(get16(buf, ipc), old, addr));
  if (which === 0) q.src4 = addr;
  else q.dst4 = addr;
  if (q.proto !== IPPROTO_TCP && q.proto !== IPPROTO_UDP) return;
  const pAt = q.l4Off + which * 2;
  const oldPort = get16(buf, pAt);
  put16(buf, pAt, port);
  if (which === 0) q.srcPort = port;
  else q.dstPort = port;
  if (q.l4CsumOff < 0) return;
  let c = csumReplace16(csumReplace32(get16(buf, q.l4CsumOff), old, addr), oldPort, port);
  if (c === 0 && q.proto === IPPROTO_UDP) c = 0xffff;
  put16(buf, q.l4CsumOff, c);
}

/**
 * Rewrites the quoted TCP sequence number (a NAT that changed a stream's length numbers it
 * differently each side; the receiver checks the quoted number against what it has in flight).
 * The quoted TCP checksum, when present, is updated incrementally.
 */
export function rewriteIcmpQuoteSeq(buf: Uint8Array, q: IcmpQuoteView, seq: number): void {
  if (q.proto !== IPPROTO_TCP) return;
  const at = q.l4Off + TCP_OFF_SEQ;
  if (q.l4CsumOff >= 0) return writeSeqField(buf, at, seq, q.l4CsumOff);
  put32(buf, at, seq >>> 0);
}

/**
 * Writes an ICMP error from `src` to `dst` at `off`: IPv4 header, ICMP header (with the next-hop
 * MTU for fragmentation-needed), then as much of the offending packet (`orig` at origOff,
 * origLen bytes, as it was received) as fits in 576 bytes. Returns the packet's length; `buf`
 * must hold ICMP_ERROR_MAX bytes from `off`.
 */
export function writeIcmpError(
  buf: Uint8Array, off: number, src: number, dst: number, type: number, code: number, mtu: number, id: number,
  orig: Uint8Array, origOff: number, origLen: number,
): number {
  const quote = Math.min(origLen, ICMP_ERROR_MAX - IPV4_HDR_MIN - ICMP_HDR_LEN);
  const total = IPV4_HDR_MIN + ICMP_HDR_LEN + quote;
  writeIpv4Header(buf, off, { src, dst, proto: IPPROTO_ICMP, totalLen: total, ttl: 64, id, tos: TOS_INTERNETWORK_CONTROL });
  const i = off + IPV4_HDR_MIN;
  buf[i + ICMP_OFF_TYPE] = type;
  buf[i + ICMP_OFF_CODE] = code;
  buf[i + 4] = 0;
  buf[i + 5] = 0;
  put16(buf, i + ICMP_OFF_MTU, type === ICMP_DEST_UNREACH && code === ICMP_CODE_FRAG_NEEDED ? mtu : 0);
  for (let k = 0; k < quote; k++) buf[i + ICMP_HDR_LEN + k] = orig[origOff + k]!;
  finishIcmpChecksum(buf, i, ICMP_HDR_LEN + quote);
  return total;
}

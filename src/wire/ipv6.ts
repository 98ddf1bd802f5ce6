/** IPv6 (RFC 8200): fixed header, extension-header walk, header encoding. */
import { MALFORMED, OK, R_IP_TRUNCATED_BY_CAPTURE, UNSUPPORTED, fail, type Status } from './status.js';
import type { PacketView } from './view.js';
import {
  IPPROTO_AH,
  IPPROTO_DSTOPTS,
  IPPROTO_FRAGMENT,
  IPPROTO_HIP,
  IPPROTO_HOPOPTS,
  IPPROTO_MOBILITY,
  IPPROTO_ROUTING,
  IPPROTO_SHIM6,
} from './ipproto.js';

export const IPV6_HDR_LEN = 40;
export const IPV6_OFF_PAYLOAD_LEN = 4;
export const IPV6_OFF_NEXT_HEADER = 6;
export const IPV6_OFF_HOP_LIMIT = 7;
export const IPV6_OFF_SRC = 8;
export const IPV6_OFF_DST = 24;
export const IPV6_ADDR_LEN = 16;
/** Every extension header is at least 8 bytes (and a multiple of 8, AH of 4). */
export const IPV6_EXT_MIN = 8;
export const IPV6_FRAG_HDR_LEN = 8;
export const IPV6_FRAG_OFFSET_MASK = 0xfff8;
export const IPV6_FRAG_M = 1;

export const R_IPV6_TRUNCATED = 'ipv6 header truncated';
export const R_IPV6_VERSION = 'ipv6 version field not 6';
export const R_IPV6_JUMBO = 'ipv6 jumbogram';
export const R_IPV6_EXT_TRUNCATED = 'ipv6 extension header truncated';
export const R_IPV6_EXT_BEYOND = 'ipv6 extension header beyond data';

/*
 * IPv6 fixed header, big-endian:
 *   0..3   version (4 bits) | traffic class (8) | flow label (20)
 *   4..5   payload length (bytes after these 40, extension headers included)
 *   6      next header
 *   7      hop limit
 *   8..23  source address
 *   24..39 destination address
 * Extension headers walked, bounded by the payload length:
 *   hop-by-hop (0), routing (43), destination options (60), mobility (135), HIP (139), shim6 (140):
 *     0 next header | 1 length in 8-byte units, not counting the first 8
 *   fragment (44), 8 bytes: 0 next header | 1 reserved | 2..3 offset (13 bits, 8-byte units) |
 *     res (2) | M (1) | 4..7 identification
 *   AH (51): 0 next header | 1 length in 4-byte units minus 2
 * Anything else ends the walk and is ipProto: TCP, UDP, ICMPv6, and ESP (50) / no next header (59),
 * whose contents are opaque. A non-first fragment stops at the fragment header (l4Off = -1).
 */
export function readIpv6(buf: Uint8Array, off: number, len: number, out: PacketView): Status {
  if (len < IPV6_HDR_LEN) return fail(out, MALFORMED, off, R_IPV6_TRUNCATED);
  if (buf[off]! >> 4 !== 6) return fail(out, MALFORMED, off, R_IPV6_VERSION);
  const payloadLen = (buf[off + 4]! << 8) | buf[off + 5]!;
  let nextHeader = buf[off + IPV6_OFF_NEXT_HEADER]!;
  let totalLen = IPV6_HDR_LEN + payloadLen;
  out.ipLenFromCapture = 0;
  if (payloadLen === 0 && len > IPV6_HDR_LEN) {
    if (out.acceptTsoZeroLen !== 0) {
      // Offload capture (or a jumbogram, whose real length is the capture's too).
      totalLen = len;
      out.ipLenFromCapture = 1;
    } else if (nextHeader === IPPROTO_HOPOPTS) {
      // RFC 2675: payload length 0 with a hop-by-hop jumbo option; never on a normal link.
      return fail(out, UNSUPPORTED, off + IPV6_OFF_PAYLOAD_LEN, R_IPV6_JUMBO);
    }
  }
  if (totalLen > len) return fail(out, MALFORMED, off + IPV6_OFF_PAYLOAD_LEN, R_IP_TRUNCATED_BY_CAPTURE);

  out.l3Off = off;
  out.ipVersion = 6;
  out.ipTotalLen = totalLen;
  out.ttl = buf[off + IPV6_OFF_HOP_LIMIT]!;
  out.src4 = 0;
  out.dst4 = 0;
  out.src6Off = off + IPV6_OFF_SRC;
  out.dst6Off = off + IPV6_OFF_DST;
  out.ipId = 0;
  out.fragOffset = 0;
  out.moreFrags = 0;
  out.isFragment = 0;

  const end = off + totalLen;
  let p = off + IPV6_HDR_LEN;
  // Each step advances p by >= 8 and p stays <= end, so the walk terminates.
  for (;;) {
    let extLen: number;
    if (
      nextHeader === IPPROTO_HOPOPTS ||
      nextHeader === IPPROTO_ROUTING ||
      nextHeader === IPPROTO_DSTOPTS ||
      nextHeader === IPPROTO_MOBILITY ||
      nextHeader === IPPROTO_HIP ||
      nextHeader === IPPROTO_SHIM6
    ) {
      if (p + IPV6_EXT_MIN > end) return fail(out, MALFORMED, p, R_IPV6_EXT_TRUNCATED);
      extLen = (buf[p + 1]! + 1) << 3;
    } else if (nextHeader === IPPROTO_AH) {
      if (p + IPV6_EXT_MIN > end) return fail(out, MALFORMED, p, R_IPV6_EXT_TRUNCATED);
      extLen = (buf[p + 1]! + 2) << 2;
    } else if (nextHeader === IPPROTO_FRAGMENT) {
      if (p + IPV6_FRAG_HDR_LEN > end) return fail(out, MALFORMED, p, R_IPV6_EXT_TRUNCATED);
      const w = (buf[p + 2]! << 8) | buf[p + 3]!;
      out.fragOffset = w & IPV6_FRAG_OFFSET_MASK;
      out.moreFrags = w & IPV6_FRAG_M;
      // An atomic fragment (offset 0, M 0, RFC 6946) is a whole datagram.
      out.isFragment = out.fragOffset !== 0 || out.moreFrags !== 0 ? 1 : 0;
      out.ipId = ((buf[p + 4]! << 24) | (buf[p + 5]! << 16) | (buf[p + 6]! << 8) | buf[p + 7]!) >>> 0;
      nextHeader = buf[p]!;
      p += IPV6_FRAG_HDR_LEN;
      if (out.fragOffset !== 0) break;
      continue;
    } else {
      break;
    }
    if (p + extLen > end) return fail(out, MALFORMED, p + 1, R_IPV6_EXT_BEYOND);
    nextHeader = buf[p]!;
    p += extLen;
  }

  out.ipProto = nextHeader;
  out.ipHdrLen = p - off;
  out.payloadOff = p;
  out.payloadLen = end - p;
  if (out.fragOffset !== 0) {
    out.l4Off = -1;
    out.l4Len = 0;
  } else {
    out.l4Off = p;
    out.l4Len = end - p;
  }
  return OK;
}

export interface Ipv6HeaderOpts {
  /** 16 bytes each. */
  src: Uint8Array;
  dst: Uint8Array;
  nextHeader: number;
  /** Bytes after the 40-byte header. */
  payloadLen: number;
  hopLimit?: number;
  trafficClass?: number;
  flowLabel?: number;
}

/** Writes the 40-byte IPv6 header; returns 40. */
export function writeIpv6Header(buf: Uint8Array, off: number, opts: Ipv6HeaderOpts): number {
  const tc = opts.trafficClass ?? 0;
  const flow = opts.flowLabel ?? 0;
  buf[off] = 0x60 | ((tc >>> 4) & 0x0f);
  buf[off + 1] = ((tc & 0x0f) << 4) | ((flow >>> 16) & 0x0f);
  buf[off + 2] = flow >>> 8;
  buf[off + 3] = flow;
  buf[off + 4] = opts.payloadLen >>> 8;
  buf[off + 5] = opts.payloadLen;
  buf[off + IPV6_OFF_NEXT_HEADER] = opts.nextHeader;
  buf[off + IPV6_OFF_HOP_LIMIT] = opts.hopLimit ?? 64;
  for (let i = 0; i < IPV6_ADDR_LEN; i++) {
    buf[off + IPV6_OFF_SRC + i] = opts.src[i] ?? 0;
    buf[off + IPV6_OFF_DST + i] = opts.dst[i] ?? 0;
  }
  return IPV6_HDR_LEN;
}

/** IPv4 (RFC 791): header decoding, option lookup and header encoding. */
import { MALFORMED, OK, R_IP_TRUNCATED_BY_CAPTURE, fail, type Status } from './status.js';
import type { PacketView } from './view.js';
import { finishIpv4Checksum } from './checksum.js';

export const IPV4_HDR_MIN = 20;
export const IPV4_HDR_MAX = 60;
export const IPV4_OFF_VER_IHL = 0;
export const IPV4_OFF_TOS = 1;
export const IPV4_OFF_TOTAL_LEN = 2;
export const IPV4_OFF_ID = 4;
export const IPV4_OFF_FRAG = 6;
export const IPV4_OFF_TTL = 8;
export const IPV4_OFF_PROTO = 9;
export const IPV4_OFF_CHECKSUM = 10;
export const IPV4_OFF_SRC = 12;
export const IPV4_OFF_DST = 16;
export const IPV4_FLAG_DF = 0x4000;
export const IPV4_FLAG_MF = 0x2000;
export const IPV4_FRAG_OFFSET_MASK = 0x1fff;
export const IPV4_MAX_DATAGRAM = 65535;

export const IPOPT_EOL = 0;
export const IPOPT_NOP = 1;
export const IPOPT_RR = 7;
export const IPOPT_LSRR = 131;
export const IPOPT_SSRR = 137;

export const R_IPV4_TRUNCATED = 'ipv4 header truncated';
export const R_IPV4_VERSION = 'ipv4 version field not 4';
export const R_IPV4_IHL_SHORT = 'ipv4 ihl < 5';
export const R_IPV4_IHL_BEYOND = 'ipv4 header beyond data';
export const R_IPV4_TOTAL_SHORT = 'ipv4 total length < header length';
export const R_IPV4_TOTAL_ZERO = 'ipv4 total length 0 (offload capture?)';
export const R_IPV4_FRAG_OVERSIZE = 'ipv4 fragment ends beyond 65535';

/*
 * IPv4 header, big-endian:
 *   0      version (4 bits) | IHL (4 bits, header length in 32-bit words, >= 5)
 *   1      TOS (DSCP 6 | ECN 2)
 *   2..3   total length (header + data, bytes)
 *   4..5   identification
 *   6..7   flags (reserved | DF | MF) | fragment offset (13 bits, 8-byte units)
 *   8      TTL
 *   9      protocol
 *   10..11 header checksum
 *   12..15 source address
 *   16..19 destination address
 *   20..   options (IHL*4 - 20 bytes; not interpreted here, see findIpv4Option)
 * `len` is the bytes captured from `off`; bytes beyond the total length (Ethernet padding) are
 * ignored. A total length of 0 is MALFORMED unless out.acceptTsoZeroLen is set (then the capture
 * length is used). Non-first fragments get l4Off = -1 and the fragment data as payload.
 */
export function readIpv4(buf: Uint8Array, off: number, len: number, out: PacketView): Status {
  if (len < IPV4_HDR_MIN) return fail(out, MALFORMED, off, R_IPV4_TRUNCATED);
  const verIhl = buf[off]!;
  if (verIhl >> 4 !== 4) return fail(out, MALFORMED, off, R_IPV4_VERSION);
  const hdrLen = (verIhl & 0x0f) << 2;
  if (hdrLen < IPV4_HDR_MIN) return fail(out, MALFORMED, off, R_IPV4_IHL_SHORT);
  if (hdrLen > len) return fail(out, MALFORMED, off, R_IPV4_IHL_BEYOND);
  let totalLen = (buf[off + 2]! << 8) | buf[off + 3]!;
  out.ipLenFromCapture = 0;
  if (totalLen === 0) {
    if (out.acceptTsoZeroLen === 0) return fail(out, MALFORMED, off + IPV4_OFF_TOTAL_LEN, R_IPV4_TOTAL_ZERO);
    totalLen = len;
    out.ipLenFromCapture = 1;
  }
  if (totalLen < hdrLen) return fail(out, MALFORMED, off + IPV4_OFF_TOTAL_LEN, R_IPV4_TOTAL_SHORT);
  if (totalLen > len) return fail(out, MALFORMED, off + IPV4_OFF_TOTAL_LEN, R_IP_TRUNCATED_BY_CAPTURE);
  const fragWord = (buf[off + 6]! << 8) | buf[off + 7]!;
  const fragOffset = (fragWord & IPV4_FRAG_OFFSET_MASK) << 3;
  const dataLen = totalLen - hdrLen;
  // Reassembly would overflow a 64 KiB buffer ("ping of death"): refuse it here, once.
  if (fragOffset + dataLen > IPV4_MAX_DATAGRAM) return fail(out, MALFORMED, off + IPV4_OFF_FRAG, R_IPV4_FRAG_OVERSIZE);

  out.l3Off = off;
  out.ipVersion = 4;
  out.ipHdrLen = hdrLen;
  out.ipTotalLen = totalLen;
  out.ipId = (buf[off + 4]! << 8) | buf[off + 5]!;
  out.fragOffset = fragOffset;
  out.moreFrags = (fragWord & IPV4_FLAG_MF) !== 0 ? 1 : 0;
  out.isFragment = (fragWord & (IPV4_FLAG_MF | IPV4_FRAG_OFFSET_MASK)) !== 0 ? 1 : 0;
  out.ttl = buf[off + 8]!;
  out.ipProto = buf[off + 9]!;
  out.src4 = ((buf[off + 12]! << 24) | (buf[off + 13]! << 16) | (buf[off + 14]! << 8) | buf[off + 15]!) >>> 0;
  out.dst4 = ((buf[off + 16]! << 24) | (buf[off + 17]! << 16) | (buf[off + 18]! << 8) | buf[off + 19]!) >>> 0;
  out.src6Off = -1;
  out.dst6Off = -1;
  out.payloadOff = off + hdrLen;
  out.payloadLen = dataLen;
  if (fragOffset !== 0) {
    out.l4Off = -1;
    out.l4Len = 0;
  } else {
    out.l4Off = off + hdrLen;
    out.l4Len = dataLen;
  }
  return OK;
}

/**
 * Absolute offset of the first IPv4 option of type `optType` in the decoded header, or -1.
 * Options: EOL(0) ends the list, NOP(1) is one byte, others are type(1) length(1, >= 2,
 * including both) data. A malformed list (length < 2 or past the header) gives -2.
 * Not called by readPacket: for policy checks such as refusing source-routed packets.
 */
export function findIpv4Option(buf: Uint8Array, view: PacketView, optType: number): number {
  if (view.ipVersion !== 4) return -1;
  let p = view.l3Off + IPV4_HDR_MIN;
  const end = view.l3Off + view.ipHdrLen;
  while (p < end) {
    const type = buf[p]!;
    if (type === IPOPT_EOL) return -1;
    if (type === optType) return p;
    if (type === IPOPT_NOP) {
      p++;
      continue;
    }
    if (p + 1 >= end) return -2;
    const optLen = buf[p + 1]!;
    if (optLen < 2 || p + optLen > end) return -2;
    p += optLen;
  }
  return -1;
}

export interface Ipv4HeaderOpts {
  src: number;
  dst: number;
  proto: number;
  /** Header + data bytes. */
  totalLen: number;
  ttl?: number;
  id?: number;
  dontFragment?: boolean;
  moreFragments?: boolean;
  /** Bytes, a multiple of 8. */
  fragOffset?: number;
  tos?: number;
  /** Raw option bytes; padded with EOL (0) to a multiple of 4. */
  options?: Uint8Array;
}

/** Writes an IPv4 header with its checksum; returns the header length (20 + padded options). */
export function writeIpv4Header(buf: Uint8Array, off: number, opts: Ipv4HeaderOpts): number {
  const optLen = opts.options === undefined ? 0 : (opts.options.length + 3) & ~3;
  const hdrLen = IPV4_HDR_MIN + optLen;
  const fragWord =
    (opts.dontFragment === true ? IPV4_FLAG_DF : 0) |
    (opts.moreFragments === true ? IPV4_FLAG_MF : 0) |
    (((opts.fragOffset ?? 0) >>> 3) & IPV4_FRAG_OFFSET_MASK);
  const id = opts.id ?? 0;
  buf[off] = 0x40 | (hdrLen >>> 2);
  buf[off + 1] = opts.tos ?? 0;
  buf[off + 2] = opts.totalLen >>> 8;
  buf[off + 3] = opts.totalLen;
  buf[off + 4] = id >>> 8;
  buf[off + 5] = id;
  buf[off + 6] = fragWord >>> 8;
  buf[off + 7] = fragWord;
  buf[off + 8] = opts.ttl ?? 64;
  buf[off + 9] = opts.proto;
  put32(buf, off + IPV4_OFF_SRC, opts.src);
  put32(buf, off + IPV4_OFF_DST, opts.dst);
  if (opts.options !== undefined) {
    const o = opts.options;
    for (let i = 0; i < optLen; i++) buf[off + IPV4_HDR_MIN + i] = i < o.length ? o[i]! : IPOPT_EOL;
  }
  finishIpv4Checksum(buf, off, hdrLen);
  return hdrLen;
}

function put32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 24;
  buf[at + 1] = v >>> 16;
  buf[at + 2] = v >>> 8;
  buf[at + 3] = v;
}

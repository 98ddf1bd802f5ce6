/**
 * Software TCP segmentation (what GSO does in the kernel): one IPv4/TCP packet longer than an
 * interface's MTU — a GRO-merged frame, or a TSO "super-segment" from an offloading neighbour —
 * cut into segments that fit it.
 *
 * Every segment is written in turn into one caller-owned scratch buffer and handed to `sink`
 * before the next is written, so nothing is allocated per packet; a sink that keeps a segment
 * must copy it. Per segment (as Linux's tcp_gso_segment): the same IP and TCP headers (options
 * included), IP total length, IP id + k, sequence number + k * MSS, PSH and FIN only on the last
 * segment, CWR only on the first; the IP header and TCP checksums are computed whole.
 */
import { finishIpv4Checksum, finishTcpChecksumV4 } from './checksum.js';
import { IPPROTO_TCP } from './ipproto.js';
import { IPV4_HDR_MIN } from './ipv4.js';
import { TCP_CWR, TCP_FIN, TCP_HDR_MIN, TCP_OFF_FLAGS, TCP_OFF_SEQ, TCP_PSH } from './tcp.js';

// Buffer.prototype.copy takes any Uint8Array as source and target and is a memcpy: 15x a byte
// loop over 60 KB (measured), and unlike set(subarray()) it makes no view object per segment.
const bufferCopy = Buffer.prototype.copy;

function copyBytes(src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number, n: number): void {
  bufferCopy.call(src, dst, dstOff, srcOff, srcOff + n);
}

/** Receives one segment at a time: `len` bytes at the start of `seg` (the scratch buffer). */
export interface SegmentSink {
  segment(seg: Uint8Array, len: number): void;
}

/** segmentTcpV4: the packet is not an unfragmented IPv4/TCP packet with data, or is malformed. */
export const SEG_NOT_TCP = -1;
/** segmentTcpV4: the MTU leaves no room for data after the headers (or `scratch` is too small). */
export const SEG_MTU_TOO_SMALL = -2;

/**
 * Cuts the IPv4/TCP packet at `off` (`len` bytes) into segments of at most `mtu` bytes, handed to
 * `sink` one by one from `scratch` (at least `mtu` bytes). Returns the number of segments (1 when
 * the packet already fits: it is then passed on through `scratch`, checksums recomputed), or
 * SEG_NOT_TCP / SEG_MTU_TOO_SMALL with nothing emitted. Checksums of the input are not checked.
 */
export function segmentTcpV4(pkt: Uint8Array, off: number, len: number, mtu: number, scratch: Uint8Array, sink: SegmentSink): number {
  if (len < IPV4_HDR_MIN + TCP_HDR_MIN || pkt[off]! >> 4 !== 4 || pkt[off + 9] !== IPPROTO_TCP) return SEG_NOT_TCP;
  const ipHdrLen = (pkt[off]! & 0x0f) << 2;
  const totalLen = (pkt[off + 2]! << 8) | pkt[off + 3]!;
  const fragWord = (pkt[off + 6]! << 8) | pkt[off + 7]!;
  if (ipHdrLen < IPV4_HDR_MIN || totalLen !== len || (fragWord & 0x3fff) !== 0) return SEG_NOT_TCP; // MF or an offset: a fragment
  const t = ipHdrLen;
  if (t + TCP_HDR_MIN > len) return SEG_NOT_TCP;
  const hdrLen = t + ((pkt[off + t + 12]! >> 4) << 2);
  if (hdrLen < t + TCP_HDR_MIN || hdrLen > len) return SEG_NOT_TCP;
  const mss = Math.min(mtu, scratch.length) - hdrLen;
  if (mss <= 0) return SEG_MTU_TOO_SMALL;
  const payloadLen = len - hdrLen;
  if (payloadLen === 0) return SEG_NOT_TCP;
  copyBytes(pkt, off, scratch, 0, hdrLen);
  const id0 = (pkt[off + 4]! << 8) | pkt[off + 5]!;
  const seq0 = ((pkt[off + t + TCP_OFF_SEQ]! << 24) | (pkt[off + t + TCP_OFF_SEQ + 1]! << 16) | (pkt[off + t + TCP_OFF_SEQ + 2]! << 8) | pkt[off + t + TCP_OFF_SEQ + 3]!) >>> 0;
  const flags = pkt[off + t + TCP_OFF_FLAGS]!;
  let n = 0;
  for (let p = 0; p < payloadLen; p += mss) {
    const chunk = Math.min(mss, payloadLen - p);
    const last = p + chunk >= payloadLen;
    const segLen = hdrLen + chunk;
    copyBytes(pkt, off + hdrLen + p, scratch, hdrLen, chunk);
    scratch[2] = segLen >>> 8;
    scratch[3] = segLen & 0xff;
    const id = (id0 + n) & 0xffff;
    scratch[4] = id >>> 8;
    scratch[5] = id & 0xff;
    const seq = (seq0 + p) >>> 0;
    scratch[t + TCP_OFF_SEQ] = seq >>> 24;
    scratch[t + TCP_OFF_SEQ + 1] = (seq >>> 16) & 0xff;
    scratch[t + TCP_OFF_SEQ + 2] = (seq >>> 8) & 0xff;
    scratch[t + TCP_OFF_SEQ + 3] = seq & 0xff;
    let f = flags;
    if (!last) f &= ~(TCP_PSH | TCP_FIN);
    if (n > 0) f &= ~TCP_CWR;
    scratch[t + TCP_OFF_FLAGS] = f;
    finishIpv4Checksum(scratch, 0, ipHdrLen);
    finishTcpChecksumV4(scratch, 0, t, segLen - t);
    n++;
    sink.segment(scratch, segLen);
  }
  return n;
}

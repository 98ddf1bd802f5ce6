/**
 * Internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * Words are big-endian byte pairs counted from the start of the summed region, whatever the
 * region's offset in the buffer. A region starting at an odd distance from the checksummed
 * block's start contributes the byte-swapped sum (RFC 1071 "byte order independence"):
 * see `swap16` and rewritePayload in rewrite.ts.
 */
import type { PacketView } from './view.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from './ipproto.js';
import { wasmSumOf, type WasmWordSum } from './checksum-wasm.js';

// Private copies of header offsets, so this leaf module imports no codec (no import cycles).
const IPV4_OFF_CHECKSUM = 10;
const IPV4_OFF_SRC = 12;
const IPV6_OFF_SRC = 8;
const TCP_OFF_CHECKSUM = 16;
const UDP_OFF_CHECKSUM = 6;

/** Below this many bytes the byte loop is as fast as the word loop (and its sum is exact). */
const WORD_PATH_MIN = 64;
/** Aligned 32-bit loads read bytes in host order: the word path assumes a little-endian host. */
const HOST_LE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
// One Uint32Array over each of the two ArrayBuffers last summed: packets come from a few
// long-lived buffers (a capture ring, a reader's chunk, the engine's segmentation scratch, which
// alternates with the capture buffer), so these are made once per buffer, not per packet. They
// keep those two ArrayBuffers reachable until others are summed.
let wordsOf: ArrayBufferLike | null = null;
let words: Uint32Array<ArrayBufferLike> = new Uint32Array(0);
let wordsOf2: ArrayBufferLike | null = null;
let words2: Uint32Array<ArrayBufferLike> = new Uint32Array(0);
// With each: the SIMD sum when checksumBytes made the buffer (checksum-wasm.ts), else null.
let simd: WasmWordSum | null = null;
let simd2: WasmWordSum | null = null;
/** Below this many aligned 16-byte blocks the call into wasm costs more than the JS loop. */
const SIMD_MIN_BLOCKS = 4;
// The array last summed and its byteOffset (its buffer is wordsOf): the same array again, the
// usual case, skips the buffer and byteOffset getters (a megamorphic load in the profile: arrays
// and Buffers of several shapes come here).
let lastView: Uint8Array | null = null;
let lastBase = 0;

/**
 * Ones'-complement sum of `len` bytes at `off` (big-endian 16-bit words counted from `off`),
 * added to `initial`. An odd trailing byte counts as the high byte of a word padded with zero.
 * Below 64 bytes the result is the exact unfolded sum; for longer regions it may be partly
 * folded. Either way it is congruent to the exact sum mod 0xffff and stays below 2^32 when
 * `initial` does, so it can be passed back as `initial`, folded, or finished.
 */
export function onesSum(buf: Uint8Array, off: number, len: number, initial: number): number {
  if (len >= WORD_PATH_MIN && HOST_LE) return onesSumWords(buf, off, len, initial);
  return onesSumBytes(buf, off, len, initial);
}

function onesSumBytes(buf: Uint8Array, off: number, len: number, initial: number): number {
  // Bytes at an even distance from `off` are high bytes (weight 256), the others low bytes:
  // two plain byte accumulators, unrolled by 8, beat building each 16-bit word (measured ~25%).
  let hi = 0;
  let lo = 0;
  let i = off;
  const end = off + len;
  const end8 = off + (len & ~7);
  for (; i < end8; i += 8) {
    hi += buf[i]! + buf[i + 2]! + buf[i + 4]! + buf[i + 6]!;
    lo += buf[i + 1]! + buf[i + 3]! + buf[i + 5]! + buf[i + 7]!;
  }
  for (; i + 1 < end; i += 2) {
    hi += buf[i]!;
    lo += buf[i + 1]!;
  }
  if (i < end) hi += buf[i]!;
  let sum = initial + hi * 256 + lo;
  // 2^16 = 1 (mod 0xffff): moving the high part down keeps the ones'-complement value.
  while (sum > 0xffffffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/**
 * The same sum, four bytes per load: aligned 32-bit words of the underlying ArrayBuffer, each
 * added as its two 16-bit halves. On a little-endian host those halves are byte-swapped words,
 * and (RFC 1071 byte-order independence) the sum of byte-swapped words is the byte-swapped sum.
 * The unaligned head and tail go through the byte loop. About twice as fast from a few hundred
 * bytes up (bench: the engine checks the TCP checksum of every segment that carries data).
 */
function onesSumWords(buf: Uint8Array, off: number, len: number, initial: number): number {
  if (buf !== lastView) {
    const ab = buf.buffer;
    if (ab !== wordsOf) {
      const prevOf = wordsOf;
      const prev = words;
      const prevSimd = simd;
      if (ab === wordsOf2) {
        words = words2;
        simd = simd2;
      } else {
        words = new Uint32Array(ab, 0, ab.byteLength >>> 2);
        simd = wasmSumOf(ab);
      }
      wordsOf = ab;
      wordsOf2 = prevOf;
      words2 = prev;
      simd2 = prevSimd;
    }
    lastView = buf;
    lastBase = buf.byteOffset;
  }
  const w = words;
  const abs = lastBase + off;
  const head = (4 - (abs & 3)) & 3;
  const n = (len - head) >>> 2;
  let k = (abs + head) >>> 2;
  const kEnd = k + n;
  // Whole 32-bit words summed as doubles: a word hi * 2^16 + lo is congruent to hi + lo mod
  // 0xffff, and 2^21 words (8 MB) stay below 2^53, exact. One add a load, two chains, unrolled
  // by 8: about 40% faster than splitting each word into halves (in cache; the first touch of a
  // packet's bytes is a memory read either way).
  let s0 = 0;
  let s1 = 0;
  if (simd !== null) {
    // The 16-byte-aligned blocks in wasm (their sum folded: congruent mod 0xffff, 0 only when
    // all are 0, which is all the lines below use), the words before and after them here.
    const b0 = (k + 3) & ~3;
    const blocks = (kEnd - b0) >>> 2;
    if (blocks >= SIMD_MIN_BLOCKS) {
      for (; k < b0; k++) s0 += w[k]!;
      s1 = simd(b0 << 2, blocks);
      k = b0 + (blocks << 2);
    }
  }
  const kEnd8 = k + ((kEnd - k) & ~7);
  for (; k < kEnd8; k += 8) {
    s0 += w[k]! + w[k + 2]! + w[k + 4]! + w[k + 6]!;
    s1 += w[k + 1]! + w[k + 3]! + w[k + 5]! + w[k + 7]!;
  }
  for (; k < kEnd; k++) s0 += w[k]!;
  let s = (s0 + s1) % 0xffff;
  if (s === 0 && s0 + s1 > 0) s = 0xffff; // ones' complement: only all-zero data sums to 0
  // s sums little-endian words starting `head` bytes after `off`: at an even distance that is the
  // byte-swapped sum of the big-endian words; at an odd one, those bytes sit in the other half of
  // each word already, and s is their contribution as it is.
  const mid = (head & 1) === 0 ? swap16(s) : s;
  let sum = onesSumBytes(buf, off, head, initial + mid);
  const tail = off + head + n * 4;
  const t = onesSumBytes(buf, tail, off + len - tail, 0);
  sum += ((tail - off) & 1) === 0 ? t : swap16(fold(t));
  while (sum > 0xffffffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/** Folds a sum to 16 bits with end-around carry; 0 stays 0, any non-zero sum gives 1..0xffff. */
export function fold(sum: number): number {
  while (sum > 0xffffffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  sum = (sum >>> 16) + (sum & 0xffff);
  sum = (sum >>> 16) + (sum & 0xffff);
  return sum;
}

/** The 16-bit value with its two bytes exchanged. */
export function swap16(x: number): number {
  return ((x & 0xff) << 8) | ((x >>> 8) & 0xff);
}

/** The checksum field value for an unfolded sum: ~fold(sum). */
export function finishSum(sum: number): number {
  return ~fold(sum) & 0xffff;
}

/** RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') for one 16-bit word m replaced by m'. */
export function csumReplace16(csum: number, oldWord: number, newWord: number): number {
  return ~fold((~csum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff)) & 0xffff;
}

/** RFC 1624 eqn. 3 for a 32-bit field (an IPv4 address, a sequence number) as two words. */
export function csumReplace32(csum: number, oldU32: number, newU32: number): number {
  const s =
    (~csum & 0xffff) + (~oldU32 >>> 16) + (~oldU32 & 0xffff) + (newU32 >>> 16) + (newU32 & 0xffff);
  return ~fold(s) & 0xffff;
}

/** Pseudo-header sum for IPv4 (src, dst, zero, protocol, L4 length), read from the IP header at ipOff. */
export function pseudoSumV4(buf: Uint8Array, ipOff: number, proto: number, l4Len: number): number {
  return onesSum(buf, ipOff + IPV4_OFF_SRC, 8, proto + l4Len);
}

/** Pseudo-header sum for IPv6 (src, dst, u32 length, zero, next header), from the header at ipOff. */
export function pseudoSumV6(buf: Uint8Array, ipOff: number, proto: number, l4Len: number): number {
  return onesSum(buf, ipOff + IPV6_OFF_SRC, 32, proto + (l4Len >>> 16) + (l4Len & 0xffff));
}

/** True when the IPv4 header checksum verifies (false for non-IPv4 views). */
export function ipv4HeaderChecksumOk(buf: Uint8Array, view: PacketView): boolean {
  if (view.ipVersion !== 4) return false;
  const o = view.l3Off;
  if (view.ipHdrLen !== 20) return fold(onesSum(buf, o, view.ipHdrLen, 0)) === 0xffff;
  // The usual header without options: ten words read in place.
  const sum =
    ((buf[o]! << 8) | buf[o + 1]!) + ((buf[o + 2]! << 8) | buf[o + 3]!) + ((buf[o + 4]! << 8) | buf[o + 5]!) +
    ((buf[o + 6]! << 8) | buf[o + 7]!) + ((buf[o + 8]! << 8) | buf[o + 9]!) + ((buf[o + 10]! << 8) | buf[o + 11]!) +
    ((buf[o + 12]! << 8) | buf[o + 13]!) + ((buf[o + 14]! << 8) | buf[o + 15]!) + ((buf[o + 16]! << 8) | buf[o + 17]!) +
    ((buf[o + 18]! << 8) | buf[o + 19]!);
  return fold(sum) === 0xffff;
}

/**
 * True when the TCP, UDP, ICMP or ICMPv6 checksum verifies. UDP checksum 0 over IPv4 means
 * "none" and is accepted; over IPv6 it is invalid. Fragments (the checksum covers the whole
 * datagram) and other protocols cannot be verified and give false: check isFragment first.
 * IPv6 with a routing header is summed with the header's destination, not the final one.
 */
export function l4ChecksumOk(buf: Uint8Array, view: PacketView): boolean {
  if (view.l4Off < 0 || view.isFragment !== 0) return false;
  const proto = view.ipProto;
  let sum: number;
  if (proto === IPPROTO_TCP || proto === IPPROTO_UDP) {
    if (proto === IPPROTO_UDP) {
      const c = (buf[view.l4Off + UDP_OFF_CHECKSUM]! << 8) | buf[view.l4Off + UDP_OFF_CHECKSUM + 1]!;
      if (c === 0) return view.ipVersion === 4;
    }
    sum =
      view.ipVersion === 4
        ? pseudoSumV4(buf, view.l3Off, proto, view.l4Len)
        : pseudoSumV6(buf, view.l3Off, proto, view.l4Len);
  } else if (proto === IPPROTO_ICMP && view.ipVersion === 4) {
    sum = 0;
  } else if (proto === IPPROTO_ICMPV6 && view.ipVersion === 6) {
    sum = pseudoSumV6(buf, view.l3Off, proto, view.l4Len);
  } else {
    return false;
  }
  return fold(onesSum(buf, view.l4Off, view.l4Len, sum)) === 0xffff;
}

function put16(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 8;
  buf[at + 1] = v;
}

/** Computes and stores the IPv4 header checksum of the header at ipOff (hdrLen bytes). */
export function finishIpv4Checksum(buf: Uint8Array, ipOff: number, hdrLen: number): void {
  put16(buf, ipOff + IPV4_OFF_CHECKSUM, 0);
  put16(buf, ipOff + IPV4_OFF_CHECKSUM, finishSum(onesSum(buf, ipOff, hdrLen, 0)));
}

/** Fills the TCP checksum of the segment at l4Off (l4Len bytes) under the IPv4 header at ipOff. */
export function finishTcpChecksumV4(buf: Uint8Array, ipOff: number, l4Off: number, l4Len: number): void {
  put16(buf, l4Off + TCP_OFF_CHECKSUM, 0);
  const sum = onesSum(buf, l4Off, l4Len, pseudoSumV4(buf, ipOff, IPPROTO_TCP, l4Len));
  put16(buf, l4Off + TCP_OFF_CHECKSUM, finishSum(sum));
}

/** Fills the UDP checksum (a computed 0 is sent as 0xffff, since 0 means "none"). */
export function finishUdpChecksumV4(buf: Uint8Array, ipOff: number, l4Off: number, l4Len: number): void {
  put16(buf, l4Off + UDP_OFF_CHECKSUM, 0);
  const c = finishSum(onesSum(buf, l4Off, l4Len, pseudoSumV4(buf, ipOff, IPPROTO_UDP, l4Len)));
  put16(buf, l4Off + UDP_OFF_CHECKSUM, c === 0 ? 0xffff : c);
}

/** Fills the TCP checksum of the segment at l4Off under the IPv6 header at ipOff. */
export function finishTcpChecksumV6(buf: Uint8Array, ipOff: number, l4Off: number, l4Len: number): void {
  put16(buf, l4Off + TCP_OFF_CHECKSUM, 0);
  const sum = onesSum(buf, l4Off, l4Len, pseudoSumV6(buf, ipOff, IPPROTO_TCP, l4Len));
  put16(buf, l4Off + TCP_OFF_CHECKSUM, finishSum(sum));
}

/** Fills the UDP-over-IPv6 checksum (mandatory; a computed 0 is sent as 0xffff). */
export function finishUdpChecksumV6(buf: Uint8Array, ipOff: number, l4Off: number, l4Len: number): void {
  put16(buf, l4Off + UDP_OFF_CHECKSUM, 0);
  const c = finishSum(onesSum(buf, l4Off, l4Len, pseudoSumV6(buf, ipOff, IPPROTO_UDP, l4Len)));
  put16(buf, l4Off + UDP_OFF_CHECKSUM, c === 0 ? 0xffff : c);
}

/** verifyL4ChecksumV4 results. */
export const L4_CSUM_OK = 0;
/** The field held the pseudo-header sum only (CHECKSUM_PARTIAL); the full checksum was written. */
export const L4_CSUM_COMPLETED = 1;
export const L4_CSUM_BAD = 2;

/**
 * Verifies the TCP or UDP checksum of an unfragmented IPv4 segment, completing a partial one.
 *
 * A sender with transmit checksum offload (and GRO on a receiving interface) leaves in the field
 * only the folded pseudo-header sum, `~tcp_v4_check(len, s, d, 0)` in Linux, for the NIC to
 * finish; veth and virtio-net hand such segments on as they are, and a capture sees them so.
 * That form is accepted and replaced, in place, by the full checksum over the bytes present, so
 * that later RFC 1624 updates (which assume a complete checksum) stay right. 0x0000 and 0xffff
 * are the same ones'-complement value. UDP checksum 0 ("none") is accepted as is. A segment
 * whose field is neither is L4_CSUM_BAD. Other protocols: L4_CSUM_OK (nothing to check).
 */
export function verifyL4ChecksumV4(buf: Uint8Array, view: PacketView): number {
  const proto = view.ipProto;
  let at: number;
  if (proto === IPPROTO_TCP) at = view.l4Off + TCP_OFF_CHECKSUM;
  else if (proto === IPPROTO_UDP) at = view.l4Off + UDP_OFF_CHECKSUM;
  else return L4_CSUM_OK;
  const field = (buf[at]! << 8) | buf[at + 1]!;
  if (proto === IPPROTO_UDP && field === 0) return L4_CSUM_OK;
  // The pseudo-header from the decoded addresses (the same words pseudoSumV4 reads).
  const s4 = view.src4;
  const d4 = view.dst4;
  const pseudo = proto + view.l4Len + (s4 >>> 16) + (s4 & 0xffff) + (d4 >>> 16) + (d4 & 0xffff);
  const sum = onesSum(buf, view.l4Off, view.l4Len, pseudo);
  if (fold(sum) === 0xffff) return L4_CSUM_OK;
  if (field % 0xffff !== fold(pseudo) % 0xffff) return L4_CSUM_BAD;
  // The sum without the field's own contribution, then finished: no second pass over the data.
  let c = finishSum(sum + (~field & 0xffff));
  if (c === 0 && proto === IPPROTO_UDP) c = 0xffff;
  put16(buf, at, c);
  return L4_CSUM_COMPLETED;
}

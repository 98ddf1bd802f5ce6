/**
 * The NAT translation of a TCP segment over IPv4 in one step: source and destination address and
 * port replaced in place, the IPv4 header checksum and the TCP checksum each updated ONCE with the
 * sum of the four field changes (RFC 1624 eqn. 3 over several words: ~HC + sum(~m) + sum(m')).
 *
 * Byte for byte the result of setIpv4Src, setSrcPort, setIpv4Dst, setDstPort (rewrite.ts) in
 * turn: each of those folds its sum to a 16-bit value that is 0 only when the sum is 0, so
 * folding once at the end gives the same representation (test/wire/translate.test.ts checks it).
 * A bad checksum stays bad by the same amount. Old values are read from the bytes, like
 * rewrite.ts, so the delta matches what is really in the packet.
 *
 * TCP only: UDP's "0 = no checksum" and "0 is sent as 0xffff" make a per-field and a combined
 * update differ; UDP goes through rewrite.ts.
 */
import type { PacketView } from './view.js';
import { fold } from './checksum.js';
import { IPV4_OFF_CHECKSUM, IPV4_OFF_DST, IPV4_OFF_SRC } from './ipv4.js';
import { TCP_OFF_CHECKSUM } from './tcp.js';

/**
 * Rewrites the decoded IPv4 TCP segment in `buf` (view `v`) to src:srcPort -> dst:dstPort, the
 * addresses given as addrs[0] (src) and addrs[1] (dst), and keeps the view in step. The caller
 * has checked it is IPv4 + TCP with a TCP header (l4Off >= 0). Addresses in a reused Uint32Array
 * rather than as arguments: a number above 2^31 passed to a call V8 does not inline is boxed,
 * an allocation a packet.
 */
export function translateTcp4(buf: Uint8Array, v: PacketView, addrs: Uint32Array, srcPort: number, dstPort: number): void {
  const ip = v.l3Off;
  const l4 = v.l4Off;
  const src = addrs[0]!;
  const dst = addrs[1]!;
  srcPort &= 0xffff;
  dstPort &= 0xffff;
  const s = ip + IPV4_OFF_SRC;
  const d = ip + IPV4_OFF_DST;
  // ~m + m' for each address word: the change both checksums see (the TCP one via the pseudo-header).
  const addrDelta = notWord(buf, s) + notWord(buf, s + 2) + notWord(buf, d) + notWord(buf, d + 2) +
    (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff);
  const portDelta = notWord(buf, l4) + srcPort + notWord(buf, l4 + 2) + dstPort;
  const ipc = ip + IPV4_OFF_CHECKSUM;
  const tcpc = l4 + TCP_OFF_CHECKSUM;
  const ipCsum = ~fold(notWord(buf, ipc) + addrDelta) & 0xffff;
  const tcpCsum = ~fold(notWord(buf, tcpc) + addrDelta + portDelta) & 0xffff;
  put32(buf, s, src);
  put32(buf, d, dst);
  put32(buf, l4, (srcPort << 16) | dstPort);
  put16(buf, ipc, ipCsum);
  put16(buf, tcpc, tcpCsum);
  v.src4 = src;
  v.dst4 = dst;
  v.srcPort = srcPort;
  v.dstPort = dstPort;
}

/** ~w of the big-endian 16-bit word at `at`, as 16 bits. */
function notWord(buf: Uint8Array, at: number): number {
  return ~((buf[at]! << 8) | buf[at + 1]!) & 0xffff;
}

function put16(buf: Uint8Array, at: number, x: number): void {
  buf[at] = x >>> 8;
  buf[at + 1] = x;
}

function put32(buf: Uint8Array, at: number, x: number): void {
  buf[at] = x >>> 24;
  buf[at + 1] = x >>> 16;
  buf[at + 2] = x >>> 8;
  buf[at + 3] = x;
}

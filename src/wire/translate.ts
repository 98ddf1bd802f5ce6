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
 * Rewrites the decoded IPv4 TCP segment in `buf` (view `v`) to src:srcPort -> dst:dstPort and
 * keeps the view in step. The caller has checked it is IPv4 + TCP with a TCP header (l4Off >= 0).
 */
export function translateTcp4(buf: Uint8Array, v: PacketView, src: number, srcPort: number, dst: number, dstPort: number): void {
  const ip = v.l3Off;
  const l4 = v.l4Off;
  src >>>= 0;
  dst >>>= 0;
  srcPort &= 0xffff;
  dstPort &= 0xffff;
  const s = ip + IPV4_OFF_SRC;
  const d = ip + IPV4_OFF_DST;
  const oldSrcHi = (buf[s]! << 8) | buf[s + 1]!;
  const oldSrcLo = (buf[s + 2]! << 8) | buf[s + 3]!;
  const oldDstHi = (buf[d]! << 8) | buf[d + 1]!;
  const oldDstLo = (buf[d + 2]! << 8) | buf[d + 3]!;
  const oldSport = (buf[l4]! << 8) | buf[l4 + 1]!;
  const oldDport = (buf[l4 + 2]! << 8) | buf[l4 + 3]!;
  // ~m + m' for each address word: the change both checksums see (the TCP one via the pseudo-header).
  const addrDelta =
    (~oldSrcHi & 0xffff) + (~oldSrcLo & 0xffff) + (src >>> 16) + (src & 0xffff) +
    (~oldDstHi & 0xffff) + (~oldDstLo & 0xffff) + (dst >>> 16) + (dst & 0xffff);
  const portDelta = (~oldSport & 0xffff) + srcPort + (~oldDport & 0xffff) + dstPort;
  const ipc = ip + IPV4_OFF_CHECKSUM;
  const tcpc = l4 + TCP_OFF_CHECKSUM;
  const ipCsum = ~fold((~((buf[ipc]! << 8) | buf[ipc + 1]!) & 0xffff) + addrDelta) & 0xffff;
  const tcpCsum = ~fold((~((buf[tcpc]! << 8) | buf[tcpc + 1]!) & 0xffff) + addrDelta + portDelta) & 0xffff;
  buf[s] = src >>> 24;
  buf[s + 1] = src >>> 16;
  buf[s + 2] = src >>> 8;
  buf[s + 3] = src;
  buf[d] = dst >>> 24;
  buf[d + 1] = dst >>> 16;
  buf[d + 2] = dst >>> 8;
  buf[d + 3] = dst;
  buf[l4] = srcPort >>> 8;
  buf[l4 + 1] = srcPort;
  buf[l4 + 2] = dstPort >>> 8;
  buf[l4 + 3] = dstPort;
  buf[ipc] = ipCsum >>> 8;
  buf[ipc + 1] = ipCsum;
  buf[tcpc] = tcpCsum >>> 8;
  buf[tcpc + 1] = tcpCsum;
  v.src4 = src;
  v.dst4 = dst;
  v.srcPort = srcPort;
  v.dstPort = dstPort;
}

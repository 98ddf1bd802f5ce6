/** UDP (RFC 768). */
import { MALFORMED, OK, fail, type Status } from './status.js';
import type { PacketView } from './view.js';

export const UDP_HDR_LEN = 8;
export const UDP_OFF_SRC_PORT = 0;
export const UDP_OFF_DST_PORT = 2;
export const UDP_OFF_LEN = 4;
export const UDP_OFF_CHECKSUM = 6;

export const R_UDP_TRUNCATED = 'udp header truncated';
export const R_UDP_LEN_SHORT = 'udp length < 8';
export const R_UDP_LEN_BEYOND = 'udp length beyond ip payload';

/*
 * UDP header, big-endian:
 *   0..1 source port | 2..3 destination port | 4..5 length (header + data) | 6..7 checksum (0 = none, IPv4 only)
 * `len` is the IP payload length. A UDP length shorter than it wins (the rest is ignored, as the
 * kernel does) and l4Len becomes the UDP length, which is what the checksum covers. In a first
 * fragment the UDP length describes the whole datagram, so it is only checked to be >= 8.
 */
export function readUdp(buf: Uint8Array, off: number, len: number, out: PacketView): Status {
  if (len < UDP_HDR_LEN) return fail(out, MALFORMED, off, R_UDP_TRUNCATED);
  const udpLen = (buf[off + 4]! << 8) | buf[off + 5]!;
  if (udpLen < UDP_HDR_LEN) return fail(out, MALFORMED, off + UDP_OFF_LEN, R_UDP_LEN_SHORT);
  out.srcPort = (buf[off]! << 8) | buf[off + 1]!;
  out.dstPort = (buf[off + 2]! << 8) | buf[off + 3]!;
  out.payloadOff = off + UDP_HDR_LEN;
  if (out.isFragment !== 0) {
    out.payloadLen = len - UDP_HDR_LEN;
    return OK;
  }
  if (udpLen > len) return fail(out, MALFORMED, off + UDP_OFF_LEN, R_UDP_LEN_BEYOND);
  out.l4Len = udpLen;
  out.payloadLen = udpLen - UDP_HDR_LEN;
  return OK;
}

/** Writes a UDP header with a zero checksum (see finishUdpChecksumV4/V6); returns 8. */
export function writeUdpHeader(buf: Uint8Array, off: number, srcPort: number, dstPort: number, len: number): number {
  buf[off] = srcPort >>> 8;
  buf[off + 1] = srcPort;
  buf[off + 2] = dstPort >>> 8;
  buf[off + 3] = dstPort;
  buf[off + 4] = len >>> 8;
  buf[off + 5] = len;
  buf[off + 6] = 0;
  buf[off + 7] = 0;
  return UDP_HDR_LEN;
}

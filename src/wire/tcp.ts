/** TCP (RFC 9293) header and options. */
import { MALFORMED, OK, fail, type Status } from './status.js';
import type { PacketView } from './view.js';

export const TCP_FIN = 1;
export const TCP_SYN = 2;
export const TCP_RST = 4;
export const TCP_PSH = 8;
export const TCP_ACK = 16;
export const TCP_URG = 32;
export const TCP_ECE = 64;
export const TCP_CWR = 128;

export const TCP_HDR_MIN = 20;
export const TCP_HDR_MAX = 60;
export const TCP_OFF_SRC_PORT = 0;
export const TCP_OFF_DST_PORT = 2;
export const TCP_OFF_SEQ = 4;
export const TCP_OFF_ACK = 8;
export const TCP_OFF_DATA_OFF = 12;
export const TCP_OFF_FLAGS = 13;
export const TCP_OFF_WINDOW = 14;
export const TCP_OFF_CHECKSUM = 16;
export const TCP_OFF_URGENT = 18;

export const TCPOPT_EOL = 0;
export const TCPOPT_NOP = 1;
export const TCPOPT_MSS = 2;
export const TCPOPT_WSCALE = 3;
export const TCPOPT_SACK_PERMITTED = 4;
export const TCPOPT_SACK = 5;
export const TCPOPT_TIMESTAMP = 8;

export const R_TCP_TRUNCATED = 'tcp header truncated';
export const R_TCP_DOFF_SHORT = 'tcp data offset < 5';
export const R_TCP_DOFF_BEYOND = 'tcp header beyond data';
export const R_TCP_OPT_TRUNCATED = 'tcp option truncated';
export const R_TCP_OPT_LEN = 'tcp option length invalid';

/*
 * TCP header, big-endian:
 *   0..1   source port
 *   2..3   destination port
 *   4..7   sequence number
 *   8..11  acknowledgment number
 *   12     data offset (4 bits, header length in 32-bit words, >= 5) | reserved (3) | AE (1)
 *   13     flags CWR ECE URG ACK PSH RST SYN FIN
 *   14..15 window (unscaled)
 *   16..17 checksum
 *   18..19 urgent pointer
 *   20..   options (data offset * 4 - 20 bytes), see readTcpOptions
 * `len` is the segment length as bounded by the IP header (l4Len).
 */
export function readTcp(buf: Uint8Array, off: number, len: number, out: PacketView): Status {
  if (len < TCP_HDR_MIN) return fail(out, MALFORMED, off, R_TCP_TRUNCATED);
  const hdrLen = (buf[off + TCP_OFF_DATA_OFF]! >> 4) << 2;
  if (hdrLen < TCP_HDR_MIN) return fail(out, MALFORMED, off + TCP_OFF_DATA_OFF, R_TCP_DOFF_SHORT);
  if (hdrLen > len) return fail(out, MALFORMED, off + TCP_OFF_DATA_OFF, R_TCP_DOFF_BEYOND);
  out.srcPort = (buf[off]! << 8) | buf[off + 1]!;
  out.dstPort = (buf[off + 2]! << 8) | buf[off + 3]!;
  out.tcpSeq = ((buf[off + 4]! << 24) | (buf[off + 5]! << 16) | (buf[off + 6]! << 8) | buf[off + 7]!) >>> 0;
  out.tcpAck = ((buf[off + 8]! << 24) | (buf[off + 9]! << 16) | (buf[off + 10]! << 8) | buf[off + 11]!) >>> 0;
  out.tcpFlags = buf[off + TCP_OFF_FLAGS]!;
  out.tcpHdrLen = hdrLen;
  out.tcpWindow = (buf[off + 14]! << 8) | buf[off + 15]!;
  out.tcpMss = -1;
  out.tcpWscale = -1;
  out.tcpSackOk = 0;
  out.payloadOff = off + hdrLen;
  out.payloadLen = len - hdrLen;
  if (hdrLen > TCP_HDR_MIN) return readTcpOptions(buf, off + TCP_HDR_MIN, off + hdrLen, out);
  return OK;
}

/*
 * TCP options in [p, end): EOL (0) ends the list, NOP (1) is one byte, every other kind is
 * kind(1) length(1, counts kind and length, >= 2) data. Recorded: MSS (2, len 4, u16 BE),
 * window scale (3, len 3, shift u8), SACK-permitted (4, len 2). A known kind with another length
 * is skipped, as Linux does; a length < 2 or past the header is MALFORMED (Linux stops parsing
 * there; a firewall should not forward what it cannot delimit).
 */
export function readTcpOptions(buf: Uint8Array, p: number, end: number, out: PacketView): Status {
  while (p < end) {
    const kind = buf[p]!;
    if (kind === TCPOPT_EOL) break;
    if (kind === TCPOPT_NOP) {
      p++;
      continue;
    }
    if (p + 1 >= end) return fail(out, MALFORMED, p, R_TCP_OPT_TRUNCATED);
    const optLen = buf[p + 1]!;
    if (optLen < 2 || p + optLen > end) return fail(out, MALFORMED, p + 1, R_TCP_OPT_LEN);
    if (kind === TCPOPT_MSS && optLen === 4) out.tcpMss = (buf[p + 2]! << 8) | buf[p + 3]!;
    else if (kind === TCPOPT_WSCALE && optLen === 3) out.tcpWscale = buf[p + 2]!;
    else if (kind === TCPOPT_SACK_PERMITTED && optLen === 2) out.tcpSackOk = 1;
    p += optLen;
  }
  return OK;
}

export interface TcpHeaderOpts {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  /** Header length in bytes (multiple of 4, 20..60); default 20 + options padded to 4. */
  hdrLen?: number;
  urgent?: number;
  /** Raw option bytes; the rest of the header is filled with EOL (0). */
  options?: Uint8Array;
}

/** Writes a TCP header with a zero checksum (see finishTcpChecksumV4/V6); returns its length. */
export function writeTcpHeader(buf: Uint8Array, off: number, opts: TcpHeaderOpts): number {
  const optBytes = opts.options === undefined ? 0 : opts.options.length;
  const hdrLen = opts.hdrLen ?? TCP_HDR_MIN + ((optBytes + 3) & ~3);
  const urgent = opts.urgent ?? 0;
  buf[off] = opts.srcPort >>> 8;
  buf[off + 1] = opts.srcPort;
  buf[off + 2] = opts.dstPort >>> 8;
  buf[off + 3] = opts.dstPort;
  put32(buf, off + TCP_OFF_SEQ, opts.seq);
  put32(buf, off + TCP_OFF_ACK, opts.ack);
  buf[off + TCP_OFF_DATA_OFF] = (hdrLen >>> 2) << 4;
  buf[off + TCP_OFF_FLAGS] = opts.flags;
  buf[off + 14] = opts.window >>> 8;
  buf[off + 15] = opts.window;
  buf[off + 16] = 0;
  buf[off + 17] = 0;
  buf[off + 18] = urgent >>> 8;
  buf[off + 19] = urgent;
  for (let i = TCP_HDR_MIN; i < hdrLen; i++) {
    const j = i - TCP_HDR_MIN;
    buf[off + i] = opts.options !== undefined && j < optBytes ? opts.options[j]! : TCPOPT_EOL;
  }
  return hdrLen;
}

function put32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 24;
  buf[at + 1] = v >>> 16;
  buf[at + 2] = v >>> 8;
  buf[at + 3] = v;
}

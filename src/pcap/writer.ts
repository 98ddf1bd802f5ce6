/**
 * Pure encoders for pcap and pcapng, little-endian (the byte order readers expect most often).
 * Each writes at buf[off..] and returns the bytes written; the caller sizes the buffer with
 * the *_LEN constants below.
 */
import { PCAP_HDR_LEN, PCAP_MAGIC_NSEC, PCAP_MAGIC_USEC, PCAP_REC_HDR_LEN, PCAP_VERSION_MAJOR, PCAP_VERSION_MINOR } from './pcap.js';
import {
  EPB_MIN_LEN,
  IDB_MIN_LEN,
  IF_TSRESOL,
  PCAPNG_BOM,
  PCAPNG_BT_EPB,
  PCAPNG_BT_IDB,
  PCAPNG_BT_SHB,
  PCAPNG_VERSION_MAJOR,
  SHB_MIN_LEN,
} from './pcapng.js';
import { U64Words, mulAddU64 } from './u64.js';

/** SHB without options. */
export const PCAPNG_SHB_LEN = SHB_MIN_LEN;
/** IDB with if_tsresol (8 bytes) and opt_endofopt (4 bytes). */
export const PCAPNG_IDB_NSEC_LEN = IDB_MIN_LEN + 12;
/** IDB without options (default resolution, microseconds). */
export const PCAPNG_IDB_USEC_LEN = IDB_MIN_LEN;
/** EPB size without its data: header (28) + trailing length (4). */
export const PCAPNG_EPB_OVERHEAD = EPB_MIN_LEN;
/** if_tsresol value for nanoseconds (10^-9). */
export const IF_TSRESOL_NSEC = 9;

export function wr16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v & 0xff;
  buf[off + 1] = (v >>> 8) & 0xff;
}

export function wr32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v & 0xff;
  buf[off + 1] = (v >>> 8) & 0xff;
  buf[off + 2] = (v >>> 16) & 0xff;
  buf[off + 3] = (v >>> 24) & 0xff;
}

/** Bytes of `len` rounded up to a multiple of 4. */
export function pad4(len: number): number {
  return (len + 3) & ~3;
}

/** pcap file header (24 bytes): magic per `nanos`, version 2.4, thiszone 0, sigfigs 0. */
export function writePcapHeader(buf: Uint8Array, off: number, linkType: number, snaplen: number, nanos: boolean): number {
  wr32(buf, off, nanos ? PCAP_MAGIC_NSEC : PCAP_MAGIC_USEC);
  wr16(buf, off + 4, PCAP_VERSION_MAJOR);
  wr16(buf, off + 6, PCAP_VERSION_MINOR);
  wr32(buf, off + 8, 0);
  wr32(buf, off + 12, 0);
  wr32(buf, off + 16, snaplen);
  wr32(buf, off + 20, linkType);
  return PCAP_HDR_LEN;
}

/** pcap record header (16 bytes); tsFrac is microseconds or nanoseconds as the file header says. */
export function writePcapRecordHeader(buf: Uint8Array, off: number, tsSec: number, tsFrac: number, capLen: number, origLen: number): number {
  wr32(buf, off, tsSec);
  wr32(buf, off + 4, tsFrac);
  wr32(buf, off + 8, capLen);
  wr32(buf, off + 12, origLen);
  return PCAP_REC_HDR_LEN;
}

/** Section Header Block, version 1.0, section length -1 (unknown), no options: 28 bytes. */
export function writePcapngShb(buf: Uint8Array, off: number): number {
  wr32(buf, off, PCAPNG_BT_SHB);
  wr32(buf, off + 4, PCAPNG_SHB_LEN);
  wr32(buf, off + 8, PCAPNG_BOM);
  wr16(buf, off + 12, PCAPNG_VERSION_MAJOR);
  wr16(buf, off + 14, 0);
  wr32(buf, off + 16, 0xffffffff);
  wr32(buf, off + 20, 0xffffffff);
  wr32(buf, off + 24, PCAPNG_SHB_LEN);
  return PCAPNG_SHB_LEN;
}

/** Interface Description Block; with tsresolNanos an if_tsresol=9 option (32 bytes), else none (20 bytes). */
export function writePcapngIdb(buf: Uint8Array, off: number, linkType: number, snaplen: number, tsresolNanos: boolean, name = ''): number {
  const len = pcapngIdbLen(tsresolNanos, name);
  wr32(buf, off, PCAPNG_BT_IDB);
  wr32(buf, off + 4, len);
  wr16(buf, off + 8, linkType);
  wr16(buf, off + 10, 0);
  wr32(buf, off + 12, snaplen);
  let p = off + 16;
  if (name !== '') {
    // if_name (code 2): what Wireshark shows as the interface of each frame.
    wr16(buf, p, IF_NAME);
    wr16(buf, p + 2, name.length);
    for (let i = 0; i < name.length; i++) buf[p + 4 + i] = name.charCodeAt(i) & 0x7f;
    for (let i = name.length; i < pad4(name.length); i++) buf[p + 4 + i] = 0;
    p += 4 + pad4(name.length);
  }
  if (tsresolNanos) {
    wr16(buf, p, IF_TSRESOL);
    wr16(buf, p + 2, 1);
    buf[p + 4] = IF_TSRESOL_NSEC;
    buf[p + 5] = 0;
    buf[p + 6] = 0;
    buf[p + 7] = 0;
    p += 8;
  }
  if (p !== off + 16) {
    wr32(buf, p, 0); // opt_endofopt: code 0, length 0
    p += 4;
  }
  wr32(buf, p, len);
  return len;
}

/** Size of an IDB with the given options (ASCII interface name). */
export function pcapngIdbLen(tsresolNanos: boolean, name = ''): number {
  const opts = (name !== '' ? 4 + pad4(name.length) : 0) + (tsresolNanos ? 8 : 0);
  return IDB_MIN_LEN + (opts > 0 ? opts + 4 : 0);
}

/** if_name option code (pcapng IDB). */
export const IF_NAME = 2;
/** epb_flags option code and its direction bits (pcapng EPB). */
export const EPB_FLAGS = 2;
export const EPB_FLAG_INBOUND = 1;
export const EPB_FLAG_OUTBOUND = 2;
/** Bytes an epb_flags option adds to an EPB (option header + value + opt_endofopt). */
export const PCAPNG_EPB_FLAGS_LEN = 12;

const words = new U64Words();

/** Below this a byte loop beats allocating a subarray view for TypedArray.set. */
const COPY_LOOP_MAX = 64;

/** Copies src[srcOff..srcOff+len) to dst[dstOff..]; allocation-free for short copies. */
export function copyBytes(src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number, len: number): void {
  if (len <= COPY_LOOP_MAX) {
    for (let i = 0; i < len; i++) dst[dstOff + i] = src[srcOff + i]!;
  } else {
    dst.set(src.subarray(srcOff, srcOff + len), dstOff);
  }
}

/**
 * Enhanced Packet Block: 32 + pad4(capLen) bytes. The timestamp is written in nanoseconds when
 * `nanos` (the interface has if_tsresol 9), else in microseconds (tsNsec truncated).
 */
export function writePcapngEpb(
  buf: Uint8Array,
  off: number,
  interfaceId: number,
  tsSec: number,
  tsNsec: number,
  data: Uint8Array,
  dataOff: number,
  capLen: number,
  origLen: number,
  nanos: boolean,
  flags = 0,
): number {
  const len = PCAPNG_EPB_OVERHEAD + pad4(capLen) + (flags !== 0 ? PCAPNG_EPB_FLAGS_LEN : 0);
  if (nanos) mulAddU64(tsSec, 1e9, tsNsec, words);
  else mulAddU64(tsSec, 1e6, Math.floor(tsNsec / 1000), words);
  wr32(buf, off, PCAPNG_BT_EPB);
  wr32(buf, off + 4, len);
  wr32(buf, off + 8, interfaceId);
  wr32(buf, off + 12, words.hi);
  wr32(buf, off + 16, words.lo);
  wr32(buf, off + 20, capLen);
  wr32(buf, off + 24, origLen);
  copyBytes(data, dataOff, buf, off + 28, capLen);
  let p = off + 28 + capLen;
  for (const end = off + 28 + pad4(capLen); p < end; p++) buf[p] = 0;
  if (flags !== 0) {
    wr16(buf, p, EPB_FLAGS);
    wr16(buf, p + 2, 4);
    wr32(buf, p + 4, flags);
    wr32(buf, p + 8, 0); // opt_endofopt
  }
  wr32(buf, off + len - 4, len);
  return len;
}

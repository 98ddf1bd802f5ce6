/**
 * Microsoft Network Monitor 2.x capture files (.cap, magic "GMBU"), read only.
 *
 * Unlike pcap, a NetMon file is not a stream: a frame table near the END of the file lists the
 * offset of every frame, and frame numbers are positions in that table. So these are pure
 * functions over buffers (header, one frame) and the file adapter (dataplane/capture-file.ts)
 * does the positional reads. Learned from Microsoft's CAPTUREFILE_HEADER documentation and the
 * bytes of a real capture; no code taken from other readers.
 *
 * Frames carry a trailer from version 2.1 on, whose first field is the frame's own media type
 * (a capture can mix Ethernet with NetMon's internal records). Version 2.3 adds a UTC
 * timestamp (FILETIME) per frame; earlier versions only have "microseconds since the capture
 * start", and the start is a SYSTEMTIME in the capturing host's LOCAL time zone, which the file
 * does not record: those timestamps are taken as UTC and may be off by the host's UTC offset.
 */
import { DecodeResult, MALFORMED, OK, fail, needMore, type Status } from '../wire/status.js';
import { LINKTYPE_ETHERNET } from '../wire/link.js';
import { rd16, rd32 } from './pcap.js';
import { LINKTYPE_UNKNOWN, MAX_RECORD_LEN, type CaptureRecord } from './record.js';
import { U64Quotient, divU64 } from './u64.js';

/** "GMBU" read as a little-endian u32. */
export const NETMON_MAGIC = 0x55424d47;
/** "RTSS": NetMon 1.x, a different layout we do not read. */
export const NETMON1_MAGIC = 0x53535452;

export const NETMON_HDR_LEN = 72;
export const NETMON_OFF_VERSION_MINOR = 4;
export const NETMON_OFF_VERSION_MAJOR = 5;
export const NETMON_OFF_MAC_TYPE = 6;
export const NETMON_OFF_START = 8; // SYSTEMTIME, 8 x u16
export const NETMON_OFF_FRAME_TABLE = 24;
export const NETMON_OFF_FRAME_TABLE_LEN = 28;
export const NETMON_OFF_USER_DATA = 32;
export const NETMON_OFF_COMMENT_DATA = 40;
export const NETMON_OFF_PROCESS_INFO = 48;
/** NetworkInfoOffset in the 2.0 documentation; ExtendedInfoOffset from 2.3 (gates the UTC stamps). */
export const NETMON_OFF_EXTENDED_INFO = 56;
export const NETMON_FRAME_TABLE_ENTRY = 4;

export const NETMON_FRAME_HDR_LEN = 16;
export const NETMON_FRAME_OFF_TS_DELTA = 0; // u64, microseconds since capture start
export const NETMON_FRAME_OFF_ORIGLEN = 8;
export const NETMON_FRAME_OFF_CAPLEN = 12;

/** Trailer after the frame bytes, by minor version: 2.0 none; 2.1 media type; 2.2 + process index; 2.3 + UTC time + tz index. */
export const NETMON_TRAILER_2_1 = 2;
export const NETMON_TRAILER_2_2 = 6;
export const NETMON_TRAILER_2_3 = 15;
export const NETMON_TRAILER_OFF_MAC_TYPE = 0;
export const NETMON_TRAILER_OFF_UTC = 6;

/** NetMon media (MAC) types. */
export const NETMON_MAC_ETHERNET = 1;
export const NETMON_MAC_TOKEN_RING = 2;
export const NETMON_MAC_FDDI = 3;
export const NETMON_MAC_ATM = 4;
/** 0xE000 + n: a frame converted from a pcap file with LINKTYPE n. */
export const NETMON_MAC_PCAP_BASE = 0xe000;
export const NETMON_MAC_PCAP_LAST = 0xefff;
/** NetMon's own records, never network frames. */
export const NETMON_MAC_NETEVENT = 0xffe0;
export const NETMON_MAC_FILTER = 0xfffb;
export const NETMON_MAC_DNS_CACHE = 0xfffc;
export const NETMON_MAC_NETWORK_INFO = 0xfffd;
export const NETMON_MAC_PAYLOAD_HEADER = 0xfffe;
export const NETMON_MAC_NETWORK_INFO_EX = 0xffff;

/** LINKTYPE_IEEE802_5 (token ring). */
const LINKTYPE_IEEE802_5 = 6;

/** 100 ns ticks between 1601-01-01 and 1970-01-01, in seconds. */
export const FILETIME_EPOCH_DIFF_SEC = 11644473600;
export const FILETIME_TICKS_PER_SEC = 10_000_000;

export const R_NETMON_HDR_TRUNCATED = 'NetMon file header truncated';
export const R_NETMON_BAD_MAGIC = 'not a NetMon 2.x file (bad magic)';
export const R_NETMON_VERSION = 'unsupported NetMon version (major is not 2)';
export const R_NETMON_TABLE_ALIGN = 'NetMon frame table length not a multiple of 4';
export const R_NETMON_TABLE_RANGE = 'NetMon frame table beyond end of file (file truncated?)';
export const R_NETMON_FRAME_OFFSET = 'NetMon frame table entry points outside the file';
export const R_NETMON_CAPLEN_BOUND = 'NetMon frame captured length exceeds 256 MiB sanity bound';
export const R_NETMON_FRAME_TRUNCATED = 'NetMon frame truncated';

export class NetmonHeader extends DecodeResult {
  versionMajor = 0;
  versionMinor = 0;
  /** Media type of the capture; the media type of every frame in a 2.0 file. */
  macType = 0;
  /** Capture start (the header's SYSTEMTIME, taken as UTC), seconds and nanoseconds since 1970. */
  startSec = 0;
  startNsec = 0;
  frameTableOffset = 0;
  frameTableLength = 0;
  frameCount = 0;
  extendedInfoOffset = 0;
  /** Bytes after each frame's data. */
  trailerLen = 0;
  /** Frame timestamps come from the trailer's UTC FILETIME (2.3 with extended info). */
  utcTrailer = false;
}

/** LINKTYPE_* for a NetMon media type; NetMon's internal records and unmapped media give LINKTYPE_UNKNOWN. */
export function netmonLinkType(macType: number): number {
  if (macType === NETMON_MAC_ETHERNET) return LINKTYPE_ETHERNET;
  if (macType === NETMON_MAC_TOKEN_RING) return LINKTYPE_IEEE802_5;
  if (macType >= NETMON_MAC_PCAP_BASE && macType <= NETMON_MAC_PCAP_LAST) return macType - NETMON_MAC_PCAP_BASE;
  return LINKTYPE_UNKNOWN;
}

/*
 * NetMon 2.x file header, 72 bytes, little-endian:
 *   0..3   "GMBU"
 *   4      version minor (BCD)      5  version major (BCD, 2)
 *   6..7   media (MAC) type of the capture
 *   8..23  capture start, SYSTEMTIME (host local time): year, month, day of week, day, hour,
 *          minute, second, milliseconds (u16 each)
 *   24..27 frame table offset        28..31 frame table length (bytes, 4 per frame)
 *   32..39 user data offset, length  40..47 comment data offset, length
 *   48..55 statistics/process info offset, length
 *   56..59 network info (2.3: extended info) offset   60..63 its length
 *   64..71 conversation statistics offset, length (unused)
 * `fileSize` bounds the frame table. errOffset is `off` (the header) for every failure.
 */
export function readNetmonHeader(buf: Uint8Array, off: number, len: number, fileSize: number, out: NetmonHeader): Status {
  if (len < NETMON_HDR_LEN) return needMore(out, off, NETMON_HDR_LEN, R_NETMON_HDR_TRUNCATED);
  if (rd32(buf, off, false) !== NETMON_MAGIC) return fail(out, MALFORMED, off, R_NETMON_BAD_MAGIC);
  out.versionMinor = bcd(buf[off + NETMON_OFF_VERSION_MINOR]!);
  out.versionMajor = bcd(buf[off + NETMON_OFF_VERSION_MAJOR]!);
  if (out.versionMajor !== 2) return fail(out, MALFORMED, off, R_NETMON_VERSION);
  out.macType = rd16(buf, off + NETMON_OFF_MAC_TYPE, false);
  readSystemTime(buf, off + NETMON_OFF_START, out);
  out.frameTableOffset = rd32(buf, off + NETMON_OFF_FRAME_TABLE, false);
  out.frameTableLength = rd32(buf, off + NETMON_OFF_FRAME_TABLE_LEN, false);
  if (out.frameTableLength % NETMON_FRAME_TABLE_ENTRY !== 0) return fail(out, MALFORMED, off, R_NETMON_TABLE_ALIGN);
  if (out.frameTableOffset < NETMON_HDR_LEN || out.frameTableOffset + out.frameTableLength > fileSize) {
    return fail(out, MALFORMED, off, R_NETMON_TABLE_RANGE);
  }
  out.frameCount = out.frameTableLength / NETMON_FRAME_TABLE_ENTRY;
  out.extendedInfoOffset = rd32(buf, off + NETMON_OFF_EXTENDED_INFO, false);
  const minor = out.versionMinor;
  out.trailerLen = minor === 0 ? 0 : minor === 1 ? NETMON_TRAILER_2_1 : minor === 2 ? NETMON_TRAILER_2_2 : NETMON_TRAILER_2_3;
  out.utcTrailer = minor >= 3 && out.extendedInfoOffset !== 0;
  return OK;
}

function bcd(b: number): number {
  return (b >> 4) * 10 + (b & 0x0f);
}

/** SYSTEMTIME (8 x u16 LE) to seconds/nanoseconds since 1970, as if it were UTC. */
function readSystemTime(buf: Uint8Array, off: number, out: NetmonHeader): void {
  const year = rd16(buf, off, false);
  const month = rd16(buf, off + 2, false);
  const day = rd16(buf, off + 6, false);
  const hour = rd16(buf, off + 8, false);
  const minute = rd16(buf, off + 10, false);
  const second = rd16(buf, off + 12, false);
  const ms = rd16(buf, off + 14, false);
  const t = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  if (!Number.isFinite(t)) {
    out.startSec = 0;
    out.startNsec = 0;
    return;
  }
  const sec = Math.floor(t / 1000);
  out.startSec = sec;
  out.startNsec = (t - sec * 1000) * 1e6;
}

/** Offset of frame `index` read from frame-table bytes at buf[off..] (4 bytes, LE). */
export function netmonFrameOffset(buf: Uint8Array, off: number): number {
  return rd32(buf, off, false);
}

/** True when a frame-table entry can start a frame in a file of `fileSize` bytes. */
export function netmonFrameOffsetValid(frameOffset: number, fileSize: number): boolean {
  return frameOffset >= NETMON_HDR_LEN && frameOffset + NETMON_FRAME_HDR_LEN <= fileSize;
}

const quot = new U64Quotient();

/*
 * NetMon 2.x frame, little-endian, at the offset its frame-table entry gives:
 *   0..7   timestamp: microseconds since the capture start (u64)
 *   8..11  frame length on the wire
 *   12..15 bytes available (captured length)
 *   16..   frame bytes
 *   trailer (2.1+), right after the frame bytes:
 *     0..1   media type of this frame
 *     2..5   process info index (2.2+)
 *     6..13  UTC timestamp, FILETIME: 100 ns ticks since 1601-01-01 (2.3+)
 *     14     time zone index (2.3+)
 * Fills every field of `out` but fileOffset. NEED_MORE: out.needed is the whole frame's size
 * (header + data + trailer). errOffset is `off` (the frame) for every failure.
 */
export function readNetmonFrame(buf: Uint8Array, off: number, len: number, hdr: NetmonHeader, out: CaptureRecord): Status {
  if (len < NETMON_FRAME_HDR_LEN) return needMore(out, off, NETMON_FRAME_HDR_LEN, R_NETMON_FRAME_TRUNCATED);
  const capLen = rd32(buf, off + NETMON_FRAME_OFF_CAPLEN, false);
  if (capLen > MAX_RECORD_LEN) return fail(out, MALFORMED, off, R_NETMON_CAPLEN_BOUND);
  const dataOff = off + NETMON_FRAME_HDR_LEN;
  const total = NETMON_FRAME_HDR_LEN + capLen + hdr.trailerLen;
  if (len < total) return needMore(out, off, total, R_NETMON_FRAME_TRUNCATED);
  const trailer = dataOff + capLen;
  // A zero media type in the trailer is not a medium: fall back to the capture's.
  const frameMac = hdr.trailerLen === 0 ? 0 : rd16(buf, trailer + NETMON_TRAILER_OFF_MAC_TYPE, false);
  const macType = frameMac === 0 ? hdr.macType : frameMac;
  if (hdr.utcTrailer) {
    const t = trailer + NETMON_TRAILER_OFF_UTC;
    divU64(rd32(buf, t + 4, false), rd32(buf, t, false), FILETIME_TICKS_PER_SEC, quot);
    out.tsSec = quot.q - FILETIME_EPOCH_DIFF_SEC;
    out.tsNsec = quot.r * 100;
  } else {
    const d = off + NETMON_FRAME_OFF_TS_DELTA;
    divU64(rd32(buf, d + 4, false), rd32(buf, d, false), 1_000_000, quot);
    let sec = hdr.startSec + quot.q;
    let nsec = hdr.startNsec + quot.r * 1000;
    if (nsec >= 1e9) {
      sec++;
      nsec -= 1e9;
    }
    out.tsSec = sec;
    out.tsNsec = nsec;
  }
  out.linkType = netmonLinkType(macType);
  out.interfaceId = 0;
  out.capLen = capLen;
  out.origLen = rd32(buf, off + NETMON_FRAME_OFF_ORIGLEN, false);
  out.fcsLen = 0;
  out.data = buf;
  out.dataOff = dataOff;
  return OK;
}

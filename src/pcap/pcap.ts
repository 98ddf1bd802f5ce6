/**
 * Classic libpcap files: the 24-byte file header and the 16-byte record header, both in the
 * byte order of the machine that wrote the file (the magic number says which).
 * Pure decoders over byte buffers; the streaming state machine lives in reader.ts.
 */
import { DecodeResult, MALFORMED, OK, fail, needMore, type Status } from '../wire/status.js';
import { MAX_RECORD_LEN, type CaptureRecord } from './record.js';

/** Magic numbers as read little-endian from the first four bytes of the file. */
export const PCAP_MAGIC_USEC = 0xa1b2c3d4;
export const PCAP_MAGIC_NSEC = 0xa1b23c4d;
export const PCAP_MAGIC_USEC_SWAPPED = 0xd4c3b2a1;
export const PCAP_MAGIC_NSEC_SWAPPED = 0x4d3cb2a1;

export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
export const PCAP_HDR_LEN = 24;
export const PCAP_OFF_MAGIC = 0;
export const PCAP_OFF_VERSION_MAJOR = 4;
export const PCAP_OFF_VERSION_MINOR = 6;
export const PCAP_OFF_THISZONE = 8;
export const PCAP_OFF_SIGFIGS = 12;
export const PCAP_OFF_SNAPLEN = 16;
export const PCAP_OFF_LINKTYPE = 20;

export const PCAP_REC_HDR_LEN = 16;
export const PCAP_REC_OFF_TS_SEC = 0;
export const PCAP_REC_OFF_TS_FRAC = 4;
export const PCAP_REC_OFF_CAPLEN = 8;
export const PCAP_REC_OFF_ORIGLEN = 12;

/** Link-type field: the link type proper lives in the low 26 bits (libpcap's LT_LINKTYPE mask). */
export const PCAP_LINKTYPE_MASK = 0x03ffffff;
/** Set when the top four bits hold the FCS length. */
export const PCAP_LINKTYPE_FCS_PRESENT = 0x04000000;
/** Top four bits: FCS length in 16-bit words, meaningful only with PCAP_LINKTYPE_FCS_PRESENT. */
export const PCAP_LINKTYPE_FCS_SHIFT = 28;

/** libpcap's default snaplen (MAXIMUM_SNAPLEN); what our writer puts in the header. */
export const PCAP_DEFAULT_SNAPLEN = 262144;

export const R_PCAP_BAD_MAGIC = 'not a pcap file (bad magic)';
export const R_PCAP_VERSION = 'unsupported pcap version (major is not 2)';
export const R_PCAP_CAPLEN_BOUND = 'pcap record captured length exceeds 256 MiB sanity bound';
export const R_PCAP_HDR_TRUNCATED = 'pcap file header truncated';
export const R_PCAP_REC_TRUNCATED = 'pcap record truncated';

export class PcapHeader extends DecodeResult {
  /** The writer's byte order was big-endian (magic read swapped). */
  bigEndian = false;
  /** Fractions are nanoseconds (magic a1b23c4d), else microseconds. */
  nanos = false;
  versionMajor = 0;
  versionMinor = 0;
  snaplen = 0;
  /** LINKTYPE_* with the FCS bits masked off. */
  linkType = 0;
  /** FCS bytes per frame announced by the link-type field (0 = none/unknown). */
  fcsLen = 0;
}

export function rd16(buf: Uint8Array, off: number, big: boolean): number {
  return big ? (buf[off]! << 8) | buf[off + 1]! : buf[off]! | (buf[off + 1]! << 8);
}

export function rd32(buf: Uint8Array, off: number, big: boolean): number {
  return big
    ? ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0
    : (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24)) >>> 0;
}

/** The first four bytes as a little-endian u32 (how every magic here is compared). */
export function rdMagic(buf: Uint8Array, off: number): number {
  return rd32(buf, off, false);
}

/*
 * pcap file header, 24 bytes, in the writer's byte order:
 *   0..3   magic a1b2c3d4 (usec) / a1b23c4d (nsec); seen as d4c3b2a1 / 4d3cb2a1 = other byte order
 *   4..5   version major (2)
 *   6..7   version minor (4)
 *   8..11  thiszone (always 0 in practice; ignored)
 *   12..15 sigfigs (ignored)
 *   16..19 snaplen
 *   20..23 link type (bits 0..25) | FCS present (bit 26) | FCS length in 16-bit words (bits 28..31)
 * errOffset is `off` (the header) for every failure.
 */
export function readPcapHeader(buf: Uint8Array, off: number, len: number, out: PcapHeader): Status {
  if (len < PCAP_HDR_LEN) return needMore(out, off, PCAP_HDR_LEN, R_PCAP_HDR_TRUNCATED);
  const magic = rdMagic(buf, off + PCAP_OFF_MAGIC);
  if (magic === PCAP_MAGIC_USEC || magic === PCAP_MAGIC_NSEC) out.bigEndian = false;
  else if (magic === PCAP_MAGIC_USEC_SWAPPED || magic === PCAP_MAGIC_NSEC_SWAPPED) out.bigEndian = true;
  else return fail(out, MALFORMED, off, R_PCAP_BAD_MAGIC);
  out.nanos = magic === PCAP_MAGIC_NSEC || magic === PCAP_MAGIC_NSEC_SWAPPED;
  const big = out.bigEndian;
  out.versionMajor = rd16(buf, off + PCAP_OFF_VERSION_MAJOR, big);
  out.versionMinor = rd16(buf, off + PCAP_OFF_VERSION_MINOR, big);
  if (out.versionMajor !== PCAP_VERSION_MAJOR) return fail(out, MALFORMED, off, R_PCAP_VERSION);
  out.snaplen = rd32(buf, off + PCAP_OFF_SNAPLEN, big);
  const lt = rd32(buf, off + PCAP_OFF_LINKTYPE, big);
  out.linkType = lt & PCAP_LINKTYPE_MASK;
  out.fcsLen = (lt & PCAP_LINKTYPE_FCS_PRESENT) !== 0 ? (lt >>> PCAP_LINKTYPE_FCS_SHIFT) * 2 : 0;
  return OK;
}

/*
 * pcap record, in the file header's byte order:
 *   0..3   timestamp seconds (u32, since 1970)
 *   4..7   timestamp fraction: microseconds, or nanoseconds in a nanosecond file
 *   8..11  captured length (bytes that follow)
 *   12..15 original length on the wire
 *   16..   captured bytes
 * Fills every field of `out` but fileOffset; `out.data` is `buf`. NEED_MORE sets out.needed to
 * the whole record's size; errOffset is `off` (the record) for every failure.
 */
export function readPcapRecord(buf: Uint8Array, off: number, len: number, hdr: PcapHeader, out: CaptureRecord): Status {
  const big = hdr.bigEndian;
  // One NEED_MORE exit for a short header and a short body: the reader meets it at every chunk
  // end, and a second exit first reached in optimised code would deoptimise it there.
  const capLen = len < PCAP_REC_HDR_LEN ? 0 : rd32(buf, off + PCAP_REC_OFF_CAPLEN, big);
  if (capLen > MAX_RECORD_LEN) return fail(out, MALFORMED, off, R_PCAP_CAPLEN_BOUND);
  const total = PCAP_REC_HDR_LEN + capLen;
  if (len < total) return needMore(out, off, total, R_PCAP_REC_TRUNCATED);
  let sec = rd32(buf, off + PCAP_REC_OFF_TS_SEC, big);
  let nsec = rd32(buf, off + PCAP_REC_OFF_TS_FRAC, big);
  if (!hdr.nanos) nsec *= 1000;
  // Some writers let the fraction reach a full second; carry it instead of reporting >= 1e9 ns.
  if (nsec >= 1e9) {
    const carry = Math.floor(nsec / 1e9);
    sec += carry;
    nsec -= carry * 1e9;
  }
  out.linkType = hdr.linkType;
  out.interfaceId = 0;
  out.tsSec = sec;
  out.tsNsec = nsec;
  out.capLen = capLen;
  out.origLen = rd32(buf, off + PCAP_REC_OFF_ORIGLEN, big);
  out.fcsLen = hdr.fcsLen;
  out.data = buf;
  out.dataOff = off + PCAP_REC_HDR_LEN;
  return OK;
}

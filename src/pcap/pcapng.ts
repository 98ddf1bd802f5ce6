/**
 * pcapng (draft-ietf-opsawg-pcapng): one block at a time, over byte buffers.
 *
 * A file is a sequence of sections; each starts with a Section Header Block whose byte-order
 * magic sets the byte order of every block up to the next SHB. Interface Description Blocks
 * define the section's interfaces (link type, snaplen, timestamp resolution and offset);
 * packet blocks (EPB, SPB, obsolete PB) name an interface. Every other block type is skipped by
 * its length. `readPcapngBlock` decodes one whole block and updates the section state; the
 * streaming state machine lives in reader.ts.
 *
 * Errors: errOffset is the offset of the BAD BLOCK's first byte (its type field) and the reason
 * names the field, so a user can go straight to the block with a hex dump.
 */
import { MALFORMED, OK, fail, needMore, type Status } from '../wire/status.js';
import { rd16, rd32 } from './pcap.js';
import { MAX_RECORD_LEN, type CaptureRecord } from './record.js';
import { DIV_U64_MAX_DIVISOR, U64Quotient, divU64 } from './u64.js';

export const PCAPNG_BT_SHB = 0x0a0d0d0a;
export const PCAPNG_BT_IDB = 0x00000001;
/** Obsolete Packet Block (pcapng 0.x writers). */
export const PCAPNG_BT_PB = 0x00000002;
export const PCAPNG_BT_SPB = 0x00000003;
export const PCAPNG_BT_NRB = 0x00000004;
export const PCAPNG_BT_ISB = 0x00000005;
export const PCAPNG_BT_EPB = 0x00000006;
export const PCAPNG_BT_DSB = 0x0000000a;
export const PCAPNG_BT_CUSTOM = 0x00000bad;
export const PCAPNG_BT_CUSTOM_NOCOPY = 0x40000bad;

/** Byte-order magic of the SHB, as read in the writer's byte order. */
export const PCAPNG_BOM = 0x1a2b3c4d;
export const PCAPNG_BOM_SWAPPED = 0x4d3c2b1a;
export const PCAPNG_VERSION_MAJOR = 1;

/** type(4) + total length(4) ... total length(4). */
export const PCAPNG_BLOCK_MIN = 12;
export const PCAPNG_OFF_TYPE = 0;
export const PCAPNG_OFF_LEN = 4;
export const PCAPNG_BLOCK_TRAILER = 4;
/** Bounded memory: a block must fit in the reader's buffer. Same bound as a pcap record, plus headers. */
export const PCAPNG_MAX_BLOCK = MAX_RECORD_LEN + 4096;

export const SHB_OFF_BOM = 8;
export const SHB_OFF_VERSION_MAJOR = 12;
export const SHB_OFF_VERSION_MINOR = 14;
export const SHB_OFF_SECTION_LEN = 16;
export const SHB_OFF_OPTIONS = 24;
export const SHB_MIN_LEN = 28;

export const IDB_OFF_LINKTYPE = 8;
export const IDB_OFF_RESERVED = 10;
export const IDB_OFF_SNAPLEN = 12;
export const IDB_OFF_OPTIONS = 16;
export const IDB_MIN_LEN = 20;

export const EPB_OFF_IFACE = 8;
export const EPB_OFF_TS_HIGH = 12;
export const EPB_OFF_TS_LOW = 16;
export const EPB_OFF_CAPLEN = 20;
export const EPB_OFF_ORIGLEN = 24;
export const EPB_OFF_DATA = 28;
export const EPB_MIN_LEN = 32;

export const PB_OFF_IFACE = 8; // u16
export const PB_OFF_DROPS = 10; // u16
export const PB_OFF_TS_HIGH = 12;
export const PB_OFF_TS_LOW = 16;
export const PB_OFF_CAPLEN = 20;
export const PB_OFF_ORIGLEN = 24;
export const PB_OFF_DATA = 28;
export const PB_MIN_LEN = 32;

export const SPB_OFF_ORIGLEN = 8;
export const SPB_OFF_DATA = 12;
export const SPB_MIN_LEN = 16;

export const OPT_ENDOFOPT = 0;
export const OPT_HDR_LEN = 4;
export const IF_TSRESOL = 9;
export const IF_FCSLEN = 13;
export const IF_TSOFFSET = 14;
/** Default if_tsresol: 10^-6 s. */
export const IF_TSRESOL_DEFAULT = 6;
/** if_tsresol high bit: the exponent is a power of two, not of ten. */
export const IF_TSRESOL_BINARY = 0x80;

/** Interfaces per section; EPB interface ids beyond this are garbage, not a real capture. */
export const PCAPNG_MAX_INTERFACES = 65536;

export const R_BLOCK_LEN_SHORT = 'block total length below 12';
export const R_BLOCK_LEN_ALIGN = 'block total length not a multiple of 4';
export const R_BLOCK_LEN_HUGE = 'block total length exceeds sanity bound';
export const R_BLOCK_LEN_MISMATCH = 'trailing block total length differs from leading';
export const R_BLOCK_TOO_SHORT = 'block total length too small for its block type';
export const R_BLOCK_TRUNCATED = 'pcapng block truncated';
export const R_SHB_BOM = 'section header byte-order magic is not 1a2b3c4d';
export const R_SHB_VERSION = 'unsupported pcapng version (major is not 1)';
export const R_NO_SECTION = 'block before any section header';
export const R_OPTION_OVERRUN = 'option runs past the end of the block';
export const R_TOO_MANY_IFACES = 'too many interfaces in one section';
export const R_PKT_IFACE = 'packet block names an undefined interface';
export const R_EPB_CAPLEN = 'EPB captured length exceeds block';
export const R_PB_CAPLEN = 'packet block captured length exceeds block';
export const R_SPB_CAPLEN = 'SPB packet data exceeds block';
export const R_SPB_NO_IFACE = 'SPB without interface 0';

/** One section's byte order and interfaces, plus what the last decoded block was. */
export class PcapngState {
  /** A section header has been read (blocks before it are an error). */
  inSection = false;
  bigEndian = false;
  versionMajor = 0;
  versionMinor = 0;
  /** Sections seen so far (1 after the first SHB). */
  sectionCount = 0;
  /** Interfaces defined in the current section. */
  ifCount = 0;
  ifLinkType: number[] = [];
  ifSnaplen: number[] = [];
  /** Raw if_tsresol byte (IF_TSRESOL_DEFAULT when absent). */
  ifTsResol: number[] = [];
  /** Timestamp units per second when divU64 handles it, 0 when the BigInt path is needed. */
  ifTsDiv: number[] = [];
  /** nanoseconds = floor(remainder * ifNsMul / ifNsDen); both chosen so the product stays exact. */
  ifNsMul: number[] = [];
  ifNsDen: number[] = [];
  /** if_tsoffset, seconds added to every timestamp. */
  ifTsOffset: number[] = [];
  ifFcsLen: number[] = [];
  /** Type and total length of the block just decoded. */
  blockType = 0;
  blockLen = 0;
  /** The block just decoded was a packet and `out` holds it. */
  isPacket = false;

  resetSection(bigEndian: boolean): void {
    this.inSection = true;
    this.bigEndian = bigEndian;
    this.ifCount = 0;
    this.sectionCount++;
  }

  addInterface(linkType: number, snaplen: number, tsResol: number, tsOffset: number, fcsLen: number): void {
    const i = this.ifCount++;
    this.ifLinkType[i] = linkType;
    this.ifSnaplen[i] = snaplen;
    this.ifTsResol[i] = tsResol;
    this.ifTsOffset[i] = tsOffset;
    this.ifFcsLen[i] = fcsLen;
    const exp = tsResol & ~IF_TSRESOL_BINARY;
    let div = 0;
    let mul = 0;
    let den = 1;
    if ((tsResol & IF_TSRESOL_BINARY) === 0) {
      if (exp <= 9) {
        div = 10 ** exp;
        mul = 10 ** (9 - exp);
      }
    } else if (exp <= 9) {
      div = 2 ** exp;
      mul = 1e9;
      den = div;
    } else if (2 ** exp <= DIV_U64_MAX_DIVISOR) {
      // 1e9 = 2^9 * 1953125: remainder (< 2^32) * 1953125 stays below 2^53.
      div = 2 ** exp;
      mul = 1953125;
      den = 2 ** (exp - 9);
    }
    this.ifTsDiv[i] = div;
    this.ifNsMul[i] = mul;
    this.ifNsDen[i] = den;
  }
}

const quot = new U64Quotient();

/**
 * Converts a pcapng timestamp (hi, lo in units of the interface's if_tsresol since 1970) into
 * out.tsSec/tsNsec, adding if_tsoffset. Resolutions finer than 1 ns (or than 2^-32 s) take a
 * BigInt path: exotic files only, so the allocation does not matter.
 */
export function pcapngTimestamp(st: PcapngState, ifId: number, hi: number, lo: number, out: CaptureRecord): void {
  const div = st.ifTsDiv[ifId]!;
  const offset = st.ifTsOffset[ifId]!;
  if (div !== 0) {
    divU64(hi, lo, div, quot);
    out.tsSec = quot.q + offset;
    out.tsNsec = Math.floor((quot.r * st.ifNsMul[ifId]!) / st.ifNsDen[ifId]!);
    return;
  }
  const resol = st.ifTsResol[ifId]!;
  const exp = BigInt(resol & ~IF_TSRESOL_BINARY);
  const ups = (resol & IF_TSRESOL_BINARY) !== 0 ? 1n << exp : 10n ** exp;
  const t = (BigInt(hi) << 32n) | BigInt(lo);
  out.tsSec = Number(t / ups) + offset;
  out.tsNsec = Number(((t % ups) * 1_000_000_000n) / ups);
}

/** Reads an i64 in the section's byte order as a number (exact within 2^53). */
function rdI64(buf: Uint8Array, off: number, big: boolean): number {
  const a = rd32(buf, off, big);
  const b = rd32(buf, off + 4, big);
  const hi = big ? a : b;
  const lo = big ? b : a;
  return (hi | 0) * 4294967296 + lo;
}

/*
 * Generic block, in the section's byte order (the SHB's own order comes from its byte-order magic):
 *   0..3   block type
 *   4..7   block total length (multiple of 4, >= 12, whole block including both length fields)
 *   8..    body
 *   last 4 block total length again
 *
 * Section Header Block (type 0a0d0d0a, palindromic so it reads the same in both orders):
 *   8..11  byte-order magic 1a2b3c4d
 *   12..13 major version (1)   14..15 minor version
 *   16..23 section length (i64, -1 = not given; ignored)
 *   24..   options (ignored)
 *
 * Interface Description Block (type 1):
 *   8..9   link type   10..11 reserved   12..15 snaplen (0 = no limit)
 *   16..   options: code(2) length(2) value padded to 4; if_tsresol(9, u8), if_fcslen(13, u8),
 *          if_tsoffset(14, i64 seconds), opt_endofopt(0)
 *
 * Enhanced Packet Block (type 6):
 *   8..11 interface id  12..15 timestamp high  16..19 timestamp low
 *   20..23 captured length  24..27 original length  28.. data padded to 4, then options
 *
 * Simple Packet Block (type 3): 8..11 original length, 12.. data; the captured length is
 *   min(original length, snaplen of interface 0 if not 0); no timestamp (reported as 0).
 *
 * Packet Block (type 2, obsolete): 8..9 interface id, 10..11 drops count, then as EPB from 12.
 *
 * Decodes the whole block at buf[off..off+len). OK: st.blockType/blockLen say what it was and,
 * if st.isPacket, `out` holds the frame (all fields but fileOffset). NEED_MORE: out.needed is
 * the byte count the block needs. MALFORMED: errOffset = off.
 */
export function readPcapngBlock(buf: Uint8Array, off: number, len: number, st: PcapngState, out: CaptureRecord): Status {
  st.isPacket = false;
  if (len < 8) return needMore(out, off, 8, R_BLOCK_TRUNCATED);
  const isShb = buf[off] === 0x0a && buf[off + 1] === 0x0d && buf[off + 2] === 0x0d && buf[off + 3] === 0x0a;
  let big = st.bigEndian;
  if (isShb) {
    if (len < SHB_OFF_BOM + 4) return needMore(out, off, SHB_OFF_BOM + 4, R_BLOCK_TRUNCATED);
    const bom = rd32(buf, off + SHB_OFF_BOM, false);
    if (bom === PCAPNG_BOM) big = false;
    else if (bom === PCAPNG_BOM_SWAPPED) big = true;
    else return fail(out, MALFORMED, off, R_SHB_BOM);
  } else if (!st.inSection) {
    return fail(out, MALFORMED, off, R_NO_SECTION);
  }
  const type = isShb ? PCAPNG_BT_SHB : rd32(buf, off + PCAPNG_OFF_TYPE, big);
  const total = rd32(buf, off + PCAPNG_OFF_LEN, big);
  if (total < PCAPNG_BLOCK_MIN) return fail(out, MALFORMED, off, R_BLOCK_LEN_SHORT);
  if ((total & 3) !== 0) return fail(out, MALFORMED, off, R_BLOCK_LEN_ALIGN);
  if (total > PCAPNG_MAX_BLOCK) return fail(out, MALFORMED, off, R_BLOCK_LEN_HUGE);
  const minLen = blockMinLen(type);
  if (total < minLen) return fail(out, MALFORMED, off, R_BLOCK_TOO_SHORT);
  if (len < total) return needMore(out, off, total, R_BLOCK_TRUNCATED);
  if (rd32(buf, off + total - PCAPNG_BLOCK_TRAILER, big) !== total) return fail(out, MALFORMED, off, R_BLOCK_LEN_MISMATCH);
  st.blockType = type;
  st.blockLen = total;
  switch (type) {
    case PCAPNG_BT_SHB:
      return readShb(buf, off, big, st, out);
    case PCAPNG_BT_IDB:
      return readIdb(buf, off, total, st, out);
    case PCAPNG_BT_EPB:
      return readEpb(buf, off, total, st, out);
    case PCAPNG_BT_SPB:
      return readSpb(buf, off, total, st, out);
    case PCAPNG_BT_PB:
      return readPb(buf, off, total, st, out);
    default:
      return OK; // NRB, ISB, DSB, custom, unknown: skipped by length
  }
}

function blockMinLen(type: number): number {
  switch (type) {
    case PCAPNG_BT_SHB:
      return SHB_MIN_LEN;
    case PCAPNG_BT_IDB:
      return IDB_MIN_LEN;
    case PCAPNG_BT_EPB:
      return EPB_MIN_LEN;
    case PCAPNG_BT_SPB:
      return SPB_MIN_LEN;
    case PCAPNG_BT_PB:
      return PB_MIN_LEN;
    default:
      return PCAPNG_BLOCK_MIN;
  }
}

function readShb(buf: Uint8Array, off: number, big: boolean, st: PcapngState, out: CaptureRecord): Status {
  const major = rd16(buf, off + SHB_OFF_VERSION_MAJOR, big);
  if (major !== PCAPNG_VERSION_MAJOR) return fail(out, MALFORMED, off, R_SHB_VERSION);
  st.resetSection(big);
  st.versionMajor = major;
  st.versionMinor = rd16(buf, off + SHB_OFF_VERSION_MINOR, big);
  return OK;
}

function readIdb(buf: Uint8Array, off: number, total: number, st: PcapngState, out: CaptureRecord): Status {
  const big = st.bigEndian;
  if (st.ifCount >= PCAPNG_MAX_INTERFACES) return fail(out, MALFORMED, off, R_TOO_MANY_IFACES);
  const linkType = rd16(buf, off + IDB_OFF_LINKTYPE, big);
  const snaplen = rd32(buf, off + IDB_OFF_SNAPLEN, big);
  let tsResol = IF_TSRESOL_DEFAULT;
  let tsOffset = 0;
  let fcsLen = 0;
  const optEnd = off + total - PCAPNG_BLOCK_TRAILER;
  let p = off + IDB_OFF_OPTIONS;
  while (p + OPT_HDR_LEN <= optEnd) {
    const code = rd16(buf, p, big);
    const olen = rd16(buf, p + 2, big);
    if (code === OPT_ENDOFOPT) break;
    const v = p + OPT_HDR_LEN;
    if (v + olen > optEnd) return fail(out, MALFORMED, off, R_OPTION_OVERRUN);
    if (code === IF_TSRESOL && olen === 1) tsResol = buf[v]!;
    else if (code === IF_FCSLEN && olen === 1) fcsLen = buf[v]!;
    else if (code === IF_TSOFFSET && olen === 8) tsOffset = rdI64(buf, v, big);
    p = v + ((olen + 3) & ~3);
  }
  st.addInterface(linkType, snaplen, tsResol, tsOffset, fcsLen);
  return OK;
}

function fillPacket(st: PcapngState, ifId: number, buf: Uint8Array, dataOff: number, capLen: number, origLen: number, out: CaptureRecord): Status {
  out.linkType = st.ifLinkType[ifId]!;
  out.interfaceId = ifId;
  out.capLen = capLen;
  out.origLen = origLen;
  out.fcsLen = st.ifFcsLen[ifId]!;
  out.data = buf;
  out.dataOff = dataOff;
  st.isPacket = true;
  return OK;
}

function readEpb(buf: Uint8Array, off: number, total: number, st: PcapngState, out: CaptureRecord): Status {
  const big = st.bigEndian;
  const ifId = rd32(buf, off + EPB_OFF_IFACE, big);
  if (ifId >= st.ifCount) return fail(out, MALFORMED, off, R_PKT_IFACE);
  const capLen = rd32(buf, off + EPB_OFF_CAPLEN, big);
  if (capLen > total - EPB_MIN_LEN) return fail(out, MALFORMED, off, R_EPB_CAPLEN);
  pcapngTimestamp(st, ifId, rd32(buf, off + EPB_OFF_TS_HIGH, big), rd32(buf, off + EPB_OFF_TS_LOW, big), out);
  return fillPacket(st, ifId, buf, off + EPB_OFF_DATA, capLen, rd32(buf, off + EPB_OFF_ORIGLEN, big), out);
}

function readPb(buf: Uint8Array, off: number, total: number, st: PcapngState, out: CaptureRecord): Status {
  const big = st.bigEndian;
  const ifId = rd16(buf, off + PB_OFF_IFACE, big);
  if (ifId >= st.ifCount) return fail(out, MALFORMED, off, R_PKT_IFACE);
  const capLen = rd32(buf, off + PB_OFF_CAPLEN, big);
  if (capLen > total - PB_MIN_LEN) return fail(out, MALFORMED, off, R_PB_CAPLEN);
  pcapngTimestamp(st, ifId, rd32(buf, off + PB_OFF_TS_HIGH, big), rd32(buf, off + PB_OFF_TS_LOW, big), out);
  return fillPacket(st, ifId, buf, off + PB_OFF_DATA, capLen, rd32(buf, off + PB_OFF_ORIGLEN, big), out);
}

function readSpb(buf: Uint8Array, off: number, total: number, st: PcapngState, out: CaptureRecord): Status {
  if (st.ifCount === 0) return fail(out, MALFORMED, off, R_SPB_NO_IFACE);
  const origLen = rd32(buf, off + SPB_OFF_ORIGLEN, st.bigEndian);
  const snaplen = st.ifSnaplen[0]!;
  const capLen = snaplen !== 0 && snaplen < origLen ? snaplen : origLen;
  if (capLen > total - SPB_MIN_LEN) return fail(out, MALFORMED, off, R_SPB_CAPLEN);
  out.tsSec = 0;
  out.tsNsec = 0;
  return fillPacket(st, 0, buf, off + SPB_OFF_DATA, capLen, origLen, out);
}

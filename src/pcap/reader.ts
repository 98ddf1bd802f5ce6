/**
 * Streaming capture-file parser: fed chunks of bytes, hands out one record at a time.
 *
 * It recognises the format by its magic (pcap, pcap with nanosecond stamps, pcapng; NetMon is
 * recognised too but read through its frame table by the file adapter, see netmon.ts). It keeps
 * only unconsumed bytes: push() moves them to the front of its buffer when the tail runs out of
 * room, so memory is bounded by the largest record plus one chunk, whatever the file size.
 *
 * Records point into the parser's buffer (no copy) and stay valid until the next call on the
 * parser. Errors are sticky: after MALFORMED every next() repeats the same failure. errOffset is
 * always an absolute FILE offset: that of the bad record / block / file header.
 */
import { MALFORMED, NEED_MORE, OK, UNSUPPORTED, type Status } from '../wire/status.js';
import { NETMON1_MAGIC, NETMON_MAGIC } from './netmon.js';
import {
  PCAP_HDR_LEN,
  PCAP_MAGIC_NSEC,
  PCAP_MAGIC_NSEC_SWAPPED,
  PCAP_MAGIC_USEC,
  PCAP_MAGIC_USEC_SWAPPED,
  PcapHeader,
  rdMagic,
  readPcapHeader,
  readPcapRecord,
} from './pcap.js';
import { PCAPNG_BT_SHB, PcapngState, readPcapngBlock } from './pcapng.js';
import { CaptureRecord } from './record.js';

export type CaptureFormat = 'pcap' | 'pcap-ns' | 'pcapng' | 'netmon' | '';

export const R_EMPTY_FILE = 'empty file';
export const R_TRUNCATED_HEADER = 'truncated file header';
export const R_TRUNCATED_RECORD = 'truncated record at end of file';
export const R_UNKNOWN_MAGIC = 'not a capture file (unknown magic)';
export const R_NETMON1 = 'NetMon 1.x capture files are not supported';
export const R_NETMON_NOT_STREAMED = 'NetMon capture: read it through its frame table (openCaptureFile does)';

/** Bytes needed to tell the formats apart. */
export const MAGIC_LEN = 4;
const INITIAL_CAPACITY = 64 * 1024;

const ST_MAGIC = 0;
const ST_PCAP = 1;
const ST_PCAPNG = 2;
const ST_NETMON = 3;
const ST_FAILED = 4;

/** Scratch for the first SHB, which never yields a packet. */
const headerScratch = new CaptureRecord();

export class CaptureParser {
  format: CaptureFormat = '';
  /** First four bytes of the file as a little-endian u32 (for "found magic X" messages); -1 until seen. */
  magic = -1;
  /** Where and why the last MALFORMED/UNSUPPORTED happened (also copied into the record given to next()). */
  errOffset = 0;
  errReason = '';
  /** pcap files: the file header (snaplen, link type, byte order). */
  readonly pcap = new PcapHeader();
  /** pcapng files: the current section and its interfaces. */
  readonly pcapng = new PcapngState();

  private state = ST_MAGIC;
  private failStatus: Status = OK;
  private buf = new Uint8Array(INITIAL_CAPACITY);
  /** First unconsumed byte. */
  private rpos = 0;
  /** One past the last byte pushed. */
  private wpos = 0;
  /** File offset of buf[0]. */
  private base = 0;

  /** Appends bytes (copied). Invalidates the last record returned. */
  push(chunk: Uint8Array): void {
    const buf = this.reserve(chunk.length);
    buf.set(chunk, this.wpos);
    this.wpos += chunk.length;
  }

  /**
   * Makes room for `n` more bytes and returns the buffer to write them into at `tail`; call
   * commit() with the count written. Lets the file adapter read straight into the parser (one
   * copy fewer than push). Invalidates the last record returned.
   */
  reserve(n: number): Uint8Array {
    if (this.rpos === this.wpos) {
      this.base += this.rpos;
      this.rpos = this.wpos = 0;
    }
    if (this.buf.length - this.wpos >= n) return this.buf;
    if (this.rpos > 0) {
      this.buf.copyWithin(0, this.rpos, this.wpos);
      this.base += this.rpos;
      this.wpos -= this.rpos;
      this.rpos = 0;
    }
    if (this.buf.length - this.wpos < n) {
      const grown = new Uint8Array(Math.max(this.buf.length * 2, this.wpos + n));
      grown.set(this.buf.subarray(0, this.wpos));
      this.buf = grown;
    }
    return this.buf;
  }

  /** Offset in the reserve()d buffer where new bytes go. */
  get tail(): number {
    return this.wpos;
  }

  /** Records `n` bytes written at `tail` after reserve(). */
  commit(n: number): void {
    this.wpos += n;
  }

  /** Unconsumed bytes held. */
  get buffered(): number {
    return this.wpos - this.rpos;
  }

  /** Size of the internal buffer (bounded by the largest record plus one chunk). */
  get capacity(): number {
    return this.buf.length;
  }

  /** File offset of the next unconsumed byte. */
  get fileOffset(): number {
    return this.base + this.rpos;
  }

  /**
   * Reads the file header if not done yet: OK once the format is known and its header parsed
   * (NetMon: as soon as the magic is seen), NEED_MORE, or MALFORMED.
   */
  parseHeader(): Status {
    if (this.state === ST_FAILED) return this.failStatus;
    if (this.state !== ST_MAGIC) return OK;
    const avail = this.wpos - this.rpos;
    if (avail < MAGIC_LEN) return NEED_MORE;
    const p = this.rpos;
    const magic = rdMagic(this.buf, p);
    this.magic = magic;
    if (magic === PCAP_MAGIC_USEC || magic === PCAP_MAGIC_USEC_SWAPPED || magic === PCAP_MAGIC_NSEC || magic === PCAP_MAGIC_NSEC_SWAPPED) {
      const st = readPcapHeader(this.buf, p, avail, this.pcap);
      if (st === NEED_MORE) return NEED_MORE;
      if (st !== OK) return this.setFailed(MALFORMED, this.base + this.pcap.errOffset, this.pcap.errReason);
      this.format = this.pcap.nanos ? 'pcap-ns' : 'pcap';
      this.rpos += PCAP_HDR_LEN;
      this.state = ST_PCAP;
      return OK;
    }
    if (magic === PCAPNG_BT_SHB) {
      // The first SHB is the file header: parse it here so a bad one is a header error.
      const st = readPcapngBlock(this.buf, p, avail, this.pcapng, headerScratch);
      if (st === NEED_MORE) return NEED_MORE;
      if (st !== OK) return this.setFailed(MALFORMED, this.base + headerScratch.errOffset, headerScratch.errReason);
      this.format = 'pcapng';
      this.rpos += this.pcapng.blockLen;
      this.state = ST_PCAPNG;
      return OK;
    }
    if (magic === NETMON_MAGIC) {
      this.format = 'netmon';
      this.state = ST_NETMON;
      return OK;
    }
    return this.setFailed(MALFORMED, this.base + p, magic === NETMON1_MAGIC ? R_NETMON1 : R_UNKNOWN_MAGIC);
  }

  /**
   * Next record into `out`. OK: a record. NEED_MORE: push more bytes (at end of file, call
   * end()); out.needed is what the pending record needs in total. MALFORMED: errOffset (file
   * offset) and errReason in `out` and on the parser. UNSUPPORTED: a NetMon file (read it with
   * the frame-table reader).
   */
  next(out: CaptureRecord): Status {
    if (this.state !== ST_PCAP && this.state !== ST_PCAPNG) {
      const st = this.parseHeader();
      if (st === NEED_MORE) {
        out.needed = 0;
        out.errOffset = this.base + this.rpos;
        out.errReason = R_TRUNCATED_HEADER;
        return NEED_MORE;
      }
      if (st !== OK) return this.copyFailure(out);
      if (this.state === ST_NETMON) {
        this.errOffset = 0;
        this.errReason = R_NETMON_NOT_STREAMED;
        out.errOffset = 0;
        out.errReason = R_NETMON_NOT_STREAMED;
        return UNSUPPORTED;
      }
    }
    return this.state === ST_PCAP ? this.nextPcap(out) : this.nextPcapng(out);
  }

  /**
   * Call at end of file. OK if the file ended cleanly between records; MALFORMED with
   * R_TRUNCATED_RECORD if part of a record remains (a capture cut short), R_EMPTY_FILE or
   * R_TRUNCATED_HEADER if the file header never completed, or the sticky failure.
   */
  end(): Status {
    if (this.state === ST_FAILED) return this.failStatus;
    if (this.state === ST_MAGIC) {
      const st = this.parseHeader();
      if (st === NEED_MORE) {
        const empty = this.base === 0 && this.wpos === 0;
        this.errOffset = 0;
        this.errReason = empty ? R_EMPTY_FILE : R_TRUNCATED_HEADER;
        return MALFORMED;
      }
      if (st !== OK) return st;
    }
    if (this.state === ST_NETMON) return OK;
    if (this.wpos > this.rpos) {
      this.errOffset = this.base + this.rpos;
      this.errReason = R_TRUNCATED_RECORD;
      return MALFORMED;
    }
    return OK;
  }

  private nextPcap(out: CaptureRecord): Status {
    const p = this.rpos;
    const st = readPcapRecord(this.buf, p, this.wpos - p, this.pcap, out);
    if (st === OK) {
      out.fileOffset = this.base + p;
      this.rpos = out.dataOff + out.capLen;
      return OK;
    }
    out.errOffset += this.base;
    if (st === NEED_MORE) return NEED_MORE;
    return this.setFailedFrom(out);
  }

  private nextPcapng(out: CaptureRecord): Status {
    const st = this.pcapng;
    // Non-packet blocks are consumed here; each is at least 12 bytes, so the loop ends.
    for (;;) {
      const p = this.rpos;
      const s = readPcapngBlock(this.buf, p, this.wpos - p, st, out);
      if (s !== OK) {
        out.errOffset += this.base;
        if (s === NEED_MORE) return NEED_MORE;
        return this.setFailedFrom(out);
      }
      this.rpos = p + st.blockLen;
      if (st.isPacket) {
        out.fileOffset = this.base + p;
        return OK;
      }
    }
  }

  private setFailed(status: Status, fileOffset: number, reason: string): Status {
    this.state = ST_FAILED;
    this.failStatus = status;
    this.errOffset = fileOffset;
    this.errReason = reason;
    return status;
  }

  private setFailedFrom(out: CaptureRecord): Status {
    return this.setFailed(MALFORMED, out.errOffset, out.errReason);
  }

  private copyFailure(out: CaptureRecord): Status {
    out.errOffset = this.errOffset;
    out.errReason = this.errReason;
    return this.failStatus;
  }
}

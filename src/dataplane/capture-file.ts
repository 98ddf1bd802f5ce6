/**
 * Capture files on disk: the only place the capture-file formats meet node:fs.
 *
 * Reading: pcap and pcapng are streamed through CaptureParser in ~1 MiB reads (never the whole
 * file); NetMon files are read through their frame table with positional reads, since frame
 * numbers are positions in that table. Writing: pcap (usec or nsec) or pcapng, buffered and
 * flushed in large blocks.
 */
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { MALFORMED, NEED_MORE, OK } from '../wire/status.js';
import {
  NETMON_FRAME_TABLE_ENTRY,
  NETMON_HDR_LEN,
  NetmonHeader,
  R_NETMON_FRAME_OFFSET,
  netmonFrameOffset,
  netmonFrameOffsetValid,
  readNetmonFrame,
  readNetmonHeader,
} from '../pcap/netmon.js';
import { PCAP_DEFAULT_SNAPLEN, PCAP_REC_HDR_LEN } from '../pcap/pcap.js';
import { CaptureParser, R_TRUNCATED_RECORD, R_UNKNOWN_MAGIC, type CaptureFormat } from '../pcap/reader.js';
import type { CaptureRecord } from '../pcap/record.js';
import {
  PCAPNG_EPB_OVERHEAD,
  PCAPNG_EPB_FLAGS_LEN,
  pcapngIdbLen,
  copyBytes,
  pad4,
  writePcapHeader,
  writePcapRecordHeader,
  writePcapngEpb,
  writePcapngIdb,
  writePcapngShb,
} from '../pcap/writer.js';

/** Size of each read (and of the writer's buffer). */
export const CAPTURE_IO_CHUNK = 1 << 20;
/**
 * The first read and the writer's first buffer are short, so the reader's refill path (a record
 * cut by the chunk's end) and the writer's flush first run while those functions are still
 * interpreted: reached first after V8 had optimised them, each deoptimised and recompiled them
 * in every replay.
 */
const FIRST_CHUNK = 1 << 16;

export const R_NETMON_FRAME_PAST_EOF = 'NetMon frame extends past end of file';

/** An unreadable or corrupt capture file. Message: `<path>: <reason> at byte <offset>`. */
export class CaptureFileError extends Error {
  constructor(
    readonly path: string,
    readonly fileOffset: number,
    readonly reason: string,
  ) {
    super(`${path}: ${reason} at byte ${fileOffset}`);
    this.name = 'CaptureFileError';
  }
}

export interface CaptureFileReader {
  readonly path: string;
  /** 'pcap' | 'pcap-ns' | 'pcapng' | 'netmon'. */
  readonly format: CaptureFormat;
  /** 1-based number of the record last returned (tshark's frame number); 0 before the first. */
  readonly frameNumber: number;
  /** The file ended inside a record (capture cut short); set when next() returns false. */
  readonly truncatedAtEnd: boolean;
  /** Fills `out` with the next record (valid until the next call): true, or false at end of file. */
  next(out: CaptureRecord): boolean;
  close(): void;
}

/** Opens a capture file for reading; throws CaptureFileError if it cannot be read or is not a capture. */
export function openCaptureFile(path: string): CaptureFileReader {
  const fd = openOrThrow(path, 'r');
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new CaptureFileError(path, 0, 'is a directory');
    const parser = new CaptureParser();
    let pos = 0;
    let eof = false;
    for (;;) {
      const h = parser.parseHeader();
      if (h === OK) break;
      if (h !== NEED_MORE) throw new CaptureFileError(path, parser.errOffset, describeHeaderFailure(parser));
      if (eof) {
        parser.end();
        throw new CaptureFileError(path, parser.errOffset, parser.errReason);
      }
      const n = readInto(parser, fd, pos, path, pos === 0 ? FIRST_CHUNK : CAPTURE_IO_CHUNK);
      pos += n;
      eof = n === 0;
    }
    if (parser.format === 'netmon') {
      if (!st.isFile()) throw new CaptureFileError(path, 0, 'NetMon files must be regular files (they are read through a frame table)');
      return new NetmonFileReader(path, fd, st.size);
    }
    return new StreamFileReader(path, fd, parser, pos);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

function describeHeaderFailure(parser: CaptureParser): string {
  if (parser.errReason !== R_UNKNOWN_MAGIC) return parser.errReason;
  const m = parser.magic >>> 0;
  const bytes = [m & 0xff, (m >>> 8) & 0xff, (m >>> 16) & 0xff, m >>> 24];
  const hex = bytes.map((b) => b.toString(16).padStart(2, '0')).join(' ');
  const text = bytes.map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
  return `not a capture file: first bytes ${hex} ("${text}"), expected pcap (d4 c3 b2 a1 / 4d 3c b2 a1 or swapped), pcapng (0a 0d 0d 0a) or NetMon ("GMBU")`;
}

function openOrThrow(path: string, flags: string): number {
  try {
    return openSync(path, flags);
  } catch (e) {
    throw new CaptureFileError(path, 0, describeFsError(e));
  }
}

function describeFsError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory (ENOENT)';
    case 'EACCES':
    case 'EPERM':
      return `permission denied (${code})`;
    case 'EISDIR':
      return 'is a directory (EISDIR)';
    default:
      return (e as Error).message;
  }
}

/**
 * One sequential read of up to `size` bytes straight into the parser's buffer;
 * returns bytes read (0 = EOF). Sequential (position null) so pipes work too; `pos` is only
 * for error messages.
 */
function readInto(parser: CaptureParser, fd: number, pos: number, path: string, size = CAPTURE_IO_CHUNK): number {
  const buf = parser.reserve(size);
  let n: number;
  try {
    n = readSync(fd, buf, parser.tail, size, null);
  } catch (e) {
    throw new CaptureFileError(path, pos, describeFsError(e));
  }
  parser.commit(n);
  return n;
}

/** pcap / pcapng: sequential reads through the streaming parser. */
class StreamFileReader implements CaptureFileReader {
  frameNumber = 0;
  truncatedAtEnd = false;
  readonly format: CaptureFormat;
  private eof = false;
  private closed = false;

  constructor(
    readonly path: string,
    private readonly fd: number,
    private readonly parser: CaptureParser,
    private pos: number,
  ) {
    this.format = parser.format;
  }

  next(out: CaptureRecord): boolean {
    if (this.closed) return false;
    for (;;) {
      const st = this.parser.next(out);
      if (st === OK) {
        this.frameNumber++;
        return true;
      }
      if (st !== NEED_MORE) throw new CaptureFileError(this.path, out.errOffset, out.errReason);
      if (!this.eof) {
        const n = readInto(this.parser, this.fd, this.pos, this.path);
        this.pos += n;
        this.eof = n === 0;
        continue;
      }
      const end = this.parser.end();
      if (end === OK) return false;
      if (end === MALFORMED && this.parser.errReason === R_TRUNCATED_RECORD) {
        this.truncatedAtEnd = true;
        return false;
      }
      throw new CaptureFileError(this.path, this.parser.errOffset, this.parser.errReason);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

/** Frame-table entries read per positional read. */
const NETMON_TABLE_CHUNK = 16384;

/** NetMon 2.x: frames in frame-table order, through a window of the file. */
class NetmonFileReader implements CaptureFileReader {
  readonly format: CaptureFormat = 'netmon';
  frameNumber = 0;
  truncatedAtEnd = false;
  readonly header = new NetmonHeader();
  private closed = false;
  private readonly table = new Uint8Array(NETMON_TABLE_CHUNK * NETMON_FRAME_TABLE_ENTRY);
  /** Index of the first frame whose entry is in `table`, and how many are there. */
  private tableFirst = 0;
  private tableCount = 0;
  private win = new Uint8Array(CAPTURE_IO_CHUNK);
  /** File offset of win[0], and valid bytes in win. */
  private winPos = 0;
  private winLen = 0;

  constructor(
    readonly path: string,
    private readonly fd: number,
    private readonly fileSize: number,
  ) {
    this.fill(0, NETMON_HDR_LEN);
    const st = readNetmonHeader(this.win, 0, this.winLen, fileSize, this.header);
    if (st !== OK) throw new CaptureFileError(path, this.header.errOffset, this.header.errReason);
  }

  next(out: CaptureRecord): boolean {
    if (this.closed || this.frameNumber >= this.header.frameCount) return false;
    const index = this.frameNumber;
    const frameOff = this.frameOffset(index);
    if (!netmonFrameOffsetValid(frameOff, this.fileSize)) {
      throw new CaptureFileError(this.path, this.header.frameTableOffset + index * NETMON_FRAME_TABLE_ENTRY, R_NETMON_FRAME_OFFSET);
    }
    let st = this.decodeAt(frameOff, out);
    if (st === NEED_MORE) {
      const needed = out.needed;
      if (frameOff + needed > this.fileSize) {
        if (index === this.header.frameCount - 1) {
          this.truncatedAtEnd = true;
          return false;
        }
        throw new CaptureFileError(this.path, frameOff, R_NETMON_FRAME_PAST_EOF);
      }
      this.fill(frameOff, needed);
      st = this.decodeAt(frameOff, out);
    }
    if (st !== OK) throw new CaptureFileError(this.path, frameOff, out.errReason);
    out.fileOffset = frameOff;
    this.frameNumber = index + 1;
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }

  /** Decodes the frame at file offset `frameOff` from the window, refilling it when the frame header is not inside. */
  private decodeAt(frameOff: number, out: CaptureRecord): number {
    if (frameOff < this.winPos || frameOff + 16 > this.winPos + this.winLen) this.fill(frameOff, 16);
    const rel = frameOff - this.winPos;
    return readNetmonFrame(this.win, rel, this.winLen - rel, this.header, out);
  }

  private frameOffset(index: number): number {
    if (index < this.tableFirst || index >= this.tableFirst + this.tableCount) {
      const count = Math.min(NETMON_TABLE_CHUNK, this.header.frameCount - index);
      const bytes = count * NETMON_FRAME_TABLE_ENTRY;
      this.readFully(this.table, bytes, this.header.frameTableOffset + index * NETMON_FRAME_TABLE_ENTRY);
      this.tableFirst = index;
      this.tableCount = count;
    }
    return netmonFrameOffset(this.table, (index - this.tableFirst) * NETMON_FRAME_TABLE_ENTRY);
  }

  /** Loads the window with file bytes from `pos`: at least `min` (when the file has them), up to a chunk. */
  private fill(pos: number, min: number): void {
    if (this.win.length < min) this.win = new Uint8Array(min);
    const want = Math.min(Math.max(min, CAPTURE_IO_CHUNK), this.win.length, this.fileSize - pos);
    this.winPos = pos;
    this.winLen = this.readFully(this.win, Math.max(0, want), pos);
  }

  private readFully(buf: Uint8Array, len: number, pos: number): number {
    let got = 0;
    while (got < len) {
      let n: number;
      try {
        n = readSync(this.fd, buf, got, len - got, pos + got);
      } catch (e) {
        throw new CaptureFileError(this.path, pos + got, describeFsError(e));
      }
      if (n === 0) break;
      got += n;
    }
    return got;
  }
}

export type CaptureWriteFormat = 'pcap' | 'pcap-ns' | 'pcapng';

/** Writes a capture file, buffering records and flushing in CAPTURE_IO_CHUNK blocks (the first in FIRST_CHUNK). */
export class CaptureFileWriter {
  private buf = new Uint8Array(FIRST_CHUNK);
  private used = 0;
  private closed = false;
  private interfaces = 0;
  /** Bytes handed to the kernel so far (for error offsets). */
  private filePos = 0;
  /** Frames written. */
  count = 0;

  private constructor(
    readonly path: string,
    readonly format: CaptureWriteFormat,
    private readonly fd: number,
  ) {}

  /** Creates (truncates) `path` and writes the file header; for pcapng, interface 0 gets `linkType`. */
  static create(path: string, format: CaptureWriteFormat, linkType: number, interfaceName = ''): CaptureFileWriter {
    const fd = openOrThrow(path, 'w');
    const w = new CaptureFileWriter(path, format, fd);
    if (format === 'pcapng') {
      w.used += writePcapngShb(w.buf, w.used);
      w.addInterface(linkType, interfaceName);
    } else {
      w.used += writePcapHeader(w.buf, w.used, linkType, PCAP_DEFAULT_SNAPLEN, format === 'pcap-ns');
    }
    return w;
  }

  /** pcapng only: declares another interface (nanosecond timestamps, no snaplen) and returns its id. */
  addInterface(linkType: number, name = ''): number {
    if (this.format !== 'pcapng') throw new Error(`${this.path}: a ${this.format} file has a single link type`);
    this.ensure(pcapngIdbLen(true, name));
    this.used += writePcapngIdb(this.buf, this.used, linkType, 0, true, name);
    return this.interfaces++;
  }

  /**
   * Appends one frame: data[off..off+len). `origLen` defaults to `len`; `interfaceId` (pcapng)
   * to 0. A pcap file keeps microseconds unless created as 'pcap-ns'; pcapng keeps nanoseconds.
   */
  write(tsSec: number, tsNsec: number, data: Uint8Array, off: number, len: number, origLen = len, interfaceId = 0, epbFlags = 0): void {
    if (this.closed) throw new Error(`${this.path}: write after close`);
    if (this.format === 'pcapng') {
      if (interfaceId >= this.interfaces) throw new Error(`${this.path}: interface ${interfaceId} not declared`);
      const size = PCAPNG_EPB_OVERHEAD + pad4(len) + (epbFlags !== 0 ? PCAPNG_EPB_FLAGS_LEN : 0);
      if (size > this.buf.length) this.growTo(size);
      this.ensure(size);
      this.used += writePcapngEpb(this.buf, this.used, interfaceId, tsSec, tsNsec, data, off, len, origLen, true, epbFlags);
    } else {
      const frac = this.format === 'pcap-ns' ? tsNsec : Math.floor(tsNsec / 1000);
      if (PCAP_REC_HDR_LEN + len > this.buf.length) {
        // Larger than the buffer: the header through it, the frame to the kernel as it is.
        this.ensure(PCAP_REC_HDR_LEN);
        this.used += writePcapRecordHeader(this.buf, this.used, tsSec, frac, len, origLen);
        this.flush();
        this.writeAll(data, off, len);
        this.count++;
        return;
      }
      // One flush site for a record that does not fit (see FIRST_CHUNK).
      this.ensure(PCAP_REC_HDR_LEN + len);
      this.used += writePcapRecordHeader(this.buf, this.used, tsSec, frac, len, origLen);
      copyBytes(data, off, this.buf, this.used, len);
      this.used += len;
    }
    this.count++;
  }

  /** Writes out buffered bytes. */
  flush(): void {
    if (this.used === 0) return;
    this.writeAll(this.buf, 0, this.used);
    this.used = 0;
    if (this.buf.length < CAPTURE_IO_CHUNK) this.buf = new Uint8Array(CAPTURE_IO_CHUNK);
  }

  close(): void {
    if (this.closed) return;
    try {
      this.flush();
    } finally {
      this.closed = true;
      closeSync(this.fd);
    }
  }

  private ensure(n: number): void {
    if (this.buf.length - this.used < n) this.flush();
  }

  private growTo(n: number): void {
    this.flush();
    this.buf = new Uint8Array(n);
  }

  private writeAll(buf: Uint8Array, off: number, len: number): void {
    let done = 0;
    while (done < len) {
      try {
        done += writeSync(this.fd, buf, off + done, len - done);
      } catch (e) {
        throw new CaptureFileError(this.path, this.filePos + done, describeFsError(e));
      }
    }
    this.filePos += len;
  }
}

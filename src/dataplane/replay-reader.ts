/**
 * Replay's capture reader on a second thread: a worker reads a pcap or pcapng file into a shared
 * ring, parses its records there and decodes each frame (wire/readPacket), while the replay's
 * thread only runs the engine and writes what it emitted. On a 1M-frame file, reading, parsing and
 * decoding were ~0.3 s of the replay's thread (docs/performance.md).
 *
 * Shared memory (SharedArrayBuffers, no copy of a frame between the threads):
 *
 *   ring   RING_SIZE bytes: the file as read, in CAPTURE_IO_CHUNK reads. A record is contiguous:
 *          when a read would pass the end, the unparsed rest (a cut record) is moved to offset 0
 *          and reading goes on from there. A record larger than BIG_RECORD gets a buffer of its
 *          own, posted on the port (rare: a frame of several MiB).
 *   descs  DESC_COUNT frame descriptors of DESC_INTS int32, in order (a ring):
 *            0 offset of the frame's first byte (in the ring, or in its own buffer when 1 is set)
 *            1 own buffer (1: the next message on the port carries it)
 *            2 captured length   3 link type   4 timestamp ns   7 readPacket status (0 OK)
 *            8 IP version   9 l3 offset   10 IP total length   11 length taken from the capture
 *            (TSO)   12 IPv4 header length   13 IPv4 destination   14..15 seconds (float64)
 *   ctrl   PUBLISHED (frames the worker has described), CONSUMED (frames the replay is done with:
 *          their bytes may be overwritten), STATE (running, ended, ended cut short, failed), ABORT.
 *
 * Each side waits on the other's counter (Atomics.wait/notify). The worker only overwrites ring
 * bytes no unconsumed frame uses. A failure in the worker (a corrupt record, a read error, a bug)
 * is posted on the port before STATE says so; the replay meets it after the frames before it,
 * where the synchronous reader would have thrown, with the same CaptureFileError.
 */
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { CAPTURE_IO_CHUNK, CaptureFileError, type CaptureFileReader, openCaptureFile, readNext, StreamFileReader } from './capture-file.js';
import type { CaptureParser, CaptureFormat } from '../pcap/reader.js';
import { CaptureRecord } from '../pcap/record.js';
import { PacketView, readPacket } from '../wire/packet.js';
import { OK } from '../wire/status.js';

/** Files from this size on are read by a worker (starting one costs ~20–40 ms of the other core). */
export const READER_THREAD_MIN_BYTES = 32 << 20;
const RING_SIZE = 16 << 20;
/** A record this large gets a buffer of its own rather than the ring. */
const BIG_RECORD = RING_SIZE >>> 2;
const DESC_COUNT = 1 << 15;
const DESC_INTS = 16;
/** The worker publishes its descriptors in batches; the replay its progress likewise. */
const PUBLISH_EVERY = 64;
const CONSUME_EVERY = 1024;
/** A side that sees no progress from the other for this long gives up (a dead thread must not hang the replay). */
const STALL_MS = 60_000;
const WAIT_SLICE_MS = 1000;

const D_OFF = 0;
const D_OWN = 1;
const D_CAPLEN = 2;
const D_LINK = 3;
const D_NSEC = 4;
const D_SEC_F64 = 7; // float64 index within a descriptor (int32 14..15)
const D_STATUS = 7;
const D_IPVER = 8;
const D_L3 = 9;
const D_IPLEN = 10;
const D_LENCAP = 11;
const D_IPHL = 12;
const D_DST4 = 13;

const C_PUBLISHED = 0;
const C_CONSUMED = 1;
const C_STATE = 2;
const C_ABORT = 3;
const CTRL_INTS = 4;

const ST_RUNNING = 0;
const ST_ENDED = 1;
const ST_TRUNCATED = 2;
const ST_FAILED = 3;

interface Shared {
  ring: SharedArrayBuffer;
  descs: SharedArrayBuffer;
  ctrl: SharedArrayBuffer;
}

/** What the worker is started with. */
export interface ReaderThreadData extends Shared {
  path: string;
  port: MessagePort;
  /** Tests: the worker throws after describing this many frames (a bug in the worker). */
  failAfterFrames?: number;
}

type ReaderMessage =
  | { kind: 'own'; buf: SharedArrayBuffer }
  | { kind: 'capture-error'; fileOffset: number; reason: string }
  | { kind: 'error'; message: string };

const WORKER_URL = new URL('../dataplane/replay-reader-worker.js', import.meta.url);

/**
 * A reader for replay: the threaded one for a pcap or pcapng regular file of at least
 * READER_THREAD_MIN_BYTES (or any such file when `thread` is true), else openCaptureFile's. Opening
 * errors are openCaptureFile's in both cases (the file is opened and its header read here first).
 */
export function openReplayReader(path: string, thread?: boolean, failAfterFrames?: number): CaptureFileReader {
  const reader = openCaptureFile(path);
  if (thread === false || !(reader instanceof StreamFileReader) || !existsSync(fileURLToPath(WORKER_URL))) return reader;
  const st = statSync(path);
  if (!st.isFile() || (thread !== true && st.size < READER_THREAD_MIN_BYTES)) return reader;
  const format = reader.format;
  reader.close();
  return new ThreadedCaptureReader(path, format, failAfterFrames);
}

/** The replay's side: hands out the frames the worker described, with its decode of each. */
export class ThreadedCaptureReader implements CaptureFileReader {
  frameNumber = 0;
  truncatedAtEnd = false;
  /** The worker's readPacket of the frame last returned: status (OK = 0) and the fields gateway mode uses. */
  status = 0;
  ipVersion = 0;
  l3Off = 0;
  ipTotalLen = 0;
  ipLenFromCapture = false;
  ipHdrLen = 0;
  dst4 = 0;
  private readonly ring: Uint8Array;
  private readonly di: Int32Array;
  private readonly df: Float64Array;
  private readonly ctrl: Int32Array;
  private readonly port: MessagePort;
  private readonly worker: Worker;
  /** Frames returned so far, and how many the worker had published when last looked. */
  private taken = 0;
  private published = 0;
  private done = false;
  private closed = false;

  constructor(
    readonly path: string,
    readonly format: CaptureFormat,
    failAfterFrames?: number,
  ) {
    const shared: Shared = {
      ring: new SharedArrayBuffer(RING_SIZE),
      descs: new SharedArrayBuffer(DESC_COUNT * DESC_INTS * 4),
      ctrl: new SharedArrayBuffer(CTRL_INTS * 4),
    };
    this.ring = new Uint8Array(shared.ring);
    this.di = new Int32Array(shared.descs);
    this.df = new Float64Array(shared.descs);
    this.ctrl = new Int32Array(shared.ctrl);
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const data: ReaderThreadData = { ...shared, path, port: port2, failAfterFrames };
    this.worker = new Worker(WORKER_URL, { workerData: data, transferList: [port2] });
    this.worker.unref();
    port1.unref();
  }

  next(out: CaptureRecord): boolean {
    if (this.done) return false;
    const n = this.taken;
    if (n === this.published && !this.await(n)) return false;
    const d = (n & (DESC_COUNT - 1)) * DESC_INTS;
    const di = this.di;
    out.data = di[d + D_OWN] === 0 ? this.ring : this.ownBuffer();
    out.dataOff = di[d + D_OFF]!;
    out.capLen = di[d + D_CAPLEN]!;
    out.origLen = out.capLen;
    out.linkType = di[d + D_LINK]!;
    out.tsNsec = di[d + D_NSEC]!;
    out.tsSec = this.df[(d >>> 1) + D_SEC_F64]!;
    this.status = di[d + D_STATUS]!;
    this.ipVersion = di[d + D_IPVER]!;
    this.l3Off = di[d + D_L3]!;
    this.ipTotalLen = di[d + D_IPLEN]!;
    this.ipLenFromCapture = di[d + D_LENCAP] !== 0;
    this.ipHdrLen = di[d + D_IPHL]!;
    this.dst4 = di[d + D_DST4]! >>> 0;
    this.taken = n + 1;
    this.frameNumber = n + 1;
    // The frame before this one is done with: let the worker reuse its bytes now and then.
    if ((n & (CONSUME_EVERY - 1)) === 0) this.release(n);
    return true;
  }

  close(): void {
    this.done = true;
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.ctrl, C_ABORT, 1);
    Atomics.notify(this.ctrl, C_CONSUMED);
    void this.worker.terminate();
    this.port.close();
  }

  private release(n: number): void {
    Atomics.store(this.ctrl, C_CONSUMED, n);
    Atomics.notify(this.ctrl, C_CONSUMED);
  }

  /** Waits until frame `n` is described (true) or the file has ended (false; throws what the worker met). */
  private await(n: number): boolean {
    const ctrl = this.ctrl;
    this.release(n);
    let waited = 0;
    for (;;) {
      const p = Atomics.load(ctrl, C_PUBLISHED);
      if (p > n) {
        this.published = p;
        return true;
      }
      const st = Atomics.load(ctrl, C_STATE);
      if (st !== ST_RUNNING && Atomics.load(ctrl, C_PUBLISHED) <= n) return this.end(st);
      if (Atomics.wait(ctrl, C_PUBLISHED, p, WAIT_SLICE_MS) === 'timed-out') {
        waited += WAIT_SLICE_MS;
        if (waited >= STALL_MS) {
          this.close();
          throw new Error(`${this.path}: the capture reader thread stopped answering (no frame in ${STALL_MS / 1000} s)`);
        }
      } else waited = 0;
    }
  }

  private end(st: number): boolean {
    if (st === ST_TRUNCATED) this.truncatedAtEnd = true;
    if (st === ST_FAILED) {
      const m = this.message();
      this.close();
      if (m?.kind === 'capture-error') throw new CaptureFileError(this.path, m.fileOffset, m.reason);
      throw new Error(`${this.path}: the capture reader thread failed: ${m?.kind === 'error' ? m.message : 'no reason given'}`);
    }
    this.close();
    return false;
  }

  private ownBuffer(): Uint8Array {
    const m = this.message();
    if (m?.kind !== 'own') throw new Error(`${this.path}: the capture reader thread sent no buffer for frame ${this.taken + 1}`);
    return new Uint8Array(m.buf);
  }

  private message(): ReaderMessage | undefined {
    return (receiveMessageOnPort(this.port)?.message as ReaderMessage | undefined) ?? undefined;
  }
}

// ---- the worker's side -----------------------------------------------------------------------

/**
 * The parser reads into the shared ring (see the header). Ring positions are tracked as virtual
 * offsets (lap * RING_SIZE + offset): writing virtual [a, b) reuses the bytes of [a, b) - RING_SIZE,
 * so it waits until the oldest unconsumed frame starts at or after b - RING_SIZE.
 */
class RingFileReader extends StreamFileReader {
  private readonly ring: Uint8Array;
  private readonly di: Int32Array;
  private readonly df: Float64Array;
  private readonly ctrl: Int32Array;
  private readonly port: MessagePort;
  /** Virtual offset where each described frame's bytes start (by descriptor slot). */
  private readonly vstart = new Float64Array(DESC_COUNT);
  /** Frames described (published or not) and published. */
  described = 0;
  private published = 0;
  /** Virtual offset of ring[0] in the current lap; where the ring's bytes end (the parser may be in a record's own buffer). */
  private lapBase = 0;
  private ringTail = 0;

  constructor(path: string, fd: number, parser: CaptureParser, pos: number, data: ReaderThreadData) {
    super(path, fd, parser, pos);
    this.ring = new Uint8Array(data.ring);
    this.di = new Int32Array(data.descs);
    this.df = new Float64Array(data.descs);
    this.ctrl = new Int32Array(data.ctrl);
    this.port = data.port;
    // The header was read into the parser's own buffer: what follows it goes to the ring.
    const rest = parser.bufferBytes();
    this.ring.set(rest, 0);
    parser.setWindow(this.ring, 0, rest.length, parser.fileOffset);
    this.ringTail = rest.length;
  }

  /** Describes the record just parsed, with readPacket's decode of it (waits for a free descriptor). */
  describe(rec: CaptureRecord, v: PacketView): void {
    const n = this.described;
    if (n - Atomics.load(this.ctrl, C_CONSUMED) >= DESC_COUNT) this.waitConsumed(n - DESC_COUNT + 1);
    const slot = n & (DESC_COUNT - 1);
    const d = slot * DESC_INTS;
    const di = this.di;
    const own = rec.data !== this.ring;
    if (own) this.port.postMessage({ kind: 'own', buf: rec.data.buffer as SharedArrayBuffer } satisfies ReaderMessage);
    // A frame in its own buffer holds no ring bytes: the ring's end bounds the frames after it.
    this.vstart[slot] = this.lapBase + (own ? this.ringTail : rec.dataOff);
    di[d + D_OFF] = rec.dataOff;
    di[d + D_OWN] = own ? 1 : 0;
    di[d + D_CAPLEN] = rec.capLen;
    di[d + D_LINK] = rec.linkType;
    di[d + D_NSEC] = rec.tsNsec;
    this.df[(d >>> 1) + D_SEC_F64] = rec.tsSec;
    const st = readPacket(rec.data, rec.dataOff, rec.capLen, rec.linkType, v);
    di[d + D_STATUS] = st;
    di[d + D_IPVER] = v.ipVersion;
    di[d + D_L3] = v.l3Off;
    di[d + D_IPLEN] = v.ipTotalLen;
    di[d + D_LENCAP] = v.ipLenFromCapture ? 1 : 0;
    di[d + D_IPHL] = v.ipHdrLen;
    di[d + D_DST4] = v.dst4 | 0;
    this.described = n + 1;
    if (n + 1 - this.published >= PUBLISH_EVERY) this.publish();
  }

  publish(): void {
    if (this.published === this.described) return;
    this.published = this.described;
    Atomics.store(this.ctrl, C_PUBLISHED, this.published);
    Atomics.notify(this.ctrl, C_PUBLISHED);
  }

  protected override fill(needed: number): number {
    const p = this.parser;
    const inRing = p.buffer === this.ring;
    const rest = p.tail - p.head;
    if (needed > BIG_RECORD) {
      if (inRing) this.ringTail = p.head;
      return this.fillOwn(needed, rest);
    }
    let at = inRing ? p.tail : this.ringTail + rest;
    if (!inRing || at + CAPTURE_IO_CHUNK > RING_SIZE) {
      // The cut record's bytes go where reading goes on: after the ring's bytes, or at its front.
      let from = inRing ? 0 : this.ringTail;
      if (from + rest + CAPTURE_IO_CHUNK > RING_SIZE) from = 0;
      if (from === 0) this.lapBase += RING_SIZE;
      this.waitFree(this.lapBase + from + rest + CAPTURE_IO_CHUNK);
      this.ring.set(p.bufferBytes(), from);
      p.setWindow(this.ring, from, from + rest, p.fileOffset);
      at = from + rest;
    } else {
      this.waitFree(this.lapBase + at + CAPTURE_IO_CHUNK);
    }
    const n = readNext(this.fd, this.ring, at, CAPTURE_IO_CHUNK, this.path, this.pos);
    p.commit(n);
    this.ringTail = at + n;
    return n;
  }

  /** A record too large for the ring: read whole into a buffer of its own. */
  private fillOwn(needed: number, rest: number): number {
    const p = this.parser;
    const own = new Uint8Array(new SharedArrayBuffer(needed));
    own.set(p.bufferBytes(), 0);
    p.setWindow(own, 0, rest, p.fileOffset);
    let got = 0;
    while (rest + got < needed) {
      const n = readNext(this.fd, own, rest + got, needed - rest - got, this.path, this.pos + got);
      if (n === 0) break;
      got += n;
    }
    p.commit(got);
    return got;
  }

  /** Waits until every unconsumed frame starts at or after virtual offset `vend` - RING_SIZE. */
  private waitFree(vend: number): void {
    for (;;) {
      const consumed = Atomics.load(this.ctrl, C_CONSUMED);
      if (consumed >= this.described || this.vstart[consumed & (DESC_COUNT - 1)]! >= vend - RING_SIZE) return;
      this.waitFor(consumed);
    }
  }

  private waitConsumed(atLeast: number): void {
    for (;;) {
      const consumed = Atomics.load(this.ctrl, C_CONSUMED);
      if (consumed >= atLeast) return;
      this.waitFor(consumed);
    }
  }

  /** Publishes what is described, then sleeps until CONSUMED moves from `seen` (or the replay closes the reader). */
  private waitFor(seen: number): void {
    this.publish();
    let waited = 0;
    for (;;) {
      if (Atomics.load(this.ctrl, C_ABORT) !== 0) throw new Aborted();
      if (Atomics.wait(this.ctrl, C_CONSUMED, seen, WAIT_SLICE_MS) !== 'timed-out') return;
      waited += WAIT_SLICE_MS;
      if (waited >= STALL_MS) throw new Aborted();
    }
  }
}

/** The replay closed the reader (or stopped taking frames): the worker just ends. */
class Aborted extends Error {}

/** The worker's body: read, parse and decode the whole file, then say how it ended. */
export function readerThreadMain(data: ReaderThreadData): void {
  const ctrl = new Int32Array(data.ctrl);
  const port = data.port;
  let reader: RingFileReader | null = null;
  try {
    reader = openCaptureFile(data.path, (path, fd, parser, pos) => new RingFileReader(path, fd, parser, pos, data)) as RingFileReader;
    const rec = new CaptureRecord();
    const v = new PacketView();
    v.acceptTsoZeroLen = 1; // as replay decodes
    const failAt = data.failAfterFrames ?? -1;
    while (reader.next(rec)) {
      if (reader.described === failAt) throw new Error(`failing after ${failAt} frames (test)`);
      reader.describe(rec, v);
    }
    reader.publish();
    Atomics.store(ctrl, C_STATE, reader.truncatedAtEnd ? ST_TRUNCATED : ST_ENDED);
  } catch (e) {
    if (e instanceof Aborted) return;
    const m: ReaderMessage = e instanceof CaptureFileError ? { kind: 'capture-error', fileOffset: e.fileOffset, reason: e.reason } : { kind: 'error', message: e instanceof Error ? e.message : String(e) };
    port.postMessage(m);
    reader?.publish();
    Atomics.store(ctrl, C_STATE, ST_FAILED);
  } finally {
    Atomics.notify(ctrl, C_PUBLISHED);
    reader?.close();
    port.close();
  }
}

/**
 * In-order byte delivery for one direction of a TCP connection, for readers of the stream
 * (`rpcgw inspect`, and the engine's parsers). It never holds in-order bytes itself: they go
 * straight to the sink with the frame number that carried them, so a PDU that completes in
 * frame N is reported at frame N. Only segments that arrive ahead of a hole are copied, and
 * those copies are bounded: past the bound the hole is declared lost (a capture that missed a
 * segment, or a flow picked up mid-stream) and delivery resumes after it, telling the sink.
 */
import { seqAdd, seqDiff } from './seq.js';

/** Receives the bytes of one direction, in sequence order. */
export interface StreamSink {
  /** `len` in-order bytes at data[off..], carried by capture frame `frame`. */
  onBytes(data: Uint8Array, off: number, len: number, frame: number): void;
  /** Bytes before the next onBytes were lost; any partial message the sink holds is void. */
  onGap(frame: number): void;
}

export const PUSH_IN_ORDER = 0;
export const PUSH_DUPLICATE = 1;
export const PUSH_AHEAD = 2;
export const PUSH_DROPPED = 3;

/** At most this many segments / bytes wait for a hole to fill before it is declared lost. */
export const MAX_AHEAD_SEGMENTS = 64;
export const MAX_AHEAD_BYTES = 1 << 20;

interface AheadSegment {
  seq: number;
  data: Uint8Array;
  frame: number;
}

export class ByteStream {
  /** Sequence number of the next byte the sink expects. */
  nextSeq = 0;
  synced = false;
  /** Holes declared lost so far. */
  gaps = 0;
  private ahead: AheadSegment[] = [];
  private aheadBytes = 0;

  /** Starts the stream at a SYN (data begins at isn + 1). */
  onSyn(isn: number): void {
    if (this.synced) return;
    this.nextSeq = seqAdd(isn, 1);
    this.synced = true;
  }

  /**
   * Offers one segment's payload. Without a prior SYN the first segment seen starts the stream
   * (mid-stream pickup).
   */
  push(seq: number, data: Uint8Array, off: number, len: number, frame: number, sink: StreamSink): number {
    if (len <= 0) return PUSH_DUPLICATE;
    if (!this.synced) {
      this.nextSeq = seq >>> 0;
      this.synced = true;
    }
    const rel = seqDiff(seq, this.nextSeq);
    if (rel > 0) return this.storeAhead(seq, data, off, len, frame, sink);
    // rel <= 0: starts at or before the next expected byte; skip what was already delivered.
    const skip = -rel;
    if (skip >= len) return PUSH_DUPLICATE;
    this.deliver(data, off + skip, len - skip, frame, sink);
    this.drainAhead(sink);
    return PUSH_IN_ORDER;
  }

  /** Delivers whatever waits behind holes (end of capture, or flow closed). */
  flush(sink: StreamSink): void {
    while (this.ahead.length > 0) this.skipHole(sink);
  }

  private deliver(data: Uint8Array, off: number, len: number, frame: number, sink: StreamSink): void {
    this.nextSeq = seqAdd(this.nextSeq, len);
    sink.onBytes(data, off, len, frame);
  }

  private storeAhead(seq: number, data: Uint8Array, off: number, len: number, frame: number, sink: StreamSink): number {
    for (const s of this.ahead) if (s.seq === seq >>> 0 && s.data.length >= len) return PUSH_DUPLICATE;
    if (len > MAX_AHEAD_BYTES) return PUSH_DROPPED;
    const copy = new Uint8Array(len); // not .slice(): on a Buffer that is a view of reused memory
    copy.set(data.subarray(off, off + len));
    this.ahead.push({ seq: seq >>> 0, data: copy, frame });
    this.aheadBytes += len;
    this.ahead.sort((a, b) => seqDiff(a.seq, b.seq));
    while (this.ahead.length > MAX_AHEAD_SEGMENTS || this.aheadBytes > MAX_AHEAD_BYTES) this.skipHole(sink);
    return PUSH_AHEAD;
  }

  /** Declares the hole before the first waiting segment lost and resumes delivery there. */
  private skipHole(sink: StreamSink): void {
    const first = this.ahead[0];
    if (first === undefined) return;
    if (seqDiff(first.seq, this.nextSeq) > 0) {
      this.gaps++;
      sink.onGap(first.frame);
      this.nextSeq = first.seq;
    }
    this.drainAhead(sink);
  }

  /** Delivers waiting segments that have become contiguous. */
  private drainAhead(sink: StreamSink): void {
    while (this.ahead.length > 0) {
      const s = this.ahead[0]!;
      const rel = seqDiff(s.seq, this.nextSeq);
      if (rel > 0) return;
      this.ahead.shift();
      this.aheadBytes -= s.data.length;
      const skip = -rel;
      if (skip < s.data.length) this.deliver(s.data, skip, s.data.length - skip, s.frame, sink);
    }
  }
}

/**
 * Sequence adjustment after a length change in one direction of a TCP connection (the way
 * nf_nat_seqadj does it): the one length change the gateway makes is the re-encoded ept_lookup
 * answer under `lookup: published`, server → client.
 *
 *   server numbering   ... [oldStart ........ oldEnd) ...   bytes after oldEnd: seq + delta
 *   client numbering   ... [newStart .. newEnd)       ...   the client's ACKs: ack - delta
 *
 * An edit records one replaced call; `delta` is cumulative. The segments sent in place of the
 * server's are kept with the edit to answer the server's retransmissions of the replaced bytes.
 * Nothing here knows about connections or the engine: the caller keeps a connection's edits and
 * hands them in.
 */
import type { PacketView } from '../wire/packet.js';
import { IPV4_OFF_TOTAL_LEN } from '../wire/ipv4.js';
import { finishIpv4Checksum, finishTcpChecksumV4 } from '../wire/checksum.js';
import { nopSackOptions, writeSeqField } from '../wire/rewrite.js';
import { TCP_ACK, TCP_FIN, TCP_OFF_ACK, TCP_OFF_CHECKSUM, TCP_OFF_DATA_OFF, TCP_OFF_FLAGS, TCP_OFF_SEQ, TCP_PSH } from '../wire/tcp.js';
import type { HeldStream, PacketEmit } from './held-stream.js';
import { seqAdd, seqDiff } from './seq.js';

/**
 * A length change in the server→client stream: the server's bytes [oldStart, oldEnd) went out as
 * [newStart, newEnd); from oldEnd on, server sequence numbers are shifted by `delta`
 * (cumulative) and the client's ACKs back.
 */
export interface StreamEdit {
  oldStart: number;
  oldEnd: number;
  newStart: number;
  newEnd: number;
  delta: number;
  /** The segments sent in place of the server's, kept to answer its retransmissions. */
  sent: Uint8Array[];
}

/** A call to replace: stream bytes [start, end) become `bytes`. */
export interface Replacement {
  start: number;
  end: number;
  bytes: Uint8Array;
}

/** Edits remembered per connection (older ones only matter for very late retransmissions). */
export const MAX_EDITS = 8;

/**
 * The held region [hs.releasedSeq, end of the packet `v` in `buf`) goes out re-cut through
 * `emit`, with the replaced calls in it (several when pipelined lookups were answered in one
 * segment). `edits` (the connection's, possibly empty) gets the new edits; hs's held segments
 * are gone and hs.releasedSeq is the end of the last replaced call. Returns the rest of the
 * packet after it (old numbering, from hs.releasedSeq) as a segment of its own — the start of a
 * PDU still being read — or null when nothing follows.
 */
export function emitReplaced(hs: HeldStream, edits: StreamEdit[], reps: Replacement[], buf: Uint8Array, off: number, v: PacketView, emit: PacketEmit): Uint8Array | null {
  const base = hs.releasedSeq;
  const curEnd = seqAdd(v.tcpSeq, v.payloadLen);
  const region = new Uint8Array(seqDiff(curEnd, base));
  for (const seg of hs.held) region.set(seg.pkt.subarray(seg.payloadOff, seg.payloadOff + seg.payloadLen), seqDiff(seg.seq, base));
  const skip = Math.max(0, seqDiff(base, v.tcpSeq)); // a part already released (overlap)
  region.set(buf.subarray(v.payloadOff + skip, v.payloadOff + v.payloadLen), seqDiff(v.tcpSeq, base) + skip);
  // New bytes for [base, lastEnd): unchanged stretches and replacements, in stream order.
  const lastDelta = edits[edits.length - 1]?.delta ?? 0;
  const pieces: Uint8Array[] = [];
  let at = base;
  let delta = lastDelta;
  let newLen = 0;
  const added: StreamEdit[] = [];
  for (const rep of reps) {
    if (seqDiff(rep.start, at) < 0 || seqDiff(rep.end, curEnd) > 0) continue; // not in this region: cannot happen
    const keep = region.subarray(seqDiff(at, base), seqDiff(rep.start, base));
    pieces.push(keep, rep.bytes);
    const newStart = seqAdd(base, lastDelta + newLen + keep.length);
    newLen += keep.length + rep.bytes.length;
    delta += rep.bytes.length - seqDiff(rep.end, rep.start);
    added.push({ oldStart: rep.start, oldEnd: rep.end, newStart, newEnd: seqAdd(newStart, rep.bytes.length), delta, sent: [] });
    at = rep.end;
  }
  const out = new Uint8Array(newLen);
  let o = 0;
  for (const p of pieces) {
    out.set(p, o);
    o += p.length;
  }
  // Re-cut with this packet's headers as the template (addresses already translated).
  const firstSeq = seqAdd(base, lastDelta);
  const hdrLen = v.ipHdrLen + v.tcpHdrLen;
  const mss = Math.max(536, Math.min(1460, Math.max(v.payloadLen, 1200)));
  const sent: Uint8Array[] = [];
  for (let p = 0; p < out.length; p += mss) {
    const pkt = segmentFrom(buf, off, v, hdrLen, out.subarray(p, Math.min(out.length, p + mss)), seqAdd(firstSeq, p), p + mss >= out.length);
    sent.push(pkt);
    emit(pkt, 0, pkt.length);
  }
  for (const e of added) e.sent = sent;
  hs.held.length = 0;
  hs.heldBytes = 0;
  hs.releasedSeq = at;
  edits.push(...added);
  while (edits.length > MAX_EDITS) edits.shift();
  const tailLen = seqDiff(curEnd, at);
  if (tailLen <= 0 && (v.tcpFlags & TCP_FIN) === 0) return null;
  return segmentFrom(buf, off, v, hdrLen, region.subarray(seqDiff(at, base)), at, true);
}

/** A copy of `v`'s headers with `payload` at sequence `seq` (checksums computed). */
function segmentFrom(buf: Uint8Array, off: number, v: PacketView, hdrLen: number, payload: Uint8Array, seq: number, last: boolean): Uint8Array {
  const pkt = new Uint8Array(hdrLen + payload.length);
  pkt.set(buf.subarray(off, off + hdrLen), 0);
  pkt.set(payload, hdrLen);
  pkt[IPV4_OFF_TOTAL_LEN] = pkt.length >>> 8;
  pkt[IPV4_OFF_TOTAL_LEN + 1] = pkt.length & 0xff;
  const t = v.ipHdrLen;
  writeU32(pkt, t + TCP_OFF_SEQ, seq);
  pkt[t + TCP_OFF_FLAGS] = TCP_ACK | (last ? TCP_PSH | (v.tcpFlags & TCP_FIN) : 0);
  finishIpv4Checksum(pkt, 0, v.ipHdrLen);
  finishTcpChecksumV4(pkt, 0, t, pkt.length - t);
  return pkt;
}

/**
 * A server→client packet after a length change: its sequence number moves by the edits before
 * it. A packet with any byte of a replaced region is answered with what was sent instead.
 * Either way it goes out through `emit`.
 */
export function shiftToClient(edits: StreamEdit[], pkt: Uint8Array, off: number, len: number, emit: PacketEmit): void {
  const t = off + ((pkt[off]! & 0x0f) << 2);
  const seq = readU32(pkt, t + TCP_OFF_SEQ);
  const ipLen = (pkt[off + IPV4_OFF_TOTAL_LEN]! << 8) | pkt[off + IPV4_OFF_TOTAL_LEN + 1]!;
  const payloadLen = ipLen - (t - off) - ((pkt[t + TCP_OFF_DATA_OFF]! >>> 4) << 2);
  const end = seqAdd(seq, Math.max(0, payloadLen));
  for (const e of edits) {
    if (payloadLen > 0 && seqDiff(end, e.oldStart) > 0 && seqDiff(seq, e.oldEnd) < 0) {
      for (const p of e.sent) emit(p, 0, p.length);
      return;
    }
  }
  let delta = 0;
  for (let i = edits.length - 1; i >= 0; i--) {
    if (seqDiff(seq, edits[i]!.oldEnd) >= 0) {
      delta = edits[i]!.delta;
      break;
    }
  }
  if (delta !== 0) writeSeqField(pkt, t + TCP_OFF_SEQ, seqAdd(seq, delta), t + TCP_OFF_CHECKSUM);
  emit(pkt, off, len);
}

/**
 * A client→server packet after a length change, rewritten in place: its ACK goes back to the
 * server's numbering; SACK blocks (client numbering) are blanked (NOPs) rather than mislead the
 * server.
 */
export function shiftToServer(edits: StreamEdit[], pkt: Uint8Array, off: number): void {
  const t = off + ((pkt[off]! & 0x0f) << 2);
  if ((pkt[t + TCP_OFF_FLAGS]! & TCP_ACK) === 0) return;
  const ack = readU32(pkt, t + TCP_OFF_ACK);
  const old = serverSideAck(edits, ack);
  if (old !== ack) writeSeqField(pkt, t + TCP_OFF_ACK, old, t + TCP_OFF_CHECKSUM);
  nopSackOptions(pkt, off, t);
}

/** A client ACK (client numbering) in the server's numbering. */
export function serverSideAck(edits: StreamEdit[], ack: number): number {
  for (let i = edits.length - 1; i >= 0; i--) {
    const e = edits[i]!;
    if (seqDiff(ack, e.newEnd) >= 0) return seqAdd(ack, -e.delta);
    if (seqDiff(ack, e.newStart) >= 0) return e.oldStart; // part of the new bytes: none of the replaced ones yet
  }
  return ack >>> 0;
}

/** The client-side numbering of a server sequence number (where a client that saw the re-cut stream would ACK). */
export function clientSideSeq(edits: StreamEdit[], serverSeq: number): number {
  for (let i = edits.length - 1; i >= 0; i--) {
    const e = edits[i]!;
    if (seqDiff(serverSeq, e.oldEnd) >= 0) return seqAdd(serverSeq, e.delta);
    if (seqDiff(serverSeq, e.oldStart) > 0) return e.newEnd;
  }
  return serverSeq >>> 0;
}

function readU32(pkt: Uint8Array, at: number): number {
  return ((pkt[at]! << 24) | (pkt[at + 1]! << 16) | (pkt[at + 2]! << 8) | pkt[at + 3]!) >>> 0;
}

function writeU32(pkt: Uint8Array, at: number, value: number): void {
  pkt[at] = value >>> 24;
  pkt[at + 1] = (value >>> 16) & 0xff;
  pkt[at + 2] = (value >>> 8) & 0xff;
  pkt[at + 3] = value & 0xff;
}

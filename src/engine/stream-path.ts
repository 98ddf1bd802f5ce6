/**
 * The stream path of a connection the gateway reads (EPM leg on 135, RPC policy on mapped
 * ports): each translated segment is classified against its direction's stream
 * (stream/held-stream.ts), fed in order to the connection's leg, then held (a PDU the leg may
 * rewrite is incomplete), released, or — on a refusal — the connection is reset both ways.
 * Out-of-order segments wait and are drained once the hole fills. After a length change
 * (stream/seqadj.ts) everything leaving is renumbered.
 *
 * The hold budget lives here, and only here: bytes held per connection (maxHeldBytesPerFlow)
 * and in all (maxHeldBytesTotal), counted as segments are held and released.
 *
 * The connection (its flow id; its state in conn.ts's rows) is handed to every function;
 * nothing is kept about "the current packet" between calls.
 */
import { LINKTYPE_RAW } from '../wire/link.js';
import { IPPROTO_TCP, PacketView, readPacket, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../wire/packet.js';
import { IPV4_HDR_MIN, writeIpv4Header } from '../wire/ipv4.js';
import { TCP_HDR_MIN, writeTcpHeader } from '../wire/tcp.js';
import { finishTcpChecksumV4 } from '../wire/checksum.js';
import { OK } from '../wire/status.js';
import { SEG_AHEAD, SEG_DUPLICATE_HELD, SEG_IN_ORDER, SEG_OVERLAP, SEG_RETRANSMIT, type HeldStream } from '../stream/held-stream.js';
import type { Replacement } from '../stream/seqadj.js';
import { seqAdd, seqDiff } from '../stream/seq.js';
import { emitReplaced, serverSideAck, shiftToClient, shiftToServer } from '../stream/seqadj.js';
import type { FlowTable } from '../nat/flow-table.js';
import type { Conns } from './conn.js';
import type { Leg } from './leg.js';
import type { Output } from './output.js';
import type { RuleSlots } from './rule-slots.js';
import { SIDE_EXTERNAL, SIDE_INTERNAL } from './events.js';
import { DROP_DUPLICATE, DROP_HOLD_LIMIT, DROP_PATCH_FORGOTTEN, DROP_REFUSED_CONNECTION, PASS, REFUSE_HOLD_LIMIT } from './reasons.js';
import { fillRefused } from './records.js';

/**
 * Whether step() takes the row path (fromRow) when it may: off only in tests, which compare the
 * two paths packet by packet (test/engine/row-path.test.ts).
 */
let rowPath = true;
export function setRowPath(on: boolean): void {
  rowPath = on;
}

/** A RST the gateway makes: IPv4 and TCP headers, no options. */
const RST_LEN = IPV4_HDR_MIN + TCP_HDR_MIN;

export class StreamPath {
  /** Bytes held (in order or ahead) on all connections: the hold budget's total. */
  private heldTotal = 0;
  private readonly aheadView = new PacketView();
  private readonly rst = new Uint8Array(RST_LEN);

  constructor(
    private readonly conns: Conns,
    private readonly out: Output,
    private readonly flows: FlowTable,
    private readonly slots: RuleSlots,
    private readonly gwIp: number,
    private readonly maxHeldPerFlow: number,
    private readonly maxHeldTotal: number,
  ) {}

  /** Bytes held on all connections, for metrics. */
  get heldBytes(): number {
    return this.heldTotal;
  }

  /** A translated packet of connection `flow`: read, hold or forward, in sequence order. */
  packet(flow: number, fromClient: boolean, buf: Uint8Array, off: number, len: number, v: PacketView): void {
    this.step(flow, fromClient, buf, off, len, v);
    this.conns.settle(flow);
  }

  private step(flow: number, fromClient: boolean, buf: Uint8Array, off: number, len: number, v: PacketView): void {
    const side = fromClient ? SIDE_EXTERNAL : SIDE_INTERNAL;
    const cs = this.conns;
    if (cs.refused(flow)) return this.out.drop(DROP_REFUSED_CONNECTION, side, v);
    const flags = v.tcpFlags;
    // The usual packet of an established mapped connection: its row is the whole stream state
    // and it is a pure ACK or the next bytes exactly.
    if (rowPath && (flags & (TCP_ACK | TCP_SYN | TCP_RST | TCP_FIN)) === TCP_ACK) {
      const w = cs.plainCursor(flow, fromClient);
      if (w >= 0 && (v.payloadLen === 0 || cs.rowWords[w] === (v.tcpSeq | 0))) return this.fromRow(flow, fromClient, buf, off, len, v, w);
    }
    // Inspected bytes are bytes the receiver accepts: onPacket dropped corrupt segments (else a
    // good retransmission would pass as "already inspected").
    if ((flags & TCP_ACK) !== 0) {
      cs.acked(flow, fromClient, v.tcpAck);
      // Patches the other direction remembers are pruned (a direction without its own stream has none).
      const other = cs.ownStream(flow, !fromClient);
      if (other !== null) {
        // Length changes are made in the RPC server→client stream: the RPC client's ACKs name
        // its numbering (the RPC client is inside on an outbound flow).
        const edits = fromClient !== this.flows.outbound(flow) ? cs.edits(flow) : null;
        other.acked(edits === null ? v.tcpAck : serverSideAck(edits, v.tcpAck));
      }
    }
    const hs = cs.stream(flow, fromClient);
    if ((flags & TCP_SYN) !== 0) {
      hs.onSyn(v.tcpSeq);
      return this.forward(flow, fromClient, buf, off, len);
    }
    if ((flags & TCP_RST) !== 0) {
      this.dropAll(hs);
      return this.forward(flow, fromClient, buf, off, len);
    }
    if (!hs.synced) hs.startAt(this.pickupAnchor(flow, fromClient, v.tcpSeq));
    const seqLen = v.payloadLen + ((flags & TCP_FIN) !== 0 ? 1 : 0);
    if (seqLen === 0) {
      // A pure ACK: it says nothing about this direction's bytes, so it never waits.
      return this.forward(flow, fromClient, buf, off, len);
    }
    switch (hs.classify(v.tcpSeq, seqLen)) {
      case SEG_RETRANSMIT:
        if (!hs.reapply(buf, v, v.tcpSeq)) return this.out.drop(DROP_PATCH_FORGOTTEN, side, v);
        return this.forward(flow, fromClient, buf, off, len);
      case SEG_DUPLICATE_HELD:
        return this.out.drop(DROP_DUPLICATE, side, v);
      case SEG_AHEAD:
        if (!this.mayHold(hs.heldBytes + hs.aheadBytes, len)) return this.out.drop(DROP_HOLD_LIMIT, side, v);
        if (hs.holdAhead(buf, off, len, v.tcpSeq, v.payloadOff, v.payloadLen)) this.heldTotal += len;
        else this.out.drop(DROP_DUPLICATE, side, v);
        return;
      case SEG_IN_ORDER:
      case SEG_OVERLAP:
        this.inOrder(flow, fromClient, buf, off, len, v);
        this.drainAhead(flow, fromClient);
        return;
    }
  }

  /** The connection leaves: whatever it holds is forgotten. */
  forget(flow: number): void {
    this.dropAll(this.conns.stream(flow, true));
    this.dropAll(this.conns.stream(flow, false));
  }

  /** A direction forgets what it holds, and the hold budget gets it back. */
  private dropAll(hs: HeldStream): void {
    this.heldTotal -= hs.heldBytes + hs.aheadBytes;
    hs.dropAll();
  }

  /** The hold budget: may a direction holding `holding` bytes hold `len` more? */
  private mayHold(holding: number, len: number): boolean {
    return holding + len <= this.maxHeldPerFlow && this.heldTotal + len <= this.maxHeldTotal;
  }

  /**
   * A packet of `flow` on its way (to the internal side if it came from the external one, else to
   * the external side), renumbered after a length change: the edited stream (RPC server→client)
   * toward the RPC client, the RPC client's ACKs toward the RPC server.
   */
  private forward(flow: number, toInternal: boolean, pkt: Uint8Array, off: number, len: number): void {
    const edits = this.conns.edits(flow);
    const side = toInternal ? SIDE_INTERNAL : SIDE_EXTERNAL;
    if (edits === null) return this.out.send(side, pkt, off, len, flow);
    // The RPC client is outside, or inside on an outbound flow.
    if (toInternal === this.flows.outbound(flow)) return shiftToClient(edits, pkt, off, len, toInternal ? this.out.toInternal : this.out.toExternal);
    shiftToServer(edits, pkt, off);
    this.out.send(side, pkt, off, len, flow);
  }

  /** A segment that starts at or before the next expected byte and brings new bytes. */
  private inOrder(flow: number, fromClient: boolean, buf: Uint8Array, off: number, len: number, v: PacketView): void {
    const cs = this.conns;
    const hs = cs.stream(flow, fromClient);
    const seq = v.tcpSeq;
    const skip = seqDiff(hs.nextSeq, seq);
    if (skip > 0 && !hs.reapply(buf, v, seq)) return this.out.drop(DROP_PATCH_FORGOTTEN, fromClient ? SIDE_EXTERNAL : SIDE_INTERNAL, v);
    const newBytes = v.payloadLen - Math.max(0, skip);
    const leg = cs.leg(flow);
    // Streams are kept by side (fromClient = arrived on the external side); the leg reads by
    // RPC role, whose client is on the internal side for an outbound flow.
    const rpcFromClient = fromClient !== this.flows.outbound(flow);
    let verdict = PASS;
    if (newBytes > 0) {
      cs.beginRead(flow, hs, buf, v, seq);
      verdict = leg.feed(flow, rpcFromClient, buf, v.payloadOff + Math.max(0, skip), newBytes, seqAdd(seq, Math.max(0, skip)));
      cs.endRead();
    }
    hs.nextSeq = seqAdd(seq, v.payloadLen + ((v.tcpFlags & TCP_FIN) !== 0 ? 1 : 0));
    this.afterRead(flow, fromClient, rpcFromClient, leg, hs, verdict, cs.takeReplacements(), buf, off, len, v, seq);
  }

  /**
   * step()'s path for a packet of a mapped connection whose row alone carries its stream
   * (Conns.plainCursor gave `w`): a pure ACK, or a segment starting exactly at nextSeq with
   * nothing held. What inOrder does, without lending the direction a HeldStream: the leg reads
   * the bytes, and when it asks for nothing more (no refusal, patch, replacement or hold) the
   * cursor moves in the row and the packet goes. Otherwise the direction is lent as inOrder has
   * it after its read (a patch lends it during the read) and inOrder's end takes over.
   */
  private fromRow(flow: number, fromClient: boolean, buf: Uint8Array, off: number, len: number, v: PacketView, w: number): void {
    const cs = this.conns;
    cs.acked(flow, fromClient, v.tcpAck);
    const n = v.payloadLen;
    const to = fromClient ? SIDE_INTERNAL : SIDE_EXTERNAL;
    if (n === 0) return this.out.send(to, buf, off, len, flow);
    const seq = v.tcpSeq;
    const leg = cs.mappedLeg;
    const rpcFromClient = fromClient !== this.flows.outbound(flow);
    cs.beginRead(flow, null, buf, v, seq, fromClient);
    const verdict = leg.feed(flow, rpcFromClient, buf, v.payloadOff, n, seq);
    let hs = cs.readStream;
    cs.endRead();
    const reps = cs.takeReplacements();
    if (hs === null && verdict === PASS && reps === null && !leg.midPdu(flow, rpcFromClient)) {
      const words = cs.rowWords;
      words[w] = words[w + 1] = seqAdd(seq, n) | 0;
      return this.out.send(to, buf, off, len, flow);
    }
    hs ??= cs.stream(flow, fromClient);
    hs.nextSeq = seqAdd(seq, n);
    this.afterRead(flow, fromClient, rpcFromClient, leg, hs, verdict, reps, buf, off, len, v, seq);
  }

  /** The end of inOrder: after the leg read a segment (hs.nextSeq past it), refuse, re-cut, hold or forward it. */
  private afterRead(
    flow: number, fromClient: boolean, rpcFromClient: boolean, leg: Leg, hs: HeldStream, verdict: number, reps: Replacement[] | null,
    buf: Uint8Array, off: number, len: number, v: PacketView, seq: number,
  ): void {
    if (verdict !== PASS) return this.refuse(flow, verdict, leg.refuseDetail, leg.lastInterface);
    if (reps !== null) return this.replaced(flow, fromClient, rpcFromClient, hs, reps, buf, off, v);
    if (leg.midPdu(flow, rpcFromClient)) {
      if (!this.mayHold(hs.heldBytes, len)) {
        return this.refuse(flow, REFUSE_HOLD_LIMIT, `more than ${this.maxHeldPerFlow} bytes held for one PDU`, leg.interfaceOf(flow));
      }
      hs.hold(buf, off, len, seq, v.payloadOff, v.payloadLen);
      this.heldTotal += len;
      return;
    }
    this.releaseHeld(flow, hs, fromClient);
    this.forward(flow, fromClient, buf, off, len);
  }

  /** Forwards a direction's held segments in order. */
  private releaseHeld(flow: number, hs: HeldStream, fromClient: boolean): void {
    if (hs.held.length === 0) {
      hs.releasedSeq = hs.nextSeq;
      return;
    }
    this.heldTotal -= hs.heldBytes;
    for (const s of hs.held) this.forward(flow, fromClient, s.pkt, 0, s.pkt.length);
    hs.held.length = 0;
    hs.heldBytes = 0;
    hs.releasedSeq = hs.nextSeq;
  }

  /**
   * The leg replaced calls (a length change) in the direction `hs` just read, arrived on the
   * external side if `fromClient` (the RPC server's answers: inside, or outside on an outbound
   * flow, `rpcFromClient` false): the held region up to the end of this packet goes out re-cut
   * to the other side; what follows the last replaced call is held (as a segment of its own)
   * while its PDU is still being read. Side and role as inOrder has them, so the two agree.
   */
  private replaced(flow: number, fromClient: boolean, rpcFromClient: boolean, hs: HeldStream, reps: Replacement[], buf: Uint8Array, off: number, v: PacketView): void {
    this.heldTotal -= hs.heldBytes;
    const tail = emitReplaced(hs, this.conns.editsFor(flow), reps, buf, off, v, fromClient ? this.out.toInternal : this.out.toExternal);
    if (tail === null) return;
    const hdrLen = v.ipHdrLen + v.tcpHdrLen;
    if (this.conns.leg(flow).midPdu(flow, rpcFromClient)) {
      hs.hold(tail, 0, tail.length, hs.releasedSeq, hdrLen, tail.length - hdrLen);
      this.heldTotal += tail.length;
      return;
    }
    hs.releasedSeq = hs.nextSeq;
    this.forward(flow, fromClient, tail, 0, tail.length);
  }

  /**
   * Where a stream picked up mid-flow starts. The other end's last ACK says which byte it expects
   * next, so a capture whose first segments of this direction arrive reordered is still read from
   * the right byte (the later segment waits as "ahead"). Without such an ACK, or when the ACK is
   * further from the segment than one flow may hold (bytes the capture missed), the first segment
   * seen starts the stream.
   */
  private pickupAnchor(flow: number, fromClient: boolean, seq: number): number {
    if (!this.conns.ackSeen(flow, !fromClient)) return seq;
    const expected = this.conns.expects(flow, !fromClient);
    const gap = seqDiff(seq, expected);
    return gap >= 0 && gap <= this.maxHeldPerFlow ? expected : seq;
  }

  /** Out-of-order segments that the last one made contiguous. */
  private drainAhead(flow: number, fromClient: boolean): void {
    const hs = this.conns.stream(flow, fromClient);
    if (hs.ahead.length === 0) return;
    for (let seg = hs.takeReadyAhead(); seg !== null && !this.conns.refused(flow); seg = hs.takeReadyAhead()) {
      this.heldTotal -= seg.pkt.length;
      const v = this.aheadView;
      if (readPacket(seg.pkt, 0, seg.pkt.length, LINKTYPE_RAW, v) !== OK) continue;
      const end = seqAdd(seg.seq, seg.payloadLen);
      if (seqDiff(end, hs.nextSeq) <= 0) continue; // wholly covered by what came since
      this.inOrder(flow, fromClient, seg.pkt, 0, seg.pkt.length, v);
    }
  }

  /** Resets both ends of a connection whose PDU was refused, and logs why. */
  private refuse(flow: number, code: number, detail: string, iface: string): void {
    const cs = this.conns;
    cs.markRefused(flow);
    this.forget(flow);
    this.out.counters.drops[code]!++;
    const fl = this.flows;
    // To the client, as if from E:135; to the server, as if from G:gp — each at the sequence
    // number that end expects next (the ACK it last sent the other way).
    const toClientSeq = cs.ackSeen(flow, true) ? cs.expects(flow, true) : cs.stream(flow, false).releasedSeq;
    const toServerSeq = cs.ackSeen(flow, false) ? cs.expects(flow, false) : cs.stream(flow, true).releasedSeq;
    this.sendRst(SIDE_EXTERNAL, fl.extIp(flow), fl.extPort(flow), fl.clientIp(flow), fl.clientPort(flow), toClientSeq);
    this.sendRst(SIDE_INTERNAL, fl.gwIp(flow), fl.gwPort(flow), fl.serverIp(flow), fl.serverPort(flow), toServerSeq);
    const nowMs = this.out.nowMs;
    fl.onPacket(flow, true, TCP_RST, 0, nowMs);
    this.out.events.refused(fillRefused(this.out.event, fl, this.slots, flow, code, detail, iface), nowMs);
  }

  private sendRst(side: number, src: number, sport: number, dst: number, dport: number, seq: number): void {
    const b = this.rst;
    writeIpv4Header(b, 0, { src, dst, proto: IPPROTO_TCP, totalLen: RST_LEN, ttl: 64, id: 0, dontFragment: true });
    writeTcpHeader(b, IPV4_HDR_MIN, { srcPort: sport, dstPort: dport, seq: seq >>> 0, ack: 0, flags: TCP_RST, window: 0 });
    finishTcpChecksumV4(b, 0, IPV4_HDR_MIN, TCP_HDR_MIN);
    this.out.counters.resetsSent++;
    this.out.send(side, b, 0, RST_LEN);
  }
}

/**
 * The engine's one way out: every packet it emits goes through `send`, every packet it drops
 * through `drop`, and both are counted here. Egress is fitted to the interface MTU of the side
 * and to what a connection's path is known to take (learnt from translated
 * fragmentation-needed errors and MSS options): a longer TCP packet (an offload merge, GRO or a
 * neighbour's TSO) is re-cut into segments that fit, as the sender's own segmentation would have.
 */
import { LINKTYPE_RAW } from '../wire/link.js';
import { PacketView, readPacket } from '../wire/packet.js';
import { OK } from '../wire/status.js';
import { segmentTcpV4 } from '../wire/segment.js';
import type { SegmentSink } from '../wire/segment.js';
import type { PacketEmit } from '../stream/held-stream.js';
import { EngineEvent, SIDE_EXTERNAL, SIDE_INTERNAL } from './events.js';
import type { EngineEvents, EngineOutput } from './events.js';
import { DROP_OVERSIZE, REASON_COUNT, REASON_NAMES } from './reasons.js';

/** The smallest IPv4 MTU (RFC 791); a configured MTU below it is raised to it. */
export const MIN_MTU = 68;

export class EngineCounters {
  readonly packetsIn = new Float64Array(2);
  readonly bytesIn = new Float64Array(2);
  readonly packetsOut = new Float64Array(2);
  readonly bytesOut = new Float64Array(2);
  /** By reason code (reasons.ts): packets dropped, connections refused. */
  readonly drops = new Float64Array(REASON_COUNT);
  rewrites = 0;
  mappingsCreated = 0;
  mappingsExpired = 0;
  connectionsOpened = 0;
  connectionsClosed = 0;
  resetsSent = 0;
  notificationsRelayed = 0;
  /** TCP/UDP segments that arrived with a partial checksum (offloading sender) and were completed. */
  checksumsCompleted = 0;
  /** Packets longer than the egress MTU cut into `segmentsOut` segments (software GSO). */
  packetsSegmented = 0;
  segmentsOut = 0;
  /** ICMP errors the gateway sent (time exceeded, fragmentation needed) and those the rate limit held back. */
  icmpErrorsSent = 0;
  icmpRateLimited = 0;
  /** ICMP errors about a carried connection, translated and passed on. */
  icmpTranslated = 0;

  /** Non-zero drop and refusal counts by name. */
  dropsByName(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 1; i < REASON_COUNT; i++) if (this.drops[i]! > 0) out[REASON_NAMES[i]!] = this.drops[i]!;
    return out;
  }
}

export class Output {
  readonly counters = new EngineCounters();
  /** The engine's clock: the time of the packet (or tick) being handled. */
  nowMs = 0;
  /** send() to each side, made once: PacketEmits for the sequence adjustment (toward the RPC client). */
  readonly toExternal: PacketEmit;
  readonly toInternal: PacketEmit;

  /** IP MTU by side. */
  private readonly mtu = new Int32Array(2);
  /**
   * Learnt limits on a connection's packets one way, as an IP length (0: none): index flow * 2 + 1
   * toward the server, flow * 2 toward the client. From a fragmentation-needed the gateway
   * translated (the path MTU) and from an MSS option below the MTU. Merged (GRO/TSO) frames are
   * re-cut to it, as the sender's own segmentation would have: cut to the interface MTU only, they
   * would be too big for the path again and again. By flow id (dense from 0), so a packet's limit
   * is one array read, whatever other connections learnt.
   */
  private pathLimit = new Int32Array(0);
  /** One segment at a time when a packet is cut to the egress MTU (segmentTcpV4). */
  private segScratch: Uint8Array;
  private segSide = 0;
  private readonly segSink: SegmentSink;
  /** Decodes what send() cannot forward, for the drop record. */
  private readonly sendView = new PacketView();
  /**
   * While the engine handles a packet of a connection whose answer waits for a kernel pinhole
   * (kernel-handoff.ts), what it emits toward the client is copied here instead; null otherwise.
   */
  holdQueue: Uint8Array[] | null = null;
  /** The engine's one event record (events.ts), filled for each event it tells. */
  readonly event = new EngineEvent();

  constructor(
    private readonly out: EngineOutput,
    readonly events: EngineEvents,
    externalMtu: number,
    internalMtu: number,
  ) {
    this.mtu[SIDE_EXTERNAL] = Math.max(MIN_MTU, externalMtu);
    this.mtu[SIDE_INTERNAL] = Math.max(MIN_MTU, internalMtu);
    this.segScratch = new Uint8Array(Math.max(this.mtu[0]!, this.mtu[1]!));
    this.segSink = { segment: (seg, len) => this.sendSegment(seg, len) };
    this.toExternal = (pkt, off, len) => this.send(SIDE_EXTERNAL, pkt, off, len);
    this.toInternal = (pkt, off, len) => this.send(SIDE_INTERNAL, pkt, off, len);
  }

  /** Emits a packet on `side`; longer than the way out allows (`flow`'s learnt limit, else the MTU), it is re-cut. */
  send(side: number, pkt: Uint8Array, off: number, len: number, flow = -1): void {
    let limit = this.mtu[side]!;
    if (flow >= 0) {
      const learnt = this.pathLimit[flow * 2 + (side === SIDE_INTERNAL ? 1 : 0)] ?? 0;
      if (learnt > 0 && learnt < limit) limit = learnt;
    }
    if (len > limit) return this.sendLong(side, pkt, off, len, limit);
    this.emitCounted(side, pkt, off, len);
  }

  /** Counts and emits a packet that fits. */
  private emitCounted(side: number, pkt: Uint8Array, off: number, len: number): void {
    if (this.holdQueue !== null && side === SIDE_EXTERNAL) {
      // A copy: pkt may be the capture buffer, which the next frame overwrites (and a Buffer's
      // slice() is a view, not a copy).
      const copy = new Uint8Array(len);
      copy.set(pkt.subarray(off, off + len));
      this.holdQueue.push(copy);
      return;
    }
    this.counters.packetsOut[side]!++;
    this.counters.bytesOut[side]! += len;
    this.out.emit(side, pkt, off, len);
  }

  /** Emits packets held for a kernel pinhole, now installed (already fitted to the MTU). */
  emitHeld(packets: readonly Uint8Array[]): void {
    for (const p of packets) this.emitCounted(SIDE_EXTERNAL, p, 0, p.length);
  }

  drop(reason: number, side: number, v: PacketView): void {
    this.counters.drops[reason]!++;
    this.events.packetDropped(reason, side, v, this.nowMs);
  }

  /** The IP MTU of a side. */
  mtuOf(side: number): number {
    return this.mtu[side]!;
  }

  /** A side's interface MTU changed (the live dataplane re-reads it every second). */
  setMtu(side: number, mtu: number): void {
    mtu = Math.max(MIN_MTU, mtu | 0);
    if (this.mtu[side] === mtu) return;
    this.mtu[side] = mtu;
    if (mtu > this.segScratch.length) this.segScratch = new Uint8Array(mtu);
  }

  /** Records that packets of `flow` toward the server (or the client) must not exceed `ipLen`. */
  limitPath(flow: number, toServer: boolean, ipLen: number): void {
    // Below 68 (or 0: a router too old to say, RFC 1191) there is nothing usable to learn.
    if (ipLen < MIN_MTU || ipLen >= this.mtu[toServer ? SIDE_INTERNAL : SIDE_EXTERNAL]!) return;
    const at = flow * 2 + (toServer ? 1 : 0);
    if (at >= this.pathLimit.length) {
      const grown = new Int32Array(Math.max(at + 2, this.pathLimit.length * 2, 128));
      grown.set(this.pathLimit);
      this.pathLimit = grown;
    }
    const known = this.pathLimit[at]!;
    if (known > 0 && known <= ipLen) return;
    this.pathLimit[at] = ipLen;
  }

  /** A connection is gone: so are its path limits. */
  forgetFlow(flow: number): void {
    if (flow * 2 + 1 >= this.pathLimit.length) return;
    this.pathLimit[flow * 2] = 0;
    this.pathLimit[flow * 2 + 1] = 0;
  }

  /**
   * A packet longer than `limit` (the egress MTU or its connection's learnt path limit): TCP is
   * cut into segments that fit; other protocols that do not fit are dropped.
   */
  private sendLong(side: number, pkt: Uint8Array, off: number, len: number, limit: number): void {
    const v = this.sendView;
    this.segSide = side;
    if (segmentTcpV4(pkt, off, len, limit, this.segScratch, this.segSink) > 0) {
      this.counters.packetsSegmented++;
      return;
    }
    readPacket(pkt, off, len, LINKTYPE_RAW, v);
    this.drop(DROP_OVERSIZE, side ^ 1, v);
  }

  private sendSegment(seg: Uint8Array, len: number): void {
    this.counters.segmentsOut++;
    this.emitCounted(this.segSide, seg, 0, len);
  }
}

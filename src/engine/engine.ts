/**
 * The gateway engine: one IPv4 packet in (with the side it arrived on and the time), zero or
 * more packets out through EngineOutput, or a drop with a reason. It never touches a socket,
 * a file or the clock, so a replay of the same input gives the same output byte for byte.
 *
 *   external side                          internal side
 *   client:cp → E:135         ──EPM leg──►  G:gp → S:135       (towers rewritten on the way back)
 *   client:cp → E:P (mapped)  ──NAT──────►  G:gp → S:Q         (only the client the pinhole names)
 *
 * E = a rule's external address, G = the gateway's internal address (source NAT, so the server
 * needs no route back to clients), S:Q = the server's real endpoint behind mapped port P.
 *
 * Hot path (mapped connections): decode with byte reads into one reused PacketView, two numeric
 * hash lookups, four in-place field rewrites with RFC 1624 checksum updates, emit. No allocation.
 * The EPM leg on TCP 135 reads every PDU (epm-leg.ts) and holds segments while a PDU is
 * incomplete (stream/held-stream.ts); it is control traffic and may copy.
 */
import { LINKTYPE_RAW } from '../wire/link.js';
import { IPPROTO_TCP, IPPROTO_UDP, PacketView, readPacket, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../wire/packet.js';
import { setDstPort, setIpv4Dst, setIpv4Src, setSrcPort } from '../wire/rewrite.js';
import { writeIpv4Header } from '../wire/ipv4.js';
import { writeTcpHeader } from '../wire/tcp.js';
import { finishIpv4Checksum, finishTcpChecksumV4, ipv4HeaderChecksumOk, L4_CSUM_BAD, L4_CSUM_COMPLETED, L4_CSUM_OK, verifyL4ChecksumV4 } from '../wire/checksum.js';
import { decrementTtl } from '../wire/rewrite.js';
import { IPPROTO_ICMP } from '../wire/ipproto.js';
import {
  finishIcmpChecksum, ICMP_CODE_FRAG_NEEDED, ICMP_CODE_TTL_EXCEEDED, ICMP_DEST_UNREACH, ICMP_ERROR_MAX, ICMP_OFF_MTU, ICMP_TIME_EXCEEDED, icmpChecksumOk,
  IcmpQuoteView, readIcmpError, rewriteIcmpQuote, rewriteIcmpQuoteSeq, writeIcmpError,
} from '../wire/icmp.js';
import { segmentTcpV4, type SegmentSink } from '../wire/segment.js';
import { ipv4ToString } from '../wire/addr.js';
import { OK } from '../wire/status.js';
import { HeldStream, SEG_AHEAD, SEG_DUPLICATE_HELD, SEG_IN_ORDER, SEG_OVERLAP, SEG_RETRANSMIT } from '../stream/held-stream.js';
import { seqAdd, seqDiff } from '../stream/seq.js';
import { csumReplace32 } from '../wire/checksum.js';
import { FlowTable, FLOW_EPM, FLOW_MAPPED, FLOW_ERR_NO_GW_PORT, FLOW_ST_RST } from '../nat/flow-table.js';
import { MappingTable } from '../nat/mapping-table.js';
import type { CompiledRule, CompiledRules } from '../policy/compiled.js';
import { ruleForMappedPort, selectRule } from '../policy/match.js';
import type { TowerView } from '../epm/tower.js';
import { towerUuidToString } from '../epm/tower.js';
import { EPT_MAP } from '../epm/constants.js';
import { EpmLeg, type EpmLegHost } from './epm-leg.js';
import { MappedLeg, type MappedLegHost } from './mapped-leg.js';
import type { Leg } from './leg.js';
import { NotifyRelay } from '../nat/notify-relay.js';
import { type EngineEvents, type EngineOutput, NO_EVENTS, SIDE_EXTERNAL, SIDE_INTERNAL } from './events.js';
import {
  type ConnectionSnapshot, type EngineSnapshot, type MappingSnapshot, type RestoreResult, SNAPSHOT_FORMAT, SNAPSHOT_VERSION,
  checkSnapshot, endpointString, hex, readConnectionEntry, readMappingEntry,
} from './snapshot.js';
import { FLOW_ERR_NAMES, FLOW_ST_ESTABLISHED, isClosedState } from '../nat/flow-table.js';
import { MAP_ERR_NAMES } from '../nat/mapping-table.js';
import {
  DROP_CLIENT_NOT_ALLOWED,
  DROP_DUPLICATE,
  DROP_FLOW_TABLE_FULL,
  DROP_FRAGMENT,
  DROP_HOLD_LIMIT,
  DROP_MALFORMED,
  DROP_NO_FLOW,
  DROP_NO_NOTIFICATION,
  DROP_EPM_CONNECTION_LIMIT,
  DROP_BAD_CHECKSUM,
  DROP_BAD_IP_CHECKSUM,
  DROP_ICMP_NO_FLOW,
  DROP_ICMP_NOT_TRANSLATED,
  DROP_OVERSIZE,
  DROP_TOO_BIG,
  DROP_TTL_EXCEEDED,
  DROP_PATCH_FORGOTTEN,
  DROP_NO_GATEWAY_PORT,
  DROP_NO_PINHOLE,
  DROP_NOT_FOR_GATEWAY,
  DROP_NOT_IPV4,
  DROP_PORT_NOT_PUBLISHED,
  DROP_REFUSED_CONNECTION,
  DROP_UNSUPPORTED_PROTOCOL,
  PASS,
  REASON_COUNT,
  REASON_NAMES,
  REFUSE_HOLD_LIMIT,
} from './reasons.js';

export const EPM_PORT = 135;
/**
 * Concurrent endpoint-mapper connections, per client address and in all. Each carries reading
 * state (a few KiB); an Outlook needs one or two at a time, an office behind one NAT address
 * more. The bounds keep clients (the Exchange rule allows 0.0.0.0/0) from making the gateway
 * hold that state for unbounded numbers of connections.
 */
export const MAX_EPM_CONNECTIONS_PER_CLIENT = 1024;
export const MAX_EPM_CONNECTIONS = 65536;

export interface EngineOptions {
  rules: CompiledRules;
  output: EngineOutput;
  events?: EngineEvents;
  /** Hash seed: fixed for replays (byte-identical output), random live. */
  seed?: number;
  /** Accept connections first seen mid-stream (captures without SYN). Off on a live gateway. */
  midstreamPickup?: boolean;
  embryonicTimeoutMs?: number;
  closeLingerMs?: number;
  /**
   * IP MTU of each side's interface (default 1500). Packets leaving longer are re-segmented (TCP)
   * or, with DF and no longer than the MTU they came in by, answered with fragmentation-needed.
   */
  externalMtu?: number;
  internalMtu?: number;
  /** ICMP errors the gateway itself generates (time exceeded, fragmentation needed), per second. */
  icmpRatePerSec?: number;
}

export const DEFAULT_MTU = 1500;
export const DEFAULT_ICMP_RATE_PER_SEC = 100;
/** The smallest IPv4 MTU (RFC 791); a configured MTU below it is raised to it. */
const MIN_MTU = 68;

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

/**
 * A length change in the server→client stream (ept_lookup under `lookup: published`): the
 * server's bytes [oldStart, oldEnd) went out as [newStart, newEnd); from oldEnd on, server
 * sequence numbers are shifted by `delta` (cumulative) and the client's ACKs back.
 */
interface StreamEdit {
  oldStart: number;
  oldEnd: number;
  newStart: number;
  newEnd: number;
  delta: number;
  /** The segments sent in place of the server's, kept to answer its retransmissions. */
  sent: Uint8Array[];
}

/** Edits remembered per connection (older ones only matter for very late retransmissions). */
const MAX_EDITS = 8;

/** Per-connection stream state (EPM leg or mapped-port policy), pooled. */
class ConnState {
  edits: StreamEdit[] | null = null;
  /** Calls replaced while reading the current packet, in stream order. */
  pendingReplace: { start: number; end: number; bytes: Uint8Array }[] = [];
  toClient: (pkt: Uint8Array, off: number, len: number) => void = () => {};
  toServer: (pkt: Uint8Array, off: number, len: number) => void = () => {};
  readonly c2s = new HeldStream();
  readonly s2c = new HeldStream();
  readonly leg: Leg;
  readonly epmLeg: EpmLeg | null;
  readonly mappedLeg: MappedLeg | null;
  refused = false;
  /** Next sequence number each end expects (the ACK it last sent): where a RST must land. */
  clientExpects = 0;
  serverExpects = 0;
  clientAckSeen = false;
  serverAckSeen = false;

  constructor(epmLeg: EpmLeg | null, mappedLeg: MappedLeg | null) {
    this.epmLeg = epmLeg;
    this.mappedLeg = mappedLeg;
    this.leg = (epmLeg ?? mappedLeg)!;
  }

  reset(): void {
    this.edits = null;
    this.pendingReplace = [];
    this.refused = false;
    this.clientAckSeen = this.serverAckSeen = false;
    this.c2s.synced = this.s2c.synced = false;
    this.c2s.dropAll();
    this.s2c.dropAll();
    this.c2s.resetPatches();
    this.s2c.resetPatches();
  }

  setRule(rule: CompiledRule): void {
    if (this.epmLeg) this.epmLeg.rule = rule;
    if (this.mappedLeg) this.mappedLeg.rule = rule;
  }
}

/** A live mapping or connection as `rpcgw mappings` lists it. */
export interface MappingListing {
  mapping: number;
  rule: string;
  client: string;
  external: string;
  server: string;
  ageMs: number;
  idleMs: number;
  connections: number;
  /** Time left before the pinhole closes; null while connections hold it open. */
  expiresInMs: number | null;
}

export interface ConnectionListing {
  flow: number;
  kind: 'epm' | 'mapped';
  rule: string;
  client: string;
  external: string;
  gateway: string;
  server: string;
  ageMs: number;
  idleMs: number;
  state: number;
}

export class Engine implements EpmLegHost, MappedLegHost {
  rules: CompiledRules;
  readonly flows: FlowTable;
  readonly mappings: MappingTable;
  readonly counters = new EngineCounters();
  readonly midstreamPickup: boolean;

  private readonly out: EngineOutput;
  private readonly events: EngineEvents;
  private readonly gwIp: number;
  private readonly maxHeldPerFlow: number;
  private readonly maxHeldTotal: number;
  private heldTotal = 0;
  /**
   * Tables store a rule *slot*, stable across reloads (by rule name), not the rule's position in
   * the file: a SIGHUP that reorders or adds rules keeps every mapping of the rules that remain.
   */
  private ruleBySlot: (CompiledRule | null)[] = [];
  private slotOfIndex = new Int32Array(0);
  private readonly slotOfName = new Map<string, number>();
  private readonly view = new PacketView();
  private readonly aheadView = new PacketView();
  private readonly conns = new Map<number, ConnState>();
  /** Live EPM connections per client address. */
  private readonly epmPerClient = new Map<number, number>();
  private epmConnections = 0;
  private readonly epmPool: ConnState[] = [];
  private readonly mappedPool: ConnState[] = [];
  /** New-mail notification registrations and encrypted-session pinholes. */
  readonly notify = new NotifyRelay();
  private readonly gwIpOf = (): number => this.gwIp;
  private lastTickMs = -1;
  private readonly rst = new Uint8Array(40);
  private readonly onFlowExpire: (id: number) => void;
  private readonly onMappingExpire: (id: number) => void;
  private readonly emitExternal: (pkt: Uint8Array, off: number, len: number) => void;
  private readonly emitInternal: (pkt: Uint8Array, off: number, len: number) => void;
  private nowMs = 0;

  // ---- a router's manners (MTU, ICMP) ----
  /** IP MTU by side. */
  private readonly mtu = new Int32Array(2);
  /**
   * Packets up to this long leave as they are, without a look at their connection: the smaller
   * MTU, or less once a connection's path is known to be narrower (pathLimit).
   */
  private fitLen = 0;
  /**
   * Learnt limits on a connection's packets one way, as an IP length: key flow * 2 + 1 toward the
   * server, flow * 2 toward the client. From a fragmentation-needed the gateway translated (the
   * path MTU) and from an MSS option below the MTU. Merged (GRO/TSO) frames are re-cut to it, as
   * the sender's own segmentation would have: cut to the interface MTU only, they would be too big
   * for the path again and again. Few entries: set only when smaller than the MTU.
   */
  private readonly pathLimit = new Map<number, number>();
  /** One segment at a time when a packet is cut to the egress MTU (segmentTcpV4). */
  private segScratch: Uint8Array;
  private segSide = 0;
  private readonly segSink: SegmentSink;
  /** Decodes what send() cannot forward, for the drop record. */
  private readonly sendView = new PacketView();
  private readonly quote = new IcmpQuoteView();
  private readonly icmpBuf = new Uint8Array(ICMP_ERROR_MAX);
  private icmpId = 0;
  /** Token bucket for generated ICMP errors: at most `icmpRate` a second, bursts of as many. */
  private readonly icmpRate: number;
  private icmpTokens: number;
  private icmpRefillMs = -1;

  // The packet being processed on the EPM leg, for patchStream().
  private curFlow = -1;
  private curStream: HeldStream | null = null;
  private curBuf: Uint8Array | null = null;
  private curView: PacketView | null = null;
  private curSeq = 0;

  constructor(opts: EngineOptions) {
    this.rules = opts.rules;
    this.out = opts.output;
    this.events = opts.events ?? NO_EVENTS;
    this.midstreamPickup = opts.midstreamPickup ?? false;
    const g = opts.rules.gateway;
    this.gwIp = g.internalIp;
    this.maxHeldPerFlow = g.limits.maxHeldBytesPerFlow;
    this.maxHeldTotal = g.limits.maxHeldBytesTotal;
    const seed = opts.seed ?? 0x2545f491;
    this.flows = new FlowTable({
      maxFlows: g.limits.maxFlows,
      seed,
      gwPortLo: g.natPortLo,
      gwPortHi: g.natPortHi,
      ...(opts.embryonicTimeoutMs !== undefined ? { embryonicTimeoutMs: opts.embryonicTimeoutMs } : {}),
      ...(opts.closeLingerMs !== undefined ? { closeLingerMs: opts.closeLingerMs } : {}),
    });
    this.mappings = new MappingTable({ maxMappings: g.limits.maxMappings, maxPerRule: g.limits.maxMappings, seed: (seed ^ 0x85ebca6b) >>> 0 });
    this.onFlowExpire = (id) => this.flowGone(id, this.flows.isClosed(id) ? closedReason(this.flows.state(id)) : 'idle');
    this.onMappingExpire = (id) => {
      this.counters.mappingsExpired++;
      this.events.mappingExpired(this.mappingRecord(id), this.nowMs);
    };
    this.assignSlots(opts.rules);
    this.emitExternal = (pkt, off, len) => this.send(SIDE_EXTERNAL, pkt, off, len);
    this.emitInternal = (pkt, off, len) => this.send(SIDE_INTERNAL, pkt, off, len);
    this.mtu[SIDE_EXTERNAL] = Math.max(MIN_MTU, opts.externalMtu ?? DEFAULT_MTU);
    this.mtu[SIDE_INTERNAL] = Math.max(MIN_MTU, opts.internalMtu ?? DEFAULT_MTU);
    this.fitLen = Math.min(this.mtu[0]!, this.mtu[1]!);
    this.segScratch = new Uint8Array(Math.max(this.mtu[0]!, this.mtu[1]!));
    this.segSink = { segment: (seg, len) => this.sendSegment(seg, len) };
    this.icmpRate = Math.max(0, opts.icmpRatePerSec ?? DEFAULT_ICMP_RATE_PER_SEC);
    this.icmpTokens = this.icmpRate;
  }

  /** One IPv4 packet (`buf[off]` is the IP header) that arrived on `side` at `nowMs`. */
  onPacket(side: number, buf: Uint8Array, off: number, len: number, nowMs: number): void {
    this.nowMs = nowMs;
    if (nowMs - this.lastTickMs >= 1000) this.tick(nowMs);
    const c = this.counters;
    c.packetsIn[side]!++;
    c.bytesIn[side]! += len;
    const v = this.view;
    if (readPacket(buf, off, len, LINKTYPE_RAW, v) !== OK) return this.drop(DROP_MALFORMED, side, v);
    if (v.ipVersion !== 4) return this.drop(DROP_NOT_IPV4, side, v);
    if (!ipv4HeaderChecksumOk(buf, v)) return this.drop(DROP_BAD_IP_CHECKSUM, side, v);
    if (v.isFragment) return this.drop(DROP_FRAGMENT, side, v);
    const proto = v.ipProto;
    if (proto === IPPROTO_ICMP) return this.icmpFrom(side, buf, off, v.ipTotalLen, v);
    const notification = proto === IPPROTO_UDP && side === SIDE_INTERNAL;
    if ((proto !== IPPROTO_TCP && !notification) || v.l4Off < 0) return this.drop(DROP_UNSUPPORTED_PROTOCOL, side, v);
    // Every segment is checked, pure ACKs and RSTs included: their ACK number moves what the
    // gateway remembers (released patches, where a RST must land) and a RST closes the
    // connection, so a corrupt one must not count. A partial checksum is completed here, before
    // any rewrite, so the incremental updates that follow start from a complete one.
    const cs = verifyL4ChecksumV4(buf, v);
    if (cs !== L4_CSUM_OK) {
      if (cs === L4_CSUM_BAD) return this.drop(DROP_BAD_CHECKSUM, side, v);
      if (cs === L4_CSUM_COMPLETED) c.checksumsCompleted++;
    }
    if (notification) return this.notificationDatagram(buf, off, v.ipTotalLen, v);
    if (side === SIDE_EXTERNAL) this.fromExternal(buf, off, v.ipTotalLen, v, nowMs);
    else this.fromInternal(buf, off, v.ipTotalLen, v, nowMs);
  }

  /** Expires connections and mappings whose time has come. Call at least once a second. */
  tick(nowMs: number): void {
    this.nowMs = nowMs;
    this.lastTickMs = nowMs;
    this.flows.tick(nowMs, this.onFlowExpire);
    this.mappings.tick(nowMs, this.onMappingExpire);
  }

  // ---- external side --------------------------------------------------------------------------

  private fromExternal(buf: Uint8Array, off: number, len: number, v: PacketView, nowMs: number): void {
    const flags = v.tcpFlags;
    const isSyn = (flags & (TCP_SYN | TCP_ACK)) === TCP_SYN;
    let flow = this.flows.lookupExternal(v.src4, v.srcPort, v.dst4, v.dstPort);
    if (flow >= 0 && isSyn && this.flows.isClosed(flow)) {
      // A new connection reusing the tuple of one that is lingering after close.
      this.flowGone(flow, 'closed');
      this.flows.remove(flow);
      flow = -1;
    }
    let opened = false;
    if (flow < 0) {
      flow = this.openFromExternal(v, isSyn, nowMs);
      if (flow < 0) return this.drop(-flow, SIDE_EXTERNAL, v);
      opened = true;
    }
    if (!this.forwardable(SIDE_EXTERNAL, buf, off, len, v, v.dst4)) {
      // A SYN that expires here never reached the server: it leaves no embryonic connection.
      if (opened) this.closeUnused(flow);
      return;
    }
    if ((flags & TCP_SYN) !== 0 && v.tcpMss > 0) this.limitPath(flow, false, v.tcpMss + TCP_IP_MIN_HDRS);
    this.flows.onPacket(flow, true, flags, v.payloadLen, nowMs);
    const fl = this.flows;
    setIpv4Src(buf, v, this.gwIp);
    setSrcPort(buf, v, fl.gwPort(flow));
    setIpv4Dst(buf, v, fl.serverIp(flow));
    setDstPort(buf, v, fl.serverPort(flow));
    this.streamPacket(flow, true, buf, off, len, v);
  }

  /** Opens a connection for a packet from a client; a negative drop reason if it may not. */
  private openFromExternal(v: PacketView, isSyn: boolean, nowMs: number): number {
    const pickup = !isSyn && this.midstreamPickup && (v.tcpFlags & (TCP_RST | TCP_FIN)) === 0;
    if (v.dstPort === EPM_PORT) {
      const r = selectRule(this.rules, v.dst4, v.src4);
      if (r < 0) return -(this.isExternalAddress(v.dst4) ? DROP_CLIENT_NOT_ALLOWED : DROP_NOT_FOR_GATEWAY);
      if (!isSyn && !pickup) return -DROP_NO_FLOW;
      if ((this.epmPerClient.get(v.src4) ?? 0) >= MAX_EPM_CONNECTIONS_PER_CLIENT || this.epmConnections >= MAX_EPM_CONNECTIONS) {
        return -DROP_EPM_CONNECTION_LIMIT;
      }
      const rule = this.rules.rules[r]!;
      const flow = this.flows.create(FLOW_EPM, this.slotOfIndex[r]!, -1, v.src4, v.srcPort, v.dst4, EPM_PORT, this.gwIp, rule.serverIp, EPM_PORT, nowMs, rule.idleTimeoutMs);
      if (flow < 0) return -(flow === FLOW_ERR_NO_GW_PORT ? DROP_NO_GATEWAY_PORT : DROP_FLOW_TABLE_FULL);
      const st = this.epmPool.pop() ?? this.newConnState(new EpmLeg(this, this.rules.gateway.limits.maxHeldBytesPerFlow), null);
      st.reset();
      st.epmLeg!.init(rule, v.dst4, pickup);
      this.conns.set(flow, st);
      this.epmPerClient.set(v.src4, (this.epmPerClient.get(v.src4) ?? 0) + 1);
      this.epmConnections++;
      this.opened(flow);
      return flow;
    }
    const m = this.mappings.lookup(v.src4, v.dst4, v.dstPort);
    if (m < 0) {
      if (ruleForMappedPort(this.rules, v.dst4, v.dstPort) >= 0) return -DROP_NO_PINHOLE;
      return -(this.isExternalAddress(v.dst4) ? DROP_PORT_NOT_PUBLISHED : DROP_NOT_FOR_GATEWAY);
    }
    if (!isSyn && !pickup) return -DROP_NO_FLOW;
    const slot = this.mappings.ruleIdx(m);
    const rule = this.ruleBySlot[slot]!;
    const flow = this.flows.create(
      FLOW_MAPPED, slot, m, v.src4, v.srcPort, v.dst4, v.dstPort, this.gwIp, this.mappings.serverIp(m), this.mappings.serverPort(m), nowMs, rule.idleTimeoutMs,
    );
    if (flow < 0) return -(flow === FLOW_ERR_NO_GW_PORT ? DROP_NO_GATEWAY_PORT : DROP_FLOW_TABLE_FULL);
    this.mappings.connOpened(m, nowMs);
    const st = this.mappedPool.pop() ?? this.newConnState(null, new MappedLeg(this, this.gwIpOf));
    st.reset();
    st.mappedLeg!.init(rule, pickup);
    this.conns.set(flow, st);
    this.opened(flow);
    return flow;
  }

  private isExternalAddress(ip: number): boolean {
    if (ip === this.rules.gateway.externalIp) return true;
    for (const r of this.rules.rules) if (r.enabled && r.externalIp === ip) return true;
    return false;
  }

  // ---- internal side --------------------------------------------------------------------------

  private fromInternal(buf: Uint8Array, off: number, len: number, v: PacketView, nowMs: number): void {
    const flow = this.flows.lookupInternal(v.src4, v.srcPort, v.dst4, v.dstPort);
    if (flow < 0) return this.drop(v.dst4 === this.gwIp ? DROP_NO_FLOW : DROP_NOT_FOR_GATEWAY, SIDE_INTERNAL, v);
    if (!this.forwardable(SIDE_INTERNAL, buf, off, len, v, this.gwIp)) return;
    if ((v.tcpFlags & TCP_SYN) !== 0 && v.tcpMss > 0) this.limitPath(flow, true, v.tcpMss + TCP_IP_MIN_HDRS);
    this.flows.onPacket(flow, false, v.tcpFlags, v.payloadLen, nowMs);
    const fl = this.flows;
    setIpv4Src(buf, v, fl.extIp(flow));
    setSrcPort(buf, v, fl.extPort(flow));
    setIpv4Dst(buf, v, fl.clientIp(flow));
    setDstPort(buf, v, fl.clientPort(flow));
    this.streamPacket(flow, false, buf, off, len, v);
  }

  // ---- the stream path (EPM leg and mapped-port policy) ---------------------------------------

  /** A translated packet of a connection: read, hold or forward, in sequence order. */
  private streamPacket(flow: number, fromClient: boolean, buf: Uint8Array, off: number, len: number, v: PacketView): void {
    const st = this.conns.get(flow)!;
    const out = fromClient ? st.toServer : st.toClient;
    if (st.refused) return this.drop(DROP_REFUSED_CONNECTION, fromClient ? SIDE_EXTERNAL : SIDE_INTERNAL, v);
    const flags = v.tcpFlags;
    // Inspected bytes are bytes the receiver accepts: onPacket dropped corrupt segments (else a
    // good retransmission would pass as "already inspected").
    if ((flags & TCP_ACK) !== 0) {
      if (fromClient) {
        st.clientExpects = v.tcpAck;
        st.clientAckSeen = true;
        st.s2c.acked(st.edits === null ? v.tcpAck : this.serverSideAck(st, v.tcpAck));
      } else {
        st.serverExpects = v.tcpAck;
        st.serverAckSeen = true;
        st.c2s.acked(v.tcpAck);
      }
    }
    const hs = fromClient ? st.c2s : st.s2c;
    if ((flags & TCP_SYN) !== 0) {
      hs.onSyn(v.tcpSeq);
      return out(buf, off, len);
    }
    if ((flags & TCP_RST) !== 0) {
      this.heldTotal -= hs.heldBytes + hs.aheadBytes;
      hs.dropAll();
      return out(buf, off, len);
    }
    if (!hs.synced) hs.startAt(this.pickupAnchor(st, fromClient, v.tcpSeq));
    const seqLen = v.payloadLen + ((flags & TCP_FIN) !== 0 ? 1 : 0);
    if (seqLen === 0) {
      // A pure ACK: it says nothing about this direction's bytes, so it never waits.
      return out(buf, off, len);
    }
    switch (hs.classify(v.tcpSeq, seqLen)) {
      case SEG_RETRANSMIT:
        if (!hs.reapply(buf, v, v.tcpSeq)) return this.drop(DROP_PATCH_FORGOTTEN, fromClient ? SIDE_EXTERNAL : SIDE_INTERNAL, v);
        return out(buf, off, len);
      case SEG_DUPLICATE_HELD:
        return this.drop(DROP_DUPLICATE, fromClient ? SIDE_EXTERNAL : SIDE_INTERNAL, v);
      case SEG_AHEAD:
        if (hs.heldBytes + hs.aheadBytes + len > this.maxHeldPerFlow || this.heldTotal + len > this.maxHeldTotal) {
          return this.drop(DROP_HOLD_LIMIT, fromClient ? SIDE_EXTERNAL : SIDE_INTERNAL, v);
        }
        if (hs.holdAhead(buf, off, len, v.tcpSeq, v.payloadOff, v.payloadLen)) this.heldTotal += len;
        else this.drop(DROP_DUPLICATE, fromClient ? SIDE_EXTERNAL : SIDE_INTERNAL, v);
        return;
      case SEG_IN_ORDER:
      case SEG_OVERLAP:
        this.inOrder(flow, st, fromClient, buf, off, len, v);
        this.drainAhead(flow, st, fromClient);
        return;
    }
  }

  /** A segment that starts at or before the next expected byte and brings new bytes. */
  private inOrder(flow: number, st: ConnState, fromClient: boolean, buf: Uint8Array, off: number, len: number, v: PacketView): void {
    const hs = fromClient ? st.c2s : st.s2c;
    const seq = v.tcpSeq;
    const skip = seqDiff(hs.nextSeq, seq);
    if (skip > 0 && !hs.reapply(buf, v, seq)) return this.drop(DROP_PATCH_FORGOTTEN, fromClient ? SIDE_EXTERNAL : SIDE_INTERNAL, v);
    this.curFlow = flow;
    this.curStream = hs;
    this.curBuf = buf;
    this.curView = v;
    this.curSeq = seq;
    const newBytes = v.payloadLen - Math.max(0, skip);
    const verdict = newBytes > 0 ? st.leg.feed(fromClient, buf, v.payloadOff + Math.max(0, skip), newBytes, seqAdd(seq, Math.max(0, skip))) : PASS;
    this.curBuf = null;
    this.curView = null;
    this.curStream = null;
    hs.nextSeq = seqAdd(seq, v.payloadLen + ((v.tcpFlags & TCP_FIN) !== 0 ? 1 : 0));
    if (verdict !== PASS) return this.refuse(flow, st, verdict, st.leg.refuseDetail);
    if (st.pendingReplace.length > 0) return this.emitReplaced(st, fromClient, buf, off, len, v);
    if (st.leg.midPdu(fromClient)) {
      if (hs.heldBytes + len > this.maxHeldPerFlow || this.heldTotal + len > this.maxHeldTotal) {
        return this.refuse(flow, st, REFUSE_HOLD_LIMIT, `more than ${this.maxHeldPerFlow} bytes held for one PDU`);
      }
      hs.hold(buf, off, len, seq, v.payloadOff, v.payloadLen);
      this.heldTotal += len;
      return;
    }
    this.heldTotal -= hs.heldBytes;
    const out = fromClient ? st.toServer : st.toClient;
    hs.release(out);
    out(buf, off, len);
  }

  /**
   * Where a stream picked up mid-flow starts. The other end's last ACK says which byte it expects
   * next, so a capture whose first segments of this direction arrive reordered is still read from
   * the right byte (the later segment waits as "ahead"). Without such an ACK, or when the ACK is
   * further from the segment than one flow may hold (bytes the capture missed), the first segment
   * seen starts the stream.
   */
  private pickupAnchor(st: ConnState, fromClient: boolean, seq: number): number {
    const ackSeen = fromClient ? st.serverAckSeen : st.clientAckSeen;
    if (!ackSeen) return seq;
    const expected = fromClient ? st.serverExpects : st.clientExpects;
    const gap = seqDiff(seq, expected);
    return gap >= 0 && gap <= this.maxHeldPerFlow ? expected : seq;
  }

  private newConnState(epmLeg: EpmLeg | null, mappedLeg: MappedLeg | null): ConnState {
    const st = new ConnState(epmLeg, mappedLeg);
    st.toClient = (pkt, off, len) => (st.edits === null ? this.send(SIDE_EXTERNAL, pkt, off, len) : this.shiftToClient(st, pkt, off, len));
    st.toServer = (pkt, off, len) => (st.edits === null ? this.send(SIDE_INTERNAL, pkt, off, len) : this.shiftToServer(st, pkt, off, len));
    return st;
  }

  // ---- length changes (ept_lookup, lookup: published) ---------------------------------------

  replaceStream(startSeq: number, endSeq: number, bytes: Uint8Array): void {
    const st = this.conns.get(this.curFlow);
    if (st !== undefined) st.pendingReplace.push({ start: startSeq, end: endSeq, bytes });
  }

  /**
   * The held server→client region [releasedSeq, end of this packet) goes out re-cut, with the
   * replaced calls in it (several when pipelined lookups were answered in one segment). The
   * bytes after the last replaced call belong to a PDU still being read: they stay held (as a
   * segment of their own) until it is decided. Later server sequence numbers (and the client's
   * ACKs) are shifted.
   */
  private emitReplaced(st: ConnState, fromClient: boolean, buf: Uint8Array, off: number, len: number, v: PacketView): void {
    const hs = st.s2c;
    const reps = st.pendingReplace;
    st.pendingReplace = [];
    const base = hs.releasedSeq;
    const curEnd = seqAdd(v.tcpSeq, v.payloadLen);
    const region = new Uint8Array(seqDiff(curEnd, base));
    for (const seg of hs.held) region.set(seg.pkt.subarray(seg.payloadOff, seg.payloadOff + seg.payloadLen), seqDiff(seg.seq, base));
    const skip = Math.max(0, seqDiff(base, v.tcpSeq)); // a part already released (overlap)
    region.set(buf.subarray(v.payloadOff + skip, v.payloadOff + v.payloadLen), seqDiff(v.tcpSeq, base) + skip);
    // New bytes for [base, lastEnd): unchanged stretches and replacements, in stream order.
    const pieces: Uint8Array[] = [];
    let at = base;
    let delta = st.edits?.[st.edits.length - 1]?.delta ?? 0;
    let newLen = 0;
    const edits: StreamEdit[] = [];
    for (const rep of reps) {
      if (seqDiff(rep.start, at) < 0 || seqDiff(rep.end, curEnd) > 0) continue; // not in this region: cannot happen
      const keep = region.subarray(seqDiff(at, base), seqDiff(rep.start, base));
      pieces.push(keep, rep.bytes);
      const newStart = seqAdd(base, (st.edits?.[st.edits.length - 1]?.delta ?? 0) + newLen + keep.length);
      newLen += keep.length + rep.bytes.length;
      delta += rep.bytes.length - seqDiff(rep.end, rep.start);
      edits.push({ oldStart: rep.start, oldEnd: rep.end, newStart, newEnd: seqAdd(newStart, rep.bytes.length), delta, sent: [] });
      at = rep.end;
    }
    const out = new Uint8Array(newLen);
    let o = 0;
    for (const p of pieces) {
      out.set(p, o);
      o += p.length;
    }
    // Re-cut with this packet's headers as the template (addresses already translated).
    const firstSeq = seqAdd(base, st.edits?.[st.edits.length - 1]?.delta ?? 0);
    const hdrLen = v.ipHdrLen + v.tcpHdrLen;
    const mss = Math.max(536, Math.min(1460, Math.max(v.payloadLen, 1200)));
    const sent: Uint8Array[] = [];
    for (let p = 0; p < out.length; p += mss) {
      const pkt = this.segmentFrom(buf, off, v, hdrLen, out.subarray(p, Math.min(out.length, p + mss)), seqAdd(firstSeq, p), p + mss >= out.length);
      sent.push(pkt);
      this.send(SIDE_EXTERNAL, pkt, 0, pkt.length);
    }
    for (const e of edits) e.sent = sent;
    this.heldTotal -= hs.heldBytes;
    hs.held.length = 0;
    hs.heldBytes = 0;
    hs.releasedSeq = at;
    (st.edits ??= []).push(...edits);
    while (st.edits.length > MAX_EDITS) st.edits.shift();
    // The rest of the packet (old numbering, from `at`) is the start of what follows.
    const tailLen = seqDiff(curEnd, at);
    const fin = (v.tcpFlags & TCP_FIN) !== 0;
    if (tailLen <= 0 && !fin) return;
    const tail = this.segmentFrom(buf, off, v, hdrLen, region.subarray(seqDiff(at, base)), at, true);
    if (st.leg.midPdu(fromClient)) {
      hs.hold(tail, 0, tail.length, at, hdrLen, tailLen);
      this.heldTotal += tail.length;
      return;
    }
    hs.releasedSeq = hs.nextSeq;
    st.toClient(tail, 0, tail.length);
  }

  /** A copy of `v`'s headers with `payload` at sequence `seq` (checksums computed). */
  private segmentFrom(buf: Uint8Array, off: number, v: PacketView, hdrLen: number, payload: Uint8Array, seq: number, last: boolean): Uint8Array {
    const pkt = new Uint8Array(hdrLen + payload.length);
    pkt.set(buf.subarray(off, off + hdrLen), 0);
    pkt.set(payload, hdrLen);
    pkt[2] = pkt.length >>> 8;
    pkt[3] = pkt.length & 0xff;
    const t = v.ipHdrLen;
    pkt[t + 4] = seq >>> 24;
    pkt[t + 5] = (seq >>> 16) & 0xff;
    pkt[t + 6] = (seq >>> 8) & 0xff;
    pkt[t + 7] = seq & 0xff;
    pkt[t + 13] = TCP_ACK | (last ? TCP_PSH_FLAG | (v.tcpFlags & TCP_FIN) : 0);
    finishIpv4Checksum(pkt, 0, v.ipHdrLen);
    finishTcpChecksumV4(pkt, 0, t, pkt.length - t);
    return pkt;
  }

  /** A server→client packet after a length change: its sequence number moves by the edits before it. */
  private shiftToClient(st: ConnState, pkt: Uint8Array, off: number, len: number): void {
    const t = off + ((pkt[off]! & 0x0f) << 2);
    const seq = ((pkt[t + 4]! << 24) | (pkt[t + 5]! << 16) | (pkt[t + 6]! << 8) | pkt[t + 7]!) >>> 0;
    const ipLen = (pkt[off + 2]! << 8) | pkt[off + 3]!;
    const payloadLen = ipLen - (t - off) - ((pkt[t + 12]! >>> 4) << 2);
    const end = seqAdd(seq, Math.max(0, payloadLen));
    const edits = st.edits!;
    for (const e of edits) {
      // Any byte of a replaced region: what the client must get again is what was sent instead.
      if (payloadLen > 0 && seqDiff(end, e.oldStart) > 0 && seqDiff(seq, e.oldEnd) < 0) {
        for (const p of e.sent) this.send(SIDE_EXTERNAL, p, 0, p.length);
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
    if (delta !== 0) writeSeqField(pkt, t + 4, seqAdd(seq, delta), t + 16);
    this.send(SIDE_EXTERNAL, pkt, off, len);
  }

  /**
   * The client-side numbering of a server sequence number on `flow` (where a client that saw the
   * gateway's stream would ACK). Replays of captures taken without a gateway use it to play the
   * client faithfully after a length change.
   */
  clientSideSeq(flow: number, serverSeq: number): number {
    const edits = this.conns.get(flow)?.edits;
    if (!edits) return serverSeq >>> 0;
    for (let i = edits.length - 1; i >= 0; i--) {
      const e = edits[i]!;
      if (seqDiff(serverSeq, e.oldEnd) >= 0) return seqAdd(serverSeq, e.delta);
      if (seqDiff(serverSeq, e.oldStart) > 0) return e.newEnd;
    }
    return serverSeq >>> 0;
  }

  /** A client ACK (client numbering) in the server's numbering, after length changes. */
  private serverSideAck(st: ConnState, ack: number): number {
    const edits = st.edits!;
    for (let i = edits.length - 1; i >= 0; i--) {
      const e = edits[i]!;
      if (seqDiff(ack, e.newEnd) >= 0) return seqAdd(ack, -e.delta);
      if (seqDiff(ack, e.newStart) >= 0) return e.oldStart; // part of the new bytes: none of the replaced ones yet
    }
    return ack >>> 0;
  }

  /** A client→server packet after a length change: its ACK goes back to the server's numbering. */
  private shiftToServer(st: ConnState, pkt: Uint8Array, off: number, len: number): void {
    const t = off + ((pkt[off]! & 0x0f) << 2);
    if ((pkt[t + 13]! & TCP_ACK) !== 0) {
      const ack = ((pkt[t + 8]! << 24) | (pkt[t + 9]! << 16) | (pkt[t + 10]! << 8) | pkt[t + 11]!) >>> 0;
      const old = this.serverSideAck(st, ack);
      if (old !== ack) writeSeqField(pkt, t + 8, old, t + 16);
      // SACK blocks are in the client's numbering: blank them (NOPs) rather than mislead the server.
      nopSackOptions(pkt, off, t);
    }
    this.send(SIDE_INTERNAL, pkt, off, len);
  }

  /** Out-of-order segments that the last one made contiguous. */
  private drainAhead(flow: number, st: ConnState, fromClient: boolean): void {
    const hs = fromClient ? st.c2s : st.s2c;
    for (let seg = hs.takeReadyAhead(); seg !== null && !st.refused; seg = hs.takeReadyAhead()) {
      this.heldTotal -= seg.pkt.length;
      const v = this.aheadView;
      if (readPacket(seg.pkt, 0, seg.pkt.length, LINKTYPE_RAW, v) !== OK) continue;
      const end = seqAdd(seg.seq, seg.payloadLen);
      if (seqDiff(end, hs.nextSeq) <= 0) continue; // wholly covered by what came since
      this.inOrder(flow, st, fromClient, seg.pkt, 0, seg.pkt.length, v);
    }
  }

  /** Resets both ends of an EPM connection whose PDU was refused, and logs why. */
  private refuse(flow: number, st: ConnState, code: number, detail: string): void {
    st.refused = true;
    this.heldTotal -= st.c2s.heldBytes + st.c2s.aheadBytes + st.s2c.heldBytes + st.s2c.aheadBytes;
    st.c2s.dropAll();
    st.s2c.dropAll();
    this.counters.drops[code]!++;
    const fl = this.flows;
    // To the client, as if from E:135; to the server, as if from G:gp — each at the sequence
    // number that end expects next (the ACK it last sent the other way).
    const toClientSeq = st.clientAckSeen ? st.clientExpects : st.s2c.releasedSeq;
    const toServerSeq = st.serverAckSeen ? st.serverExpects : st.c2s.releasedSeq;
    this.sendRst(SIDE_EXTERNAL, fl.extIp(flow), fl.extPort(flow), fl.clientIp(flow), fl.clientPort(flow), toClientSeq);
    this.sendRst(SIDE_INTERNAL, this.gwIp, fl.gwPort(flow), fl.serverIp(flow), fl.serverPort(flow), toServerSeq);
    fl.onPacket(flow, true, TCP_RST, 0, this.nowMs);
    const rule = this.ruleBySlot[fl.ruleIdx(flow)]!;
    this.events.connectionRefused(
      {
        flow, rule: rule.name, client: `${ipv4ToString(fl.clientIp(flow))}:${fl.clientPort(flow)}`,
        server: `${ipv4ToString(fl.serverIp(flow))}:${fl.serverPort(flow)}`, reason: REASON_NAMES[code] ?? String(code), detail,
        interface: st.leg.lastInterface,
      },
      this.nowMs,
    );
  }

  private sendRst(side: number, src: number, sport: number, dst: number, dport: number, seq: number): void {
    const b = this.rst;
    writeIpv4Header(b, 0, { src, dst, proto: IPPROTO_TCP, totalLen: 40, ttl: 64, id: 0, dontFragment: true });
    writeTcpHeader(b, 20, { srcPort: sport, dstPort: dport, seq: seq >>> 0, ack: 0, flags: TCP_RST, window: 0 });
    finishTcpChecksumV4(b, 0, 20, 20);
    this.counters.resetsSent++;
    this.send(side, b, 0, 40);
  }

  // ---- EpmLegHost -----------------------------------------------------------------------------

  patchStream(seq: number, bytes: Uint8Array, off: number, n: number): void {
    this.curStream?.patch(seq, bytes, off, n, this.curBuf, this.curView, this.curSeq);
  }

  acquireMapping(serverIp: number, serverPort: number): number {
    const flow = this.curFlow;
    const fl = this.flows;
    const slot = fl.ruleIdx(flow);
    const rule = this.ruleBySlot[slot]!;
    const before = this.mappings.count;
    const id = this.mappings.acquire(
      slot, rule.portLo, rule.portHi, rule.maxMappingsPerClient, fl.clientIp(flow), fl.extIp(flow), serverIp, serverPort, this.nowMs, rule.pinholeTimeoutMs,
    );
    if (id < 0) return id;
    if (this.mappings.count > before) {
      this.counters.mappingsCreated++;
      this.events.mappingCreated(this.mappingRecord(id), this.nowMs);
    }
    this.lastMapping = id;
    return this.mappings.extPort(id);
  }

  private lastMapping = -1;

  // ---- MappedLegHost: new-mail notifications --------------------------------------------------

  registerNotification(clientPort: number): number {
    const fl = this.flows;
    const flow = this.curFlow;
    const rule = this.ruleBySlot[fl.ruleIdx(flow)]!;
    const g = this.rules.gateway;
    const port = this.notify.register(flow, fl.clientIp(flow), clientPort, fl.serverIp(flow), fl.extIp(flow), g.notifyRelayLo, g.notifyRelayHi);
    // A failure is reported by the leg (registrationNotRewritten), once.
    if (port >= 0) {
      this.events.notification(
        {
          flow, rule: rule.name, client: `${ipv4ToString(fl.clientIp(flow))}:${clientPort}`, server: ipv4ToString(fl.serverIp(flow)),
          action: 'rewritten', relay: `${ipv4ToString(this.gwIp)}:${port}`, detail: '',
        },
        this.nowMs,
      );
    }
    return port;
  }

  encryptedRegistration(pinhole: boolean): void {
    const fl = this.flows;
    const flow = this.curFlow;
    const rule = this.ruleBySlot[fl.ruleIdx(flow)]!;
    if (pinhole) this.notify.openPinhole(flow, fl.clientIp(flow), fl.serverIp(flow), fl.extIp(flow), rule.notifyPortLo, rule.notifyPortHi);
    this.events.notification(
      {
        flow, rule: rule.name, client: ipv4ToString(fl.clientIp(flow)), server: ipv4ToString(fl.serverIp(flow)), action: pinhole ? 'pinhole' : 'dropped', relay: '',
        detail: pinhole
          ? `encrypted registration: UDP from the server to the client on ports ${rule.notifyPortLo}-${rule.notifyPortHi} allowed while the session lives`
          : 'encrypted registration cannot be rewritten; the client falls back to polling (notificationsWhenEncrypted: drop)',
      },
      this.nowMs,
    );
  }

  registrationNotRewritten(why: string): void {
    const fl = this.flows;
    const flow = this.curFlow;
    this.events.notification(
      { flow, rule: this.ruleBySlot[fl.ruleIdx(flow)]!.name, client: ipv4ToString(fl.clientIp(flow)), server: ipv4ToString(fl.serverIp(flow)), action: 'not-rewritten', relay: '', detail: why },
      this.nowMs,
    );
  }

  /** A UDP datagram from the internal side: a server's new-mail notification, or nothing for us. */
  private notificationDatagram(buf: Uint8Array, off: number, len: number, v: PacketView): void {
    if (v.dst4 === this.gwIp) {
      const id = this.notify.lookup(v.dstPort);
      if (id < 0) return this.drop(DROP_NO_NOTIFICATION, SIDE_INTERNAL, v);
      if (this.notify.serverIp(id) !== v.src4) return this.drop(DROP_NO_PINHOLE, SIDE_INTERNAL, v); // only that server
      if (!this.forwardable(SIDE_INTERNAL, buf, off, len, v, this.gwIp)) return;
      setIpv4Src(buf, v, this.notify.extIp(id));
      setIpv4Dst(buf, v, this.notify.clientIp(id));
      setDstPort(buf, v, this.notify.clientPort(id));
      this.counters.notificationsRelayed++;
      return this.send(SIDE_EXTERNAL, buf, off, len);
    }
    const ph = this.notify.pinhole(v.dst4, v.src4);
    if (ph === undefined || v.dstPort < ph.lo || v.dstPort > ph.hi) return this.drop(DROP_NO_NOTIFICATION, SIDE_INTERNAL, v);
    if (!this.forwardable(SIDE_INTERNAL, buf, off, len, v, this.gwIp)) return;
    setIpv4Src(buf, v, ph.extIp);
    this.counters.notificationsRelayed++;
    return this.send(SIDE_EXTERNAL, buf, off, len);
  }

  towerRewritten(opnum: number, buf: Uint8Array, t: TowerView, newIp: number, newPort: number): void {
    this.counters.rewrites++;
    const flow = this.curFlow;
    const fl = this.flows;
    this.events.towerRewritten(
      {
        flow, rule: this.ruleBySlot[fl.ruleIdx(flow)]?.name ?? '', client: ipv4ToString(fl.clientIp(flow)),
        op: opnum === EPT_MAP ? 'ept_map' : 'ept_lookup', interface: towerUuidToString(buf, t.ifUuidOff), version: `${t.ifMajor}.${t.ifMinor}`,
        original: `${ipv4ToString(t.ipv4)}:${t.port}`, rewritten: `${ipv4ToString(newIp)}:${newPort}`, mapping: this.lastMapping,
      },
      this.nowMs,
    );
  }

  // ---- bookkeeping ----------------------------------------------------------------------------

  private send(side: number, pkt: Uint8Array, off: number, len: number): void {
    if (len > this.fitLen) return this.sendLong(side, pkt, off, len);
    this.counters.packetsOut[side]!++;
    this.counters.bytesOut[side]! += len;
    this.out.emit(side, pkt, off, len);
  }

  // ---- a router's manners: TTL, MTU, ICMP -----------------------------------------------------

  /**
   * A router's checks on a packet about to be forwarded from `side`, in Linux's ip_forward order
   * and before any rewrite, so that an error quotes the packet as it was received: the TTL, then
   * DF against the egress MTU; then the TTL is decremented. A packet longer than the MTU it came
   * in by is not a datagram anyone sent but an offload merge (GRO, a neighbour's TSO): send()
   * re-segments it. False when the packet was dropped (and answered from `local`, the gateway's
   * address on the arrival side).
   */
  private forwardable(side: number, buf: Uint8Array, off: number, len: number, v: PacketView, local: number): boolean {
    if (v.ttl <= 1) {
      this.drop(DROP_TTL_EXCEEDED, side, v);
      this.sendIcmpError(side, local, ICMP_TIME_EXCEEDED, ICMP_CODE_TTL_EXCEEDED, 0, buf, off, len);
      return false;
    }
    const egressMtu = this.mtu[side ^ 1]!;
    if (len > egressMtu && len <= this.mtu[side]! && (buf[off + 6]! & IP_FLAG_DF_BYTE) !== 0) {
      this.drop(DROP_TOO_BIG, side, v);
      this.sendIcmpError(side, local, ICMP_DEST_UNREACH, ICMP_CODE_FRAG_NEEDED, egressMtu, buf, off, len);
      return false;
    }
    decrementTtl(buf, v);
    return true;
  }

  /** An ICMP error from `src` to the sender of `orig`, back out on `side`, within the rate limit. */
  private sendIcmpError(side: number, src: number, type: number, code: number, mtu: number, orig: Uint8Array, off: number, len: number): void {
    const dst = ((orig[off + 12]! << 24) | (orig[off + 13]! << 16) | (orig[off + 14]! << 8) | orig[off + 15]!) >>> 0;
    // Not to "this network", multicast or broadcast sources (RFC 1812 4.3.2.7).
    if (dst === 0 || dst >>> 28 === 0xe || dst === 0xffffffff) return;
    if (!this.icmpToken()) {
      this.counters.icmpRateLimited++;
      return;
    }
    this.icmpId = (this.icmpId + 1) & 0xffff;
    const n = writeIcmpError(this.icmpBuf, 0, src, dst, type, code, mtu, this.icmpId, orig, off, len);
    this.counters.icmpErrorsSent++;
    this.send(side, this.icmpBuf, 0, n);
  }

  /** Token bucket on the packets' clock: `icmpRate` tokens a second, at most `icmpRate` saved. */
  private icmpToken(): boolean {
    const elapsed = this.icmpRefillMs < 0 ? 0 : this.nowMs - this.icmpRefillMs;
    if (elapsed > 0) this.icmpTokens = Math.min(this.icmpRate, this.icmpTokens + (elapsed * this.icmpRate) / 1000);
    this.icmpRefillMs = this.nowMs;
    if (this.icmpTokens < 1) return false;
    this.icmpTokens--;
    return true;
  }

  /**
   * An ICMP error about a packet of a carried connection, translated both ways (RFC 5508): from
   * inside it quotes G:gp → S:Q and goes to the client from E, quoting client:cp → E:P; from
   * outside it quotes E:P → client:cp and goes to the server from G, quoting S:Q → G:gp. The
   * next-hop MTU of fragmentation-needed is kept, so Path MTU discovery works end to end.
   */
  private icmpFrom(side: number, buf: Uint8Array, off: number, len: number, v: PacketView): void {
    const q = this.quote;
    if (readIcmpError(buf, v.l4Off, v.l4Len, q) !== OK || q.proto !== IPPROTO_TCP) return this.drop(DROP_ICMP_NOT_TRANSLATED, side, v);
    if (!icmpChecksumOk(buf, v.l4Off, v.l4Len)) return this.drop(DROP_BAD_CHECKSUM, side, v);
    const fl = this.flows;
    let flow = -1;
    if (side === SIDE_INTERNAL) {
      if (v.dst4 === this.gwIp) flow = fl.lookupInternal(q.dst4, q.dstPort, q.src4, q.srcPort);
    } else {
      flow = fl.lookupExternal(q.dst4, q.dstPort, q.src4, q.srcPort);
      if (flow >= 0 && fl.extIp(flow) !== v.dst4) flow = -1;
    }
    if (flow < 0) return this.drop(DROP_ICMP_NO_FLOW, side, v);
    // An ICMP error is never answered with one (RFC 1812 4.3.2.7): an expiring one is just dropped.
    if (v.ttl <= 1) return this.drop(DROP_TTL_EXCEEDED, side, v);
    decrementTtl(buf, v);
    if (side === SIDE_INTERNAL) {
      setIpv4Src(buf, v, fl.extIp(flow));
      setIpv4Dst(buf, v, fl.clientIp(flow));
      rewriteIcmpQuote(buf, q, 0, fl.clientIp(flow), fl.clientPort(flow));
      rewriteIcmpQuote(buf, q, 1, fl.extIp(flow), fl.extPort(flow));
    } else {
      setIpv4Src(buf, v, this.gwIp);
      setIpv4Dst(buf, v, fl.serverIp(flow));
      rewriteIcmpQuote(buf, q, 0, fl.serverIp(flow), fl.serverPort(flow));
      rewriteIcmpQuote(buf, q, 1, this.gwIp, fl.gwPort(flow));
      // After a length change (lookup: published) the server numbers its bytes differently.
      const st = this.conns.get(flow);
      if (st !== undefined && st.edits !== null) {
        const at = q.l4Off + 4;
        rewriteIcmpQuoteSeq(buf, q, this.serverSideAck(st, ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0));
      }
    }
    finishIcmpChecksum(buf, v.l4Off, v.l4Len);
    if (q.type === ICMP_DEST_UNREACH && q.code === ICMP_CODE_FRAG_NEEDED) {
      const at = v.l4Off + ICMP_OFF_MTU;
      this.limitPath(flow, side === SIDE_INTERNAL, (buf[at]! << 8) | buf[at + 1]!);
    }
    this.counters.icmpTranslated++;
    this.send(side ^ 1, buf, off, len);
  }

  /** A side's interface MTU changed (the live dataplane re-reads it every second). */
  setMtu(side: number, mtu: number): void {
    mtu = Math.max(MIN_MTU, mtu | 0);
    if (this.mtu[side] === mtu) return;
    this.mtu[side] = mtu;
    if (mtu > this.segScratch.length) this.segScratch = new Uint8Array(mtu);
    let fit = Math.min(this.mtu[0]!, this.mtu[1]!);
    for (const l of this.pathLimit.values()) fit = Math.min(fit, l);
    this.fitLen = fit;
  }

  /** The IP MTU the engine uses for a side. */
  mtuOf(side: number): number {
    return this.mtu[side]!;
  }

  /** Records that packets of `flow` toward the server (or the client) must not exceed `ipLen`. */
  private limitPath(flow: number, toServer: boolean, ipLen: number): void {
    // Below 68 (or 0: a router too old to say, RFC 1191) there is nothing usable to learn.
    if (ipLen < MIN_MTU || ipLen >= this.mtu[toServer ? SIDE_INTERNAL : SIDE_EXTERNAL]!) return;
    const key = flow * 2 + (toServer ? 1 : 0);
    const known = this.pathLimit.get(key);
    if (known !== undefined && known <= ipLen) return;
    this.pathLimit.set(key, ipLen);
    if (ipLen < this.fitLen) this.fitLen = ipLen;
  }

  /**
   * A packet longer than the smaller MTU (or a learnt path limit): TCP longer than what its
   * connection's way out allows is cut into segments that fit; other protocols that do not fit
   * are dropped.
   */
  private sendLong(side: number, pkt: Uint8Array, off: number, len: number): void {
    let limit = this.mtu[side]!;
    const v = this.sendView;
    if (this.pathLimit.size > 0 && readPacket(pkt, off, len, LINKTYPE_RAW, v) === OK && v.ipProto === IPPROTO_TCP && v.l4Off >= 0) {
      const toServer = side === SIDE_INTERNAL;
      const flow = toServer ? this.flows.lookupInternal(v.dst4, v.dstPort, v.src4, v.srcPort) : this.flows.lookupExternal(v.dst4, v.dstPort, v.src4, v.srcPort);
      const learnt = flow >= 0 ? this.pathLimit.get(flow * 2 + (toServer ? 1 : 0)) : undefined;
      if (learnt !== undefined && learnt < limit) limit = learnt;
    }
    if (len <= limit) {
      this.counters.packetsOut[side]!++;
      this.counters.bytesOut[side]! += len;
      this.out.emit(side, pkt, off, len);
      return;
    }
    this.segSide = side;
    if (segmentTcpV4(pkt, off, len, limit, this.segScratch, this.segSink) > 0) {
      this.counters.packetsSegmented++;
      return;
    }
    readPacket(pkt, off, len, LINKTYPE_RAW, v);
    this.drop(DROP_OVERSIZE, side ^ 1, v);
  }

  private sendSegment(seg: Uint8Array, len: number): void {
    const side = this.segSide;
    this.counters.segmentsOut++;
    this.counters.packetsOut[side]!++;
    this.counters.bytesOut[side]! += len;
    this.out.emit(side, seg, 0, len);
  }

  private drop(reason: number, side: number, v: PacketView): void {
    this.counters.drops[reason]!++;
    this.events.packetDropped(reason, side, v, this.nowMs);
  }

  private opened(flow: number): void {
    this.counters.connectionsOpened++;
    if (this.events === NO_EVENTS) return;
    this.events.connectionOpened(this.connectionRecord(flow), this.nowMs);
  }

  /** A connection leaves the table: release its EPM state and its hold on the mapping. */
  /** A connection this very packet opened and that never carried it (its SYN expired here). */
  private closeUnused(flow: number): void {
    this.flowGone(flow, 'ttl-exceeded');
    this.flows.remove(flow);
  }

  private flowGone(flow: number, reason: 'closed' | 'reset' | 'idle' | 'refused' | 'flushed' | 'ttl-exceeded'): void {
    const fl = this.flows;
    this.counters.connectionsClosed++;
    const st = this.conns.get(flow);
    if (st !== undefined) {
      this.heldTotal -= st.c2s.heldBytes + st.c2s.aheadBytes + st.s2c.heldBytes + st.s2c.aheadBytes;
      st.c2s.dropAll();
      st.s2c.dropAll();
      this.conns.delete(flow);
      (st.epmLeg ? this.epmPool : this.mappedPool).push(st);
      if (st.epmLeg) {
        this.epmConnections--;
        const c = fl.clientIp(flow);
        const n = (this.epmPerClient.get(c) ?? 1) - 1;
        if (n > 0) this.epmPerClient.set(c, n);
        else this.epmPerClient.delete(c);
      }
      if (st.refused) reason = 'refused';
    }
    this.notify.removeFlow(flow);
    if (this.pathLimit.size > 0) {
      this.pathLimit.delete(flow * 2);
      this.pathLimit.delete(flow * 2 + 1);
      if (this.pathLimit.size === 0) this.fitLen = Math.min(this.mtu[0]!, this.mtu[1]!);
    }
    const m = fl.mappingIdx(flow);
    if (m >= 0 && this.mappings.isLive(m)) this.mappings.connClosed(m, this.nowMs);
    if (this.events === NO_EVENTS) return; // records cost strings; build them only for a listener
    this.events.connectionClosed(
      {
        ...this.connectionRecord(flow), reason,
        packetsFromClient: fl.packetsFromClient(flow), bytesFromClient: fl.bytesFromClient(flow),
        packetsFromServer: fl.packetsFromServer(flow), bytesFromServer: fl.bytesFromServer(flow),
        durationMs: this.nowMs - fl.createdMs(flow),
      },
      this.nowMs,
    );
  }

  private connectionRecord(flow: number): import('./events.js').ConnectionRecord {
    const fl = this.flows;
    const m = fl.mappingIdx(flow);
    return {
      flow, kind: fl.kind(flow) === FLOW_EPM ? 'epm' : 'mapped', rule: this.ruleBySlot[fl.ruleIdx(flow)]?.name ?? '',
      client: `${ipv4ToString(fl.clientIp(flow))}:${fl.clientPort(flow)}`, external: `${ipv4ToString(fl.extIp(flow))}:${fl.extPort(flow)}`,
      gateway: `${ipv4ToString(fl.gwIp(flow))}:${fl.gwPort(flow)}`, server: `${ipv4ToString(fl.serverIp(flow))}:${fl.serverPort(flow)}`,
      ...(m >= 0 ? { mapping: m } : {}),
    };
  }

  private mappingRecord(id: number): import('./events.js').MappingRecord {
    const m = this.mappings;
    return {
      mapping: id, rule: this.ruleBySlot[m.ruleIdx(id)]?.name ?? '', client: ipv4ToString(m.clientIp(id)),
      external: `${ipv4ToString(m.extIp(id))}:${m.extPort(id)}`, server: `${ipv4ToString(m.serverIp(id))}:${m.serverPort(id)}`,
    };
  }

  /** The rule a flow belongs to. */
  ruleOf(flow: number): CompiledRule {
    return this.ruleBySlot[this.flows.ruleIdx(flow)]!;
  }

  // ---- administration (reload, flush, listings) ---------------------------------------------

  /** Gives every rule of `rules` a slot: its old one if the name existed, else a free one. */
  private assignSlots(rules: CompiledRules): Set<number> {
    const kept = new Set<number>();
    this.slotOfIndex = new Int32Array(rules.rules.length);
    for (const r of rules.rules) {
      let slot = this.slotOfName.get(r.name);
      if (slot === undefined) {
        slot = this.ruleBySlot.findIndex((x, i) => x === null && !kept.has(i));
        if (slot < 0) slot = this.ruleBySlot.length;
        this.slotOfName.set(r.name, slot);
      }
      this.ruleBySlot[slot] = r;
      this.slotOfIndex[r.index] = slot;
      kept.add(slot);
    }
    return kept;
  }

  /**
   * New rules in force. Mappings and connections of rules that still exist (by name) survive;
   * those of removed rules are closed. The gateway section must not change (the caller checks:
   * interfaces and addresses are what capture and the kernel guard were set up for).
   */
  reload(rules: CompiledRules, nowMs: number): { removedRules: string[]; closedConnections: number; removedMappings: number } {
    this.nowMs = nowMs;
    const oldNames = new Map(this.slotOfName);
    this.rules = rules;
    const kept = this.assignSlots(rules);
    const removedRules: string[] = [];
    let closedConnections = 0;
    let removedMappings = 0;
    for (const [name, slot] of oldNames) {
      if (kept.has(slot)) continue;
      removedRules.push(name);
      const r = this.flush(name, -1);
      closedConnections += r.connections;
      removedMappings += r.mappings;
      this.slotOfName.delete(name);
      this.ruleBySlot[slot] = null;
    }
    for (const [flow, st] of this.conns) st.setRule(this.ruleBySlot[this.flows.ruleIdx(flow)]!);
    return { removedRules, closedConnections, removedMappings };
  }

  /** Removes the mappings and connections of a rule and/or a client (`rpcgw flush`). */
  flush(ruleName: string | null, clientIp: number): { mappings: number; connections: number } {
    let slot = -1;
    if (ruleName !== null) {
      const s = this.slotOfName.get(ruleName);
      if (s === undefined) return { mappings: 0, connections: 0 };
      slot = s;
    }
    const victims: number[] = [];
    this.flows.forEach((id) => {
      if ((slot < 0 || this.flows.ruleIdx(id) === slot) && (clientIp < 0 || this.flows.clientIp(id) === clientIp >>> 0)) victims.push(id);
    });
    for (const id of victims) {
      this.flowGone(id, 'flushed');
      this.flows.remove(id);
    }
    const mappings = this.mappings.removeWhere(slot, clientIp < 0 ? -1 : clientIp >>> 0);
    return { mappings, connections: victims.length };
  }

  listMappings(nowMs: number): MappingListing[] {
    const m = this.mappings;
    const out: MappingListing[] = [];
    m.forEach((id) => {
      const exp = m.expiresAtMs(id);
      out.push({
        ...this.mappingRecord(id), ageMs: nowMs - m.createdMs(id), idleMs: nowMs - m.lastActivityMs(id), connections: m.connCount(id),
        expiresInMs: exp < 0 ? null : Math.max(0, exp - nowMs),
      });
    });
    return out;
  }

  listConnections(nowMs: number): ConnectionListing[] {
    const fl = this.flows;
    const out: ConnectionListing[] = [];
    fl.forEach((id) => {
      const r = this.connectionRecord(id);
      out.push({
        flow: id, kind: r.kind, rule: r.rule, client: r.client, external: r.external, gateway: r.gateway, server: r.server,
        ageMs: nowMs - fl.createdMs(id), idleMs: nowMs - fl.lastSeenMs(id), state: fl.state(id),
      });
    });
    return out;
  }

  // ---- state snapshot (daemon restart) ------------------------------------------------------

  /**
   * The pinholes and the connections that can be carried on, as plain data (snapshot.ts). A
   * connection is carried only between PDUs with nothing held, established and not closing;
   * the others are counted in `left` by reason.
   */
  snapshot(nowMs: number): EngineSnapshot {
    const fl = this.flows;
    const m = this.mappings;
    const mappings: MappingSnapshot[] = [];
    m.forEach((id) => {
      mappings.push({
        id, rule: this.ruleBySlot[m.ruleIdx(id)]?.name ?? '', client: ipv4ToString(m.clientIp(id)), external: endpointString(m.extIp(id), m.extPort(id)),
        server: endpointString(m.serverIp(id), m.serverPort(id)), createdMs: m.createdMs(id), lastActivityMs: m.lastActivityMs(id),
      });
    });
    const connections: ConnectionSnapshot[] = [];
    const left: Record<string, number> = {};
    const leave = (why: string): void => void (left[why] = (left[why] ?? 0) + 1);
    fl.forEach((id) => {
      const st = this.conns.get(id);
      const rule = this.ruleBySlot[fl.ruleIdx(id)];
      if (st === undefined || rule === undefined || rule === null) return leave('no-state');
      if (st.refused) return leave('refused');
      if (fl.isClosed(id)) return leave('closing');
      if (!fl.isEstablished(id)) return leave('embryonic');
      const boundary = st.epmLeg !== null ? st.epmLeg.atPduBoundary() : st.mappedLeg!.atPduBoundary();
      if (!st.c2s.idle || !st.s2c.idle || !boundary || st.pendingReplace.length > 0) return leave('mid-pdu');
      connections.push({
        kind: st.epmLeg !== null ? 'epm' : 'mapped', rule: rule.name, mapping: fl.mappingIdx(id),
        client: endpointString(fl.clientIp(id), fl.clientPort(id)), external: endpointString(fl.extIp(id), fl.extPort(id)),
        gateway: endpointString(fl.gwIp(id), fl.gwPort(id)), server: endpointString(fl.serverIp(id), fl.serverPort(id)),
        state: fl.state(id), createdMs: fl.createdMs(id), lastSeenMs: fl.lastSeenMs(id),
        counts: [fl.packetsFromClient(id), fl.bytesFromClient(id), fl.packetsFromServer(id), fl.bytesFromServer(id)],
        c2s: st.c2s.exportState(), s2c: st.s2c.exportState(), clientExpects: st.clientExpects >>> 0, serverExpects: st.serverExpects >>> 0,
        clientAckSeen: st.clientAckSeen, serverAckSeen: st.serverAckSeen,
        edits: (st.edits ?? []).map((e) => ({ oldStart: e.oldStart >>> 0, oldEnd: e.oldEnd >>> 0, newStart: e.newStart >>> 0, newEnd: e.newEnd >>> 0, delta: e.delta, sent: e.sent.map(hex) })),
        epm: st.epmLeg?.exportState() ?? null, mapped: st.mappedLeg?.exportState() ?? null,
        notifications: this.notify.registrationsOf(id), notifyPinhole: this.notify.hasPinhole(id),
      });
    });
    const g = this.rules.gateway;
    return {
      format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, createdMs: nowMs, gateway: { external: ipv4ToString(g.externalIp), internal: ipv4ToString(g.internalIp) },
      rules: this.rules.rules.map((r) => r.name), mappings, connections, left,
    };
  }

  /**
   * Loads a snapshot into this (empty) engine. Entries whose rule is gone (by name) or whose
   * translation no longer matches the rule, expired ones, and ones that do not read are skipped
   * and counted. A snapshot of other gateway addresses, older than `maxAgeMs`, or made for a
   * non-empty engine is refused as a whole. Never throws on the snapshot's content.
   */
  restore(snap: EngineSnapshot, nowMs: number, maxAgeMs: number): RestoreResult {
    const top = checkSnapshot(snap);
    if (!top.ok) return top;
    const g = this.rules.gateway;
    if (snap.gateway.external !== ipv4ToString(g.externalIp) || snap.gateway.internal !== ipv4ToString(g.internalIp)) {
      return { ok: false, error: `state of another gateway (external ${snap.gateway.external}, internal ${snap.gateway.internal})` };
    }
    if (nowMs - snap.createdMs > maxAgeMs) return { ok: false, error: `stale state: saved ${Math.round((nowMs - snap.createdMs) / 1000)} s ago, more than ${Math.round(maxAgeMs / 1000)} s` };
    if (this.flows.count > 0 || this.mappings.count > 0) return { ok: false, error: 'the engine already has state' };
    this.nowMs = nowMs;
    const skipped: Record<string, number> = {};
    const skip = (why: string): void => void (skipped[why] = (skipped[why] ?? 0) + 1);
    const ruleNamed = (name: string): { slot: number; rule: CompiledRule } | null => {
      const slot = this.slotOfName.get(name);
      const rule = slot === undefined ? null : this.ruleBySlot[slot];
      return slot === undefined || rule === null || rule === undefined || !rule.enabled ? null : { slot, rule };
    };
    const entries = snap.connections.map(readConnectionEntry);
    const inUse = new Set<number>();
    for (const c of entries) if (c !== null && c.mapped) inUse.add(c.mapping);
    const mappingOf = new Map<number, number>();
    let mappings = 0;
    for (const x of snap.mappings) {
      const e = readMappingEntry(x);
      if (e === null) {
        skip('unreadable');
        continue;
      }
      const r = ruleNamed(e.rule);
      if (r === null) {
        skip('rule-gone');
        continue;
      }
      if (e.serverIp !== r.rule.serverIp || e.extIp !== r.rule.externalIp || e.extPort < r.rule.portLo || e.extPort > r.rule.portHi) {
        skip('translation-changed');
        continue;
      }
      if (!inUse.has(e.id) && e.lastActivityMs + r.rule.pinholeTimeoutMs <= nowMs) {
        skip('expired');
        continue;
      }
      const id = this.mappings.restoreMapping(
        r.slot, r.rule.portLo, r.rule.portHi, r.rule.maxMappingsPerClient, e.clientIp, e.extIp, e.extPort, e.serverIp, e.serverPort, e.createdMs, e.lastActivityMs, r.rule.pinholeTimeoutMs,
      );
      if (id < 0) {
        skip(MAP_ERR_NAMES[id] ?? 'mapping-refused');
        continue;
      }
      mappingOf.set(e.id, id);
      mappings++;
    }
    let connections = 0;
    let notifications = 0;
    for (const c of entries) {
      if (c === null) {
        skip('unreadable');
        continue;
      }
      const r = ruleNamed(c.rule);
      if (r === null) {
        skip('rule-gone');
        continue;
      }
      const rule = r.rule;
      const m = c.mapped ? (mappingOf.get(c.mapping) ?? -1) : -1;
      if (c.mapped && m < 0) {
        skip('mapping-gone');
        continue;
      }
      const matches = c.gwIp === this.gwIp && c.gwPort >= g.natPortLo && c.gwPort <= g.natPortHi && (c.mapped
        ? c.extIp === this.mappings.extIp(m) && c.extPort === this.mappings.extPort(m) && c.clientIp === this.mappings.clientIp(m) &&
          c.serverIp === this.mappings.serverIp(m) && c.serverPort === this.mappings.serverPort(m)
        : c.extIp === rule.externalIp && c.extPort === EPM_PORT && c.serverIp === rule.serverIp && c.serverPort === EPM_PORT);
      if (!matches) {
        skip('translation-changed');
        continue;
      }
      if (isClosedState(c.state) || (c.state & FLOW_ST_ESTABLISHED) === 0 || c.lastSeenMs + rule.idleTimeoutMs <= nowMs) {
        skip('expired');
        continue;
      }
      if (!c.mapped && ((this.epmPerClient.get(c.clientIp) ?? 0) >= MAX_EPM_CONNECTIONS_PER_CLIENT || this.epmConnections >= MAX_EPM_CONNECTIONS)) {
        skip('epm-connection-limit');
        continue;
      }
      const flow = this.flows.restoreFlow(
        c.mapped ? FLOW_MAPPED : FLOW_EPM, r.slot, m, c.clientIp, c.clientPort, c.extIp, c.extPort, c.gwIp, c.gwPort, c.serverIp, c.serverPort,
        c.state, c.createdMs, c.lastSeenMs, rule.idleTimeoutMs, c.counts,
      );
      if (flow < 0) {
        skip(FLOW_ERR_NAMES[flow] ?? 'flow-refused');
        continue;
      }
      const st = c.mapped
        ? (this.mappedPool.pop() ?? this.newConnState(null, new MappedLeg(this, this.gwIpOf)))
        : (this.epmPool.pop() ?? this.newConnState(new EpmLeg(this, g.limits.maxHeldBytesPerFlow), null));
      st.reset();
      let legOk: boolean;
      if (st.mappedLeg !== null) {
        st.mappedLeg.init(rule, false);
        legOk = c.mappedLeg !== null && st.mappedLeg.importState(c.mappedLeg);
      } else {
        st.epmLeg!.init(rule, c.extIp, false);
        legOk = c.epmLeg !== null && st.epmLeg!.importState(c.epmLeg);
      }
      if (!legOk) {
        this.flows.remove(flow);
        (st.epmLeg ? this.epmPool : this.mappedPool).push(st);
        skip('unreadable');
        continue;
      }
      st.c2s.importState(c.c2s);
      st.s2c.importState(c.s2c);
      st.clientExpects = c.clientExpects;
      st.serverExpects = c.serverExpects;
      st.clientAckSeen = c.clientAckSeen;
      st.serverAckSeen = c.serverAckSeen;
      st.edits = c.edits.length > 0 ? c.edits.slice(-MAX_EDITS) : null;
      this.conns.set(flow, st);
      if (c.mapped) {
        this.mappings.connOpened(m, nowMs);
        for (const [clientPort, relay] of c.notifications) {
          if (this.notify.restore(flow, c.clientIp, clientPort, c.serverIp, c.extIp, relay, g.notifyRelayLo, g.notifyRelayHi)) notifications++;
          else skip('notification-port-taken');
        }
        if (c.notifyPinhole) this.notify.openPinhole(flow, c.clientIp, c.serverIp, c.extIp, rule.notifyPortLo, rule.notifyPortHi);
      } else {
        this.epmPerClient.set(c.clientIp, (this.epmPerClient.get(c.clientIp) ?? 0) + 1);
        this.epmConnections++;
      }
      connections++;
    }
    return { ok: true, mappings, connections, notifications, skipped };
  }

  /** Held bytes on EPM connections, for metrics. */
  get heldBytes(): number {
    return this.heldTotal;
  }
}

const TCP_PSH_FLAG = 8;
/** IPv4 + TCP headers without options: an MSS option is the MTU less these (RFC 6691). */
const TCP_IP_MIN_HDRS = 40;
/** DF in the IPv4 header's byte 6 (flags | fragment offset high bits). */
const IP_FLAG_DF_BYTE = 0x40;
const TCP_OPT_SACK = 5;

/** Writes a u32 sequence/ack field and updates the TCP checksum at `csumOff` (RFC 1624). */
function writeSeqField(pkt: Uint8Array, at: number, value: number, csumOff: number): void {
  const old = ((pkt[at]! << 24) | (pkt[at + 1]! << 16) | (pkt[at + 2]! << 8) | pkt[at + 3]!) >>> 0;
  const csum = (pkt[csumOff]! << 8) | pkt[csumOff + 1]!;
  const next = csumReplace32(csum, old, value >>> 0);
  pkt[at] = value >>> 24;
  pkt[at + 1] = (value >>> 16) & 0xff;
  pkt[at + 2] = (value >>> 8) & 0xff;
  pkt[at + 3] = value & 0xff;
  pkt[csumOff] = next >>> 8;
  pkt[csumOff + 1] = next & 0xff;
}

/** Replaces SACK options of the TCP header at `t` with NOPs, keeping the checksum right. */
function nopSackOptions(pkt: Uint8Array, ipOff: number, t: number): void {
  const end = t + ((pkt[t + 12]! >>> 4) << 2);
  let changed = false;
  for (let p = t + 20; p < end; ) {
    const kind = pkt[p]!;
    if (kind === 0) break;
    if (kind === 1) {
      p++;
      continue;
    }
    const optLen = pkt[p + 1]!;
    if (optLen < 2 || p + optLen > end) break;
    if (kind === TCP_OPT_SACK) {
      for (let i = 0; i < optLen; i++) pkt[p + i] = 1;
      changed = true;
    }
    p += optLen;
  }
  if (changed) {
    const ipLen = (pkt[ipOff + 2]! << 8) | pkt[ipOff + 3]!;
    finishTcpChecksumV4(pkt, ipOff, t, ipOff + ipLen - t);
  }
}

function closedReason(state: number): 'closed' | 'reset' {
  return (state & FLOW_ST_RST) !== 0 ? 'reset' : 'closed';
}

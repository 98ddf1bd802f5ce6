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
 * This file is the coordinator: it checks what came in, classifies it (which side, which
 * connection, whether one may be opened), translates the addresses and hands the packet on
 * with its connection — to the stream path (stream-path.ts), the notification relay
 * (notify.ts) or the ICMP translation (manners.ts). Everything leaves through output.ts.
 *
 * Hot path (mapped connections): decode with byte reads into one reused PacketView, two numeric
 * hash lookups, four in-place field rewrites under one RFC 1624 update per checksum (IP, TCP),
 * emit. No allocation.
 */
import { IPPROTO_TCP, IPPROTO_UDP, PacketView, readRawIpv4Tcp, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../wire/packet.js';
import { translateTcp4 } from '../wire/translate.js';
import { ipv4HeaderChecksumOk, L4_CSUM_BAD, L4_CSUM_COMPLETED, L4_CSUM_OK, verifyL4ChecksumV4 } from '../wire/checksum.js';
import { IPPROTO_ICMP } from '../wire/ipproto.js';
import { IPV4_HDR_MIN } from '../wire/ipv4.js';
import { TCP_HDR_MIN } from '../wire/tcp.js';
import { OK } from '../wire/status.js';
import { clientSideSeq } from '../stream/seqadj.js';
import { FlowTable, FLOW_EPM, FLOW_MAPPED, FLOW_ERR_NO_GW_PORT } from '../nat/flow-table.js';
import { MappingTable } from '../nat/mapping-table.js';
import { NotifyRelay } from '../nat/notify-relay.js';
import { INSPECT_KERNEL, type CompiledRules } from '../policy/compiled.js';
import { ruleForMappedPort, selectOutboundRule, selectRule } from '../policy/match.js';
import type { TowerView } from '../epm/tower.js';
import { EpmLeg } from './epm-leg.js';
import type { EpmLegHost } from './epm-leg.js';
import { MappedLeg } from './mapped-leg.js';
import { closedReason, Conns } from './conn.js';
import { CLOSE_CLOSED, CLOSE_FLUSHED, CLOSE_IDLE, CLOSE_REFUSED, CLOSE_TTL_EXCEEDED, NO_EVENTS, SIDE_EXTERNAL, SIDE_INTERNAL } from './events.js';
import type { EngineEvent, EngineEvents, EngineOutput } from './events.js';
import { Manners } from './manners.js';
import { KernelHandoff, type KernelPinholeSink } from './kernel-handoff.js';
import { Notifications } from './notify.js';
import { Output } from './output.js';
import type { EngineCounters } from './output.js';
import { fillClosed, fillConnection, fillMapping, fillRefused, listConnections, listMappings } from './records.js';
import type { ConnectionListing, MappingListing } from './records.js';
import { restoreSnapshot, takeSnapshot } from './restore.js';
import type { EngineTables } from './restore.js';
import { RuleSlots } from './rule-slots.js';
import type { EngineSnapshot, RestoreResult } from './snapshot.js';
import { StreamPath } from './stream-path.js';
import {
  DROP_BAD_CHECKSUM,
  DROP_BAD_IP_CHECKSUM,
  DROP_CLIENT_NOT_ALLOWED,
  DROP_EPM_CONNECTION_LIMIT,
  DROP_FLOW_TABLE_FULL,
  DROP_FRAGMENT,
  DROP_KERNEL_PORT,
  DROP_MALFORMED,
  DROP_NO_FLOW,
  DROP_NO_GATEWAY_PORT,
  DROP_NO_PINHOLE,
  DROP_NOT_FOR_GATEWAY,
  DROP_NOT_IPV4,
  DROP_PORT_NOT_PUBLISHED,
  DROP_UNSUPPORTED_PROTOCOL,
  REASON_NAMES,
  REFUSE_KERNEL_PINHOLE,
} from './reasons.js';


export const EPM_PORT = 135;

export interface EngineOptions {
  rules: CompiledRules;
  output: EngineOutput;
  events?: EngineEvents;
  /**
   * false: the listener takes refusals, notifications and drops only; connection, mapping and
   * rewrite records (strings) are not made, their counters still count (replay without a report).
   */
  records?: boolean;
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
  /**
   * Installs "kernel" rules' pinholes (kernel-handoff.ts); answers through releaseDeferred.
   * Without it such rules are carried like "full" ones (replay).
   */
  kernelPinholes?: KernelPinholeSink;
  /** How long an answer waits for its kernel pinhole before the connection is refused. */
  kernelHandoffTimeoutMs?: number;
}

export const DEFAULT_MTU = 1500;
export const DEFAULT_ICMP_RATE_PER_SEC = 100;
/** IPv4 + TCP headers without options: an MSS option is the MTU less these (RFC 6691). */
const TCP_IP_MIN_HDRS = IPV4_HDR_MIN + TCP_HDR_MIN;

export class Engine implements EpmLegHost {
  readonly flows: FlowTable;
  readonly mappings: MappingTable;
  readonly counters: EngineCounters;
  readonly midstreamPickup: boolean;
  /** New-mail notification registrations and encrypted-session pinholes. */
  readonly notify = new NotifyRelay();

  private readonly out: Output;
  private readonly events: EngineEvents;
  /** Whether connection, mapping and rewrite events are told (replay without a report needs none). */
  private readonly records: boolean;
  /** The one event record, filled for each event. */
  private readonly ev: EngineEvent;
  private readonly gwIp: number;
  private readonly slots: RuleSlots;
  private readonly conns: Conns;
  private readonly path: StreamPath;
  private readonly manners: Manners;
  private readonly notifications: Notifications;
  private readonly tables: EngineTables;
  private readonly handoff: KernelHandoff;
  private readonly view = new PacketView();
  /** The source and destination address a packet is translated to (translateTcp4). */
  private readonly addrs = new Uint32Array(2);
  private lastTickMs = -1;
  /** Engine.touch's sum (never used otherwise). */
  private touched = 0;
  /** Whether connectionFor opened the packet's connection (a SYN expiring here must not leave it). */
  private openedNow = false;
  private readonly onFlowExpire: (id: number) => void;
  private readonly onMappingExpire: (id: number) => void;

  constructor(opts: EngineOptions) {
    this.events = opts.events ?? NO_EVENTS;
    this.records = this.events !== NO_EVENTS && opts.records !== false;
    this.midstreamPickup = opts.midstreamPickup ?? false;
    const g = opts.rules.gateway;
    this.gwIp = g.internalIp;
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
    this.slots = new RuleSlots(opts.rules);
    this.out = new Output(opts.output, this.events, opts.externalMtu ?? DEFAULT_MTU, opts.internalMtu ?? DEFAULT_MTU);
    this.counters = this.out.counters;
    const maxHeldPerFlow = g.limits.maxHeldBytesPerFlow;
    const gwIpOf = (flow: number): number => (this.flows.outbound(flow) ? this.slots.rules.gateway.externalIp : this.gwIp);
    this.conns = new Conns(
      () => new EpmLeg(this, maxHeldPerFlow, (flow) => this.slots.rule(this.flows.ruleIdx(flow))!, (flow) => this.flows.extIp(flow)),
      () => new MappedLeg(this.notifications, gwIpOf, (flow) => this.slots.rule(this.flows.ruleIdx(flow))!),
    );
    this.path = new StreamPath(this.conns, this.out, this.flows, this.slots, this.gwIp, maxHeldPerFlow, g.limits.maxHeldBytesTotal);
    this.manners = new Manners(this.out, this.flows, this.conns, this.gwIp, Math.max(0, opts.icmpRatePerSec ?? DEFAULT_ICMP_RATE_PER_SEC));
    this.notifications = new Notifications(this.out, this.flows, this.conns, this.slots, this.notify, this.manners, this.gwIp);
    this.handoff = new KernelHandoff(opts.kernelPinholes ?? null, opts.kernelHandoffTimeoutMs);
    this.tables = { flows: this.flows, mappings: this.mappings, conns: this.conns, slots: this.slots, notify: this.notify, gwIp: this.gwIp, epmPort: EPM_PORT };
    this.ev = this.out.event;
    this.onFlowExpire = (id) => this.flowGone(id, this.flows.isClosed(id) ? closedReason(this.flows.state(id)) : CLOSE_IDLE);
    this.onMappingExpire = (id) => {
      this.counters.mappingsExpired++;
      if (this.records) this.events.pinholeExpired(fillMapping(this.ev, this.mappings, this.slots, id), this.out.nowMs);
    };
  }

  /** The rules in force. */
  get rules(): CompiledRules {
    return this.slots.rules;
  }

  /**
   * One IPv4 packet (`buf[off]` is the IP header) that arrived on `side` at `nowMs`.
   * `l4ChecksumDone`: the caller has just computed this TCP segment's checksum whole over exactly
   * these bytes (replay's direct mode readdresses and recomputes), so verifying it again would
   * only repeat that pass (as the kernel skips it for CHECKSUM_UNNECESSARY). Live input: false.
   * `decoded`: the caller has just decoded this packet into that view as readRawIpv4Tcp(buf, off,
   * len, view) does, with OK, and changed neither since (gateway-mode replay decodes each frame to
   * find its side): the engine takes that decode rather than making it again, may rewrite the
   * view as it does its own, and keeps no reference to it.
   */
  onPacket(side: number, buf: Uint8Array, off: number, len: number, nowMs: number, l4ChecksumDone = false, decoded: PacketView | null = null): void {
    const out = this.out;
    out.nowMs = nowMs;
    if (nowMs - this.lastTickMs >= 1000) this.tick(nowMs);
    const c = this.counters;
    c.packetsIn[side]!++;
    c.bytesIn[side]! += len;
    const v = decoded ?? this.view;
    if (decoded === null && readRawIpv4Tcp(buf, off, len, v) !== OK) return out.drop(DROP_MALFORMED, side, v);
    if (v.ipVersion !== 4) return out.drop(DROP_NOT_IPV4, side, v);
    if (!ipv4HeaderChecksumOk(buf, v)) return out.drop(DROP_BAD_IP_CHECKSUM, side, v);
    if (v.isFragment) return out.drop(DROP_FRAGMENT, side, v);
    const proto = v.ipProto;
    if (proto === IPPROTO_ICMP) return this.manners.icmpFrom(side, buf, off, v.ipTotalLen, v);
    // New-mail notifications: from published servers inside, or outbound connections' servers outside.
    const notification = proto === IPPROTO_UDP;
    if ((proto !== IPPROTO_TCP && !notification) || v.l4Off < 0) return out.drop(DROP_UNSUPPORTED_PROTOCOL, side, v);
    // Every segment is checked, pure ACKs and RSTs included: their ACK number moves what the
    // gateway remembers (released patches, where a RST must land) and a RST closes the
    // connection, so a corrupt one must not count. A partial checksum is completed here, before
    // any rewrite, so the incremental updates that follow start from a complete one.
    const cs = l4ChecksumDone && proto === IPPROTO_TCP ? L4_CSUM_OK : verifyL4ChecksumV4(buf, v);
    if (cs !== L4_CSUM_OK) {
      if (cs === L4_CSUM_BAD) return out.drop(DROP_BAD_CHECKSUM, side, v);
      if (cs === L4_CSUM_COMPLETED) c.checksumsCompleted++;
    }
    if (notification) return this.notifications.datagram(side, buf, off, v.ipTotalLen, v);
    if (side === SIDE_EXTERNAL) this.fromExternal(buf, off, v.ipTotalLen, v, nowMs);
    else this.fromInternal(buf, off, v.ipTotalLen, v, nowMs);
  }

  /** Expires connections and mappings whose time has come. Call at least once a second. */
  tick(nowMs: number): void {
    this.out.nowMs = nowMs;
    this.lastTickMs = nowMs;
    this.flows.tick(nowMs, this.onFlowExpire);
    this.mappings.tick(nowMs, this.onMappingExpire);
    if (this.handoff.count > 0) {
      for (const flow of this.handoff.expired(nowMs)) this.kernelRefused(flow, 'nftables did not confirm the pinhole in time');
    }
  }

  // ---- external side --------------------------------------------------------------------------

  private fromExternal(buf: Uint8Array, off: number, len: number, v: PacketView, nowMs: number): void {
    const flags = v.tcpFlags;
    const isSyn = (flags & (TCP_SYN | TCP_ACK)) === TCP_SYN;
    // Addresses as int32 into the numeric indexes (same key): a u32 above 2^31 handed to a call was a heap number per packet.
    const flow = this.connectionFor(SIDE_EXTERNAL, this.flows.lookupExternal(v.src4 | 0, v.srcPort, v.dst4 | 0, v.dstPort), isSyn, v, nowMs);
    if (flow < 0) return;
    this.touch(flow, !this.flows.outbound(flow));
    if (!this.manners.forwardable(SIDE_EXTERNAL, buf, off, len, v, v.dst4 | 0)) {
      // A SYN that expires here never reached the server: it leaves no embryonic connection.
      if (this.openedNow) this.closeUnused(flow);
      return;
    }
    if ((flags & TCP_SYN) !== 0 && v.tcpMss > 0) this.out.limitPath(flow, false, v.tcpMss + TCP_IP_MIN_HDRS);
    const fl = this.flows;
    // From the RPC client unless the flow is outbound (then this is its server answering).
    fl.onPacket(flow, !fl.outbound(flow), flags, v.payloadLen, nowMs);
    if ((flags & (TCP_FIN | TCP_RST)) !== 0 && fl.isClosed(flow)) this.conns.closed(flow, fl.rpcClientIp(flow));
    // The gateway's internal address, or for an outbound flow the server itself (gwIp names it).
    const a = this.addrs;
    a[0] = fl.gwIp(flow);
    a[1] = fl.serverIp(flow);
    translateTcp4(buf, v, a, fl.gwPort(flow), fl.serverPort(flow));
    if (this.handoff.count > 0) this.out.holdQueue = this.handoff.queueOf(flow);
    this.path.packet(flow, true, buf, off, len, v);
    this.out.holdQueue = null;
  }

  /**
   * Loads the connection's stream row and its leg's row for a packet from the RPC client (or
   * server) right after the lookup, so that with many connections their cache misses overlap the
   * flow row's rather than coming one after another deep in the stream path (their sum is kept
   * only so the loads are not optimised away).
   */
  private touch(flow: number, rpcFromClient: boolean): void {
    this.touched = (this.touched + this.conns.touch(flow) + this.conns.mappedLeg.touch(flow, rpcFromClient)) | 0;
  }

  /**
   * The connection of a packet that arrived on `side`: `found` (what that side's index holds)
   * unless this SYN reuses the tuple of one lingering after close (from that connection's RPC
   * client: the external side, or the internal one for outbound flows), else one opened for it.
   * -1 when none may be (the packet is dropped here); openedNow says whether it was opened.
   */
  private connectionFor(side: number, found: number, isSyn: boolean, v: PacketView, nowMs: number): number {
    const fl = this.flows;
    let flow = found;
    if (flow >= 0 && isSyn && fl.isClosed(flow) && fl.outbound(flow) === (side === SIDE_INTERNAL)) {
      this.flowGone(flow, CLOSE_CLOSED);
      fl.remove(flow);
      flow = -1;
    }
    this.openedNow = flow < 0;
    if (flow >= 0) return flow;
    flow = side === SIDE_EXTERNAL ? this.openFromExternal(v, isSyn, nowMs) : this.openFromInternal(v, isSyn, nowMs);
    if (flow >= 0) return flow;
    this.out.drop(-flow, side, v);
    return -1;
  }

  /** Opens a connection for a packet from a client; a negative drop reason if it may not. */
  private openFromExternal(v: PacketView, isSyn: boolean, nowMs: number): number {
    const pickup = !isSyn && this.midstreamPickup && (v.tcpFlags & (TCP_RST | TCP_FIN)) === 0;
    const rules = this.slots.rules;
    if (v.dstPort === EPM_PORT) {
      const r = selectRule(rules, v.dst4, v.src4);
      if (r < 0) return -(this.isExternalAddress(v.dst4) ? DROP_CLIENT_NOT_ALLOWED : DROP_NOT_FOR_GATEWAY);
      if (!isSyn && !pickup) return -DROP_NO_FLOW;
      if (!this.conns.epmRoom(v.src4 | 0)) return -DROP_EPM_CONNECTION_LIMIT;
      const rule = rules.rules[r]!;
      const flow = this.flows.create(FLOW_EPM, this.slots.slotOf(r), -1, v.src4 | 0, v.srcPort, v.dst4 | 0, EPM_PORT, this.gwIp | 0, rule.serverIp | 0, EPM_PORT, nowMs, rule.idleTimeoutMs);
      return this.epmCreated(flow, v.src4 | 0, pickup);
    }
    const m = this.mappings.lookup(v.src4 | 0, v.dst4 | 0, v.dstPort);
    if (m < 0) {
      if (ruleForMappedPort(rules, v.dst4, v.dstPort) >= 0) return -DROP_NO_PINHOLE;
      return -(this.isExternalAddress(v.dst4) ? DROP_PORT_NOT_PUBLISHED : DROP_NOT_FOR_GATEWAY);
    }
    if (!isSyn && !pickup) return -DROP_NO_FLOW;
    const slot = this.mappings.ruleIdx(m);
    const rule = this.slots.rule(slot)!;
    if (rule.mappedInspection === INSPECT_KERNEL && this.handoff.sink !== null) return -DROP_KERNEL_PORT;
    const flow = this.flows.create(
      FLOW_MAPPED, slot, m, v.src4 | 0, v.srcPort, v.dst4 | 0, v.dstPort, this.gwIp | 0, this.mappings.serverIp(m) | 0, this.mappings.serverPort(m), nowMs, rule.idleTimeoutMs,
    );
    return this.mappedCreated(flow, m, pickup, nowMs);
  }

  /** An EPM connection the flow table just created for `clientIp` (or its error): the EPM leg reads it. */
  private epmCreated(flow: number, clientIp: number, pickup: boolean): number {
    if (flow < 0) return -(flow === FLOW_ERR_NO_GW_PORT ? DROP_NO_GATEWAY_PORT : DROP_FLOW_TABLE_FULL);
    this.conns.addEpm(flow, clientIp, pickup);
    this.opened(flow);
    return flow;
  }

  /** A mapped connection the flow table just created on pinhole `m` (or its error): counted there, read by the mapped leg. */
  private mappedCreated(flow: number, m: number, pickup: boolean, nowMs: number): number {
    if (flow < 0) return -(flow === FLOW_ERR_NO_GW_PORT ? DROP_NO_GATEWAY_PORT : DROP_FLOW_TABLE_FULL);
    this.mappings.connOpened(m, nowMs);
    this.conns.mappedLeg.init(flow, pickup);
    this.conns.addMapped(flow);
    this.opened(flow);
    return flow;
  }

  private isExternalAddress(ip: number): boolean {
    const rules = this.slots.rules;
    if (ip === rules.gateway.externalIp) return true;
    for (const r of rules.rules) if (r.enabled && r.externalIp === ip) return true;
    return false;
  }

  // ---- internal side --------------------------------------------------------------------------

  private fromInternal(buf: Uint8Array, off: number, len: number, v: PacketView, nowMs: number): void {
    const fl = this.flows;
    const isSyn = (v.tcpFlags & (TCP_SYN | TCP_ACK)) === TCP_SYN;
    const flow = this.connectionFor(SIDE_INTERNAL, fl.lookupInternal(v.src4 | 0, v.srcPort, v.dst4 | 0, v.dstPort), isSyn, v, nowMs);
    if (flow < 0) return;
    this.touch(flow, fl.outbound(flow));
    if (!this.manners.forwardable(SIDE_INTERNAL, buf, off, len, v, this.gwIp | 0)) {
      if (this.openedNow) this.closeUnused(flow);
      return;
    }
    if ((v.tcpFlags & TCP_SYN) !== 0 && v.tcpMss > 0) this.out.limitPath(flow, true, v.tcpMss + TCP_IP_MIN_HDRS);
    // From the server unless the flow is outbound (then this is its RPC client).
    fl.onPacket(flow, fl.outbound(flow), v.tcpFlags, v.payloadLen, nowMs);
    if ((v.tcpFlags & (TCP_FIN | TCP_RST)) !== 0 && fl.isClosed(flow)) this.conns.closed(flow, fl.rpcClientIp(flow));
    const a = this.addrs;
    a[0] = fl.extIp(flow);
    a[1] = fl.clientIp(flow);
    translateTcp4(buf, v, a, fl.extPort(flow), fl.clientPort(flow));
    if (this.handoff.count > 0) this.out.holdQueue = this.handoff.queueOf(flow);
    this.path.packet(flow, false, buf, off, len, v);
    this.out.holdQueue = null;
  }

  /**
   * Opens an outbound connection for a packet from an internal client (rules with direction
   * "outbound"): to TCP 135 of an allowed server, or to a port an ept_map answer opened for
   * exactly this client and server. A negative drop reason if it may not.
   */
  private openFromInternal(v: PacketView, isSyn: boolean, nowMs: number): number {
    const rules = this.slots.rules;
    const r = selectOutboundRule(rules, v.src4, v.dst4);
    if (r < 0) return -(v.dst4 === this.gwIp ? DROP_NO_FLOW : DROP_NOT_FOR_GATEWAY);
    const pickup = !isSyn && this.midstreamPickup && (v.tcpFlags & (TCP_RST | TCP_FIN)) === 0;
    const ext = rules.gateway.externalIp;
    if (v.dstPort === EPM_PORT) {
      if (!isSyn && !pickup) return -DROP_NO_FLOW;
      if (!this.conns.epmRoom(v.src4)) return -DROP_EPM_CONNECTION_LIMIT;
      const rule = rules.rules[r]!;
      const flow = this.flows.createOutbound(FLOW_EPM, this.slots.slotOf(r), -1, v.src4, v.srcPort, v.dst4, EPM_PORT, ext, nowMs, rule.idleTimeoutMs);
      return this.epmCreated(flow, v.src4, pickup);
    }
    // Keyed (client, server, port): another client's pinhole, or another port, is not found.
    const m = this.mappings.lookup(v.src4, v.dst4, v.dstPort);
    const slot = m < 0 ? -1 : this.mappings.ruleIdx(m);
    const rule = slot < 0 ? undefined : this.slots.rule(slot);
    if (!rule?.outbound) return -DROP_NO_PINHOLE;
    if (!isSyn && !pickup) return -DROP_NO_FLOW;
    const flow = this.flows.createOutbound(FLOW_MAPPED, slot, m, v.src4, v.srcPort, v.dst4, v.dstPort, ext, nowMs, rule.idleTimeoutMs);
    return this.mappedCreated(flow, m, pickup, nowMs);
  }

  // ---- the EPM leg's callbacks: each is handed its connection (flow id) ------------------------

  acquireOutbound(flow: number, towerIp: number, port: number): number {
    const fl = this.flows;
    const server = fl.clientIp(flow); // the external peer of an outbound flow
    // A tower naming another host (or no port) opens nothing: the client reaches only this server.
    if ((towerIp !== 0 && towerIp >>> 0 !== server) || port === 0) return 0;
    const slot = fl.ruleIdx(flow);
    const rule = this.slots.rule(slot)!;
    const before = this.mappings.count;
    const nowMs = this.out.nowMs;
    const id = this.mappings.acquireExact(slot, rule.maxMappingsPerClient, fl.serverIp(flow), server, port, nowMs, rule.pinholeTimeoutMs);
    if (id < 0) return id;
    this.pinholeMade(before, id, nowMs);
    return port;
  }

  patchStream(flow: number, seq: number, bytes: Uint8Array, off: number, n: number): void {
    this.conns.patch(flow, seq, bytes, off, n);
  }

  replaceStream(flow: number, startSeq: number, endSeq: number, bytes: Uint8Array): void {
    this.conns.replace(flow, startSeq, endSeq, bytes);
  }

  acquireMapping(flow: number, serverIp: number, serverPort: number): number {
    const fl = this.flows;
    const slot = fl.ruleIdx(flow);
    const rule = this.slots.rule(slot)!;
    const before = this.mappings.count;
    const nowMs = this.out.nowMs;
    const id = this.mappings.acquire(
      slot, rule.portLo, rule.portHi, rule.maxMappingsPerClient, fl.clientIp(flow), fl.extIp(flow), serverIp, serverPort, nowMs, rule.pinholeTimeoutMs,
    );
    if (id < 0) return id;
    this.pinholeMade(before, id, nowMs);
    const extPort = this.mappings.extPort(id);
    if (rule.mappedInspection === INSPECT_KERNEL) {
      const req = { mapping: id, rule: rule.name, clientIp: fl.clientIp(flow), extIp: fl.extIp(flow), extPort, serverIp, serverPort, timeoutMs: rule.pinholeTimeoutMs };
      // From here on this connection's packets toward the client wait for the element.
      if (this.handoff.want(flow, req, nowMs)) this.out.holdQueue = this.handoff.queueOf(flow);
    }
    return extPort;
  }

  /** Counts and reports pinhole `id` if acquiring it grew the table (else it was reused). */
  private pinholeMade(countBefore: number, id: number, nowMs: number): void {
    if (this.mappings.count <= countBefore) return;
    this.counters.mappingsCreated++;
    if (this.records) this.events.pinholeOpened(fillMapping(this.ev, this.mappings, this.slots, id), nowMs);
  }

  /**
   * The host's answer for a kernel pinhole (KernelPinholeRequest.token): null = installed. Once
   * every pinhole of the answer is in, the held packets go out; a refusal refuses the connection.
   */
  releaseDeferred(token: number, error: string | null, nowMs: number): void {
    this.out.nowMs = nowMs;
    const r = this.handoff.release(token, error === null);
    if (r === null) return;
    if (r.failed) return this.kernelRefused(r.flow, `nftables refused the pinhole: ${error ?? ''}`);
    if (r.packets.length > 0) this.out.emitHeld(r.packets);
  }

  /** A kernel pinhole failed: the held answer is dropped and the EPM connection forgotten. */
  private kernelRefused(flow: number, detail: string): void {
    this.counters.drops[REFUSE_KERNEL_PINHOLE]!++;
    const fl = this.flows;
    if (!fl.isLive(flow)) return;
    this.events.refused(fillRefused(this.ev, fl, this.slots, flow, REFUSE_KERNEL_PINHOLE, detail, ''), this.out.nowMs);
    this.flowGone(flow, CLOSE_REFUSED);
    fl.remove(flow);
  }

  towerRewritten(flow: number, opnum: number, buf: Uint8Array, t: TowerView, newIp: number, newPort: number): void {
    this.counters.rewrites++;
    if (!this.records) return;
    const e = fillConnection(this.ev, this.flows, this.slots, flow);
    e.code = opnum;
    e.setInterface(buf, t.ifUuidOff, true, t.ifMajor, t.ifMinor);
    e.origIp = t.ipv4;
    e.origPort = t.port;
    e.extIp = newIp;
    e.extPort = newPort;
    // The pinhole acquireMapping just gave this client for the port.
    e.mapping = this.mappings.lookup(e.clientIp, newIp, newPort);
    this.events.rewrote(e, this.out.nowMs);
  }

  // ---- connections opened and gone ------------------------------------------------------------

  private opened(flow: number): void {
    this.counters.connectionsOpened++;
    if (!this.records) return;
    this.events.opened(fillConnection(this.ev, this.flows, this.slots, flow), this.out.nowMs);
  }

  /** A connection this very packet opened and that never carried it (its SYN expired here). */
  private closeUnused(flow: number): void {
    this.flowGone(flow, CLOSE_TTL_EXCEEDED);
    this.flows.remove(flow);
  }

  /** A connection leaves the table (`reason`: CLOSE_*): release its reading state and its hold on the mapping. */
  private flowGone(flow: number, reason: number): void {
    const fl = this.flows;
    this.counters.connectionsClosed++;
    if (this.conns.has(flow)) {
      this.path.forget(flow);
      if (this.conns.refused(flow)) reason = CLOSE_REFUSED;
      this.conns.remove(flow, fl.rpcClientIp(flow));
    }
    this.notify.removeFlow(flow);
    this.out.forgetFlow(flow);
    this.handoff.forget(flow);
    const m = fl.mappingIdx(flow);
    const nowMs = this.out.nowMs;
    if (m >= 0 && this.mappings.isLive(m)) this.mappings.connClosed(m, nowMs);
    if (!this.records) return;
    this.events.closed(fillClosed(this.ev, fl, this.slots, flow, reason, nowMs), nowMs);
  }

  // ---- administration (reload, flush, listings, MTU, restart) ---------------------------------

  /**
   * New rules in force. Mappings and connections of rules that still exist (by name) survive;
   * those of removed rules are closed. The gateway section must not change (the caller checks:
   * interfaces and addresses are what capture and the kernel guard were set up for).
   */
  reload(rules: CompiledRules, nowMs: number): { removedRules: string[]; closedConnections: number; removedMappings: number } {
    this.out.nowMs = nowMs;
    const oldNames = this.slots.named();
    const kept = this.slots.assign(rules);
    const removedRules: string[] = [];
    let closedConnections = 0;
    let removedMappings = 0;
    for (const [name, slot] of oldNames) {
      if (kept.has(slot)) continue;
      removedRules.push(name);
      const r = this.flush(name, -1);
      closedConnections += r.connections;
      removedMappings += r.mappings;
      this.slots.free(name, slot);
    }
    return { removedRules, closedConnections, removedMappings };
  }

  /** Removes the mappings and connections of a rule and/or a client (`rpcgw flush`). */
  flush(ruleName: string | null, clientIp: number): { mappings: number; connections: number } {
    let slot = -1;
    if (ruleName !== null) {
      const s = this.slots.slotNamed(ruleName);
      if (s === undefined) return { mappings: 0, connections: 0 };
      slot = s;
    }
    const victims: number[] = [];
    this.flows.forEach((id) => {
      if ((slot < 0 || this.flows.ruleIdx(id) === slot) && (clientIp < 0 || this.flows.clientIp(id) === clientIp >>> 0)) victims.push(id);
    });
    for (const id of victims) {
      this.flowGone(id, CLOSE_FLUSHED);
      this.flows.remove(id);
    }
    const mappings = this.mappings.removeWhere(slot, clientIp < 0 ? -1 : clientIp >>> 0);
    return { mappings, connections: victims.length };
  }

  listMappings(nowMs: number, keep?: (id: number) => boolean): MappingListing[] {
    return listMappings(this.mappings, this.slots, nowMs, keep);
  }

  listConnections(nowMs: number, keep?: (id: number) => boolean): ConnectionListing[] {
    return listConnections(this.flows, this.slots, nowMs, keep);
  }

  /** A side's interface MTU changed (the live dataplane re-reads it every second). */
  setMtu(side: number, mtu: number): void {
    this.out.setMtu(side, mtu);
  }

  /** The IP MTU the engine uses for a side. */
  mtuOf(side: number): number {
    return this.out.mtuOf(side);
  }

  /** The connection a client's packet to extIp:extPort belongs to, or -1 (replay plays the client with it). */
  connectionOf(clientIp: number, clientPort: number, extIp: number, extPort: number): number {
    return this.flows.lookupExternal(clientIp, clientPort, extIp, extPort);
  }

  /**
   * The external port of the pinhole the rule at `ruleIndex` opened for `clientIp` to reach
   * serverIp:serverPort (what a tower rewrite gave that client), or -1. Replays of captures taken
   * without a gateway play the client with it.
   */
  mappedPortOf(ruleIndex: number, clientIp: number, serverIp: number, serverPort: number): number {
    const id = this.mappings.find(this.slots.slotOf(ruleIndex), clientIp, serverIp, serverPort);
    return id >= 0 ? this.mappings.extPort(id) : -1;
  }

  /**
   * The NAT source port of an outbound connection from internal clientIp:clientPort to external
   * serverIp:serverPort (what the server answers to on the external address), or -1. Replays of
   * direct captures whose client is inside play the server with it.
   */
  outboundPortOf(clientIp: number, clientPort: number, serverIp: number, serverPort: number): number {
    const flow = this.flows.lookupInternal(clientIp, clientPort, serverIp, serverPort);
    return flow >= 0 && this.flows.outbound(flow) ? this.flows.extPort(flow) : -1;
  }

  /** The source port the gateway uses toward the server on a connection (what the server answers to). */
  gatewayPortOf(flow: number): number {
    return this.flows.gwPort(flow);
  }

  /** Live pinholes and connections. */
  get pinholeCount(): number {
    return this.mappings.count;
  }

  get connectionCount(): number {
    return this.flows.count;
  }

  /** The name of the rule in a table's rule slot (flows.ruleIdx, mappings.ruleIdx); '' once removed. */
  ruleNameOfSlot(slot: number): string {
    return this.slots.name(slot);
  }

  /** The table slot of the rule named `name` in force, or -1. */
  ruleSlotNamed(name: string): number {
    return this.slots.slotNamed(name) ?? -1;
  }

  /**
   * The client-side numbering of a server sequence number on `flow` (where a client that saw the
   * gateway's stream would ACK). Replays of captures taken without a gateway use it to play the
   * client faithfully after a length change.
   */
  clientSideSeq(flow: number, serverSeq: number): number {
    const edits = this.conns.edits(flow);
    return edits ? clientSideSeq(edits, serverSeq) : serverSeq >>> 0;
  }

  /** The pinholes and the connections that can be carried over a restart (restore.ts). */
  snapshot(nowMs: number): EngineSnapshot {
    return takeSnapshot(this.tables, nowMs);
  }

  /** Loads a snapshot into this (empty) engine (restore.ts). Never throws on the snapshot's content. */
  restore(snap: EngineSnapshot, nowMs: number, maxAgeMs: number): RestoreResult {
    this.out.nowMs = nowMs;
    return restoreSnapshot(this.tables, snap, nowMs, maxAgeMs);
  }

  /** Held bytes on the connections read, for metrics. */
  get heldBytes(): number {
    return this.path.heldBytes;
  }
}

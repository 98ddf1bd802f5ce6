/**
 * Test harness for the gateway engine (src/engine): rules from a plain object, an Engine whose
 * output and events are recorded, raw IPv4/TCP packet builders, TCP conversations played through
 * the engine (client on the external side, server on the internal side), DCE/RPC + EPM PDU
 * builders, EPM conversations extracted from real captures, and readers that reassemble what the
 * engine emitted by sequence number (checking every checksum and that every copy of a byte
 * carries the same value).
 *
 * The engine rewrites packets in place and reuses its own buffers: the harness hands it a copy
 * of every packet and copies every emitted packet.
 */
import { loadRules } from '../../src/policy/load.js';
import type { CompiledRules } from '../../src/policy/compiled.js';
import { Engine, type EngineOptions } from '../../src/engine/engine.js';
import {
  type ConnectionClosedRecord,
  type ConnectionRecord,
  type RecordEvents,
  type MappingRecord,
  type NotificationRecord,
  type RefusalRecord,
  type RewriteRecord,
  SIDE_EXTERNAL,
  SIDE_INTERNAL,
} from '../../src/engine/events.js';
import { REASON_NAMES } from '../../src/engine/reasons.js';
import { recordsTo } from '../../src/ops/event-records.js';
import { IPPROTO_TCP, LINKTYPE_RAW, PacketView, readPacket, TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN } from '../../src/wire/packet.js';
import { writeIpv4Header } from '../../src/wire/ipv4.js';
import { writeTcpHeader } from '../../src/wire/tcp.js';
import { finishTcpChecksumV4, ipv4HeaderChecksumOk, l4ChecksumOk } from '../../src/wire/checksum.js';
import { ipv4ToString, parseIpv4 } from '../../src/wire/addr.js';
import { OK } from '../../src/wire/status.js';
import { encode, writeBind, writeBindAck, writeRequest, writeResponse, type AuthOptions } from '../../src/dcerpc/pdu-write.js';
import { PFC_FIRST_FRAG, PFC_LAST_FRAG, PTYPE_RESPONSE, UUID_NDR, UUID_NDR64 } from '../../src/dcerpc/constants.js';
import { EptMapResponseView, readEptMapResponse, writeEptMapRequest, writeEptMapResponse } from '../../src/epm/ept-map.js';
import { EptLookupResponseView, readEptLookupResponse, writeEptLookupRequest, writeEptLookupResponse, type EptLookupEntrySpec } from '../../src/epm/ept-lookup.js';
import { buildTower, towerUuidToString, type TowerView } from '../../src/epm/tower.js';
import { EPT_LOOKUP, EPT_MAP, PROTO_NCACN_IP_TCP } from '../../src/epm/constants.js';
import { openCaptureFile } from '../../src/dataplane/capture-file.js';
import { CaptureRecord } from '../../src/pcap/record.js';

export { SIDE_EXTERNAL, SIDE_INTERNAL };

// ---- addresses and rules ----------------------------------------------------------------------

/** The gateway's external (E) and internal (G) addresses, a server and two clients. */
export const EXT = '198.51.100.1';
export const GW = '192.0.2.1';
export const SERVER = '192.0.2.10';
export const CLIENT = '203.0.113.5';
export const CLIENT2 = '203.0.113.6';
export const PORT_LO = 40000;
export const PORT_HI = 40999;
export const EPM = 135;

export const ip = (s: string): number => parseIpv4(s) >>> 0;

export const UUID_EPM_TEXT = 'e1af8308-5d1f-11c9-91a4-08002b14a0fa';
export const EMSMDB = 'a4f1db00-ca47-1067-b31f-00dd010662da';
export const NSPI = 'f5cc5a18-4264-101a-8c59-08002b2f8426';
export const SRVSVC = '4b324fc8-1670-01d3-1278-5a47bf6ee188';

/**
 * A rules document with one rule ("r0": SERVER published on EXT, any interface, lookup allow,
 * ports PORT_LO-PORT_HI); `rule` overrides its fields, `more` adds rules after it.
 */
export function rulesDoc(
  rule: Record<string, unknown> = {},
  opts: { limits?: Record<string, unknown>; more?: Record<string, unknown>[] } = {},
): Record<string, unknown> {
  return {
    gateway: {
      external: { interface: 'gw-ext', address: EXT },
      internal: { interface: 'gw-int', address: GW },
      ...(opts.limits !== undefined ? { limits: opts.limits } : {}),
    },
    rules: [
      { name: 'r0', server: SERVER, interfaces: ['any'], clients: ['0.0.0.0/0'], mappedPorts: `${PORT_LO}-${PORT_HI}`, lookup: 'allow', ...rule },
      ...(opts.more ?? []),
    ],
  };
}

/** Compiles a rules document the way the daemon does (JSON text through loadRules). */
export function compileRules(doc: unknown): CompiledRules {
  return loadRules(JSON.stringify(doc), 'test.json').rules;
}

// ---- the engine under test --------------------------------------------------------------------

export interface Emitted {
  side: number;
  pkt: Uint8Array;
  /** Position in the harness's emitted list. */
  index: number;
}

export type RecordedEvent =
  | { type: 'opened'; nowMs: number; rec: ConnectionRecord }
  | { type: 'closed'; nowMs: number; rec: ConnectionClosedRecord }
  | { type: 'rewritten'; nowMs: number; rec: RewriteRecord }
  | { type: 'mappingCreated'; nowMs: number; rec: MappingRecord }
  | { type: 'mappingExpired'; nowMs: number; rec: MappingRecord }
  | { type: 'refused'; nowMs: number; rec: RefusalRecord }
  | { type: 'notification'; nowMs: number; rec: NotificationRecord }
  | { type: 'dropped'; nowMs: number; reason: string; side: number };

export interface HarnessOptions extends Partial<Omit<EngineOptions, 'rules' | 'output' | 'events'>> {
  /** Keep no copy of emitted packets (big fuzz runs): only counts. */
  discardOutput?: boolean;
  /** Keep a copy of every injected packet in `injected` (to replay it, mutated, elsewhere). */
  recordInput?: boolean;
}

export interface Injected {
  side: number;
  pkt: Uint8Array;
  nowMs: number;
}

export class EngineHarness {
  readonly engine: Engine;
  readonly rules: CompiledRules;
  readonly emitted: Emitted[] = [];
  readonly events: RecordedEvent[] = [];
  readonly injected: Injected[] = [];
  emittedCount = 0;
  private readonly recordInput: boolean;
  /** Simulated clock; inject() uses it unless told otherwise. */
  nowMs = 1_000_000;

  constructor(rules: CompiledRules | Record<string, unknown>, opts: HarnessOptions = {}) {
    const compiled = typeof (rules as Partial<CompiledRules>).gateway?.internalIp === 'number';
    this.rules = compiled ? (rules as CompiledRules) : compileRules(rules);
    const ev = this.events;
    const h = this;
    const events: RecordEvents = {
      connectionOpened: (rec, nowMs) => ev.push({ type: 'opened', nowMs, rec }),
      connectionClosed: (rec, nowMs) => ev.push({ type: 'closed', nowMs, rec }),
      towerRewritten: (rec, nowMs) => ev.push({ type: 'rewritten', nowMs, rec }),
      mappingCreated: (rec, nowMs) => ev.push({ type: 'mappingCreated', nowMs, rec }),
      mappingExpired: (rec, nowMs) => ev.push({ type: 'mappingExpired', nowMs, rec }),
      connectionRefused: (rec, nowMs) => ev.push({ type: 'refused', nowMs, rec }),
      notification: (rec, nowMs) => ev.push({ type: 'notification', nowMs, rec }),
      packetDropped: (reason, side, _v, nowMs) => ev.push({ type: 'dropped', nowMs, reason: REASON_NAMES[reason] ?? String(reason), side }),
    };
    const { discardOutput, recordInput, ...engineOpts } = opts;
    this.recordInput = recordInput === true;
    this.engine = new Engine({
      seed: 7,
      ...engineOpts,
      rules: this.rules,
      events: recordsTo(events),
      output: {
        emit(side, pkt, off, len) {
          h.emittedCount++;
          if (discardOutput === true) return;
          h.emitted.push({ side, pkt: pkt.slice(off, off + len), index: h.emitted.length });
        },
      },
    });
  }

  /** Hands the engine a copy of `pkt` on `side`; returns what it emitted in response. */
  inject(side: number, pkt: Uint8Array, nowMs = this.nowMs): Emitted[] {
    this.nowMs = nowMs;
    if (this.recordInput) this.injected.push({ side, pkt: pkt.slice(), nowMs });
    const before = this.emitted.length;
    const copy = new Uint8Array(pkt.length + 16).fill(0xa5);
    copy.set(pkt, 8);
    this.engine.onPacket(side, copy, 8, pkt.length, nowMs);
    return this.emitted.slice(before);
  }

  tick(nowMs: number): void {
    this.nowMs = nowMs;
    this.engine.tick(nowMs);
  }

  /** Bytes the engine holds back on the connections it reads, all flows together (the metric). */
  get heldTotal(): number {
    return this.engine.heldBytes;
  }

  of<T extends RecordedEvent['type']>(type: T): Extract<RecordedEvent, { type: T }>[] {
    return this.events.filter((e): e is Extract<RecordedEvent, { type: T }> => e.type === type);
  }

  refusals(): RefusalRecord[] {
    return this.of('refused').map((e) => e.rec);
  }

  rewrites(): RewriteRecord[] {
    return this.of('rewritten').map((e) => e.rec);
  }

  dropReasons(): string[] {
    return this.of('dropped').map((e) => e.reason);
  }

  onSide(side: number): Emitted[] {
    return this.emitted.filter((e) => e.side === side);
  }
}

// ---- packets ----------------------------------------------------------------------------------

export interface TcpFields {
  src: string | number;
  dst: string | number;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  payload?: Uint8Array;
  window?: number;
  ttl?: number;
  id?: number;
}

const addr = (a: string | number): number => (typeof a === 'number' ? a >>> 0 : ip(a));

/** A raw IPv4 + TCP packet (starting at the IP header) with valid checksums. */
export function tcpPacket(f: TcpFields): Uint8Array {
  const payload = f.payload ?? new Uint8Array(0);
  const b = new Uint8Array(40 + payload.length);
  writeIpv4Header(b, 0, { src: addr(f.src), dst: addr(f.dst), proto: IPPROTO_TCP, totalLen: b.length, ttl: f.ttl ?? 64, id: f.id ?? 0, dontFragment: true });
  writeTcpHeader(b, 20, { srcPort: f.sport, dstPort: f.dport, seq: f.seq >>> 0, ack: f.ack >>> 0, flags: f.flags, window: f.window ?? 65535 });
  b.set(payload, 40);
  finishTcpChecksumV4(b, 0, 20, 20 + payload.length);
  return b;
}

export interface ParsedTcp {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  payload: Uint8Array;
  ipChecksumOk: boolean;
  tcpChecksumOk: boolean;
}

const parseView = new PacketView();

/** Decodes an emitted raw IPv4/TCP packet; throws if it is not one (the engine must not emit junk). */
export function parseTcp(pkt: Uint8Array): ParsedTcp {
  const v = parseView;
  const st = readPacket(pkt, 0, pkt.length, LINKTYPE_RAW, v);
  if (st !== OK || v.ipVersion !== 4 || v.ipProto !== IPPROTO_TCP || v.l4Off < 0) throw new Error(`emitted packet is not IPv4/TCP: ${v.errReason}`);
  if (v.ipTotalLen !== pkt.length) throw new Error(`emitted packet of ${pkt.length} bytes says IP total length ${v.ipTotalLen}`);
  return {
    src: ipv4ToString(v.src4), dst: ipv4ToString(v.dst4), sport: v.srcPort, dport: v.dstPort, seq: v.tcpSeq, ack: v.tcpAck, flags: v.tcpFlags,
    payload: pkt.slice(v.payloadOff, v.payloadOff + v.payloadLen),
    ipChecksumOk: ipv4HeaderChecksumOk(pkt, v), tcpChecksumOk: l4ChecksumOk(pkt, v),
  };
}

/**
 * One direction's bytes reassembled by sequence number from emitted packets: `bytes[i]` is the
 * byte at isn+1+i (undefined slots → `holes`), `conflicts` lists offsets where two copies differ.
 */
export interface Assembled {
  bytes: Uint8Array;
  length: number;
  holes: number;
  conflicts: number[];
  badChecksums: number;
  packets: number;
}

export function assemble(packets: ParsedTcp[], firstSeq: number): Assembled {
  let end = 0;
  for (const p of packets) end = Math.max(end, ((p.seq - firstSeq) >>> 0) + p.payload.length);
  const bytes = new Uint8Array(end);
  const have = new Uint8Array(end);
  const conflicts: number[] = [];
  let badChecksums = 0;
  for (const p of packets) {
    if (!p.ipChecksumOk || !p.tcpChecksumOk) badChecksums++;
    const rel = (p.seq - firstSeq) >>> 0;
    for (let i = 0; i < p.payload.length; i++) {
      const k = rel + i;
      if (have[k] === 1 && bytes[k] !== p.payload[i]) conflicts.push(k);
      bytes[k] = p.payload[i]!;
      have[k] = 1;
    }
  }
  let holes = 0;
  for (let i = 0; i < end; i++) if (have[i] === 0) holes++;
  return { bytes, length: end, holes, conflicts, badChecksums, packets: packets.length };
}

// ---- TCP conversations through the engine ----------------------------------------------------

export interface ConnOptions {
  client?: string;
  cport?: number;
  ext?: string;
  eport?: number;
  server?: string;
  sport?: number;
  cIsn?: number;
  sIsn?: number;
}

/**
 * A TCP connection client:cport → ext:eport, which the engine carries to server:sport from
 * GW:gwPort. Offsets given to the segment methods are stream offsets (0 = first data byte).
 */
export class TcpConn {
  readonly client: string;
  readonly cport: number;
  readonly ext: string;
  readonly eport: number;
  readonly server: string;
  readonly sport: number;
  readonly cIsn: number;
  readonly sIsn: number;
  gwPort = -1;
  /** Bytes sent so far each way (stream offsets of the next new byte). */
  cSent = 0;
  sSent = 0;
  /** The acknowledgment number each end last sent (absolute), -1 before any: where a RST must land. */
  lastAckFromClient = -1;
  lastAckFromServer = -1;

  constructor(
    readonly h: EngineHarness,
    o: ConnOptions = {},
  ) {
    this.client = o.client ?? CLIENT;
    this.cport = o.cport ?? 50000;
    this.ext = o.ext ?? EXT;
    this.eport = o.eport ?? EPM;
    this.server = o.server ?? SERVER;
    this.sport = o.sport ?? this.eport;
    this.cIsn = (o.cIsn ?? 0x1000_0000) >>> 0;
    this.sIsn = (o.sIsn ?? 0xfffff000) >>> 0; // wraps past 2^32 during long streams on purpose
  }

  /** Client SYN: returns what the engine emitted; learns gwPort from the SYN it forwards. */
  syn(): Emitted[] {
    const out = this.h.inject(SIDE_EXTERNAL, tcpPacket({ src: this.client, dst: this.ext, sport: this.cport, dport: this.eport, seq: this.cIsn, ack: 0, flags: TCP_SYN }));
    for (const e of out) {
      if (e.side !== SIDE_INTERNAL) continue;
      const p = parseTcp(e.pkt);
      if ((p.flags & TCP_SYN) !== 0) this.gwPort = p.sport;
    }
    return out;
  }

  /** The gateway port of this connection, from the engine's flow table (mid-stream pickup: no SYN seen). */
  learnGwPort(): void {
    const fl = this.h.engine.flows;
    const flow = fl.lookupExternal(ip(this.client), this.cport, ip(this.ext), this.eport);
    if (flow >= 0) this.gwPort = fl.gwPort(flow);
  }

  synAck(): Emitted[] {
    this.lastAckFromServer = (this.cIsn + 1) >>> 0;
    return this.h.inject(SIDE_INTERNAL, tcpPacket({ src: this.server, dst: GW, sport: this.sport, dport: this.gwPort, seq: this.sIsn, ack: this.cIsn + 1, flags: TCP_SYN | TCP_ACK }));
  }

  /** The three-way handshake; true when every step was forwarded. */
  open(): boolean {
    const a = this.syn();
    if (this.gwPort < 0 || a.length !== 1) return false;
    const b = this.synAck();
    if (b.length !== 1) return false;
    const c = this.clientSeg(0, new Uint8Array(0), TCP_ACK);
    return c.length === 1;
  }

  clientSeq(off: number): number {
    return (this.cIsn + 1 + off) >>> 0;
  }

  serverSeq(off: number): number {
    return (this.sIsn + 1 + off) >>> 0;
  }

  clientPacket(off: number, payload: Uint8Array, flags = TCP_PSH | TCP_ACK, ackOff = this.sSent): Uint8Array {
    if ((flags & TCP_ACK) !== 0) this.lastAckFromClient = this.serverSeq(ackOff);
    return tcpPacket({ src: this.client, dst: this.ext, sport: this.cport, dport: this.eport, seq: this.clientSeq(off), ack: this.serverSeq(ackOff), flags, payload });
  }

  serverPacket(off: number, payload: Uint8Array, flags = TCP_PSH | TCP_ACK, ackOff = this.cSent): Uint8Array {
    if (this.gwPort < 0) this.learnGwPort();
    if ((flags & TCP_ACK) !== 0) this.lastAckFromServer = this.clientSeq(ackOff);
    return tcpPacket({ src: this.server, dst: GW, sport: this.sport, dport: this.gwPort, seq: this.serverSeq(off), ack: this.clientSeq(ackOff), flags, payload });
  }

  clientSeg(off: number, payload: Uint8Array, flags = TCP_PSH | TCP_ACK): Emitted[] {
    return this.h.inject(SIDE_EXTERNAL, this.clientPacket(off, payload, flags));
  }

  serverSeg(off: number, payload: Uint8Array, flags = TCP_PSH | TCP_ACK): Emitted[] {
    return this.h.inject(SIDE_INTERNAL, this.serverPacket(off, payload, flags));
  }

  /** Sends `data` from the client as the next bytes of its stream, cut every `mss` bytes. */
  clientSend(data: Uint8Array, mss = 1460): Emitted[] {
    const out: Emitted[] = [];
    for (let p = 0; p < data.length; p += mss) out.push(...this.clientSeg(this.cSent + p, data.subarray(p, Math.min(data.length, p + mss))));
    this.cSent += data.length;
    return out;
  }

  serverSend(data: Uint8Array, mss = 1460): Emitted[] {
    const out: Emitted[] = [];
    for (let p = 0; p < data.length; p += mss) out.push(...this.serverSeg(this.sSent + p, data.subarray(p, Math.min(data.length, p + mss))));
    this.sSent += data.length;
    return out;
  }

  clientFin(): Emitted[] {
    const out = this.clientSeg(this.cSent, new Uint8Array(0), TCP_FIN | TCP_ACK);
    this.cSent += 1;
    return out;
  }

  serverFin(): Emitted[] {
    const out = this.serverSeg(this.sSent, new Uint8Array(0), TCP_FIN | TCP_ACK);
    this.sSent += 1;
    return out;
  }

  /** Emitted packets of this connection towards the client (external side, from ext:eport). */
  toClient(from = this.h.emitted): ParsedTcp[] {
    return from
      .filter((e) => e.side === SIDE_EXTERNAL)
      .map((e) => parseTcp(e.pkt))
      .filter((p) => p.src === this.ext && p.sport === this.eport && p.dst === this.client && p.dport === this.cport);
  }

  /** Emitted packets of this connection towards the server (internal side, from GW:gwPort). */
  toServer(from = this.h.emitted): ParsedTcp[] {
    return from
      .filter((e) => e.side === SIDE_INTERNAL)
      .map((e) => parseTcp(e.pkt))
      .filter((p) => p.src === GW && p.sport === this.gwPort && p.dst === this.server && p.dport === this.sport);
  }

  /** The server's stream as the client received it. */
  deliveredToClient(): Assembled {
    return assemble(this.toClient().filter((p) => (p.flags & TCP_SYN) === 0), this.serverSeq(0));
  }

  /** The client's stream as the server received it. */
  deliveredToServer(): Assembled {
    return assemble(this.toServer().filter((p) => (p.flags & TCP_SYN) === 0), this.clientSeq(0));
  }
}

// ---- DCE/RPC and EPM PDUs ---------------------------------------------------------------------

export const NDR_SYNTAX = { uuid: UUID_NDR, version: 2 };
export const NDR64_SYNTAX = { uuid: UUID_NDR64, version: 1 };

/** bind to the endpoint mapper on context 0, NDR (or NDR64) offered. */
export function epmBind(callId = 1, ndr64 = false, ifUuid = UUID_EPM_TEXT, major = 3, littleEndian = true): Uint8Array {
  return encode(writeBind, { callId, littleEndian, contexts: [{ ctxId: 0, abstract: { uuid: ifUuid, major, minor: 0 }, transfer: [ndr64 ? NDR64_SYNTAX : NDR_SYNTAX] }] });
}

/** bind_ack accepting context 0 with NDR (or NDR64). */
export function epmBindAck(callId = 1, ndr64 = false, littleEndian = true): Uint8Array {
  return encode(writeBindAck, { callId, littleEndian, secAddr: '135', results: [{ result: 0, transfer: ndr64 ? NDR64_SYNTAX : NDR_SYNTAX }] });
}

/** A ncacn_ip_tcp tower naming ipv4:port for interface uuid major.minor. */
export function tcpTower(ifUuid: string, major: number, minor: number, ipv4: string, port: number): Uint8Array {
  return buildTower({ ifUuid, ifMajor: major, ifMinor: minor, protocol: PROTO_NCACN_IP_TCP, port, ipv4: ip(ipv4) });
}

function stub(write: (buf: Uint8Array, off: number) => number): Uint8Array {
  const b = new Uint8Array(1 << 17);
  const n = write(b, 0);
  return b.slice(0, n);
}

export interface MapRequestOptions {
  callId?: number;
  ctxId?: number;
  ndr64?: boolean;
  ifUuid?: string;
  major?: number;
  minor?: number;
  opnum?: number;
  auth?: AuthOptions;
  littleEndian?: boolean;
}

/** An ept_map request PDU asking for ifUuid major.minor over ncacn_ip_tcp. */
export function eptMapRequest(o: MapRequestOptions = {}): Uint8Array {
  const tower = buildTower({ ifUuid: o.ifUuid ?? EMSMDB, ifMajor: o.major ?? 0, ifMinor: o.minor ?? 81, protocol: PROTO_NCACN_IP_TCP, port: 0, ipv4: 0 });
  const le = o.littleEndian ?? true;
  const s = stub((b, off) => writeEptMapRequest(b, off, { ndr64: o.ndr64 ?? false, littleEndian: le, tower, maxTowers: 4 }));
  return encode(writeRequest, { callId: o.callId ?? 2, ctxId: o.ctxId ?? 0, opnum: o.opnum ?? EPT_MAP, stub: s, littleEndian: le, ...(o.auth ? { auth: o.auth } : {}) });
}

export function eptLookupRequest(o: { callId?: number; ndr64?: boolean; littleEndian?: boolean } = {}): Uint8Array {
  const le = o.littleEndian ?? true;
  const s = stub((b, off) => writeEptLookupRequest(b, off, { ndr64: o.ndr64 ?? false, littleEndian: le, inquiryType: 0, versOption: 1, maxEnts: 500 }));
  return encode(writeRequest, { callId: o.callId ?? 2, ctxId: 0, opnum: EPT_LOOKUP, stub: s, littleEndian: le });
}

export function eptMapResponseStub(towers: Uint8Array[], ndr64 = false, littleEndian = true): Uint8Array {
  return stub((b, off) => writeEptMapResponse(b, off, { ndr64, littleEndian, towers, status: 0 }));
}

export function eptLookupResponseStub(entries: EptLookupEntrySpec[], ndr64 = false, littleEndian = true): Uint8Array {
  return stub((b, off) => writeEptLookupResponse(b, off, { ndr64, littleEndian, entries, status: 0 }));
}

/**
 * Response PDUs carrying `stubBytes` for call `callId`, cut into fragments at the stub offsets
 * `cuts` (ascending, inside the stub); concatenated as they go on the wire.
 */
export function responseFragments(stubBytes: Uint8Array, callId: number, cuts: number[] = [], auth?: AuthOptions, littleEndian = true): Uint8Array {
  const bounds = [0, ...cuts, stubBytes.length];
  const parts: Uint8Array[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const flags = (i === 0 ? PFC_FIRST_FRAG : 0) | (i + 2 === bounds.length ? PFC_LAST_FRAG : 0);
    parts.push(encode(writeResponse, {
      callId, ctxId: 0, stub: stubBytes.subarray(bounds[i], bounds[i + 1]), pfcFlags: flags, allocHint: stubBytes.length - bounds[i]!, littleEndian,
      ...(auth ? { auth } : {}),
    }));
  }
  return concat(parts);
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Where each tcp tower's port and IPv4 fields sit in a response stub (stub offsets). */
export function towerFieldOffsets(stubBytes: Uint8Array, ndr64: boolean, lookup: boolean, le = true): { portOff: number; ipv4Off: number }[] {
  const out: { portOff: number; ipv4Off: number }[] = [];
  if (lookup) {
    const v = new EptLookupResponseView();
    if (readEptLookupResponse(stubBytes, 0, stubBytes.length, ndr64, le, v) !== OK) throw new Error(`lookup stub: ${v.errReason}`);
    for (let i = 0; i < v.entryCount; i++) {
      const t = v.towers[i]!;
      if (v.towerOff[i]! >= 0 && t.protocol === PROTO_NCACN_IP_TCP) out.push({ portOff: t.portOff, ipv4Off: t.ipv4Off });
    }
  } else {
    const v = new EptMapResponseView();
    if (readEptMapResponse(stubBytes, 0, stubBytes.length, ndr64, le, v) !== OK) throw new Error(`map stub: ${v.errReason}`);
    for (let i = 0; i < v.towerCount; i++) {
      const t = v.towers[i]!;
      if (t.protocol === PROTO_NCACN_IP_TCP) out.push({ portOff: t.portOff, ipv4Off: t.ipv4Off });
    }
  }
  return out;
}

// ---- an independent reading of what reached the client --------------------------------------

export interface StreamTower {
  callId: number;
  op: 'ept_map' | 'ept_lookup';
  ifUuid: string;
  protocol: number;
  ip: string;
  port: number;
  /** Stream offsets of the 2 port bytes and the 4 IPv4 bytes (-1 if absent). */
  portAt: number[];
  ipv4At: number[];
}

/**
 * Every tower in the EPM responses of one server → client byte stream: PDUs framed by
 * frag_length, response fragments joined per call_id, each stub decoded as ept_map then
 * ept_lookup, NDR then NDR64. Used to check the engine's rewrites independently of it.
 */
export function towersInStream(stream: Uint8Array): StreamTower[] {
  const towers: StreamTower[] = [];
  const calls = new Map<number, { bytes: number[]; pos: number[] }>();
  let p = 0;
  while (p + 16 <= stream.length) {
    const le = (stream[p + 4]! & 0x10) !== 0;
    const rd16 = (o: number): number => (le ? stream[o]! | (stream[o + 1]! << 8) : (stream[o]! << 8) | stream[o + 1]!);
    const fragLen = rd16(p + 8);
    const authLen = rd16(p + 10);
    if (fragLen < 16 || p + fragLen > stream.length) break;
    const callId = le
      ? (stream[p + 12]! | (stream[p + 13]! << 8) | (stream[p + 14]! << 16) | (stream[p + 15]! << 24)) >>> 0
      : ((stream[p + 12]! << 24) | (stream[p + 13]! << 16) | (stream[p + 14]! << 8) | stream[p + 15]!) >>> 0;
    if (stream[p + 2] === PTYPE_RESPONSE && fragLen >= 24) {
      const flags = stream[p + 3]!;
      let end = p + fragLen;
      if (authLen > 0) end = end - authLen - 8 - stream[end - authLen - 8 + 2]!;
      if ((flags & PFC_FIRST_FRAG) !== 0) calls.set(callId, { bytes: [], pos: [] });
      const c = calls.get(callId);
      if (c !== undefined) {
        for (let i = p + 24; i < end; i++) {
          c.bytes.push(stream[i]!);
          c.pos.push(i);
        }
        if ((flags & PFC_LAST_FRAG) !== 0) {
          calls.delete(callId);
          decodeCall(Uint8Array.from(c.bytes), c.pos, callId, le, towers);
        }
      }
    }
    p += fragLen;
  }
  return towers;
}

const mapView = new EptMapResponseView();
const lookupView = new EptLookupResponseView();

function decodeCall(s: Uint8Array, pos: number[], callId: number, le: boolean, out: StreamTower[]): void {
  const push = (t: TowerView, op: 'ept_map' | 'ept_lookup'): void => {
    out.push({
      callId, op, ifUuid: t.ifUuidOff >= 0 ? towerUuidToString(s, t.ifUuidOff) : '', protocol: t.protocol, ip: ipv4ToString(t.ipv4), port: t.port,
      portAt: t.portOff >= 0 ? [pos[t.portOff]!, pos[t.portOff + 1]!] : [],
      ipv4At: t.ipv4Off >= 0 ? [0, 1, 2, 3].map((k) => pos[t.ipv4Off + k]!) : [],
    });
  };
  for (const ndr64 of [false, true]) {
    if (readEptMapResponse(s, 0, s.length, ndr64, le, mapView) === OK) {
      for (let i = 0; i < mapView.towerCount; i++) push(mapView.towers[i]!, 'ept_map');
      return;
    }
  }
  for (const ndr64 of [false, true]) {
    if (readEptLookupResponse(s, 0, s.length, ndr64, le, lookupView) === OK) {
      for (let i = 0; i < lookupView.entryCount; i++) if (lookupView.towerOff[i]! >= 0) push(lookupView.towers[i]!, 'ept_lookup');
      return;
    }
  }
}

/**
 * Checks a delivered server → client stream against the original: every ncacn_ip_tcp tower that
 * named `serverIp` (or 0.0.0.0) now names `extIp` and a port in [lo, hi]; every byte outside the
 * rewritten port/IPv4 fields is unchanged. Returns problems as text (empty = fine) and the
 * rewritten (original → new) endpoints in stream order.
 */
export function checkRewrittenStream(
  original: Uint8Array, delivered: Uint8Array, serverIp: string, extIp: string, lo = PORT_LO, hi = PORT_HI,
): { problems: string[]; rewritten: string[] } {
  const problems: string[] = [];
  const rewritten: string[] = [];
  if (delivered.length !== original.length) problems.push(`length ${delivered.length}, expected ${original.length}`);
  const before = towersInStream(original);
  const after = towersInStream(delivered);
  if (before.length !== after.length) problems.push(`${after.length} towers delivered, ${before.length} sent`);
  const mayChange = new Set<number>();
  for (let i = 0; i < Math.min(before.length, after.length); i++) {
    const b = before[i]!;
    const a = after[i]!;
    if (b.protocol !== PROTO_NCACN_IP_TCP || (b.ip !== serverIp && b.ip !== '0.0.0.0')) continue;
    for (const k of [...a.portAt, ...a.ipv4At]) mayChange.add(k);
    rewritten.push(`${b.ip}:${b.port} -> ${a.ip}:${a.port}`);
    if (a.ip !== extIp) problems.push(`tower ${i} (${b.ifUuid}) names ${a.ip}, not ${extIp}`);
    if (a.port < lo || a.port > hi) problems.push(`tower ${i} (${b.ifUuid}) port ${a.port} outside ${lo}-${hi}`);
  }
  for (let i = 0; i < Math.min(original.length, delivered.length); i++) {
    if (original[i] !== delivered[i] && !mayChange.has(i)) {
      problems.push(`byte ${i} changed outside a rewritten field (${original[i]} -> ${delivered[i]})`);
      if (problems.length > 10) break;
    }
  }
  return { problems, rewritten };
}

// ---- EPM conversations from capture files -----------------------------------------------------

/** Consecutive data of one direction, as the capture's segments carried it. */
export interface Turn {
  fromClient: boolean;
  /** Payloads in capture order (retransmissions and overlaps removed). */
  segments: Uint8Array[];
}

export interface Conversation {
  client: string;
  cport: number;
  server: string;
  turns: Turn[];
  /** A hole in either direction cut the conversation short there. */
  gap: boolean;
  /** Segments seen again (retransmissions) in the capture. */
  retransmissions: number;
}

/** Every TCP port-135 conversation of a capture file, as client and server byte streams in turns. */
export function epmConversations(path: string): Conversation[] {
  const reader = openCaptureFile(path);
  const rec = new CaptureRecord();
  const v = new PacketView();
  v.acceptTsoZeroLen = 1;
  interface Dir {
    base: number;
    next: number;
    started: boolean;
  }
  const convs = new Map<string, Conversation & { c2s: Dir; s2c: Dir }>();
  const order: string[] = [];
  try {
    while (reader.next(rec)) {
      if (readPacket(rec.data, rec.dataOff, rec.capLen, rec.linkType, v) !== OK) continue;
      if (v.ipVersion !== 4 || v.ipProto !== IPPROTO_TCP || v.l4Off < 0 || v.isFragment) continue;
      const fromClient = v.dstPort === EPM;
      if (!fromClient && v.srcPort !== EPM) continue;
      const client = ipv4ToString(fromClient ? v.src4 : v.dst4);
      const cport = fromClient ? v.srcPort : v.dstPort;
      const server = ipv4ToString(fromClient ? v.dst4 : v.src4);
      const key = `${client}:${cport}>${server}`;
      let c = convs.get(key);
      if (c === undefined) {
        c = { client, cport, server, turns: [], gap: false, retransmissions: 0, c2s: { base: 0, next: 0, started: false }, s2c: { base: 0, next: 0, started: false } };
        convs.set(key, c);
        order.push(key);
      }
      const d = fromClient ? c.c2s : c.s2c;
      const seq = v.tcpSeq;
      if ((v.tcpFlags & TCP_SYN) !== 0) {
        d.base = (seq + 1) >>> 0;
        d.next = 0;
        d.started = true;
        continue;
      }
      const len = Math.min(v.payloadLen, rec.capLen - (v.payloadOff - rec.dataOff));
      if (len <= 0 || c.gap) continue;
      if (!d.started) {
        d.base = seq;
        d.started = true;
      }
      const rel = (seq - d.base) | 0;
      if (rel > d.next) {
        c.gap = true;
        continue;
      }
      if (rel + len <= d.next) {
        c.retransmissions++;
        continue;
      }
      const data = rec.data.slice(v.payloadOff + (d.next - rel), v.payloadOff + len);
      d.next = rel + len;
      const last = c.turns[c.turns.length - 1];
      if (last !== undefined && last.fromClient === fromClient) last.segments.push(data);
      else c.turns.push({ fromClient, segments: [data] });
    }
  } finally {
    reader.close();
  }
  return order.map((k) => {
    const { c2s: _a, s2c: _b, ...conv } = convs.get(k)!;
    return conv;
  });
}

/** Bytes of one direction of a conversation. */
export function directionBytes(conv: Conversation, fromClient: boolean): Uint8Array {
  return concat(conv.turns.filter((t) => t.fromClient === fromClient).flatMap((t) => t.segments));
}

// ---- playing a conversation with another segmentation ---------------------------------------

/** A segment to send: stream offset and length within one direction. */
export interface Piece {
  off: number;
  len: number;
}

/** Per turn, the pieces to send (in sending order); they may repeat earlier bytes of the direction. */
export type Schedule = Piece[][];

/** Turn i's start and end offsets in its direction's stream. */
export function turnBounds(conv: Conversation): { start: number; end: number }[] {
  const sent = [0, 0];
  return conv.turns.map((t) => {
    const d = t.fromClient ? 0 : 1;
    const start = sent[d]!;
    sent[d] = start + t.segments.reduce((s, x) => s + x.length, 0);
    return { start, end: sent[d]! };
  });
}

/** The capture's own segmentation. */
export function originalSchedule(conv: Conversation): Schedule {
  const bounds = turnBounds(conv);
  return conv.turns.map((t, i) => {
    let off = bounds[i]!.start;
    return t.segments.map((s) => {
      const p = { off, len: s.length };
      off += s.length;
      return p;
    });
  });
}

/** Each turn cut at the given relative cut points (per turn, ascending, inside the turn). */
export function cutSchedule(conv: Conversation, cutsOf: (turnIndex: number, turnLen: number) => number[]): Schedule {
  return turnBounds(conv).map((b, i) => {
    const len = b.end - b.start;
    const cuts = [...new Set(cutsOf(i, len).filter((c) => c > 0 && c < len))].sort((x, y) => x - y);
    const edges = [0, ...cuts, len];
    const out: Piece[] = [];
    for (let k = 0; k + 1 < edges.length; k++) out.push({ off: b.start + edges[k]!, len: edges[k + 1]! - edges[k]! });
    return out;
  });
}

export interface PlayOptions extends ConnOptions {
  /** No handshake: the engine picks the connection up mid-stream (replays of captures without SYN). */
  midstream?: boolean;
}

export interface PlayResult {
  conn: TcpConn;
  toClient: Assembled;
  toServer: Assembled;
  clientStream: Uint8Array;
  serverStream: Uint8Array;
}

/**
 * Plays a conversation through a fresh connection: handshake, then each turn's pieces from its
 * side, ACKing everything the other side sent before. The rule must publish conv.server.
 */
export function playConversation(h: EngineHarness, conv: Conversation, schedule: Schedule, conn: PlayOptions = {}): PlayResult {
  const { midstream, ...connOpts } = conn;
  const c = new TcpConn(h, { client: conv.client, cport: conv.cport, server: conv.server, ...connOpts });
  if (midstream !== true && !c.open()) throw new Error('handshake not forwarded');
  const clientStream = directionBytes(conv, true);
  const serverStream = directionBytes(conv, false);
  const bounds = turnBounds(conv);
  conv.turns.forEach((t, i) => {
    const stream = t.fromClient ? clientStream : serverStream;
    for (const p of schedule[i]!) {
      const data = stream.subarray(p.off, p.off + p.len);
      if (t.fromClient) c.clientSeg(p.off, data);
      else c.serverSeg(p.off, data);
    }
    if (t.fromClient) c.cSent = bounds[i]!.end;
    else c.sSent = bounds[i]!.end;
    h.nowMs += 1;
  });
  return { conn: c, toClient: c.deliveredToClient(), toServer: c.deliveredToServer(), clientStream, serverStream };
}

/** A conversation from whole messages (fromClient, bytes), each cut every `mss` bytes as sent. */
export function synthConversation(messages: [boolean, Uint8Array][], o: { client?: string; cport?: number; server?: string; mss?: number } = {}): Conversation {
  const mss = o.mss ?? 1460;
  const turns: Turn[] = [];
  for (const [fromClient, bytes] of messages) {
    const segs: Uint8Array[] = [];
    for (let p = 0; p < bytes.length; p += mss) segs.push(bytes.slice(p, Math.min(bytes.length, p + mss)));
    const last = turns[turns.length - 1];
    if (last !== undefined && last.fromClient === fromClient) last.segments.push(...segs);
    else turns.push({ fromClient, segments: segs });
  }
  return { client: o.client ?? CLIENT, cport: o.cport ?? 50000, server: o.server ?? SERVER, turns, gap: false, retransmissions: 0 };
}

// ---- EPM sessions -----------------------------------------------------------------------------

/** An EPM connection to ext:135, handshake done, bound to the endpoint mapper (bind + bind_ack). */
export function epmSession(h: EngineHarness, o: ConnOptions & { ndr64?: boolean } = {}): TcpConn {
  const c = new TcpConn(h, o);
  if (!c.open()) throw new Error('EPM handshake not forwarded');
  c.clientSend(epmBind(1, o.ndr64 ?? false));
  c.serverSend(epmBindAck(1, o.ndr64 ?? false));
  return c;
}

/** One ept_map call on an EPM session: the request, then the server's answer with `towers`. */
export function mapCall(c: TcpConn, towers: Uint8Array[], o: MapRequestOptions = {}): Emitted[] {
  const callId = o.callId ?? 2;
  c.clientSend(eptMapRequest({ ...o, callId }));
  return c.serverSend(responseFragments(eptMapResponseStub(towers, o.ndr64 ?? false), callId));
}

/** The external port of the last rewrite the engine reported. */
export function lastMappedPort(h: EngineHarness): number {
  const r = h.rewrites();
  const last = r[r.length - 1];
  if (last === undefined) throw new Error('no rewrite reported');
  return Number(last.rewritten.split(':')[1]);
}

// ---- traffic on mapped connections ------------------------------------------------------------
// The gateway reads every PDU header on a mapped connection too, so tests send real DCE/RPC there.

/** bind to `ifUuid` major.minor (EMSMDB 0.81 by default), NDR, context 0. */
export function ifBind(callId = 1, ifUuid = EMSMDB, major = 0, minor = 81): Uint8Array {
  return encode(writeBind, { callId, contexts: [{ ctxId: 0, abstract: { uuid: ifUuid, major, minor }, transfer: [NDR_SYNTAX] }] });
}

/** bind_ack accepting context 0 with NDR (secondary address = the server's port). */
export function ifBindAck(callId = 1, port = 1032): Uint8Array {
  return encode(writeBindAck, { callId, secAddr: String(port), results: [{ result: 0, transfer: NDR_SYNTAX }] });
}

/** A request on context 0 with a stub of `len` bytes of `fill`. */
export function rpcRequest(callId: number, len: number, fill = 0x11, opnum = 10): Uint8Array {
  return encode(writeRequest, { callId, ctxId: 0, opnum, stub: new Uint8Array(len).fill(fill) });
}

/** A response on context 0 with a stub of `len` bytes of `fill`. */
export function rpcResponse(callId: number, len: number, fill = 0x22): Uint8Array {
  return encode(writeResponse, { callId, ctxId: 0, stub: new Uint8Array(len).fill(fill) });
}

/** Binds a mapped connection (handshake already done) to EMSMDB: bind from the client, bind_ack back. */
export function bindMapped(c: TcpConn, ifUuid = EMSMDB, major = 0, minor = 81): void {
  c.clientSend(ifBind(1, ifUuid, major, minor));
  c.serverSend(ifBindAck(1, c.sport));
}

/**
 * The benchmark workload: a deterministic, closed-loop generator of gateway-side captures.
 *
 * What it writes is what the gateway's two interfaces receive (a capture `rpcgw replay --mode
 * gateway` takes): on the external side, packets from clients to the rule's external address E;
 * on the internal side, packets from the server S to the gateway's internal address G. Packets
 * the gateway itself sends are not in the file (the replay makes them).
 *
 * Closed loop: the server's answers must go to the gateway port the engine chose for each
 * connection, and store connections must go to the mapped port the engine wrote into the
 * ept_map response. So the generator runs the engine in-process on exactly the packets it writes
 * (same rules, same seed, same mid-stream pickup as `rpcgw replay`), in the same order with the
 * same millisecond timestamps, and reads those ports back (the flow table after a SYN, the
 * rewrite events after an ept_map response). Rewrites are length-preserving, so TCP sequence
 * numbers are the endpoints' own on both sides. A replay of the file makes the same decisions.
 *
 * Per client (one actor per TCP connection, all interleaved by time):
 *   EPM (TCP 135): handshake; bind offering NDR (and NDR64 for a share of clients, which the
 *     server then accepts); ept_map for EMSMDB, NSPI and RFR in NDR or NDR64; close.
 *   EMSMDB, NSPI, RFR store connections to the mapped ports: bind; calls with request/response
 *     stubs of realistic sizes (a few hundred bytes to 64 KiB, split into 5840-byte fragments and
 *     1460-byte segments, delayed ACKs); idle gaps (seconds, sometimes minutes); disconnect; close.
 *   A share of clients registers for UDP push (EcRRegisterPushNotification with a SOCKADDR_IN
 *     callback); the server then sends notification datagrams (S -> G, UDP). The engine does not
 *     handle UDP yet (push notifications are another issue), so today these are dropped as
 *     unsupported-protocol, and counted as such.
 * Background the gateway must drop, interleaved: port scans of E (port-not-published, or
 * no-pinhole in the mapped range), ICMP echo (icmp-not-translated) and stray UDP to E (unsupported-protocol), stray
 * server segments to G (no-connection); and frames not addressed to the gateway at all (ARP,
 * IPv6 link-local, IPv4 to other hosts), which a replay skips before the engine.
 */
import { statSync } from 'node:fs';
import { CaptureFileWriter, type CaptureWriteFormat } from '../src/dataplane/capture-file.js';
import { Engine } from '../src/engine/engine.js';
import { NO_EVENTS, NOTIFY_REWRITTEN, SIDE_EXTERNAL, SIDE_INTERNAL, type EngineEvents } from '../src/engine/events.js';
import type { CompiledRules } from '../src/policy/compiled.js';
import { EMSMDB, EPM_UUID, NSPI, RFR, type KnownInterface } from '../src/policy/interfaces.js';
import { LINKTYPE_ETHERNET } from '../src/wire/link.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN } from '../src/wire/tcp.js';
import { ipv4ToString } from '../src/wire/addr.js';
import { writeBind, writeBindAck, writeRequest, writeResponse, type ContextElemOptions, type BindResultOptions } from '../src/dcerpc/pdu-write.js';
import {
  NDR64_VERSION, NDR_VERSION, PFC_FIRST_FRAG, PFC_LAST_FRAG, REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED, RESULT_ACCEPTANCE,
  RESULT_PROVIDER_REJECTION, UUID_NDR, UUID_NDR64,
} from '../src/dcerpc/constants.js';
import { writeEptMapRequest, writeEptMapResponse } from '../src/epm/ept-map.js';
import { buildTower } from '../src/epm/tower.js';
import { PROTO_NCACN_IP_TCP } from '../src/epm/constants.js';
import { Rng } from './rng.js';
import {
  IP_OFF, MAC_EXT_ROUTER, MAC_GW_EXT, MAC_GW_INT, MAC_SERVER, MSS, writeArpRequest, writeIcmpEcho, writeLlmnrV6, writeTcpFrame, writeUdpFrame,
} from './frames.js';

export interface WorkloadOptions {
  /** PRNG seed: same seed and options, same file byte for byte. */
  seed: number;
  clients: number;
  /** Client sessions start uniformly over this many seconds. */
  startSpreadS: number;
  /** Mean EcDoRpcExt2 calls on one EMSMDB connection (geometric). */
  emsmdbCallsMean: number;
  /** Share of clients that offer NDR64 (the server accepts it); the rest speak NDR. */
  ndr64Share: number;
  /** Share of clients that register for UDP push notifications. */
  pushShare: number;
  /** Background frames as a share of all frames. */
  backgroundShare: number;
  format: CaptureWriteFormat;
  /** Hash seed of the engine: must be the replay's --seed (default 1) for the same decisions. */
  engineSeed: number;
}

export const DEFAULT_WORKLOAD: WorkloadOptions = {
  seed: 20240601,
  clients: 100,
  startSpreadS: 60,
  emsmdbCallsMean: 20,
  ndr64Share: 0.5,
  pushShare: 0.5,
  backgroundShare: 0.05,
  format: 'pcap',
  engineSeed: 1,
};

/** Frames a client produces on average with DEFAULT_WORKLOAD (measured; to size a workload by packets). */
export const FRAMES_PER_CLIENT_ESTIMATE = 250;

export interface WorkloadSummary {
  file: string;
  format: CaptureWriteFormat;
  options: WorkloadOptions;
  frames: number;
  /** Bytes of all frames (Ethernet header included, no pcap record headers). */
  frameBytes: number;
  fileBytes: number;
  /** Frames a replay hands to the engine (IPv4 addressed to E or G), and their IP bytes. */
  enginePackets: number;
  engineIpBytes: number;
  fromExternal: number;
  fromInternal: number;
  /** What the engine (in the generator) sent: a replay must send exactly as many. */
  engineSent: number;
  /** Frames by kind (epm, emsmdb, nspi, rfr, udp-notify, background kinds). */
  composition: Record<string, number>;
  /** Engine drops by reason name: only the background and UDP-notification ones are expected. */
  engineDrops: Record<string, number>;
  towersRewritten: number;
  mappingsCreated: number;
  connectionsOpened: number;
  peakMappings: number;
  peakConnections: number;
  ndr64Clients: number;
  pushClients: number;
  captureSeconds: number;
  generatorSeconds: number;
}

/**
 * Drops the workload is built to cause (background, and push datagrams an engine without
 * notification support cannot place); any other drop or refusal means a generator bug.
 */
export const EXPECTED_DROPS: readonly string[] = ['unsupported-protocol', 'icmp-not-translated', 'port-not-published', 'no-pinhole', 'no-connection', 'no-notification-registration'];

const T0_US = 1_704_067_200 * 1_000_000; // 2024-01-01T00:00:00Z
const CLIENT_BASE = 0x64400001; // 100.64.0.1
const SCANNER_BASE = 0x2d000000; // 45.0.0.0/8
const FRAG_MAX = 5840; // max_xmit_frag / max_recv_frag Windows negotiates on TCP
const RESP_HDR = 24;
const REQ_HDR = 24;
const SERVER_RTT_US = 300;
const SERVER_GAP_US = 12; // 1460 bytes at 1 Gbit/s
const STUB_POOL = 1 << 20;

const PORT_EMSMDB = 1032; // dynamic ports, as the Exchange 2003 server of the public Outlook capture registers them
const PORT_RFR = 4996;
const PORT_NSPI = 4997;

const EPM_IF = { uuid: EPM_UUID, major: 3, minor: 0 };
const NDR_SYNTAX = { uuid: UUID_NDR, version: NDR_VERSION };
const NDR64_SYNTAX = { uuid: UUID_NDR64, version: NDR64_VERSION };
const NDR64_TEXT = '71710533-beba-4937-8319-b5dbef9ccc36';

// ---------------------------------------------------------------------------------------------
// simulation core
// ---------------------------------------------------------------------------------------------

/** An actor puts its next frame in its slot and yields the frame's arrival time (µs). */
type Actor = Generator<number, void, void>;

class Slot {
  readonly frame = new Uint8Array(2048);
  len = 0;
  /** SIDE_EXTERNAL / SIDE_INTERNAL, or -1: not addressed to the gateway (a replay skips it). */
  side = -1;
  kind = '';
}

class Running {
  t = 0;
  seq = 0;
  constructor(
    readonly gen: Actor,
    readonly slot: Slot,
  ) {}
}

/** Binary min-heap of running actors by (time, insertion order): a deterministic interleaving. */
class ActorHeap {
  private readonly a: Running[] = [];
  get size(): number {
    return this.a.length;
  }
  push(r: Running): void {
    const a = this.a;
    a.push(r);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): Running {
    const a = this.a;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l]!, a[m]!)) m = l;
        if (r < a.length && before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(x: Running, y: Running): boolean {
  return x.t < y.t || (x.t === y.t && x.seq < y.seq);
}

class Sim {
  readonly engine: Engine;
  readonly heap = new ActorHeap();
  readonly summary: WorkloadSummary;
  /** `${client}|${server ip:port}` -> mapped external port, from the engine's rewrite events. */
  readonly mapped = new Map<string, number>();
  /** client -> relay port on G the engine wrote into the client's push registration (if it did). */
  readonly relay = new Map<string, number>();
  readonly pool: Uint8Array;
  readonly gwExt: number;
  readonly gwInt: number;
  readonly serverIp: number;
  private readonly bgRng: Rng;
  private readonly bgSlot = new Slot();
  private seq = 0;
  lastUs = T0_US;
  private bgCount = 0;
  firstUs = -1;

  constructor(
    readonly rules: CompiledRules,
    readonly writer: CaptureFileWriter,
    readonly opts: WorkloadOptions,
    summary: WorkloadSummary,
  ) {
    this.summary = summary;
    const rule = rules.rules[0]!;
    this.gwExt = rule.externalIp;
    this.gwInt = rules.gateway.internalIp;
    this.serverIp = rule.serverIp;
    const events: EngineEvents = {
      ...NO_EVENTS,
      rewrote: (e) => {
        this.mapped.set(`${ipv4ToString(e.clientIp)}|${ipv4ToString(e.origIp)}:${e.origPort}`, e.extPort);
      },
      notified: (e) => {
        if (e.code === NOTIFY_REWRITTEN) this.relay.set(ipv4ToString(e.clientIp), e.origPort);
      },
    };
    let sent = 0;
    this.engine = new Engine({
      rules, events, seed: opts.engineSeed, midstreamPickup: true,
      output: { emit: () => void sent++ },
    });
    Object.defineProperty(summary, 'engineSent', { get: () => sent, enumerable: true, configurable: true });
    this.pool = new Uint8Array(STUB_POOL);
    new Rng(opts.seed ^ 0x5eed).fill(this.pool, 0, STUB_POOL);
    this.bgRng = new Rng(opts.seed ^ 0xb6);
  }

  /** Starts an actor; it writes every frame it yields into the one slot it is given. */
  spawn(actor: (slot: Slot) => Actor): void {
    const slot = new Slot();
    const r = new Running(actor(slot), slot);
    if (this.resume(r)) this.heap.push(r);
  }

  run(): void {
    const bgPerFrame = this.opts.backgroundShare / Math.max(1e-9, 1 - this.opts.backgroundShare);
    while (this.heap.size > 0) {
      const r = this.heap.pop();
      this.write(r.t, r.slot);
      // Background at the same instant, at the configured share of all frames.
      if (this.bgRng.chance(bgPerFrame)) this.background(r.t);
      if (this.resume(r)) this.heap.push(r);
    }
  }

  /** Advances an actor to its next frame; false when it has finished. */
  private resume(r: Running): boolean {
    const step = r.gen.next();
    if (step.done === true) return false;
    r.t = Math.max(step.value, this.lastUs);
    r.seq = this.seq++;
    return true;
  }

  /** Writes one frame and, if it is addressed to the gateway, hands it to the engine (which rewrites it in place). */
  private write(tUs: number, s: Slot): void {
    this.lastUs = tUs;
    if (this.firstUs < 0) this.firstUs = tUs;
    const sec = Math.floor(tUs / 1e6);
    const usec = tUs - sec * 1e6;
    this.writer.write(sec, usec * 1000, s.frame, 0, s.len);
    const sm = this.summary;
    sm.frames++;
    sm.frameBytes += s.len;
    sm.composition[s.kind] = (sm.composition[s.kind] ?? 0) + 1;
    if (s.side >= 0) {
      const ipLen = s.len - IP_OFF;
      sm.enginePackets++;
      sm.engineIpBytes += ipLen;
      if (s.side === SIDE_EXTERNAL) sm.fromExternal++;
      else sm.fromInternal++;
      this.engine.onPacket(s.side, s.frame, IP_OFF, ipLen, Math.floor(tUs / 1000));
      const m = this.engine.mappings.count;
      const f = this.engine.flows.count;
      if (m > sm.peakMappings) sm.peakMappings = m;
      if (f > sm.peakConnections) sm.peakConnections = f;
    }
  }

  /** One frame of background traffic at time t. */
  private background(tUs: number): void {
    const g = this.bgRng;
    const s = this.bgSlot;
    const b = s.frame;
    const n = this.bgCount++;
    const scanner = (SCANNER_BASE + g.int(1, 0xfffffe)) >>> 0;
    const x = g.float();
    if (x < 0.4) {
      // A port scan of E: the mapped range (no pinhole for a stranger) or anything else but 135.
      let port = g.chance(0.3) ? g.int(this.rules.rules[0]!.portLo, this.rules.rules[0]!.portHi) : g.int(1, 65535);
      if (port === 135) port = 445;
      s.len = writeTcpFrame(b, {
        srcMac: MAC_EXT_ROUTER, dstMac: MAC_GW_EXT, src: scanner, dst: this.gwExt, ttl: 48, id: n, srcPort: g.int(1024, 65535), dstPort: port,
        seq: g.u32(), ack: 0, flags: TCP_SYN, window: 1024, mss: true,
      });
      s.side = SIDE_EXTERNAL;
      s.kind = 'bg-scan';
    } else if (x < 0.55) {
      s.len = writeIcmpEcho(b, MAC_EXT_ROUTER, MAC_GW_EXT, scanner, this.gwExt, g.int(1, 65535), n);
      s.side = SIDE_EXTERNAL;
      s.kind = 'bg-icmp';
    } else if (x < 0.7) {
      const ports = [53, 123, 137, 161, 1434, 1900, 5060];
      s.len = writeUdpFrame(b, MAC_EXT_ROUTER, MAC_GW_EXT, scanner, this.gwExt, g.int(1024, 65535), ports[g.int(0, ports.length - 1)]!, this.pool.subarray(n % 4096, (n % 4096) + g.int(20, 120)), 50, n);
      s.side = SIDE_EXTERNAL;
      s.kind = 'bg-udp';
    } else if (x < 0.8) {
      // A server segment for a connection the gateway does not have (long gone, or never).
      s.len = writeTcpFrame(b, {
        srcMac: MAC_SERVER, dstMac: MAC_GW_INT, src: this.serverIp, dst: this.gwInt, ttl: 128, id: n, srcPort: PORT_EMSMDB, dstPort: g.int(1024, 65535),
        seq: g.u32(), ack: g.u32(), flags: TCP_ACK, window: 8192,
      });
      s.side = SIDE_INTERNAL;
      s.kind = 'bg-stray';
    } else if (x < 0.9) {
      // IPv4 not addressed to the gateway: LAN broadcasts on either side.
      const ext = g.chance(0.5);
      const src = ext ? (this.gwExt & 0xffffff00) | g.int(2, 254) : (this.gwInt & 0xffffff00) | g.int(20, 254);
      s.len = writeUdpFrame(b, MAC_EXT_ROUTER, Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff), src >>> 0, ((src & 0xffffff00) | 0xff) >>> 0, 137, 137, this.pool.subarray(0, 50), 128, n);
      s.side = -1;
      s.kind = 'bg-not-for-gateway';
    } else if (x < 0.95) {
      s.len = writeArpRequest(b, MAC_SERVER, this.serverIp, (this.gwInt & 0xffffff00) | g.int(2, 254));
      s.side = -1;
      s.kind = 'bg-arp';
    } else {
      s.len = writeLlmnrV6(b, MAC_SERVER, g.u32());
      s.side = -1;
      s.kind = 'bg-ipv6';
    }
    this.write(tUs, s);
  }
}

// ---------------------------------------------------------------------------------------------
// TCP connections as the two endpoints see them
// ---------------------------------------------------------------------------------------------

/** One TCP connection through the gateway: the client's side (to E:extPort) and the server's (to G:gwPort). */
class Conn {
  cSeq: number;
  sSeq: number;
  gwPort = 0;
  private cId: number;
  private sId: number;

  constructor(
    private readonly sim: Sim,
    private readonly slot: Slot,
    private readonly kind: string,
    private readonly clientIp: number,
    private readonly clientPort: number,
    private readonly extPort: number,
    private readonly serverPort: number,
    /** Client round-trip time to the gateway, and the client's link gap per full segment (µs). */
    private readonly clientRttUs: number,
    private readonly clientGapUs: number,
    rng: Rng,
  ) {
    this.cSeq = rng.u32();
    this.sSeq = rng.u32();
    this.cId = rng.int(0, 65535);
    this.sId = rng.int(0, 65535);
  }

  /** Puts a client -> E segment in the slot. */
  private fromClient(flags: number, data?: Uint8Array, off = 0, len = 0, mss = false): void {
    const s = this.slot;
    s.len = writeTcpFrame(s.frame, {
      srcMac: MAC_EXT_ROUTER, dstMac: MAC_GW_EXT, src: this.clientIp, dst: this.sim.gwExt, ttl: 113, id: this.cId++,
      srcPort: this.clientPort, dstPort: this.extPort, seq: this.cSeq, ack: (flags & TCP_ACK) !== 0 ? this.sSeq : 0, flags, window: 64240,
      ...(data !== undefined ? { data, off, len } : {}), mss,
    });
    s.side = SIDE_EXTERNAL;
    s.kind = this.kind;
  }

  /** Puts a server -> G segment in the slot. */
  private fromServer(flags: number, data?: Uint8Array, off = 0, len = 0, mss = false): void {
    const s = this.slot;
    s.len = writeTcpFrame(s.frame, {
      srcMac: MAC_SERVER, dstMac: MAC_GW_INT, src: this.sim.serverIp, dst: this.sim.gwInt, ttl: 128, id: this.sId++,
      srcPort: this.serverPort, dstPort: this.gwPort, seq: this.sSeq, ack: this.cSeq, flags, window: 65535,
      ...(data !== undefined ? { data, off, len } : {}), mss,
    });
    s.side = SIDE_INTERNAL;
    s.kind = this.kind;
  }

  /** Three-way handshake; returns the time the client's ACK arrives. */
  *open(t: number): Generator<number, number, void> {
    this.fromClient(TCP_SYN, undefined, 0, 0, true);
    yield t;
    const e = this.sim.engine;
    const flow = e.flows.lookupExternal(this.clientIp, this.clientPort, this.sim.gwExt, this.extPort);
    if (flow < 0) throw new Error(`workload: the engine refused the SYN of ${ipv4ToString(this.clientIp)}:${this.clientPort} -> :${this.extPort} (${JSON.stringify(e.counters.dropsByName())})`);
    this.gwPort = e.flows.gwPort(flow);
    this.cSeq = (this.cSeq + 1) >>> 0;
    t += SERVER_RTT_US;
    this.fromServer(TCP_SYN | TCP_ACK, undefined, 0, 0, true);
    yield t;
    this.sSeq = (this.sSeq + 1) >>> 0;
    t += this.clientRttUs;
    this.fromClient(TCP_ACK);
    yield t;
    return t;
  }

  /**
   * Sends bytes[0..len) from one end in MSS segments; the receiver ACKs every second segment
   * (delayed ACK) after its round trip. Returns the arrival time of the last data segment.
   */
  *send(fromClient: boolean, bytes: Uint8Array, len: number, t: number): Generator<number, number, void> {
    const gap = fromClient ? this.clientGapUs : SERVER_GAP_US;
    const ackDelay = fromClient ? SERVER_RTT_US : this.clientRttUs;
    const segs = Math.ceil(len / MSS);
    // ACK times of the receiver, each acknowledging up to the end of an even segment.
    const ackAt: number[] = [];
    const ackSeq: number[] = [];
    let pending = 0;
    let last = t;
    for (let i = 0; i < segs; i++) {
      const ts = t + i * gap;
      while (pending < ackAt.length && ackAt[pending]! <= ts) yield* this.pureAck(!fromClient, ackSeq[pending]!, ackAt[pending++]!);
      const off = i * MSS;
      const n = Math.min(MSS, len - off);
      const flags = TCP_ACK | (i === segs - 1 ? TCP_PSH : 0);
      if (fromClient) this.fromClient(flags, bytes, off, n);
      else this.fromServer(flags, bytes, off, n);
      yield ts;
      if (fromClient) this.cSeq = (this.cSeq + n) >>> 0;
      else this.sSeq = (this.sSeq + n) >>> 0;
      if (i % 2 === 1 && i !== segs - 1) {
        ackAt.push(ts + ackDelay);
        ackSeq.push(fromClient ? this.cSeq : this.sSeq);
      }
      last = ts;
    }
    while (pending < ackAt.length) yield* this.pureAck(!fromClient, ackSeq[pending]!, Math.max(last, ackAt[pending++]!));
    return last;
  }

  /** A pure ACK from one end acknowledging `upTo` of the other's bytes. */
  private *pureAck(fromClient: boolean, upTo: number, t: number): Generator<number, void, void> {
    if (fromClient) {
      const keep = this.sSeq;
      this.sSeq = upTo;
      this.fromClient(TCP_ACK);
      this.sSeq = keep;
    } else {
      const keep = this.cSeq;
      this.cSeq = upTo;
      this.fromServer(TCP_ACK);
      this.cSeq = keep;
    }
    yield t;
  }

  /** A final pure ACK from the client (after the last response before an idle gap). */
  *clientAck(t: number): Generator<number, number, void> {
    this.fromClient(TCP_ACK);
    yield t;
    return t;
  }

  /** Client-initiated close: FIN, FIN-ACK, ACK. Returns the time of the last ACK. */
  *close(t: number): Generator<number, number, void> {
    this.fromClient(TCP_FIN | TCP_ACK);
    yield t;
    this.cSeq = (this.cSeq + 1) >>> 0;
    t += SERVER_RTT_US;
    this.fromServer(TCP_FIN | TCP_ACK);
    yield t;
    this.sSeq = (this.sSeq + 1) >>> 0;
    t += this.clientRttUs;
    this.fromClient(TCP_ACK);
    yield t;
    return t;
  }
}

// ---------------------------------------------------------------------------------------------
// DCE/RPC
// ---------------------------------------------------------------------------------------------

/**
 * A request or response call of about `stubLen` stub bytes, split into fragments of at most
 * FRAG_MAX bytes. The stub is `stub` if given, else one shaped like the operation's NDR (see
 * stubFor), so an independent dissector reads it as the real thing rather than noise.
 */
function buildCall(sim: Sim, rng: Rng, isRequest: boolean, callId: number, ctxId: number, opnum: number, stubLen: number, stub?: Uint8Array, iface?: KnownInterface): Uint8Array {
  const src = stub ?? stubFor(sim, rng, iface, opnum, isRequest, stubLen);
  stubLen = src.length;
  const perFrag = FRAG_MAX - (isRequest ? REQ_HDR : RESP_HDR);
  const frags = Math.max(1, Math.ceil(stubLen / perFrag));
  const out = new Uint8Array(stubLen + frags * RESP_HDR);
  let pos = 0;
  for (let f = 0; f < frags; f++) {
    const off = f * perFrag;
    const n = Math.min(perFrag, stubLen - off);
    const flags = (f === 0 ? PFC_FIRST_FRAG : 0) | (f === frags - 1 ? PFC_LAST_FRAG : 0);
    const piece = src.subarray(off, off + n);
    pos += isRequest
      ? writeRequest(out, pos, { callId, ctxId, opnum, stub: piece, pfcFlags: flags, allocHint: stubLen - off })
      : writeResponse(out, pos, { callId, ctxId, stub: piece, pfcFlags: flags, allocHint: stubLen - off });
  }
  return out.subarray(0, pos);
}

const OP_ECDORPCEXT2 = 11;
/** EcDoRpcExt2 fixed parts around rgbIn / rgbOut (MS-OXCRPC 3.1.4.2), NDR32. */
const EXT2_REQ_FIXED = 20 + 4 + 4 + 4 + 4 + 4 + 4; // pcxh, pulFlags, rgbIn max_count, cbIn, pcbOut, rgbAuxIn max_count, cbAuxIn
const EXT2_RESP_FIXED = 20 + 4 + 12 + 4 + 12 + 4 + 4 + 4; // pcxh, pulFlags, rgbOut (max,off,actual), pcbOut, rgbAuxOut, pcbAuxOut, pulTransTime, return

/**
 * A stub of about `len` bytes. EcDoRpcExt2 (the bulk of Outlook's traffic) gets its real layout
 * with the ROP buffer as an opaque byte array; other operations get zeros (null pointers and
 * zero counts in NDR), which every dissector reads as a short, valid structure.
 */
function stubFor(sim: Sim, rng: Rng, iface: KnownInterface | undefined, opnum: number, isRequest: boolean, len: number): Uint8Array {
  if (iface !== EMSMDB || opnum !== OP_ECDORPCEXT2) return new Uint8Array(len);
  const fixed = isRequest ? EXT2_REQ_FIXED : EXT2_RESP_FIXED;
  const n = Math.max(8, len - fixed);
  const pad = (4 - (n & 3)) & 3;
  const b = new Uint8Array(fixed + n + pad);
  const base = rng.int(0, STUB_POOL - n - 1);
  b.set(sim.pool.subarray(base, base + 20), 0); // pcxh
  let p = 24; // pulFlags 0
  if (isRequest) {
    p = u32le(b, p, n);
    b.set(sim.pool.subarray(base, base + n), p);
    p += n + pad;
    p = u32le(b, p, n); // cbIn
    p = u32le(b, p, 0x40000); // pcbOut
    p = u32le(b, p, 0); // rgbAuxIn max_count
    u32le(b, p, 0); // cbAuxIn
  } else {
    p = u32le(b, p, n);
    p = u32le(b, p, 0);
    p = u32le(b, p, n);
    b.set(sim.pool.subarray(base, base + n), p);
    p += n + pad;
    p = u32le(b, p, n); // pcbOut
    p += 12; // rgbAuxOut: max 0, offset 0, actual 0
    p += 4; // pcbAuxOut 0
    u32le(b, p, rng.int(0, 50)); // pulTransTime; return code 0 follows
  }
  return b;
}

/** bind offering the interface in NDR (ctx 0) and, for NDR64 clients, NDR64 (ctx 1); the bind_ack accepting one. */
function buildBind(iface: { uuid: string; major: number; minor: number }, ndr64: boolean, secAddr: string): { bind: Uint8Array; ack: Uint8Array; ctxId: number } {
  const contexts: ContextElemOptions[] = [{ ctxId: 0, abstract: iface, transfer: [NDR_SYNTAX] }];
  const results: BindResultOptions[] = [];
  if (ndr64) {
    contexts.push({ ctxId: 1, abstract: iface, transfer: [NDR64_SYNTAX] });
    results.push({ result: RESULT_PROVIDER_REJECTION, reason: REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED });
    results.push({ result: RESULT_ACCEPTANCE, transfer: NDR64_SYNTAX });
  } else {
    results.push({ result: RESULT_ACCEPTANCE, transfer: NDR_SYNTAX });
  }
  const bind = new Uint8Array(512);
  const ack = new Uint8Array(512);
  const nb = writeBind(bind, 0, { callId: 1, contexts, maxXmit: FRAG_MAX, maxRecv: FRAG_MAX, assocGroup: 0 });
  const na = writeBindAck(ack, 0, { callId: 1, results, secAddr, maxXmit: FRAG_MAX, maxRecv: FRAG_MAX, assocGroup: 0x1234 });
  return { bind: bind.subarray(0, nb), ack: ack.subarray(0, na), ctxId: ndr64 ? 1 : 0 };
}

function tcpTower(iface: KnownInterface, ndr64: boolean, ipv4: number, port: number): Uint8Array {
  return buildTower({
    ifUuid: iface.uuid, ifMajor: iface.major, ifMinor: iface.minor, protocol: PROTO_NCACN_IP_TCP, port, ipv4,
    ...(ndr64 ? { syntaxUuid: NDR64_TEXT, syntaxMajor: 1, syntaxMinor: 0 } : {}),
  });
}

/**
 * EcRRegisterPushNotification request stub (MS-OXCRPC 3.1.4.5), callback = the client's own
 * SOCKADDR_IN. NDR64 clients send conformances as u64 aligned to 8 (alignment counts from the
 * stub start).
 */
function pushRegistrationStub(rng: Rng, ndr64: boolean, clientIp: number, udpPort: number, context: Uint8Array): Uint8Array {
  const b = new Uint8Array(128);
  const align = (p: number, n: number): number => (p + n - 1) & ~(n - 1);
  const count = (p: number, v: number): number => {
    p = align(p, ndr64 ? 8 : 4);
    u32le(b, p, v); // the high half of an NDR64 count stays 0
    return p + (ndr64 ? 8 : 4);
  };
  rng.fill(b, 0, 20); // pcxh
  let p = u32le(b, 20, 0); // iRpc
  p = count(p, context.length); // rgbContext
  b.set(context, p);
  p = align(p + context.length, 2);
  b[p] = context.length; // cbContext u16
  p = align(p + 2, 4);
  p = u32le(b, p, 0xffffffff); // grbitAdviseBits
  p = count(p, 16); // rgbCallbackAddress
  b[p] = 2; // sa_family AF_INET, little-endian
  b[p + 2] = udpPort >>> 8; // sin_port, big-endian
  b[p + 3] = udpPort & 0xff;
  b[p + 4] = clientIp >>> 24;
  b[p + 5] = (clientIp >>> 16) & 0xff;
  b[p + 6] = (clientIp >>> 8) & 0xff;
  b[p + 7] = clientIp & 0xff;
  p = align(p + 16, 2);
  b[p] = 16; // cbCallbackAddress u16
  return b.subarray(0, p + 2);
}

function u32le(b: Uint8Array, p: number, v: number): number {
  b[p] = v & 0xff;
  b[p + 1] = (v >>> 8) & 0xff;
  b[p + 2] = (v >>> 16) & 0xff;
  b[p + 3] = v >>> 24;
  return p + 4;
}

// ---------------------------------------------------------------------------------------------
// sessions
// ---------------------------------------------------------------------------------------------

interface ClientCtx {
  sim: Sim;
  rng: Rng;
  ip: number;
  ndr64: boolean;
  push: boolean;
  rttUs: number;
  gapUs: number;
  nextPort: number;
}

function clientPort(c: ClientCtx): number {
  const p = c.nextPort;
  c.nextPort = p >= 65535 ? 49152 : p + 1;
  return p;
}

/** One RPC call: request from the client, the server's response after `serverMs`. Returns when the client has it. */
function* call(conn: Conn, c: ClientCtx, req: Uint8Array, resp: Uint8Array, t: number, serverUs: number): Generator<number, number, void> {
  t = yield* conn.send(true, req, req.length, t);
  t += SERVER_RTT_US + serverUs;
  t = yield* conn.send(false, resp, resp.length, t);
  return t + c.rttUs;
}

/** The EPM conversation: bind, three ept_map calls, close; then the three store connections. */
function* epmSession(c: ClientCtx, slot: Slot, startUs: number): Actor {
  const sim = c.sim;
  const conn = new Conn(sim, slot, 'epm', c.ip, clientPort(c), 135, 135, c.rttUs, c.gapUs, c.rng);
  let t = yield* conn.open(startUs);
  const b = buildBind(EPM_IF, c.ndr64, '135');
  t = yield* call(conn, c, b.bind, b.ack, t, 200);
  const targets: [KnownInterface, number][] = [[RFR, PORT_RFR], [NSPI, PORT_NSPI], [EMSMDB, PORT_EMSMDB]];
  const mappedPorts: number[] = [];
  let callId = 2;
  for (const [iface, port] of targets) {
    const stub = new Uint8Array(256);
    const n = writeEptMapRequest(stub, 0, { ndr64: c.ndr64, tower: tcpTower(iface, c.ndr64, 0, 135), maxTowers: 4 });
    const req = buildCall(sim, c.rng, true, callId, b.ctxId, 3, n, stub.subarray(0, n));
    const rstub = new Uint8Array(256);
    const rn = writeEptMapResponse(rstub, 0, { ndr64: c.ndr64, towers: [tcpTower(iface, c.ndr64, sim.serverIp, port)], maxTowers: 4, status: 0 });
    const resp = buildCall(sim, c.rng, false, callId, b.ctxId, 3, rn, rstub.subarray(0, rn));
    t = yield* call(conn, c, req, resp, t, 300);
    const ext = sim.mapped.get(`${ipv4ToString(c.ip)}|${ipv4ToString(sim.serverIp)}:${port}`);
    if (ext === undefined) throw new Error(`workload: no rewrite seen for ${ipv4ToString(c.ip)} ${iface.name} (${JSON.stringify(sim.engine.counters.dropsByName())})`);
    mappedPorts.push(ext);
    callId++;
  }
  t = yield* conn.close(t);
  // Outlook opens the referral, the address book and the store connections in that order.
  sim.spawn((s) => rfrSession(c, s, mappedPorts[0]!, t + 1000));
  sim.spawn((s) => nspiSession(c, s, mappedPorts[1]!, t + 2000 + c.rttUs));
  sim.spawn((s) => emsmdbSession(c, s, mappedPorts[2]!, t + 3000 + 2 * c.rttUs));
}

function* rfrSession(c: ClientCtx, slot: Slot, extPort: number, t: number): Actor {
  const sim = c.sim;
  const conn = new Conn(sim, slot, 'rfr', c.ip, clientPort(c), extPort, PORT_RFR, c.rttUs, c.gapUs, c.rng);
  return yield* storeCalls(c, conn, RFR, t, [[0, 120, 180], [1, 140, 220]], 1);
}

function* nspiSession(c: ClientCtx, slot: Slot, extPort: number, t: number): Actor {
  const r = c.rng;
  const sim = c.sim;
  const conn = new Conn(sim, slot, 'nspi', c.ip, clientPort(c), extPort, PORT_NSPI, c.rttUs, c.gapUs, r);
  const calls: [number, number, number][] = [[0, 120, 60]]; // NspiBind
  const n = r.int(2, 6);
  for (let i = 0; i < n; i++) calls.push([[3, 9, 19][r.int(0, 2)]!, r.logUniform(100, 600), r.logUniform(200, 20_000)]);
  calls.push([1, 40, 28]); // NspiUnbind
  return yield* storeCalls(c, conn, NSPI, t, calls, 1);
}

/** Bind, then the calls ([opnum, request stub, response stub]) with think gaps, then close. */
function* storeCalls(c: ClientCtx, conn: Conn, iface: KnownInterface, t: number, calls: [number, number, number][], meanGapS: number): Actor {
  const sim = c.sim;
  t = yield* conn.open(t);
  const b = buildBind(iface, c.ndr64, '');
  t = yield* call(conn, c, b.bind, b.ack, t, 150);
  let callId = 2;
  for (const [opnum, reqLen, respLen] of calls) {
    const req = buildCall(sim, c.rng, true, callId, b.ctxId, opnum, reqLen, undefined, iface);
    const resp = buildCall(sim, c.rng, false, callId, b.ctxId, opnum, respLen, undefined, iface);
    t = yield* call(conn, c, req, resp, t, c.rng.logUniform(200, 5000));
    callId++;
    t += Math.round(c.rng.exp(meanGapS * 1e6));
  }
  yield* conn.close(t);
}

/** Response stub size of an EcDoRpcExt2 call: mostly small, some sync downloads up to 64 KiB. */
function rpcExt2Sizes(r: Rng): [number, number] {
  const x = r.float();
  const resp = x < 0.7 ? r.logUniform(300, 4000) : x < 0.95 ? r.logUniform(4000, 16_000) : r.logUniform(16_000, 65_000);
  const req = r.chance(0.9) ? r.logUniform(200, 2000) : r.logUniform(2000, 16_000);
  return [req, resp];
}

function* emsmdbSession(c: ClientCtx, slot: Slot, extPort: number, t: number): Actor {
  const sim = c.sim;
  const r = c.rng;
  const conn = new Conn(sim, slot, 'emsmdb', c.ip, clientPort(c), extPort, PORT_EMSMDB, c.rttUs, c.gapUs, r);
  t = yield* conn.open(t);
  const b = buildBind(EMSMDB, c.ndr64, '');
  t = yield* call(conn, c, b.bind, b.ack, t, 150);
  let callId = 2;
  const rpc = function* (at: number, opnum: number, reqLen: number, respLen: number, reqStub?: Uint8Array): Generator<number, number, void> {
    const req = buildCall(sim, r, true, callId, b.ctxId, opnum, reqLen, reqStub, EMSMDB);
    const resp = buildCall(sim, r, false, callId, b.ctxId, opnum, respLen, undefined, EMSMDB);
    callId++;
    return yield* call(conn, c, req, resp, at, r.logUniform(300, 20_000));
  };
  t = yield* rpc(t, 10, r.logUniform(250, 600), r.logUniform(300, 700)); // EcDoConnectEx
  let udpPort = 0;
  const context = new Uint8Array(16);
  if (c.push) {
    udpPort = r.int(1024, 65535);
    r.fill(context, 0, 16);
    const stub = pushRegistrationStub(r, c.ndr64, c.ip, udpPort, context);
    t = yield* rpc(t, 4, stub.length, 28, stub); // EcRRegisterPushNotification
  }
  const calls = 1 + Math.floor(r.exp(sim.opts.emsmdbCallsMean));
  for (let i = 0; i < calls; i++) {
    t = yield* conn.clientAck(t);
    // Think time; one gap in twenty is a long idle (minutes, under the 900 s idle timeout).
    const gap = r.chance(0.05) ? r.logUniform(30e6, 300e6) : Math.round(r.exp(2e6));
    if (c.push && r.chance(0.3)) {
      // New mail: the server's UDP datagram (payload = rgbContext) to the callback address the
      // server was given: the relay port on G if the engine rewrote the registration, else the
      // client's own port (an engine without push support drops it).
      const to = sim.relay.get(ipv4ToString(c.ip)) ?? udpPort;
      slot.len = writeUdpFrame(slot.frame, MAC_SERVER, MAC_GW_INT, sim.serverIp, sim.gwInt, r.int(49152, 65535), to, context, 128, i);
      slot.side = SIDE_INTERNAL;
      slot.kind = 'udp-notify';
      yield t + Math.round(gap / 2);
    }
    t += gap;
    const [req, resp] = rpcExt2Sizes(r);
    t = yield* rpc(t, 11, req, resp); // EcDoRpcExt2
  }
  t = yield* rpc(t, 1, 20, 28); // EcDoDisconnect
  yield* conn.close(t);
}

// ---------------------------------------------------------------------------------------------
// entry point
// ---------------------------------------------------------------------------------------------

/** Writes the workload capture to `file`; throws if the engine did anything the workload did not intend. */
export function generateWorkload(file: string, rules: CompiledRules, options: Partial<WorkloadOptions> = {}): WorkloadSummary {
  const opts: WorkloadOptions = { ...DEFAULT_WORKLOAD, ...options };
  const started = process.hrtime.bigint();
  const writer = CaptureFileWriter.create(file, opts.format, LINKTYPE_ETHERNET, 'gateway');
  const summary: WorkloadSummary = {
    file, format: opts.format, options: opts, frames: 0, frameBytes: 0, fileBytes: 0, enginePackets: 0, engineIpBytes: 0, fromExternal: 0,
    fromInternal: 0, engineSent: 0, composition: {}, engineDrops: {}, towersRewritten: 0, mappingsCreated: 0, connectionsOpened: 0,
    peakMappings: 0, peakConnections: 0, ndr64Clients: 0, pushClients: 0, captureSeconds: 0, generatorSeconds: 0,
  };
  let sim: Sim;
  try {
    sim = new Sim(rules, writer, opts, summary);
    const master = new Rng(opts.seed);
    for (let i = 0; i < opts.clients; i++) {
      const rng = new Rng((opts.seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);
      const c: ClientCtx = {
        sim, rng, ip: (CLIENT_BASE + i) >>> 0, ndr64: rng.chance(opts.ndr64Share), push: rng.chance(opts.pushShare),
        rttUs: rng.logUniform(10_000, 150_000), gapUs: rng.logUniform(120, 1200), nextPort: rng.int(49152, 60000),
      };
      if (c.ndr64) summary.ndr64Clients++;
      if (c.push) summary.pushClients++;
      const start = T0_US + Math.round(master.float() * opts.startSpreadS * 1e6);
      sim.spawn((s) => epmSession(c, s, start));
    }
    sim.run();
  } finally {
    writer.close();
  }
  const e = sim.engine;
  const sent = summary.engineSent;
  Object.defineProperty(summary, 'engineSent', { value: sent, writable: true, enumerable: true });
  summary.engineDrops = e.counters.dropsByName();
  summary.towersRewritten = e.counters.rewrites;
  summary.mappingsCreated = e.counters.mappingsCreated;
  summary.connectionsOpened = e.counters.connectionsOpened;
  summary.captureSeconds = (sim.lastUs - Math.max(sim.firstUs, T0_US)) / 1e6;
  summary.fileBytes = statSync(file).size;
  summary.generatorSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const unexpected = Object.keys(summary.engineDrops).filter((k) => !EXPECTED_DROPS.includes(k));
  if (unexpected.length > 0) throw new Error(`workload: unexpected engine drops/refusals ${JSON.stringify(summary.engineDrops)}`);
  return summary;
}

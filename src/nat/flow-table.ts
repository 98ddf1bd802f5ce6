/**
 * FlowTable: the TCP connections the gateway forwards, each seen from both sides.
 *
 * Model
 * - A flow is one forwarded TCP connection, of kind FLOW_EPM (client -> E:135 -> S:135) or
 *   FLOW_MAPPED (client -> E:P -> S:Q through a mapping). It has two tuples:
 *     external (clientIp, clientPort, extIp, extPort)   what the client sends to / receives from
 *     internal (gwIp, gwPort, serverIp, serverPort)     what the server sees: the gateway's inside
 *                                                       address and a source port chosen here
 *   Both index the same flow id. gwPort is allocated so the internal tuple is unique: the
 *   client's own port when it is in the gateway's NAT range (gateway.natPorts, default
 *   10000..32767) and free, else a free one from a deterministic hashed, strided probe over that
 *   range (see pickGwPort for why not a linear walk). With one gwIp, at most the range's size
 *   (22768 by default) of flows can reach one server ip:port at once: FLOW_ERR_NO_GW_PORT beyond.
 * - State: TCP flags seen (FLOW_ST_* bits: client SYN, server SYN-ACK, ACK each way, FIN each
 *   way, RST, established), createdMs, lastSeenMs, packet and byte counters per direction,
 *   ruleIdx, mappingIdx (-1 for EPM flows), kind.
 * - Timeouts, all counted from lastSeenMs (the last packet either way):
 *     embryonic (no established handshake yet)        embryonicTimeoutMs (default 30 s)
 *     established                                     the flow's idleTimeoutMs (from its rule)
 *     closing (RST seen, or FIN seen both ways)       closeLingerMs (default 10 s), so that
 *                                                     retransmitted FIN/ACKs still translate
 *   then tick() removes the flow, calling onExpire(id) first so the engine can release its
 *   stream state and call MappingTable.connClosed(mappingIdx). A new client SYN (without ACK)
 *   on a closing flow reopens it as a new embryonic connection (the client reused its port).
 * - Established: the client ACKed the server's SYN-ACK, or (flow picked up mid-stream, no SYN
 *   seen) ACK-bearing segments were seen both ways.
 * - Timers are lazy: a packet only writes lastSeenMs (the wheel is touched only if the new
 *   deadline is EARLIER than the armed one, e.g. on entering closing); when the armed deadline
 *   fires, tick() recomputes lastSeenMs + timeout and re-arms if the flow was active since.
 *   So the per-packet cost is a few array writes.
 *
 * Storage: one fixed-size ROW of 96 bytes per flow (not one array per field), seen through two
 * typed arrays over the same memory:
 *   bytes 0-63    num: Float64Array, 12 a row, words 0-7: lastSeenMs, createdMs, packets and
 *                 bytes from the client, packets and bytes from the server (exact up to 2^53),
 *                 the deadline armed in the wheel, idleTimeoutMs
 *   bytes 64-95   tup: Uint32Array, 24 a row, words 16-23: clientIp, extIp, gwIp, serverIp,
 *                 clientPort<<16 | extPort, serverPort<<16 | gwPort,
 *                 ruleIdx<<16 | kind<<8 | state (kind bit 0x40: in use), mappingIdx
 * A packet reads and writes both parts. With a million flows each row is a cache (and TLB) miss:
 * one row, starting on a 32-byte boundary, lies in two cache lines of (nearly always) one page,
 * where two rows in two arrays were three or four lines in two pages (the arrays' data started
 * 16 bytes into a page, so a 64-byte row straddled two lines). The row's kind byte also says
 * whether it is in use, so a packet does not read the allocator's in-use byte (another line and
 * page at that size).
 * Plus the allocator (5 B), the wheel (16 B), two HashIndex3 (16 B a slot, load <= 0.5) and,
 * per server endpoint (at most 64), a bitmap of the gwPorts its flows hold (UsedPortHints, a hint
 * that spares pickGwPort an index probe per port it knows is taken):
 *   byExternal (clientIp, extIp, clientPort<<16 | extPort)   -> id
 *   byInternal (serverIp, gwIp, serverPort<<16 | gwPort)     -> id
 * ruleIdx is kept in 16 bits: -1..65534 (-1 stored as 0xffff); mappingIdx is any int32.
 *
 * Outbound flows (an internal client C to an external server S, createOutbound): the row's
 * fields name SIDES, not roles, so that both indexes still key what arrives on each side. The
 * "client" fields are the external peer and the "server" fields the internal one:
 *     clientIp:clientPort = S:Q     extIp:extPort = E:N (gateway external address, a natPorts port)
 *     serverIp:serverPort = C:cp    gwIp:gwPort   = S:Q (C sees S itself: only the source changes)
 * A kind-byte bit (FLOW_OUTBOUND, read by outbound(id)) tells them apart; "fromClient" in
 * onPacket is the RPC client's direction (the internal side for outbound flows).
 */
import { HashIndex3 } from './hash-index.js';
import { SlotAllocator } from './slots.js';
import { UsedPortHints, oddCoprime, oddPrimeFactors } from './port-hints.js';
import { TimerWheel } from './timer-wheel.js';

export const FLOW_EPM = 1;
/** Kind-byte bit of a row in use (onPacket reads it instead of the allocator's in-use byte). */
const FLOW_LIVE = 0x40;
export const FLOW_MAPPED = 2;
/** Kind-byte bit of an outbound flow (see the header); kind(id) leaves it out. */
const FLOW_OUTBOUND = 0x80;

export const FLOW_ERR_TABLE_FULL = -1;
export const FLOW_ERR_NO_GW_PORT = -2;
export const FLOW_ERR_EXISTS = -3;

/** Reason names by (negative) code: FLOW_ERR_NAMES[FLOW_ERR_EXISTS] === 'exists'. */
export const FLOW_ERR_NAMES: Readonly<Record<number, string>> = {
  [FLOW_ERR_TABLE_FULL]: 'table-full',
  [FLOW_ERR_NO_GW_PORT]: 'no-gw-port',
  [FLOW_ERR_EXISTS]: 'exists',
};

/** TCP flag bits as in the TCP header's flags byte. */
export const TCP_FIN = 1;
export const TCP_SYN = 2;
export const TCP_RST = 4;
export const TCP_ACK = 16;

/** Flow state bits (state(id)). */
export const FLOW_ST_SYN_CLIENT = 1; // SYN (no ACK) from the client
export const FLOW_ST_SYNACK_SERVER = 2; // SYN+ACK from the server
export const FLOW_ST_ACK_CLIENT = 4; // an ACK without SYN from the client
export const FLOW_ST_ACK_SERVER = 8; // an ACK without SYN from the server
export const FLOW_ST_FIN_CLIENT = 16;
export const FLOW_ST_FIN_SERVER = 32;
export const FLOW_ST_RST = 64;
export const FLOW_ST_ESTABLISHED = 128;

const FIN_BOTH = FLOW_ST_FIN_CLIENT | FLOW_ST_FIN_SERVER;

/** Server endpoints whose used gwPorts are kept as bitmaps (UsedPortHints): at most 64 x 8 KiB. */
const MAX_PORT_HINT_SETS = 64;

/** A new flow's counters. */
const NO_COUNTS: readonly number[] = [0, 0, 0, 0];

/** gwPort range when none is given; the engine passes gateway.natPorts (default 10000-32767). */
export const GW_PORT_MIN = 1024;
export const GW_PORT_MAX = 65535;

// Row layout (see the header comment).
const ROW_BYTES = 96;
const NUM_ROW = ROW_BYTES / 8;
const N_LAST_SEEN = 0;
const N_CREATED = 1;
const N_PKTS_CLIENT = 2;
const N_BYTES_CLIENT = 3;
const N_PKTS_SERVER = 4;
const N_BYTES_SERVER = 5;
const N_ARMED = 6;
const N_IDLE = 7;
const TUP_ROW = ROW_BYTES / 4;
const T_CLIENT_IP = 16;
const T_EXT_IP = 17;
const T_GW_IP = 18;
const T_SERVER_IP = 19;
const T_EXT_PORTS = 20; // clientPort << 16 | extPort
const T_INT_PORTS = 21; // serverPort << 16 | gwPort
const T_META = 22; // ruleIdx << 16 | kind << 8 | state
const T_MAPPING = 23;
/**
 * Where the rows start in their ArrayBuffer. A large buffer's memory comes from mmap through the
 * C library's allocator, 16 bytes into a page (glibc's chunk header), so 48 more put the first
 * row on a cache-line boundary and every row on a 32-byte one. Elsewhere it is 48 unused bytes.
 */
const ROWS_OFFSET = 48;

export interface FlowTableOptions {
  /** Global bound on live flows. */
  maxFlows: number;
  /** Timeout of a flow whose handshake has not completed (default 30 000 ms). */
  embryonicTimeoutMs?: number;
  /** Linger after RST or FIN both ways (default 10 000 ms). */
  closeLingerMs?: number;
  seed?: number;
  /** Flows to allocate storage for up front (default min(maxFlows, 1024)); grows by doubling. */
  initialFlows?: number;
  timerResolutionMs?: number;
  timerBuckets?: number;
  /**
   * The gateway's own source ports toward servers (gateway.natPorts), inclusive; default
   * GW_PORT_MIN..GW_PORT_MAX. The kernel guard drops the servers' segments to exactly these.
   */
  gwPortLo?: number;
  gwPortHi?: number;
  /** Server endpoints whose taken gwPorts are kept as bitmaps (default 64; 0: none, every probe asks the index). */
  portHintSets?: number;
}

export function isClosedState(st: number): boolean {
  return (st & FLOW_ST_RST) !== 0 || (st & FIN_BOTH) === FIN_BOTH;
}

export class FlowTable {
  readonly maxFlows: number;
  readonly embryonicTimeoutMs: number;
  readonly closeLingerMs: number;
  readonly gwPortLo: number;
  readonly gwPortHi: number;
  private readonly gwPortSpan: number;
  /** The span's odd prime factors: the walk's stride test (oddCoprime). */
  private readonly spanOddPrimes: number[];
  private readonly slots: SlotAllocator;
  private readonly wheel: TimerWheel;
  private readonly byExternal: HashIndex3;
  private readonly byInternal: HashIndex3;
  /** gwPorts known taken per server endpoint (a hint: pickGwPort skips their index probes). */
  private readonly usedPorts: UsedPortHints;
  /** The endpoint's hint set found by the last pickGwPort over byInternal (-1: none). */
  private pickedSet = -1;
  private num: Float64Array;
  private tup: Uint32Array;

  // tick() state; the wheel callback is made once.
  private tickNowMs = 0;
  private tickOnExpire: ((id: number) => void) | null = null;
  private tickRemoved = 0;
  private reapingId = -1;
  private reapingRemoved = false;
  private readonly expireOne: (id: number) => void;

  constructor(opts: FlowTableOptions) {
    const max = opts.maxFlows;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`FlowTable: maxFlows must be a positive integer, got ${max}`);
    this.maxFlows = max;
    this.embryonicTimeoutMs = opts.embryonicTimeoutMs ?? 30_000;
    this.closeLingerMs = opts.closeLingerMs ?? 10_000;
    const lo = opts.gwPortLo ?? GW_PORT_MIN;
    const hi = opts.gwPortHi ?? GW_PORT_MAX;
    if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo >= 1 && lo <= hi && hi <= 65535)) {
      throw new RangeError(`FlowTable: gwPort range must be 1 <= lo <= hi <= 65535, got ${lo}-${hi}`);
    }
    this.gwPortLo = lo;
    this.gwPortHi = hi;
    this.gwPortSpan = hi - lo + 1;
    this.spanOddPrimes = oddPrimeFactors(this.gwPortSpan);
    const seed = opts.seed ?? 0x9e3779b9;
    const initial = Math.max(1, Math.min(max, opts.initialFlows ?? 1024));
    this.slots = new SlotAllocator(max, initial, (n) => this.growRows(n));
    const cap = this.slots.capacityNow;
    this.wheel = new TimerWheel(cap, opts.timerResolutionMs ?? 1000, opts.timerBuckets ?? 4096);
    this.byExternal = new HashIndex3(max, (seed ^ 0x165667b1) >>> 0, initial);
    this.byInternal = new HashIndex3(max, (seed ^ 0xd3a2646c) >>> 0, initial);
    this.usedPorts = new UsedPortHints(lo, hi, opts.portHintSets ?? MAX_PORT_HINT_SETS, (seed ^ 0x2545f491) >>> 0);
    const rows = newRows(cap);
    this.num = rows.num;
    this.tup = rows.tup;
    this.expireOne = (id: number) => this.reap(id);
  }

  /** Live flows. */
  get count(): number {
    return this.slots.count;
  }

  /**
   * Creates a flow (embryonic until onPacket sees the handshake) and returns its id, or
   * FLOW_ERR_EXISTS (external tuple already has a flow), FLOW_ERR_TABLE_FULL, FLOW_ERR_NO_GW_PORT.
   * ruleIdx must be in -1..65534 (RangeError otherwise: a programming error).
   */
  create(
    kind: number,
    ruleIdx: number,
    mappingIdx: number,
    clientIp: number,
    clientPort: number,
    extIp: number,
    extPort: number,
    gwIp: number,
    serverIp: number,
    serverPort: number,
    nowMs: number,
    idleTimeoutMs: number,
  ): number {
    if (!(Number.isInteger(ruleIdx) && ruleIdx >= -1 && ruleIdx < 0xffff)) throw new RangeError(`FlowTable.create: ruleIdx must be an integer in -1..65534, got ${ruleIdx}`);
    // Words as int32 from here on (the indexes and the rows keep the same 32 bits): a u32 above
    // 2^31 is a heap number, and each one handed to a call was an allocation per new flow.
    clientIp |= 0;
    extIp |= 0;
    gwIp |= 0;
    serverIp |= 0;
    clientPort &= 0xffff;
    extPort &= 0xffff;
    serverPort &= 0xffff;
    const extPorts = (clientPort << 16) | extPort;
    if (this.byExternal.get(clientIp, extIp, extPorts) >= 0) return FLOW_ERR_EXISTS;
    if (this.slots.count >= this.maxFlows) return FLOW_ERR_TABLE_FULL;
    const gwPort = this.pickGwPort(this.byInternal, serverIp, gwIp, serverPort, clientIp, clientPort);
    if (gwPort < 0) return FLOW_ERR_NO_GW_PORT;
    const id = this.slots.alloc();
    if (id < 0) return FLOW_ERR_TABLE_FULL; // unreachable: count < maxFlows was checked
    this.usedPorts.mark(this.pickedSet, serverIp, gwIp, serverPort, gwPort);

    this.insert(id, kind, ruleIdx, mappingIdx, 0, clientIp, extIp, gwIp, serverIp, extPorts, (serverPort << 16) | gwPort, nowMs, nowMs, idleTimeoutMs, NO_COUNTS);
    return id;
  }

  /**
   * Creates an outbound flow: internal client C (clientIp:clientPort) to external server S
   * (serverIp:serverPort), leaving as extIp:N with N from the NAT range (the same pick as gwPort,
   * over the external tuple). Stored by side (see the header). Same errors as create.
   */
  createOutbound(
    kind: number,
    ruleIdx: number,
    mappingIdx: number,
    clientIp: number,
    clientPort: number,
    serverIp: number,
    serverPort: number,
    extIp: number,
    nowMs: number,
    idleTimeoutMs: number,
  ): number {
    if (!(Number.isInteger(ruleIdx) && ruleIdx >= -1 && ruleIdx < 0xffff)) throw new RangeError(`FlowTable.createOutbound: ruleIdx must be an integer in -1..65534, got ${ruleIdx}`);
    clientIp |= 0;
    serverIp |= 0;
    extIp |= 0;
    clientPort &= 0xffff;
    serverPort &= 0xffff;
    const intPorts = (clientPort << 16) | serverPort;
    if (this.byInternal.get(clientIp, serverIp, intPorts) >= 0) return FLOW_ERR_EXISTS;
    if (this.slots.count >= this.maxFlows) return FLOW_ERR_TABLE_FULL;
    const natPort = this.pickGwPort(this.byExternal, serverIp, extIp, serverPort, clientIp, clientPort);
    if (natPort < 0) return FLOW_ERR_NO_GW_PORT;
    const id = this.slots.alloc();
    if (id < 0) return FLOW_ERR_TABLE_FULL;
    this.insert(id, kind | FLOW_OUTBOUND, ruleIdx, mappingIdx, 0, serverIp, extIp, serverIp, clientIp, (serverPort << 16) | natPort, intPorts, nowMs, nowMs, idleTimeoutMs, NO_COUNTS);
    return id;
  }

  /** Flow of a packet from the client (src clientIp:clientPort, dst extIp:extPort), or -1. */
  lookupExternal(clientIp: number, clientPort: number, extIp: number, extPort: number): number {
    return this.byExternal.get(clientIp, extIp, ((clientPort & 0xffff) << 16) | (extPort & 0xffff));
  }

  /** Flow of a packet from the server (src serverIp:serverPort, dst gwIp:gwPort), or -1. */
  lookupInternal(serverIp: number, serverPort: number, gwIp: number, gwPort: number): number {
    return this.byInternal.get(serverIp, gwIp, ((serverPort & 0xffff) << 16) | (gwPort & 0xffff));
  }

  kind(id: number): number {
    return ((this.tup[id * TUP_ROW + T_META] ?? 0) >>> 8) & 0x3f;
  }
  /** An internal client's connection to an external server (createOutbound). */
  outbound(id: number): boolean {
    return (((this.tup[id * TUP_ROW + T_META] ?? 0) >>> 8) & FLOW_OUTBOUND) !== 0;
  }
  /** The RPC client's address: the external peer, or for an outbound flow the internal one (rows name sides, see the header). */
  rpcClientIp(id: number): number {
    return this.outbound(id) ? this.serverIp(id) : this.clientIp(id);
  }
  /** The RPC server's address: the internal peer, or for an outbound flow the external one. */
  rpcServerIp(id: number): number {
    return this.outbound(id) ? this.clientIp(id) : this.serverIp(id);
  }
  /** Rule index (-1..65534). */
  ruleIdx(id: number): number {
    const r = (this.tup[id * TUP_ROW + T_META] ?? 0xffff0000) >>> 16;
    return r === 0xffff ? -1 : r;
  }
  /** Mapping id of a FLOW_MAPPED flow; -1 for EPM flows. */
  mappingIdx(id: number): number {
    return (this.tup[id * TUP_ROW + T_MAPPING] ?? 0xffffffff) | 0;
  }
  clientIp(id: number): number {
    return this.tup[id * TUP_ROW + T_CLIENT_IP] ?? 0;
  }
  clientPort(id: number): number {
    return (this.tup[id * TUP_ROW + T_EXT_PORTS] ?? 0) >>> 16;
  }
  extIp(id: number): number {
    return this.tup[id * TUP_ROW + T_EXT_IP] ?? 0;
  }
  extPort(id: number): number {
    return (this.tup[id * TUP_ROW + T_EXT_PORTS] ?? 0) & 0xffff;
  }
  gwIp(id: number): number {
    return this.tup[id * TUP_ROW + T_GW_IP] ?? 0;
  }
  gwPort(id: number): number {
    return (this.tup[id * TUP_ROW + T_INT_PORTS] ?? 0) & 0xffff;
  }
  serverIp(id: number): number {
    return this.tup[id * TUP_ROW + T_SERVER_IP] ?? 0;
  }
  serverPort(id: number): number {
    return (this.tup[id * TUP_ROW + T_INT_PORTS] ?? 0) >>> 16;
  }
  /** FLOW_ST_* bits. */
  state(id: number): number {
    return (this.tup[id * TUP_ROW + T_META] ?? 0) & 0xff;
  }
  createdMs(id: number): number {
    return this.num[id * NUM_ROW + N_CREATED] ?? 0;
  }
  lastSeenMs(id: number): number {
    return this.num[id * NUM_ROW + N_LAST_SEEN] ?? 0;
  }
  idleTimeoutMs(id: number): number {
    return this.num[id * NUM_ROW + N_IDLE] ?? 0;
  }
  packetsFromClient(id: number): number {
    return this.num[id * NUM_ROW + N_PKTS_CLIENT] ?? 0;
  }
  bytesFromClient(id: number): number {
    return this.num[id * NUM_ROW + N_BYTES_CLIENT] ?? 0;
  }
  packetsFromServer(id: number): number {
    return this.num[id * NUM_ROW + N_PKTS_SERVER] ?? 0;
  }
  bytesFromServer(id: number): number {
    return this.num[id * NUM_ROW + N_BYTES_SERVER] ?? 0;
  }
  isLive(id: number): boolean {
    return this.slots.inUse(id);
  }
  /** RST seen, or FIN seen both ways: the flow is lingering before removal. */
  isClosed(id: number): boolean {
    return isClosedState(this.state(id));
  }
  isEstablished(id: number): boolean {
    return (this.state(id) & FLOW_ST_ESTABLISHED) !== 0;
  }
  /** lastSeenMs + the timeout of the flow's current state (when tick will remove it), or -1. */
  expiresAtMs(id: number): number {
    if (!this.slots.inUse(id)) return -1;
    const n = id * NUM_ROW;
    return this.num[n + N_LAST_SEEN]! + this.timeoutOf(this.state(id), this.num[n + N_IDLE]!);
  }

  /**
   * Accounts one packet of the flow. tcpFlags is the TCP header's flags byte (TCP_FIN, TCP_SYN,
   * TCP_RST, TCP_ACK); bytes whatever the caller counts (e.g. IP length).
   */
  onPacket(id: number, fromClient: boolean, tcpFlags: number, bytes: number, nowMs: number): void {
    const m = id * TUP_ROW + T_META;
    const meta = this.tup[m] ?? 0;
    if ((meta & (FLOW_LIVE << 8)) === 0) return; // not in use, or beyond the rows
    const f = this.num;
    const n = id * NUM_ROW;
    if (fromClient) {
      f[n + N_PKTS_CLIENT] = f[n + N_PKTS_CLIENT]! + 1;
      f[n + N_BYTES_CLIENT] = f[n + N_BYTES_CLIENT]! + bytes;
    } else {
      f[n + N_PKTS_SERVER] = f[n + N_PKTS_SERVER]! + 1;
      f[n + N_BYTES_SERVER] = f[n + N_BYTES_SERVER]! + bytes;
    }
    f[n + N_LAST_SEEN] = nowMs;
    const before = meta & 0xff;
    const st = nextState(before, fromClient, tcpFlags);
    if (st !== before) {
      this.tup[m] = ((meta & 0xffffff00) | st) >>> 0;
      // A reopened flow (new SYN on a closing one) starts a new connection.
      if (isClosedState(before) && !isClosedState(st)) f[n + N_CREATED] = nowMs;
    }
    // Lazy timer: only pull the armed deadline in; a later one is re-armed when it fires.
    const deadline = nowMs + this.timeoutOf(st, f[n + N_IDLE]!);
    if (deadline < f[n + N_ARMED]!) this.arm(id, deadline);
  }

  /** Removes a flow now, without calling any callback; false if not in use. */
  remove(id: number): boolean {
    if (!this.slots.inUse(id)) return false;
    const u = this.tup;
    const t = id * TUP_ROW;
    this.byExternal.delete(u[t + T_CLIENT_IP]!, u[t + T_EXT_IP]!, u[t + T_EXT_PORTS]!);
    const intPorts = u[t + T_INT_PORTS]!;
    this.byInternal.delete(u[t + T_SERVER_IP]!, u[t + T_GW_IP]!, intPorts);
    u[t + T_META] = u[t + T_META]! & ~(FLOW_LIVE << 8); // onPacket reads this instead of the allocator's byte; the rest stays readable
    // Outbound rows' internal tuples are never marked (their ports come from byExternal's walk).
    if ((u[t + T_META]! & (FLOW_OUTBOUND << 8)) === 0) this.usedPorts.unmark(u[t + T_SERVER_IP]! | 0, u[t + T_GW_IP]! | 0, intPorts >>> 16, intPorts & 0xffff);
    this.wheel.cancel(id);
    this.slots.free(id);
    if (id === this.reapingId) this.reapingRemoved = true;
    return true;
  }

  /**
   * Removes every flow whose timeout (per its state, from lastSeenMs) has passed at nowMs,
   * calling onExpire(id) BEFORE its slot is freed (fields still readable). Returns how many.
   */
  tick(nowMs: number, onExpire?: (id: number) => void): number {
    this.tickNowMs = nowMs;
    this.tickOnExpire = onExpire ?? null;
    this.tickRemoved = 0;
    this.wheel.advance(nowMs, this.expireOne);
    this.tickOnExpire = null;
    return this.tickRemoved;
  }

  /** Calls cb(id) for every live flow, ascending id (admin listing). */
  forEach(cb: (id: number) => void): void {
    const end = this.slots.highWater;
    for (let id = 0; id < end; id++) if (this.slots.inUse(id)) cb(id);
  }

  memoryBytes(): number {
    return (
      this.num.buffer.byteLength +
      this.slots.memoryBytes() +
      this.wheel.memoryBytes() +
      this.byExternal.memoryBytes() +
      this.byInternal.memoryBytes() +
      this.usedPorts.memoryBytes()
    );
  }

  /**
   * Re-creates a flow saved by a state snapshot (daemon restart) with its gwPort, state bits,
   * times and counters as they were: the server keeps seeing the same internal tuple. Returns
   * its id, or FLOW_ERR_EXISTS (either tuple already taken), FLOW_ERR_TABLE_FULL.
   */
  restoreFlow(
    kind: number,
    ruleIdx: number,
    mappingIdx: number,
    clientIp: number,
    clientPort: number,
    extIp: number,
    extPort: number,
    gwIp: number,
    gwPort: number,
    serverIp: number,
    serverPort: number,
    state: number,
    createdMs: number,
    lastSeenMs: number,
    idleTimeoutMs: number,
    counts: readonly number[],
  ): number {
    const extPorts = (((clientPort & 0xffff) << 16) | (extPort & 0xffff)) >>> 0;
    const intPorts = (((serverPort & 0xffff) << 16) | (gwPort & 0xffff)) >>> 0;
    if (this.byExternal.get(clientIp >>> 0, extIp >>> 0, extPorts) >= 0) return FLOW_ERR_EXISTS;
    if (this.byInternal.get(serverIp >>> 0, gwIp >>> 0, intPorts) >= 0) return FLOW_ERR_EXISTS;
    if (this.slots.count >= this.maxFlows) return FLOW_ERR_TABLE_FULL;
    const id = this.slots.alloc();
    if (id < 0) return FLOW_ERR_TABLE_FULL;
    this.insert(id, kind, ruleIdx, mappingIdx, state & 0xff, clientIp >>> 0, extIp >>> 0, gwIp >>> 0, serverIp >>> 0, extPorts, intPorts, createdMs, lastSeenMs, idleTimeoutMs, counts);
    return id;
  }

  /**
   * Writes a new flow's rows (counters from `counts`: packets and bytes from the client, from
   * the server), indexes both tuples and arms its timer for the
   * state's timeout from lastSeenMs (embryonic for a new flow). Address and port words as u32 or
   * int32 (the same bits are stored).
   */
  private insert(
    id: number,
    kind: number,
    ruleIdx: number,
    mappingIdx: number,
    state: number,
    clientIp: number,
    extIp: number,
    gwIp: number,
    serverIp: number,
    extPorts: number,
    intPorts: number,
    createdMs: number,
    lastSeenMs: number,
    idleTimeoutMs: number,
    counts: readonly number[],
  ): void {
    const u = this.tup;
    const t = id * TUP_ROW;
    u[t + T_CLIENT_IP] = clientIp;
    u[t + T_EXT_IP] = extIp;
    u[t + T_GW_IP] = gwIp;
    u[t + T_SERVER_IP] = serverIp;
    u[t + T_EXT_PORTS] = extPorts;
    u[t + T_INT_PORTS] = intPorts;
    u[t + T_META] = (((ruleIdx & 0xffff) << 16) | (((kind & 0xbf) | FLOW_LIVE) << 8) | state) >>> 0;
    u[t + T_MAPPING] = mappingIdx >>> 0;
    const f = this.num;
    const n = id * NUM_ROW;
    const idleMs = idleTimeoutMs <= 0 ? 0 : Math.floor(idleTimeoutMs);
    const deadline = lastSeenMs + this.timeoutOf(state, idleMs);
    f[n + N_LAST_SEEN] = lastSeenMs;
    f[n + N_CREATED] = createdMs;
    f[n + N_PKTS_CLIENT] = counts[0] ?? 0;
    f[n + N_BYTES_CLIENT] = counts[1] ?? 0;
    f[n + N_PKTS_SERVER] = counts[2] ?? 0;
    f[n + N_BYTES_SERVER] = counts[3] ?? 0;
    f[n + N_ARMED] = deadline;
    f[n + N_IDLE] = idleMs;
    // Both tuples were looked up and found free by every caller (create, createOutbound, restoreFlow).
    this.byExternal.setAbsent(clientIp, extIp, extPorts, id);
    this.byInternal.setAbsent(serverIp, gwIp, intPorts, id);
    this.wheel.schedule(id, deadline);
  }

  private timeoutOf(st: number, idleMs: number): number {
    if (isClosedState(st)) return this.closeLingerMs;
    if ((st & FLOW_ST_ESTABLISHED) !== 0) return idleMs;
    return this.embryonicTimeoutMs;
  }

  private arm(id: number, deadline: number): void {
    this.num[id * NUM_ROW + N_ARMED] = deadline;
    this.wheel.schedule(id, deadline);
  }

  /**
   * clientPort if it lies in gwPortLo..gwPortHi (gateway.natPorts) and the internal tuple is free
   * with it (the server then sees the port the client chose); else a probe over that range that
   * starts at a hash of (clientIp, clientPort) and steps by a hash-derived stride coprime with
   * the range size, so it visits every port once. Why not "clientPort + 1 upward": client ports
   * are sequential (Windows hands them out in order) so the used gwPorts form one dense run, and
   * a linear walk from inside it costs the run's length (thousands of probes); a strided walk
   * costs about 1 / (1 - load) probes. Only ports in the range: the kernel guard hands the
   * servers' answers to exactly these to the daemon, and the host's own connections never use
   * them (reserved). Deterministic: same inputs, same port.
   */
  private pickGwPort(index: HashIndex3, serverIp: number, gwIp: number, serverPort: number, clientIp: number, clientPort: number): number {
    const hi = serverPort << 16;
    const lo = this.gwPortLo;
    const span = this.gwPortSpan;
    // Over byInternal, ports marked in the endpoint's hint set are taken without asking the index;
    // an unmarked one is asked as before, so the port chosen is the same.
    const hints = this.usedPorts;
    const set = index === this.byInternal ? hints.setOf(serverIp, gwIp, serverPort) : -1;
    this.pickedSet = set;
    if (clientPort >= lo && clientPort <= this.gwPortHi && !(set >= 0 && hints.used(set, clientPort)) && index.get(serverIp, gwIp, hi | clientPort) < 0) return clientPort;
    let h = Math.imul(clientIp ^ Math.imul(clientPort + 0x9e3779b9, 0x85ebca6b), 0xc2b2ae35);
    h ^= h >>> 15;
    h = Math.imul(h, 0x27d4eb2f) >>> 0;
    let off = h % span;
    let step = ((h >>> 16) % span) | 1;
    while (step > 1 && !oddCoprime(step, this.spanOddPrimes)) step = step + 2 < span ? step + 2 : 1;
    for (let i = 0; i < span; i++) {
      const p = lo + off;
      if (!(set >= 0 && hints.used(set, p)) && index.get(serverIp, gwIp, hi | p) < 0) return p;
      off += step;
      if (off >= span) off -= span;
    }
    return -1;
  }

  /** Timer-wheel callback of tick(): re-arm if active since the timer was set, else expire. */
  private reap(id: number): void {
    if (!this.slots.inUse(id)) return;
    const n = id * NUM_ROW;
    const deadline = this.num[n + N_LAST_SEEN]! + this.timeoutOf(this.state(id), this.num[n + N_IDLE]!);
    if (deadline > this.tickNowMs) {
      this.arm(id, deadline);
      return;
    }
    const cb = this.tickOnExpire;
    if (cb !== null) {
      this.reapingId = id;
      this.reapingRemoved = false;
      cb(id);
      this.reapingId = -1;
      // The callback may have removed it itself (and the slot may even hold a new flow now).
      if (this.reapingRemoved) {
        this.tickRemoved++;
        return;
      }
    }
    this.remove(id);
    this.tickRemoved++;
  }

  private growRows(n: number): void {
    const rows = newRows(n);
    rows.num.set(this.num);
    this.num = rows.num;
    this.tup = rows.tup;
    this.wheel.grow(n);
  }
}

/** Rows for `n` flows: one buffer, both views from ROWS_OFFSET (see the header). */
function newRows(n: number): { num: Float64Array; tup: Uint32Array } {
  const buf = new ArrayBuffer(ROWS_OFFSET + n * ROW_BYTES);
  return { num: new Float64Array(buf, ROWS_OFFSET, n * NUM_ROW), tup: new Uint32Array(buf, ROWS_OFFSET, n * TUP_ROW) };
}

/** State bits after one packet with TCP flags `flags` in the given direction. */
export function nextState(st: number, fromClient: boolean, flags: number): number {
  if ((flags & TCP_RST) !== 0) return st | FLOW_ST_RST;
  const syn = (flags & TCP_SYN) !== 0;
  const ack = (flags & TCP_ACK) !== 0;
  if (syn) {
    if (fromClient && !ack) {
      // A fresh SYN on a closed flow: the client reused its port for a new connection.
      if (isClosedState(st)) st = 0;
      st |= FLOW_ST_SYN_CLIENT;
    } else if (!fromClient && ack) {
      st |= FLOW_ST_SYNACK_SERVER;
    }
  } else if (ack) {
    st |= fromClient ? FLOW_ST_ACK_CLIENT : FLOW_ST_ACK_SERVER;
  }
  if ((flags & TCP_FIN) !== 0) st |= fromClient ? FLOW_ST_FIN_CLIENT : FLOW_ST_FIN_SERVER;
  if ((st & FLOW_ST_ESTABLISHED) === 0 && (st & FLOW_ST_ACK_CLIENT) !== 0) {
    const handshake = (st & FLOW_ST_SYNACK_SERVER) !== 0;
    const midStream = (st & FLOW_ST_SYN_CLIENT) === 0 && (st & FLOW_ST_ACK_SERVER) !== 0;
    if (handshake || midStream) st |= FLOW_ST_ESTABLISHED;
  }
  return st;
}

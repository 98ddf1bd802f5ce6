/**
 * MappingTable: the pinholes opened by rewriting ept_map towers.
 *
 * Model
 * - A mapping (= pinhole) is created when the gateway rewrites an ept_map tower for client C:
 *     (rule r, client IP C, external IP E, external port P) -> (server IP S, server port Q).
 *   Only C may connect to E:P; its connections are translated to S:Q.
 * - Mappings are keyed by (C, E, P). The same external port may be handed to DIFFERENT clients
 *   at once (the pinhole is client-scoped, which is what lets one external address carry a
 *   million mappings), but never twice to the same client for different targets.
 * - acquire(r, C, E, S, Q): if C already has a live mapping in r to S:Q, it is reused (its timer
 *   refreshed). Otherwise P is picked deterministically from r's range [lo, hi] (see PortPool):
 *   first a port no client holds (oldest released first), else, once the range is saturated,
 *   the first port from a round-robin cursor that C does not hold. Refusals are negative reason
 *   codes, never exceptions: C holds maxPerClient mappings in r (MAP_ERR_CLIENT_LIMIT), C holds
 *   every port of the range (MAP_ERR_RANGE_EXHAUSTED), r holds its maximum
 *   (MAP_ERR_RULE_LIMIT), the table holds maxMappings (MAP_ERR_TABLE_FULL).
 * - Lifetime: a mapping lives while it has live connections (connCount > 0). With connCount 0 it
 *   expires at lastActivityMs + pinholeTimeoutMs, where activity = creation, re-map (acquire
 *   reusing it), connection open, connection close. tick(nowMs) reaps expired mappings; lookups
 *   in between still see a mapping whose deadline passed but that no tick has reaped yet (lazy
 *   reaping: the engine ticks at least once a second).
 * - Rule reload: if acquire is called for r with a different [lo, hi] than before, r's port pool
 *   is rebuilt from the live mappings (one O(table) pass, only on reload). A live mapping whose
 *   external IP or port no longer matches the rule is not reused: it keeps working until it
 *   expires and a fresh mapping is made for new requests.
 *
 * Storage (structure of arrays, indexed by mapping id; ~42 bytes a mapping):
 *   clientIp, extIp, serverIp: Uint32; extPort, serverPort, ruleIdx: Uint16;
 *   createdMs, lastActivityMs: Float64; connCount, timeoutMs: Uint32
 * plus the id allocator (5 B), the timer wheel (16 B) and three HashIndex3 (16 B a slot, load
 * <= 0.5, so up to 64 B each per mapping at the worst point of a doubling):
 *   byPinhole (C, E, P)          -> id     the packet-path lookup
 *   byTarget  (C, S, r<<16 | Q)  -> id     reuse on re-map
 *   perClient (C, r, 0)          -> count  maxPerClient
 * and a PortPool per rule (8 B a port of its range).
 * ruleIdx is limited to 0..65534 (it shares a u32 key word with the server port; FlowTable keeps
 * the same range).
 */
import { HashIndex3 } from './hash-index.js';
import { PortPool } from './port-pool.js';
import { growF64, growU16, growU32, SlotAllocator } from './slots.js';
import { TimerWheel } from './timer-wheel.js';

export const MAP_ERR_CLIENT_LIMIT = -1;
export const MAP_ERR_RANGE_EXHAUSTED = -2;
export const MAP_ERR_RULE_LIMIT = -3;
export const MAP_ERR_TABLE_FULL = -4;

/** Reason names by (negative) code: MAP_ERR_NAMES[MAP_ERR_RULE_LIMIT] === 'rule-limit'. */
export const MAP_ERR_NAMES: Readonly<Record<number, string>> = {
  [MAP_ERR_CLIENT_LIMIT]: 'client-limit',
  [MAP_ERR_RANGE_EXHAUSTED]: 'range-exhausted',
  [MAP_ERR_RULE_LIMIT]: 'rule-limit',
  [MAP_ERR_TABLE_FULL]: 'table-full',
};

/** Largest rule index the nat tables accept (FlowTable stores -1..65534 in 16 bits). */
export const MAX_RULE_IDX = 0xfffe;

export interface MappingTableOptions {
  /** Global bound on live mappings. */
  maxMappings: number;
  /** Bound per rule: one number for every rule, or per rule index (rules past the array get maxMappings). */
  maxPerRule: number[] | number;
  /** Hash seed (fixed in replay for byte-identical runs, random in live mode). */
  seed?: number;
  /** Mappings to allocate storage for up front (default min(maxMappings, 1024)); grows by doubling. */
  initialMappings?: number;
  /** Timer wheel granularity (default 1000 ms) and bucket count (default 4096). */
  timerResolutionMs?: number;
  timerBuckets?: number;
}

class RuleState {
  count = 0;
  constructor(public pool: PortPool) {}
}

const U32_MAX = 0xffffffff;

export class MappingTable {
  readonly maxMappings: number;
  private readonly defaultRuleLimit: number;
  private readonly ruleLimits: number[];
  private readonly slots: SlotAllocator;
  private readonly wheel: TimerWheel;
  private readonly byPinhole: HashIndex3;
  private readonly byTarget: HashIndex3;
  private readonly perClient: HashIndex3;
  private readonly rules: (RuleState | undefined)[] = [];

  private clientIps: Uint32Array;
  private extIps: Uint32Array;
  private serverIps: Uint32Array;
  private extPorts: Uint16Array;
  private serverPorts: Uint16Array;
  private ruleIdxs: Uint16Array;
  private createdMsA: Float64Array;
  private lastActivityMsA: Float64Array;
  private connCounts: Uint32Array;
  private timeoutsMs: Uint32Array;

  // tick() state, so the wheel callback is one function made once (no closure per tick).
  private tickOnExpire: ((id: number) => void) | null = null;
  private tickReaped = 0;
  private readonly expireOne: (id: number) => void;

  constructor(opts: MappingTableOptions) {
    const max = opts.maxMappings;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`MappingTable: maxMappings must be a positive integer, got ${max}`);
    this.maxMappings = max;
    if (typeof opts.maxPerRule === 'number') {
      this.defaultRuleLimit = opts.maxPerRule;
      this.ruleLimits = [];
    } else {
      this.defaultRuleLimit = max;
      this.ruleLimits = opts.maxPerRule.slice();
    }
    const seed = opts.seed ?? 0x9e3779b9;
    const initial = Math.max(1, Math.min(max, opts.initialMappings ?? 1024));
    this.slots = new SlotAllocator(max, initial, (n) => this.growArrays(n));
    const cap = this.slots.capacityNow;
    this.wheel = new TimerWheel(cap, opts.timerResolutionMs ?? 1000, opts.timerBuckets ?? 4096);
    this.byPinhole = new HashIndex3(max, seed, initial);
    this.byTarget = new HashIndex3(max, (seed ^ 0x5bd1e995) >>> 0, initial);
    this.perClient = new HashIndex3(max, (seed ^ 0x27d4eb2f) >>> 0, initial);
    this.clientIps = new Uint32Array(cap);
    this.extIps = new Uint32Array(cap);
    this.serverIps = new Uint32Array(cap);
    this.extPorts = new Uint16Array(cap);
    this.serverPorts = new Uint16Array(cap);
    this.ruleIdxs = new Uint16Array(cap);
    this.createdMsA = new Float64Array(cap);
    this.lastActivityMsA = new Float64Array(cap);
    this.connCounts = new Uint32Array(cap);
    this.timeoutsMs = new Uint32Array(cap);
    this.expireOne = (id: number) => this.reap(id);
  }

  /** Live mappings. */
  get count(): number {
    return this.slots.count;
  }

  /**
   * Returns the mapping id for client C to reach S:Q through rule r (reused or new), or a
   * negative MAP_ERR_* code. Invalid arguments (ruleIdx outside 0..MAX_RULE_IDX, ports outside
   * 1..65535) are programming errors and throw RangeError; an empty range (lo > hi) is
   * MAP_ERR_RANGE_EXHAUSTED.
   */
  acquire(
    ruleIdx: number,
    portLo: number,
    portHi: number,
    maxPerClient: number,
    clientIp: number,
    extIp: number,
    serverIp: number,
    serverPort: number,
    nowMs: number,
    pinholeTimeoutMs: number,
  ): number {
    checkRule(ruleIdx);
    checkPort(portLo, 'portLo');
    checkPort(portHi, 'portHi');
    clientIp >>>= 0;
    extIp >>>= 0;
    serverIp >>>= 0;
    serverPort &= 0xffff;

    if (portLo > portHi) return MAP_ERR_RANGE_EXHAUSTED;
    const rule = this.ruleState(ruleIdx, portLo, portHi);

    const targetKey = ((ruleIdx << 16) | serverPort) >>> 0;
    const existing = this.byTarget.get(clientIp, serverIp, targetKey);
    if (existing >= 0) {
      const p = this.extPorts[existing]!;
      if (this.extIps[existing] === extIp && p >= portLo && p <= portHi) {
        this.timeoutsMs[existing] = clampU32(pinholeTimeoutMs);
        this.touch(existing, nowMs);
        return existing;
      }
      // The rule moved (reload): the old pinhole lives on until it expires, new requests get a new one.
      this.byTarget.delete(clientIp, serverIp, targetKey);
    }

    const held = this.room(ruleIdx, rule, clientIp, maxPerClient);
    if (held < 0) return held;
    const port = this.pickPort(rule.pool, clientIp, extIp);
    if (port < 0) return MAP_ERR_RANGE_EXHAUSTED;
    return this.insert(ruleIdx, rule, held, clientIp, extIp, port, serverIp, serverPort, nowMs, nowMs, pinholeTimeoutMs);
  }

  /**
   * An outbound pinhole: internal client C may connect to external S:Q (an ept_map answer named
   * it), keyed (C, S, Q) like an inbound one with E = S and P = Q, so lookup(C, S, Q) finds it.
   * No port is picked (the server chose it), so the rule's port pool is not involved. Reused
   * (timer refreshed) when C already holds it; else the same bounds as acquire.
   */
  acquireExact(ruleIdx: number, maxPerClient: number, clientIp: number, serverIp: number, serverPort: number, nowMs: number, pinholeTimeoutMs: number): number {
    checkRule(ruleIdx);
    checkPort(serverPort, 'serverPort');
    clientIp >>>= 0;
    serverIp >>>= 0;
    const existing = this.byPinhole.get(clientIp, serverIp, serverPort);
    if (existing >= 0) {
      this.timeoutsMs[existing] = clampU32(pinholeTimeoutMs);
      this.touch(existing, nowMs);
      return existing;
    }
    // An empty pool ([1, 0]): outbound rules hand out no port of their own.
    const rule = this.ruleState(ruleIdx, 1, 0);
    const held = this.room(ruleIdx, rule, clientIp, maxPerClient);
    if (held < 0) return held;
    return this.insert(ruleIdx, rule, held, clientIp, serverIp, serverPort, serverIp, serverPort, nowMs, nowMs, pinholeTimeoutMs);
  }

  /** Mapping id of client C's pinhole to S:Q through rule r (what acquire would reuse), or -1. */
  find(ruleIdx: number, clientIp: number, serverIp: number, serverPort: number): number {
    return this.byTarget.get(clientIp >>> 0, serverIp >>> 0, ((ruleIdx << 16) | (serverPort & 0xffff)) >>> 0);
  }

  /** Mapping id of the pinhole (C, E, P), or -1 (none, or reaped by a tick). */
  lookup(clientIp: number, extIp: number, extPort: number): number {
    return this.byPinhole.get(clientIp, extIp, extPort & 0xffff);
  }

  clientIp(id: number): number {
    return this.clientIps[id] ?? 0;
  }
  extIp(id: number): number {
    return this.extIps[id] ?? 0;
  }
  extPort(id: number): number {
    return this.extPorts[id] ?? 0;
  }
  serverIp(id: number): number {
    return this.serverIps[id] ?? 0;
  }
  serverPort(id: number): number {
    return this.serverPorts[id] ?? 0;
  }
  ruleIdx(id: number): number {
    return this.ruleIdxs[id] ?? 0;
  }
  createdMs(id: number): number {
    return this.createdMsA[id] ?? 0;
  }
  lastActivityMs(id: number): number {
    return this.lastActivityMsA[id] ?? 0;
  }
  connCount(id: number): number {
    return this.connCounts[id] ?? 0;
  }
  pinholeTimeoutMs(id: number): number {
    return this.timeoutsMs[id] ?? 0;
  }
  /** When the mapping will expire, or -1 while it has live connections (or is not in use). */
  expiresAtMs(id: number): number {
    return this.wheel.deadline(id);
  }
  isLive(id: number): boolean {
    return this.slots.inUse(id);
  }

  /** A connection through the pinhole opened: it now lives as long as its connections. */
  connOpened(id: number, nowMs: number): void {
    if (!this.slots.inUse(id)) return;
    this.connCounts[id] = this.connCounts[id]! + 1;
    this.lastActivityMsA[id] = nowMs;
    this.wheel.cancel(id);
  }

  /** A connection through the pinhole closed; with none left, the pinhole timer starts. */
  connClosed(id: number, nowMs: number): void {
    if (!this.slots.inUse(id)) return;
    const c = this.connCounts[id]!;
    if (c > 0) this.connCounts[id] = c - 1;
    this.touch(id, nowMs);
  }

  /** Records activity; restarts the expiry timer if the mapping has no live connection. */
  touch(id: number, nowMs: number): void {
    if (!this.slots.inUse(id)) return;
    this.lastActivityMsA[id] = nowMs;
    if (this.connCounts[id] === 0) this.wheel.schedule(id, nowMs + this.timeoutsMs[id]!);
  }

  /** Removes a mapping now (whatever its connections); false if not in use. */
  remove(id: number): boolean {
    if (!this.slots.inUse(id)) return false;
    const c = this.clientIps[id]!;
    const r = this.ruleIdxs[id]!;
    const port = this.extPorts[id]!;
    this.byPinhole.delete(c, this.extIps[id]!, port);
    const s = this.serverIps[id]!;
    const targetKey = ((r << 16) | this.serverPorts[id]!) >>> 0;
    if (this.byTarget.get(c, s, targetKey) === id) this.byTarget.delete(c, s, targetKey);
    const held = this.perClient.get(c, r, 0);
    if (held <= 1) this.perClient.delete(c, r, 0);
    else this.perClient.set(c, r, 0, held - 1);
    const rule = this.rules[r];
    if (rule !== undefined) {
      rule.count--;
      rule.pool.unref(port);
    }
    this.wheel.cancel(id);
    this.connCounts[id] = 0;
    this.slots.free(id);
    return true;
  }

  /**
   * Removes every mapping of rule `ruleIdx` (or any rule: -1) for client `clientIp` (or any
   * client: -1), live connections or not (`rpcgw flush`). Returns how many were removed.
   * Flows naming a removed mapping are the caller's to remove.
   */
  removeWhere(ruleIdx: number, clientIp: number): number {
    const anyClient = clientIp === -1;
    const c = clientIp >>> 0;
    let removed = 0;
    const end = this.slots.highWater;
    for (let id = 0; id < end; id++) {
      if (!this.slots.inUse(id)) continue;
      if (ruleIdx !== -1 && this.ruleIdxs[id] !== ruleIdx) continue;
      if (!anyClient && this.clientIps[id] !== c) continue;
      this.remove(id);
      removed++;
    }
    return removed;
  }

  /**
   * Reaps every mapping with no live connection whose lastActivityMs + pinholeTimeoutMs <=
   * nowMs. onExpire(id) is called before the mapping is removed (fields still readable); if the
   * callback refreshes it (touch, connOpened) it is kept. Returns how many were removed.
   */
  tick(nowMs: number, onExpire?: (id: number) => void): number {
    this.tickOnExpire = onExpire ?? null;
    this.tickReaped = 0;
    this.wheel.advance(nowMs, this.expireOne);
    this.tickOnExpire = null;
    return this.tickReaped;
  }

  /** Mappings client C holds in rule r. */
  countForClient(ruleIdx: number, clientIp: number): number {
    return Math.max(0, this.perClient.get(clientIp, ruleIdx, 0));
  }

  /** Mappings rule r holds. */
  countForRule(ruleIdx: number): number {
    return this.rules[ruleIdx]?.count ?? 0;
  }

  /** How many clients hold port P of rule r's current range (0 outside it). */
  portRefCount(ruleIdx: number, port: number): number {
    return this.rules[ruleIdx]?.pool.refCount(port) ?? 0;
  }

  /** Calls cb(id) for every live mapping, ascending id (admin listing; read fields with the getters). */
  forEach(cb: (id: number) => void): void {
    const end = this.slots.highWater;
    for (let id = 0; id < end; id++) if (this.slots.inUse(id)) cb(id);
  }

  /** Bytes of typed-array storage held by the table, its indexes, timers and port pools. */
  memoryBytes(): number {
    let bytes =
      this.clientIps.byteLength +
      this.extIps.byteLength +
      this.serverIps.byteLength +
      this.extPorts.byteLength +
      this.serverPorts.byteLength +
      this.ruleIdxs.byteLength +
      this.createdMsA.byteLength +
      this.lastActivityMsA.byteLength +
      this.connCounts.byteLength +
      this.timeoutsMs.byteLength +
      this.slots.memoryBytes() +
      this.wheel.memoryBytes() +
      this.byPinhole.memoryBytes() +
      this.byTarget.memoryBytes() +
      this.perClient.memoryBytes();
    for (const r of this.rules) if (r !== undefined) bytes += r.pool.memoryBytes();
    return bytes;
  }

  /**
   * Re-creates a pinhole saved by a state snapshot (daemon restart) on the same external port,
   * with its times; its expiry timer runs from lastActivityMs until connections are restored
   * onto it (connOpened). Returns its id, or a negative MAP_ERR_* code: the port is outside
   * [portLo, portHi] or the client already holds it (MAP_ERR_RANGE_EXHAUSTED), or a bound is
   * reached.
   */
  restoreMapping(
    ruleIdx: number,
    portLo: number,
    portHi: number,
    maxPerClient: number,
    clientIp: number,
    extIp: number,
    extPort: number,
    serverIp: number,
    serverPort: number,
    createdMs: number,
    lastActivityMs: number,
    pinholeTimeoutMs: number,
  ): number {
    checkRule(ruleIdx);
    clientIp >>>= 0;
    extIp >>>= 0;
    serverIp >>>= 0;
    serverPort &= 0xffff;
    if (!(extPort >= portLo && extPort <= portHi) || portLo > portHi) return MAP_ERR_RANGE_EXHAUSTED;
    if (this.byPinhole.get(clientIp, extIp, extPort) >= 0) return MAP_ERR_RANGE_EXHAUSTED;
    const rule = this.ruleState(ruleIdx, portLo, portHi);
    const held = this.room(ruleIdx, rule, clientIp, maxPerClient);
    if (held < 0) return held;
    return this.insert(ruleIdx, rule, held, clientIp, extIp, extPort, serverIp, serverPort, createdMs, lastActivityMs, pinholeTimeoutMs);
  }

  /** The client's pinholes under the rule when one more fits, else MAP_ERR_CLIENT_LIMIT, _RULE_LIMIT or _TABLE_FULL. */
  private room(ruleIdx: number, rule: RuleState, clientIp: number, maxPerClient: number): number {
    const held = Math.max(0, this.perClient.get(clientIp, ruleIdx, 0));
    if (held >= maxPerClient) return MAP_ERR_CLIENT_LIMIT;
    if (rule.count >= this.ruleLimit(ruleIdx)) return MAP_ERR_RULE_LIMIT;
    if (this.slots.count >= this.maxMappings) return MAP_ERR_TABLE_FULL;
    return held;
  }

  /**
   * Writes a new mapping on `port` (room() said it fits; `held` is what it returned), indexes it
   * and arms its expiry from lastActivityMs. Returns its id.
   */
  private insert(
    ruleIdx: number,
    rule: RuleState,
    held: number,
    clientIp: number,
    extIp: number,
    port: number,
    serverIp: number,
    serverPort: number,
    createdMs: number,
    lastActivityMs: number,
    pinholeTimeoutMs: number,
  ): number {
    const id = this.slots.alloc();
    if (id < 0) return MAP_ERR_TABLE_FULL; // unreachable: count < maxMappings was checked
    const targetKey = ((ruleIdx << 16) | serverPort) >>> 0;
    this.clientIps[id] = clientIp;
    this.extIps[id] = extIp;
    this.serverIps[id] = serverIp;
    this.extPorts[id] = port;
    this.serverPorts[id] = serverPort;
    this.ruleIdxs[id] = ruleIdx;
    this.createdMsA[id] = createdMs;
    this.lastActivityMsA[id] = lastActivityMs;
    this.connCounts[id] = 0;
    this.timeoutsMs[id] = clampU32(pinholeTimeoutMs);
    // The indexes hold at most maxMappings keys each, so these cannot fail. A target already
    // held (a restored pinhole beside a newer one) keeps its first mapping.
    // Every caller found (clientIp, extIp, port) free in byPinhole just before (pickPort, or a get).
    this.byPinhole.setAbsent(clientIp, extIp, port, id);
    if (this.byTarget.get(clientIp, serverIp, targetKey) < 0) this.byTarget.setAbsent(clientIp, serverIp, targetKey, id);
    this.perClient.set(clientIp, ruleIdx, 0, held + 1);
    rule.pool.ref(port); // a no-op outside the pool (outbound pinholes are in none)
    rule.count++;
    this.wheel.schedule(id, lastActivityMs + this.timeoutsMs[id]!);
    return id;
  }

  private ruleLimit(ruleIdx: number): number {
    return this.ruleLimits[ruleIdx] ?? this.defaultRuleLimit;
  }

  private ruleState(ruleIdx: number, lo: number, hi: number): RuleState {
    let rule = this.rules[ruleIdx];
    if (rule === undefined) {
      rule = new RuleState(new PortPool(lo, hi));
      this.rules[ruleIdx] = rule;
    } else if (rule.pool.lo !== lo || rule.pool.hi !== hi) {
      rule.pool = this.rebuildPool(ruleIdx, lo, hi);
    }
    return rule;
  }

  /** A fresh pool for a changed range, counting the live mappings of the rule that fall in it. */
  private rebuildPool(ruleIdx: number, lo: number, hi: number): PortPool {
    const pool = new PortPool(lo, hi);
    const end = this.slots.highWater;
    for (let id = 0; id < end; id++) {
      if (!this.slots.inUse(id) || this.ruleIdxs[id] !== ruleIdx) continue;
      const p = this.extPorts[id]!;
      pool.ref(p);
    }
    return pool;
  }

  /**
   * A port of the pool that client C does not hold at extIp, or -1.
   * Cost: O(1) while unused ports exist; on a saturated range, at most (ports C holds) + 1
   * probes of the pinhole index.
   */
  private pickPort(pool: PortPool, clientIp: number, extIp: number): number {
    // Unused ports, oldest first. C can only hold one of them through another rule sharing extIp.
    for (let p = pool.firstUnused(); p >= 0; p = pool.nextUnused(p)) {
      if (this.byPinhole.get(clientIp, extIp, p) < 0) return p;
    }
    let p = pool.cursorPort();
    for (let i = 0; i < pool.size; i++) {
      if (this.byPinhole.get(clientIp, extIp, p) < 0) {
        pool.moveCursorPast(p);
        return p;
      }
      p = pool.after(p);
    }
    return -1;
  }

  /** Timer-wheel callback of tick(). */
  private reap(id: number): void {
    if (!this.slots.inUse(id) || this.connCounts[id]! > 0) return;
    const cb = this.tickOnExpire;
    if (cb !== null) {
      cb(id);
      // The callback may have removed it, or refreshed it (rescheduled / a connection opened).
      if (!this.slots.inUse(id) || this.wheel.isScheduled(id) || this.connCounts[id]! > 0) return;
    }
    this.remove(id);
    this.tickReaped++;
  }

  private growArrays(n: number): void {
    this.clientIps = growU32(this.clientIps, n);
    this.extIps = growU32(this.extIps, n);
    this.serverIps = growU32(this.serverIps, n);
    this.extPorts = growU16(this.extPorts, n);
    this.serverPorts = growU16(this.serverPorts, n);
    this.ruleIdxs = growU16(this.ruleIdxs, n);
    this.createdMsA = growF64(this.createdMsA, n);
    this.lastActivityMsA = growF64(this.lastActivityMsA, n);
    this.connCounts = growU32(this.connCounts, n);
    this.timeoutsMs = growU32(this.timeoutsMs, n);
    this.wheel.grow(n);
  }
}

function checkRule(ruleIdx: number): void {
  if (!(Number.isInteger(ruleIdx) && ruleIdx >= 0 && ruleIdx <= MAX_RULE_IDX)) {
    throw new RangeError(`MappingTable: ruleIdx must be an integer in 0..${MAX_RULE_IDX}, got ${ruleIdx}`);
  }
}

function checkPort(port: number, what: string): void {
  if (!(Number.isInteger(port) && port >= 1 && port <= 0xffff)) {
    throw new RangeError(`MappingTable: ${what} must be an integer in 1..65535, got ${port}`);
  }
}

function clampU32(ms: number): number {
  return ms <= 0 ? 0 : ms >= U32_MAX ? U32_MAX : Math.floor(ms);
}

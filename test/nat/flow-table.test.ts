import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  FlowTable,
  FLOW_EPM,
  FLOW_MAPPED,
  FLOW_ERR_EXISTS,
  FLOW_ERR_NAMES,
  FLOW_ERR_NO_GW_PORT,
  FLOW_ERR_TABLE_FULL,
  FLOW_ST_ESTABLISHED,
  FLOW_ST_FIN_CLIENT,
  FLOW_ST_FIN_SERVER,
  FLOW_ST_RST,
  FLOW_ST_SYN_CLIENT,
  FLOW_ST_SYNACK_SERVER,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
  nextState,
} from '../../src/nat/flow-table.js';

const ip = (a: number, b: number, c: number, d: number): number => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;

const EXT = ip(203, 0, 113, 10);
const GW = ip(10, 0, 0, 1); // gateway's inside address
const SRV = ip(10, 0, 0, 5);
const C1 = ip(198, 51, 100, 1);
const C2 = ip(198, 51, 100, 2);
const C3 = ip(198, 51, 100, 3);
const IDLE_MS = 900_000;

/** An EPM flow C:cport -> EXT:135 -> SRV:135. */
function epm(t: FlowTable, client: number, clientPort: number, nowMs = 0): number {
  return t.create(FLOW_EPM, 0, -1, client, clientPort, EXT, 135, GW, SRV, 135, nowMs, IDLE_MS);
}

/** SYN, SYN-ACK, ACK at t, t+1, t+2. */
function handshake(t: FlowTable, id: number, at: number): void {
  t.onPacket(id, true, TCP_SYN, 52, at);
  t.onPacket(id, false, TCP_SYN | TCP_ACK, 52, at + 1);
  t.onPacket(id, true, TCP_ACK, 40, at + 2);
}

describe('FlowTable tuples', () => {
  it('indexes a flow by its external and its internal tuple, with the fields given', () => {
    const t = new FlowTable({ maxFlows: 10 });
    const id = t.create(FLOW_MAPPED, 3, 7, C1, 50_000, EXT, 6001, GW, SRV, 49_153, 1_000, IDLE_MS);
    expect(id).toBe(0);
    expect(t.lookupExternal(C1, 50_000, EXT, 6001)).toBe(id);
    expect(t.lookupInternal(SRV, 49_153, GW, 50_000)).toBe(id);
    expect([t.kind(id), t.ruleIdx(id), t.mappingIdx(id)]).toEqual([FLOW_MAPPED, 3, 7]);
    expect([t.clientIp(id), t.clientPort(id), t.extIp(id), t.extPort(id)]).toEqual([C1, 50_000, EXT, 6001]);
    expect([t.gwIp(id), t.gwPort(id), t.serverIp(id), t.serverPort(id)]).toEqual([GW, 50_000, SRV, 49_153]);
    expect([t.createdMs(id), t.lastSeenMs(id), t.state(id)]).toEqual([1_000, 1_000, 0]);
    // Wrong on any one word: not found.
    expect(t.lookupExternal(C1, 50_001, EXT, 6001)).toBe(-1);
    expect(t.lookupExternal(C2, 50_000, EXT, 6001)).toBe(-1);
    expect(t.lookupExternal(C1, 50_000, EXT, 6002)).toBe(-1);
    expect(t.lookupInternal(SRV, 135, GW, 50_000)).toBe(-1);
    expect(t.lookupInternal(SRV, 49_153, GW + 1, 50_000)).toBe(-1);
    expect(t.count).toBe(1);
  });

  it('keeps the client port as gwPort when free, else probes deterministically within 1024..65535', () => {
    const build = (): FlowTable => new FlowTable({ maxFlows: 100 });
    const t = build();
    const a = epm(t, C1, 50_000);
    const b = epm(t, C2, 50_000); // same client port from another client to the same server:135
    const c = epm(t, C3, 50_000);
    expect(t.gwPort(a)).toBe(50_000);
    const gb = t.gwPort(b);
    const gc = t.gwPort(c);
    for (const g of [gb, gc]) {
      expect(g).toBeGreaterThanOrEqual(1024);
      expect(g).toBeLessThanOrEqual(65_535);
    }
    expect(new Set([50_000, gb, gc]).size).toBe(3);
    expect(t.lookupInternal(SRV, 135, GW, gb)).toBe(b);
    expect(t.lookupInternal(SRV, 135, GW, gc)).toBe(c);
    // Same operations, same ports.
    const u = build();
    epm(u, C1, 50_000);
    expect(t.gwPort(epm(u, C2, 50_000))).toBe(gb);
    expect(t.gwPort(epm(u, C3, 50_000))).toBe(gc);
    // Another server port is another tuple space: the client port is kept.
    const d = t.create(FLOW_MAPPED, 0, 0, C2, 50_000, EXT, 6000, GW, SRV, 49_153, 0, IDLE_MS);
    expect(t.gwPort(d)).toBe(50_000);
    // So is another gateway address.
    expect(t.gwPort(t.create(FLOW_EPM, 0, -1, ip(198, 51, 100, 8), 50_000, EXT, 135, GW + 1, SRV, 135, 0, IDLE_MS))).toBe(50_000);
    // A client port below the range (1024..65535 when none is given) is never used.
    const h = t.gwPort(epm(t, C1, 80));
    expect(h).toBeGreaterThanOrEqual(1024);
    // A freed gwPort is handed out again.
    t.remove(a);
    expect(t.gwPort(epm(t, ip(198, 51, 100, 9), 50_000))).toBe(50_000);
  });

  it('probes around a dense run of taken ports (sequential client ports) in few steps', () => {
    const t = new FlowTable({ maxFlows: 40_000 });
    // 16384 flows from C1 on the whole Windows ephemeral range: gwPorts 49152..65535 all taken.
    for (let p = 49_152; p <= 65_535; p++) epm(t, C1, p);
    // Every other client colliding there lands on a free port, all distinct, all indexed.
    const seen = new Set<number>();
    for (let p = 49_152; p < 49_152 + 5000; p++) {
      const id = epm(t, C2, p);
      const g = t.gwPort(id);
      expect(g < 49_152 && g >= 1024).toBe(true);
      seen.add(g);
      expect(t.lookupInternal(SRV, 135, GW, g)).toBe(id);
    }
    expect(seen.size).toBe(5000);
  });

  it('with a NAT port range (gateway.natPorts) picks gwPort only inside it, every port once, deterministically', () => {
    const build = (): FlowTable => new FlowTable({ maxFlows: 5000, gwPortLo: 61_000, gwPortHi: 65_535 });
    const t = build();
    // A client port inside the range is kept when free; one outside never is.
    expect(t.gwPort(epm(t, C1, 62_000))).toBe(62_000);
    const outside = t.gwPort(epm(t, C1, 50_000));
    expect(outside).toBeGreaterThanOrEqual(61_000);
    expect(outside).toBeLessThanOrEqual(65_535);
    // Same operations, same ports.
    const u = build();
    epm(u, C1, 62_000);
    expect(u.gwPort(epm(u, C1, 50_000))).toBe(outside);
    // Fill the range from sequential client ports below it: 4536 distinct ports, then no more.
    const seen = new Set<number>([62_000, outside]);
    for (let p = 40_000; seen.size < 4536; p++) {
      const g = t.gwPort(epm(t, C2, p));
      expect(g >= 61_000 && g <= 65_535).toBe(true);
      expect(seen.has(g)).toBe(false);
      seen.add(g);
    }
    expect(epm(t, C3, 30_000)).toBe(FLOW_ERR_NO_GW_PORT);
    expect(epm(t, C3, 63_000)).toBe(FLOW_ERR_NO_GW_PORT);
    // Another server port is another tuple space.
    expect(t.create(FLOW_MAPPED, 0, 0, C3, 30_000, EXT, 6000, GW, SRV, 49_153, 0, IDLE_MS)).toBeGreaterThanOrEqual(0);
  });

  it('visits every port of odd, even and one-port ranges', () => {
    for (const [lo, hi] of [[2000, 2000], [2000, 2001], [2000, 2006], [5000, 5359], [40_000, 40_999]] as const) {
      const t = new FlowTable({ maxFlows: 2000, gwPortLo: lo, gwPortHi: hi });
      const seen = new Set<number>();
      for (let i = 0; i <= hi - lo; i++) seen.add(t.gwPort(epm(t, C1, 10_000 + i)));
      expect(seen.size).toBe(hi - lo + 1);
      expect(Math.min(...seen)).toBe(lo);
      expect(Math.max(...seen)).toBe(hi);
      expect(epm(t, C2, 10_000)).toBe(FLOW_ERR_NO_GW_PORT);
    }
    expect(() => new FlowTable({ maxFlows: 1, gwPortLo: 2000, gwPortHi: 1999 })).toThrow(RangeError);
  });

  it('refuses a second flow on the same external tuple, and a full table', () => {
    const t = new FlowTable({ maxFlows: 2, initialFlows: 1 });
    expect(epm(t, C1, 50_000)).toBe(0);
    expect(epm(t, C1, 50_000)).toBe(FLOW_ERR_EXISTS);
    expect(epm(t, C1, 50_001)).toBe(1);
    expect(epm(t, C1, 50_002)).toBe(FLOW_ERR_TABLE_FULL);
    expect(t.count).toBe(2);
    expect(FLOW_ERR_NAMES[FLOW_ERR_EXISTS]).toBe('exists');
    expect(FLOW_ERR_NAMES[FLOW_ERR_TABLE_FULL]).toBe('table-full');
    expect(FLOW_ERR_NAMES[FLOW_ERR_NO_GW_PORT]).toBe('no-gw-port');
  });

  it('refuses with FLOW_ERR_NO_GW_PORT when every gateway port to one server endpoint is taken', () => {
    const t = new FlowTable({ maxFlows: 70_000 });
    let kept = 0;
    for (let p = 1024; p <= 65_535; p++) if (t.gwPort(epm(t, C1, p)) === p) kept++;
    expect(kept).toBe(64_512);
    expect(epm(t, C2, 5000)).toBe(FLOW_ERR_NO_GW_PORT);
    expect(epm(t, C2, 80)).toBe(FLOW_ERR_NO_GW_PORT);
    // Another gateway address has its own port space.
    expect(t.create(FLOW_EPM, 0, -1, C2, 5000, EXT, 135, GW + 1, SRV, 135, 0, IDLE_MS)).toBeGreaterThanOrEqual(0);
  });
});

describe('FlowTable state and timeouts', () => {
  it('tracks flags per direction and counts packets and bytes', () => {
    const t = new FlowTable({ maxFlows: 4 });
    const id = epm(t, C1, 50_000);
    t.onPacket(id, true, TCP_SYN, 60, 10);
    expect(t.state(id)).toBe(FLOW_ST_SYN_CLIENT);
    t.onPacket(id, false, TCP_SYN | TCP_ACK, 60, 11);
    expect(t.state(id) & FLOW_ST_SYNACK_SERVER).toBe(FLOW_ST_SYNACK_SERVER);
    expect(t.isEstablished(id)).toBe(false);
    t.onPacket(id, true, TCP_ACK, 40, 12);
    expect(t.isEstablished(id)).toBe(true);
    t.onPacket(id, true, TCP_ACK, 1500, 13);
    t.onPacket(id, false, TCP_ACK, 200, 14);
    expect([t.packetsFromClient(id), t.bytesFromClient(id), t.packetsFromServer(id), t.bytesFromServer(id)]).toEqual([3, 1600, 2, 260]);
    expect(t.lastSeenMs(id)).toBe(14);
    expect(t.expiresAtMs(id)).toBe(14 + IDLE_MS);
  });

  it('expires a SYN-only flow at the embryonic timeout, calling onExpire before the slot is freed', () => {
    const t = new FlowTable({ maxFlows: 4, embryonicTimeoutMs: 30_000 });
    const id = epm(t, C1, 50_000, 1_000);
    t.onPacket(id, true, TCP_SYN, 52, 1_000);
    t.onPacket(id, true, TCP_SYN, 52, 4_000); // retransmitted SYN counts as activity
    expect(t.tick(33_999)).toBe(0);
    const seen: number[] = [];
    expect(
      t.tick(34_000, (f) => {
        expect(t.isLive(f)).toBe(true);
        expect(t.lookupExternal(C1, 50_000, EXT, 135)).toBe(f);
        seen.push(t.mappingIdx(f), t.clientPort(f));
      }),
    ).toBe(1);
    expect(seen).toEqual([-1, 50_000]);
    expect(t.isLive(id)).toBe(false);
    expect(t.lookupExternal(C1, 50_000, EXT, 135)).toBe(-1);
    expect(t.lookupInternal(SRV, 135, GW, 50_000)).toBe(-1);
    expect(t.count).toBe(0);
  });

  it('keeps an established flow until idleTimeout after its last packet', () => {
    const t = new FlowTable({ maxFlows: 4 });
    const id = epm(t, C1, 50_000);
    handshake(t, id, 0);
    expect(t.tick(30_000)).toBe(0); // past the embryonic timeout: established now
    t.onPacket(id, false, TCP_ACK, 100, 100_000);
    expect(t.tick(IDLE_MS + 2)).toBe(0); // armed deadline fires, flow re-armed (seen since)
    expect(t.tick(100_000 + IDLE_MS - 1)).toBe(0);
    expect(t.tick(100_000 + IDLE_MS)).toBe(1);
    expect(t.count).toBe(0);
  });

  it('lingers after FIN both ways so retransmitted FIN/ACKs still translate, then removes', () => {
    const t = new FlowTable({ maxFlows: 4, closeLingerMs: 10_000 });
    const id = epm(t, C1, 50_000);
    handshake(t, id, 0);
    t.onPacket(id, true, TCP_FIN | TCP_ACK, 40, 50_000);
    expect(t.isClosed(id)).toBe(false); // half-closed: still the idle timeout
    expect(t.expiresAtMs(id)).toBe(50_000 + IDLE_MS);
    t.onPacket(id, false, TCP_FIN | TCP_ACK, 40, 50_010);
    expect(t.state(id) & (FLOW_ST_FIN_CLIENT | FLOW_ST_FIN_SERVER)).toBe(FLOW_ST_FIN_CLIENT | FLOW_ST_FIN_SERVER);
    expect(t.isClosed(id)).toBe(true);
    expect(t.tick(55_000)).toBe(0);
    // A retransmitted FIN/ACK still finds the flow, and extends the linger from itself.
    expect(t.lookupExternal(C1, 50_000, EXT, 135)).toBe(id);
    t.onPacket(id, true, TCP_FIN | TCP_ACK, 40, 56_000);
    expect(t.tick(65_999)).toBe(0);
    const expired: number[] = [];
    expect(t.tick(66_000, (f) => expired.push(f))).toBe(1);
    expect(expired).toEqual([id]);
  });

  it('lingers after RST; a fresh client SYN reopens the flow', () => {
    const t = new FlowTable({ maxFlows: 4, closeLingerMs: 10_000, embryonicTimeoutMs: 30_000 });
    const a = epm(t, C1, 50_000);
    handshake(t, a, 0);
    t.onPacket(a, false, TCP_RST, 40, 1_000);
    expect(t.state(a) & FLOW_ST_RST).toBe(FLOW_ST_RST);
    expect(t.isClosed(a)).toBe(true);
    expect(t.expiresAtMs(a)).toBe(11_000);
    expect(t.tick(11_000)).toBe(1);

    const b = epm(t, C1, 50_001);
    handshake(t, b, 20_000);
    t.onPacket(b, true, TCP_RST | TCP_ACK, 40, 21_000);
    t.onPacket(b, true, TCP_SYN, 52, 25_000); // the client reuses its port at once
    expect(t.isClosed(b)).toBe(false);
    expect(t.state(b)).toBe(FLOW_ST_SYN_CLIENT);
    expect(t.createdMs(b)).toBe(25_000);
    expect(t.tick(31_000)).toBe(0); // not reaped at the old linger deadline
    expect(t.tick(54_999)).toBe(0);
    expect(t.tick(55_000)).toBe(1); // embryonic timeout from the new SYN
  });

  it('treats a flow picked up mid-stream as established once both sides sent ACKs', () => {
    const t = new FlowTable({ maxFlows: 4 });
    const id = epm(t, C1, 50_000);
    t.onPacket(id, true, TCP_ACK, 100, 0);
    expect(t.isEstablished(id)).toBe(false);
    t.onPacket(id, false, TCP_ACK, 100, 1);
    expect(t.state(id) & FLOW_ST_ESTABLISHED).toBe(FLOW_ST_ESTABLISHED);
  });

  it('a flow the callback removed itself is counted once and not removed twice', () => {
    const t = new FlowTable({ maxFlows: 2, initialFlows: 2 });
    const a = epm(t, C1, 50_000);
    let created = -1;
    expect(
      t.tick(60_000, (f) => {
        t.remove(f);
        created = epm(t, C2, 40_000, 60_000); // may take the slot just freed
      }),
    ).toBe(1);
    expect(t.isLive(a) || created === a).toBe(true);
    expect(t.lookupExternal(C2, 40_000, EXT, 135)).toBe(created);
    expect(t.count).toBe(1);
  });

  it('forEach lists live flows; memoryBytes grows with the table', () => {
    const t = new FlowTable({ maxFlows: 10_000, initialFlows: 16 });
    const m0 = t.memoryBytes();
    for (let p = 0; p < 100; p++) epm(t, C1, 40_000 + p);
    t.remove(5);
    const ids: number[] = [];
    t.forEach((id) => ids.push(id));
    expect(ids).toHaveLength(99);
    expect(ids.includes(5)).toBe(false);
    expect(t.memoryBytes()).toBeGreaterThan(m0);
  });
});

describe('FlowTable fields and invariants', () => {
  it('round-trips ruleIdx -1..65534 and any mappingIdx; refuses other rule indexes', () => {
    const t = new FlowTable({ maxFlows: 8 });
    const a = t.create(FLOW_EPM, -1, -1, C1, 1, EXT, 135, GW, SRV, 135, 0, IDLE_MS);
    const b = t.create(FLOW_MAPPED, 65_534, 0x7fffffff, C1, 2, EXT, 135, GW, SRV, 135, 0, IDLE_MS);
    expect([t.ruleIdx(a), t.mappingIdx(a), t.kind(a)]).toEqual([-1, -1, FLOW_EPM]);
    expect([t.ruleIdx(b), t.mappingIdx(b), t.kind(b)]).toEqual([65_534, 0x7fffffff, FLOW_MAPPED]);
    t.onPacket(b, true, TCP_SYN, 1, 1);
    expect([t.ruleIdx(b), t.kind(b), t.state(b)]).toEqual([65_534, FLOW_MAPPED, FLOW_ST_SYN_CLIENT]);
    expect(() => t.create(FLOW_EPM, 65_535, -1, C1, 3, EXT, 135, GW, SRV, 135, 0, IDLE_MS)).toThrow(RangeError);
    expect(t.count).toBe(2);
  });

  it('keeps both indexes consistent and expires exactly the overdue flows under random operations', () => {
    type Op =
      | { t: 'create'; c: number; port: number; srv: number }
      | { t: 'pkt'; pick: number; fromClient: boolean; flags: number }
      | { t: 'remove'; pick: number }
      | { t: 'tick'; dt: number };
    const flagsArb = fc.constantFrom(TCP_SYN, TCP_SYN | TCP_ACK, TCP_ACK, TCP_FIN | TCP_ACK, TCP_RST, TCP_RST | TCP_ACK, 0);
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      { weight: 3, arbitrary: fc.record({ t: fc.constant('create' as const), c: fc.integer({ min: 0, max: 3 }), port: fc.constantFrom(80, 1024, 50_000, 50_001, 65_535), srv: fc.constantFrom(135, 6000) }) },
      { weight: 5, arbitrary: fc.record({ t: fc.constant('pkt' as const), pick: fc.nat(), fromClient: fc.boolean(), flags: flagsArb }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('remove' as const), pick: fc.nat() }) },
      { weight: 2, arbitrary: fc.record({ t: fc.constant('tick' as const), dt: fc.integer({ min: 0, max: 40_000 }) }) },
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 150 }), (ops) => {
        const t = new FlowTable({ maxFlows: 12, initialFlows: 2, embryonicTimeoutMs: 20_000, closeLingerMs: 5_000 });
        let now = 0;
        const live = (): number[] => {
          const ids: number[] = [];
          t.forEach((id) => ids.push(id));
          return ids;
        };
        for (const op of ops) {
          if (op.t === 'create') {
            const id = t.create(FLOW_EPM, 0, -1, ip(198, 51, 100, op.c), op.port, EXT, op.srv, GW, SRV, op.srv, now, 60_000);
            if (id < 0) expect(FLOW_ERR_NAMES[id]).toBeDefined();
          } else if (op.t === 'tick') {
            now += op.dt;
            const before = live();
            const overdue = before.filter((id) => t.expiresAtMs(id) <= now);
            const expired: number[] = [];
            expect(t.tick(now, (id) => expired.push(id))).toBe(overdue.length);
            expect(expired.sort((a, b) => a - b)).toEqual(overdue);
          } else {
            const ids = live();
            if (ids.length === 0) continue;
            const id = ids[op.pick % ids.length]!;
            if (op.t === 'pkt') t.onPacket(id, op.fromClient, op.flags, 40, now);
            else t.remove(id);
          }
          const ids = live();
          expect(t.count).toBe(ids.length);
          const internal = new Set<string>();
          for (const id of ids) {
            expect(t.lookupExternal(t.clientIp(id), t.clientPort(id), t.extIp(id), t.extPort(id))).toBe(id);
            expect(t.lookupInternal(t.serverIp(id), t.serverPort(id), t.gwIp(id), t.gwPort(id))).toBe(id);
            const key = `${t.serverIp(id)}:${t.serverPort(id)}/${t.gwIp(id)}:${t.gwPort(id)}`;
            expect(internal.has(key)).toBe(false);
            internal.add(key);
            const g = t.gwPort(id);
            expect(g === t.clientPort(id) || (g >= 1024 && g <= 65_535)).toBe(true);
            expect(t.expiresAtMs(id)).toBeGreaterThan(t.lastSeenMs(id));
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('FlowTable rows against a model', () => {
  it('every field of every flow reads back as a Map model says, through growth, removal and reuse of ids', () => {
    interface M { kind: number; rule: number; mapping: number; c: number; cp: number; ep: number; out: boolean; st: number; pc: number; bc: number; ps: number; bs: number; seen: number; created: number }
    type Op =
      | { t: 'create'; c: number; cp: number; ep: number; mapped: boolean; out: boolean; rule: number }
      | { t: 'pkt'; pick: number; fromClient: boolean; flags: number; bytes: number }
      | { t: 'gone'; pick: number; fromClient: boolean };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      { weight: 3, arbitrary: fc.record({ t: fc.constant('create' as const), c: fc.integer({ min: 0, max: 255 }), cp: fc.integer({ min: 1, max: 65_535 }), ep: fc.integer({ min: 1, max: 65_535 }), mapped: fc.boolean(), out: fc.boolean(), rule: fc.integer({ min: -1, max: 65_534 }) }) },
      { weight: 5, arbitrary: fc.record({ t: fc.constant('pkt' as const), pick: fc.nat(), fromClient: fc.boolean(), flags: fc.constantFrom(TCP_SYN, TCP_SYN | TCP_ACK, TCP_ACK, TCP_FIN | TCP_ACK, TCP_RST), bytes: fc.integer({ min: 0, max: 2 ** 31 }) }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('gone' as const), pick: fc.nat(), fromClient: fc.boolean() }) },
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 120 }), (ops) => {
        const t = new FlowTable({ maxFlows: 40, initialFlows: 1, gwPortLo: 10_000, gwPortHi: 10_100 });
        const model = new Map<number, M>();
        let now = 1_704_067_200_000;
        for (const op of ops) {
          now += 7;
          if (op.t === 'create') {
            const kind = op.mapped ? FLOW_MAPPED : FLOW_EPM;
            const mapping = op.mapped ? op.c * 3 : -1;
            const cip = ip(198, 51, 100, op.c);
            const id = op.out
              ? t.createOutbound(kind, op.rule, mapping, cip, op.cp, SRV, op.ep, EXT, now, IDLE_MS)
              : t.create(kind, op.rule, mapping, cip, op.cp, EXT, op.ep, GW, SRV, 135, now, IDLE_MS);
            if (id < 0) continue;
            expect(model.has(id)).toBe(false);
            model.set(id, { kind, rule: op.rule, mapping, c: cip, cp: op.cp, ep: op.ep, out: op.out, st: 0, pc: 0, bc: 0, ps: 0, bs: 0, seen: now, created: now });
          } else {
            // A packet on a flow that left (its id not reused yet) changes nothing: half of the picks are past the live ones.
            const ids = [...model.keys()];
            const n = ids.length;
            const id = op.pick % (2 * n + 1) < n ? ids[op.pick % (2 * n + 1)]! : op.pick % 41;
            const m = model.get(id);
            if (op.t === 'gone') {
              expect(t.remove(id)).toBe(m !== undefined);
              model.delete(id);
              continue;
            }
            t.onPacket(id, op.fromClient, op.flags, op.bytes, now);
            if (m === undefined) continue;
            const st = nextState(m.st, op.fromClient, op.flags);
            if (op.fromClient) {
              m.pc++;
              m.bc += op.bytes;
            } else {
              m.ps++;
              m.bs += op.bytes;
            }
            const wasClosed = (m.st & FLOW_ST_RST) !== 0 || (m.st & (FLOW_ST_FIN_CLIENT | FLOW_ST_FIN_SERVER)) === (FLOW_ST_FIN_CLIENT | FLOW_ST_FIN_SERVER);
            const isClosedNow = (st & FLOW_ST_RST) !== 0 || (st & (FLOW_ST_FIN_CLIENT | FLOW_ST_FIN_SERVER)) === (FLOW_ST_FIN_CLIENT | FLOW_ST_FIN_SERVER);
            if (st !== m.st && wasClosed && !isClosedNow) m.created = now;
            m.st = st;
            m.seen = now;
          }
          expect(t.count).toBe(model.size);
          for (const [id, m] of model) {
            expect(t.isLive(id)).toBe(true);
            expect(t.kind(id)).toBe(m.kind);
            expect(t.outbound(id)).toBe(m.out);
            expect(t.ruleIdx(id)).toBe(m.rule);
            expect(t.mappingIdx(id)).toBe(m.mapping);
            expect(t.state(id)).toBe(m.st);
            expect([t.packetsFromClient(id), t.bytesFromClient(id), t.packetsFromServer(id), t.bytesFromServer(id)]).toEqual([m.pc, m.bc, m.ps, m.bs]);
            expect(t.lastSeenMs(id)).toBe(m.seen);
            expect(t.createdMs(id)).toBe(m.created);
            expect(t.idleTimeoutMs(id)).toBe(IDLE_MS);
            if (m.out) {
              expect([t.serverIp(id), t.serverPort(id), t.clientIp(id), t.clientPort(id), t.extIp(id)]).toEqual([m.c, m.cp, SRV, m.ep, EXT]);
              expect(t.lookupInternal(m.c, m.cp, SRV, m.ep)).toBe(id);
            } else {
              expect([t.clientIp(id), t.clientPort(id), t.extIp(id), t.extPort(id), t.gwIp(id), t.serverIp(id), t.serverPort(id)]).toEqual([m.c, m.cp, EXT, m.ep, GW, SRV, 135]);
              expect(t.lookupExternal(m.c, m.cp, EXT, m.ep)).toBe(id);
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

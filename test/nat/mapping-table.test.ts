import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  MappingTable,
  MAP_ERR_CLIENT_LIMIT,
  MAP_ERR_NAMES,
  MAP_ERR_RANGE_EXHAUSTED,
  MAP_ERR_RULE_LIMIT,
  MAP_ERR_TABLE_FULL,
} from '../../src/nat/mapping-table.js';

const ip = (a: number, b: number, c: number, d: number): number => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;

const EXT = ip(203, 0, 113, 10); // gateway external address
const SRV = ip(10, 0, 0, 5); // Exchange server
const C1 = ip(198, 51, 100, 1);
const C2 = ip(198, 51, 100, 2);
const C3 = ip(198, 51, 100, 3);
const C4 = ip(198, 51, 100, 4);
const PINHOLE_MS = 60_000;

/** Rule 0: range 6000..6002 (3 ports), 10 mappings per client. */
function acquire0(t: MappingTable, client: number, serverPort: number, nowMs = 0): number {
  return t.acquire(0, 6000, 6002, 10, client, EXT, SRV, serverPort, nowMs, PINHOLE_MS);
}

describe('MappingTable allocation', () => {
  it('creates a pinhole with the fields given and finds it by (client, ext ip, ext port)', () => {
    const t = new MappingTable({ maxMappings: 100, maxPerRule: 100 });
    const id = t.acquire(0, 6000, 6100, 10, C1, EXT, SRV, 49_153, 1_000, PINHOLE_MS);
    expect(id).toBe(0);
    expect(t.extPort(id)).toBe(6000);
    expect(t.extIp(id)).toBe(EXT);
    expect(t.clientIp(id)).toBe(C1);
    expect(t.serverIp(id)).toBe(SRV);
    expect(t.serverPort(id)).toBe(49_153);
    expect(t.ruleIdx(id)).toBe(0);
    expect(t.createdMs(id)).toBe(1_000);
    expect(t.lastActivityMs(id)).toBe(1_000);
    expect(t.connCount(id)).toBe(0);
    expect(t.expiresAtMs(id)).toBe(61_000);
    expect(t.lookup(C1, EXT, 6000)).toBe(id);
    // Client-scoped: another client, or another external port/address, finds nothing.
    expect(t.lookup(C2, EXT, 6000)).toBe(-1);
    expect(t.lookup(C1, EXT, 6001)).toBe(-1);
    expect(t.lookup(C1, EXT + 1, 6000)).toBe(-1);
    expect(t.count).toBe(1);
    expect(t.countForClient(0, C1)).toBe(1);
  });

  it('reuses the live mapping of the same client to the same server port, refreshing its timer', () => {
    const t = new MappingTable({ maxMappings: 100, maxPerRule: 100 });
    const a = acquire0(t, C1, 49_153, 0);
    const b = acquire0(t, C1, 49_153, 30_000);
    expect(b).toBe(a);
    expect(t.count).toBe(1);
    expect(t.createdMs(a)).toBe(0);
    expect(t.lastActivityMs(a)).toBe(30_000);
    expect(t.expiresAtMs(a)).toBe(90_000);
    expect(t.tick(60_000)).toBe(0); // the original deadline no longer applies
    expect(t.lookup(C1, EXT, t.extPort(a))).toBe(a);
  });

  it('gives one client a different port per target and never the same port twice', () => {
    const t = new MappingTable({ maxMappings: 100, maxPerRule: 100 });
    const ports = [49_153, 49_154, 49_155].map((q) => t.extPort(acquire0(t, C1, q)));
    expect(ports).toEqual([6000, 6001, 6002]);
    // The client holds the whole 3-port range: a fourth target is refused, not doubled up.
    expect(acquire0(t, C1, 49_156)).toBe(MAP_ERR_RANGE_EXHAUSTED);
    expect(t.countForClient(0, C1)).toBe(3);
  });

  it('gives a second client an unused port while one exists, then shares ports once saturated', () => {
    const t = new MappingTable({ maxMappings: 100, maxPerRule: 100 });
    expect(t.extPort(acquire0(t, C1, 49_153))).toBe(6000);
    expect(t.extPort(acquire0(t, C2, 49_153))).toBe(6001);
    expect(t.extPort(acquire0(t, C3, 49_153))).toBe(6002);
    // Range saturated: the round-robin cursor hands out 6000, then 6001, ...
    const d = acquire0(t, C4, 49_153);
    expect(t.extPort(d)).toBe(6000);
    expect(t.portRefCount(0, 6000)).toBe(2);
    // Two clients on 6000, each translated to its own target and only for itself.
    expect(t.lookup(C1, EXT, 6000)).not.toBe(t.lookup(C4, EXT, 6000));
    expect(t.lookup(C4, EXT, 6000)).toBe(d);
    // C4 asks for a second target: the cursor is on 6001, which C4 does not hold.
    expect(t.extPort(acquire0(t, C4, 49_154))).toBe(6001);
    // C1 for a second target: cursor at 6002 (free for C1).
    expect(t.extPort(acquire0(t, C1, 49_154))).toBe(6002);
    // C1 again: cursor at 6000, which C1 holds -> skips to 6001.
    expect(t.extPort(acquire0(t, C1, 49_155))).toBe(6001);
    expect(acquire0(t, C1, 49_156)).toBe(MAP_ERR_RANGE_EXHAUSTED);
  });

  it('hands a released port out last (oldest unused first)', () => {
    const t = new MappingTable({ maxMappings: 100, maxPerRule: 100 });
    const a = t.acquire(0, 6000, 6004, 10, C1, EXT, SRV, 1, 0, PINHOLE_MS); // 6000
    t.acquire(0, 6000, 6004, 10, C1, EXT, SRV, 2, 0, PINHOLE_MS); // 6001
    expect(t.remove(a)).toBe(true);
    expect(t.portRefCount(0, 6000)).toBe(0);
    const ports = [3, 4, 5, 6].map((q) => t.extPort(t.acquire(0, 6000, 6004, 10, C2, EXT, SRV, q, 0, PINHOLE_MS)));
    expect(ports).toEqual([6002, 6003, 6004, 6000]);
  });

  it('is deterministic: the same operations give the same ids and ports, whatever the hash seed', () => {
    const run = (seed: number): number[] => {
      const t = new MappingTable({ maxMappings: 50, maxPerRule: 40, seed });
      const out: number[] = [];
      let x = 12345;
      for (let i = 0; i < 400; i++) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        const client = ip(198, 51, 100, (x >>> 8) % 7);
        const op = (x >>> 4) % 4;
        if (op === 3 && t.count > 0) {
          const victims: number[] = [];
          t.forEach((id) => victims.push(id));
          t.remove(victims[(x >>> 12) % victims.length]!);
        } else {
          const id = t.acquire((x >>> 16) % 2, 7000, 7009, 5, client, EXT, SRV, 49_000 + ((x >>> 20) % 6), i * 1000, 30_000);
          out.push(id, id >= 0 ? t.extPort(id) : 0);
        }
        if (i % 50 === 0) out.push(t.tick(i * 1000));
      }
      return out;
    };
    const first = run(1);
    expect(run(1)).toEqual(first);
    expect(run(0xdeadbeef)).toEqual(first);
    expect(first.filter((v) => v >= 7000 && v <= 7009).length).toBeGreaterThan(50);
  });
});

describe('MappingTable refusals', () => {
  it('refuses a client at maxPerClient in the rule (other rules and clients unaffected)', () => {
    const t = new MappingTable({ maxMappings: 100, maxPerRule: 100 });
    expect(t.acquire(0, 6000, 6100, 2, C1, EXT, SRV, 1, 0, PINHOLE_MS)).toBeGreaterThanOrEqual(0);
    expect(t.acquire(0, 6000, 6100, 2, C1, EXT, SRV, 2, 0, PINHOLE_MS)).toBeGreaterThanOrEqual(0);
    expect(t.acquire(0, 6000, 6100, 2, C1, EXT, SRV, 3, 0, PINHOLE_MS)).toBe(MAP_ERR_CLIENT_LIMIT);
    // A re-map of an existing target is not a new mapping.
    expect(t.acquire(0, 6000, 6100, 2, C1, EXT, SRV, 2, 0, PINHOLE_MS)).toBeGreaterThanOrEqual(0);
    expect(t.acquire(0, 6000, 6100, 2, C2, EXT, SRV, 3, 0, PINHOLE_MS)).toBeGreaterThanOrEqual(0);
    expect(t.acquire(1, 7000, 7100, 2, C1, EXT, SRV, 3, 0, PINHOLE_MS)).toBeGreaterThanOrEqual(0);
    expect(MAP_ERR_NAMES[MAP_ERR_CLIENT_LIMIT]).toBe('client-limit');
  });

  it('refuses at the rule limit (per-rule array) and at the global table limit', () => {
    const t = new MappingTable({ maxMappings: 4, maxPerRule: [10, 2] });
    expect(t.acquire(1, 7000, 7100, 10, C1, EXT, SRV, 1, 0, PINHOLE_MS)).toBe(0);
    expect(t.acquire(1, 7000, 7100, 10, C2, EXT, SRV, 1, 0, PINHOLE_MS)).toBe(1);
    expect(t.acquire(1, 7000, 7100, 10, C3, EXT, SRV, 1, 0, PINHOLE_MS)).toBe(MAP_ERR_RULE_LIMIT);
    expect(t.acquire(0, 6000, 6100, 10, C3, EXT, SRV, 1, 0, PINHOLE_MS)).toBe(2);
    expect(t.acquire(2, 8000, 8100, 10, C3, EXT, SRV, 1, 0, PINHOLE_MS)).toBe(3); // rule past the array: global bound only
    expect(t.acquire(0, 6000, 6100, 10, C4, EXT, SRV, 1, 0, PINHOLE_MS)).toBe(MAP_ERR_TABLE_FULL);
    expect(t.count).toBe(4);
    expect(t.countForRule(1)).toBe(2);
    expect(MAP_ERR_NAMES[MAP_ERR_RULE_LIMIT]).toBe('rule-limit');
    expect(MAP_ERR_NAMES[MAP_ERR_TABLE_FULL]).toBe('table-full');
    expect(MAP_ERR_NAMES[MAP_ERR_RANGE_EXHAUSTED]).toBe('range-exhausted');
    t.remove(1); // a rule-1 mapping gone makes room under the rule's bound again
    expect(t.acquire(1, 7000, 7100, 10, C3, EXT, SRV, 1, 0, PINHOLE_MS)).toBeGreaterThanOrEqual(0);
    expect(t.countForRule(1)).toBe(2);
  });

  it('refuses an empty range and throws on arguments that are programming errors', () => {
    const t = new MappingTable({ maxMappings: 4, maxPerRule: 4 });
    expect(t.acquire(0, 6001, 6000, 10, C1, EXT, SRV, 1, 0, PINHOLE_MS)).toBe(MAP_ERR_RANGE_EXHAUSTED);
    expect(() => t.acquire(70_000, 6000, 6001, 10, C1, EXT, SRV, 1, 0, PINHOLE_MS)).toThrow(RangeError);
    expect(() => t.acquire(0, 0, 6001, 10, C1, EXT, SRV, 1, 0, PINHOLE_MS)).toThrow(RangeError);
    expect(t.count).toBe(0);
  });
});

describe('MappingTable lifetime', () => {
  it('expires after pinholeTimeout with no connection, calling onExpire while the fields are readable', () => {
    const t = new MappingTable({ maxMappings: 10, maxPerRule: 10 });
    const id = acquire0(t, C1, 49_153, 5_000);
    const port = t.extPort(id);
    expect(t.tick(64_999)).toBe(0);
    expect(t.lookup(C1, EXT, port)).toBe(id);
    const expired: string[] = [];
    expect(t.tick(65_000, (m) => expired.push(`${m}:${t.extPort(m)}:${t.lookup(C1, EXT, port)}`))).toBe(1);
    expect(expired).toEqual([`${id}:${port}:${id}`]);
    expect(t.lookup(C1, EXT, port)).toBe(-1);
    expect(t.count).toBe(0);
    expect(t.countForClient(0, C1)).toBe(0);
    expect(t.portRefCount(0, port)).toBe(0);
  });

  it('does not expire while a connection lives; the timer restarts when the last one closes', () => {
    const t = new MappingTable({ maxMappings: 10, maxPerRule: 10 });
    const id = acquire0(t, C1, 49_153, 0);
    t.connOpened(id, 1_000);
    t.connOpened(id, 2_000);
    expect(t.connCount(id)).toBe(2);
    expect(t.expiresAtMs(id)).toBe(-1);
    expect(t.tick(10_000_000)).toBe(0);
    t.connClosed(id, 10_000_000);
    expect(t.tick(20_000_000)).toBe(0); // one connection still open
    t.connClosed(id, 20_000_000);
    expect(t.connCount(id)).toBe(0);
    expect(t.expiresAtMs(id)).toBe(20_060_000);
    expect(t.tick(20_059_999)).toBe(0);
    expect(t.tick(20_060_000)).toBe(1);
    expect(t.isLive(id)).toBe(false);
  });

  it('touch refreshes the timer; a callback that refreshes the mapping keeps it', () => {
    const t = new MappingTable({ maxMappings: 10, maxPerRule: 10 });
    const id = acquire0(t, C1, 49_153, 0);
    t.touch(id, 50_000);
    expect(t.tick(60_000)).toBe(0);
    expect(t.tick(110_000, (m) => t.touch(m, 110_000))).toBe(0);
    expect(t.isLive(id)).toBe(true);
    expect(t.tick(170_000)).toBe(1);
  });

  it('removeWhere flushes by rule, by client, or both, connections or not', () => {
    const t = new MappingTable({ maxMappings: 100, maxPerRule: 100 });
    for (const c of [C1, C2, C3]) {
      for (const r of [0, 1]) t.acquire(r, 6000 + r * 100, 6099 + r * 100, 10, c, EXT, SRV, 49_153, 0, PINHOLE_MS);
    }
    t.connOpened(t.lookup(C1, EXT, 6100), 0);
    expect(t.removeWhere(1, C1)).toBe(1);
    expect(t.lookup(C1, EXT, 6100)).toBe(-1);
    expect(t.removeWhere(-1, C2)).toBe(2);
    expect(t.removeWhere(0, -1)).toBe(2);
    expect(t.count).toBe(1);
    expect(t.lookup(C3, EXT, t.extPort(t.acquire(1, 6100, 6199, 10, C3, EXT, SRV, 49_153, 0, PINHOLE_MS)))).toBeGreaterThanOrEqual(0);
    expect(t.removeWhere(-1, -1)).toBe(1);
    expect(t.count).toBe(0);
    expect(t.countForClient(1, C3)).toBe(0);
  });

  it('rebuilds a rule whose range changed: a mapping outside the new range is not reused', () => {
    const t = new MappingTable({ maxMappings: 100, maxPerRule: 100 });
    const a = t.acquire(0, 6000, 6009, 10, C1, EXT, SRV, 1, 0, PINHOLE_MS); // 6000
    const b = t.acquire(0, 6000, 6009, 10, C2, EXT, SRV, 1, 0, PINHOLE_MS); // 6001
    // Reload: range is now 6001..6003. C2's mapping (6001) is still in range and counted.
    expect(t.acquire(0, 6001, 6003, 10, C2, EXT, SRV, 1, 0, PINHOLE_MS)).toBe(b);
    expect(t.portRefCount(0, 6001)).toBe(1);
    const a2 = t.acquire(0, 6001, 6003, 10, C1, EXT, SRV, 1, 0, PINHOLE_MS);
    expect(a2).not.toBe(a);
    expect(t.extPort(a2)).toBe(6002);
    expect(t.isLive(a)).toBe(true); // the old pinhole lives until it expires
    expect(t.acquire(0, 6001, 6003, 10, C1, EXT, SRV, 1, 0, PINHOLE_MS)).toBe(a2);
    t.remove(a);
    expect(t.acquire(0, 6001, 6003, 10, C1, EXT, SRV, 1, 0, PINHOLE_MS)).toBe(a2);
  });
});

describe('MappingTable invariants under random operations (fast-check)', () => {
  it('keeps every index, count and refcount consistent with the live mappings', () => {
    type Op =
      | { t: 'acq'; rule: number; client: number; q: number }
      | { t: 'open' | 'close' | 'remove'; pick: number }
      | { t: 'tick'; dt: number }
      | { t: 'flush'; rule: number; client: number };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ t: fc.constant('acq' as const), rule: fc.integer({ min: 0, max: 1 }), client: fc.integer({ min: 0, max: 4 }), q: fc.integer({ min: 0, max: 5 }) }) },
      { weight: 2, arbitrary: fc.record({ t: fc.constantFrom('open' as const, 'close' as const, 'remove' as const), pick: fc.nat() }) },
      { weight: 2, arbitrary: fc.record({ t: fc.constant('tick' as const), dt: fc.integer({ min: 0, max: 40_000 }) }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('flush' as const), rule: fc.integer({ min: -1, max: 1 }), client: fc.integer({ min: -1, max: 4 }) }) },
    );
    // Both rules share the external address and overlap on 6002..6003.
    const ranges: [number, number][] = [[6000, 6003], [6002, 6005]];
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 150 }), (ops) => {
        const t = new MappingTable({ maxMappings: 12, maxPerRule: [8, 9], initialMappings: 2 });
        let now = 0;
        const live = (): number[] => {
          const ids: number[] = [];
          t.forEach((id) => ids.push(id));
          return ids;
        };
        for (const op of ops) {
          if (op.t === 'acq') {
            const [lo, hi] = ranges[op.rule]!;
            const id = t.acquire(op.rule, lo, hi, 3, ip(198, 51, 100, op.client), EXT, SRV, 49_000 + op.q, now, 30_000);
            if (id >= 0) {
              expect(t.extPort(id)).toBeGreaterThanOrEqual(lo);
              expect(t.extPort(id)).toBeLessThanOrEqual(hi);
              expect(t.serverPort(id)).toBe(49_000 + op.q);
            } else {
              expect(MAP_ERR_NAMES[id]).toBeDefined();
            }
          } else if (op.t === 'tick') {
            now += op.dt;
            t.tick(now, (id) => expect(t.connCount(id)).toBe(0));
          } else if (op.t === 'flush') {
            t.removeWhere(op.rule, op.client < 0 ? -1 : ip(198, 51, 100, op.client));
          } else {
            const ids = live();
            if (ids.length === 0) continue;
            const id = ids[op.pick % ids.length]!;
            if (op.t === 'open') t.connOpened(id, now);
            else if (op.t === 'close') t.connClosed(id, now);
            else t.remove(id);
          }
          // Invariants.
          const ids = live();
          expect(t.count).toBe(ids.length);
          expect(t.count).toBeLessThanOrEqual(12);
          const pinholes = new Set<string>();
          const perClient = new Map<string, number>();
          const refs = new Map<string, number>();
          for (const id of ids) {
            const key = `${t.clientIp(id)}/${t.extIp(id)}/${t.extPort(id)}`;
            expect(pinholes.has(key)).toBe(false); // never the same port twice to a client
            pinholes.add(key);
            expect(t.lookup(t.clientIp(id), t.extIp(id), t.extPort(id))).toBe(id);
            const pc = `${t.ruleIdx(id)}/${t.clientIp(id)}`;
            perClient.set(pc, (perClient.get(pc) ?? 0) + 1);
            const rp = `${t.ruleIdx(id)}/${t.extPort(id)}`;
            refs.set(rp, (refs.get(rp) ?? 0) + 1);
            if (t.connCount(id) === 0) expect(t.expiresAtMs(id)).toBe(t.lastActivityMs(id) + 30_000);
            else expect(t.expiresAtMs(id)).toBe(-1);
          }
          for (let r = 0; r < 2; r++) {
            expect(t.countForRule(r)).toBe(ids.filter((id) => t.ruleIdx(id) === r).length);
            expect(t.countForRule(r)).toBeLessThanOrEqual(r === 0 ? 8 : 9);
            for (let c = 0; c < 5; c++) {
              const n = t.countForClient(r, ip(198, 51, 100, c));
              expect(n).toBe(perClient.get(`${r}/${ip(198, 51, 100, c)}`) ?? 0);
              expect(n).toBeLessThanOrEqual(3);
            }
            const [lo, hi] = ranges[r]!;
            for (let p = lo; p <= hi; p++) expect(t.portRefCount(r, p)).toBe(refs.get(`${r}/${p}`) ?? 0);
          }
          // Nothing live is overdue after a tick at `now`.
          if (op.t === 'tick') for (const id of ids) if (t.connCount(id) === 0) expect(t.expiresAtMs(id)).toBeGreaterThan(now);
        }
      }),
      { numRuns: 300 },
    );
  });
});

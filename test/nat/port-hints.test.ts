import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { FlowTable, FLOW_EPM, FLOW_MAPPED, TCP_ACK, TCP_RST } from '../../src/nat/flow-table.js';
import { UsedPortHints, oddCoprime, oddPrimeFactors } from '../../src/nat/port-hints.js';

const ip = (a: number, b: number, c: number, d: number): number => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
const EXT = ip(203, 0, 113, 10);
const GW = ip(192, 0, 2, 1); // above 2^31, as in the churn bench
const SRV = [ip(192, 0, 2, 129), ip(10, 0, 0, 5), ip(10, 0, 0, 6)];
const IDLE_MS = 900_000;

describe('UsedPortHints', () => {
  it('marks and unmarks ports of an endpoint; the set closes with its last port and is reused clear', () => {
    const h = new UsedPortHints(1024, 65535, 2);
    expect(h.setOf(1, 2, 135)).toBe(-1);
    h.mark(-1, 1, 2, 135, 1024);
    const s = h.setOf(1, 2, 135);
    expect(s).toBeGreaterThanOrEqual(0);
    h.mark(s, 1, 2, 135, 65535);
    expect([h.used(s, 1024), h.used(s, 65535), h.used(s, 1025)]).toEqual([true, true, false]);
    h.unmark(1, 2, 135, 1024);
    expect([h.used(s, 1024), h.setOf(1, 2, 135)]).toEqual([false, s]);
    h.unmark(1, 2, 135, 65535);
    expect(h.setOf(1, 2, 135)).toBe(-1);
    expect(h.sets).toBe(0);
    // The freed set serves another endpoint with no bit left over.
    h.mark(-1, 3, 2, 135, 2000);
    const t = h.setOf(3, 2, 135);
    expect([h.used(t, 65535), h.used(t, 1024), h.used(t, 2000)]).toEqual([false, false, true]);
  });

  it('opens at most maxSets sets; ports outside the range are never marked', () => {
    const h = new UsedPortHints(10_000, 32_767, 2);
    h.mark(-1, 1, 9, 135, 10_000);
    h.mark(-1, 2, 9, 135, 10_000);
    h.mark(-1, 3, 9, 135, 10_000);
    expect([h.setOf(1, 9, 135) >= 0, h.setOf(2, 9, 135) >= 0, h.setOf(3, 9, 135)]).toEqual([true, true, -1]);
    h.mark(-1, 4, 9, 135, 9_999);
    expect(h.setOf(4, 9, 135)).toBe(-1);
    expect(new UsedPortHints(1024, 2047, 0).sets).toBe(0);
  });
});

type Op =
  | { t: 'create'; kind: number; c: number; port: number; srv: number; srvPort: number }
  | { t: 'rst'; pick: number }
  | { t: 'tick'; dt: number };

/**
 * The same operations on tables with hints (64, and 1 so most endpoints have none) and without:
 * the hint is only a shortcut, so every flow gets the same id and gwPort, and expiry removes the same ones.
 */
describe('FlowTable with port hints picks exactly the gwPorts it picks without them', () => {
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        t: fc.constant('create' as const),
        kind: fc.constantFrom(FLOW_EPM, FLOW_MAPPED),
        c: fc.integer({ min: 0, max: 40 }),
        // Clients reuse a handful of ports, and some lie outside the NAT range.
        port: fc.oneof(fc.constantFrom(1000, 1030, 1031, 1100, 50_000), fc.integer({ min: 1020, max: 1100 })),
        srv: fc.integer({ min: 0, max: 2 }),
        srvPort: fc.constantFrom(135, 49668),
      }),
    },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('rst' as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('tick' as const), dt: fc.integer({ min: 0, max: 40_000 }) }) },
  );

  it('same ids, gwPorts and removals over random create / close / expire sequences (small range, so walks are long)', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 300 }), (ops) => {
        const mk = (sets: number): FlowTable => new FlowTable({ maxFlows: 400, gwPortLo: 1024, gwPortHi: 1087, portHintSets: sets, closeLingerMs: 5_000, embryonicTimeoutMs: 20_000 });
        const tables = [mk(0), mk(64), mk(1)];
        const live: number[][] = [[], [], []];
        let now = 0;
        for (const op of ops) {
          const results: string[] = [];
          if (op.t === 'tick') now += op.dt;
          tables.forEach((t, k) => {
            if (op.t === 'create') {
              const id = t.create(op.kind, 0, op.kind === FLOW_MAPPED ? 0 : -1, ip(198, 51, 100, op.c + 1), op.port, EXT, op.srvPort, GW, SRV[op.srv]!, op.srvPort, now, IDLE_MS);
              if (id >= 0) live[k]!.push(id);
              results.push(`${id}:${id >= 0 ? t.gwPort(id) : ''}`);
            } else if (op.t === 'rst') {
              const l = live[k]!;
              if (l.length === 0) return results.push('none');
              const id = l[op.pick % l.length]!;
              t.onPacket(id, true, TCP_RST | TCP_ACK, 0, now);
              results.push(`${id}`);
            } else {
              const gone: number[] = [];
              t.tick(now, (id) => gone.push(id));
              live[k] = live[k]!.filter((id) => t.isLive(id));
              results.push(gone.join(','));
            }
          });
          expect(results[1]).toBe(results[0]);
          expect(results[2]).toBe(results[0]);
        }
        expect(tables[1]!.count).toBe(tables[0]!.count);
      }),
      { numRuns: 200 },
    );
  });
});

/** The walk as first written (Euclid's gcd for the stride), kept here as the model. */
function modelPick(used: Set<number>, lo: number, hi: number, clientIp: number, clientPort: number): number {
  const span = hi - lo + 1;
  if (clientPort >= lo && clientPort <= hi && !used.has(clientPort)) return clientPort;
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  let h = Math.imul(clientIp ^ Math.imul(clientPort + 0x9e3779b9, 0x85ebca6b), 0xc2b2ae35);
  h ^= h >>> 15;
  h = Math.imul(h, 0x27d4eb2f) >>> 0;
  let off = h % span;
  let step = ((h >>> 16) % span) | 1;
  while (step > 1 && gcd(step, span) !== 1) step = step + 2 < span ? step + 2 : 1;
  for (let i = 0; i < span; i++) {
    if (!used.has(lo + off)) return lo + off;
    off += step;
    if (off >= span) off -= span;
  }
  return -1;
}

describe('FlowTable.pickGwPort strided walk', () => {
  it('picks what the gcd-stride walk picks, on ranges of every factorisation, until the range is full', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1024, max: 60_000 }),
        fc.oneof(fc.integer({ min: 1, max: 300 }), fc.constantFrom(63, 105, 210, 1155, 3 * 5 * 7 * 11 * 13, 4536, 22_768, 64_512)),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 0x7ffffffe }), fc.integer({ min: 1000, max: 65_535 })), { minLength: 1, maxLength: 120 }),
        (lo, spanWanted, clients) => {
          const hi = Math.min(65_535, lo + spanWanted - 1);
          const t = new FlowTable({ maxFlows: 1000, gwPortLo: lo, gwPortHi: hi });
          const used = new Set<number>();
          const seen = new Set<string>();
          for (const [c, p] of clients) {
            // The same client tuple again is FLOW_ERR_EXISTS, not a pick.
            if (seen.has(`${c}:${p}`)) continue;
            seen.add(`${c}:${p}`);
            const want = modelPick(used, lo, hi, c >>> 0, p);
            const id = t.create(FLOW_EPM, 0, -1, c >>> 0, p, EXT, 135, GW, SRV[0]!, 135, 0, IDLE_MS);
            if (want < 0) {
              expect(id).toBeLessThan(0);
              continue;
            }
            expect(id).toBeGreaterThanOrEqual(0);
            expect(t.gwPort(id)).toBe(want);
            used.add(want);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('oddCoprime', () => {
  it('says what gcd(step, span) === 1 says for every odd step', () => {
    const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
    expect(oddPrimeFactors(64_512)).toEqual([3, 7]);
    expect(oddPrimeFactors(1)).toEqual([]);
    expect(oddPrimeFactors(65_521)).toEqual([65_521]);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 65_535 }), fc.integer({ min: 0, max: 32_767 }), (span, k) => {
        const step = 2 * k + 1;
        expect(oddCoprime(step, oddPrimeFactors(span))).toBe(gcd(step, span) === 1);
      }),
      { numRuns: 2000 },
    );
  });
});

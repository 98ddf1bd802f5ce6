/**
 * LegRows keeps a connection's context table, and the proposal awaiting its ack, in its row: a
 * usual proposal (up to four elements on low slots) inside the row's context word, any other in a
 * map by row. Whichever way it is kept, what a table attached to the row later reads must be what
 * was left there, for any number of rows written in any order, and a cleared row carries nothing.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CoStream } from '../../src/dcerpc/co-stream.js';
import { PresentationContexts, type ContextsState } from '../../src/dcerpc/context.js';
import { LegRows } from '../../src/engine/leg-rows.js';

/** A table of `n` contexts, the proposal `pending` (slot numbers, -1: refused for room) awaiting or not. */
function stateOf(n: number, pending: number[], awaitingAck: boolean): ContextsState {
  const uuids = Array.from({ length: n }, (_, i) => (i + 1).toString(16).padStart(2, '0').repeat(16)).join('');
  return {
    ids: Array.from({ length: n }, (_, i) => i), states: Array.from({ length: n }, (_, i) => 1 + (i % 3)), uuids,
    majors: Array.from({ length: n }, (_, i) => i + 1), minors: Array.from({ length: n }, () => 0), masks: Array.from({ length: n }, () => 1),
    syntaxes: Array.from({ length: n }, (_, i) => (i % 3 === 1 ? 0 : -1)), pending, awaitingAck,
  };
}

/** Rows on both sides of page boundaries (pages of 256 rows), the last one made only by a later clear. */
const ROWS = [0, 1, 2, 255, 256, 257, 511, 700];
const rowArb = fc.constantFrom(...ROWS);

const write = fc.integer({ min: 1, max: 9 }).chain((n) =>
  fc.record({
    row: rowArb,
    n: fc.constant(n),
    // Up to 6 elements: four or fewer fit the row, more go to the map; so do slots past 6.
    pending: fc.array(fc.integer({ min: -1, max: n - 1 }), { maxLength: 6 }),
    awaiting: fc.boolean(),
  }),
);
const op = fc.oneof(
  write.map((w) => ({ kind: 'write' as const, ...w })),
  fc.record({ kind: fc.constant('clear' as const), row: rowArb }),
);

describe('LegRows context rows', () => {
  it('gives back every row the table and proposal it was left with, inline or in the map', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const rows = new LegRows();
        const scratch = new CoStream();
        const t = new PresentationContexts();
        const model = new Map<number, ContextsState>();
        for (const r of ROWS) rows.clear(r, scratch);
        for (const o of ops) {
          if (o.kind === 'clear') {
            rows.clear(o.row, scratch);
            model.delete(o.row);
            continue;
          }
          const s = stateOf(o.n, o.awaiting ? o.pending : [], o.awaiting);
          rows.attachContexts(o.row, t);
          expect(t.importState(s)).toBe(true);
          rows.detachContexts(o.row, t);
          model.set(o.row, s);
        }
        for (const r of ROWS) {
          const u = new PresentationContexts();
          rows.attachContexts(r, u);
          const want = model.get(r) ?? stateOf(0, [], false);
          expect(u.exportState()).toEqual(want);
          expect(u.awaiting).toBe(want.awaitingAck);
          expect([...u.pendingSlots]).toEqual(want.pending);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps an inline proposal in element order while another row’s goes through the map', () => {
    const rows = new LegRows();
    const scratch = new CoStream();
    rows.clear(0, scratch);
    rows.clear(300, scratch);
    const t = new PresentationContexts();
    rows.attachContexts(0, t);
    t.importState(stateOf(3, [2, 0, -1], true));
    rows.detachContexts(0, t);
    // Another connection's proposal in between (through the map: five elements), on another page.
    rows.attachContexts(300, t);
    t.importState(stateOf(2, [0, 1, 0, 1, 0], true));
    rows.detachContexts(300, t);
    rows.attachContexts(0, t);
    expect([...t.pendingSlots]).toEqual([2, 0, -1]);
    rows.detachContexts(0, t);
    rows.attachContexts(300, t);
    expect([...t.pendingSlots]).toEqual([0, 1, 0, 1, 0]);
  });
});

/**
 * NotifyRelay hands out registration rows from a stack of released rows and then the never-used
 * ones (no 64k fill at start-up). Against a model that starts with every row on the stack, as
 * the relay did before: same relay ports, same registration ids, same refusals when full.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NotifyRelay } from '../../src/nat/notify-relay.js';

/** The former allocation: all rows on a stack at the start, row 0 on top. */
class StackModel {
  private readonly free: number[];
  private readonly rowsOf = new Map<number, number[]>();
  constructor(max: number) {
    this.free = Array.from({ length: max }, (_, i) => max - 1 - i);
  }
  take(flow: number): number {
    if (this.free.length === 0) return -1;
    const id = this.free.pop()!;
    this.rowsOf.set(flow, [...(this.rowsOf.get(flow) ?? []), id]);
    return id;
  }
  removeFlow(flow: number): void {
    for (const id of this.rowsOf.get(flow) ?? []) this.free.push(id);
    this.rowsOf.delete(flow);
  }
}

const op = fc.oneof(
  fc.record({ kind: fc.constant('register' as const), flow: fc.integer({ min: 0, max: 7 }), clientPort: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ kind: fc.constant('remove' as const), flow: fc.integer({ min: 0, max: 7 }) }),
);

describe('NotifyRelay rows', () => {
  it('go out as from a full stack: same ports, same ids, full at the same point', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.array(op, { maxLength: 80 }), (max, ops) => {
        const relay = new NotifyRelay(max);
        const model = new StackModel(max);
        const seen = new Map<string, number>();
        for (const o of ops) {
          if (o.kind === 'remove') {
            relay.removeFlow(o.flow);
            model.removeFlow(o.flow);
            for (const k of [...seen.keys()]) if (k.startsWith(`${o.flow}/`)) seen.delete(k);
            continue;
          }
          const key = `${o.flow}/${o.clientPort}`;
          const port = relay.register(o.flow, 0x0a000001, o.clientPort, 0xc0000201, 0xc6336401, 47000, 47099);
          if (seen.has(key)) {
            expect(port).toBe(seen.get(key)); // a repeated registration keeps its port and row
            continue;
          }
          const id = model.take(o.flow);
          if (id < 0) {
            expect(port).toBe(-1);
            continue;
          }
          expect(port).toBeGreaterThanOrEqual(47000);
          expect(relay.lookup(port)).toBe(id);
          expect(relay.flow(id)).toBe(o.flow);
          expect(relay.clientPort(id)).toBe(o.clientPort);
          seen.set(key, port);
        }
        expect(relay.count).toBe(seen.size);
      }),
      { numRuns: 300 },
    );
  });
});

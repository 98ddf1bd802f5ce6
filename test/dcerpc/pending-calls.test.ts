/** PendingCalls: call_id -> opnum of calls awaiting their response, bounded, oldest gives way. */
import { describe, expect, it } from 'vitest';
import { PendingCalls } from '../../src/dcerpc/pending-calls.js';

describe('PendingCalls', () => {
  it('a response finds its request by call_id, once', () => {
    const p = new PendingCalls(4);
    p.expect(7, 3);
    p.expect(8, 2);
    expect(p.peek(7)).toBe(3);
    expect(p.take(7)).toBe(3);
    expect(p.take(7)).toBe(-1);
    expect(p.peek(8)).toBe(2);
    expect(p.size).toBe(1);
  });

  it('call_ids above 2^31 (u32 on the wire) are found', () => {
    const p = new PendingCalls(4);
    p.expect(0xffffffff, 3);
    p.expect(0x80000000, 4);
    expect(p.take(0xffffffff)).toBe(3);
    expect(p.entries()).toEqual([[0x80000000, 4]]);
  });

  it('the same call_id again updates its opnum and keeps its age', () => {
    const p = new PendingCalls(2);
    p.expect(1, 3);
    p.expect(2, 3);
    p.expect(1, 2);
    p.expect(3, 3); // full: call 1 is the oldest
    expect(p.entries()).toEqual([[2, 3], [3, 3]]);
  });

  it('full: the oldest call gives way, a freed slot is used before anything is evicted', () => {
    const p = new PendingCalls(3);
    for (const id of [1, 2, 3]) p.expect(id, 3);
    p.take(2);
    p.expect(4, 3);
    expect(p.entries().map(([id]) => id)).toEqual([1, 3, 4]);
    p.expect(5, 3);
    expect(p.entries().map(([id]) => id)).toEqual([3, 4, 5]);
  });

  it('a slot stays the same while its call is pending (callers keep more per slot)', () => {
    const p = new PendingCalls(8);
    const a = p.expect(10, 3);
    const b = p.expect(11, 3);
    expect(p.find(10)).toBe(a);
    expect(p.find(11)).toBe(b);
    expect(p.callIdAt(b)).toBe(11);
    p.forget(a);
    expect(p.find(11)).toBe(b);
    expect(p.find(10)).toBe(-1);
  });

  it('empty again after the last answer; clear forgets everything', () => {
    const p = new PendingCalls(4);
    p.expect(1, 3);
    p.take(1);
    expect(p.size).toBe(0);
    expect(p.entries()).toEqual([]);
    p.expect(2, 3);
    p.clear();
    expect(p.peek(2)).toBe(-1);
  });
});

describe('PendingCalls: rows given back and reused', () => {
  it('a table emptied and refilled starts clean (no call of another connection shows through)', () => {
    const a = new PendingCalls(4);
    const b = new PendingCalls(4);
    a.expect(1, 3);
    a.expect(2, 2);
    a.take(1);
    a.clear(); // a's rows go back to the pool with call 2 still in them
    b.expect(9, 4); // b may get them
    expect(b.entries()).toEqual([[9, 4]]);
    expect(b.peek(2)).toBe(-1);
    expect(a.peek(2)).toBe(-1);
    a.forget(0); // nothing pending: a no-op, not a negative count
    expect(a.size).toBe(0);
  });
});

import { describe, it, expect } from 'vitest';
import { SlotAllocator } from '../../src/nat/slots.js';

describe('SlotAllocator', () => {
  it('hands out ascending fresh ids, then -1 at capacity', () => {
    const s = new SlotAllocator(3, 3);
    expect([s.alloc(), s.alloc(), s.alloc(), s.alloc()]).toEqual([0, 1, 2, -1]);
    expect(s.count).toBe(3);
    expect(s.inUse(1)).toBe(true);
    expect(s.inUse(3)).toBe(false);
  });

  it('reuses freed ids first-in first-out (a freed id is reused as late as possible)', () => {
    const s = new SlotAllocator(4, 4);
    for (let i = 0; i < 4; i++) s.alloc();
    expect(s.free(2)).toBe(true);
    expect(s.free(0)).toBe(true);
    expect(s.free(0)).toBe(false); // double free is refused, not counted
    expect(s.count).toBe(2);
    expect(s.inUse(2)).toBe(false);
    expect(s.alloc()).toBe(2);
    s.free(3);
    expect(s.alloc()).toBe(0);
    expect(s.alloc()).toBe(3);
    expect(s.alloc()).toBe(-1);
  });

  it('grows by doubling up to capacity and calls onGrow before handing out the new id', () => {
    const grown: number[] = [];
    let s: SlotAllocator;
    s = new SlotAllocator(10, 2, (n) => {
      grown.push(n);
      expect(s.capacityNow).toBe(n);
    });
    const ids: number[] = [];
    for (let i = 0; i < 11; i++) ids.push(s.alloc());
    expect(ids).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1]);
    expect(grown).toEqual([4, 8, 10]);
    expect(s.capacityNow).toBe(10);
    expect(s.highWater).toBe(10);
    expect(s.memoryBytes()).toBe(10 * 5);
  });

  it('prefers freed ids to growing', () => {
    const grown: number[] = [];
    const s = new SlotAllocator(8, 2, (n) => grown.push(n));
    s.alloc();
    s.alloc();
    s.free(0);
    expect(s.alloc()).toBe(0);
    expect(grown).toEqual([]);
    expect(s.alloc()).toBe(2);
    expect(grown).toEqual([4]);
  });

  it('clear() forgets everything', () => {
    const s = new SlotAllocator(4, 4);
    s.alloc();
    s.alloc();
    s.free(0);
    s.clear();
    expect(s.count).toBe(0);
    expect(s.highWater).toBe(0);
    expect(s.alloc()).toBe(0);
  });
});

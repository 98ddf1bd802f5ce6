import { describe, it, expect } from 'vitest';
import { MappingTable } from '../../src/nat/mapping-table.js';
import { FlowTable, FLOW_MAPPED } from '../../src/nat/flow-table.js';

// Memory is a property of the structure sizes (typed arrays, indexes at load <= 0.5), not of the
// machine: these tests assert bytes per entry, never time.

const EXT = 0xcb00710a; // 203.0.113.10
const SRV = 0x0a000005; // 10.0.0.5
const GW = 0x0a000001;
const N = 200_000;

describe('nat tables at scale', () => {
  it('holds 200k mappings (200k clients, one external address) in under 256 bytes each', () => {
    const t = new MappingTable({ maxMappings: 1 << 20, maxPerRule: 1 << 20, seed: 42 });
    for (let i = 0; i < N; i++) {
      const id = t.acquire(0, 1024, 65_535, 16, 0x64000000 + i, EXT, SRV, 49_153 + (i % 3), 0, 60_000);
      if (id !== i) throw new Error(`acquire ${i} gave ${id}`);
    }
    expect(t.count).toBe(N);
    // Saturated range: ports are shared by ~3 clients each, spread evenly by the cursor.
    expect(t.portRefCount(0, 1024)).toBe(Math.ceil(N / 64_512));
    for (let i = 0; i < N; i += 997) {
      const c = 0x64000000 + i;
      expect(t.lookup(c, EXT, t.extPort(i))).toBe(i);
      expect(t.serverPort(i)).toBe(49_153 + (i % 3));
    }
    const perMapping = t.memoryBytes() / N;
    expect(perMapping).toBeLessThan(256);
    // Everything expires; the storage is kept for reuse, nothing leaks into the indexes.
    expect(t.tick(60_000)).toBe(N);
    expect(t.count).toBe(0);
    expect(t.lookup(0x64000000, EXT, 1024)).toBe(-1);
  });

  it('a table sized for 1M mappings, fully allocated, fits in 256 MiB', () => {
    const t = new MappingTable({ maxMappings: 1_000_000, maxPerRule: 1_000_000, initialMappings: 1_000_000 });
    t.acquire(0, 1024, 65_535, 16, 1, EXT, SRV, 49_153, 0, 60_000); // one rule's port pool
    expect(t.memoryBytes()).toBeLessThan(256 * 1024 * 1024);
  });

  it('holds 200k flows in under 256 bytes each', () => {
    const t = new FlowTable({ maxFlows: 1 << 20, seed: 7 });
    for (let i = 0; i < N; i++) {
      // One gateway address reaches one server ip:port through at most 65535 source ports: spread
      // the flows over 8 server ports.
      const id = t.create(FLOW_MAPPED, 0, i, 0x64000000 + i, 50_000 + (i % 1000), EXT, 1024 + (i % 64_512), GW, SRV, 49_153 + (i % 8), 0, 900_000);
      if (id !== i) throw new Error(`create ${i} gave ${id}`);
    }
    expect(t.count).toBe(N);
    expect(t.memoryBytes() / N).toBeLessThan(256);
    expect(t.lookupExternal(0x64000000 + 12_345, 50_345, EXT, 1024 + 12_345)).toBe(12_345);
  });
});

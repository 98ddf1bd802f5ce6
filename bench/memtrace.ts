/**
 * Garbage collections and allocated bytes over a synchronous piece of work.
 *
 * v8.GCProfiler reports, for every GC, the heap's used size before and after it. Bytes allocated
 * over the work are then exact up to what the GCs themselves allocate:
 *   sum over GCs of (usedBefore_i - usedAfter_{i-1}) + (usedAtEnd - usedAfter_last),
 * with usedAfter_{-1} the used size at the start. Typed-array backing stores live outside the
 * V8 heap: their growth shows in process.memoryUsage().arrayBuffers, reported beside.
 */
import v8 from 'node:v8';

export interface GcTrace {
  gcCount: number;
  /** Scavenges (young generation) and full mark-sweep-compacts / incremental marking steps. */
  minorGcs: number;
  majorGcs: number;
  /** Time V8 reported spending in GC during the work (ms). */
  gcMs: number;
  allocatedBytes: number;
  /** Heap used after minus before (no forced GC in between: garbage not yet collected counts). */
  heapUsedDeltaBytes: number;
  arrayBuffersDeltaBytes: number;
}

interface GcStat {
  gcType: string;
  cost: number;
  beforeGC: { heapStatistics: { usedHeapSize: number } };
  afterGC: { heapStatistics: { usedHeapSize: number } };
}

type Profiler = { start(): void; stop(): { statistics: GcStat[] } };

/** Forces a full GC when the process runs with --expose-gc; a no-op otherwise. */
export function fullGc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g !== undefined) {
    g();
    g();
  }
}

export const haveExposedGc = (): boolean => typeof (globalThis as { gc?: unknown }).gc === 'function';

/** Runs `work` once and reports the GCs and allocations it caused. */
export function traceGc(work: () => void): GcTrace {
  const Ctor = (v8 as unknown as { GCProfiler?: new () => Profiler }).GCProfiler;
  fullGc();
  const ab0 = process.memoryUsage().arrayBuffers;
  const used0 = v8.getHeapStatistics().used_heap_size;
  const prof = Ctor !== undefined ? new Ctor() : undefined;
  prof?.start();
  work();
  const used1 = v8.getHeapStatistics().used_heap_size;
  const stats = prof?.stop().statistics ?? [];
  const ab1 = process.memoryUsage().arrayBuffers;
  let allocated = 0;
  let prevAfter = used0;
  let minor = 0;
  let major = 0;
  let costUs = 0;
  for (const s of stats) {
    allocated += Math.max(0, s.beforeGC.heapStatistics.usedHeapSize - prevAfter);
    prevAfter = s.afterGC.heapStatistics.usedHeapSize;
    costUs += s.cost;
    if (s.gcType === 'Scavenge' || s.gcType === 'MinorMarkCompact' || s.gcType === 'MinorMarkSweep') minor++;
    else major++;
  }
  allocated += Math.max(0, used1 - prevAfter);
  return {
    gcCount: stats.length, minorGcs: minor, majorGcs: major, gcMs: costUs / 1000, allocatedBytes: allocated,
    heapUsedDeltaBytes: used1 - used0, arrayBuffersDeltaBytes: ab1 - ab0,
  };
}

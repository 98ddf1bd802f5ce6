/**
 * Measurement 1, in memory: the engine alone on a gateway-side capture.
 *
 * The capture is loaded first (the packets `rpcgw replay --mode gateway` would hand the engine,
 * with the side and the millisecond time it would give each), then engine.onPacket is timed over
 * all of them with an output that only counts and NO_EVENTS. Each pass gets a fresh engine (same
 * seed, same options as the replay), so every pass makes the same decisions; the engine rewrites
 * packets in place (headers, towers, push callbacks inside payloads), so the whole arena is
 * restored from a pristine copy between passes (one memcpy, untimed). A pass whose counters
 * differ from the first is reported as inconsistent.
 */
import { performance } from 'node:perf_hooks';
import { openCaptureFile } from '../src/dataplane/capture-file.js';
import { CaptureRecord } from '../src/pcap/record.js';
import { Engine } from '../src/engine/engine.js';
import { SIDE_EXTERNAL, SIDE_INTERNAL } from '../src/engine/events.js';
import type { CompiledRules } from '../src/policy/compiled.js';
import { PacketView, readPacket } from '../src/wire/packet.js';
import { checksumBytes } from '../src/wire/checksum-wasm.js';
import { OK } from '../src/wire/status.js';
import { fullGc, traceGc, type GcTrace } from './memtrace.js';


export interface LoadedCapture {
  packets: number;
  ipBytes: number;
  /** Frames of the file not handed to the engine (not IPv4, not addressed to the gateway). */
  skipped: number;
  arena: Uint8Array;
  off: Float64Array;
  len: Int32Array;
  side: Uint8Array;
  nowMs: Float64Array;
  /** The arena as loaded, before any pass rewrote it. */
  pristine: Uint8Array;
}

/** Loads the packets of `file` a gateway-mode replay would give the engine. */
export function loadCapture(file: string, rules: CompiledRules): LoadedCapture {
  const externals = new Set<number>([rules.gateway.externalIp, ...rules.rules.map((r) => r.externalIp)]);
  const gw = rules.gateway.internalIp;
  const rec = new CaptureRecord();
  const v = new PacketView();
  // First pass: count and size.
  let n = 0;
  let bytes = 0;
  let skipped = 0;
  const scan = (each: (side: number, data: Uint8Array, ipOff: number, ipLen: number, ms: number) => void): void => {
    const r = openCaptureFile(file);
    try {
      while (r.next(rec)) {
        if (readPacket(rec.data, rec.dataOff, rec.capLen, rec.linkType, v) !== OK || v.ipVersion !== 4) {
          skipped++;
          continue;
        }
        const side = externals.has(v.dst4) ? SIDE_EXTERNAL : v.dst4 === gw ? SIDE_INTERNAL : -1;
        if (side < 0) {
          skipped++;
          continue;
        }
        each(side, rec.data, v.l3Off, v.ipTotalLen, rec.tsSec * 1000 + Math.floor(rec.tsNsec / 1e6));
      }
    } finally {
      r.close();
    }
  };
  scan((_s, _d, _o, len) => {
    n++;
    bytes += len;
  });
  const cap: LoadedCapture = {
    // The arena is a checksumBytes buffer, like the live adapter's receive buffers: checksums over it take the SIMD path.
    packets: n, ipBytes: bytes, skipped, arena: checksumBytes(bytes), off: new Float64Array(n), len: new Int32Array(n), side: new Uint8Array(n),
    nowMs: new Float64Array(n), pristine: new Uint8Array(0),
  };
  let i = 0;
  let at = 0;
  skipped = 0;
  scan((side, data, ipOff, len, ms) => {
    cap.arena.set(data.subarray(ipOff, ipOff + len), at);
    cap.off[i] = at;
    cap.len[i] = len;
    cap.side[i] = side;
    cap.nowMs[i] = ms;
    at += len;
    i++;
  });
  cap.skipped = skipped;
  cap.pristine = cap.arena.slice();
  return cap;
}

/** Puts back every byte a pass may have rewritten. */
export function restore(cap: LoadedCapture): void {
  cap.arena.set(cap.pristine);
}

class CountingOutput {
  sent = 0;
  bytes = 0;
  emit(_side: number, _pkt: Uint8Array, _off: number, len: number): void {
    this.sent++;
    this.bytes += len;
  }
}

function newEngine(rules: CompiledRules, out: CountingOutput): Engine {
  // The options `rpcgw replay` uses (seed 1 is its default), so decisions match the file-to-file run.
  return new Engine({ rules, output: out, seed: 1, midstreamPickup: true });
}

/** One timed pass; returns seconds and the engine's fingerprint (sent, drops). */
function pass(cap: LoadedCapture, rules: CompiledRules): { seconds: number; cpuSeconds: number; fingerprint: string; sent: number } {
  restore(cap);
  const out = new CountingOutput();
  const e = newEngine(rules, out);
  const { arena, off, len, side, nowMs } = cap;
  const n = cap.packets;
  fullGc();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) e.onPacket(side[i]!, arena, off[i]!, len[i]!, nowMs[i]!);
  const t1 = process.hrtime.bigint();
  const cpu = process.cpuUsage(cpu0);
  return { seconds: Number(t1 - t0) / 1e9, cpuSeconds: (cpu.user + cpu.system) / 1e6, fingerprint: `${out.sent}|${JSON.stringify(e.counters.dropsByName())}|${e.counters.rewrites}`, sent: out.sent };
}

export interface InMemoryResult {
  packets: number;
  ipBytes: number;
  skippedFrames: number;
  passes: number;
  /** Wall seconds of each pass, the first one (cold JIT) included. */
  passSeconds: number[];
  bestSeconds: number;
  medianSeconds: number;
  /** CPU seconds (user + system) of the best pass. */
  bestCpuSeconds: number;
  /** From the best pass. */
  packetsPerSecond: number;
  gbitPerSecond: number;
  nsPerPacket: number;
  /** From the median of the passes after the first. */
  medianPacketsPerSecond: number;
  engineSent: number;
  /** Every pass made the same decisions (sent, drops, rewrites). */
  consistent: boolean;
}

export function runInMemory(cap: LoadedCapture, rules: CompiledRules, passes: number): InMemoryResult {
  const secs: number[] = [];
  const cpus: number[] = [];
  let fp = '';
  let consistent = true;
  let sent = 0;
  for (let p = 0; p < passes; p++) {
    const r = pass(cap, rules);
    secs.push(r.seconds);
    cpus.push(r.cpuSeconds);
    if (p === 0) {
      fp = r.fingerprint;
      sent = r.sent;
    } else if (r.fingerprint !== fp) consistent = false;
  }
  const warm = secs.length > 1 ? secs.slice(1) : secs;
  const best = Math.min(...warm);
  const med = median(warm);
  return {
    packets: cap.packets, ipBytes: cap.ipBytes, skippedFrames: cap.skipped, passes, passSeconds: secs, bestSeconds: best, medianSeconds: med,
    bestCpuSeconds: cpus[secs.indexOf(best)] ?? 0, packetsPerSecond: cap.packets / best, gbitPerSecond: (cap.ipBytes * 8) / best / 1e9,
    nsPerPacket: (best * 1e9) / cap.packets, medianPacketsPerSecond: cap.packets / med, engineSent: sent, consistent,
  };
}

export interface LatencyResult {
  samples: number;
  /** Per-packet time of engine.onPacket (ns), the timer's own cost subtracted. */
  p50Ns: number;
  p90Ns: number;
  p99Ns: number;
  p999Ns: number;
  maxNs: number;
  meanNs: number;
  /** Median cost of the timer pair itself (ns), subtracted above. */
  timerOverheadNs: number;
}

/**
 * Times every packet of one pass (after a warm-up pass) with performance.now() around
 * onPacket. The timing itself slows the pass; throughput figures come from runInMemory.
 */
export function runLatency(cap: LoadedCapture, rules: CompiledRules): LatencyResult {
  pass(cap, rules); // warm-up (JIT)
  const n = cap.packets;
  const lat = new Float64Array(n);
  // The timer pair's own cost, measured the same way.
  const empty = new Float64Array(Math.min(n, 100_000));
  for (let i = 0; i < empty.length; i++) {
    const a = performance.now();
    empty[i] = performance.now() - a;
  }
  const overhead = quantile(empty.sort(), 0.5) * 1e6;
  restore(cap);
  const out = new CountingOutput();
  const e = newEngine(rules, out);
  const { arena, off, len, side, nowMs } = cap;
  fullGc();
  for (let i = 0; i < n; i++) {
    const a = performance.now();
    e.onPacket(side[i]!, arena, off[i]!, len[i]!, nowMs[i]!);
    lat[i] = performance.now() - a;
  }
  let sum = 0;
  for (let i = 0; i < n; i++) {
    lat[i] = Math.max(0, lat[i]! * 1e6 - overhead);
    sum += lat[i]!;
  }
  lat.sort();
  return {
    samples: n, p50Ns: quantile(lat, 0.5), p90Ns: quantile(lat, 0.9), p99Ns: quantile(lat, 0.99), p999Ns: quantile(lat, 0.999), maxNs: lat[n - 1] ?? 0,
    meanNs: sum / Math.max(1, n), timerOverheadNs: overhead,
  };
}

export interface SteadyStateGc extends GcTrace {
  packets: number;
  allocatedBytesPerPacket: number;
}

/** GCs and allocations during one warm pass (the engine starts empty, as in a replay). */
export function runGcPass(cap: LoadedCapture, rules: CompiledRules): SteadyStateGc {
  pass(cap, rules); // warm-up
  restore(cap);
  const out = new CountingOutput();
  const e = newEngine(rules, out);
  const { arena, off, len, side, nowMs } = cap;
  const n = cap.packets;
  const t = traceGc(() => {
    for (let i = 0; i < n; i++) e.onPacket(side[i]!, arena, off[i]!, len[i]!, nowMs[i]!);
  });
  return { ...t, packets: n, allocatedBytesPerPacket: t.allocatedBytes / Math.max(1, n) };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? 0 : s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** q-quantile of an ascending array (nearest rank). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

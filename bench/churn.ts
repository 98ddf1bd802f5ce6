/**
 * Churn: a public capture multiplied over many client addresses, the way real clients and
 * scanners arrive at a gateway (issue 10). The source (by default the Zerologon capture: 441 EPM
 * associations, each `ept_map` NETLOGON followed by a new NETLOGON connection to the port named
 * in the tower, all mid-stream) is copied K times; copy k replaces every non-server address by
 * its own client address (198.51.100.1-254, then 203.0.113.1-254, then 100.64.0.0/10), starts
 * `staggerMs` after copy k-1, and gets its IPv4 and TCP/UDP checksums recomputed. The copies are merged in time
 * order into one classic pcap (nanosecond timestamps), written once.
 *
 * Measured on it: `rpcgw replay` in direct mode file-to-file next to `tcpdump -r F -w /dev/null`
 * and `tshark -r F -Y dcerpc -w /dev/null` (wall, CPU, peak RSS from GNU time), the time of xN
 * over the time of x100 (linear is N/100), and new connections per second in memory (the engine
 * alone on the gateway-side capture a direct replay writes, see `gatewaySide`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CaptureFileWriter, openCaptureFile } from '../src/dataplane/capture-file.js';
import { CaptureRecord } from '../src/pcap/record.js';
import { finishIpv4Checksum, finishTcpChecksumV4, finishUdpChecksumV4 } from '../src/wire/checksum.js';
import { IPPROTO_TCP, IPPROTO_UDP, PacketView, readPacket } from '../src/wire/packet.js';
import { OK } from '../src/wire/status.js';
import { sharedPcaps } from './paths.js';
import { shellQuote, timeCommand, type CommandTiming } from './peers.js';

export const CHURN_SOURCE = 'pcapattack-zerologon-441-epm-maps.pcapng';
/**
 * A new client every 10 s of capture time. The capture has no SYN or FIN, so its connections
 * end by idle timeout (900 s by default): x100 holds nearly all of its 88k connections at the
 * end, x450 reaches a steady state of ~90 copies alive (the churn of scanners arriving and
 * leaving); at most 64,512 connections reach one server ip:port at once (the NAT port range).
 */
export const CHURN_STAGGER_MS = 10_000;

/** The n-th client address (u32): 198.51.100.1-254, 203.0.113.1-254, then 100.64.0.0/10 skipping .0 and .255. */
export function churnClient(n: number): number {
  if (n < 254) return ((198 << 24) | (51 << 16) | (100 << 8) | (n + 1)) >>> 0;
  if (n < 508) return ((203 << 24) | (0 << 16) | (113 << 8) | (n - 253)) >>> 0;
  const m = n - 508;
  const host = (m % 254) + 1;
  const net = Math.floor(m / 254);
  if (net >= 1 << 14) throw new Error(`churn: no client address for copy ${n}`);
  return (((100 << 24) | (64 << 16)) + net * 256 + host) >>> 0;
}

export interface ChurnCapture {
  file: string;
  copies: number;
  framesPerCopy: number;
  frames: number;
  bytes: number;
  staggerMs: number;
  /** Capture time from the first frame to the last. */
  spanSeconds: number;
}

interface SourceFrame {
  data: Uint8Array;
  tsSec: number;
  tsNsec: number;
  linkType: number;
  /** -1 when not IPv4 (copied unchanged). */
  ipOff: number;
  ipHdrLen: number;
  ipLen: number;
  l4Off: number;
  proto: number;
  /** Which address fields hold a client (not a server): bit 0 source, bit 1 destination. */
  clientAt: number;
  clientSrc: number;
  clientDst: number;
  relNs: number;
}

/** Server addresses (u32) of a corpus capture: the `server` column of its tower oracle. */
export function oracleServers(name: string): number[] {
  const lines = readFileSync(path.join(sharedPcaps, `${name}.expect.tsv`), 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  const col = lines[0]?.split('\t').indexOf('server') ?? -1;
  const set = new Set<number>();
  for (const l of lines.slice(1)) {
    const ip = (l.split('\t')[col] ?? '').split(':')[0]!;
    const p = ip.split('.').map(Number);
    if (p.length === 4 && p.every((x) => x >= 0 && x <= 255)) set.add(((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0);
  }
  return [...set].sort((a, b) => a - b);
}

const ipStr = (a: number): string => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;

/** A rules file publishing each server on its own external address (192.0.2.129 + i), wide port ranges. */
export function writeChurnRules(file: string, servers: number[]): void {
  const rules = servers.map((s, i) => ({
    name: `srv${i}`, server: ipStr(s), externalAddress: `192.0.2.${129 + i}`, interfaces: ['any'], clients: ['0.0.0.0/0'], mappedPorts: '20000-59999', lookup: 'allow',
  }));
  writeFileSync(file, JSON.stringify({
    gateway: { external: { interface: 'gw-ext', address: '192.0.2.129' }, internal: { interface: 'gw-int', address: '192.0.2.1' }, natPorts: '1024-65535' },
    rules,
  }));
}

function loadSource(src: string, servers: Set<number>): { frames: SourceFrame[]; clients: number[] } {
  const r = openCaptureFile(src);
  const rec = new CaptureRecord();
  const v = new PacketView();
  const frames: SourceFrame[] = [];
  const clients: number[] = [];
  let t0Sec = -1;
  let t0Nsec = 0;
  try {
    while (r.next(rec)) {
      if (t0Sec < 0) {
        t0Sec = rec.tsSec;
        t0Nsec = rec.tsNsec;
      }
      const data = rec.data.slice(rec.dataOff, rec.dataOff + rec.capLen);
      const f: SourceFrame = {
        data, tsSec: rec.tsSec, tsNsec: rec.tsNsec, linkType: rec.linkType, ipOff: -1, ipHdrLen: 0, ipLen: 0, l4Off: -1, proto: 0, clientAt: 0, clientSrc: 0, clientDst: 0,
        relNs: (rec.tsSec - t0Sec) * 1e9 + (rec.tsNsec - t0Nsec),
      };
      if (readPacket(data, 0, data.length, rec.linkType, v) === OK && v.ipVersion === 4 && v.l3Off + v.ipTotalLen <= data.length) {
        f.ipOff = v.l3Off;
        f.ipHdrLen = v.ipHdrLen;
        f.ipLen = v.ipTotalLen;
        f.l4Off = v.isFragment ? -1 : v.l4Off;
        f.proto = v.ipProto;
        for (const [bit, a] of [[1, v.src4], [2, v.dst4]] as const) {
          if (servers.has(a)) continue;
          let idx = clients.indexOf(a);
          if (idx < 0) idx = clients.push(a) - 1;
          f.clientAt |= bit;
          if (bit === 1) f.clientSrc = idx;
          else f.clientDst = idx;
        }
      }
      frames.push(f);
    }
  } finally {
    r.close();
  }
  return { frames, clients };
}

/** Writes `copies` staggered copies of `src`, each with its own client addresses; see the file comment. */
export function writeChurnCapture(src: string, dst: string, copies: number, servers: number[], staggerMs = CHURN_STAGGER_MS): ChurnCapture {
  const { frames, clients } = loadSource(src, new Set(servers));
  const n = frames.length;
  if (n === 0) throw new Error(`churn: ${src} has no frames`);
  const linkType = frames[0]!.linkType;
  const w = CaptureFileWriter.create(dst, 'pcap-ns', linkType);
  const staggerNs = staggerMs * 1e6;
  const t0Sec = frames[0]!.tsSec;
  const t0Nsec = frames[0]!.tsNsec;
  // A binary heap of copies ordered by the time of each copy's next frame (ties: lower copy first).
  const next = new Int32Array(copies);
  const heap = new Int32Array(copies);
  let size = 0;
  const key = (k: number): number => frames[next[k]!]!.relNs + k * staggerNs;
  const less = (a: number, b: number): boolean => key(a) < key(b) || (key(a) === key(b) && a < b);
  const up = (i: number): void => {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(heap[i]!, heap[p]!)) break;
      const t = heap[i]!;
      heap[i] = heap[p]!;
      heap[p] = t;
      i = p;
    }
  };
  const down = (i: number): void => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < size && less(heap[l]!, heap[m]!)) m = l;
      if (r < size && less(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      const t = heap[i]!;
      heap[i] = heap[m]!;
      heap[m] = t;
      i = m;
    }
  };
  for (let k = 0; k < copies; k++) {
    heap[size++] = k;
    up(size - 1);
  }
  const scratch = new Uint8Array(Math.max(...frames.map((f) => f.data.length)));
  let written = 0;
  let bytes = 0;
  let lastNs = 0;
  try {
    while (size > 0) {
      const k = heap[0]!;
      const f = frames[next[k]!]!;
      if (f.linkType === linkType) {
        const len = f.data.length;
        scratch.set(f.data, 0);
        if (f.ipOff >= 0 && f.clientAt !== 0) {
          const base = k * clients.length;
          const put = (at: number, a: number): void => {
            scratch[at] = a >>> 24;
            scratch[at + 1] = (a >>> 16) & 255;
            scratch[at + 2] = (a >>> 8) & 255;
            scratch[at + 3] = a & 255;
          };
          if ((f.clientAt & 1) !== 0) put(f.ipOff + 12, churnClient(base + f.clientSrc));
          if ((f.clientAt & 2) !== 0) put(f.ipOff + 16, churnClient(base + f.clientDst));
          finishIpv4Checksum(scratch, f.ipOff, f.ipHdrLen);
          const l4Len = f.ipLen - f.ipHdrLen;
          if (f.l4Off >= 0 && f.proto === IPPROTO_TCP && l4Len >= 20) finishTcpChecksumV4(scratch, f.ipOff, f.l4Off, l4Len);
          else if (f.l4Off >= 0 && f.proto === IPPROTO_UDP && l4Len >= 8) finishUdpChecksumV4(scratch, f.ipOff, f.l4Off, l4Len);
        }
        const ns = f.relNs + k * staggerNs;
        lastNs = ns;
        const abs = t0Nsec + ns;
        const sec = t0Sec + Math.floor(abs / 1e9);
        w.write(sec, Math.round(abs - Math.floor(abs / 1e9) * 1e9) % 1e9, scratch, 0, len);
        written++;
        bytes += len;
      }
      next[k]!++;
      if (next[k]! >= n) {
        heap[0] = heap[--size]!;
        if (size > 0) down(0);
      } else down(0);
    }
  } finally {
    w.close();
  }
  return { file: dst, copies, framesPerCopy: n, frames: written, bytes, staggerMs, spanSeconds: lastNs / 1e9 };
}

/** Figures of one build (`cli`: its dist/cli/main.js) on one churn file. */
export interface ChurnReplay {
  build: string;
  replay: CommandTiming;
}

export interface ChurnPoint {
  capture: ChurnCapture;
  builds: ChurnReplay[];
  tcpdump: CommandTiming;
  tshark: CommandTiming;
}

export interface ChurnInMemory {
  build: string;
  copies: number;
  command: string;
  packets: number | null;
  bestSeconds: number | null;
  connections: number | null;
  connectionsPerSecond: number | null;
  error: string | null;
}

export interface ChurnResult {
  source: string;
  skipped: string | null;
  rulesFile: string;
  points: ChurnPoint[];
  inMemory: ChurnInMemory[];
}

/** A build to measure: a name and the repository root holding its dist/ (and bench/dist/ for in-memory). */
export interface Build {
  name: string;
  /** The CLI entry point (dist/cli/main.js or bench/dist/src/cli/main.js). */
  cli: string;
  /** The bench entry point of that build (for `inmem`), or null. */
  bench: string | null;
}

/** Counts from the summary line `rpcgw replay` prints. */
function summaryCounts(stdout: string): { connections: number | null; rewrites: number | null } {
  const c = /(\d+) connection\(s\)/.exec(stdout);
  const t = /(\d+) tower\(s\) rewritten/.exec(stdout);
  return { connections: c ? Number(c[1]) : null, rewrites: t ? Number(t[1]) : null };
}

function replayOnce(b: Build, input: string, rules: string, out: string, mode: string, extra: string[] = []): { stdout: string; error: string | null } {
  const r = spawnSync(process.execPath, [b.cli, 'replay', input, '--rules', rules, '--out', out, '--mode', mode, ...extra], { encoding: 'utf8', maxBuffer: 256 << 20 });
  return { stdout: r.stdout ?? '', error: r.status === 0 ? null : `exit ${r.status ?? r.signal}: ${(r.stderr ?? '').trim().split('\n').slice(-2).join(' | ')}` };
}

/**
 * The churn measurement: for each multiplier, one capture, then each build's `rpcgw replay`
 * (direct, file-to-file, `--emitted-only` to /dev/null) and tcpdump and tshark on it; then, for
 * `inMemoryCopies`, the engine alone in memory on the gateway-side capture a full replay writes
 * (its inbound packets are exactly what a gateway-mode replay hands the engine).
 */
export function runChurn(work: string, multipliers: number[], builds: Build[], runs: number, tsharkRuns: number, inMemoryCopies: number[], log: (m: string) => void): ChurnResult {
  const src = path.join(sharedPcaps, CHURN_SOURCE);
  const rulesFile = path.join(work, 'churn.rules.json');
  const res: ChurnResult = { source: src, skipped: null, rulesFile, points: [], inMemory: [] };
  if (!existsSync(src)) {
    res.skipped = `no ${CHURN_SOURCE} at ${sharedPcaps}`;
    log(`churn SKIPPED: ${res.skipped}`);
    return res;
  }
  const servers = oracleServers(CHURN_SOURCE);
  writeChurnRules(rulesFile, servers);
  for (const copies of multipliers) {
    const file = path.join(work, `churn-x${copies}.pcap`);
    const capture = writeChurnCapture(src, file, copies, servers);
    log(`churn x${copies}: ${capture.frames} frames over ${capture.spanSeconds.toFixed(0)} s of capture time`);
    const point: ChurnPoint = { capture, builds: [], tcpdump: timeCommand(['tcpdump', '-r', file, '-w', '/dev/null'], runs), tshark: timeCommand(['tshark', '-r', file, '-Y', 'dcerpc', '-w', '/dev/null'], tsharkRuns) };
    for (const b of builds) {
      const replay = timeCommand([process.execPath, b.cli, 'replay', file, '--rules', rulesFile, '--out', '/dev/null', '--emitted-only', '--mode', 'direct'], runs,
        ['rpcgw', 'replay', `churn-x${copies}.pcap`, '--rules', 'churn.rules.json', '--out', '/dev/null', '--emitted-only', '--mode', 'direct']);
      log(`  ${b.name}: ${replay.available ? `${replay.bestWallSeconds.toFixed(2)} s, peak RSS ${((replay.maxRssKiB ?? 0) / 1024).toFixed(0)} MiB` : replay.error}`);
      point.builds.push({ build: b.name, replay });
    }
    res.points.push(point);
    if (inMemoryCopies.includes(copies)) {
      const gw = path.join(work, `churn-x${copies}.gateway.pcapng`);
      const first = builds[0]!;
      const made = replayOnce(first, file, rulesFile, gw, 'direct');
      for (const b of builds) {
        const entry: ChurnInMemory = { build: b.name, copies, command: '', packets: null, bestSeconds: null, connections: null, connectionsPerSecond: null, error: made.error };
        res.inMemory.push(entry);
        if (made.error !== null || b.bench === null) {
          entry.error ??= 'no bench build';
          continue;
        }
        const args = ['--expose-gc', b.bench, 'inmem', '--capture', gw, '--rules', rulesFile, '--passes', '2'];
        entry.command = shellQuote(['node', '--expose-gc', path.relative(process.cwd(), b.bench), 'inmem', '--capture', `churn-x${copies}.gateway.pcapng`, '--rules', 'churn.rules.json', '--passes', '2']);
        const counts = summaryCounts(replayOnce(b, gw, rulesFile, '/dev/null', 'gateway', ['--emitted-only']).stdout);
        const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 1800_000 });
        if (r.status !== 0) {
          entry.error = `exit ${r.status ?? r.signal}: ${(r.stderr ?? '').trim().split('\n').slice(-2).join(' | ')}`;
          continue;
        }
        const im = (JSON.parse(r.stdout) as { inMemory: { packets: number; bestSeconds: number } }).inMemory;
        entry.packets = im.packets;
        entry.bestSeconds = im.bestSeconds;
        entry.connections = counts.connections;
        entry.connectionsPerSecond = counts.connections !== null && im.bestSeconds > 0 ? counts.connections / im.bestSeconds : null;
        log(`  in memory x${copies}, ${b.name}: ${im.bestSeconds.toFixed(2)} s, ${entry.connectionsPerSecond?.toFixed(0) ?? 'n/a'} new connections/s`);
      }
    }
  }
  return res;
}

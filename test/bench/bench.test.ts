/**
 * The benchmark harness on a tiny input. These tests check that the workload is deterministic
 * and closed-loop (a replay forwards exactly what the generator's engine forwarded), and that a
 * quick run writes a result with every field, of the right type. They never judge a timing:
 * timings belong to bench/results, not to a test.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRules } from '../../src/policy/load.js';
import { replayCapture } from '../../src/dataplane/replay.js';
import { generateWorkload, type WorkloadSummary } from '../../bench/workload.js';
import type { BenchResult } from '../../bench/result.js';
import { projectRoot } from '../helpers/shared.js';

const work = mkdtempSync(path.join(tmpdir(), 'rpcgw-bench-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const rulesFile = path.join(projectRoot, 'bench', 'rules.json');
const rules = (): ReturnType<typeof loadRules>['rules'] => loadRules(readFileSync(rulesFile, 'utf8'), rulesFile).rules;
const sha = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');

describe('workload generator', () => {
  const CLIENTS = 6;
  let a: WorkloadSummary;
  const fileA = path.join(work, 'a.pcap');
  const fileB = path.join(work, 'b.pcap');
  const fileC = path.join(work, 'c.pcap');

  beforeAll(() => {
    a = generateWorkload(fileA, rules(), { clients: CLIENTS, seed: 42 });
    generateWorkload(fileB, rules(), { clients: CLIENTS, seed: 42 });
    generateWorkload(fileC, rules(), { clients: CLIENTS, seed: 43 });
  });

  it('writes the same bytes for the same seed, different bytes for another', () => {
    expect(sha(fileA)).toBe(sha(fileB));
    expect(sha(fileA)).not.toBe(sha(fileC));
  });

  it('has every kind of traffic the issue lists', () => {
    // 3 ept_map per client, each answered with one ncacn_ip_tcp tower naming the server.
    expect(a.towersRewritten).toBe(3 * CLIENTS);
    expect(a.mappingsCreated).toBe(3 * CLIENTS);
    // One EPM connection and three store connections per client.
    expect(a.connectionsOpened).toBe(4 * CLIENTS);
    for (const k of ['epm', 'emsmdb', 'nspi', 'rfr', 'bg-scan']) expect(a.composition[k], k).toBeGreaterThan(0);
    expect(a.ndr64Clients).toBeGreaterThan(0);
    expect(a.ndr64Clients).toBeLessThan(CLIENTS);
    expect(a.frames).toBe(Object.values(a.composition).reduce((x, y) => x + y, 0));
    expect(a.enginePackets).toBe(a.fromExternal + a.fromInternal);
    expect(a.frames).toBeGreaterThan(a.enginePackets); // ARP, IPv6, other hosts: never handed to the engine
  });

  it('is closed-loop: `rpcgw replay` forwards exactly what the generator engine forwarded, refusing nothing', () => {
    const out = path.join(work, 'a.out.pcap');
    const refusals: unknown[] = [];
    const rep = replayCapture({ capture: fileA, rules: rules(), rulesFile, out, mode: 'gateway', emittedOnly: true, onRecord: (r) => void (r.record === 'refusal' && refusals.push(r)) });
    const sent = Object.values(rep.packetsOut).reduce((x, y) => x + y, 0);
    expect(sent).toBe(a.engineSent);
    expect(refusals).toEqual([]);
    expect(rep.records.refusal).toBe(0);
    expect(rep.records.rewrite).toBe(3 * CLIENTS);
    expect(rep.drops).toEqual(a.engineDrops);
  });
});

const positive = (x: unknown): void => {
  expect(typeof x).toBe('number');
  expect(Number.isFinite(x as number)).toBe(true);
  expect(x as number).toBeGreaterThan(0);
};
const nonNegative = (x: unknown): void => {
  expect(typeof x).toBe('number');
  expect(x as number).toBeGreaterThanOrEqual(0);
};

describe('npm run bench:quick on a tiny input', () => {
  let r: BenchResult;
  const out = path.join(work, 'results');
  const scale = [1000, 2000];

  beforeAll(() => {
    // The bench runs compiled (bench/tsconfig.json -> bench/dist). tsc exits non-zero on a type
    // error anywhere in src/, but still emits; the run below is what must succeed.
    spawnSync(process.execPath, [path.join(projectRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(projectRoot, 'bench', 'tsconfig.json')], { encoding: 'utf8' });
    const main = path.join(projectRoot, 'bench', 'dist', 'bench', 'main.js');
    expect(existsSync(main)).toBe(true);
    const run = spawnSync(process.execPath, ['--expose-gc', main, '--quick', '--out', out, '--name', 'smoke', '--packets', '2500', '--scale', scale.join(','), '--flat-runs', '2'], {
      encoding: 'utf8', cwd: projectRoot, timeout: 120_000,
    });
    if (run.status !== 0) throw new Error(`bench failed (${run.status}): ${run.stderr}`);
    r = JSON.parse(readFileSync(path.join(out, 'smoke.json'), 'utf8')) as BenchResult;
  }, 180_000);

  it('writes the JSON, the markdown table and the SVG plot', () => {
    expect(r.schema).toBe('rpcgw-bench/1');
    expect(r.mode).toBe('quick');
    const md = readFileSync(path.join(out, 'smoke.md'), 'utf8');
    expect(md).toContain('| `tcpdump -r F -w /dev/null` |');
    expect(md).toContain('## Targets');
    const svg = readFileSync(path.join(out, 'smoke.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('<polyline');
  });

  it('records the commands, versions and machine', () => {
    // With its options, so the figure can be made again.
    expect(r.command).toBe(`npm run bench:quick -- --out ${out} --name smoke --packets 2500 --scale ${scale.join(',')} --flat-runs 2`);
    const e = r.environment;
    expect(e.node).toBe(process.version);
    for (const k of ['v8', 'kernel', 'cpuModel', 'sourceDigest', 'rpcgw'] as const) expect(typeof e[k]).toBe('string');
    positive(e.cpus);
    positive(e.memoryBytes);
    expect(e.loadAverageStart).toHaveLength(3);
    expect(e.loadAverageEnd).toHaveLength(3);
    positive(r.durationSeconds);
  });

  it('describes its workload and checks it closed-loop', () => {
    const w = r.workload;
    positive(w.frames);
    positive(w.enginePackets);
    positive(w.engineSent);
    positive(w.frameBytes);
    expect(w.selfCheck.consistent).toBe(true);
    expect(w.selfCheck.replayPacketsOut).toBe(w.engineSent);
    expect(w.selfCheck.command).toContain('rpcgw replay');
  });

  it('measures the engine in memory, its latency and its allocations (1)', () => {
    const m = r.engine.inMemory;
    expect(m.packets).toBe(r.workload.enginePackets);
    expect(m.consistent).toBe(true);
    expect(m.engineSent).toBe(r.workload.engineSent);
    for (const x of [m.bestSeconds, m.packetsPerSecond, m.gbitPerSecond, m.nsPerPacket, m.medianPacketsPerSecond]) positive(x);
    expect(m.passSeconds).toHaveLength(m.passes);
    const l = r.engine.latency;
    expect(l.samples).toBe(m.packets);
    for (const x of [l.p50Ns, l.p90Ns, l.p99Ns, l.p999Ns, l.maxNs, l.meanNs, l.timerOverheadNs]) nonNegative(x);
    expect(l.p99Ns).toBeGreaterThanOrEqual(l.p50Ns);
    expect(l.p999Ns).toBeGreaterThanOrEqual(l.p99Ns);
    expect(l.maxNs).toBeGreaterThanOrEqual(l.p999Ns);
    const g = r.engine.gc;
    expect(g.packets).toBe(m.packets);
    for (const x of [g.gcCount, g.minorGcs, g.majorGcs, g.gcMs, g.allocatedBytes, g.allocatedBytesPerPacket]) nonNegative(x);
    expect(typeof g.heapUsedDeltaBytes).toBe('number');
  });

  it('times rpcgw replay file-to-file and its peers on the same file, with ratios (1, 2)', () => {
    const f = r.engine.fileToFile;
    expect(f.available).toBe(true);
    expect(f.command).toMatch(/^rpcgw replay /);
    positive(f.bestWallSeconds);
    positive(f.packetsPerSecond);
    positive(r.engine.startup.bestWallSeconds);
    // The shipped CLI's other start-ups, each a real run that exited 0 (check: the bench's own rules are valid).
    for (const [t, cmd] of [[r.engine.startupCommands.node, 'node -e 0'], [r.engine.startupCommands.help, 'rpcgw --help'], [r.engine.startupCommands.check, 'rpcgw check --rules bench/rules.json']] as const) {
      expect(t.available, t.error).toBe(true);
      expect(t.command).toBe(cmd);
      positive(t.bestWallSeconds);
    }
    const p = r.peers;
    expect(p.tcpdump.command).toMatch(/^tcpdump -r .* -w \/dev\/null$/);
    expect(p.tshark.command).toMatch(/^tshark -r .* -Y dcerpc -q$/);
    for (const [peer, ratios] of [
      [p.tcpdump, [p.ratios.fileToFileVsTcpdump, p.ratios.inMemoryVsTcpdump]],
      [p.tshark, [p.ratios.fileToFileVsTshark, p.ratios.inMemoryVsTshark]],
    ] as const) {
      if (peer.available) {
        positive(peer.bestWallSeconds);
        positive(peer.packetsPerSecond);
        expect(peer.startup.available).toBe(true);
        positive(peer.startup.bestWallSeconds);
        for (const x of ratios) positive(x);
        for (const x of [p.ratios.fileToFileNoStartupVsTcpdump, p.ratios.fileToFileNoStartupVsTshark]) if (x !== null) positive(x);
      } else {
        // A missing tool is reported, not silently skipped.
        expect(peer.error).toMatch(/not found|exit/);
        for (const x of ratios) expect(x).toBeNull();
      }
    }
  });

  it('replays the churn workload (a public capture multiplied over clients) next to the same peers, or says why not', () => {
    const c = r.churn;
    if (c.skipped !== null) {
      expect(c.points).toEqual([]);
      return;
    }
    expect(c.points.map((p) => p.capture.copies)).toEqual([2, 6]);
    for (const p of c.points) {
      expect(p.capture.frames).toBe(p.capture.copies * p.capture.framesPerCopy);
      expect(p.builds.map((b) => b.build)).toEqual(['this build']);
      expect(p.builds[0]!.replay.available).toBe(true);
      expect(p.builds[0]!.replay.command).toMatch(/^rpcgw replay churn-x\d+\.pcap .* --mode direct$/);
      if (p.tshark.available) expect(p.tshark.command).toMatch(/ -Y dcerpc -w \/dev\/null$/);
      if (p.tcpdump.available) positive(p.tcpdump.bestWallSeconds);
    }
    const m = c.inMemory.find((x) => x.build === 'this build')!;
    expect(m.error).toBeNull();
    expect(m.connections).toBe(2 * 881); // each copy: 441 EPM associations and 440 NETLOGON connections
    positive(m.connectionsPerSecond);
    expect(r.targets.map((t) => t.name)).toContain('churn: new connections in memory');
  });

  it('replays the public captures next to the same peers, or says why not', () => {
    const c = r.publicCorpus;
    if (c.skipped !== null) {
      expect(c.files).toEqual([]);
      return;
    }
    expect(c.files.length).toBeGreaterThan(0);
    for (const f of c.files) {
      positive(f.frames);
      expect(f.replay.available).toBe(true);
      expect(f.replay.command).toMatch(/^rpcgw replay .* --mode direct$/);
      positive(f.replay.bestWallSeconds);
      // null when a tool's start-up is most of its time (tiny files), else a ratio
      for (const x of [f.tsharkOverReplayNoStartup, f.tcpdumpOverReplayNoStartup]) if (x !== null) positive(x);
      if (f.tshark.available) positive(f.tsharkOverReplay);
    }
    positive(c.frames);
  });

  it('scales: memory per mapping and per connection, cost per packet, expiry (3)', () => {
    expect(r.scaling.points.map((p) => p.mappings)).toEqual(scale);
    for (const s of r.scaling.points) {
      expect(s.error).toBeNull();
      expect(s.command).toContain('scale-point');
      const p = s.point!;
      expect(p.mappings).toBe(s.mappings);
      expect(p.connections).toBe(s.mappings);
      expect(p.connectionsComplete).toBe(true);
      // Heap deltas over a tiny scale point are GC noise (they can come out negative): check the
      // fields are there, as numbers; the exact table sizes below are checked for real.
      expect(Number.isFinite(p.memory.bytesPerMapping)).toBe(true);
      expect(Number.isFinite(p.memory.bytesPerConnection)).toBe(true);
      positive(p.memory.mappingTableBytes);
      positive(p.memory.flowTableBytes);
      positive(p.setupPacketsPerSecond);
      expect(p.traffic.map((t) => t.pattern)).toEqual(['random', 'burst']);
      for (const t of p.traffic) {
        positive(t.nsPerPacket);
        positive(t.packetsPerSecond);
        expect(t.forwarded).toBe(t.packets); // every packet of an established, bound connection goes through
        nonNegative(t.gc.allocatedBytes);
      }
    }
    const fl = r.scaling.flatness!;
    expect(fl.fromMappings).toBe(scale[0]);
    expect(fl.toMappings).toBe(scale[1]);
    positive(fl.random);
    positive(fl.burst);
    // The smallest and largest points ran twice each, alternated: the ratio is the median of the two pairs' ratios.
    expect(fl.runs).toBe(2);
    for (const [pat, e] of [['random', fl.estimates.random], ['burst', fl.estimates.burst]] as const) {
      expect(e.fromNs).toHaveLength(2);
      expect(e.fromNs[0]).toBe(r.scaling.points[0]!.point!.traffic.find((t) => t.pattern === pat)!.nsPerPacket);
      expect(e.toNs[0]).toBe(r.scaling.points[1]!.point!.traffic.find((t) => t.pattern === pat)!.nsPerPacket);
      expect(e.pairRatios).toEqual([e.toNs[0]! / e.fromNs[0]!, e.toNs[1]! / e.fromNs[1]!]);
      expect(e.ratio).toBeCloseTo((e.pairRatios[0]! + e.pairRatios[1]!) / 2, 12);
    }
    expect(fl.random).toBe(fl.estimates.random.ratio);
    expect(readFileSync(path.join(out, 'smoke.md'), 'utf8')).toContain('median of 2 pair ratios of alternated runs');
    // And once inside one process (scale-flat), between the same two points.
    const fp = r.scaling.flatInProcess!;
    expect(fp.error).toBeNull();
    expect(fp.command).toContain(`scale-flat --from ${scale[0]} --to ${scale[1]}`);
    expect([fp.value!.fromMappings, fp.value!.toMappings]).toEqual(scale);
    expect(fp.value!.random.pairRatios).toHaveLength(fp.value!.rounds);
    positive(fp.value!.random.ratio);
    positive(fp.value!.burst.ratio);
    const x = r.scaling.expiry!;
    expect(r.scaling.expiryError).toBeNull();
    expect(x.pinholesExpired).toBe(x.count);
    expect(x.connectionsExpired).toBe(x.connectionsOpened);
    for (const v of [x.engineTickPinholesMs, x.tableTickPinholesMs, x.engineTickConnectionsMs]) positive(v);
    const epm = r.scaling.epmIdle;
    expect(epm.error).toBeNull();
    expect(epm.command).toContain('epm-idle --count 1000');
    expect(epm.value!.opened).toBe(1000);
    expect(epm.value!.liveFlows).toBeGreaterThanOrEqual(1000); // every connection is still held when measured
    expect(Number.isFinite(epm.value!.bytesPerConnection)).toBe(true); // a heap difference: GC noise may move it either way
  });

  it('skips the live part in quick mode, saying how to run it, and judges every target it measured', () => {
    expect(r.live.status).toBe('skipped');
    expect(r.live.reason).toBe('skipped in quick mode (add --live to run it)');
    expect(r.live.modes).toEqual([]);
    const names = r.targets.map((t) => t.name);
    // Every target of issue 10 (engine v2), then the live ones.
    expect(names).toEqual(expect.arrayContaining([
      'state per mapped connection', 'state per pinhole', '1M connections in 1 GiB RSS', 'flat cost per packet (random)', 'flat cost per packet (bursts)',
      'churn: linear', 'churn: file-to-file vs tcpdump', 'churn: new connections in memory', 'public captures vs tshark', 'public captures vs tcpdump',
      'own workload file-to-file vs tcpdump', 'own workload in memory vs tcpdump', 'live vs nftables NAT',
    ]));
    for (const t of r.targets) {
      if (t.measured === null) expect(t.met).toBeNull();
      else expect(typeof t.met).toBe('boolean');
    }
  });
});

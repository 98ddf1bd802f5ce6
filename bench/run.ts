/**
 * `npm run bench` / `npm run bench:quick`: every measurement, each next to its peer measured in
 * the same run on the same input, then bench/results/<name>.{json,md,svg}.
 *
 * Options: --quick (tiny inputs, well under a minute, for CI smoke), --out DIR, --name NAME
 * (default latest; quick: quick), --packets N (workload size), --scale 1000,10000,...,
 * --skip-public, --skip-scale, --budget-mib N (memory cap of each scale child), --keep (keep
 * the work directory with the generated capture), --work DIR, --skip-live, --live (quick mode:
 * run the live stage too), --live-seconds S (measurement 4 in network namespaces: needs root, ip,
 * ethtool and nft; skipped with a message otherwise), --churn 100,450 (churn multipliers),
 * --skip-churn, --before DIR (also measure the build in DIR, side by side: see before.ts),
 * --flat-runs N (runs of the smallest and largest scale point, alternated, for the flat-cost ratio).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readRulesFile } from '../src/cli/rules-file.js';
import { CaptureFileWriter } from '../src/dataplane/capture-file.js';
import { LINKTYPE_ETHERNET } from '../src/wire/link.js';
import { corpusCaptures, noStartupRatio, runCorpus, type Startups } from './corpus.js';
import { beforeBuild, beforeInMemory, beforeReplay, beforeReplayCommand } from './before.js';
import { runChurn, type Build, type ChurnResult } from './churn.js';
import { loadCapture, runGcPass, runInMemory, runLatency } from './engine-replay.js';
import { fullGc } from './memtrace.js';
import { benchMain, benchRules, cliMain, requireBuiltCli, resultsDir } from './paths.js';
import { shellQuote, timeCommand, timeCommandsAlternated } from './peers.js';
import { emptyLiveResult, liveSkipReason, runLive, type LiveResult } from './live.js';
import { markdown, svgPlot } from './report.js';
import { RESULT_SCHEMA, type BeforeResult, type BenchResult, type Flatness, type ScaleEntry, type Target } from './result.js';
import { flatEstimate, type EpmIdleResult, type ExpiryResult, type FlatEstimate, type FlatInProcess, type ScalePoint } from './scale.js';
import { environment } from './sysinfo.js';
import { daemonEnvironment } from './unit-env.js';
import { FRAMES_PER_CLIENT_ESTIMATE, generateWorkload } from './workload.js';

interface Plan {
  packets: number;
  passes: number;
  peerRuns: number;
  tsharkRuns: number;
  scale: number[];
  trafficPackets: number;
  trafficPasses: number;
  /** Runs of the smallest and the largest scale point, alternated, for the flat-cost ratio (the points' own runs are the first). */
  flatRuns: number;
  expiry: number;
  corpusFrames: number;
  corpusRuns: number;
  corpusFiles: number;
  budgetMiB: number;
  childTimeoutS: number;
  churn: number[];
  churnInMemory: number[];
  churnRuns: number;
  /** Idle EPM connections measured at once (at most natPorts reach port 135: 22768 by default). */
  epmIdle: number;
}

const FULL: Plan = {
  packets: 1_000_000, passes: 5, peerRuns: 5, tsharkRuns: 2, scale: [1000, 10_000, 100_000, 1_000_000], trafficPackets: 200_000, trafficPasses: 3, flatRuns: 3,
  expiry: 100_000, corpusFrames: 40_000, corpusRuns: 3, corpusFiles: Infinity, budgetMiB: 4096, childTimeoutS: 900,
  churn: [100, 450], churnInMemory: [100], churnRuns: 2, epmIdle: 4000,
};
const QUICK: Plan = {
  packets: 8_000, passes: 3, peerRuns: 2, tsharkRuns: 1, scale: [1000, 4000], trafficPackets: 10_000, trafficPasses: 2, flatRuns: 1,
  expiry: 2000, corpusFrames: 0, corpusRuns: 1, corpusFiles: 2, budgetMiB: 1024, childTimeoutS: 120,
  churn: [2, 6], churnInMemory: [2], churnRuns: 1, epmIdle: 1000,
};

function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** The command line that made this run, its options included (so a figure can be made again). */
export function benchCommand(quick: boolean, args: Map<string, string>): string {
  const opts = [...args].filter(([k]) => k !== 'quick').flatMap(([k, v]) => (v === '' ? [`--${k}`] : [`--${k}`, v]));
  return shellQuote([...(quick ? ['npm', 'run', 'bench:quick'] : ['npm', 'run', 'bench']), ...(opts.length > 0 ? ['--', ...opts] : [])]);
}

export async function runBench(args: Map<string, string>): Promise<BenchResult> {
  const quick = args.has('quick');
  requireBuiltCli();
  const plan: Plan = { ...(quick ? QUICK : FULL) };
  if (args.has('packets')) plan.packets = Number(args.get('packets'));
  if (args.has('scale')) plan.scale = args.get('scale')!.split(',').filter((x) => x !== '').map(Number);
  if (args.has('skip-scale')) plan.scale = [];
  if (args.has('budget-mib')) plan.budgetMiB = Number(args.get('budget-mib'));
  if (args.has('flat-runs')) plan.flatRuns = Math.max(1, Number(args.get('flat-runs')));
  if (args.has('churn')) plan.churn = args.get('churn')!.split(',').filter((x) => x !== '').map(Number);
  if (args.has('skip-churn')) plan.churn = [];
  const before = args.has('before') && args.get('before') !== '' ? beforeBuild(path.resolve(args.get('before')!)) : null;
  const outDir = args.get('out') ?? resultsDir;
  const name = args.get('name') ?? (quick ? 'quick' : 'latest');
  const work = args.get('work') ?? mkdtempSync(path.join(os.tmpdir(), 'rpcgw-bench-'));
  mkdirSync(work, { recursive: true });
  const started = new Date();
  const t0 = process.hrtime.bigint();
  const env = environment();
  const rules = readRulesFile(benchRules).rules;
  const rel = (p: string): string => path.relative(process.cwd(), p) || '.';
  try {
    // ---- workload ------------------------------------------------------------------------
    const capture = path.join(work, 'workload.pcap');
    const clients = Math.max(2, Math.round(plan.packets / FRAMES_PER_CLIENT_ESTIMATE));
    log(`generating the workload: ${clients} clients (~${plan.packets} frames) -> ${capture}`);
    const summary = generateWorkload(capture, rules, { clients });
    log(`${summary.frames} frames, ${(summary.fileBytes / 2 ** 20).toFixed(0)} MiB, in ${summary.generatorSeconds.toFixed(1)} s`);
    const replayArgs = (input: string, out: string, extra: string[] = []): string[] => ['replay', input, '--rules', benchRules, '--out', out, '--emitted-only', '--mode', 'gateway', ...extra];
    const reportFile = path.join(work, 'replay-report.jsonl');
    const check = spawnSync(process.execPath, [cliMain, ...replayArgs(capture, '/dev/null', ['--report', reportFile])], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (check.status !== 0) throw new Error(`rpcgw replay failed on the workload: ${check.stderr}`);
    // The report is JSON lines; its last line is the summary with the counts.
    const lines = readFileSync(reportFile, 'utf8').trimEnd().split('\n');
    const rep = JSON.parse(lines[lines.length - 1]!) as { packetsOut: Record<string, number>; records: { refusal: number } };
    rmSync(reportFile, { force: true });
    const replayOut = Object.values(rep.packetsOut).reduce((a, b) => a + b, 0);
    const selfCheck = {
      command: shellQuote(['rpcgw', ...replayArgs(capture, '/dev/null', ['--report', 'R.jsonl'])]), replayPacketsOut: replayOut, generatorEngineSent: summary.engineSent,
      refusals: rep.records.refusal, consistent: replayOut === summary.engineSent && rep.records.refusal === 0,
    };
    if (!selfCheck.consistent) log(`WARNING: closed-loop check failed: replay sent ${replayOut}, generator's engine ${summary.engineSent}, ${rep.records.refusal} refusals`);

    // ---- 1. engine in memory -------------------------------------------------------------
    log(`engine in memory: ${plan.passes} passes`);
    let cap: ReturnType<typeof loadCapture> | null = loadCapture(capture, rules);
    const inMemory = runInMemory(cap, rules, plan.passes);
    log(`  ${(inMemory.packetsPerSecond / 1e3).toFixed(0)} k packets/s; latency and GC passes`);
    const latency = runLatency(cap, rules);
    const gc = runGcPass(cap, rules);
    cap = null;
    // Give the loaded capture back before timing child processes: forking a parent that still
    // holds it (1.3 GB) made every tool's start-up look slower.
    fullGc();

    // ---- 1. file to file, 2. peers -------------------------------------------------------
    log(`rpcgw replay file-to-file, tcpdump, tshark (${plan.peerRuns}/${plan.peerRuns}/${plan.tsharkRuns} runs)`);
    const empty = path.join(work, 'empty.pcap');
    CaptureFileWriter.create(empty, 'pcap', LINKTYPE_ETHERNET).close();
    const startup = timeCommand([process.execPath, cliMain, ...replayArgs(empty, '/dev/null')], plan.peerRuns, ['rpcgw', ...replayArgs(rel(empty), '/dev/null')]);
    // The other commands' start-up beside bare Node's, the floor any of them can reach.
    const startupCommands = {
      node: timeCommand([process.execPath, '-e', '0'], plan.peerRuns, ['node', '-e', '0']),
      help: timeCommand([process.execPath, cliMain, '--help'], plan.peerRuns, ['rpcgw', '--help']),
      check: timeCommand([process.execPath, cliMain, 'check', '--rules', benchRules], plan.peerRuns, ['rpcgw', 'check', '--rules', rel(benchRules)]),
    };
    const f2fCommand = { argv: [process.execPath, cliMain, ...replayArgs(capture, '/dev/null')], display: ['rpcgw', ...replayArgs(rel(capture), '/dev/null')] };
    // With a before build the two builds' runs alternate, so both see the same machine.
    const [f2f, beforeF2f] = before === null
      ? [timeCommand(f2fCommand.argv, plan.peerRuns, f2fCommand.display), null]
      : timeCommandsAlternated([f2fCommand, beforeReplayCommand(before, replayArgs(capture, '/dev/null'))], plan.peerRuns);
    let beforeResult: BeforeResult | null = null;
    if (before !== null) {
      log(`before (${before.dir}, ${before.commit ?? '?'}): file-to-file and in memory on the same workload`);
      const fileToFile = beforeF2f!;
      const im = beforeInMemory(before, capture, benchRules, plan.passes);
      beforeResult = {
        dir: before.dir, commit: before.commit, startup: beforeReplay(before, replayArgs(empty, '/dev/null'), plan.peerRuns),
        fileToFile, inMemory: im.value, inMemoryError: im.error, inMemoryCommand: im.command,
        corpus: [], scaling: [], epmIdle: null,
      };
    }

    const tcpdump = timeCommand(['tcpdump', '-r', capture, '-w', '/dev/null'], plan.peerRuns);
    const tshark = timeCommand(['tshark', '-r', capture, '-Y', 'dcerpc', '-q'], plan.tsharkRuns);
    const tcpdumpStartup = timeCommand(['tcpdump', '-r', empty, '-w', '/dev/null'], plan.peerRuns);
    const tsharkStartup = timeCommand(['tshark', '-r', empty, '-Y', 'dcerpc', '-q'], plan.tsharkRuns);
    const bestOf = (t: { available: boolean; bestWallSeconds: number }): number | null => (t.available ? t.bestWallSeconds : null);
    const startups: Startups = { replay: bestOf(startup), tcpdump: bestOf(tcpdumpStartup), tshark: bestOf(tsharkStartup) };
    const frames = summary.frames;
    const pps = (t: { available: boolean; bestWallSeconds: number }): number | null => (t.available ? frames / t.bestWallSeconds : null);
    const div = (a: number | null, b: number | null): number | null => (a === null || b === null || b <= 0 ? null : a / b);
    const tcpdumpS = tcpdump.available ? tcpdump.bestWallSeconds : null;
    const tsharkS = tshark.available ? tshark.bestWallSeconds : null;
    const f2fS = f2f.available ? f2f.bestWallSeconds : null;
    // ---- public corpus -------------------------------------------------------------------
    const beforeCorpus = beforeResult === null || before === null ? undefined : (name: string, input: string, rules: string): void => {
      beforeResult!.corpus.push({ name, replay: beforeReplay(before, ['replay', input, '--rules', rules, '--out', '/dev/null', '--emitted-only', '--mode', 'direct'], plan.corpusRuns) });
    };
    let corpus = runCorpusOrSkip(args, work, plan, startups, beforeCorpus);

    // ---- churn (issue 10) ----------------------------------------------------------------
    const builds: Build[] = [{ name: 'this build', cli: cliMain, bench: benchMain }];
    if (before !== null) builds.push({ name: 'before', cli: before.cli, bench: before.bench });
    let churn: ChurnResult;
    if (plan.churn.length > 0) {
      log(`churn: x${plan.churn.join(', x')} (${builds.length} build(s))`);
      const dir = path.join(work, 'churn');
      mkdirSync(dir, { recursive: true });
      churn = runChurn(dir, plan.churn, builds, plan.churnRuns, 1, plan.churnInMemory, log);
    } else churn = { source: '', skipped: 'skipped (--skip-churn)', rulesFile: '', points: [], inMemory: [] };

    // ---- 3. scaling ----------------------------------------------------------------------
    const points: ScaleEntry[] = [];
    for (const n of plan.scale) {
      log(`scaling: ${n} mappings`);
      points.push(scaleChild(n, plan, benchMain));
      if (beforeResult !== null && before !== null) {
        log(`scaling: ${n} mappings, before`);
        beforeResult.scaling.push(scaleChild(n, plan, before.bench));
      }
    }
    const flatBuilds: FlatBuild[] = [{ main: benchMain, runs: flatPair(points) }];
    if (beforeResult !== null && before !== null) flatBuilds.push({ main: before.bench, runs: flatPair(beforeResult.scaling) });
    for (let run = 1; run < plan.flatRuns; run++) {
      for (const b of flatBuilds) {
        if (b.runs === null) continue;
        log(`flat cost: ${b.runs.from[0]!.mappings} and ${b.runs.to[0]!.mappings} mappings, run ${run + 1} of ${plan.flatRuns}${b.main === benchMain ? '' : ', before'}`);
        b.runs.from.push(scaleChild(b.runs.from[0]!.mappings, plan, b.main));
        b.runs.to.push(scaleChild(b.runs.to[0]!.mappings, plan, b.main));
      }
    }
    if (beforeResult !== null) beforeResult.flatness = flatness(flatBuilds[1]?.runs ?? null);
    // The same ratio inside one process (scale.ts flatInProcess): fresh processes differ in their compiled code.
    let flatInProcess: BenchResult['scaling']['flatInProcess'] = null;
    const fr = flatBuilds[0]!.runs;
    if (fr !== null) {
      const a = ['--expose-gc', `--max-old-space-size=${plan.budgetMiB + 1024}`, benchMain, 'scale-flat', '--from', String(fr.from[0]!.mappings), '--to', String(fr.to[0]!.mappings),
        '--packets', String(plan.trafficPackets), '--rounds', String(plan.flatRuns > 1 ? 10 : 2)];
      log(`flat cost in one process: ${fr.from[0]!.mappings} and ${fr.to[0]!.mappings} mappings`);
      flatInProcess = { ...childJson<FlatInProcess>(a, plan.childTimeoutS, scaleEnv), command: shellQuote([...scaleEnvWords, 'node', ...a.map((x) => (x === benchMain ? rel(benchMain) : x))]) };
    }
    let expiry: ExpiryResult | null = null;
    let expiryError: string | null = null;
    const expiryArgs = ['--expose-gc', benchMain, 'expiry', '--count', String(plan.expiry), '--budget-mib', String(plan.budgetMiB)];
    if (plan.scale.length > 0) {
      log(`timer expiry: ${plan.expiry} at once`);
      const r = childJson<ExpiryResult>(expiryArgs, plan.childTimeoutS);
      expiry = r.value;
      expiryError = r.error;
    } else expiryError = 'skipped (--skip-scale)';
    const epmArgs = (main: string): string[] => ['--expose-gc', main, 'epm-idle', '--count', String(plan.epmIdle)];
    let epmIdle: BenchResult['scaling']['epmIdle'] = { value: null, error: 'skipped (--skip-scale)', command: '' };
    if (plan.scale.length > 0) {
      log(`idle EPM connections: ${plan.epmIdle}`);
      epmIdle = { ...childJson<EpmIdleResult>(epmArgs(benchMain), plan.childTimeoutS), command: shellQuote(['node', ...epmArgs(rel(benchMain))]) };
      if (beforeResult !== null && before !== null) beforeResult.epmIdle = { ...childJson<EpmIdleResult>(epmArgs(before.bench), plan.childTimeoutS), command: shellQuote(['node', ...epmArgs(before.bench)]) };
    }

    // ---- 4. live -------------------------------------------------------------------------
    const live = await liveOrSkip(args, quick);

    // ---- results -------------------------------------------------------------------------
    env.loadAverageEnd = os.loadavg();
    const result: BenchResult = {
      schema: RESULT_SCHEMA, mode: quick ? 'quick' : 'full', startedAt: started.toISOString(), finishedAt: new Date().toISOString(),
      durationSeconds: Number(process.hrtime.bigint() - t0) / 1e9, command: benchCommand(quick, args), environment: env,
      workload: { ...summary, file: rel(capture), selfCheck },
      engine: {
        inMemory, latency, gc, startup, startupCommands,
        fileToFile: { ...f2f, packetsPerSecond: pps(f2f), gbitPerSecond: f2f.available ? (summary.frameBytes * 8) / f2f.bestWallSeconds / 1e9 : null },
      },
      peers: {
        tcpdump: { ...tcpdump, packetsPerSecond: pps(tcpdump), startup: tcpdumpStartup },
        tshark: { ...tshark, packetsPerSecond: pps(tshark), startup: tsharkStartup },
        ratios: {
          fileToFileVsTcpdump: div(tcpdumpS, f2fS), fileToFileVsTshark: div(tsharkS, f2fS),
          inMemoryVsTcpdump: div(tcpdumpS, inMemory.bestSeconds), inMemoryVsTshark: div(tsharkS, inMemory.bestSeconds),
          fileToFileNoStartupVsTcpdump: noStartupRatio(tcpdumpS, startups.tcpdump, f2fS, startups.replay),
          fileToFileNoStartupVsTshark: noStartupRatio(tsharkS, startups.tshark, f2fS, startups.replay),
        },
      },
      publicCorpus: corpus,
      churn,
      before: beforeResult,
      scaling: { daemonEnv: scaleEnvWords, points, flatness: flatness(flatBuilds[0]!.runs), flatInProcess, expiry, expiryError, epmIdle, expiryCommand: shellQuote(['node', ...expiryArgs.map((a) => (a === benchMain ? rel(benchMain) : a))]) },
      live,
      targets: [],
    };
    corpus = result.publicCorpus;
    result.targets = targets(result);
    mkdirSync(outDir, { recursive: true });
    const base = path.join(outDir, name);
    writeFileSync(`${base}.json`, JSON.stringify(result, null, 2) + '\n');
    writeFileSync(`${base}.md`, markdown(result, name));
    writeFileSync(`${base}.svg`, svgPlot(result));
    log(`wrote ${rel(base)}.json, .md, .svg`);
    return result;
  } finally {
    if (!args.has('keep') && !args.has('work')) rmSync(work, { recursive: true, force: true });
    else log(`work directory kept: ${work}`);
  }
}

async function liveOrSkip(args: Map<string, string>, quick: boolean): Promise<LiveResult> {
  const seconds = Number(args.get('live-seconds') ?? (quick ? 1 : 5));
  // Quick mode is a smoke run for CI: the live stage (namespaces, root) only when asked for.
  const skip = args.has('skip-live') ? 'skipped (--skip-live)' : quick && !args.has('live') ? 'skipped in quick mode (add --live to run it)' : liveSkipReason();
  if (skip !== null) {
    log(`live (measurement 4) SKIPPED: ${skip}`);
    return emptyLiveResult(seconds, skip);
  }
  log(`live (measurement 4): rpcgw run, forwarding, nftables NAT; ${seconds} s per phase`);
  const r = await runLive({ seconds });
  if (r.status !== 'ran') log(`live: ${r.status}: ${r.reason}`);
  return r;
}

function runCorpusOrSkip(args: Map<string, string>, work: string, plan: Plan, startups: Startups, alongside?: (name: string, input: string, rules: string) => void): BenchResult['publicCorpus'] {
  const none = {
    directory: '', files: [], frames: 0, replaySeconds: 0, tcpdumpSeconds: null, tsharkSeconds: null, tcpdumpOverReplay: null, tsharkOverReplay: null,
    tcpdumpOverReplayNoStartup: null, tsharkOverReplayNoStartup: null,
  };
  if (args.has('skip-public')) return { ...none, skipped: 'skipped (--skip-public)' };
  const n = corpusCaptures().length;
  log(`public captures: ${Math.min(n, plan.corpusFiles)} files`);
  const dir = path.join(work, 'corpus');
  mkdirSync(dir, { recursive: true });
  return runCorpus(dir, plan.corpusFrames, plan.corpusFiles, plan.corpusRuns, Math.min(plan.corpusRuns, plan.tsharkRuns), startups, alongside);
}

/** Runs `node ARGS` and parses the JSON it prints; never throws. */
function childJson<T>(nodeArgs: string[], timeoutS: number, env: Record<string, string> = {}): { value: T | null; error: string | null } {
  const r = spawnSync(process.execPath, nodeArgs, { encoding: 'utf8', timeout: timeoutS * 1000, maxBuffer: 64 << 20, env: { ...process.env, ...env } });
  if (r.status !== 0) {
    const why = r.signal !== null ? `killed by ${r.signal}${r.error !== undefined ? ` (${r.error.message})` : ''}` : `exit ${r.status}`;
    return { value: null, error: `${why}: ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}` };
  }
  try {
    return { value: JSON.parse(r.stdout) as T, error: null };
  } catch (e) {
    return { value: null, error: `unreadable output: ${(e as Error).message}` };
  }
}

/** The scale points run in the daemon's environment (unit-env.ts), both builds alike; shown as `VAR=value node ...`. */
const scaleEnv = daemonEnvironment();
const scaleEnvWords = Object.entries(scaleEnv).map(([k, v]) => `${k}=${v}`);

function scaleChild(n: number, plan: Plan, main: string): ScaleEntry {
  // A point's heap figures must not include the previous point's garbage: one process each.
  const args = ['--expose-gc', `--max-old-space-size=${plan.budgetMiB + 1024}`, main, 'scale-point', '--mappings', String(n),
    '--packets', String(plan.trafficPackets), '--passes', String(plan.trafficPasses), '--budget-mib', String(plan.budgetMiB)];
  const r = childJson<ScalePoint>(args, plan.childTimeoutS, scaleEnv);
  return { mappings: n, point: r.value, error: r.error, command: shellQuote([...scaleEnvWords, 'node', ...args.map((a) => (a === main ? path.relative(process.cwd(), main) : a))]) };
}

interface FlatBuild {
  main: string;
  runs: { from: ScaleEntry[]; to: ScaleEntry[] } | null;
}

/** The smallest point and the largest whose connections all opened (else the largest): the flat-cost pair, its first runs. */
function flatPair(points: ScaleEntry[]): { from: ScaleEntry[]; to: ScaleEntry[] } | null {
  const ok = points.filter((p) => p.point !== null && p.point.traffic.length === 2);
  if (ok.length < 2) return null;
  const complete = ok.filter((p) => p.point!.connectionsComplete);
  return { from: [ok[0]!], to: [complete.length > 1 ? complete[complete.length - 1]! : ok[ok.length - 1]!] };
}

/** The flat-cost ratios of alternated runs (scale.ts flatEstimate); a pair with a failed run is left out. */
function flatness(runs: { from: ScaleEntry[]; to: ScaleEntry[] } | null): Flatness | null {
  if (runs === null) return null;
  const cost = (e: ScaleEntry | undefined, pat: string): number | null => e?.point?.traffic.find((t) => t.pattern === pat)?.nsPerPacket ?? null;
  const estimate = (pat: string): FlatEstimate => {
    const from: number[] = [];
    const to: number[] = [];
    runs.from.forEach((e, i) => {
      const a = cost(e, pat);
      const b = cost(runs.to[i], pat);
      if (a !== null && b !== null) {
        from.push(a);
        to.push(b);
      }
    });
    return flatEstimate(from, to);
  };
  const random = estimate('random');
  const burst = estimate('burst');
  return {
    fromMappings: runs.from[0]!.mappings, toMappings: runs.to[0]!.mappings, random: random.ratio, burst: burst.ratio, runs: random.pairRatios.length,
    estimates: { random, burst }, commands: [runs.from[0]!.command, runs.to[0]!.command],
  };
}

const MIB = 2 ** 20;
const div = (a: number | null, b: number | null): number | null => (a === null || b === null || b <= 0 ? null : a / b);

/** The targets of issue 10 (engine v2), then the live ones. */
function targets(r: BenchResult): Target[] {
  const t: Target[] = [];
  const p = r.peers.ratios;
  const add = (name: string, goal: string, measured: number | null, unit: string, threshold: number, higherIsBetter: boolean, note = ''): void => {
    t.push({ name, goal, measured, unit, threshold, met: measured === null ? null : higherIsBetter ? measured >= threshold : measured <= threshold, note });
  };
  const largest = [...r.scaling.points].reverse().find((s) => s.point !== null)?.point ?? null;
  const big = r.scaling.points.find((s) => s.mappings >= 1_000_000 && s.point !== null)?.point ?? null;
  const from = largest !== null ? `at ${largest.mappings} mappings / ${largest.connections} connections` : '';
  add('state per mapped connection', 'a mapped connection in at most 512 bytes (heap + array buffers after GC)', largest?.memory.bytesPerConnection ?? null, 'bytes', 512, false, from);
  add('state per pinhole', 'a pinhole (mapping) in at most 200 bytes', largest?.memory.bytesPerMapping ?? null, 'bytes', 200, false, from);
  const epm = r.scaling.epmIdle;
  add('state per idle EPM connection', 'an EPM connection between calls (bound, idle) in at most 1 KB', epm.value?.bytesPerConnection ?? null, 'bytes', 1024, false,
    epm.value !== null ? `${epm.value.opened} connections at once` : (epm.error ?? ''));
  const rss = big !== null && big.connectionsComplete ? big.memory.withConnections.rssBytes / MIB : null;
  add('1M connections in 1 GiB RSS', '1M concurrent mapped connections (with their pinholes) in at most 1024 MiB RSS', rss, 'MiB', 1024, false,
    big === null ? 'no 1M point in this run' : big.connectionsComplete ? '' : `not measured: ${big.stoppedReason ?? `${big.connections} connections opened`}`);
  const fl = r.scaling.flatness;
  const flNote = fl !== null ? `${fl.fromMappings} -> ${fl.toMappings} connections, median of ${fl.runs} alternated pair ratios` : '';
  add('flat cost per packet (random)', 'cost per packet at the largest point within 1.5x of 1k, every packet on a random connection', fl?.random ?? null, 'x', 1.5, false, flNote);
  add('flat cost per packet (bursts)', 'the same in bursts of 8 packets of one connection', fl?.burst ?? null, 'x', 1.5, false, flNote);
  const ours = (pt: ChurnResult['points'][number] | undefined): number | null => {
    const b = pt?.builds[0]?.replay;
    return b !== undefined && b.available ? b.bestWallSeconds : null;
  };
  const cp = r.churn.points;
  const small = cp[0];
  const large = cp.length > 1 ? cp[cp.length - 1] : undefined;
  const growth = small !== undefined && large !== undefined ? div(ours(large), ours(small)) : null;
  const linear = small !== undefined && large !== undefined ? large.capture.copies / small.capture.copies : 0;
  add('churn: linear', `time of the largest multiple at most its share of the smallest (x450 / x100: at most 5x)`, growth, 'x', linear > 0 ? linear * (5 / 4.5) : 5, false,
    r.churn.skipped ?? (small !== undefined && large !== undefined ? `x${large.capture.copies} over x${small.capture.copies}` : ''));
  const tcpdumpLarge = large?.tcpdump.available === true ? large.tcpdump.bestWallSeconds : null;
  add('churn: file-to-file vs tcpdump', '`rpcgw replay` (direct) at least 0.1x `tcpdump -r F -w /dev/null` on the largest multiple', div(tcpdumpLarge, ours(large ?? small)), 'x', 0.1, true, r.churn.skipped ?? '');
  const cps = r.churn.inMemory.find((m) => m.build === 'this build')?.connectionsPerSecond ?? null;
  add('churn: new connections in memory', 'at least 100k new connections per second, the engine alone in memory', cps, 'connections/s', 100_000, true, r.churn.skipped ?? '');
  const files = r.publicCorpus.files.filter((f) => f.tsharkOverReplay !== null);
  const worst = files.length > 0 ? Math.min(...files.map((f) => f.tsharkOverReplay!)) : null;
  const worstName = files.find((f) => f.tsharkOverReplay === worst)?.name ?? '';
  add('public captures vs tshark', 'at least 2x `tshark -Y dcerpc` on every public capture (worst file)', worst, 'x', 2, true, r.publicCorpus.skipped ?? worstName);
  add('public captures vs tcpdump', 'at least 0.2x tcpdump over all public captures', r.publicCorpus.tcpdumpOverReplay, 'x', 0.2, true, r.publicCorpus.skipped ?? '');
  add('own workload file-to-file vs tcpdump', '`rpcgw replay` at least 0.3x `tcpdump -r F -w /dev/null`', p.fileToFileVsTcpdump, 'x', 0.3, true,
    `${p.fileToFileNoStartupVsTcpdump?.toFixed(2) ?? 'n/a'}x with each tool's start-up taken out`);
  add('own workload in memory vs tcpdump', 'the engine alone in memory at least 0.5x tcpdump', p.inMemoryVsTcpdump, 'x', 0.5, true, '');
  const lr = r.live.modes.find((m) => m.mode === 'rpcgw' && m.error === null);
  const why = r.live.status === 'skipped' ? `not run: ${r.live.reason}` : '';
  add('live vs nftables NAT', 'live full-inspection path at least half of nftables NAT (bulk, MTU-size packets)', r.live.ratios.bulkVsNftables, 'x', 0.5, true,
    why || (lr?.bulk ? `${lr.bulk.gbitPerSecond.toFixed(2)} Gbit/s through rpcgw run` : 'rpcgw mode failed'));
  add('live small packets', 'at least 250k small packets/s', lr?.small?.packetsPerSecond ?? null, 'packets/s', 250_000, true,
    why || 'packets received on both gateway interfaces, 64-byte stubs, 8 connections x 64 calls in flight');
  return t;
}

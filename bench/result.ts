/**
 * The shape of bench/results/*.json. Every figure sits next to the peer measured in the same
 * run on the same input, and next to the command that produced it; a figure that could not be
 * measured is null with the reason beside it, never left out.
 */
import type { CommandTiming } from './peers.js';
import type { CorpusResult } from './corpus.js';
import type { ChurnResult } from './churn.js';
import type { EpmIdleResult, ExpiryResult, FlatEstimate, FlatInProcess, ScalePoint } from './scale.js';
import type { Environment } from './sysinfo.js';
import type { LiveResult } from './live.js';
import type { InMemoryResult, LatencyResult, SteadyStateGc } from './engine-replay.js';
import type { WorkloadSummary } from './workload.js';

export const RESULT_SCHEMA = 'rpcgw-bench/1';

export interface Target {
  name: string;
  /** What the issue asks, in words. */
  goal: string;
  /** The measured figure the goal is judged on, and its unit. */
  measured: number | null;
  unit: string;
  threshold: number;
  /** true / false, or null when not measured in this run. */
  met: boolean | null;
  note: string;
}

/** `--before DIR`: the same measurements on another build (bench/before.ts). */
export interface BeforeResult {
  dir: string;
  commit: string | null;
  startup: CommandTiming;
  fileToFile: CommandTiming;
  inMemory: InMemoryResult | null;
  inMemoryError: string | null;
  inMemoryCommand: string;
  /** The public captures, the same work files as this build's rows. */
  corpus: { name: string; replay: CommandTiming }[];
  scaling: ScaleEntry[];
  /** The same flat-cost runs of this build, alternated with the others (null without scale points). */
  flatness?: Flatness | null;
  epmIdle: { value: EpmIdleResult | null; error: string | null; command: string } | null;
}

/**
 * Cost per packet at the largest point whose connections all opened over the smallest: random and
 * burst are the median of the pair ratios of `runs` alternated runs (scale.ts FlatEstimate).
 */
export interface Flatness {
  fromMappings: number;
  toMappings: number;
  random: number | null;
  burst: number | null;
  runs: number;
  estimates: { random: FlatEstimate; burst: FlatEstimate };
  /** One run of each point. */
  commands: string[];
}

export interface ScaleEntry {
  mappings: number;
  /** The child process's result, or null with the error. */
  point: ScalePoint | null;
  error: string | null;
  command: string;
}

export interface BenchResult {
  schema: string;
  mode: 'quick' | 'full';
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  /** How to run this again. */
  command: string;
  environment: Environment;
  workload: WorkloadSummary & {
    /** `rpcgw replay` of the file sent exactly what the generator's in-process engine sent, without refusals. */
    selfCheck: { command: string; replayPacketsOut: number; generatorEngineSent: number; refusals: number; consistent: boolean };
  };
  /** Measurement 1. */
  engine: {
    inMemory: InMemoryResult;
    latency: LatencyResult;
    gc: SteadyStateGc;
    fileToFile: CommandTiming & { packetsPerSecond: number | null; gbitPerSecond: number | null };
    /** `rpcgw replay` of a capture with no packets: Node start-up and rules loading, included in fileToFile. */
    startup: CommandTiming;
    /** Bare `node -e 0`, `rpcgw --help`, `rpcgw check --rules bench/rules.json`. */
    startupCommands: { node: CommandTiming; help: CommandTiming; check: CommandTiming };
  };
  /** Measurement 2: peers on the same file, and the ratios (peer time / ours; above 1 means rpcgw is faster). */
  peers: {
    /** `startup`: the same command on a capture with no packets. */
    tcpdump: CommandTiming & { packetsPerSecond: number | null; startup: CommandTiming };
    tshark: CommandTiming & { packetsPerSecond: number | null; startup: CommandTiming };
    ratios: {
      fileToFileVsTcpdump: number | null;
      fileToFileVsTshark: number | null;
      inMemoryVsTcpdump: number | null;
      inMemoryVsTshark: number | null;
      /** (peer - peer start-up) / (fileToFile - rpcgw start-up): each tool's start-up taken out. */
      fileToFileNoStartupVsTcpdump: number | null;
      fileToFileNoStartupVsTshark: number | null;
    };
  };
  publicCorpus: CorpusResult;
  /** A public capture multiplied over many clients (issue 10), every build side by side. */
  churn: ChurnResult;
  /** `--before DIR`: the same figures of another build, in the same run (null without it). */
  before: BeforeResult | null;
  /** Measurement 3. */
  scaling: {
    /** The variables the scale points ran with: the systemd unit's (unit-env.ts), as NAME=value. */
    daemonEnv?: string[];
    points: ScaleEntry[];
    /** Cost per packet at the largest point whose connections all opened, over the cost at the smallest. */
    flatness: Flatness | null;
    /** The same ratio in one process (scale-flat; null when not run): a 1k and a 1M population, passes paired per round. */
    flatInProcess?: { value: FlatInProcess | null; error: string | null; command: string } | null;
    expiry: ExpiryResult | null;
    expiryError: string | null;
    expiryCommand: string;
    /** Heap per idle (bound, between calls) EPM connection. */
    epmIdle: { value: EpmIdleResult | null; error: string | null; command: string };
  };
  /** Measurement 4: live, in network namespaces. */
  live: LiveResult;
  targets: Target[];
}

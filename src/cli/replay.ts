/**
 * `rpcgw replay <capture> --rules <file> --out <pcap> --report <jsonl>`: the engine on a capture,
 * deterministically. Malformed traffic is data (dropped, counted, reported; exit 0); only an
 * unreadable capture or an invalid rules file is an error.
 *
 * The report is JSON lines, written as the replay goes (nothing is held for it): a first line
 * `{"record":"replay","schema":"rpcgw-replay-report/2",...}`, then one line per record the engine
 * made (`rewrite`, `mapping`, `connection`, `closed`, `refusal`, `notification`, each with the
 * input `frame`), then `{"record":"summary",...}` with the counters. See docs/operations.md.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { REPLAY_REPORT_SCHEMA, replayCapture, type ReplayMode, type ReplayRecord } from '../dataplane/replay.js';
import { readRulesFile } from './rules-file.js';
import { formatProblem } from '../policy/errors.js';

export interface ReplayArgs {
  capture: string;
  rules: string;
  out: string;
  report: string | undefined;
  mode: ReplayMode;
  seed: number;
  emittedOnly: boolean;
}

/** Refusals listed on stdout; the rest are counted there and all are in the report. */
const MAX_REFUSALS_SHOWN = 100;
const FLUSH_AT = 1 << 16;

/** Appends lines to a file through one buffer, flushed every 64 KiB. */
class LineFile {
  private readonly fd: number;
  private parts: string[] = [];
  private size = 0;

  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }

  line(obj: object): void {
    this.text(JSON.stringify(obj));
  }

  /** Appends one line already made (JSON text without the newline). */
  text(line: string): void {
    const s = line + '\n';
    this.parts.push(s);
    this.size += s.length;
    if (this.size >= FLUSH_AT) this.flush();
  }

  flush(): void {
    if (this.parts.length === 0) return;
    writeSync(this.fd, this.parts.join(''));
    this.parts = [];
    this.size = 0;
  }

  close(): void {
    try {
      this.flush();
    } finally {
      closeSync(this.fd);
    }
  }
}

/**
 * Most of a short replay's CPU is TurboFan compiling the engine's code on background threads
 * (docs/performance.md, "Cold cost of a short replay"): a smaller cumulative inlining budget than
 * V8's 920 bytes compiles smaller graphs. 500, not lower: at 300 the churn replay (many short
 * connections) ran ~15% slower; at 500 it and the long replays were no slower. Set for the
 * replay only and put back after it: the build's code cache is made at exit of a replay, and V8
 * accepts a cache only under the flags it was made with. Left alone when node was given it.
 */
const INLINE_BUDGET_FLAG = '--max-inlined-bytecode-size-cumulative';
const INLINE_BUDGET_DEFAULT = 920;
const INLINE_BUDGET_REPLAY = 500;

function withInlineBudget<T>(run: () => T): T {
  if (process.execArgv.some((f) => f.replaceAll('_', '-').startsWith(INLINE_BUDGET_FLAG))) return run();
  setFlagsFromString(`${INLINE_BUDGET_FLAG}=${INLINE_BUDGET_REPLAY}`);
  try {
    return run();
  } finally {
    setFlagsFromString(`${INLINE_BUDGET_FLAG}=${INLINE_BUDGET_DEFAULT}`);
  }
}

export function runReplay(a: ReplayArgs, write: (line: string) => void, warn: (line: string) => void): void {
  const loaded = readRulesFile(a.rules);
  for (const w of loaded.warnings) warn(`warning: ${formatProblem(w)}`);
  const file = a.report !== undefined ? new LineFile(a.report) : null;
  const refusals: string[] = [];
  // The report file takes every record as its line; the refusals listed on stdout come as records.
  const onRecord = (r: ReplayRecord): void => {
    if (r.record === 'refusal' && refusals.length < MAX_REFUSALS_SHOWN) refusals.push(`  refused frame ${r.frame} ${r.client} -> ${r.server} (rule ${r.rule}): ${r.reason}: ${r.detail}`);
  };
  const onReportLine = file !== null ? (line: string): void => file.text(line) : undefined;
  let report;
  try {
    file?.line({ record: 'replay', schema: REPLAY_REPORT_SCHEMA, input: a.capture, rules: a.rules, output: a.out, requestedMode: a.mode, seed: a.seed, emittedOnly: a.emittedOnly });
    report = withInlineBudget(() => replayCapture({ capture: a.capture, rules: loaded.rules, rulesFile: a.rules, out: a.out, mode: a.mode, seed: a.seed, emittedOnly: a.emittedOnly, onRecord, onReportLine, allRecords: file !== null }));
    file?.line({ record: 'summary', ...report });
  } finally {
    file?.close();
  }
  const sum = (r: Record<string, number>): number => Object.values(r).reduce((x, y) => x + y, 0);
  const n = report.records;
  write(
    `${a.capture}: ${report.mode} replay of ${report.frames} frames: ${sum(report.packetsIn)} packets in, ${sum(report.packetsOut)} out; ` +
      `${n.rewrite} tower(s) rewritten, ${n.mapping} mapping(s), ${n.connection} connection(s), ` +
      `${n.refusal} refused, ${sum(report.drops)} dropped → ${a.out}`,
  );
  for (const line of refusals) write(line);
  if (n.refusal > refusals.length) write(`  ... ${n.refusal - refusals.length} more refused (all are in the report)`);
  for (const [why, k] of Object.entries(report.drops)) write(`  dropped ${k}: ${why}`);
  if (report.truncatedAtEnd) warn('warning: the last record of the capture is truncated');
}

/**
 * `rpcgw replay <capture> --rules <file> --out <pcap> --report <json>`: the engine on a capture,
 * deterministically. Malformed traffic is data (dropped, counted, reported; exit 0); only an
 * unreadable capture or an invalid rules file is an error.
 */
import { writeFileSync } from 'node:fs';
import { replayCapture, type ReplayMode } from '../dataplane/replay.js';
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

export function runReplay(a: ReplayArgs, write: (line: string) => void, warn: (line: string) => void): void {
  const loaded = readRulesFile(a.rules);
  for (const w of loaded.warnings) warn(`warning: ${formatProblem(w)}`);
  const report = replayCapture({ capture: a.capture, rules: loaded.rules, rulesFile: a.rules, out: a.out, mode: a.mode, seed: a.seed, emittedOnly: a.emittedOnly });
  if (a.report !== undefined) writeFileSync(a.report, JSON.stringify(report, null, 2) + '\n');
  const sum = (r: Record<string, number>): number => Object.values(r).reduce((x, y) => x + y, 0);
  write(
    `${a.capture}: ${report.mode} replay of ${report.frames} frames: ${sum(report.packetsIn)} packets in, ${sum(report.packetsOut)} out; ` +
      `${report.rewrites.length} tower(s) rewritten, ${report.mappings.length} mapping(s), ${report.connections.length} connection(s), ` +
      `${report.refusals.length} refused, ${sum(report.drops)} dropped → ${a.out}`,
  );
  for (const r of report.refusals) write(`  refused frame ${r.frame} ${r.client} -> ${r.server} (rule ${r.rule}): ${r.reason}: ${r.detail}`);
  for (const [why, n] of Object.entries(report.drops)) write(`  dropped ${n}: ${why}`);
  if (report.truncatedAtEnd) warn('warning: the last record of the capture is truncated');
}

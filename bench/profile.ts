/**
 * `node bench/dist/bench/main.js profile --capture F`: runs the in-memory replay under
 * `node --cpu-prof` and prints where the time goes (self time by function, and by source file),
 * the summary docs/performance.md quotes. The .cpuprofile is kept for Chrome DevTools.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { benchMain, repoRoot } from './paths.js';

interface CpuNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: CpuNode[];
  startTime: number;
  endTime: number;
  samples: number[];
}

export interface ProfileRow {
  function: string;
  location: string;
  selfPercent: number;
  selfMs: number;
}

export interface ProfileSummary {
  profile: string;
  command: string;
  totalMs: number;
  byFunction: ProfileRow[];
  byFile: { file: string; selfPercent: number }[];
}

/** Self time per function and per file, heaviest first. */
export function summarizeProfile(file: string, top = 25): Omit<ProfileSummary, 'command'> {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const total = prof.samples.length;
  const ms = (prof.endTime - prof.startTime) / 1000;
  const byFn = new Map<string, { fn: string; loc: string; hits: number }>();
  const byFile = new Map<string, number>();
  for (const n of prof.nodes) {
    const hits = n.hitCount ?? 0;
    if (hits === 0) continue;
    const url = n.callFrame.url.replace(/^file:\/\//, '');
    const rel = url === '' ? '(native)' : path.relative(repoRoot, url).replace(/^bench\/dist\//, '');
    const fn = n.callFrame.functionName === '' ? '(anonymous)' : n.callFrame.functionName;
    const loc = url === '' ? '' : `${rel}:${n.callFrame.lineNumber + 1}`;
    const key = `${fn}@${loc}`;
    const e = byFn.get(key) ?? { fn, loc, hits: 0 };
    e.hits += hits;
    byFn.set(key, e);
    byFile.set(url === '' ? fn : rel, (byFile.get(url === '' ? fn : rel) ?? 0) + hits);
  }
  const rows = [...byFn.values()].sort((a, b) => b.hits - a.hits).slice(0, top);
  return {
    profile: file,
    totalMs: ms,
    byFunction: rows.map((r) => ({ function: r.fn, location: r.loc, selfPercent: (100 * r.hits) / total, selfMs: (ms * r.hits) / total })),
    byFile: [...byFile.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([f, h]) => ({ file: f, selfPercent: (100 * h) / total })),
  };
}

/** Profiles `inmem --capture F --passes N [--rules R]` in a child process (the rules the capture was made for). */
export function profileInMemory(capture: string, passes: number, dir?: string, rules?: string): ProfileSummary {
  const out = dir ?? mkdtempSync(path.join(tmpdir(), 'rpcgw-prof-'));
  const args = ['--cpu-prof', `--cpu-prof-dir=${out}`, '--cpu-prof-interval', '200', benchMain, 'inmem', '--capture', capture, '--passes', String(passes),
    ...(rules !== undefined ? ['--rules', rules] : [])];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`profile run failed: ${r.stderr}`);
  const f = readdirSync(out).filter((x) => x.endsWith('.cpuprofile')).sort().pop();
  if (f === undefined) throw new Error(`no .cpuprofile written in ${out}`);
  return { ...summarizeProfile(path.join(out, f)), command: `node ${args.map((a) => (a.includes(' ') ? JSON.stringify(a) : a)).join(' ')}` };
}

export function profileText(s: ProfileSummary): string {
  const lines = [`profile ${s.profile} (${s.totalMs.toFixed(0)} ms sampled)`, `  ${s.command}`, '', 'self %   self ms  function (location)'];
  for (const r of s.byFunction) lines.push(`${r.selfPercent.toFixed(1).padStart(6)} ${r.selfMs.toFixed(0).padStart(9)}  ${r.function} (${r.location})`);
  lines.push('', 'self %  file');
  for (const f of s.byFile) lines.push(`${f.selfPercent.toFixed(1).padStart(6)}  ${f.file}`);
  return lines.join('\n');
}

/**
 * `--before DIR`: the same measurements on another build of rpcgw, side by side in the same run
 * on the same files (issue 10's before/after). DIR is a checkout with `dist/` built (`npm run
 * build`) and, for the in-memory and scaling figures, `bench/dist/` (`tsc -p bench/tsconfig.json`);
 * e.g. `git worktree add /tmp/engine-before <commit>`, node_modules linked, both built. Its own
 * bench code measures its engine in memory and at scale; the files and rules are this run's.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { InMemoryResult } from './engine-replay.js';
import { shellQuote, timeCommand, type CommandTiming } from './peers.js';

export interface BeforeBuild {
  dir: string;
  cli: string;
  bench: string;
  commit: string | null;
}

export function beforeBuild(dir: string): BeforeBuild {
  const cli = path.join(dir, 'dist', 'cli', 'main.js');
  const bench = path.join(dir, 'bench', 'dist', 'bench', 'main.js');
  if (!existsSync(cli)) throw new Error(`--before ${dir}: no ${cli} (run npm run build there)`);
  const r = spawnSync('git', ['-C', dir, 'rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8' });
  return { dir, cli, bench, commit: r.status === 0 ? r.stdout.trim() : null };
}

/** `node --expose-gc <bench> inmem --capture F --rules R --passes N` of the other build. */
export function beforeInMemory(b: BeforeBuild, capture: string, rules: string, passes: number): { value: InMemoryResult | null; error: string | null; command: string } {
  const args = ['--expose-gc', b.bench, 'inmem', '--capture', capture, '--rules', rules, '--passes', String(passes)];
  const command = shellQuote(['node', ...args]);
  if (!existsSync(b.bench)) return { value: null, error: `no ${b.bench}`, command };
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 1800_000 });
  if (r.status !== 0) return { value: null, error: `exit ${r.status ?? r.signal}: ${(r.stderr ?? '').trim().split('\n').slice(-2).join(' | ')}`, command };
  try {
    return { value: (JSON.parse(r.stdout) as { inMemory: InMemoryResult }).inMemory, error: null, command };
  } catch (e) {
    return { value: null, error: `unreadable output: ${(e as Error).message}`, command };
  }
}

export function beforeReplay(b: BeforeBuild, replayArgs: string[], runs: number): CommandTiming {
  const c = beforeReplayCommand(b, replayArgs);
  return timeCommand(c.argv, runs, c.display);
}

/** The before build's `rpcgw` with `replayArgs`, to run and to show. */
export function beforeReplayCommand(b: BeforeBuild, replayArgs: string[]): { argv: string[]; display: string[] } {
  return { argv: [process.execPath, b.cli, ...replayArgs], display: ['node', path.join(b.dir, 'dist/cli/main.js'), ...replayArgs] };
}

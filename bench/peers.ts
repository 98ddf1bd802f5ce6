/**
 * Timing whole commands (the CLI replay and its peers), best of N, wall and CPU time.
 *
 * Wall time is taken around spawnSync; CPU time (user + system of the child) comes from GNU
 * time when /usr/bin/time exists, which is steadier than wall time on a shared machine.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { median } from './engine-replay.js';

export interface CommandTiming {
  /** The command line as a user would type it. */
  command: string;
  available: boolean;
  /** Why it was not measured (tool missing, non-zero exit). */
  error?: string;
  runs: number;
  wallSeconds: number[];
  bestWallSeconds: number;
  medianWallSeconds: number;
  /** user + system CPU seconds of the best run (null without /usr/bin/time). */
  bestCpuSeconds: number | null;
  maxRssKiB: number | null;
}

const GNU_TIME = '/usr/bin/time';

export function which(tool: string): string | null {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = `${dir}/${tool}`;
    if (existsSync(p)) return p;
  }
  return null;
}

export function shellQuote(args: readonly string[]): string {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Runs `argv` `runs` times (stdout and stderr discarded) and keeps the timings. */
export function timeCommand(argv: readonly string[], runs: number, display?: readonly string[]): CommandTiming {
  return timeCommandsAlternated([{ argv, display }], runs)[0]!;
}

/**
 * Runs each command `runs` times, in turn (A B A B ...), and keeps each one's timings: a
 * comparison of two builds then sees the same machine, not whatever the parent or the
 * machine was doing during one build's block of runs (the first file-to-file runs after the
 * in-memory passes came out up to 1.3x slower than the same runs later in the bench).
 */
export function timeCommandsAlternated(cmds: ReadonlyArray<{ argv: readonly string[]; display?: readonly string[] | undefined }>, runs: number): CommandTiming[] {
  const useTime = existsSync(GNU_TIME);
  const state = cmds.map(({ argv, display }) => {
    const exe = argv[0]!;
    const resolved = exe.includes('/') ? (existsSync(exe) ? exe : null) : which(exe);
    const base: CommandTiming = {
      command: shellQuote(display ?? argv), available: false, runs: 0, wallSeconds: [], bestWallSeconds: 0, medianWallSeconds: 0, bestCpuSeconds: null, maxRssKiB: null,
    };
    return { argv, resolved, base, walls: [] as number[], cpus: [] as (number | null)[], rss: null as number | null, error: resolved === null ? `${exe} not found` : null as string | null };
  });
  for (let i = 0; i < runs; i++) {
    for (const c of state) {
      if (c.error !== null || c.resolved === null) continue;
      const full = useTime ? [GNU_TIME, '-f', '@@rpcgw-bench %e %U %S %M', c.resolved, ...c.argv.slice(1)] : [c.resolved, ...c.argv.slice(1)];
      const t0 = process.hrtime.bigint();
      const r = spawnSync(full[0]!, full.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 256 << 20 });
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      if (r.status !== 0) {
        const tail = r.stderr.toString('utf8').split('\n').filter((l) => l !== '' && !l.startsWith('@@rpcgw-bench')).slice(-3).join(' | ');
        c.error = `exit ${r.status ?? r.signal}: ${tail}`;
        continue;
      }
      c.walls.push(wall);
      let cpu: number | null = null;
      if (useTime) {
        const line = r.stderr.toString('utf8').split('\n').reverse().find((l) => l.startsWith('@@rpcgw-bench'));
        const f = line?.split(' ') ?? [];
        if (f.length >= 5) {
          cpu = Number(f[2]) + Number(f[3]);
          c.rss = Math.max(c.rss ?? 0, Number(f[4]));
        }
      }
      c.cpus.push(cpu);
    }
  }
  return state.map((c) => {
    if (c.error !== null) return { ...c.base, error: c.error };
    const best = Math.min(...c.walls);
    return {
      ...c.base, available: true, runs, wallSeconds: c.walls, bestWallSeconds: best, medianWallSeconds: median(c.walls),
      bestCpuSeconds: c.cpus[c.walls.indexOf(best)] ?? null, maxRssKiB: c.rss,
    };
  });
}

export function toolVersion(tool: string, args: readonly string[] = ['--version']): string | null {
  if (which(tool) === null) return null;
  const r = spawnSync(tool, args, { encoding: 'utf8' });
  const text = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
  return text.split('\n').map((l) => l.trim()).find((l) => l !== '' && !l.startsWith('Running as user')) ?? null;
}

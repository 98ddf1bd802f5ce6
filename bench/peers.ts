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
  const command = shellQuote(display ?? argv);
  const exe = argv[0]!;
  const resolved = exe.includes('/') ? (existsSync(exe) ? exe : null) : which(exe);
  const base: CommandTiming = {
    command, available: false, runs: 0, wallSeconds: [], bestWallSeconds: 0, medianWallSeconds: 0, bestCpuSeconds: null, maxRssKiB: null,
  };
  if (resolved === null) return { ...base, error: `${exe} not found` };
  const useTime = existsSync(GNU_TIME);
  const walls: number[] = [];
  const cpus: (number | null)[] = [];
  let rss: number | null = null;
  for (let i = 0; i < runs; i++) {
    const full = useTime ? [GNU_TIME, '-f', '@@rpcgw-bench %e %U %S %M', resolved, ...argv.slice(1)] : [resolved, ...argv.slice(1)];
    const t0 = process.hrtime.bigint();
    const r = spawnSync(full[0]!, full.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 256 << 20 });
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) {
      const tail = r.stderr.toString('utf8').split('\n').filter((l) => l !== '' && !l.startsWith('@@rpcgw-bench')).slice(-3).join(' | ');
      return { ...base, error: `exit ${r.status ?? r.signal}: ${tail}` };
    }
    walls.push(wall);
    let cpu: number | null = null;
    if (useTime) {
      const line = r.stderr.toString('utf8').split('\n').reverse().find((l) => l.startsWith('@@rpcgw-bench'));
      const f = line?.split(' ') ?? [];
      if (f.length >= 5) {
        cpu = Number(f[2]) + Number(f[3]);
        rss = Math.max(rss ?? 0, Number(f[4]));
      }
    }
    cpus.push(cpu);
  }
  const best = Math.min(...walls);
  return {
    ...base, available: true, runs, wallSeconds: walls, bestWallSeconds: best, medianWallSeconds: median(walls),
    bestCpuSeconds: cpus[walls.indexOf(best)] ?? null, maxRssKiB: rss,
  };
}

/** First line of `tool --version` (or of `tool -v`), or null if the tool is missing. */
export function toolVersion(tool: string, args: readonly string[] = ['--version']): string | null {
  if (which(tool) === null) return null;
  const r = spawnSync(tool, args, { encoding: 'utf8' });
  const text = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
  return text.split('\n').map((l) => l.trim()).find((l) => l !== '' && !l.startsWith('Running as user')) ?? null;
}

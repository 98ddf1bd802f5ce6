/**
 * `node --expose-gc bench/dist/bench/main.js churn [--copies 100,450] [--before DIR] [--runs N]
 * [--tshark-runs N] [--inmem 100] [--work DIR] [--out F.json]`: the churn measurement alone.
 * `--before DIR` also measures the build in DIR (a worktree with dist/ and bench/dist/ built)
 * on the same files, side by side.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchMain, cliMain, requireBuiltCli } from './paths.js';
import { runChurn, type Build } from './churn.js';

export function churnBuilds(before: string | undefined): Build[] {
  const builds: Build[] = [{ name: 'this build', cli: cliMain, bench: benchMain }];
  if (before !== undefined && before !== '') builds.push({ name: `before (${before})`, cli: path.join(before, 'dist', 'cli', 'main.js'), bench: path.join(before, 'bench', 'dist', 'bench', 'main.js') });
  return builds;
}

export function churnCommand(args: Map<string, string>): void {
  requireBuiltCli();
  const copies = (args.get('copies') ?? '100,450').split(',').filter((x) => x !== '').map(Number);
  const inmem = (args.get('inmem') ?? String(copies[0] ?? 100)).split(',').filter((x) => x !== '').map(Number);
  const work = args.get('work') ?? mkdtempSync(path.join(os.tmpdir(), 'rpcgw-churn-'));
  mkdirSync(work, { recursive: true });
  const log = (m: string): void => void process.stderr.write(`[churn ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
  try {
    const r = runChurn(work, copies, churnBuilds(args.get('before')), Number(args.get('runs') ?? 3), Number(args.get('tshark-runs') ?? 1), inmem, log);
    const text = JSON.stringify(r, null, 2) + '\n';
    if (args.has('out')) writeFileSync(args.get('out')!, text);
    process.stdout.write(text);
  } finally {
    if (!args.has('work')) rmSync(work, { recursive: true, force: true });
  }
}

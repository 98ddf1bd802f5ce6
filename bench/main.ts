#!/usr/bin/env node
/**
 * rpcgw benchmarks. `node --expose-gc bench/dist/bench/main.js [run] [--quick] ...` runs them
 * all (see run.ts); the other subcommands are the pieces, runnable alone:
 *   gen --out F [--clients N | --packets N] [--seed S] [--pcapng]   the workload capture
 *   inmem --capture F [--passes N] [--latency] [--gc]               the engine in memory
 *   profile --capture F [--rules R] [--passes N] [--dir D] [--json]  the same under node --cpu-prof
 *   scale-point --mappings N [--packets M] [--passes P] [--budget-mib B]
 *   scale-flat [--from 1000] [--to 1000000] [--packets M] [--rounds R]   the flat-cost ratio in one process (busy machines)
 *   expiry [--count K] [--budget-mib B]
 *   epm-idle [--count K]                                              heap per idle EPM connection
 *   churn [--copies 100,450] [--before DIR] [--runs N] [--inmem 100] [--work DIR] [--out F.json]   churn workload (issue 10)
 *   live [--seconds S] [--modes rpcgw,rpcgw-kernel,forwarding,nftables] [--offloads off|default] [--out DIR] [--name NAME]   measurement 4 (root)
 *   nft-channel [--serial N] [--burst N]   kernel pinholes' nftables channel: install latency and elements/s (root)
 */
import { readRulesFile } from '../src/cli/rules-file.js';
import { loadCapture, runGcPass, runInMemory, runLatency } from './engine-replay.js';
import { genCommand } from './gen-cli.js';
import { benchRules, ensureRulesSchema, requireBuiltCli } from './paths.js';
import { profileInMemory, profileText } from './profile.js';
import { liveMarkdown, runLive, LIVE_MODES, type LiveModeName } from './live.js';
import { nftChannelMarkdown, runNftChannel } from './nft-channel.js';
import { runBench } from './run.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { resultsDir } from './paths.js';
import { epmIdlePoint, expiryPoint, flatInProcess, scalePoint } from './scale.js';
import { churnCommand } from './churn-cli.js';

function parseArgs(argv: string[]): { cmd: string; args: Map<string, string> } {
  const args = new Map<string, string>();
  let cmd = 'run';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      cmd = a;
      continue;
    }
    const eq = a.indexOf('=');
    if (eq > 0) args.set(a.slice(2, eq), a.slice(eq + 1));
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--') && !['quick', 'keep', 'latency', 'gc', 'json', 'pcapng', 'skip-public', 'skip-scale', 'skip-live', 'live'].includes(a.slice(2))) {
      args.set(a.slice(2), argv[++i]!);
    } else args.set(a.slice(2), '');
  }
  return { cmd, args };
}

function rulesOf(args: Map<string, string>): ReturnType<typeof readRulesFile>['rules'] {
  return readRulesFile(args.get('rules') ?? benchRules).rules;
}

const budget = (args: Map<string, string>): number => Number(args.get('budget-mib') ?? 4096) * 2 ** 20;

async function main(): Promise<void> {
  ensureRulesSchema();
  const { cmd, args } = parseArgs(process.argv.slice(2));
  switch (cmd) {
    case 'run': {
      const r = await runBench(args);
      process.stdout.write(`${r.targets.map((t) => `${t.met === null ? '  -  ' : t.met ? ' yes ' : ' NO  '} ${t.name}: ${t.measured === null ? 'n/a' : `${t.measured.toFixed(2)} ${t.unit}`}`).join('\n')}\n`);
      return;
    }
    case 'gen':
      return genCommand(args);
    case 'inmem': {
      const rules = rulesOf(args);
      const cap = loadCapture(args.get('capture')!, rules);
      const out: Record<string, unknown> = { inMemory: runInMemory(cap, rules, Number(args.get('passes') ?? 3)) };
      if (args.has('latency')) out.latency = runLatency(cap, rules);
      if (args.has('gc')) out.gc = runGcPass(cap, rules);
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      return;
    }
    case 'profile': {
      const s = profileInMemory(args.get('capture')!, Number(args.get('passes') ?? 3), args.get('dir'), args.get('rules'));
      process.stdout.write((args.has('json') ? JSON.stringify(s, null, 2) : profileText(s)) + '\n');
      return;
    }
    case 'scale-point':
      process.stdout.write(JSON.stringify(scalePoint(rulesOf(args), Number(args.get('mappings')), Number(args.get('packets') ?? 100_000), Number(args.get('passes') ?? 3), budget(args))) + '\n');
      return;
    case 'scale-flat':
      process.stdout.write(JSON.stringify(flatInProcess(rulesOf(args), Number(args.get('from') ?? 1000), Number(args.get('to') ?? 1_000_000), Number(args.get('packets') ?? 200_000), Number(args.get('rounds') ?? 10))) + '\n');
      return;
    case 'expiry':
      process.stdout.write(JSON.stringify(expiryPoint(rulesOf(args), Number(args.get('count') ?? 100_000), budget(args))) + '\n');
      return;
    case 'churn':
      return churnCommand(args);
    case 'epm-idle':
      process.stdout.write(JSON.stringify(epmIdlePoint(rulesOf(args), Number(args.get('count') ?? 10_000))) + '\n');
      return;
    case 'nft-channel': {
      const r = await runNftChannel({ serial: Number(args.get('serial') ?? 500), burst: Number(args.get('burst') ?? 5000) });
      process.stdout.write(nftChannelMarkdown(r));
      return;
    }
    case 'live': {
      requireBuiltCli();
      const modes = (args.get('modes')?.split(',').filter((m) => m !== '') ?? [...LIVE_MODES]) as LiveModeName[];
      for (const m of modes) if (!LIVE_MODES.includes(m)) throw new Error(`unknown live mode ${m} (${LIVE_MODES.join(', ')})`);
      const offloads = args.get('offloads') ?? 'off';
      if (offloads !== 'off' && offloads !== 'default') throw new Error(`--offloads off|default, not ${offloads}`);
      const r = await runLive({ seconds: Number(args.get('seconds') ?? 5), modes, offloads });
      const dir = args.get('out') ?? resultsDir;
      const base = path.join(dir, args.get('name') ?? 'live');
      mkdirSync(dir, { recursive: true });
      writeFileSync(`${base}.json`, JSON.stringify({ schema: 'rpcgw-bench-live/1', startedAt: new Date().toISOString(), live: r }, null, 2) + '\n');
      writeFileSync(`${base}.md`, liveMarkdown(r));
      process.stdout.write(liveMarkdown(r));
      process.stderr.write(`bench live: wrote ${base}.json and .md\n`);
      if (r.status === 'failed') process.exitCode = 1;
      return;
    }
    default:
      throw new Error(`unknown command ${cmd} (run, gen, inmem, profile, scale-point, scale-flat, expiry, epm-idle, churn, live, nft-channel)`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});

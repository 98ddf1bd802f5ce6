/** `node bench/dist/bench/main.js gen --out F [--clients N | --packets N] [--seed S] [--pcapng]`: just the workload capture. */
import { readRulesFile } from '../src/cli/rules-file.js';
import { benchRules } from './paths.js';
import { FRAMES_PER_CLIENT_ESTIMATE, generateWorkload } from './workload.js';

export function genCommand(args: Map<string, string>): void {
  const out = args.get('out');
  if (out === undefined) throw new Error('gen: --out FILE is required');
  const packets = args.has('packets') ? Number(args.get('packets')) : undefined;
  const clients = args.has('clients') ? Number(args.get('clients')) : Math.max(1, Math.round((packets ?? 100_000) / FRAMES_PER_CLIENT_ESTIMATE));
  const rules = readRulesFile(args.get('rules') ?? benchRules).rules;
  const s = generateWorkload(out, rules, {
    clients, ...(args.has('seed') ? { seed: Number(args.get('seed')) } : {}), format: args.has('pcapng') ? 'pcapng' : 'pcap',
  });
  process.stdout.write(JSON.stringify(s, null, 2) + '\n');
}

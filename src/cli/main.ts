#!/usr/bin/env node
/**
 * rpcgw command line. Every command turns expected failures (unreadable capture, invalid rules)
 * into one clear line on stderr and a non-zero exit, never a stack trace.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
// Each command's modules are imported when it runs: start-up counts when replaying many files.
import { describeError } from './errors.js';

// `rpcgw inspect big.pcap | head`: the reader went away; stop quietly, as Unix tools do.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

function out(line: string): void {
  process.stdout.write(line + '\n');
}

function err(line: string): void {
  process.stderr.write(line + '\n');
}

async function main(argv: string[]): Promise<number> {
  let code = 0;
  await yargs(argv)
    .scriptName('rpcgw')
    .usage('$0 <command> [options]')
    .command(
      'inspect <capture>',
      'report every endpoint-mapper call and tower in a capture (pcap, pcapng, NetMon)',
      (y) =>
        y
          .positional('capture', { type: 'string', demandOption: true, describe: 'capture file' })
          .option('json', { type: 'boolean', default: false, describe: 'JSON lines instead of text' }),
      async (a) => {
        const { runInspect } = await import('./inspect.js');
        runInspect({ capture: a.capture, json: a.json }, out);
      },
    )
    .command(
      'replay <capture>',
      'run a capture through the gateway engine: rewritten output capture and a JSON-lines report',
      (y) =>
        y
          .positional('capture', { type: 'string', demandOption: true, describe: 'capture file (pcap, pcapng, NetMon)' })
          .option('rules', { type: 'string', demandOption: true, describe: 'publishing rules (JSON)' })
          .option('out', { type: 'string', demandOption: true, describe: 'output capture: .pcapng (one interface per side) or .pcap' })
          .option('report', {
            type: 'string',
            describe: 'report file, JSON lines written as the replay goes: {"record":"replay",...} first, one line per rewrite/mapping/connection/closed/refusal/notification, {"record":"summary",...} last',
          })
          .option('mode', { choices: ['auto', 'gateway', 'direct'] as const, default: 'auto' as const, describe: 'gateway-side capture, or direct client-server capture' })
          .option('seed', { type: 'number', default: 1, describe: 'hash seed (same seed, same output)' })
          .option('emitted-only', { type: 'boolean', default: false, describe: 'write only what the gateway sent (default: both directions of each interface)' }),
      async (a) => {
        const { runReplay } = await import('./replay.js');
        runReplay({ capture: a.capture, rules: a.rules, out: a.out, report: a.report, mode: a.mode, seed: a.seed, emittedOnly: a.emittedOnly }, out, err);
      },
    )
    .command(
      'run',
      'run the gateway daemon (root): capture, inspect and forward what the rules publish',
      (y) =>
        y
          .option('rules', { type: 'string', demandOption: true, describe: 'publishing rules (JSON)' })
          .option('keep-guard-on-stop', {
            type: 'boolean', default: false,
            describe: 'on SIGTERM, once the state is saved, leave the nftables guard for the next start (restarts without RSTs; see docs/operations.md)',
          }),
      async (a) => {
        const { runDaemon } = await import('./run.js');
        code = await runDaemon({ rules: a.rules, keepGuardOnStop: a.keepGuardOnStop });
      },
    )
    .command(
      'check',
      'validate a rules file and print the capture filters and nftables guard the daemon would install',
      (y) => y.option('rules', { type: 'string', demandOption: true, describe: 'publishing rules (JSON)' }),
      async (a) => {
        const { runCheck } = await import('./check.js');
        runCheck(a.rules, out);
      },
    )
    .command(
      'mappings',
      'list the running daemon\'s pinholes (and connections), like conntrack -L',
      (y) =>
        y
          .option('socket', { type: 'string', describe: 'admin socket (default: from --rules, else /run/rpcgw/admin.sock)' })
          .option('rules', { type: 'string', describe: 'rules file naming the admin socket' })
          .option('connections', { type: 'boolean', default: false, describe: 'also list connections' })
          .option('json', { type: 'boolean', default: false, describe: 'JSON lines' }),
      async (a) => {
        const { runMappings } = await import('./admin-cmds.js');
        code = await runMappings({ ...(a.socket ? { socket: a.socket } : {}), ...(a.rules ? { rules: a.rules } : {}), json: a.json, connections: a.connections }, out);
      },
    )
    .command(
      'flush',
      'remove pinholes and connections from the running daemon',
      (y) =>
        y
          .option('rule', { type: 'string', describe: 'only this rule' })
          .option('client', { type: 'string', describe: 'only this client address' })
          .option('socket', { type: 'string', describe: 'admin socket (default: from --rules, else /run/rpcgw/admin.sock)' })
          .option('rules', { type: 'string', describe: 'rules file naming the admin socket' }),
      async (a) => {
        const { runFlush } = await import('./admin-cmds.js');
        code = await runFlush(
          { ...(a.socket ? { socket: a.socket } : {}), ...(a.rules ? { rules: a.rules } : {}), ...(a.rule ? { rule: a.rule } : {}), ...(a.client ? { client: a.client } : {}) },
          out,
        );
      },
    )
    .command(
      'lab',
      'build a three-namespace lab (client, gateway, server), run Samba behind rpcgw, drive Impacket through it and narrate what happened (root)',
      (y) => y,
      async () => {
        const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
        const { runLabScenario } = await import('../lab/scenario.js');
        code = await runLabScenario({ repoRoot, write: out });
      },
    )
    .demandCommand(1, 'name a command (see --help)')
    .strict()
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`rpcgw: ${msg}\n`);
      code = 64;
    })
    .help()
    .parseAsync();
  return code;
}

main(hideBin(process.argv)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // One line per problem (a rules file can have several), each saying who is speaking.
    for (const line of describeError(err).split('\n')) process.stderr.write(`rpcgw: ${line}\n`);
    process.exitCode = 2;
  },
);

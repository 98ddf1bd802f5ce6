/**
 * rpcgw command line (main.ts starts it). Every command turns expected failures (unreadable
 * capture, invalid rules) into one clear line on stderr and a non-zero exit, never a stack trace.
 *
 * Start-up counts when replaying many files: the grammar is a plain table (args.ts, no library)
 * and each command's modules are imported only when it runs (in the bundle too: see main.ts).
 * Paths relative to import.meta.url stay two levels below the root: the bundle sits beside this file.
 */
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { parseArgs, UsageError, type CommandSpec } from './args.js';
import { EXIT_USAGE, describeError, exitCodeOf } from './errors.js';

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

const ADMIN_SOCKET = { type: 'string', describe: 'admin socket (default: from --rules, else /run/rpcgw/admin.sock)' } as const;
const ADMIN_RULES = { type: 'string', describe: 'rules file naming the admin socket' } as const;

/** Add a command here: its usage, options and a `run` that imports its module. */
const COMMANDS: CommandSpec[] = [
  {
    usage: 'inspect <capture>',
    describe: 'report every endpoint-mapper call and tower in a capture (pcap, pcapng, NetMon; gzip-compressed too)',
    positionals: { capture: 'capture file, or - for standard input' },
    options: { json: { type: 'boolean', default: false, describe: 'JSON lines instead of text' } },
    run: async (a) => {
      const { runInspect } = await import('./inspect.js');
      await runInspect({ capture: a.str('capture'), json: a.bool('json') }, out);
    },
  },
  {
    usage: 'replay <capture>',
    describe: 'run a capture through the gateway engine: rewritten output capture and a JSON-lines report',
    positionals: { capture: 'capture file (pcap, pcapng, NetMon)' },
    options: {
      rules: { type: 'string', demand: true, describe: 'publishing rules (JSON)' },
      out: { type: 'string', demand: true, describe: 'output capture: .pcapng (one interface per side) or .pcap' },
      report: {
        type: 'string',
        describe: 'report file, JSON lines written as the replay goes: {"record":"replay",...} first, one line per rewrite/mapping/connection/closed/refusal/notification, {"record":"summary",...} last',
      },
      mode: { type: 'string', choices: ['auto', 'gateway', 'direct'], default: 'auto', describe: 'gateway-side capture, or direct client-server capture' },
      seed: { type: 'number', default: 1, describe: 'hash seed (same seed, same output)' },
      'emitted-only': { type: 'boolean', default: false, describe: 'write only what the gateway sent (default: both directions of each interface)' },
    },
    run: async (a) => {
      const { runReplay } = await import('./replay.js');
      runReplay(
        { capture: a.str('capture'), rules: a.str('rules'), out: a.str('out'), report: a.opt('report'), mode: a.str('mode') as 'auto' | 'gateway' | 'direct', seed: a.num('seed'), emittedOnly: a.bool('emitted-only') },
        out,
        err,
      );
    },
  },
  {
    usage: 'run',
    describe: 'run the gateway daemon (root): capture, inspect and forward what the rules publish',
    options: {
      rules: { type: 'string', demand: true, describe: 'publishing rules (JSON)' },
      'keep-guard-on-stop': {
        type: 'boolean', default: false,
        describe: 'on SIGTERM, once the state is saved, leave the nftables guard for the next start (restarts without RSTs; see docs/operations.md)',
      },
    },
    run: async (a) => {
      const { runDaemon } = await import('./run.js');
      return runDaemon({ rules: a.str('rules'), keepGuardOnStop: a.bool('keep-guard-on-stop') });
    },
  },
  {
    usage: 'check',
    describe: 'validate a rules file and print the capture filters and nftables guard the daemon would install',
    options: {
      rules: { type: 'string', demand: true, describe: 'publishing rules (JSON, comments allowed)' },
      json: { type: 'boolean', default: false, describe: 'one JSON object: valid, every problem with file, line, column, path and rule (exit 65 when invalid)' },
    },
    run: async (a) => {
      const { runCheck } = await import('./check.js');
      return runCheck(a.str('rules'), out, { json: a.bool('json') });
    },
  },
  {
    usage: 'mappings',
    describe: 'list the running daemon\'s pinholes (and connections), like conntrack -L',
    options: {
      socket: ADMIN_SOCKET,
      rules: ADMIN_RULES,
      connections: { type: 'boolean', default: false, describe: 'also list connections (state, packets and bytes each way)' },
      rule: { type: 'string', describe: 'only this rule (an unknown name is an error)' },
      client: { type: 'string', describe: 'only this client address' },
      json: { type: 'boolean', default: false, describe: 'JSON lines' },
    },
    run: async (a) => {
      const { runMappings } = await import('./admin-cmds.js');
      const [socket, rules, rule, client] = [a.opt('socket'), a.opt('rules'), a.opt('rule'), a.opt('client')];
      return runMappings(
        { ...(socket ? { socket } : {}), ...(rules ? { rules } : {}), ...(rule ? { rule } : {}), ...(client ? { client } : {}), json: a.bool('json'), connections: a.bool('connections') },
        out,
      );
    },
  },
  {
    usage: 'flush',
    describe: 'remove pinholes and connections from the running daemon',
    options: {
      rule: { type: 'string', describe: 'only this rule' },
      client: { type: 'string', describe: 'only this client address' },
      socket: ADMIN_SOCKET,
      rules: ADMIN_RULES,
    },
    run: async (a) => {
      const { runFlush } = await import('./admin-cmds.js');
      const [socket, rules, rule, client] = [a.opt('socket'), a.opt('rules'), a.opt('rule'), a.opt('client')];
      return runFlush({ ...(socket ? { socket } : {}), ...(rules ? { rules } : {}), ...(rule ? { rule } : {}), ...(client ? { client } : {}) }, out);
    },
  },
  {
    usage: 'reload',
    describe: 'make the running daemon re-read its rules file: prints what changed; exit 65 (rules in force unchanged) when refused',
    options: { socket: ADMIN_SOCKET, rules: ADMIN_RULES, json: { type: 'boolean', default: false, describe: 'the result as one JSON object' } },
    run: async (a) => {
      const { runReload } = await import('./admin-cmds.js');
      const [socket, rules] = [a.opt('socket'), a.opt('rules')];
      return runReload({ ...(socket ? { socket } : {}), ...(rules ? { rules } : {}), json: a.bool('json') }, out, err);
    },
  },
  {
    usage: 'status',
    describe: 'the running daemon: version, uptime, rules file and hash, per-rule pinholes/connections/refusals, guard, offloads, capture drops',
    options: { socket: ADMIN_SOCKET, rules: ADMIN_RULES, json: { type: 'boolean', default: false, describe: 'one JSON object' } },
    run: async (a) => {
      const { runStatus } = await import('./admin-cmds.js');
      const [socket, rules] = [a.opt('socket'), a.opt('rules')];
      return runStatus({ ...(socket ? { socket } : {}), ...(rules ? { rules } : {}), json: a.bool('json') }, out);
    },
  },
  {
    usage: 'events',
    describe: 'follow the running daemon\'s firewall log as it happens, like conntrack -E (Ctrl-C ends)',
    options: {
      rule: { type: 'string', describe: 'only this rule' },
      client: { type: 'string', describe: 'only this client address' },
      type: { type: 'string', describe: 'only this event (connection-open, connection-close, rewrite, pinhole-open, pinhole-close, refused, drop, notification ...)' },
      json: { type: 'boolean', default: false, describe: 'JSON lines' },
      socket: ADMIN_SOCKET,
      rules: ADMIN_RULES,
    },
    run: async (a) => {
      const { runEvents } = await import('./admin-cmds.js');
      const [socket, rules, rule, client, type] = [a.opt('socket'), a.opt('rules'), a.opt('rule'), a.opt('client'), a.opt('type')];
      const ac = new AbortController();
      process.once('SIGINT', () => ac.abort());
      process.once('SIGTERM', () => ac.abort());
      return runEvents(
        { ...(socket ? { socket } : {}), ...(rules ? { rules } : {}), ...(rule ? { rule } : {}), ...(client ? { client } : {}), ...(type ? { type } : {}), json: a.bool('json') },
        out,
        ac.signal,
      );
    },
  },
  {
    usage: 'explain',
    describe: 'which rule a client meets and what it may do (on --port): from the running daemon, or from --rules with --offline',
    options: {
      client: { type: 'string', demand: true, describe: 'client IPv4 address' },
      port: { type: 'string', describe: 'a destination port on the published address (135, a mapped port ...)' },
      offline: { type: 'boolean', default: false, describe: 'read --rules instead of asking the daemon' },
      json: { type: 'boolean', default: false, describe: 'one JSON object' },
      socket: ADMIN_SOCKET,
      rules: { type: 'string', describe: 'rules file (with --offline), or naming the admin socket' },
    },
    run: async (a) => {
      const { runExplain } = await import('./admin-cmds.js');
      const [socket, rules] = [a.opt('socket'), a.opt('rules')];
      const portText = a.opt('port');
      const port = portText === undefined ? undefined : Number(portText);
      if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535)) throw new UsageError(`--port: expected 1-65535, found ${portText}`);
      return runExplain(
        { ...(socket ? { socket } : {}), ...(rules ? { rules } : {}), client: a.str('client'), ...(port !== undefined ? { port } : {}), offline: a.bool('offline'), json: a.bool('json') },
        out,
      );
    },
  },
  {
    usage: 'schema',
    describe: 'print the rules file\'s JSON Schema (install it beside rules.json so "$schema": "./schema.json" keeps working)',
    run: async () => {
      const { readFileSync } = await import('node:fs');
      process.stdout.write(readFileSync(new URL('../../rules/schema.json', import.meta.url), 'utf8'));
    },
  },
  {
    usage: 'completion',
    describe: 'print a bash completion script: rpcgw completion > /etc/bash_completion.d/rpcgw',
    run: async () => {
      const { bashCompletion } = await import('./completion.js');
      out(bashCompletion('rpcgw', COMMANDS));
    },
  },
  {
    usage: 'lab',
    describe: 'build a three-namespace lab (client, gateway, server), run Samba behind rpcgw, drive Impacket through it and narrate what happened (root)',
    run: async () => {
      const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
      const { runLabScenario } = await import('../lab/scenario.js');
      return runLabScenario({ repoRoot, write: out });
    },
  },
];

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs('rpcgw', COMMANDS, argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`rpcgw: ${e.message}\n`);
    return EXIT_USAGE;
  }
  if (parsed.kind === 'help') {
    out(parsed.text);
    return 0;
  }
  if (parsed.kind === 'version') {
    const { createRequire } = await import('node:module');
    out((createRequire(import.meta.url)('../../package.json') as { version: string }).version);
    return 0;
  }
  return (await parsed.command.run(parsed.args)) ?? 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // One line per problem (a rules file can have several), each saying who is speaking.
    for (const line of describeError(err).split('\n')) process.stderr.write(`rpcgw: ${line}\n`);
    process.exitCode = exitCodeOf(err);
  },
);

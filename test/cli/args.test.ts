import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError, type CommandSpec } from '../../src/cli/args.js';
import { runCli } from '../helpers/cli.js';

const noop = async (): Promise<void> => {};
const TABLE: CommandSpec[] = [
  {
    usage: 'replay <capture>',
    describe: 'replay',
    positionals: { capture: 'capture file' },
    options: {
      rules: { type: 'string', demand: true, describe: 'rules' },
      mode: { type: 'string', choices: ['auto', 'direct'], default: 'auto', describe: 'mode' },
      seed: { type: 'number', default: 1, describe: 'seed' },
      'emitted-only': { type: 'boolean', default: false, describe: 'only emitted' },
      report: { type: 'string', describe: 'report' },
    },
    run: noop,
  },
];

function run(argv: string[]) {
  const p = parseArgs('rpcgw', TABLE, argv);
  if (p.kind !== 'run') throw new Error(`expected a run, got ${p.kind}`);
  return p.args;
}

function usageError(argv: string[]): string {
  try {
    parseArgs('rpcgw', TABLE, argv);
  } catch (e) {
    if (e instanceof UsageError) return e.message;
    throw e;
  }
  throw new Error('no usage error');
}

describe('command line grammar', () => {
  it('reads positionals, both option spellings, booleans and defaults', () => {
    const a = run(['replay', 'in.pcap', '--rules', 'r.json', '--mode=direct', '--emitted-only', '--seed', '7']);
    expect([a.str('capture'), a.str('rules'), a.str('mode'), a.bool('emitted-only'), a.num('seed'), a.opt('report')]).toEqual(['in.pcap', 'r.json', 'direct', true, 7, undefined]);
    const b = run(['replay', '--rules', 'r.json', 'in.pcap', '--no-emitted-only']);
    expect([b.str('capture'), b.str('mode'), b.bool('emitted-only'), b.num('seed')]).toEqual(['in.pcap', 'auto', false, 1]);
    expect(run(['replay', '--rules', 'r', '--', '--odd-name.pcap']).str('capture')).toBe('--odd-name.pcap');
  });

  it('rejects what it does not know, naming the argument', () => {
    expect(usageError(['replay', 'in.pcap'])).toMatch(/Missing required argument: rules/);
    expect(usageError(['replay', 'in.pcap', '--rules', 'r', '--bogus'])).toMatch(/Unknown argument: --bogus/);
    expect(usageError(['replay', 'in.pcap', 'extra', '--rules', 'r'])).toMatch(/Unknown argument: extra/);
    expect(usageError(['replay', '--rules', 'r'])).toMatch(/<capture>/);
    expect(usageError(['replay', 'in.pcap', '--rules', 'r', '--mode', 'sideways'])).toMatch(/--mode.*sideways.*auto, direct/);
    expect(usageError(['replay', 'in.pcap', '--rules', 'r', '--seed', 'x'])).toMatch(/--seed/);
    expect(usageError(['replay', 'in.pcap', '--rules'])).toMatch(/rules/);
    expect(usageError(['frobnicate'])).toMatch(/Unknown command: frobnicate/);
    expect(usageError([])).toMatch(/name a command/);
  });

  it('prints help for the program and for a command', () => {
    const g = parseArgs('rpcgw', TABLE, ['--help']);
    expect(g.kind === 'help' && g.text).toContain('rpcgw replay <capture>');
    const c = parseArgs('rpcgw', TABLE, ['replay', '--help']);
    expect(c.kind === 'help' && c.text).toMatch(/--rules +rules \[string\] \[required\]/);
  });

  it('the built rpcgw answers usage errors with exit 64 and one line, and help with exit 0', () => {
    const bad = runCli(['replay', 'x.pcap', '--out', '/dev/null']);
    expect(bad.code).toBe(64);
    expect(bad.stderr.trim()).toBe('rpcgw: Missing required argument: rules');
    const help = runCli(['--help']);
    expect(help.code).toBe(0);
    for (const cmd of ['inspect', 'replay', 'run', 'check', 'mappings', 'flush', 'lab']) expect(help.stdout).toContain(`rpcgw ${cmd}`);
    expect(runCli(['check', '--help']).stdout).toContain('--rules');
  });
});

/**
 * The command line's grammar: a table of commands, each with positionals and options, parsed
 * without a library. yargs cost about a tenth of `rpcgw replay`'s start-up (loading its modules,
 * and rendering the whole help text on every run), which counts when replaying many small files.
 *
 * Accepted: `--name value`, `--name=value`, boolean `--name` / `--no-name`, `--` ending options,
 * `--help` / `-h` (global or after a command), `--version`. Unknown or missing arguments are usage
 * errors (UsageError, exit 64 in main.ts).
 */

export interface OptionSpec {
  type: 'string' | 'boolean' | 'number';
  describe: string;
  default?: string | boolean | number;
  demand?: boolean;
  choices?: readonly string[];
}

export interface CommandSpec {
  /** `replay <capture>`: the name, then each positional as `<name>` (all required). */
  usage: string;
  describe: string;
  positionals?: Record<string, string>;
  options?: Record<string, OptionSpec>;
  /** Runs the command; the number returned is the exit code (0 when nothing is returned). */
  run: (a: ParsedArgs) => Promise<number | void>;
}

export class UsageError extends Error {}

/** Parsed values by the names the table uses (kebab-case as typed). */
export class ParsedArgs {
  constructor(private readonly values: Map<string, string | number | boolean>) {}

  str(name: string): string {
    const v = this.values.get(name);
    if (typeof v !== 'string') throw new UsageError(`Missing required argument: ${name}`);
    return v;
  }

  /** A string option that may be absent. */
  opt(name: string): string | undefined {
    const v = this.values.get(name);
    return typeof v === 'string' ? v : undefined;
  }

  bool(name: string): boolean {
    return this.values.get(name) === true;
  }

  num(name: string): number {
    const v = this.values.get(name);
    if (typeof v !== 'number') throw new UsageError(`Missing required argument: ${name}`);
    return v;
  }
}

export type Parsed =
  | { kind: 'run'; command: CommandSpec; args: ParsedArgs }
  | { kind: 'help'; text: string }
  | { kind: 'version' };

function commandName(c: CommandSpec): string {
  return c.usage.split(' ')[0]!;
}

function positionalNames(c: CommandSpec): string[] {
  return c.usage
    .split(' ')
    .slice(1)
    .map((p) => p.replace(/^<|>$/g, ''));
}

function table(rows: [string, string][], indent = '  '): string {
  const w = Math.max(0, ...rows.map(([l]) => l.length));
  return rows.map(([l, r]) => `${indent}${l.padEnd(w)}  ${r}`.trimEnd()).join('\n');
}

function optionLabel(name: string, o: OptionSpec): string {
  const tags = [`[${o.type}]`];
  if (o.choices) tags.push(`[choices: ${o.choices.map((c) => JSON.stringify(c)).join(', ')}]`);
  if (o.demand) tags.push('[required]');
  else if (o.default !== undefined) tags.push(`[default: ${JSON.stringify(o.default)}]`);
  return `${o.describe} ${tags.join(' ')}`;
}

export function globalHelp(script: string, commands: readonly CommandSpec[]): string {
  return [
    `${script} <command> [options]`,
    '',
    'Commands:',
    table(commands.map((c) => [`${script} ${c.usage}`, c.describe])),
    '',
    'Options:',
    table([
      ['--help', 'Show help [boolean]'],
      ['--version', 'Show version number [boolean]'],
    ]),
  ].join('\n');
}

export function commandHelp(script: string, c: CommandSpec): string {
  const parts = [`${script} ${c.usage}`, '', c.describe];
  const pos = Object.entries(c.positionals ?? {});
  if (pos.length > 0) parts.push('', 'Positionals:', table(pos.map(([n, d]) => [n, `${d} [string] [required]`])));
  const opts: [string, string][] = Object.entries(c.options ?? {}).map(([n, o]) => [`--${n}`, optionLabel(n, o)]);
  opts.push(['--help', 'Show help [boolean]']);
  parts.push('', 'Options:', table(opts));
  return parts.join('\n');
}

function setOption(values: Map<string, string | number | boolean>, name: string, o: OptionSpec, raw: string): void {
  if (o.type === 'number') {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) throw new UsageError(`Invalid number for --${name}: ${JSON.stringify(raw)}`);
    values.set(name, n);
    return;
  }
  if (o.type === 'boolean') {
    if (raw !== 'true' && raw !== 'false') throw new UsageError(`Invalid boolean for --${name}: ${JSON.stringify(raw)}`);
    values.set(name, raw === 'true');
    return;
  }
  if (o.choices && !o.choices.includes(raw)) {
    throw new UsageError(`Invalid value for --${name}: ${JSON.stringify(raw)} (choices: ${o.choices.join(', ')})`);
  }
  values.set(name, raw);
}

/** Parses `argv` (without node and the script) against the command table. */
export function parseArgs(script: string, commands: readonly CommandSpec[], argv: readonly string[]): Parsed {
  if (argv.includes('--version') && !argv.slice(0, argv.indexOf('--version')).includes('--')) return { kind: 'version' };
  const first = argv[0];
  if (first === undefined || first === '--help' || first === '-h') {
    if (first === undefined) throw new UsageError('name a command (see --help)');
    return { kind: 'help', text: globalHelp(script, commands) };
  }
  const command = commands.find((c) => commandName(c) === first);
  if (command === undefined) throw new UsageError(first.startsWith('-') ? `Unknown argument: ${first}` : `Unknown command: ${first}`);
  const options = command.options ?? {};
  const values = new Map<string, string | number | boolean>();
  const positionals: string[] = [];
  let onlyPositionals = false;
  for (let i = 1; i < argv.length; i++) {
    const tok = argv[i]!;
    if (onlyPositionals || !tok.startsWith('-') || tok === '-') {
      positionals.push(tok);
      continue;
    }
    if (tok === '--') {
      onlyPositionals = true;
      continue;
    }
    if (tok === '--help' || tok === '-h') return { kind: 'help', text: commandHelp(script, command) };
    if (!tok.startsWith('--')) throw new UsageError(`Unknown argument: ${tok}`);
    const eq = tok.indexOf('=');
    const name = eq < 0 ? tok.slice(2) : tok.slice(2, eq);
    const o = options[name];
    if (o === undefined && eq < 0 && name.startsWith('no-') && options[name.slice(3)]?.type === 'boolean') {
      values.set(name.slice(3), false);
      continue;
    }
    if (o === undefined) throw new UsageError(`Unknown argument: ${tok}`);
    if (eq >= 0) setOption(values, name, o, tok.slice(eq + 1));
    else if (o.type === 'boolean') values.set(name, true);
    else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) throw new UsageError(`Not enough arguments following: ${name}`);
      setOption(values, name, o, next);
      i++;
    }
  }
  const names = positionalNames(command);
  if (positionals.length > names.length) throw new UsageError(`Unknown argument: ${positionals[names.length]}`);
  if (positionals.length < names.length) {
    throw new UsageError(`Not enough non-option arguments: got ${positionals.length}, need at least ${names.length} (${names.map((n) => `<${n}>`).join(' ')})`);
  }
  names.forEach((n, i) => values.set(n, positionals[i]!));
  const missing: string[] = [];
  for (const [name, o] of Object.entries(options)) {
    if (values.has(name)) continue;
    if (o.default !== undefined) values.set(name, o.default);
    else if (o.demand) missing.push(name);
  }
  if (missing.length > 0) throw new UsageError(`Missing required argument${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}`);
  return { kind: 'run', command, args: new ParsedArgs(values) };
}

/**
 * Problems found in a rules file. Configuration, not wire input: loading collects every problem
 * and throws them together, so an administrator fixes the whole file in one pass.
 */

/** One located problem (error or warning) in a rules file. */
export interface RuleProblem {
  /** The file name as given to loadRules (for messages only). */
  file: string;
  /** JSON Pointer of the offending value ('/rules/0/mappedPorts'); '' for the whole document. */
  path: string;
  /** The rule's name, when the problem is inside a rule whose name is a string. */
  rule?: string;
  /** What was expected and what was found. */
  message: string;
  /** 1-based line and column of the value in the text, when known (for editors). */
  line?: number;
  column?: number;
}

/**
 * `rules.json:12:7: /rules/0/mappedPorts (rule "exchange"): expected ..., found ...` — the
 * `file:line:column:` form editors and compilers use. The path is left out for problems about
 * the text as a whole (invalid JSON), whose message carries its own line and column.
 */
export function formatProblem(p: RuleProblem): string {
  const where = p.path === '' ? '' : ` ${p.path}`;
  const rule = p.rule === undefined ? '' : ` (rule ${JSON.stringify(p.rule)})`;
  const sep = where === '' && rule === '' ? ' ' : ': ';
  const at = p.path !== '' && p.line !== undefined ? `:${p.line}:${p.column ?? 1}` : '';
  return `${p.file}${at}:${where}${rule}${sep}${p.message}`;
}

/** Thrown by loadRules when the file has at least one error; `problems` lists all of them. */
export class RulesError extends Error {
  readonly problems: RuleProblem[];

  constructor(problems: RuleProblem[]) {
    const first = problems[0];
    const head = first === undefined ? 'invalid rules' : formatProblem(first);
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
    super(head + more);
    this.name = 'RulesError';
    this.problems = problems;
  }

  /** One line per problem, in file order. */
  format(): string {
    return this.problems.map(formatProblem).join('\n');
  }
}

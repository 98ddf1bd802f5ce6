/**
 * The rules file as parsed JSON, plus the bookkeeping every check shares: where each value is in
 * the text, which paths already have an error, and the collected problems.
 */
import type { RuleProblem } from './errors.js';
import { lineColumn } from './json.js';

/** Shape of a rules document once the schema accepted it (defaults from the schema filled in). */
export interface RulesDocument {
  gateway: {
    external: { interface: string; address: string };
    internal: { interface: string; address: string };
    limits: {
      maxMappings: number; maxFlows: number; maxMappingsPerClient: number;
      maxHeldBytesPerFlow: number; maxHeldBytesTotal: number;
    };
    metrics?: { listen: string };
    notificationRelayPorts: string;
    natPorts: string;
    kernelNatPorts: string;
    adminSocket: string;
    log: { level: string };
  };
  rules: RuleDocument[];
}

export interface RuleDocument {
  name: string;
  direction: 'inbound' | 'outbound';
  /** Inbound rules only (the schema requires it there). */
  server: string;
  /** Outbound rules only: external servers as CIDRs. */
  servers?: string[];
  externalAddress?: string;
  interfaces: string[];
  clients: string[];
  mappedPorts: string;
  pinholeTimeoutSeconds: number;
  idleTimeoutSeconds: number;
  maxMappingsPerClient?: number;
  requireEncryption: boolean;
  mappedInspection: 'full' | 'kernel';
  lookup: 'deny' | 'published' | 'allow';
  notifications: boolean;
  notificationsWhenEncrypted: 'drop' | 'pinhole';
  notificationPorts: string;
  enabled: boolean;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Own property `key` of `v` if `v` is an object (never walks the prototype chain). */
export function prop(v: unknown, key: string): unknown {
  return isObject(v) && Object.prototype.hasOwnProperty.call(v, key) ? v[key] : undefined;
}

/** Short text of a found value for messages: JSON, cut to a readable length. */
export function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

export class ProblemSink {
  readonly errors: RuleProblem[] = [];
  readonly warnings: RuleProblem[] = [];
  /** Paths that already carry an error: later checks leave them (and what is under them) alone. */
  private readonly badPaths = new Set<string>();

  constructor(
    readonly file: string,
    readonly text: string,
    readonly offsets: Map<string, number>,
    readonly doc: unknown,
  ) {}

  /** Records an error at `path`; `offset` overrides where in the text it is said to be. */
  error(path: string, message: string, offset?: number): void {
    if (this.errors.some((p) => p.path === path && p.message === message)) return;
    this.badPaths.add(path);
    this.errors.push(this.problem(path, message, offset));
  }

  warn(path: string, message: string): void {
    this.warnings.push(this.problem(path, message));
  }

  /** True when neither `path` nor any object containing it nor anything inside it has an error. */
  clean(path: string): boolean {
    for (const bad of this.badPaths) {
      if (bad === path || path.startsWith(`${bad}/`) || bad.startsWith(`${path}/`)) return false;
    }
    return true;
  }

  private problem(path: string, message: string, at?: number): RuleProblem {
    const p: RuleProblem = { file: this.file, path, message };
    const rule = this.ruleName(path);
    if (rule !== undefined) p.rule = rule;
    const offset = at ?? this.offsetOf(path);
    if (offset >= 0) {
      const { line, column } = lineColumn(this.text, offset);
      p.line = line;
      p.column = column;
    }
    return p;
  }

  /** The name of the rule a path is inside, if that rule's name is a string. */
  private ruleName(path: string): string | undefined {
    const m = /^\/rules\/(\d+)(?:\/|$)/.exec(path);
    if (m === null) return undefined;
    const rules = prop(this.doc, 'rules');
    const rule = Array.isArray(rules) ? rules[Number(m[1])] : undefined;
    const name = prop(rule, 'name');
    return typeof name === 'string' ? name : undefined;
  }

  /** Text offset of the value at `path`, or of the nearest enclosing value (a missing property). */
  offsetOf(path: string): number {
    let p = path;
    for (;;) {
      const off = this.offsets.get(p);
      if (off !== undefined) return off;
      if (p === '') return -1;
      p = p.slice(0, p.lastIndexOf('/'));
    }
  }

  /** Errors and warnings in file order (stable for problems at the same place). */
  sorted(list: RuleProblem[]): RuleProblem[] {
    const keyed = list.map((p, i) => ({ p, i, line: p.line ?? 0, column: p.column ?? 0 }));
    keyed.sort((a, b) => a.line - b.line || a.column - b.column || a.i - b.i);
    return keyed.map((k) => k.p);
  }
}

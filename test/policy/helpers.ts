/** Shared builders for the policy tests: a minimal valid rules document and load wrappers. */
import { loadRules, RulesError } from '../../src/policy/load.js';
import type { LoadedRules, RuleProblem } from '../../src/policy/load.js';

export const FILE = 'rules.json';

/** The smallest valid document: every optional field left to its default. */
export function minimalDoc(): Record<string, unknown> & { gateway: Record<string, unknown>; rules: Array<Record<string, unknown>> } {
  return {
    gateway: {
      external: { interface: 'gw-ext', address: '198.51.100.1' },
      internal: { interface: 'gw-int', address: '192.0.2.1' },
    },
    rules: [{ name: 'exchange', server: '192.0.2.10', interfaces: ['exchange'], mappedPorts: '40000-40999' }],
  };
}

export function loadDoc(doc: unknown): LoadedRules {
  return loadRules(JSON.stringify(doc, null, 2), FILE);
}

/** The problems loading `text` throws; fails the test if it loads. */
export function problemsOfText(text: string): RuleProblem[] {
  try {
    loadRules(text, FILE);
  } catch (e) {
    if (e instanceof RulesError) return e.problems;
    throw e;
  }
  throw new Error('expected a RulesError, but the rules loaded');
}

export function problemsOf(doc: unknown): RuleProblem[] {
  return problemsOfText(JSON.stringify(doc, null, 2));
}

/** Shorthand: a document with rule 0 changed by `patch` (undefined values delete the field). */
export function withRule(patch: Record<string, unknown>): ReturnType<typeof minimalDoc> {
  const doc = minimalDoc();
  const rule = { ...doc.rules[0], ...patch };
  for (const [k, v] of Object.entries(patch)) if (v === undefined) delete rule[k];
  doc.rules[0] = rule;
  return doc;
}

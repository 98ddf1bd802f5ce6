/** Reads and compiles a rules file; every failure is one located, printable error. */
import { readFileSync } from 'node:fs';
import { loadRules, type LoadedRules } from '../policy/load.js';

export class RulesFileError extends Error {}

export function readRulesFile(path: string): LoadedRules {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new RulesFileError(`${path}: cannot read rules file (${code ?? (e as Error).message})`);
  }
  return loadRules(text, path);
}

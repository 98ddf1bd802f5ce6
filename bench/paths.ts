/** Where things are, wherever the compiled bench runs from (bench/dist/bench/*.js). */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writePrecompiledValidator } from '../src/policy/schema.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The repository root: the first ancestor holding package.json and bench/rules.json. */
export const repoRoot = ((): string => {
  let d = here;
  for (let i = 0; i < 6; i++) {
    if (existsSync(path.join(d, 'package.json')) && existsSync(path.join(d, 'bench', 'rules.json'))) return d;
    d = path.dirname(d);
  }
  throw new Error(`bench: cannot find the repository root above ${here}`);
})();

export const benchRules = path.join(repoRoot, 'bench', 'rules.json');
export const resultsDir = path.join(repoRoot, 'bench', 'results');
/**
 * The shipped CLI, as `npm run build` makes it and package.json's bin names it (dist/cli/main.js
 * running the bundle and its code cache): what a user starts is what the bench times. The bench's
 * own copy of src/ (bench/dist/src) serves the in-memory measurements.
 */
export const cliMain = path.join(repoRoot, 'dist', 'cli', 'main.js');

/** Fails with what to do when the shipped CLI has not been built. */
export function requireBuiltCli(): void {
  if (!existsSync(cliMain)) throw new Error(`bench: ${cliMain} is missing: run \`npm run build\` first (npm run bench does)`);
}
/** This bench's own entry point, for child processes. */
export const benchMain = path.join(here, 'main.js');
export const sharedPcaps = process.env.RPCGW_SHARED !== undefined ? path.join(process.env.RPCGW_SHARED, 'pcaps', 'public') : path.resolve(repoRoot, '..', 'shared', 'pcaps', 'public');

/**
 * The bench compiles its own copy of src/ into bench/dist/src, and policy/schema.ts loads the
 * rules schema from two levels above its compiled file (bench/dist/rules/schema.json there).
 * Put a copy of rules/schema.json there before any rules file is loaded, and the precompiled
 * validator `npm run build` writes (scripts/precompile-rules.mjs) next to the compiled schema.ts,
 * so the bench's CLI starts as the built one does even when the bench was compiled by tsc alone.
 */
export function ensureRulesSchema(): void {
  const dir = path.join(repoRoot, 'bench', 'dist', 'rules');
  mkdirSync(dir, { recursive: true });
  copyFileSync(path.join(repoRoot, 'rules', 'schema.json'), path.join(dir, 'schema.json'));
  writePrecompiledValidator();
}

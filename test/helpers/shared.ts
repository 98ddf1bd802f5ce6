/**
 * Access to ../shared (design notes and the public capture corpus) from tests.
 * The corpus is read in place, never copied. Where ../shared is absent (a user's own clone),
 * tests that need it are skipped with a visible message.
 */
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
export const projectRoot = path.resolve(here, '..', '..');
export const sharedDir = process.env.RPCGW_SHARED ?? path.resolve(projectRoot, '..', 'shared');
export const publicPcapDir = path.join(sharedDir, 'pcaps', 'public');
export const haveSharedPcaps = existsSync(path.join(publicPcapDir, 'MANIFEST.md'));

if (!haveSharedPcaps) {
  // Visible, not silent: vitest prints console output of skipped suites.
  console.warn(`[rpcgw tests] ${publicPcapDir} not found: tests on the public capture corpus are SKIPPED`);
}

/** Capture files of the public corpus that have a tower oracle (`<file>.expect.tsv`). */
export function publicCaptures(): string[] {
  if (!haveSharedPcaps) return [];
  return readdirSync(publicPcapDir)
    .filter((f) => !f.endsWith('.tsv') && !f.endsWith('.md'))
    .filter((f) => existsSync(path.join(publicPcapDir, f + '.expect.tsv')))
    .sort();
}

export function publicPath(name: string): string {
  return path.join(publicPcapDir, name);
}

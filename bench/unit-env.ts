/**
 * The environment the shipped systemd unit (deploy/rpcgw.service) gives the daemon. The scale points
 * measure the engine as the daemon runs it at 100k-1M connections, so they run with the same
 * variables (today GLIBC_TUNABLES=glibc.malloc.hugetlb=1: transparent huge pages for the rows,
 * docs/performance.md "huge pages"); the replay and in-memory figures run without, as `rpcgw
 * replay` started by hand does.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './paths.js';

export const unitFile = path.join(repoRoot, 'deploy', 'rpcgw.service');

/**
 * The variables of the unit's `Environment=` lines (systemd.exec: space-separated assignments,
 * each optionally in double quotes; a later assignment wins). Comments and other keys are skipped;
 * a line this reader cannot split is an error naming it, never a silently different environment.
 */
export function unitEnvironment(text: string, where = 'unit'): Record<string, string> {
  const env: Record<string, string> = {};
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line.startsWith('Environment=')) return;
    const rest = line.slice('Environment='.length);
    const word = /\s*(?:"([^"]*)"|([^\s"]+))/y;
    let at = 0;
    while (rest.slice(at).trim() !== '') {
      word.lastIndex = at;
      const m = word.exec(rest);
      if (m === null) throw new Error(`${where} line ${i + 1}: cannot read ${JSON.stringify(line)} (an unclosed quote?)`);
      at = word.lastIndex;
      const a = m[1] ?? m[2]!;
      const eq = a.indexOf('=');
      if (eq <= 0) throw new Error(`${where} line ${i + 1}: ${JSON.stringify(a)} is not NAME=VALUE`);
      env[a.slice(0, eq)] = a.slice(eq + 1);
    }
  });
  return env;
}

/** The shipped unit's variables; {} when the unit file is not there (a bench copied without deploy/). */
export function daemonEnvironment(): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(unitFile, 'utf8');
  } catch {
    return {};
  }
  return unitEnvironment(text, path.relative(repoRoot, unitFile));
}

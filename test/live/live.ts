/**
 * Shared by the live end-to-end tests: the repository root, and whether this machine can run
 * the lab (root, iproute2, nftables, ethtool, Samba, Debian's python3-impacket). When it cannot,
 * the suites are skipped with a warning that says what is missing — never silently.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { missingLabPrereqs } from '../../src/lab/prereqs.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Generous: the lab starts in about a second, but CI machines can be slow and run files in parallel. */
export const LIVE_TIMEOUT_MS = 120_000;

/** True when the suite `name` must be skipped; says why on stderr. */
export function skipLive(name: string, opts: { rpcclient?: boolean } = {}): boolean {
  const missing = missingLabPrereqs(opts);
  if (missing.length === 0) return false;
  console.warn(`[rpcgw live tests] ${name}: SKIPPED, the lab needs: ${missing.join('; ')}`);
  return true;
}

/**
 * NIC offloads on the captured interfaces. With GRO/LRO/TSO/GSO or checksum offload on, captured
 * frames are larger than the MTU and carry partial checksums, and the packets the daemon
 * rewrites and re-injects are dropped by the receiver (measured: InCsumErrors, connections never
 * open). The daemon turns them off on start and restores what it changed on stop.
 */
import { spawnSync } from 'node:child_process';

/** ethtool -k feature names and their ethtool -K short names. */
const FEATURES: readonly [string, string][] = [
  ['generic-receive-offload', 'gro'],
  ['large-receive-offload', 'lro'],
  ['tcp-segmentation-offload', 'tso'],
  ['generic-segmentation-offload', 'gso'],
  ['tx-checksumming', 'tx'],
  ['rx-checksumming', 'rx'],
];

export class OffloadError extends Error {}

export interface SavedOffloads {
  iface: string;
  /** Short names we switched off (they were on). */
  changed: string[];
}

function ethtool(args: string[]): { ok: boolean; out: string; err: string } {
  const r = spawnSync('ethtool', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.error) throw new OffloadError(`cannot run ethtool: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message} (install ethtool)`);
  return { ok: r.status === 0, out: r.stdout, err: r.stderr.trim() };
}

/** feature → { on, fixed } as ethtool -k shows it. */
export function readOffloads(iface: string): Map<string, { on: boolean; fixed: boolean }> {
  const r = ethtool(['-k', iface]);
  if (!r.ok) throw new OffloadError(`ethtool -k ${iface}: ${r.err || 'failed'} (does the interface exist?)`);
  const out = new Map<string, { on: boolean; fixed: boolean }>();
  for (const line of r.out.split('\n')) {
    const m = /^([a-z0-9-]+): (on|off)( \[fixed\])?/.exec(line.trim());
    if (m) out.set(m[1]!, { on: m[2] === 'on', fixed: m[3] !== undefined });
  }
  return out;
}

/** Turns every offload off; throws (after restoring) if one stays on. */
export function disableOffloads(iface: string): SavedOffloads {
  const before = readOffloads(iface);
  const changed = FEATURES.filter(([long]) => before.get(long)?.on === true && before.get(long)?.fixed !== true).map(([, short]) => short);
  if (changed.length > 0) {
    const args = ['-K', iface];
    for (const f of changed) args.push(f, 'off');
    ethtool(args); // its exit status lies when some features are fixed; check the result instead
  }
  const saved = { iface, changed };
  const after = readOffloads(iface);
  const stillOn = FEATURES.filter(([long]) => after.get(long)?.on === true).map(([long]) => long + (after.get(long)?.fixed ? ' [fixed]' : ''));
  if (stillOn.length > 0) {
    restoreOffloads(saved);
    throw new OffloadError(
      `${iface}: cannot turn off ${stillOn.join(', ')}; rpcgw needs GRO, LRO, TSO, GSO and tx/rx checksum offload off on the interfaces it captures`,
    );
  }
  return saved;
}

/** Switches back on what disableOffloads switched off. Never throws (stop and crash paths). */
export function restoreOffloads(saved: SavedOffloads): void {
  if (saved.changed.length === 0) return;
  try {
    const args = ['-K', saved.iface];
    for (const f of saved.changed) args.push(f, 'on');
    ethtool(args);
  } catch {
    // the interface may be gone already
  }
}

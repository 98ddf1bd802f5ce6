/**
 * NIC offloads on the captured interfaces. The engine accepts partial checksums (what an
 * offloading sender leaves in the field) and re-segments frames larger than the egress MTU, so
 * GRO, hardware GRO, TSO, GSO and checksum offload stay as the administrator set them. Only
 * what still breaks the packet path is turned off, each with its reason (OFFLOAD_REASONS, also
 * written in the `offloads-off` record), and restored on stop:
 *   lro                    merges segments in the NIC without keeping their boundaries or
 *                          headers; unlike GRO/rx-gro-hw (which guarantee the merged frame can be
 *                          re-segmented into the original stream) the result is not the stream
 *                          the client sent. The kernel itself turns LRO off on forwarding hosts.
 *   rx-udp-gro-forwarding  merges UDP datagrams that no local socket receives (the relay ports
 *                          have none: the daemon captures them) into one frame; the notification
 *                          relay must see each datagram the server sent. From the kernel's UDP GRO
 *                          path; not reproduced on veth in the lab (2000 back-to-back datagrams
 *                          stayed separate), and off by default.
 * Measured in the lab with GRO on the gateway and TSO on the peers: frames of up to 65212 IP
 * bytes reached the capture and left as MTU-sized segments, no bad-checksum drop; with rx-gro-list
 * (fraglist GRO) on as well, bulk calls ran with no drop either, so it is left alone.
 */
import { spawnSync } from 'node:child_process';

/** ethtool -k feature name, its ethtool -K name, why it must be off. */
const FEATURES: readonly [string, string, string][] = [
  ['large-receive-offload', 'lro',
    'LRO merges segments without keeping their boundaries or headers: not re-segmentable into the stream the peer sent (GRO and rx-gro-hw are, and stay on)'],
  ['rx-udp-gro-forwarding', 'rx-udp-gro-forwarding',
    'merges forwarded UDP datagrams into one frame: the notification relay must see each datagram'],
];

/** Short feature name -> why rpcgw turns it off. */
export const OFFLOAD_REASONS: Readonly<Record<string, string>> = Object.fromEntries(FEATURES.map(([, short, why]) => [short, why]));

/** What the daemon leaves on, and why that is fine (for the `offloads-off` record). */
export const OFFLOADS_KEPT =
  'GRO, rx-gro-hw, TSO, GSO and rx/tx checksum offload are left as they are: partial checksums are verified and completed, merged frames inspected whole and re-segmented to the egress MTU';

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
    const m = /^([a-z0-9_-]+): (on|off)( \[(?:fixed|requested on)\])?/.exec(line.trim());
    if (m) out.set(m[1]!, { on: m[2] === 'on', fixed: m[3] === ' [fixed]' });
  }
  return out;
}

/** Turns off the offloads rpcgw cannot work with; throws (after restoring) if one stays on. */
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
  const stillOn = FEATURES.filter(([long]) => after.get(long)?.on === true);
  if (stillOn.length > 0) {
    restoreOffloads(saved);
    throw new OffloadError(
      `${iface}: cannot turn off ${stillOn.map(([long]) => long + (after.get(long)?.fixed ? ' [fixed]' : '')).join(', ')}; ` +
        stillOn.map(([, short, why]) => `${short}: ${why}`).join('; '),
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

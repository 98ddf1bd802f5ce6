/**
 * The kernel guard: an nftables table of rpcgw's own, so the gateway's kernel neither answers
 * (no RST from a stack with no listener on 135 or the mapped ports) nor forwards what the daemon
 * handles. Installed on start, removed on stop and on the crash path; `rpcgw check` prints it.
 */
import { spawnSync } from 'node:child_process';
import { ipv4ToString } from '../wire/addr.js';
import type { CompiledRules } from '../policy/compiled.js';

export const GUARD_TABLE = 'rpcgw';
export const GUARD_FAMILY = 'inet';

/** The nft script of the guard (a whole table; `nft -f` applies it atomically). */
export function guardRuleset(rules: CompiledRules): string {
  const g = rules.gateway;
  const enabled = rules.rules.filter((r) => r.enabled);
  const portsByExternal = new Map<number, Set<string>>();
  for (const r of enabled) {
    const set = portsByExternal.get(r.externalIp) ?? new Set(['135']);
    set.add(r.portLo === r.portHi ? String(r.portLo) : `${r.portLo}-${r.portHi}`);
    portsByExternal.set(r.externalIp, set);
  }
  const servers = [...new Set(enabled.map((r) => ipv4ToString(r.serverIp)))];
  const externals = [...portsByExternal.keys()].map(ipv4ToString);
  const ext = JSON.stringify(g.externalInterface);
  const lines: string[] = [];
  lines.push(`table ${GUARD_FAMILY} ${GUARD_TABLE} {`);
  lines.push(`  comment "rpcgw kernel guard: the daemon answers and forwards these packets itself"`);
  lines.push('  chain input {');
  lines.push('    type filter hook input priority -150; policy accept;');
  for (const [ip, ports] of portsByExternal) {
    lines.push(`    ip daddr ${ipv4ToString(ip)} tcp dport { ${[...ports].join(', ')} } counter drop comment "clients to published ports"`);
  }
  if (servers.length > 0) {
    lines.push(`    ip saddr { ${servers.join(', ')} } ip daddr ${ipv4ToString(g.internalIp)} meta l4proto tcp counter drop comment "published servers to the gateway's NAT ports"`);
  }
  const notifying = [...new Set(enabled.filter((r) => r.notifications).map((r) => ipv4ToString(r.serverIp)))];
  if (notifying.length > 0) {
    lines.push(`    ip saddr { ${notifying.join(', ')} } ip daddr ${ipv4ToString(g.internalIp)} udp dport ${g.notifyRelayLo}-${g.notifyRelayHi} counter drop comment "new-mail notifications the daemon relays"`);
  }
  lines.push('  }');
  lines.push('  chain forward {');
  lines.push('    type filter hook forward priority -150; policy accept;');
  if (externals.length > 0) lines.push(`    iifname ${ext} ip daddr { ${externals.join(', ')} } counter drop comment "never routed around the daemon"`);
  if (servers.length > 0) lines.push(`    iifname ${ext} ip daddr { ${servers.join(', ')} } counter drop comment "published servers only through the daemon"`);
  if (notifying.length > 0) lines.push(`    ip saddr { ${notifying.join(', ')} } oifname ${ext} meta l4proto udp counter drop comment "notifications only through the daemon"`);
  lines.push('  }');
  lines.push('}');
  return lines.join('\n') + '\n';
}

export class GuardError extends Error {}

function nft(args: string[], input?: string): { ok: boolean; out: string; err: string } {
  const r = spawnSync('nft', args, { input, encoding: 'utf8', timeout: 10_000 });
  if (r.error) throw new GuardError(`cannot run nft: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message} (install nftables)`);
  return { ok: r.status === 0, out: r.stdout, err: r.stderr.trim() };
}

export function guardExists(): boolean {
  return nft(['list', 'table', GUARD_FAMILY, GUARD_TABLE]).ok;
}

/** Installs (or atomically replaces) the guard table. */
export function installGuard(rules: CompiledRules): void {
  const script = (guardExists() ? `delete table ${GUARD_FAMILY} ${GUARD_TABLE}\n` : '') + guardRuleset(rules);
  const r = nft(['-f', '-'], script);
  if (!r.ok) throw new GuardError(`nft refused the guard table: ${r.err}`);
}

/** Removes the guard table; true if it was there. Never throws (called on the crash path). */
export function removeGuard(): boolean {
  try {
    return nft(['delete', 'table', GUARD_FAMILY, GUARD_TABLE]).ok;
  } catch {
    return false;
  }
}

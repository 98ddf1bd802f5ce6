/**
 * `rpcgw check --rules <file>`: validates a rules file and prints what `rpcgw run` would install
 * (capture filters, nftables guard) without touching the host.
 */
import { ipv4ToString } from '../wire/addr.js';
import { formatProblem } from '../policy/errors.js';
import { INSPECT_KERNEL, INSPECT_NAMES, KERNEL_MODE_GIVES_UP, LOOKUP_NAMES } from '../policy/compiled.js';
import { captureFilters } from '../dataplane/bpf.js';
import { guardRuleset } from '../dataplane/kernel-guard.js';
import { localPortRange, ownedRanges } from '../dataplane/port-reserve.js';
import { readRulesFile } from './rules-file.js';

export function runCheck(file: string, write: (line: string) => void): void {
  const { rules, warnings } = readRulesFile(file);
  const g = rules.gateway;
  write(`${file}: valid, ${rules.rules.length} rule(s), ${rules.rules.filter((r) => r.enabled).length} enabled`);
  for (const w of warnings) write(`warning: ${formatProblem(w)}`);
  write('');
  write(`external: ${g.externalInterface} ${ipv4ToString(g.externalIp)}    internal: ${g.internalInterface} ${ipv4ToString(g.internalIp)}`);
  for (const r of rules.rules) {
    const ifs = r.anyInterface ? 'any interface' : r.ifLabel.join(', ');
    write(
      `rule ${r.name}${r.enabled ? '' : ' (disabled)'}: ${ipv4ToString(r.externalIp)}:135 -> ${ipv4ToString(r.serverIp)}:135, mapped ports ${r.portLo}-${r.portHi}, ` +
        `${ifs}; lookup ${LOOKUP_NAMES[r.lookup]}, pinhole ${r.pinholeTimeoutMs / 1000}s, idle ${r.idleTimeoutMs / 1000}s, ` +
        `mappedInspection ${INSPECT_NAMES[r.mappedInspection]}`,
    );
    if (r.mappedInspection === INSPECT_KERNEL) write(`  kernel mode: ${KERNEL_MODE_GIVES_UP}`);
  }
  const f = captureFilters(rules);
  write('');
  write('capture filters (libpcap):');
  write(`  ${g.externalInterface}: ${f.external}`);
  write(`  ${g.internalInterface}: ${f.internal}`);
  write('');
  write('kernel guard (nftables):');
  for (const line of guardRuleset(rules).trimEnd().split('\n')) write(`  ${line}`);
  // Read-only look at this host's ephemeral range: what `rpcgw run` would reserve here.
  const local = localPortRange();
  write('');
  write(`ports the daemon owns (this host's net.ipv4.ip_local_port_range: ${local === null ? 'unknown' : `${local[0]}-${local[1]}`}):`);
  for (const o of ownedRanges(rules)) {
    const overlaps = local !== null && o.lo <= local[1] && o.hi >= local[0];
    write(`  ${o.what} ${o.lo}-${o.hi}: ${local === null ? '?' : overlaps ? 'overlaps, reserved in net.ipv4.ip_local_reserved_ports while running' : 'outside'}`);
  }
}

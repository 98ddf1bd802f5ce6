/**
 * `rpcgw check --rules <file> [--json]`: validates a rules file and prints what `rpcgw run` would
 * install (capture filters, nftables guard) without touching the host. `--json` gives tools one
 * object: every problem located (file, line, column, JSON path, rule), errors and warnings.
 */
import { cidr4ToString, ipv4ToString } from '../wire/addr.js';
import { formatProblem } from '../policy/errors.js';
import { INSPECT_KERNEL, INSPECT_NAMES, KERNEL_MODE_GIVES_UP, LOOKUP_NAMES } from '../policy/compiled.js';
import { captureFilters } from '../dataplane/bpf.js';
import { guardRuleset } from '../dataplane/kernel-guard.js';
import { localPortRange, ownedRanges } from '../dataplane/port-reserve.js';
import { readRulesFile } from './rules-file.js';
import { RulesError, type RuleProblem } from '../policy/errors.js';
import type { CompiledRules } from '../policy/compiled.js';
import { EXIT_DATAERR } from './errors.js';
import type { HttpsCheck } from '../https/check.js';

/** Ranges the daemon owns that this host's ephemeral range overlaps (read-only look at /proc/sys). */
function ephemeralOverlaps(rules: CompiledRules): { what: string; lo: number; hi: number; local: string }[] {
  const local = localPortRange();
  if (local === null) return [];
  return ownedRanges(rules).filter((o) => o.lo <= local[1] && o.hi >= local[0]).map((o) => ({ ...o, local: `${local[0]}-${local[1]}` }));
}

function overlapWarning(o: { what: string; lo: number; hi: number; local: string }): string {
  return `${o.what} ${o.lo}-${o.hi} overlaps this host's net.ipv4.ip_local_port_range ${o.local}: rpcgw run reserves it in ` +
    'net.ipv4.ip_local_reserved_ports while running (and refuses to start where /proc/sys is read-only); a range outside avoids that';
}

/** The HTTPS sections' files; their checker (crypto, tls, bcryptjs) is loaded only when there are some (start-up). */
async function httpsFiles(h: CompiledRules['https']): Promise<HttpsCheck> {
  if (h === undefined || h.listeners.length + h.rpcOverHttp.length + h.webPublishing.length === 0) return { errors: [], warnings: [], info: [] };
  const { checkHttpsFiles } = await import('../https/check.js');
  return checkHttpsFiles(h, Date.now());
}

function problemJson(severity: 'error' | 'warning', p: RuleProblem): Record<string, unknown> {
  return { severity, file: p.file, line: p.line ?? null, column: p.column ?? null, path: p.path, rule: p.rule ?? null, message: p.message };
}

/** `check --json`: one JSON object; exit 65 when the file is invalid. */
async function checkJson(file: string, write: (line: string) => void): Promise<number> {
  try {
    const { rules, warnings } = readRulesFile(file);
    const files = await httpsFiles(rules.https);
    write(JSON.stringify({
      file, valid: files.errors.length === 0, rules: rules.rules.length, enabled: rules.rules.filter((r) => r.enabled).length,
      problems: warnings.map((w) => problemJson('warning', w)),
      portRangeOverlaps: ephemeralOverlaps(rules).map((o) => ({ ...o, warning: overlapWarning(o) })),
      // Certificates, keys, users and CA files of the HTTPS sections (not located in the rules file).
      httpsFiles: { errors: files.errors, warnings: files.warnings },
    }));
    return files.errors.length > 0 ? EXIT_DATAERR : 0;
  } catch (e) {
    if (!(e instanceof RulesError)) throw e;
    write(JSON.stringify({ file, valid: false, problems: e.problems.map((p) => problemJson('error', p)) }));
    return EXIT_DATAERR;
  }
}

export async function runCheck(file: string, write: (line: string) => void, opts: { json?: boolean } = {}): Promise<number> {
  if (opts.json === true) return checkJson(file, write);
  const { rules, warnings } = readRulesFile(file);
  const g = rules.gateway;
  write(`${file}: valid, ${rules.rules.length} rule(s), ${rules.rules.filter((r) => r.enabled).length} enabled`);
  for (const w of warnings) write(`warning: ${formatProblem(w)}`);
  for (const o of ephemeralOverlaps(rules)) write(`warning: ${overlapWarning(o)}`);
  const files = await httpsFiles(rules.https);
  for (const w of files.warnings) write(`warning: ${w}`);
  for (const e of files.errors) write(`error: ${e}`);
  write('');
  write(`external: ${g.externalInterface} ${ipv4ToString(g.externalIp)}    internal: ${g.internalInterface} ${ipv4ToString(g.internalIp)}`);
  for (const r of rules.rules) {
    const ifs = r.anyInterface ? 'any interface' : r.ifLabel.join(', ');
    if (r.outbound) {
      const nets = (net: Uint32Array, mask: Uint32Array): string => [...net].map((n, i) => cidr4ToString(n, mask[i]!)).join(' ');
      write(
        `rule ${r.name}${r.enabled ? '' : ' (disabled)'}: outbound, clients ${nets(r.clientNet, r.clientMask)} -> servers ${nets(r.serverNet, r.serverMask)}:135 ` +
          `from ${ipv4ToString(r.externalIp)}:${g.natPortLo}-${g.natPortHi}, ${ifs}; pinhole ${r.pinholeTimeoutMs / 1000}s, idle ${r.idleTimeoutMs / 1000}s`,
      );
      continue;
    }
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
  if (rules.rules.some((r) => r.enabled && r.mappedInspection === INSPECT_KERNEL)) {
    write('  # kernel rules: rpcgw run also adds flowtable ft (where this kernel has flowtables) and, on the interfaces where it');
    write('  # turns IPv4 forwarding on, a drop of everything else forwarded from them; pinholes are elements of map kpin');
  }
  // Read-only look at this host's ephemeral range: what `rpcgw run` would reserve here.
  const local = localPortRange();
  write('');
  write(`ports the daemon owns (this host's net.ipv4.ip_local_port_range: ${local === null ? 'unknown' : `${local[0]}-${local[1]}`}):`);
  for (const o of ownedRanges(rules)) {
    const overlaps = local !== null && o.lo <= local[1] && o.hi >= local[0];
    write(`  ${o.what} ${o.lo}-${o.hi}: ${local === null ? '?' : overlaps ? 'overlaps, reserved in net.ipv4.ip_local_reserved_ports while running' : 'outside'}`);
  }
  if (files.info.length > 0) {
    write('');
    write('HTTPS (certificates, users, RPC over HTTP, web publishing):');
    for (const i of files.info) write(`  ${i}`);
  }
  // A certificate that does not match its key, or a missing file, would stop `rpcgw run` from starting.
  return files.errors.length > 0 ? EXIT_DATAERR : 0;
}

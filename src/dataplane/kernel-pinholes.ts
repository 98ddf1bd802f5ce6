/**
 * Kernel pinholes for `mappedInspection: "kernel"` rules: the daemon keeps the endpoint mapper;
 * each tower it rewrites becomes an element of one nftables map in the guard's own table, and
 * the kernel carries the client's connection to the mapped port with no further inspection:
 *
 *   map kpin   (client . external address . mapped port) : (server . real port), flags timeout
 *              one element per pinhole, its timeout the rule's pinholeTimeoutSeconds; the guard's
 *              rule count does not change per pinhole (the repair check counts rules only)
 *   prerouting (nat, dstnat) from the external interface: DNAT through @kpin; no element, no
 *              DNAT: the packet goes on to the guard's input drop (no pinhole for that client)
 *   postrouting (nat, srcnat) to the internal interface: SNAT of those connections to
 *              gateway.internal.address (the server needs no route to clients), source ports
 *              from gateway.kernelNatPorts: never the daemon's natPorts, whose answers its
 *              capture takes and whose tuples conntrack does not know (the daemon injects)
 *   forward    per kernel rule: its connections accepted (and counted), put in flowtable @ft
 *              when the kernel has flowtables; then, on the interfaces where rpcgw itself turned
 *              IPv4 forwarding on, everything else forwarded is dropped
 *
 * A connection is identified by its conntrack original tuple (external address, mapped port
 * range), so the chains hold one rule per kernel rule, not per pinhole. Established connections
 * live in conntrack past the pinhole's expiry, like the daemon's own mapped connections do.
 *
 * Host settings made for kernel mode, each restored on stop: net.ipv4.conf.<if>.forwarding on
 * the two gateway interfaces (not the host-wide ip_forward), net.netfilter.nf_conntrack_acct (per-rule
 * byte counters from conntrack).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { ipv4ToString, parseIpv4 } from '../wire/addr.js';
import { INSPECT_KERNEL, type CompiledRule, type CompiledRules } from '../policy/compiled.js';
import type { KernelPinholeEnds } from '../engine/kernel-handoff.js';

export const KPIN_MAP = 'kpin';
export const KPIN_FLOWTABLE = 'ft';

/** Enabled rules in kernel mode. */
export function kernelRules(rules: CompiledRules): CompiledRule[] {
  return rules.rules.filter((r) => r.enabled && r.mappedInspection === INSPECT_KERNEL);
}

export interface KernelTableOptions {
  /** The kernel has nftables flowtables (CONFIG_NF_FLOW_TABLE): established flows are offloaded to @ft. */
  flowtable: boolean;
  /** Interfaces on which rpcgw turned IPv4 forwarding on: only kernel pinholes are forwarded from them. */
  forwardingOn: readonly string[];
}

const range = (lo: number, hi: number): string => (lo === hi ? String(lo) : `${lo}-${hi}`);

/** Matches a kernel rule's connections by their conntrack original tuple (after DNAT). */
function connMatch(r: CompiledRule): string {
  return `ct status dnat ct original ip daddr ${ipv4ToString(r.externalIp)} meta l4proto tcp ct original proto-dst ${range(r.portLo, r.portHi)}`;
}

/** Top-level objects of the guard table for kernel rules (none without one). */
export function kernelTableObjects(rules: CompiledRules, opts: KernelTableOptions): string[] {
  const kr = kernelRules(rules);
  if (kr.length === 0) return [];
  const g = rules.gateway;
  const ext = JSON.stringify(g.externalInterface);
  const int = JSON.stringify(g.internalInterface);
  const lines: string[] = [];
  lines.push(`  map ${KPIN_MAP} {`);
  lines.push('    type ipv4_addr . ipv4_addr . inet_service : ipv4_addr . inet_service');
  lines.push('    flags timeout');
  lines.push('  }');
  if (opts.flowtable) {
    lines.push(`  flowtable ${KPIN_FLOWTABLE} {`);
    lines.push('    hook ingress priority filter');
    lines.push(`    devices = { ${ext}, ${int} }`);
    lines.push('    counter');
    lines.push('  }');
  }
  lines.push('  chain prerouting {');
  lines.push('    type nat hook prerouting priority dstnat; policy accept;');
  lines.push(`    iifname ${ext} meta l4proto tcp dnat ip to ip saddr . ip daddr . tcp dport map @${KPIN_MAP} comment "kernel-mode pinholes"`);
  lines.push('  }');
  lines.push('  chain postrouting {');
  lines.push('    type nat hook postrouting priority srcnat; policy accept;');
  for (const r of kr) {
    lines.push(`    oifname ${int} ${connMatch(r)} snat ip to ${ipv4ToString(g.internalIp)}:${range(g.kernelNatPortLo, g.kernelNatPortHi)} comment ${JSON.stringify(`kernel rule ${r.name}`)}`);
  }
  lines.push('  }');
  return lines;
}

/** Rules appended to the guard's forward chain for kernel rules. */
export function kernelForwardRules(rules: CompiledRules, opts: KernelTableOptions): string[] {
  const kr = kernelRules(rules);
  // The drop stays while forwarding is on, even once no rule is "kernel" (a reload) until the
  // daemon has turned forwarding back off.
  const lines = kr.map((r) => `    ${connMatch(r)}${opts.flowtable ? ` flow add @${KPIN_FLOWTABLE}` : ''} counter accept comment ${JSON.stringify(`kernel rule ${r.name}`)}`);
  if (opts.forwardingOn.length > 0) {
    lines.push(`    iifname { ${opts.forwardingOn.map((i) => JSON.stringify(i)).join(', ')} } counter drop comment "${FORWARDING_DROP_COMMENT}"`);
  }
  return lines;
}

const FORWARDING_DROP_COMMENT = 'forwarding is on here for kernel pinholes only';

/**
 * The interfaces whose forwarding a daemon turned on, read from its guard table's listing (the
 * forwarding drop names them): a start that finds the table of a killed daemon turns them off
 * again before removing it, else forwarding would stay on with nothing dropping.
 */
export function forwardingLeftOn(listing: string): string[] {
  const line = listing.split('\n').find((l) => l.includes(FORWARDING_DROP_COMMENT));
  const m = line === undefined ? null : /iifname \{?\s*([^}]*?)\s*\}? counter/.exec(line);
  if (m === null) return [];
  return m[1]!.split(',').map((x) => x.trim().replace(/^"|"$/g, '')).filter((x) => x !== '');
}

/** Turns IPv4 forwarding off on `ifaces` (a killed daemon's leftovers); never throws. */
export function forwardingOff(ifaces: readonly string[]): string[] {
  const done: string[] = [];
  for (const i of ifaces) {
    if (!/^[^/\s]{1,15}$/.test(i)) continue;
    try {
      writeFileSync(`/proc/sys/net/ipv4/conf/${i}/forwarding`, '0');
      done.push(i);
    } catch {
      // the interface is gone
    }
  }
  return done;
}

/** One pinhole the daemon installed. */
export interface KernelPinhole extends KernelPinholeEnds {
  /** Absolute expiry (ms since the epoch), for re-adding after the table was rebuilt. */
  expiresMs: number;
}

const key = (p: { clientIp: number; extIp: number; extPort: number }): string =>
  `${ipv4ToString(p.clientIp)} . ${ipv4ToString(p.extIp)} . ${p.extPort}`;

/** The element text `C . E . P timeout Tms : S . Q`. */
function element(p: KernelPinhole, timeoutMs: number): string {
  return `${key(p)} timeout ${Math.max(1000, Math.ceil(timeoutMs))}ms : ${ipv4ToString(p.serverIp)} . ${p.serverPort}`;
}

/**
 * Installs a pinhole. `fresh` (the daemon has no such element): a plain add. Otherwise a refresh
 * as one transaction: add (a no-op if it exists), delete, add — so an existing element gets the
 * new timeout and target, and one that expired meanwhile is simply added. (The refresh costs
 * the kernel about three times the add: measured in bench/ nft-channel.)
 */
export function pinholeCommand(table: string, p: KernelPinhole, timeoutMs: number, fresh = false): string {
  const m = `inet ${table} ${KPIN_MAP}`;
  if (fresh) return `add element ${m} { ${element(p, timeoutMs)} }`;
  return `add element ${m} { ${element(p, timeoutMs)} }; delete element ${m} { ${key(p)} }; add element ${m} { ${element(p, timeoutMs)} }`;
}

/** `add element` lines restoring `pinholes` after the table was rebuilt (reload, repair). */
export function pinholeRestoreScript(table: string, pinholes: Iterable<KernelPinhole>, nowMs: number): string {
  const out: string[] = [];
  for (const p of pinholes) {
    const left = p.expiresMs - nowMs;
    if (left > 1000) out.push(`add element inet ${table} ${KPIN_MAP} { ${element(p, left)} }`);
  }
  return out.length > 0 ? out.join('\n') + '\n' : '';
}

/** Removes one pinhole (a missing one is fine: it expired). */
export function pinholeDeleteCommand(table: string, p: KernelPinhole): string {
  // add-then-delete: deleting an element that expired meanwhile would fail the transaction.
  return `add element inet ${table} ${KPIN_MAP} { ${element(p, 1000)} }; delete element inet ${table} ${KPIN_MAP} { ${key(p)} }`;
}

/** A pinhole as the kernel lists it. */
export interface ListedPinhole {
  client: string;
  external: string;
  server: string;
  /** Seconds left, as nft reports them. */
  expiresInSeconds: number;
  timeoutSeconds: number;
}

/** The elements of @kpin (`nft -j list map`); [] when there is no such map. */
export function listKernelPinholes(table: string): ListedPinhole[] {
  const r = spawnSync('nft', ['-j', 'list', 'map', 'inet', table, KPIN_MAP], { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status !== 0) return [];
  return parsePinholeListing(r.stdout);
}

/** Parses `nft -j list map` output (exported for tests). */
export function parsePinholeListing(json: string): ListedPinhole[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return [];
  }
  const out: ListedPinhole[] = [];
  const items = (doc as { nftables?: unknown[] }).nftables ?? [];
  for (const it of items) {
    const map = (it as { map?: { elem?: unknown[] } }).map;
    for (const e of map?.elem ?? []) {
      // [ { elem: { val: { concat: [C, E, P] }, timeout, expires } }, { concat: [S, Q] } ]
      const [k, v] = e as [{ elem?: { val?: { concat?: unknown[] }; timeout?: number; expires?: number } }, { concat?: unknown[] }];
      const kc = k?.elem?.val?.concat;
      const vc = v?.concat;
      if (!Array.isArray(kc) || kc.length !== 3 || !Array.isArray(vc) || vc.length !== 2) continue;
      out.push({
        client: String(kc[0]), external: `${String(kc[1])}:${String(kc[2])}`, server: `${String(vc[0])}:${String(vc[1])}`,
        expiresInSeconds: Number(k.elem?.expires ?? 0), timeoutSeconds: Number(k.elem?.timeout ?? 0),
      });
    }
  }
  return out;
}

/** Packets and bytes per kernel rule. */
export type KernelRuleCounters = Map<string, { packets: number; bytes: number }>;

/**
 * The per-rule counters of the forward accepts (`nft -j list chain`): every forwarded packet of
 * the rule's connections, both ways — all of them without a flowtable, the packets before a flow
 * is offloaded with one. Empty when the table or nft is missing.
 */
export function kernelRuleCounters(table: string): KernelRuleCounters {
  const out: KernelRuleCounters = new Map();
  const r = spawnSync('nft', ['-j', 'list', 'chain', 'inet', table, 'forward'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status !== 0) return out;
  return parseRuleCounters(r.stdout);
}

/** Parses `nft -j list chain` output into counters by "kernel rule NAME" comment (exported for tests). */
export function parseRuleCounters(json: string): KernelRuleCounters {
  const out: KernelRuleCounters = new Map();
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return out;
  }
  for (const it of (doc as { nftables?: unknown[] }).nftables ?? []) {
    const rule = (it as { rule?: { comment?: string; expr?: unknown[] } }).rule;
    const m = /^kernel rule (.+)$/.exec(rule?.comment ?? '');
    if (m === null) continue;
    for (const e of rule?.expr ?? []) {
      const c = (e as { counter?: { packets?: number; bytes?: number } }).counter;
      if (c === undefined) continue;
      const prev = out.get(m[1]!) ?? { packets: 0, bytes: 0 };
      out.set(m[1]!, { packets: prev.packets + Number(c.packets ?? 0), bytes: prev.bytes + Number(c.bytes ?? 0) });
    }
  }
  return out;
}

/** A kernel-mode connection as conntrack lists it. */
export interface KernelConnection {
  rule: string;
  state: string;
  client: string;
  external: string;
  server: string;
  packets: number;
  bytes: number;
}

const CT_LINE = /^(?:ipv4\s+2\s+)?tcp\s+6\s+\d+\s+(\S+)\s+src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)(?: packets=(\d+) bytes=(\d+))?\s+(?:\[\w+\]\s+)?src=(\S+) dst=\S+ sport=(\d+) dport=\d+(?: packets=(\d+) bytes=(\d+))?/;

/** Parses `conntrack -L -p tcp` lines into the kernel rules' connections (exported for tests). */
export function parseConntrack(text: string, rules: CompiledRules): KernelConnection[] {
  const kr = kernelRules(rules);
  const out: KernelConnection[] = [];
  for (const line of text.split('\n')) {
    const m = CT_LINE.exec(line.trim());
    if (m === null) continue;
    const ext = parseIpv4(m[3]!);
    const port = Number(m[5]);
    const r = kr.find((x) => x.externalIp === ext && port >= x.portLo && port <= x.portHi);
    if (r === undefined) continue;
    out.push({
      rule: r.name, state: m[1]!, client: `${m[2]}:${m[4]}`, external: `${m[3]}:${port}`, server: `${m[8]}:${m[9]}`,
      packets: Number(m[6] ?? 0) + Number(m[10] ?? 0), bytes: Number(m[7] ?? 0) + Number(m[11] ?? 0),
    });
  }
  return out;
}

/** The kernel rules' connections now in conntrack (empty when conntrack is not installed). Admin path: synchronous. */
export function listKernelConnections(rules: CompiledRules): KernelConnection[] {
  if (kernelRules(rules).length === 0) return [];
  const r = spawnSync('conntrack', ['-L', '-p', 'tcp'], { encoding: 'utf8', timeout: 10_000, maxBuffer: 64 << 20 });
  return r.error ? [] : parseConntrack(r.stdout, rules);
}

/**
 * Deletes the conntrack entries of kernel connections matching `filter` (stop, flush): one
 * `conntrack -D` per (client, external port), synchronous (stop path). Returns how many were deleted.
 */
export function deleteKernelConnections(rules: CompiledRules, filter: (c: KernelConnection) => boolean): number {
  const r = spawnSync('conntrack', ['-L', '-p', 'tcp'], { encoding: 'utf8', timeout: 10_000, maxBuffer: 64 << 20 });
  if (r.error) return 0;
  const conns = parseConntrack(r.stdout, rules).filter(filter);
  const done = new Set<string>();
  let n = 0;
  for (const c of conns) {
    const [cip] = c.client.split(':');
    const [eip, eport] = c.external.split(':');
    const k = `${cip} ${c.external}`;
    if (done.has(k)) continue;
    done.add(k);
    const d = spawnSync('conntrack', ['-D', '-p', 'tcp', '--orig-src', cip!, '--orig-dst', eip!, '--dport', eport!], { encoding: 'utf8', timeout: 10_000 });
    const m = /(\d+) flow entries have been deleted/.exec(d.stderr ?? '');
    n += m ? Number(m[1]) : 0;
  }
  return n;
}

/**
 * Whether this kernel takes an nftables flowtable on these interfaces (CONFIG_NF_FLOW_TABLE):
 * tried on a throw-away table.
 */
export function flowtableSupported(ifaces: readonly string[]): boolean {
  const t = 'rpcgw-probe';
  const script = `table inet ${t} {\n  flowtable ft {\n    hook ingress priority filter\n    devices = { ${ifaces.map((i) => JSON.stringify(i)).join(', ')} }\n  }\n}\n`;
  const r = spawnSync('nft', ['-f', '-'], { input: script, encoding: 'utf8', timeout: 10_000 });
  spawnSync('nft', ['delete', 'table', 'inet', t], { timeout: 10_000 });
  return !r.error && r.status === 0;
}

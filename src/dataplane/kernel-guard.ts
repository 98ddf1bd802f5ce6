/**
 * The kernel guard: an nftables table of rpcgw's own, so the gateway's kernel neither answers
 * (no RST from a stack with no listener on 135 or the mapped ports) nor forwards what the daemon
 * handles — and nothing else of the host's traffic:
 *   input    clients' TCP to 135 and each rule's mapped range on each published address;
 *            the published servers' TCP to the internal address on gateway.natPorts only (the
 *            daemon's own NAT source ports; the gateway's own connections use other ports);
 *            notifying servers' UDP to the notification relay ports
 *   forward  the same published ports when the published address is not local (routed);
 *            clients' TCP to a published server's endpoint mapper (no way around the EPM
 *            policy); a server's UDP to the notification ports of rules whose encrypted
 *            registrations are relayed by pinhole (the daemon sends them, the kernel must not
 *            send a second copy)
 * The server's other traffic (OWA/SMTP port-forwards, its DNS and mail out) is left alone.
 * Kernel-mode rules add their pinhole map, NAT chains and forward accepts to the same table
 * (kernel-pinholes.ts); pinholes are map elements, so the rule count the watch checks stays fixed.
 * Installed on start, repaired when it disappears, removed on stop and on the crash path;
 * `rpcgw check` prints it.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { ipv4ToString } from '../wire/addr.js';
import { NOTIFY_PINHOLE, type CompiledRules } from '../policy/compiled.js';
import { kernelForwardRules, kernelTableObjects, type KernelTableOptions } from './kernel-pinholes.js';
import { netsCidrs } from './bpf.js';

export const GUARD_TABLE = 'rpcgw';
export const GUARD_FAMILY = 'inet';

const range = (lo: number, hi: number): string => (lo === hi ? String(lo) : `${lo}-${hi}`);

/** Port ranges grouped by address in first-seen order, each group starting with `first`. */
function rangesBy<K>(entries: readonly (readonly [K, string])[], first: readonly string[] = []): Map<K, Set<string>> {
  const out = new Map<K, Set<string>>();
  for (const [k, r] of entries) {
    let set = out.get(k);
    if (set === undefined) out.set(k, (set = new Set(first)));
    set.add(r);
  }
  return out;
}

/** `{ a/len, b/len }` of a compiled net/mask list; '' when one of them is everything (no match needed). */
function netsSet(net: Uint32Array, mask: Uint32Array): string {
  const cidrs = netsCidrs(net, mask);
  return cidrs === null ? '' : `{ ${cidrs.join(', ')} }`;
}

/** Without kernel-mode rules (or before the host was probed): no flowtable, forwarding untouched. */
export const NO_KERNEL_OPTIONS: KernelTableOptions = { flowtable: false, forwardingOn: [] };

/** The nft script of the guard (a whole table; `nft -f` applies it atomically). */
export function guardRuleset(rules: CompiledRules, kernel: KernelTableOptions = NO_KERNEL_OPTIONS): string {
  const g = rules.gateway;
  const enabled = rules.rules.filter((r) => r.enabled && !r.outbound);
  const outbound = rules.rules.some((r) => r.enabled && r.outbound);
  const portsByExternal = rangesBy(enabled.map((r) => [r.externalIp, range(r.portLo, r.portHi)]), ['135']);
  const servers = [...new Set(enabled.map((r) => ipv4ToString(r.serverIp)))];
  const ext = JSON.stringify(g.externalInterface);
  const internal = ipv4ToString(g.internalIp);
  const lines: string[] = [];
  lines.push(`table ${GUARD_FAMILY} ${GUARD_TABLE} {`);
  lines.push(`  comment "rpcgw kernel guard: the daemon answers and forwards these packets itself"`);
  lines.push(...kernelTableObjects(rules, kernel));
  lines.push('  chain input {');
  lines.push('    type filter hook input priority -150; policy accept;');
  for (const [ip, ports] of portsByExternal) {
    lines.push(`    ip daddr ${ipv4ToString(ip)} tcp dport { ${[...ports].join(', ')} } counter drop comment "clients to published ports"`);
  }
  if (servers.length > 0) {
    lines.push(`    ip saddr { ${servers.join(', ')} } ip daddr ${internal} tcp dport ${range(g.natPortLo, g.natPortHi)} counter drop comment "published servers to the daemon's NAT source ports (gateway.natPorts)"`);
  }
  if (outbound) {
    // Else the host answers the servers of outbound connections with a RST (no socket there).
    lines.push(`    ip daddr ${ipv4ToString(g.externalIp)} tcp dport ${range(g.natPortLo, g.natPortHi)} counter drop comment "outbound connections' servers to the daemon's NAT source ports (gateway.natPorts)"`);
    if (rules.rules.some((r) => r.enabled && r.outbound && r.notifications)) {
      lines.push(`    ip daddr ${ipv4ToString(g.externalIp)} udp dport ${range(g.notifyRelayLo, g.notifyRelayHi)} counter drop comment "outbound connections' new-mail notifications the daemon relays"`);
    }
  }
  const notifying = [...new Set(enabled.filter((r) => r.notifications).map((r) => ipv4ToString(r.serverIp)))];
  if (notifying.length > 0) {
    lines.push(`    ip saddr { ${notifying.join(', ')} } ip daddr ${internal} udp dport ${range(g.notifyRelayLo, g.notifyRelayHi)} counter drop comment "new-mail notifications the daemon relays"`);
  }
  lines.push('  }');
  lines.push('  chain forward {');
  lines.push('    type filter hook forward priority -150; policy accept;');
  for (const [ip, ports] of portsByExternal) {
    lines.push(`    iifname ${ext} ip daddr ${ipv4ToString(ip)} tcp dport { ${[...ports].join(', ')} } counter drop comment "published ports never routed around the daemon"`);
  }
  if (servers.length > 0) {
    lines.push(`    iifname ${ext} ip daddr { ${servers.join(', ')} } tcp dport 135 counter drop comment "published endpoint mappers only through the daemon"`);
  }
  for (const r of rules.rules) {
    if (!r.enabled || !r.outbound) continue;
    const clients = netsSet(r.clientNet, r.clientMask);
    const servers = netsSet(r.serverNet, r.serverMask);
    lines.push(`    iifname ${JSON.stringify(g.internalInterface)}${clients === '' ? '' : ` ip saddr ${clients}`}${servers === '' ? '' : ` ip daddr ${servers}`} tcp dport 135 counter drop comment "outbound endpoint mappers only through the daemon"`);
  }
  const pinholeRanges = rangesBy(
    enabled.filter((r) => r.notifications && r.notificationsWhenEncrypted === NOTIFY_PINHOLE).map((r) => [ipv4ToString(r.serverIp), range(r.notifyPortLo, r.notifyPortHi)]),
  );
  for (const [s, ports] of pinholeRanges) {
    lines.push(`    ip saddr ${s} oifname ${ext} udp dport { ${[...ports].join(', ')} } counter drop comment "encrypted sessions' notifications only through the daemon"`);
  }
  lines.push(...kernelForwardRules(rules, kernel));
  lines.push('  }');
  lines.push('}');
  return lines.join('\n') + '\n';
}

/** How many rules the guard has: a listing with fewer was tampered with (e.g. `nft flush table`). */
function ruleCount(script: string): number {
  // Listed rules read "counter packets N bytes M drop" (or accept, dnat, snat); no comment says
  // these words, and map elements (pinholes) carry none of them.
  return script.split('\n').filter((l) => /\s(drop|accept|dnat ip to|snat ip to)(\s|$)/.test(l) && !/\spolicy accept;/.test(l)).length;
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

/** The guard table as nft lists it ('' when there is none). */
export function guardListing(): string {
  const r = nft(['list', 'table', GUARD_FAMILY, GUARD_TABLE]);
  return r.ok ? r.out : '';
}

/**
 * Installs (or atomically replaces) the guard table; `elements` (nft lines, e.g. the kernel
 * pinholes still alive) are added in the same transaction.
 */
export function installGuard(rules: CompiledRules, kernel: KernelTableOptions = NO_KERNEL_OPTIONS, elements = ''): void {
  const script = (guardExists() ? `delete table ${GUARD_FAMILY} ${GUARD_TABLE}\n` : '') + guardRuleset(rules, kernel) + elements;
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

/** What the watch found and did, for the log and the metrics. */
export interface GuardRepair {
  /** 'missing': the table was gone; 'altered': it had fewer rules than installed. */
  found: 'missing' | 'altered';
  /** Reinstalled; false with `error` when nft refused. */
  repaired: boolean;
  error?: string;
}

/**
 * Keeps the guard table in place against `nft flush ruleset`, `systemctl restart nftables`, an
 * admin's `nft -f` that starts with `flush ruleset`. Two triggers: an `nft monitor tables`
 * child reports the table's deletion as it happens (repaired in milliseconds, before the kernel
 * has reset many of the daemon's connections), and a check every `intervalMs` catches what the
 * monitor cannot (it died, or the table's rules were flushed but not the table). Each check is
 * one `nft list table` process, run asynchronously so the capture loop is not blocked; the
 * reinstall (rare) is synchronous.
 */
export class GuardWatch {
  private timer: NodeJS.Timeout | null = null;
  private monitor: ChildProcess | null = null;
  private busy = false;
  private again = false;
  private expectedRules: number;

  constructor(
    private rules: CompiledRules,
    private readonly onRepair: (r: GuardRepair) => void,
    private readonly intervalMs = 1000,
    /** Kernel-mode options and the pinhole elements to put back with a reinstalled table. */
    private readonly kernel: () => { options: KernelTableOptions; elements: string } = () => ({ options: NO_KERNEL_OPTIONS, elements: '' }),
  ) {
    this.expectedRules = ruleCount(guardRuleset(rules, kernel().options));
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.check(), this.intervalMs);
    this.timer.unref();
    try {
      // Through a shell that ends the monitor when our end of its stdin closes: on stop, and when
      // the daemon is killed outright (no orphaned nft left in the namespace).
      const m = spawn('sh', ['-c', 'nft monitor tables & p=$!; read _; kill $p'], { stdio: ['pipe', 'pipe', 'ignore'] });
      m.on('error', () => {}); // no shell or nft: the periodic check still runs
      m.stdin.on('error', () => {});
      m.stdout.setEncoding('utf8');
      m.stdout.on('data', (text: string) => {
        if (text.includes(`delete table ${GUARD_FAMILY} ${GUARD_TABLE}`)) this.check();
      });
      m.unref();
      this.monitor = m;
    } catch {
      this.monitor = null;
    }
  }

  /** The rules the guard was reinstalled for (SIGHUP). */
  update(rules: CompiledRules): void {
    this.rules = rules;
    this.expectedRules = ruleCount(guardRuleset(rules, this.kernel().options));
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.monitor?.stdin?.end();
    this.monitor = null;
  }

  private check(): void {
    if (this.busy) {
      this.again = true; // a listing already running may predate the change: look once more after it
      return;
    }
    this.busy = true;
    execFile('nft', ['list', 'table', GUARD_FAMILY, GUARD_TABLE], { timeout: 5000 }, (err, stdout) => {
      this.busy = false;
      if (this.timer === null) return; // stopped meanwhile: the table is being removed on purpose
      if (this.again) {
        this.again = false;
        setImmediate(() => this.check());
      }
      const e = err as (NodeJS.ErrnoException & { killed?: boolean }) | null;
      if (e !== null && (e.code === 'ENOENT' || e.killed === true)) return; // nft missing or hung: nothing to conclude
      let found: GuardRepair['found'] | null = null;
      if (e !== null) found = 'missing';
      else if (ruleCount(String(stdout)) < this.expectedRules) found = 'altered';
      if (found === null) return;
      try {
        const k = this.kernel();
        installGuard(this.rules, k.options, k.elements);
        this.onRepair({ found, repaired: true });
      } catch (x) {
        this.onRepair({ found, repaired: false, error: (x as Error).message });
      }
    });
  }
}

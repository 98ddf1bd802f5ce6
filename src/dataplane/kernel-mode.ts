/**
 * The daemon's side of `mappedInspection: "kernel"`: answers the engine's pinhole requests
 * through the nft channel (releasing the held ept_map answer on the kernel's acknowledgment),
 * remembers the pinholes it installed (so a guard table rebuilt by a reload or a repair gets
 * them back), lists and flushes them with their conntrack entries, and owns the host settings
 * kernel mode needs:
 *   - net.ipv4.conf.<if>.forwarding on the two gateway interfaces only, where it was off (the
 *     guard then drops everything else forwarded from them), restored on stop;
 *   - net.netfilter.nf_conntrack_acct, so conntrack reports bytes and packets per connection.
 * With no kernel rule nothing here touches the host.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Engine } from '../engine/engine.js';
import type { KernelPinholeRequest, KernelPinholeSink } from '../engine/kernel-handoff.js';
import type { CompiledRules } from '../policy/compiled.js';
import { ipv4ToString, parseIpv4 } from '../wire/addr.js';
import { GUARD_TABLE, installGuard } from './kernel-guard.js';
import {
  deleteKernelConnections, flowtableSupported, kernelRuleCounters, kernelRules, listKernelConnections, listKernelPinholes, pinholeCommand, pinholeDeleteCommand,
  pinholeRestoreScript, type KernelConnection, type KernelPinhole, type KernelRuleCounters, type KernelTableOptions, type ListedPinhole,
} from './kernel-pinholes.js';
import { NftChannel } from './nft-channel.js';

/** A /proc/sys file and the value to put back. */
interface Saved {
  path: string;
  before: string;
}

function readProc(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

/** Install latencies kept for the percentiles (a ring). */
const LATENCY_SAMPLES = 1024;

export interface KernelModeCounters {
  pinholesInstalled: number;
  pinholesFailed: number;
  /** Install latency percentiles over the last LATENCY_SAMPLES, ms (0 before any). */
  installP50Ms: number;
  installP99Ms: number;
}

export type KernelLog = (level: 'info' | 'warn' | 'error', rec: Record<string, unknown>, msg: string) => void;

export class KernelMode {
  readonly channel: NftChannel;
  /** What the guard table is built with (flowtable found, forwarding turned on by us). */
  options: KernelTableOptions = { flowtable: false, forwardingOn: [] };
  private engine: Engine | null = null;
  private readonly pinholes = new Map<string, KernelPinhole>();
  private readonly saved: Saved[] = [];
  private readonly latency = new Float64Array(LATENCY_SAMPLES);
  private latencyCount = 0;
  private installed = 0;
  private failed = 0;
  private probed = false;

  /** Hands requests to the channel; the engine calls it during onPacket. */
  readonly sink: KernelPinholeSink = { wanted: (req) => this.wanted(req) };

  constructor(
    private rules: CompiledRules,
    private readonly log: KernelLog,
    private readonly table = GUARD_TABLE,
  ) {
    this.channel = new NftChannel({ onTrouble: (m) => this.log('warn', { event: 'nft-channel', problem: m }, `nftables channel: ${m}`) });
  }

  get active(): boolean {
    return kernelRules(this.rules).length > 0;
  }

  attach(engine: Engine): void {
    this.engine = engine;
  }

  /**
   * Decides the guard table's kernel options for the current rules: flowtable support, and which
   * of the two interfaces forward only because of us. Call before installing the guard.
   */
  plan(): KernelTableOptions {
    if (!this.active) return this.options;
    const g = this.rules.gateway;
    const ifaces = [g.externalInterface, g.internalInterface];
    if (!this.probed) {
      this.probed = true;
      const flowtable = flowtableSupported(ifaces);
      const forwardingOn = ifaces.filter((i) => readProc(`/proc/sys/net/ipv4/conf/${i}/forwarding`) === '0');
      this.options = { flowtable, forwardingOn };
      if (!flowtable) {
        this.log('info', { event: 'kernel-mode', flowtable: false }, 'this kernel has no nftables flowtable (CONFIG_NF_FLOW_TABLE): kernel-mode connections are forwarded by conntrack NAT without offload');
      }
    }
    return this.options;
  }

  /** Turns on what kernel mode needs (after the guard that drops the rest is in place). */
  enableHost(): void {
    if (!this.active) return;
    // Starts the nft child now: its start and first ruleset read (~0.4 s on a loaded machine)
    // would otherwise delay the first client's ept_map answer.
    this.channel.submit(`list map inet ${this.table} kpin`, () => {});
    for (const i of this.options.forwardingOn) this.set(`/proc/sys/net/ipv4/conf/${i}/forwarding`, '1');
    this.set('/proc/sys/net/netfilter/nf_conntrack_acct', '1');
    if (this.options.forwardingOn.length > 0) {
      this.log('info', { event: 'forwarding-on', interfaces: this.options.forwardingOn },
        `IPv4 forwarding turned on for kernel-mode rules on ${this.options.forwardingOn.join(', ')} (restored on stop; the guard drops every other forwarded packet from them)`);
    }
  }

  private set(path: string, value: string): void {
    const before = readProc(path);
    if (before === null) throw new Error(`kernel mode: cannot read ${path}`);
    if (before === value) return;
    try {
      writeFileSync(path, value);
    } catch (e) {
      throw new Error(`kernel mode: cannot write ${value} to ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): "kernel" rules need it; use "full" or run where /proc/sys is writable`);
    }
    this.saved.push({ path, before });
  }

  /**
   * Installs (or replaces) the guard table for `rules` with this mode's options and the
   * pinholes still alive of rules that stay "kernel" in them (start, reload). Call reload(rules)
   * once it succeeded.
   */
  installGuard(rules: CompiledRules): void {
    const before = this.rules;
    this.rules = rules;
    try {
      if (this.active) this.plan();
    } finally {
      this.rules = before;
    }
    const stay = new Set(kernelRules(rules).map((r) => r.name));
    const now = Date.now();
    installGuard(rules, this.options, pinholeRestoreScript(this.table, this.alive(now).filter((p) => stay.has(p.rule)), now));
  }

  /** For GuardWatch: the options and elements to reinstall with. */
  guardExtras(): { options: KernelTableOptions; elements: string } {
    return { options: this.options, elements: pinholeRestoreScript(this.table, this.alive(Date.now()), Date.now()) };
  }

  private alive(nowMs: number): KernelPinhole[] {
    const out: KernelPinhole[] = [];
    for (const [k, p] of this.pinholes) {
      if (p.expiresMs <= nowMs) this.pinholes.delete(k);
      else out.push(p);
    }
    return out;
  }

  private wanted(req: KernelPinholeRequest): void {
    const t0 = performance.now();
    const p: KernelPinhole = {
      rule: req.rule, clientIp: req.clientIp, extIp: req.extIp, extPort: req.extPort, serverIp: req.serverIp, serverPort: req.serverPort,
      expiresMs: Date.now() + req.timeoutMs,
    };
    const k = `${req.clientIp}.${req.extIp}.${req.extPort}`;
    const known = this.pinholes.get(k);
    const fresh = known === undefined || known.expiresMs <= Date.now();
    this.channel.submit(pinholeCommand(this.table, p, req.timeoutMs, fresh), (err) => {
      this.latency[this.latencyCount++ % LATENCY_SAMPLES] = performance.now() - t0;
      if (err === null) {
        this.installed++;
        this.pinholes.set(k, p);
      } else {
        this.failed++;
        this.log('error', { event: 'kernel-pinhole-failed', rule: req.rule, client: ipv4ToString(req.clientIp), external: `${ipv4ToString(req.extIp)}:${req.extPort}`, error: err },
          `nftables refused the pinhole for ${ipv4ToString(req.clientIp)}: ${err}`);
      }
      this.engine?.releaseDeferred(req.token, err, Date.now());
    });
  }

  /**
   * Mappings of kernel rules the engine restored from the state file (a restart): their
   * elements are put back with the time they have left (the guard table was rebuilt).
   */
  adoptRestored(): number {
    if (this.engine === null || !this.active) return 0;
    const kernel = new Map(kernelRules(this.rules).map((r) => [r.name, r]));
    let n = 0;
    const now = Date.now();
    for (const m of this.engine.listMappings(now)) {
      const r = kernel.get(m.rule);
      if (r === undefined || m.expiresInMs === null || m.expiresInMs < 1000) continue;
      const [ext, port] = m.external.split(':');
      const [srv, sport] = m.server.split(':');
      const p: KernelPinhole = {
        rule: m.rule, clientIp: parseIpv4(m.client), extIp: parseIpv4(ext!), extPort: Number(port), serverIp: parseIpv4(srv!), serverPort: Number(sport),
        expiresMs: now + m.expiresInMs,
      };
      if (p.clientIp < 0 || p.extIp < 0 || p.serverIp < 0) continue;
      this.pinholes.set(`${p.clientIp}.${p.extIp}.${p.extPort}`, p);
      this.channel.submit(pinholeCommand(this.table, p, m.expiresInMs), () => {});
      n++;
    }
    return n;
  }

  /**
   * Rules changed: pinholes of rules that are gone or no longer "kernel" are dropped (the
   * rebuilt table does not get them back) with their connections; the others stay.
   */
  reload(rules: CompiledRules): void {
    const names = new Set(kernelRules(rules).map((r) => r.name));
    const old = this.rules;
    const gone = new Set(kernelRules(old).map((r) => r.name).filter((n) => !names.has(n)));
    for (const [k, p] of this.pinholes) if (!names.has(p.rule)) this.pinholes.delete(k);
    if (gone.size > 0) deleteKernelConnections(old, (c) => gone.has(c.rule));
    this.rules = rules;
    if (this.active) {
      this.plan();
      // Kernel rules added by a reload: the host settings they need.
      if (this.saved.length === 0) this.enableHost();
    } else if (this.saved.length > 0) {
      // No kernel rule any more: forwarding (and accounting) back as they were; the next guard
      // install leaves the forwarding drop out, and kernel rules added later probe again.
      this.restoreHost();
      this.options = { flowtable: this.options.flowtable, forwardingOn: [] };
      this.probed = false;
    }
  }

  private restoreHost(): void {
    for (const s of this.saved.splice(0).reverse()) {
      try {
        writeFileSync(s.path, s.before);
      } catch {
        // the interface may be gone
      }
    }
  }

  /**
   * `rpcgw flush [--rule R] [--client IP]` for kernel pinholes and their connections. Resolves once
   * nftables has answered every delete, so what `nft list` shows after the reply is the result.
   */
  async flush(rule: string | null, clientIp: number): Promise<{ pinholes: number; connections: number }> {
    const deletes: Promise<string | null>[] = [];
    for (const [k, p] of this.pinholes) {
      if ((rule !== null && p.rule !== rule) || (clientIp >= 0 && p.clientIp !== clientIp >>> 0)) continue;
      this.pinholes.delete(k);
      deletes.push(this.channel.run(pinholeDeleteCommand(this.table, p)));
    }
    await Promise.all(deletes);
    const client = clientIp >= 0 ? ipv4ToString(clientIp) : null;
    const connections = this.active
      ? deleteKernelConnections(this.rules, (c) => (rule === null || c.rule === rule) && (client === null || c.client.startsWith(`${client}:`)))
      : 0;
    return { pinholes: deletes.length, connections };
  }

  /** The kernel's view: @kpin elements (with the rule that made each) and conntrack's connections. */
  list(): { pinholes: (ListedPinhole & { rule: string })[]; connections: KernelConnection[] } {
    if (!this.active) return { pinholes: [], connections: [] };
    const ruleOf = new Map([...this.pinholes.values()].map((p) => [`${ipv4ToString(p.clientIp)} ${ipv4ToString(p.extIp)}:${p.extPort}`, p.rule]));
    const pinholes = listKernelPinholes(this.table).map((x) => ({ ...x, rule: ruleOf.get(`${x.client} ${x.external}`) ?? '' }));
    return { pinholes, connections: listKernelConnections(this.rules) };
  }

  /** Per kernel rule: forwarded packets and bytes (nft counters of the rule's forward accept). */
  ruleCounters(): KernelRuleCounters {
    return this.active ? kernelRuleCounters(this.table) : new Map();
  }

  /** Pinholes the daemon installed and that have not expired. */
  get pinholeCount(): number {
    return this.alive(Date.now()).length;
  }

  counters(): KernelModeCounters {
    const n = Math.min(this.latencyCount, LATENCY_SAMPLES);
    const s = Array.from(this.latency.subarray(0, n)).sort((a, b) => a - b);
    const pct = (q: number): number => (n === 0 ? 0 : s[Math.min(n - 1, Math.floor(q * n))]!);
    return { pinholesInstalled: this.installed, pinholesFailed: this.failed, installP50Ms: pct(0.5), installP99Ms: pct(0.99) };
  }

  /**
   * Stop: host settings back first (nothing more is forwarded), then — unless the guard and its
   * pinholes are kept for the next start — the kernel rules' conntrack entries. Never throws.
   */
  stop(keepConnections: boolean): void {
    this.channel.close();
    this.restoreHost();
    if (!keepConnections && this.active) {
      try {
        deleteKernelConnections(this.rules, () => true);
      } catch {
        // conntrack missing: the entries time out on their own
      }
    }
  }
}

/**
 * `rpcgw run --rules <file>`: the daemon. Start-up either completes (capture on both interfaces,
 * kernel guard installed, admin socket and metrics listening, a `ready` record logged) or fails
 * with one clear reason and leaves nothing behind: every step that changed the host is undone
 * in reverse order — on a start-up failure, on SIGTERM/SIGINT, and on the crash path.
 * `rpcgw reload` (admin socket) and SIGHUP reload the rules; an invalid file, or a change a
 * reload cannot apply, is refused with located errors and the old rules stay in force. The
 * admin socket is bound first: it is the instance lock. A failed start is a `start-failed`
 * record as well as a line on stderr; under systemd, READY=1 is sent once everything is up.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type pino from 'pino';
import { ipv4ToString, parseIpv4 } from '../wire/addr.js';
import type { CompiledRules } from '../policy/compiled.js';
import { formatProblem } from '../policy/errors.js';
import { RulesError } from '../policy/load.js';
import { LiveDataplane } from '../dataplane/live.js';
import { captureFilters } from '../dataplane/bpf.js';
import { GUARD_FAMILY, GUARD_TABLE, GuardWatch, guardExists, guardListing, installGuard, removeGuard } from '../dataplane/kernel-guard.js';
import { KernelMode } from '../dataplane/kernel-mode.js';
import { forwardingLeftOn, forwardingOff } from '../dataplane/kernel-pinholes.js';
import { OFFLOAD_REASONS, OFFLOADS_KEPT, disableOffloads, restoreOffloads, type SavedOffloads } from '../dataplane/offloads.js';
import { ownedRanges, releasePorts, reservePorts, type OwnedRange, type Reservation } from '../dataplane/port-reserve.js';
import { EventHub, RuleStats, engineLog } from '../ops/engine-log.js';
import { gatewayRegistry, perRule, serveMetrics, type HostCounters } from '../ops/metrics.js';
import { serveAdmin, type AdminRequest } from '../ops/admin.js';
import { daemonLogger } from '../ops/logger.js';
import { sdNotify } from '../ops/sd-notify.js';
import { readRulesFile } from './rules-file.js';
import { defaultStatePath, readStateFile, retireStateFile, writeStateFile } from '../ops/state-file.js';
import { CliError, EXIT_FAILURE, EXIT_NOPERM, describeError, exitCodeOf } from './errors.js';
import { explainClient, flowStateName, gatewayChanges, httpsChanges, rulesDiff } from './admin-view.js';
import { HttpsFrontend } from '../https/frontend.js';

export interface RunArgs {
  rules: string;
  /**
   * On SIGTERM/SIGINT, once the state file is saved, leave the kernel guard installed for the
   * next start to adopt: during a restart the kernel then drops (and the peers retransmit)
   * instead of answering the carried connections with RST.
   */
  keepGuardOnStop?: boolean;
}

/** A start-up failure with every problem found (all missing interfaces at once). */
export class StartError extends CliError {
  constructor(readonly problems: string[]) {
    super(problems.join('; '), EXIT_FAILURE);
  }
}

/** rpcgw's version, from package.json (two levels above dist/cli and src/cli). */
export function rpcgwVersion(): string {
  try {
    return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** What a reload did, or why it was refused: `rpcgw reload` prints it, the `reload` record carries it. */
export interface ReloadResult {
  ok: boolean;
  file: string;
  /** Refused: every reason (rules problems, gateway changes a reload cannot apply, host failures). */
  problems?: string[];
  rulesAdded?: string[];
  rulesRemoved?: string[];
  rulesChanged?: string[];
  /** Gateway settings applied in place (log level). */
  applied?: string[];
  pinholesKept?: number;
  pinholesDropped?: number;
  connectionsKept?: number;
  connectionsClosed?: number;
  warnings?: string[];
}

/** The `ports-reserved` record of a reservation. */
function reservationRecord(res: Reservation): Record<string, unknown> {
  const fmt = (x: OwnedRange): string => `${x.what} ${x.lo}-${x.hi}`;
  return {
    event: 'ports-reserved', localPortRange: `${res.localRange[0]}-${res.localRange[1]}`, reserved: res.reserved.map(fmt),
    outside: res.outside.map(fmt), before: res.before, after: res.after,
  };
}

export async function runDaemon(args: RunArgs): Promise<number> {
  const log = daemonLogger('info');
  try {
    return await startDaemon(args, log);
  } catch (e) {
    // Any throw is a failed start (after `ready` a crash exits on its own path).
    const problems = e instanceof RulesError ? e.problems.map(formatProblem) : e instanceof StartError ? e.problems : [describeError(e)];
    log.fatal({ event: 'start-failed', rules: args.rules, exitCode: exitCodeOf(e), problems }, `rpcgw did not start: ${problems.join('; ')}`);
    throw e;
  }
}

async function startDaemon(args: RunArgs, log: pino.Logger): Promise<number> {
  const startedMs = Date.now();
  if (process.getuid?.() !== 0) throw new CliError('rpcgw run must run as root (packet capture, raw sockets, nftables, ethtool)', EXIT_NOPERM);
  const loaded = readRulesFile(args.rules);
  let rules = loaded.rules;
  const g = rules.gateway;
  log.level = g.logLevel;
  // Lifecycle records (ready, reload, stopping, stopped) are written whatever level the traffic
  // log is set to: supervisors and administrators wait for them.
  const life = log.child({}, { level: 'info' });
  const missing = [g.externalInterface, g.internalInterface].filter((i) => !existsSync(`/sys/class/net/${i}`));
  if (missing.length > 0) throw new StartError(missing.map((i) => `interface ${i} does not exist (named in ${args.rules})`));
  for (const w of loaded.warnings) log.warn({ event: 'rules-warning', file: args.rules, path: w.path, rule: w.rule }, formatProblem(w));

  // Everything that changed the host, undone in reverse order.
  const undo: { what: string; fn: () => void }[] = [];
  let stopping = false;
  const cleanup = (): void => {
    while (undo.length > 0) {
      const step = undo.pop()!;
      try {
        step.fn();
      } catch (e) {
        log.error({ event: 'cleanup-error', step: step.what, error: describeError(e) }, `cleanup of ${step.what} failed`);
      }
    }
  };

  try {
    // The admin socket is the instance lock: bound before anything on the host is touched.
    let ctx: AdminContext | null = null;
    const admin = await serveAdmin(g.adminSocket, (req) => (ctx === null ? { error: 'rpcgw is starting' } : handleAdmin(ctx, req)));
    undo.push({ what: 'admin socket', fn: () => admin.close() });
    const offloadsChanged: Record<string, string[]> = {};
    const statePath = defaultStatePath(g.adminSocket);
    let saveState = false;
    let guardKept = false;
    if (guardExists() && args.keepGuardOnStop === true && existsSync(statePath)) {
      // Kept by the previous daemon for this restart; installGuard replaces it in one transaction.
      life.info({ event: 'guard-adopted', table: `${GUARD_FAMILY} ${GUARD_TABLE}` }, 'kernel guard kept by the previous rpcgw (--keep-guard-on-stop): replaced in place');
      // Ours now: a start that fails before the guard is reinstalled must not leave it behind.
      undo.push({ what: 'adopted kernel guard', fn: () => void (guardKept || removeGuard()) });
    } else if (guardExists()) {
      // We hold the lock, so no live rpcgw owns it: a previous daemon was killed without cleanup.
      log.warn({ event: 'stale-guard', table: `${GUARD_FAMILY} ${GUARD_TABLE}` }, 'removing the kernel guard a killed rpcgw left behind');
      // Forwarding it turned on for kernel rules goes back off with its table.
      const off = forwardingOff(forwardingLeftOn(guardListing()));
      if (off.length > 0) log.warn({ event: 'stale-forwarding', interfaces: off }, `turned IPv4 forwarding back off on ${off.join(', ')} (left on by a killed rpcgw for kernel-mode rules)`);
      removeGuard();
    }
    for (const iface of [g.externalInterface, g.internalInterface]) {
      const saved: SavedOffloads = disableOffloads(iface);
      undo.push({ what: `offloads on ${iface}`, fn: () => restoreOffloads(saved) });
      offloadsChanged[iface] = saved.changed;
      const reasons = Object.fromEntries(saved.changed.map((f) => [f, OFFLOAD_REASONS[f] ?? '']));
      log.info({ event: 'offloads-off', interface: iface, changed: saved.changed, reasons, kept: OFFLOADS_KEPT },
        saved.changed.length > 0 ? `offloads off on ${iface}: ${saved.changed.join(', ')}` : `no offload to turn off on ${iface}`);
    }
    // Ports the daemon owns must not be handed to the host's own connections.
    const reservations: Reservation[] = [reservePorts(ownedRanges(rules))];
    undo.push({ what: 'reserved ports', fn: () => { for (const r of reservations.reverse()) releasePorts(r); } });
    if (reservations[0]!.reserved.length > 0) {
      life.info(reservationRecord(reservations[0]!), `reserved in net.ipv4.ip_local_reserved_ports (they overlap ip_local_port_range): ${reservations[0]!.reserved.map((x) => `${x.lo}-${x.hi}`).join(', ')}`);
    }
    // "kernel" rules: pinhole map, NAT and forwarding live in the guard table (kernel-mode.ts).
    const kernel = new KernelMode(rules, (level, rec, msg) => log[level](rec, msg));
    kernel.installGuard(rules);
    undo.push({ what: 'kernel guard', fn: () => void (guardKept || removeGuard()) });
    kernel.enableHost();
    undo.push({ what: 'kernel mode', fn: () => kernel.stop(guardKept) });

    let packetsSeen = (): number => 0;
    const stats = new RuleStats();
    const hub = new EventHub();
    const events = engineLog(log, { packetsSeen: () => packetsSeen(), stats, hub });
    const dp = new LiveDataplane(rules, events, (now) => {
      events.flushSuppressed(now);
      events.checkDataplane(dp.counters);
    }, kernel.sink);
    kernel.attach(dp.engine);
    packetsSeen = () => dp.engine.counters.packetsIn[0]! + dp.engine.counters.packetsIn[1]!;
    // State across a restart: restored before capture starts; saved on SIGTERM/SIGINT after
    // capture stopped (this undo step runs after the capture's), so no packet changes it after.
    restoreState(dp, rules, statePath, rulesSha256(args.rules), log, life);
    kernel.adoptRestored();
    undo.push({ what: 'state file', fn: () => void (guardKept = saveState && saveStateFile(dp, statePath, rulesSha256(args.rules), life) && args.keepGuardOnStop === true) });
    dp.start();
    undo.push({ what: 'capture', fn: () => dp.stop() });

    // The guard table can be removed under us (nft flush ruleset, nftables restart): put it back.
    const host: HostCounters = { guardRepairs: 0 };
    let guardProblem: string | null = null;
    const watch = new GuardWatch(rules, (r) => {
      if (r.repaired) host.guardRepairs++;
      guardProblem = r.repaired ? null : `kernel guard ${r.found}, reinstalling failed`;
      log.warn({ event: 'guard-repaired', found: r.found, repaired: r.repaired, table: `${GUARD_FAMILY} ${GUARD_TABLE}`, ...(r.error !== undefined ? { error: r.error } : {}) },
        r.repaired ? `kernel guard table was ${r.found}; reinstalled` : `kernel guard table was ${r.found}; reinstalling failed`);
    }, 1000, () => kernel.guardExtras());
    watch.start();
    undo.push({ what: 'guard watch', fn: () => watch.stop() });

    // HTTPS listeners (RPC over HTTP, web publishing) are sockets of their own: no capture needed.
    const frontend = new HttpsFrontend(rules.https ?? { listeners: [], rpcOverHttp: [], webPublishing: [] }, log);
    if (g.metricsListen !== null) {
      const registry = gatewayRegistry({ engine: dp.engine, dp: dp.counters, host, stats, processMetrics: true, kernel, https: frontend });
      const server = await serveMetrics(g.metricsListen, registry, () => (stopping ? 'stopping' : guardProblem));
      undo.push({ what: 'metrics listener', fn: () => server.close() });
    }
    await frontend.start();
    undo.push({ what: 'https listeners', fn: () => void frontend.stop() });

    const reload = (): ReloadResult => {
      frontend.reloadCertificates();
      const refused = (problems: string[], extra: Record<string, unknown> = {}): ReloadResult => {
        dp.counters.reloadFailures++;
        log.error({ event: 'reload-refused', file: args.rules, problems, ...extra }, `reload refused; the rules in force are unchanged: ${problems.join('; ')}`);
        return { ok: false, file: args.rules, problems };
      };
      let next: CompiledRules;
      let warnings: string[];
      try {
        const l = readRulesFile(args.rules);
        next = l.rules;
        warnings = l.warnings.map(formatProblem);
        for (const w of l.warnings) log.warn({ event: 'rules-warning', file: args.rules, path: w.path, rule: w.rule }, formatProblem(w));
      } catch (e) {
        return refused(e instanceof RulesError ? e.problems.map(formatProblem) : [describeError(e)]);
      }
      // Capture, guard, sockets and tables were set up for the running gateway section, and the
      // HTTPS sockets for their listeners' addresses: what cannot change in place is refused by
      // name; the log level and the HTTPS proxies, paths, certificates and users are applied.
      const gw = gatewayChanges(rules.gateway, next.gateway);
      const nextHttps = next.https ?? { listeners: [], rpcOverHttp: [], webPublishing: [] };
      const restart = [...gw.needRestart.map((f) => `gateway.${f}`), ...frontend.restartNeeded(nextHttps)];
      if (restart.length > 0) return refused(restart.map((f) => `${f} changed: a reload cannot apply it, restart rpcgw (systemctl restart rpcgw)`));
      // First of the changes (all or nothing): its files are the likeliest to fail.
      const httpsApplied = httpsChanges(rules, next);
      const httpsProblems = httpsApplied.length > 0 ? frontend.applyRules(nextHttps) : [];
      if (httpsProblems.length > 0) return refused(httpsProblems);
      let res: Reservation;
      try {
        res = reservePorts(ownedRanges(next));
      } catch (e) {
        return refused([`port reservation failed: ${describeError(e)}`]);
      }
      reservations.push(res);
      if (res.before !== res.after) life.info(reservationRecord(res), 'reserved in net.ipv4.ip_local_reserved_ports for the new rules');
      try {
        kernel.installGuard(next);
        kernel.reload(next);
        watch.update(next);
      } catch (e) {
        return refused([`kernel guard update failed: ${describeError(e)}`]);
      }
      const diff = rulesDiff(rules, next);
      const result = dp.reload(next);
      if (gw.applied.includes('log.level')) log.level = next.gateway.logLevel;
      rules = next;
      dp.counters.reloads++;
      const out: ReloadResult = {
        ok: true, file: args.rules, ...diff, applied: [...gw.applied, ...httpsApplied], pinholesKept: dp.engine.pinholeCount, pinholesDropped: result.removedMappings,
        connectionsKept: dp.engine.connectionCount, connectionsClosed: result.closedConnections, warnings,
      };
      life.info({ event: 'reload', rules: next.rules.map((r) => r.name), removedRules: result.removedRules, ...out }, 'rules reloaded');
      return out;
    };

    const stopped = new Promise<number>((resolve) => {
      const stop = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        saveState = true;
        void sdNotify('STOPPING=1');
        life.info({ event: 'stopping', signal }, `stopping on ${signal}`);
        cleanup();
        life.info({ event: 'stopped', guardKept }, guardKept ? 'stopped; kernel guard kept for the next start (--keep-guard-on-stop), offloads restored' : 'stopped; kernel guard removed, offloads restored');
        resolve(0);
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGHUP', () => void reload());
      const crash = (e: unknown): void => {
        log.fatal({ event: 'crash', error: describeError(e) }, 'unexpected error; cleaning up');
        stopping = true;
        cleanup();
        process.exit(1);
      };
      process.on('uncaughtException', crash);
      process.on('unhandledRejection', crash);
    });

    const filters = captureFilters(rules);
    life.info(
      {
        event: 'ready', pid: process.pid, version: rpcgwVersion(), rules: args.rules, external: { interface: g.externalInterface, address: ipv4ToString(g.externalIp) },
        internal: { interface: g.internalInterface, address: ipv4ToString(g.internalIp), natPorts: `${g.natPortLo}-${g.natPortHi}` }, filters, adminSocket: g.adminSocket,
        metrics: g.metricsListen, published: rules.rules.filter((r) => r.enabled && !r.outbound).map((r) => ({ rule: r.name, server: ipv4ToString(r.serverIp), external: ipv4ToString(r.externalIp), mappedPorts: `${r.portLo}-${r.portHi}` })),
      },
      'rpcgw ready',
    );
    ctx = {
      dp, stats, hub, args, startedMs, offloadsChanged, hostCounters: host, rules: () => rules, kernel,
      reload: () => {
        void sdNotify('RELOADING=1');
        const r = reload();
        void sdNotify('READY=1');
        return r;
      },
    };
    // systemctl start returns now (Type=notify), with capture, guard and sockets up.
    await sdNotify(`READY=1\nMAINPID=${process.pid}`);
    return await stopped;
  } catch (e) {
    cleanup();
    throw e;
  }
}

/** The rules file's SHA-256 (hex), '' if unreadable: recorded in the state, compared on restore. */
function rulesSha256(file: string): string {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return '';
  }
}

/**
 * Loads the state file a stopped daemon left (a missing one is a normal first start). Whatever
 * cannot be used is logged at warning level and set aside as `.bad`: the daemon starts empty.
 */
function restoreState(dp: LiveDataplane, rules: CompiledRules, file: string, rulesHash: string, log: pino.Logger, life: pino.Logger): void {
  const read = readStateFile(file);
  if (read.kind === 'missing') {
    life.info({ event: 'state-none', file }, 'no saved state: starting empty');
    return;
  }
  const refuse = (reason: string): void => {
    log.warn({ event: 'state-refused', file, reason, movedTo: retireStateFile(file, '.bad') }, `saved state not used (${reason}): starting empty`);
  };
  if (read.kind === 'invalid') return refuse(read.reason);
  // Older than the longest timeout, nothing in it can still be alive.
  const maxAgeMs = Math.max(60_000, ...rules.rules.map((r) => Math.max(r.idleTimeoutMs, r.pinholeTimeoutMs)));
  const now = Date.now();
  const r = dp.engine.restore(read.snapshot, now, maxAgeMs);
  if (!r.ok) return refuse(r.error);
  life.info(
    {
      event: 'state-restored', file, savedAgeMs: now - read.snapshot.createdMs, rulesChanged: read.snapshot.rulesSha256 !== rulesHash, mappings: r.mappings, connections: r.connections,
      notifications: r.notifications, skipped: r.skipped, movedTo: retireStateFile(file, '.used'),
    },
    `restored ${r.mappings} pinholes and ${r.connections} connections`,
  );
}

/** Writes the engine's snapshot; a failure is logged (false), the stop goes on. */
function saveStateFile(dp: LiveDataplane, file: string, rulesHash: string, life: pino.Logger): boolean {
  const snap = { ...dp.engine.snapshot(Date.now()), rulesSha256: rulesHash };
  try {
    const bytes = writeStateFile(file, snap);
    life.info(
      { event: 'state-saved', file, bytes, mappings: snap.mappings.length, connections: snap.connections.length, notCarried: snap.left },
      `state saved: ${snap.mappings.length} pinholes, ${snap.connections.length} connections` +
        (Object.keys(snap.left).length > 0 ? ` (not carried, mid-PDU or closing: ${Object.values(snap.left).reduce((a, b) => a + b, 0)})` : ''),
    );
    return true;
  } catch (e) {
    life.error({ event: 'state-save-failed', file, error: describeError(e) }, 'state not saved: established connections will not survive the restart');
    return false;
  }
}

/** What the admin socket's commands read. */
interface AdminContext {
  dp: LiveDataplane;
  kernel: KernelMode;
  stats: RuleStats;
  hub: EventHub;
  args: RunArgs;
  startedMs: number;
  offloadsChanged: Record<string, string[]>;
  hostCounters: HostCounters;
  rules: () => CompiledRules;
  reload: () => ReloadResult;
}

/** A client address argument: -1 for none, else u32; throws a clear error. */
function clientArg(text: string | undefined): number {
  if (text === undefined) return -1;
  const ip = parseIpv4(text);
  if (ip < 0) throw new Error(`client: not an IPv4 address: ${text}`);
  return ip;
}

function ruleArg(ctx: AdminContext, name: string | undefined): void {
  if (name !== undefined && !ctx.rules().rules.some((r) => r.name === name)) {
    throw new Error(`rule: no rule named ${JSON.stringify(name)} (rules: ${ctx.rules().rules.map((r) => r.name).join(', ')})`);
  }
}

/** The table slot of `--rule` (-1 without one, -2 for a rule no entry carries); an unknown name is an error. */
function ruleSlotArg(ctx: AdminContext, name: string | undefined): number {
  ruleArg(ctx, name);
  if (name === undefined) return -1;
  const slot = ctx.dp.engine.ruleSlotNamed(name);
  return slot < 0 ? -2 : slot;
}

function handleAdmin(ctx: AdminContext, req: AdminRequest): unknown {
  const now = Date.now();
  const { dp } = ctx;
  const fl = dp.engine.flows;
  switch (req.cmd) {
    case 'mappings': {
      const slot = ruleSlotArg(ctx, req.rule);
      const client = req.client;
      const clientIp = clientArg(client);
      const k = ctx.kernel.list();
      const mt = dp.engine.mappings;
      return {
        // Filtered by numbers before any listing is built (a million entries, one client asked for).
        mappings: dp.engine.listMappings(now, (id) => (slot === -1 || mt.ruleIdx(id) === slot) && (clientIp < 0 || mt.clientIp(id) === clientIp >>> 0)),
        kernelPinholes: k.pinholes.filter((p) => (req.rule === undefined || p.rule === req.rule) && (client === undefined || p.client === client)),
        kernelConnections: k.connections.filter((c) => (req.rule === undefined || c.rule === req.rule) && (client === undefined || c.client.startsWith(`${client}:`))),
      };
    }
    case 'connections': {
      const slot = ruleSlotArg(ctx, req.rule);
      const clientIp = clientArg(req.client);
      return {
        connections: dp.engine.listConnections(now, (id) => (slot === -1 || fl.ruleIdx(id) === slot) && (clientIp < 0 || fl.clientIp(id) === clientIp >>> 0))
          .map((c) => ({
            ...c, stateName: flowStateName(c.state), packetsFromClient: fl.packetsFromClient(c.flow), bytesFromClient: fl.bytesFromClient(c.flow),
            packetsFromServer: fl.packetsFromServer(c.flow), bytesFromServer: fl.bytesFromServer(c.flow),
          })),
      };
    }
    case 'status': {
      const rules = ctx.rules();
      const pin = perRule(dp.engine, 'pinholes');
      const con = perRule(dp.engine, 'connections');
      const c = dp.engine.counters;
      let drops = 0;
      for (let i = 1; i < c.drops.length; i++) drops += c.drops[i]!;
      return {
        version: rpcgwVersion(), pid: process.pid, uptimeMs: now - ctx.startedMs, rulesFile: ctx.args.rules, rulesSha256: rulesSha256(ctx.args.rules),
        rules: rules.rules.map((r) => ({
          rule: r.name, enabled: r.enabled, pinholes: pin.get(r.name) ?? 0, connections: con.get(r.name) ?? 0, refusals: ctx.stats.refusalsOf(r.name),
          pinholesOpened: ctx.stats.pinholesOpened.get(r.name) ?? 0, connectionsOpened: ctx.stats.connectionsOpened.get(r.name) ?? 0,
        })),
        pinholes: dp.engine.pinholeCount, connections: dp.engine.connectionCount, guardPresent: guardExists(), guardRepairs: ctx.hostCounters.guardRepairs,
        offloadsChanged: ctx.offloadsChanged,
        capture: { truncated: dp.counters.truncatedFrames, undecodable: dp.counters.undecodableFrames },
        packetsIn: c.packetsIn[0]! + c.packetsIn[1]!, packetsOut: c.packetsOut[0]! + c.packetsOut[1]!, drops, sendErrors: dp.counters.sendErrors,
        reloads: dp.counters.reloads, reloadFailures: dp.counters.reloadFailures, eventSubscribers: ctx.hub.count,
        // Kept for clients of the earlier status reply.
        counters: dp.counters,
      };
    }
    case 'flush': {
      ruleArg(ctx, req.rule);
      const flushed = dp.engine.flush(req.rule ?? null, clientArg(req.client));
      return ctx.kernel.flush(req.rule ?? null, clientArg(req.client)).then((flushedKernel) => ({ flushed, flushedKernel }));
    }
    case 'reload':
      return ctx.reload();
    case 'events': {
      ruleArg(ctx, req.rule);
      clientArg(req.client);
      const f = { ...(req.rule !== undefined ? { rule: req.rule } : {}), ...(req.client !== undefined ? { client: req.client } : {}), ...(req.type !== undefined ? { type: req.type } : {}) };
      return { stream: (write: (rec: unknown) => void) => ctx.hub.subscribe(f, write) };
    }
    case 'explain': {
      const client = clientArg(req.client);
      if (client < 0) throw new Error('explain: --client is required');
      // The client's pinholes by a numeric pass (no listing of everyone's).
      const mt = dp.engine.mappings;
      return explainClient(ctx.rules(), client, req.port ?? null, dp.engine.listMappings(now, (id) => mt.clientIp(id) === client >>> 0));
    }
    default:
      return { error: `unknown command ${String((req as { cmd?: unknown }).cmd)}` };
  }
}

/**
 * `rpcgw run --rules <file>`: the daemon. Start-up either completes (capture on both interfaces,
 * kernel guard installed, admin socket and metrics listening, a `ready` record logged) or fails
 * with one clear reason and leaves nothing behind: every step that changed the host is undone
 * in reverse order — on a start-up failure, on SIGTERM/SIGINT, and on the crash path.
 * SIGHUP reloads the rules; an invalid file is refused with located errors and the old rules
 * stay in force.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import pino from 'pino';
import { ipv4ToString, parseIpv4 } from '../wire/addr.js';
import type { CompiledRules } from '../policy/compiled.js';
import { formatProblem } from '../policy/errors.js';
import { RulesError } from '../policy/load.js';
import { LiveDataplane } from '../dataplane/live.js';
import { captureFilters } from '../dataplane/bpf.js';
import { GUARD_FAMILY, GUARD_TABLE, GuardWatch, guardExists, installGuard, removeGuard } from '../dataplane/kernel-guard.js';
import { OFFLOAD_REASONS, OFFLOADS_KEPT, disableOffloads, restoreOffloads, type SavedOffloads } from '../dataplane/offloads.js';
import { ownedRanges, releasePorts, reservePorts, type OwnedRange, type Reservation } from '../dataplane/port-reserve.js';
import { engineLog } from '../ops/engine-log.js';
import { metricsText, serveMetrics, type HostCounters } from '../ops/metrics.js';
import { serveAdmin, type AdminRequest } from '../ops/admin.js';
import { acquireInstanceLock } from '../ops/lock.js';
import { readRulesFile } from './rules-file.js';
import { defaultStatePath, readStateFile, retireStateFile, writeStateFile } from '../ops/state-file.js';
import { describeError } from './errors.js';

export interface RunArgs {
  rules: string;
  /**
   * On SIGTERM/SIGINT, once the state file is saved, leave the kernel guard installed for the
   * next start to adopt: during a restart the kernel then drops (and the peers retransmit)
   * instead of answering the carried connections with RST.
   */
  keepGuardOnStop?: boolean;
}

/** What must match between the running rules and a reload (capture and guard were set up for it). */
function gatewayKey(r: CompiledRules): string {
  const g = r.gateway;
  return JSON.stringify([g.externalInterface, g.externalIp, g.internalInterface, g.internalIp, g.adminSocket, g.metricsListen, g.natPortLo, g.natPortHi]);
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
  if (process.getuid?.() !== 0) throw new Error('rpcgw run must run as root (packet capture, raw sockets, nftables, ethtool)');
  const loaded = readRulesFile(args.rules);
  let rules = loaded.rules;
  const g = rules.gateway;
  const log = pino({ level: g.logLevel, base: { service: 'rpcgw' } }, pino.destination({ dest: 1, sync: true }));
  // Lifecycle records (ready, reload, stopping, stopped) are written whatever level the traffic
  // log is set to: supervisors and administrators wait for them.
  const life = log.child({}, { level: 'info' });
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
    undo.push({ what: 'instance lock', fn: acquireInstanceLock(g.adminSocket + '.pid') });
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
      removeGuard();
    }
    for (const iface of [g.externalInterface, g.internalInterface]) {
      const saved: SavedOffloads = disableOffloads(iface);
      undo.push({ what: `offloads on ${iface}`, fn: () => restoreOffloads(saved) });
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
    installGuard(rules);
    undo.push({ what: 'kernel guard', fn: () => void (guardKept || removeGuard()) });

    let packetsSeen = (): number => 0;
    const events = engineLog(log, { packetsSeen: () => packetsSeen() });
    const dp = new LiveDataplane(rules, events, (now) => {
      events.flushSuppressed(now);
      events.checkDataplane(dp.counters);
    });
    packetsSeen = () => dp.engine.counters.packetsIn[0]! + dp.engine.counters.packetsIn[1]!;
    // State across a restart: restored before capture starts; saved on SIGTERM/SIGINT after
    // capture stopped (this undo step runs after the capture's), so no packet changes it after.
    restoreState(dp, rules, statePath, rulesSha256(args.rules), log, life);
    undo.push({ what: 'state file', fn: () => void (guardKept = saveState && saveStateFile(dp, statePath, rulesSha256(args.rules), life) && args.keepGuardOnStop === true) });
    dp.start();
    undo.push({ what: 'capture', fn: () => dp.stop() });

    // The guard table can be removed under us (nft flush ruleset, nftables restart): put it back.
    const host: HostCounters = { guardRepairs: 0 };
    const watch = new GuardWatch(rules, (r) => {
      if (r.repaired) host.guardRepairs++;
      log.warn({ event: 'guard-repaired', found: r.found, repaired: r.repaired, table: `${GUARD_FAMILY} ${GUARD_TABLE}`, ...(r.error !== undefined ? { error: r.error } : {}) },
        r.repaired ? `kernel guard table was ${r.found}; reinstalled` : `kernel guard table was ${r.found}; reinstalling failed`);
    });
    watch.start();
    undo.push({ what: 'guard watch', fn: () => watch.stop() });

    const admin = await serveAdmin(g.adminSocket, (req) => handleAdmin(dp, req));
    undo.push({ what: 'admin socket', fn: () => admin.close() });
    if (g.metricsListen !== null) {
      const server = await serveMetrics(g.metricsListen, () => metricsText(dp.engine, dp.counters, host));
      undo.push({ what: 'metrics listener', fn: () => server.close() });
    }

    const reload = (): void => {
      let next: CompiledRules;
      try {
        const l = readRulesFile(args.rules);
        next = l.rules;
        for (const w of l.warnings) log.warn({ event: 'rules-warning', file: args.rules, path: w.path, rule: w.rule }, formatProblem(w));
      } catch (e) {
        dp.counters.reloadFailures++;
        const problems = e instanceof RulesError ? e.problems.map(formatProblem) : [describeError(e)];
        log.error({ event: 'reload-refused', file: args.rules, problems }, 'rules file refused; the rules in force are unchanged');
        return;
      }
      if (gatewayKey(next) !== gatewayKey(rules)) {
        dp.counters.reloadFailures++;
        log.error({ event: 'reload-refused', file: args.rules }, 'the gateway section changed (interfaces, addresses, natPorts, admin socket or metrics): restart rpcgw to apply it; the rules in force are unchanged');
        return;
      }
      let res: Reservation;
      try {
        res = reservePorts(ownedRanges(next));
      } catch (e) {
        dp.counters.reloadFailures++;
        log.error({ event: 'reload-refused', file: args.rules, error: describeError(e) }, 'port reservation failed; the rules in force are unchanged');
        return;
      }
      reservations.push(res);
      if (res.before !== res.after) life.info(reservationRecord(res), 'reserved in net.ipv4.ip_local_reserved_ports for the new rules');
      try {
        installGuard(next);
        watch.update(next);
      } catch (e) {
        dp.counters.reloadFailures++;
        log.error({ event: 'reload-refused', file: args.rules, error: describeError(e) }, 'kernel guard update failed; the rules in force are unchanged');
        return;
      }
      const result = dp.reload(next);
      rules = next;
      dp.counters.reloads++;
      life.info({ event: 'reload', file: args.rules, rules: next.rules.map((r) => r.name), ...result }, 'rules reloaded');
    };

    const stopped = new Promise<number>((resolve) => {
      const stop = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        saveState = true;
        life.info({ event: 'stopping', signal }, `stopping on ${signal}`);
        cleanup();
        life.info({ event: 'stopped', guardKept }, guardKept ? 'stopped; kernel guard kept for the next start (--keep-guard-on-stop), offloads restored' : 'stopped; kernel guard removed, offloads restored');
        resolve(0);
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGHUP', reload);
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
        event: 'ready', pid: process.pid, rules: args.rules, external: { interface: g.externalInterface, address: ipv4ToString(g.externalIp) },
        internal: { interface: g.internalInterface, address: ipv4ToString(g.internalIp), natPorts: `${g.natPortLo}-${g.natPortHi}` }, filters, adminSocket: g.adminSocket,
        metrics: g.metricsListen, published: rules.rules.filter((r) => r.enabled).map((r) => ({ rule: r.name, server: ipv4ToString(r.serverIp), external: ipv4ToString(r.externalIp), mappedPorts: `${r.portLo}-${r.portHi}` })),
      },
      'rpcgw ready',
    );
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

function handleAdmin(dp: LiveDataplane, req: AdminRequest): unknown {
  const now = Date.now();
  switch (req.cmd) {
    case 'mappings':
      return { mappings: dp.engine.listMappings(now) };
    case 'connections':
      return { connections: dp.engine.listConnections(now) };
    case 'status':
      return { pid: process.pid, pinholes: dp.engine.pinholeCount, connections: dp.engine.connectionCount, counters: dp.counters };
    case 'flush': {
      let client = -1;
      if (req.client !== undefined) {
        client = parseIpv4(req.client);
        if (client < 0) return { error: `client: not an IPv4 address: ${req.client}` };
      }
      return { flushed: dp.engine.flush(req.rule ?? null, client) };
    }
    default:
      return { error: `unknown command ${String((req as { cmd?: unknown }).cmd)}` };
  }
}

/**
 * The firewall log: engine events as pino JSON records, one per connection opened/closed,
 * rewrite, pinhole and refusal — what an ISA administrator found in the firewall log. Packet
 * drops can come in floods (scans, attacks), so they are rate-limited per reason: the first few
 * in each window are logged, the rest counted and summarised.
 */
import type { Logger } from 'pino';
import type { EngineEvents, RecordEvents } from '../engine/events.js';
import { recordsTo } from './event-records.js';
import { SIDE_NAMES } from '../engine/events.js';
import { DROP_BAD_CHECKSUM, REASON_NAMES } from '../engine/reasons.js';
import { ipv4ToString } from '../wire/addr.js';
import { interfaceName } from '../policy/interfaces.js';

/** Drop records logged per reason per window; the rest are summarised. */
const DROPS_PER_WINDOW = 10;
const DROP_WINDOW_MS = 10_000;
/** Bad-checksum drops in a row (no other packet between) that mean "this host's setup is wrong". */
export const BAD_CHECKSUM_STREAK = 32;

/** The live dataplane's counters the setup warnings read (a subset of ops/metrics' DataplaneCounters). */
export interface SetupCounters {
  truncatedFrames: number;
  sendErrors: number;
  /** The last failed send's error (errno code or strerror text), when known. */
  lastSendError?: string;
}

export interface EngineLogOptions {
  /** Packets handed to the engine so far (both sides): tells a streak of bad checksums from scattered ones. */
  packetsSeen?: () => number;
  /** Per-rule counts (metrics, `rpcgw status`), kept from the events. */
  stats?: RuleStats;
  /** Live subscribers (`rpcgw events`): every record logged, drops included, as it is logged. */
  hub?: EventHub;
}

/** Counts by rule name (and reason) that the engine's own counters do not keep. */
export class RuleStats {
  readonly pinholesOpened = new Map<string, number>();
  readonly connectionsOpened = new Map<string, number>();
  readonly towerRewrites = new Map<string, number>();
  /** `rule\0reason` -> refused connections. */
  readonly refusals = new Map<string, number>();
  /** reason -> refused connections, all rules (the engine's drop counter includes these). */
  readonly refusalsByReason = new Map<string, number>();

  static bump(m: Map<string, number>, key: string): void {
    m.set(key, (m.get(key) ?? 0) + 1);
  }

  refused(rule: string, reason: string): void {
    RuleStats.bump(this.refusals, `${rule}\0${reason}`);
    RuleStats.bump(this.refusalsByReason, reason);
  }

  /** Refusals of one rule, all reasons. */
  refusalsOf(rule: string): number {
    let n = 0;
    for (const [k, v] of this.refusals) if (k.slice(0, k.indexOf('\0')) === rule) n += v;
    return n;
  }
}

/** Filter of `rpcgw events`: every given field must match. */
export interface EventFilter {
  rule?: string;
  /** Client IPv4 address (text). */
  client?: string;
  /** The record's `event` (connection-open, refused, drop, ...). */
  type?: string;
}

/** Fan-out of log records to `rpcgw events` clients. Costs nothing while nobody listens. */
export class EventHub {
  private subs = new Set<{ f: EventFilter; write: (rec: Record<string, unknown>) => void }>();

  get listening(): boolean {
    return this.subs.size > 0;
  }

  /** `rpcgw events` clients connected now. */
  get count(): number {
    return this.subs.size;
  }

  subscribe(f: EventFilter, write: (rec: Record<string, unknown>) => void): () => void {
    const sub = { f, write };
    this.subs.add(sub);
    return () => void this.subs.delete(sub);
  }

  publish(level: string, rec: Record<string, unknown>, msg: string): void {
    for (const { f, write } of this.subs) {
      if (f.type !== undefined && rec.event !== f.type) continue;
      if (f.rule !== undefined && rec.rule !== f.rule) continue;
      if (f.client !== undefined && rec.client_ip !== f.client) continue;
      // The log's own level fields: pino's number and the syslog-style name.
      write({ time: Date.now(), level: level === 'warn' ? 40 : 30, levelName: level === 'warn' ? 'warning' : 'info', ...rec, msg });
    }
  }
}

/**
 * "a.b.c.d:port" -> { <name>_ip, <name>_port } (just <name>_ip without a port): journald and
 * log tools filter on fields, not on substrings.
 */
export function splitEndpoint(name: string, text: unknown): Record<string, string | number> {
  if (typeof text !== 'string') return {};
  const i = text.lastIndexOf(':');
  if (i < 0) return { [`${name}_ip`]: text };
  return { [`${name}_ip`]: text.slice(0, i), [`${name}_port`]: Number(text.slice(i + 1)) };
}

function endpoints(r: { client?: unknown; external?: unknown; gateway?: unknown; server?: unknown }): Record<string, string | number> {
  return { ...splitEndpoint('client', r.client), ...splitEndpoint('external', r.external), ...splitEndpoint('gateway', r.gateway), ...splitEndpoint('server', r.server) };
}

/**
 * Setup warnings: the first sign that the host, not the traffic, is wrong is logged once at
 * warning level with the likely cause (event 'setup-warning'); later ones are only counted.
 */
export interface SetupWarnings {
  /** Called once a second by the daemon with the live counters. */
  checkDataplane(c: SetupCounters): void;
}

/**
 * The firewall log of an engine: its numeric events (EngineEvents) made into records here, and the
 * same records taken directly (RecordEvents: the RPC proxy's refusals, tests).
 */
export function engineLog(log0: Logger, opts: EngineLogOptions = {}): EngineEvents & RecordEvents & SetupWarnings & { flushSuppressed(nowMs: number): void } {
  const hub = opts.hub;
  const stats = opts.stats;
  // Each record goes to the log and, while someone runs `rpcgw events`, to them (whatever the log level).
  const emit = (level: 'info' | 'warn', rec: Record<string, unknown>, msg: string): void => {
    log0[level](rec, msg);
    if (hub?.listening === true) hub.publish(level, rec, msg);
  };
  const log = { info: (rec: Record<string, unknown>, msg: string) => emit('info', rec, msg), warn: (rec: Record<string, unknown>, msg: string) => emit('warn', rec, msg) };
  const warned = new Set<string>();
  const warnOnce = (cause: string, fields: Record<string, unknown>, msg: string): void => {
    if (warned.has(cause)) return;
    warned.add(cause);
    log.warn({ event: 'setup-warning', cause, ...fields }, msg);
  };
  let badStreak = 0;
  let lastBadAt = -2;
  const badChecksum = (reason: number): void => {
    const seen = opts.packetsSeen?.() ?? lastBadAt + 1;
    badStreak = seen === lastBadAt + 1 ? badStreak + 1 : 1;
    lastBadAt = seen;
    if (badStreak === BAD_CHECKSUM_STREAK) {
      warnOnce('bad-checksums', { reason: REASON_NAMES[reason], inARow: badStreak },
        `${badStreak} segments in a row dropped for bad checksums: a neighbour delivers segments whose checksums are neither full nor partial — check offloads (ethtool -k on the peers and on this host's interfaces) or corruption on the link`);
    }
  };
  const logged = new Map<number, number>();
  const suppressed = new Map<number, number>();
  let windowStart = 0;
  const flushSuppressed = (nowMs: number): void => {
    for (const [reason, n] of suppressed) {
      if (n > 0) log.info({ event: 'drop-summary', verdict: 'drop', reason: REASON_NAMES[reason], suppressed: n, windowMs: DROP_WINDOW_MS }, 'drops not logged individually');
    }
    suppressed.clear();
    logged.clear();
    windowStart = nowMs;
  };
  const records: RecordEvents = {
    connectionOpened: (r) => {
      if (stats !== undefined) RuleStats.bump(stats.connectionsOpened, r.rule);
      log.info({ event: 'connection-open', verdict: 'allow', ...r, ...endpoints(r) }, 'connection opened');
    },
    connectionClosed: (r) => log.info({ event: 'connection-close', ...r, ...endpoints(r) }, `connection closed (${r.reason})`),
    towerRewritten: (r) => {
      if (stats !== undefined) RuleStats.bump(stats.towerRewrites, r.rule);
      log.info({ event: 'rewrite', ...r, ...endpoints(r), interfaceName: interfaceName(r.interface) ?? null }, `tower ${r.original} -> ${r.rewritten}`);
    },
    mappingCreated: (r) => {
      if (stats !== undefined) RuleStats.bump(stats.pinholesOpened, r.rule);
      log.info({ event: 'pinhole-open', ...r, ...endpoints(r) }, 'pinhole opened');
    },
    mappingExpired: (r) => log.info({ event: 'pinhole-close', ...r, ...endpoints(r) }, 'pinhole expired'),
    connectionRefused: (r) => {
      stats?.refused(r.rule, r.reason);
      log.warn({ event: 'refused', verdict: 'refuse', ...r, ...endpoints(r), interfaceName: interfaceName(r.interface.split('@')[0] ?? '') ?? null }, r.detail);
    },
    notification: (r) =>
      (r.action === 'rewritten' || r.action === 'pinhole' ? log.info : log.warn)(
        { event: 'notification', ...r, ...endpoints(r) },
        r.action === 'rewritten' ? `new-mail callback rewritten to ${r.relay}` : r.detail,
      ),
    packetDropped: (reason, side, v, nowMs) => {
      if (reason === DROP_BAD_CHECKSUM) badChecksum(reason);
      if (nowMs - windowStart >= DROP_WINDOW_MS) flushSuppressed(nowMs);
      const n = logged.get(reason) ?? 0;
      if (n >= DROPS_PER_WINDOW) {
        suppressed.set(reason, (suppressed.get(reason) ?? 0) + 1);
        return;
      }
      logged.set(reason, n + 1);
      const src = v.ipVersion === 4 ? ipv4ToString(v.src4) : null;
      const dst = v.ipVersion === 4 ? ipv4ToString(v.dst4) : null;
      log.info(
        {
          event: 'drop', verdict: 'drop', reason: REASON_NAMES[reason], side: SIDE_NAMES[side],
          src: src !== null ? `${src}:${v.srcPort}` : null,
          dst: dst !== null ? `${dst}:${v.dstPort}` : null, proto: v.ipProto, flags: v.tcpFlags,
          ...(src !== null ? { src_ip: src, src_port: v.srcPort, dst_ip: dst, dst_port: v.dstPort } : {}),
        },
        'packet dropped',
      );
    },
  };
  return {
    ...records,
    ...recordsTo(records),
    flushSuppressed,
    checkDataplane: (c) => {
      if (c.truncatedFrames > 0) {
        warnOnce('capture-truncated', { truncatedFrames: c.truncatedFrames },
          'captured frames larger than the capture buffer were dropped: merged frames beyond 64 KiB (LRO/GRO on this host\'s interfaces) or an MTU above 64 KiB — check ethtool -k and the MTU');
      }
      if (c.sendErrors > 0) {
        const code = c.lastSendError ?? 'unknown';
        warnOnce('send-failed', { sendErrors: c.sendErrors, error: code },
          /EMSGSIZE|Message too long/.test(code)
            ? 'the kernel refused to send a packet as too large (EMSGSIZE, "Message too long"): the egress MTU is below what the daemon emits — check the interfaces\' MTU'
            : `the kernel refused to send a packet (${code}): socket buffer full under load, no route, or the interface down`);
      }
    },
  };
}

/**
 * Prometheus metrics through prom-client: the engine's and the dataplane's counters read at
 * scrape time (collect callbacks; nothing on the packet path), per-rule series where a rule
 * applies, table sizes beside their limits, and Node's process and event-loop metrics.
 *
 * Names: one name per quantity. Packets dropped (rpcgw_drops_total{reason}) and connections
 * refused (rpcgw_refusals_total{rule,reason}) are separate: the engine counts a refusal in its
 * drop array too, so the refusals seen in its events are subtracted from the drop series.
 */
import type { HttpsCounters, RpchCounters } from '../https/frontend.js';
import http from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Engine } from '../engine/engine.js';
import { SIDE_NAMES } from '../engine/events.js';
import { REASON_COUNT, REASON_NAMES } from '../engine/reasons.js';
import type { RuleStats } from './engine-log.js';

export interface DataplaneCounters {
  sendErrors: number;
  truncatedFrames: number;
  undecodableFrames: number;
  reloads: number;
  reloadFailures: number;
  /** Packets sent on the interface's packet socket (destination MAC known) / through the raw IPv4 socket. */
  sentOnPacketSocket: number;
  sentOnRawSocket: number;
  /** The last send failure's error text (strerror, e.g. "Message too long"), for the setup warning. */
  lastSendError?: string;
}

/** What the daemon did to the host while running (run.ts), beside the dataplane's counters. */
export interface HostCounters {
  /** Times the kernel guard table was found missing or altered and reinstalled. */
  guardRepairs: number;
}

export interface MetricsSources {
  engine: Engine;
  dp: DataplaneCounters;
  host?: HostCounters;
  /** Per-rule counts from the events (refusals, pinholes and connections opened). */
  stats?: RuleStats;
  /** Node's process and event-loop metrics (the daemon; off in tests that build many registries). */
  processMetrics?: boolean;
  /** HTTPS listeners (https/frontend.ts): each RPC proxy's and published path's counters. */
  https?: { counters(): HttpsCounters };
  /** "kernel" rules (dataplane/kernel-mode.ts): what nftables forwarded for them, and the pinholes. */
  kernel?: {
    ruleCounters(): Map<string, { packets: number; bytes: number }>;
    counters(): { pinholesInstalled: number; pinholesFailed: number; installP50Ms: number; installP99Ms: number };
    readonly pinholeCount: number;
  };
}

type Labels = Record<string, string>;

/** A counter whose value is read from elsewhere at scrape time. */
function counterFrom(reg: Registry, name: string, help: string, labelNames: string[], read: (set: (labels: Labels, v: number) => void) => void): void {
  new Counter({
    name, help, labelNames, registers: [reg],
    collect() {
      this.reset();
      read((labels, v) => this.inc(labels, v));
    },
  });
}

function gaugeFrom(reg: Registry, name: string, help: string, labelNames: string[], read: (set: (labels: Labels, v: number) => void) => void): void {
  new Gauge({
    name, help, labelNames, registers: [reg],
    collect() {
      this.reset();
      read((labels, v) => this.set(labels, v));
    },
  });
}

/**
 * Live pinholes and connections per rule name: one numeric pass over each table by rule slot
 * (no listing objects: a scrape must not stall the packet path at a million entries).
 */
export function perRule(engine: Engine, table: 'pinholes' | 'connections'): Map<string, number> {
  const bySlot = (forEach: (cb: (id: number) => void) => void, slotOf: (id: number) => number): Map<string, number> => {
    const counts: number[] = [];
    forEach((id) => {
      const s = slotOf(id);
      counts[s] = (counts[s] ?? 0) + 1;
    });
    const out = new Map<string, number>(engine.rules.rules.map((r) => [r.name, 0]));
    counts.forEach((n, slot) => {
      const name = engine.ruleNameOfSlot(slot);
      if (name !== '') out.set(name, (out.get(name) ?? 0) + n);
    });
    return out;
  };
  return table === 'pinholes'
    ? bySlot((cb) => engine.mappings.forEach(cb), (id) => engine.mappings.ruleIdx(id))
    : bySlot((cb) => engine.flows.forEach(cb), (id) => engine.flows.ruleIdx(id));
}

/** Kernel-mode rules: forwarded by nftables, so counted there (one `nft` listing per scrape). */
function kernelMetrics(reg: Registry, k: NonNullable<MetricsSources['kernel']>): void {
  let cached: { at: number; v: Map<string, { packets: number; bytes: number }> } = { at: 0, v: new Map() };
  // Both counters come from one listing per scrape.
  const counters = (): Map<string, { packets: number; bytes: number }> => {
    if (Date.now() - cached.at > 500) cached = { at: Date.now(), v: k.ruleCounters() };
    return cached.v;
  };
  counterFrom(reg, 'rpcgw_kernel_forwarded_packets_total', 'Packets nftables forwarded for a "kernel" rule\'s connections, both ways (until flowtable offload where the kernel has flowtables).', ['rule'], (set) => {
    for (const [rule, c] of counters()) set({ rule }, c.packets);
  });
  counterFrom(reg, 'rpcgw_kernel_forwarded_bytes_total', 'IP bytes nftables forwarded for a "kernel" rule\'s connections, both ways.', ['rule'], (set) => {
    for (const [rule, c] of counters()) set({ rule }, c.bytes);
  });
  gaugeFrom(reg, 'rpcgw_kernel_pinholes', 'Kernel pinholes (nftables map elements) the daemon installed that have not expired.', [], (set) => set({}, k.pinholeCount));
  counterFrom(reg, 'rpcgw_kernel_pinholes_installed_total', 'Kernel pinholes nftables acknowledged.', [], (set) => set({}, k.counters().pinholesInstalled));
  counterFrom(reg, 'rpcgw_kernel_pinholes_failed_total', 'Kernel pinholes nftables refused or did not acknowledge (the client\'s EPM connection was refused).', [], (set) => set({}, k.counters().pinholesFailed));
  gaugeFrom(reg, 'rpcgw_kernel_pinhole_install_seconds', 'Pinhole install latency (request to nftables acknowledgment) over the last 1024, by quantile.', ['quantile'], (set) => {
    const c = k.counters();
    set({ quantile: '0.5' }, c.installP50Ms / 1000);
    set({ quantile: '0.99' }, c.installP99Ms / 1000);
  });
}

export function gatewayRegistry(src: MetricsSources): Registry {
  const { engine, dp, host, stats } = src;
  const c = engine.counters;
  const reg = new Registry();
  const perSide = (arr: Float64Array) => (set: (l: Labels, v: number) => void): void => SIDE_NAMES.forEach((s, i) => set({ side: s }, arr[i]!));
  const one = (read: () => number) => (set: (l: Labels, v: number) => void): void => set({}, read());
  gaugeFrom(reg, 'rpcgw_up', 'The daemon is running.', [], one(() => 1));
  counterFrom(reg, 'rpcgw_packets_received_total', 'Packets captured and handed to the engine, by side.', ['side'], perSide(c.packetsIn));
  counterFrom(reg, 'rpcgw_bytes_received_total', 'IP bytes handed to the engine, by side.', ['side'], perSide(c.bytesIn));
  counterFrom(reg, 'rpcgw_packets_sent_total', 'Packets the engine emitted, by side they left on.', ['side'], perSide(c.packetsOut));
  counterFrom(reg, 'rpcgw_bytes_sent_total', 'IP bytes the engine emitted, by side.', ['side'], perSide(c.bytesOut));
  counterFrom(reg, 'rpcgw_drops_total', 'Packets dropped, by reason (connections refused are rpcgw_refusals_total).', ['reason'], (set) => {
    for (let i = 1; i < REASON_COUNT; i++) {
      const name = REASON_NAMES[i];
      if (name) set({ reason: name }, c.drops[i]! - (stats?.refusalsByReason.get(name) ?? 0));
    }
  });
  if (stats !== undefined) {
    counterFrom(reg, 'rpcgw_refusals_total', 'Connections refused (reset both ways), by rule and reason.', ['rule', 'reason'], (set) => {
      for (const [k, v] of stats.refusals) {
        const z = k.indexOf('\0');
        set({ rule: k.slice(0, z), reason: k.slice(z + 1) }, v);
      }
    });
    counterFrom(reg, 'rpcgw_pinholes_opened_total', 'Mappings (pinholes) created, by rule.', ['rule'], (set) => {
      for (const [rule, v] of stats.pinholesOpened) set({ rule }, v);
    });
    counterFrom(reg, 'rpcgw_connections_opened_total', 'Connections forwarded, by rule.', ['rule'], (set) => {
      for (const [rule, v] of stats.connectionsOpened) set({ rule }, v);
    });
    counterFrom(reg, 'rpcgw_tower_rewrites_total', 'Endpoint-mapper towers rewritten to a mapped port, by rule.', ['rule'], (set) => {
      for (const [rule, v] of stats.towerRewrites) set({ rule }, v);
    });
  } else {
    counterFrom(reg, 'rpcgw_pinholes_opened_total', 'Mappings (pinholes) created.', [], one(() => c.mappingsCreated));
    counterFrom(reg, 'rpcgw_connections_opened_total', 'Connections forwarded.', [], one(() => c.connectionsOpened));
    counterFrom(reg, 'rpcgw_tower_rewrites_total', 'Endpoint-mapper towers rewritten to a mapped port.', [], one(() => c.rewrites));
  }
  counterFrom(reg, 'rpcgw_pinholes_expired_total', 'Mappings (pinholes) expired.', [], one(() => c.mappingsExpired));
  counterFrom(reg, 'rpcgw_connections_closed_total', 'Connections closed or expired.', [], one(() => c.connectionsClosed));
  counterFrom(reg, 'rpcgw_resets_sent_total', 'TCP resets sent for refused connections.', [], one(() => c.resetsSent));
  counterFrom(reg, 'rpcgw_notifications_relayed_total', 'New-mail notification datagrams relayed to clients.', [], one(() => c.notificationsRelayed));
  counterFrom(reg, 'rpcgw_checksums_completed_total', 'TCP/UDP segments that arrived with a partial checksum (a neighbour offloading checksums) and left with the full one.', [], one(() => c.checksumsCompleted));
  counterFrom(reg, 'rpcgw_packets_segmented_total', 'Packets longer than the egress MTU or path (GRO/TSO merges) cut into segments.', [], one(() => c.packetsSegmented));
  counterFrom(reg, 'rpcgw_segments_out_total', 'Segments those packets were cut into.', [], one(() => c.segmentsOut));
  counterFrom(reg, 'rpcgw_icmp_errors_sent_total', 'ICMP errors the gateway sent itself (time exceeded, fragmentation needed).', [], one(() => c.icmpErrorsSent));
  counterFrom(reg, 'rpcgw_icmp_rate_limited_total', 'ICMP errors the gateway held back by its rate limit.', [], one(() => c.icmpRateLimited));
  counterFrom(reg, 'rpcgw_icmp_translated_total', 'ICMP errors about a carried connection translated and passed on (Path MTU discovery).', [], one(() => c.icmpTranslated));
  gaugeFrom(reg, 'rpcgw_pinholes', 'Live mappings (pinholes), by rule.', ['rule'], (set) => {
    for (const [rule, v] of perRule(engine, 'pinholes')) set({ rule }, v);
  });
  gaugeFrom(reg, 'rpcgw_connections', 'Live connections, by rule.', ['rule'], (set) => {
    for (const [rule, v] of perRule(engine, 'connections')) set({ rule }, v);
  });
  // Alert on entries / limit before mapping-refused starts.
  const limits = (): { table: string; entries: number; limit: number }[] => {
    const l = engine.rules.gateway.limits;
    return [
      { table: 'mappings', entries: engine.pinholeCount, limit: l.maxMappings },
      { table: 'flows', entries: engine.connectionCount, limit: l.maxFlows },
      { table: 'held-bytes', entries: engine.heldBytes, limit: l.maxHeldBytesTotal },
    ];
  };
  gaugeFrom(reg, 'rpcgw_table_entries', 'Entries in a bounded table (held-bytes: bytes held), see rpcgw_table_limit.', ['table'], (set) => {
    for (const t of limits()) set({ table: t.table }, t.entries);
  });
  gaugeFrom(reg, 'rpcgw_table_limit', 'The limit of that table (gateway.limits).', ['table'], (set) => {
    for (const t of limits()) set({ table: t.table }, t.limit);
  });
  counterFrom(reg, 'rpcgw_packets_sent_raw_socket_total', 'Of rpcgw_packets_sent_total, those sent through the raw IPv4 socket (kernel routed: the destination MAC was not learnt yet); the rest left on the packet socket.', [], one(() => dp.sentOnRawSocket));
  counterFrom(reg, 'rpcgw_send_errors_total', 'Packets the kernel refused to send (socket buffer full, no route).', [], one(() => dp.sendErrors));
  counterFrom(reg, 'rpcgw_capture_truncated_total', 'Captured frames larger than the capture buffer (offloads on?).', [], one(() => dp.truncatedFrames));
  counterFrom(reg, 'rpcgw_capture_undecodable_total', 'Captured frames of a link type or ethertype the daemon does not read.', [], one(() => dp.undecodableFrames));
  if (host !== undefined) {
    counterFrom(reg, 'rpcgw_guard_repairs_total', 'Times the nftables guard table was found missing or altered (nft flush ruleset, nftables restart) and reinstalled.', [], one(() => host.guardRepairs));
  }
  counterFrom(reg, 'rpcgw_reloads_total', 'Rules reloads applied.', [], one(() => dp.reloads));
  counterFrom(reg, 'rpcgw_reload_failures_total', 'Rules reloads refused; the old rules stayed in force.', [], one(() => dp.reloadFailures));
  if (src.kernel !== undefined) kernelMetrics(reg, src.kernel);
  if (src.https !== undefined) httpsMetrics(reg, src.https);
  if (src.processMetrics === true) collectDefaultMetrics({ register: reg, prefix: 'rpcgw_' });
  return reg;
}

/** RPC over HTTPS and web publishing, labelled by the rpcOverHttp / webPublishing entry. */
function httpsMetrics(reg: Registry, h: { counters(): HttpsCounters }): void {
  const rpch = (read: (c: RpchCounters, set: (l: Labels, v: number) => void, name: string) => void) =>
    (set: (l: Labels, v: number) => void): void => {
      for (const [name, c] of h.counters().rpch) read(c, set, name);
    };
  gaugeFrom(reg, 'rpcgw_rpch_virtual_connections', 'Open RPC over HTTP virtual connections, by proxy.', ['proxy'], rpch((c, set, proxy) => set({ proxy }, c.active)));
  counterFrom(reg, 'rpcgw_rpch_virtual_connections_total', 'RPC over HTTP virtual connections begun, by proxy.', ['proxy'], rpch((c, set, proxy) => set({ proxy }, c.virtualConnections)));
  counterFrom(reg, 'rpcgw_rpch_refusals_total', 'RPC over HTTP refusals by proxy and kind: port (outside validPorts), pdu (the inner policy), limit, malformed.', ['proxy', 'kind'], rpch((c, set, proxy) => {
    set({ proxy, kind: 'port' }, c.refusedPorts);
    set({ proxy, kind: 'pdu' }, c.refusedPdus);
    set({ proxy, kind: 'limit' }, c.refusedLimits);
    set({ proxy, kind: 'malformed' }, c.malformed);
  }));
  counterFrom(reg, 'rpcgw_rpch_bytes_total', 'DCE/RPC bytes carried by the RPC proxy, by proxy and direction (in: client to server).', ['proxy', 'direction'], rpch((c, set, proxy) => {
    set({ proxy, direction: 'in' }, c.bytesIn);
    set({ proxy, direction: 'out' }, c.bytesOut);
  }));
  counterFrom(reg, 'rpcgw_web_requests_total', 'Requests forwarded by web publishing, by entry.', ['entry'], (set) => {
    for (const [entry, c] of h.counters().web) set({ entry }, c.requests);
  });
  counterFrom(reg, 'rpcgw_web_backend_errors_total', 'Web publishing requests the backend did not answer (unreachable, untrusted certificate): 502, by entry.', ['entry'], (set) => {
    for (const [entry, c] of h.counters().web) set({ entry }, c.backendErrors);
  });
}

/** The exposition text of a one-off registry (tests, tools). */
export function metricsText(src: MetricsSources): Promise<string> {
  return gatewayRegistry(src).metrics();
}

/**
 * Serves GET /metrics (the registry) and GET /healthz (200 "ok" while `healthy()` says so,
 * else 503 with its reason) on `listen` ("ADDRESS:PORT"). Resolves once listening.
 */
export function serveMetrics(listen: string, reg: Registry, healthy: () => string | null = () => null): Promise<http.Server> {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i);
  const port = Number(listen.slice(i + 1));
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET') return void res.writeHead(405).end('GET only\n');
    if (req.url === '/healthz') {
      const problem = healthy();
      return void (problem === null ? res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n') : res.writeHead(503, { 'content-type': 'text/plain' }).end(`${problem}\n`));
    }
    if (req.url !== '/metrics' && req.url !== '/') return void res.writeHead(404).end('not found: try /metrics or /healthz\n');
    reg.metrics().then(
      (text) => res.writeHead(200, { 'content-type': reg.contentType }).end(text),
      (e: unknown) => res.writeHead(500).end(`${String(e)}\n`),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`metrics listener ${listen}: ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
    server.listen(port, host, () => resolve(server));
  });
}

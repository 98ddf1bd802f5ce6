/** Prometheus text exposition of the engine's counters, and the HTTP listener that serves it. */
import http from 'node:http';
import type { Engine } from '../engine/engine.js';
import { SIDE_NAMES } from '../engine/events.js';
import { REASON_COUNT, REASON_NAMES } from '../engine/reasons.js';

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

function metric(lines: string[], name: string, type: 'counter' | 'gauge', help: string, samples: [string, number][]): void {
  lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
}

export function metricsText(engine: Engine, dp: DataplaneCounters, host?: HostCounters): string {
  const c = engine.counters;
  const l: string[] = [];
  const perSide = (arr: Float64Array): [string, number][] => SIDE_NAMES.map((s, i) => [`{side="${s}"}`, arr[i]!]);
  metric(l, 'rpcgw_up', 'gauge', 'The daemon is running.', [['', 1]]);
  metric(l, 'rpcgw_packets_received_total', 'counter', 'Packets captured and handed to the engine, by side.', perSide(c.packetsIn));
  metric(l, 'rpcgw_bytes_received_total', 'counter', 'IP bytes handed to the engine, by side.', perSide(c.bytesIn));
  metric(l, 'rpcgw_packets_sent_total', 'counter', 'Packets the engine emitted, by side they left on.', perSide(c.packetsOut));
  metric(l, 'rpcgw_bytes_sent_total', 'counter', 'IP bytes the engine emitted, by side.', perSide(c.bytesOut));
  const drops: [string, number][] = [];
  for (let i = 1; i < REASON_COUNT; i++) if (REASON_NAMES[i]) drops.push([`{reason="${REASON_NAMES[i]}"}`, c.drops[i]!]);
  metric(l, 'rpcgw_drops_total', 'counter', 'Packets dropped and connections refused, by reason.', drops);
  metric(l, 'rpcgw_tower_rewrites_total', 'counter', 'Endpoint-mapper towers rewritten to a mapped port.', [['', c.rewrites]]);
  metric(l, 'rpcgw_pinholes_opened_total', 'counter', 'Mappings (pinholes) created.', [['', c.mappingsCreated]]);
  metric(l, 'rpcgw_pinholes_expired_total', 'counter', 'Mappings (pinholes) expired.', [['', c.mappingsExpired]]);
  metric(l, 'rpcgw_connections_opened_total', 'counter', 'Connections forwarded.', [['', c.connectionsOpened]]);
  metric(l, 'rpcgw_connections_closed_total', 'counter', 'Connections closed or expired.', [['', c.connectionsClosed]]);
  metric(l, 'rpcgw_resets_sent_total', 'counter', 'TCP resets sent for refused connections.', [['', c.resetsSent]]);
  metric(l, 'rpcgw_notifications_relayed_total', 'counter', 'New-mail notification datagrams relayed to clients.', [['', c.notificationsRelayed]]);
  metric(l, 'rpcgw_checksums_completed_total', 'counter', 'TCP/UDP segments that arrived with a partial checksum (a neighbour offloading checksums) and left with the full one.', [['', c.checksumsCompleted]]);
  metric(l, 'rpcgw_packets_segmented_total', 'counter', 'Packets longer than the egress MTU or path (GRO/TSO merges) cut into segments.', [['', c.packetsSegmented]]);
  metric(l, 'rpcgw_segments_out_total', 'counter', 'Segments those packets were cut into.', [['', c.segmentsOut]]);
  metric(l, 'rpcgw_icmp_errors_sent_total', 'counter', 'ICMP errors the gateway sent itself (time exceeded, fragmentation needed).', [['', c.icmpErrorsSent]]);
  metric(l, 'rpcgw_icmp_rate_limited_total', 'counter', 'ICMP errors the gateway held back by its rate limit.', [['', c.icmpRateLimited]]);
  metric(l, 'rpcgw_icmp_translated_total', 'counter', 'ICMP errors about a carried connection translated and passed on (Path MTU discovery).', [['', c.icmpTranslated]]);
  metric(l, 'rpcgw_pinholes', 'gauge', 'Live mappings (pinholes).', [['', engine.pinholeCount]]);
  metric(l, 'rpcgw_connections', 'gauge', 'Live connections.', [['', engine.connectionCount]]);
  metric(l, 'rpcgw_held_bytes', 'gauge', 'Bytes of endpoint-mapper segments held until their PDU is complete.', [['', engine.heldBytes]]);
  metric(l, 'rpcgw_sent_packets_total', 'counter', 'Packets sent, by path: packet socket (neighbour learnt) or raw IPv4 socket (kernel routes).', [
    ['{path="packet-socket"}', dp.sentOnPacketSocket],
    ['{path="raw-socket"}', dp.sentOnRawSocket],
  ]);
  metric(l, 'rpcgw_send_errors_total', 'counter', 'Packets the kernel refused to send (socket buffer full, no route).', [['', dp.sendErrors]]);
  metric(l, 'rpcgw_capture_truncated_total', 'counter', 'Captured frames larger than the capture buffer (offloads on?).', [['', dp.truncatedFrames]]);
  metric(l, 'rpcgw_capture_undecodable_total', 'counter', 'Captured frames of a link type or ethertype the daemon does not read.', [['', dp.undecodableFrames]]);
  if (host !== undefined) {
    metric(l, 'rpcgw_guard_repairs_total', 'counter', 'Times the nftables guard table was found missing or altered (nft flush ruleset, nftables restart) and reinstalled.', [['', host.guardRepairs]]);
  }
  metric(l, 'rpcgw_reloads_total', 'counter', 'Rules reloads applied (SIGHUP).', [['', dp.reloads]]);
  metric(l, 'rpcgw_reload_failures_total', 'counter', 'Rules reloads refused (invalid file); the old rules stayed in force.', [['', dp.reloadFailures]]);
  return l.join('\n') + '\n';
}

/** Serves GET /metrics on `listen` ("ADDRESS:PORT"). Resolves once listening. */
export function serveMetrics(listen: string, text: () => string): Promise<http.Server> {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i);
  const port = Number(listen.slice(i + 1));
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && req.url !== '/')) {
      res.writeHead(404).end('not found: try /metrics\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text());
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`metrics listener ${listen}: ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
    server.listen(port, host, () => resolve(server));
  });
}

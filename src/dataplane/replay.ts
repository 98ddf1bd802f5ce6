/**
 * `rpcgw replay`: runs a capture through the engine, deterministically, and writes what the
 * engine emitted (a pcapng with one interface per side, or a classic pcap) and a JSON report.
 *
 * Two kinds of input:
 * - gateway: what the gateway's two interfaces saw. Packets addressed to an external address
 *   enter on the external side, packets addressed to the gateway's internal address on the
 *   internal side; anything else (the gateway's own output, other hosts) is skipped.
 * - direct: a client↔server capture taken without a gateway (all the public corpus). The
 *   replayer plays both ends as if each rule's server were published behind the gateway:
 *   client packets to the server are readdressed to the rule's external address (and, for a
 *   follow-up connection to a dynamic port, to the mapped port the engine gave that client);
 *   server packets to the client are readdressed to the gateway's internal address and the
 *   source port the engine chose for that connection. Checksums are recomputed after that
 *   readdressing (captures taken with checksum offload carry partial ones, a bad one is thus
 *   repaired), so the engine's incremental updates start from valid packets; the engine is told
 *   so and does not sum those bytes a second time. Nor does it decode them again: each field the
 *   readdressing writes (destination address and port, the client's ACK number) is written into
 *   the replay's decode too, which the engine then takes (onPacket's `decoded`).
 * Replays pick up connections that start mid-stream (many captures have no SYN).
 *
 * The output shows each of the gateway's interfaces as a capture on it would: the packets that
 * arrived there (inbound) and the ones the engine sent out of it (outbound) — in pcapng, one
 * named interface per side with the direction in each packet's flags — so Wireshark follows
 * every conversation on either side. `emittedOnly` keeps just what the engine sent.
 *
 * The report is streamed: each record (rewrite, mapping, connection, closed, refusal,
 * notification) goes to `onRecord` as the engine makes it, and only counts are kept, so a
 * replay of millions of connections holds none of them in memory. `REPLAY_REPORT_SCHEMA`
 * describes the JSON-lines form the CLI writes.
 */
import { CaptureFileWriter, openCaptureFile } from './capture-file.js';
import { CaptureRecord } from '../pcap/record.js';
import { ReportLines } from './report-lines.js';
import { wr16, wr32 } from '../dcerpc/ndr.js';
import { EPB_FLAG_INBOUND, EPB_FLAG_OUTBOUND } from '../pcap/writer.js';
import { ETH_HDR_LEN, LINKTYPE_ETHERNET, LINKTYPE_RAW } from '../wire/link.js';
import { IPPROTO_TCP, PacketView, readPacket, readRawIpv4Tcp, TCP_ACK } from '../wire/packet.js';
import { finishIpv4Checksum, finishTcpChecksumV4 } from '../wire/checksum.js';
import { OK } from '../wire/status.js';
import type { CompiledRules } from '../policy/compiled.js';
import { Engine, EPM_PORT } from '../engine/engine.js';
import { closedRecordOf, connectionRecordOf, mappingRecordOf, notificationRecordOf, refusalRecordOf, rewriteRecordOf } from '../ops/event-records.js';
import { selectOutboundRule } from '../policy/match.js';
import {
  type ConnectionClosedRecord,
  type ConnectionRecord,
  type EngineEvents,
  type MappingRecord,
  type NotificationRecord,
  type RefusalRecord,
  type RewriteRecord,
  SIDE_EXTERNAL,
  SIDE_INTERNAL,
  SIDE_NAMES,
} from '../engine/events.js';

export type ReplayMode = 'auto' | 'gateway' | 'direct';

export interface ReplayOptions {
  capture: string;
  rules: CompiledRules;
  rulesFile: string;
  out: string;
  mode: ReplayMode;
  seed?: number;
  /** Write only the packets the engine emitted (default: both directions of each interface). */
  emittedOnly?: boolean;
  /**
   * Receives each record as it is made (the object is the caller's to keep or drop). With
   * onReportLine, only refusals and notifications: the other kinds go there as text only.
   */
  onRecord?: (rec: ReplayRecord) => void;
  /**
   * Receives each record as its report line, `JSON.stringify` of the record (no newline), as it
   * is made: what the CLI's `--report` writes. Connection, closed, rewrite and mapping lines are
   * written from the engine's numbers without making the record (report-lines.ts).
   */
  onReportLine?: (line: string) => void;
  /**
   * false: only refusal and notification records go to onRecord, and the engine makes no others
   * (they cost strings; the summary's counts come from the engine's counters either way).
   */
  allRecords?: boolean;
  /** Tests: the engine verifies again the checksums direct mode recomputed (the slow path, for comparison). */
  verifyRecomputed?: boolean;
  /** Tests: the engine is handed raw bytes to decode again (the plain path), not the replay's decode. */
  engineDecodes?: boolean;
}

/** The kinds of record a replay streams, in the `record` field of each JSON line. */
export type ReplayRecordKind = 'rewrite' | 'mapping' | 'connection' | 'closed' | 'refusal' | 'notification';

export type RewriteReport = RewriteRecord & { record: 'rewrite'; frame: number };
export type MappingReport = MappingRecord & { record: 'mapping'; frame: number };
export type ConnectionReport = ConnectionRecord & { record: 'connection'; frame: number };
export type ClosedReport = ConnectionClosedRecord & { record: 'closed'; frame: number };
export type RefusalReport = RefusalRecord & { record: 'refusal'; frame: number };
export type NotificationReport = NotificationRecord & { record: 'notification'; frame: number };
export type ReplayRecord = RewriteReport | MappingReport | ConnectionReport | ClosedReport | RefusalReport | NotificationReport;

/** Identifies the JSON-lines report: the first line is `{"record":"replay","schema":...}`. */
export const REPLAY_REPORT_SCHEMA = 'rpcgw-replay-report/2';

/** The totals of a replay (the report's last line, `record: "summary"`). */
export interface ReplayReport {
  input: string;
  rules: string;
  output: string;
  mode: 'gateway' | 'direct';
  frames: number;
  packetsIn: Record<string, number>;
  bytesIn: Record<string, number>;
  packetsOut: Record<string, number>;
  bytesOut: Record<string, number>;
  /** Frames not handed to the engine, by reason (not IPv4/TCP, not addressed to the gateway ...). */
  skipped: Record<string, number>;
  /** How many records of each kind were streamed. */
  records: Record<ReplayRecordKind, number>;
  notificationsRelayed: number;
  drops: Record<string, number>;
  resetsSent: number;
  liveMappingsAtEnd: number;
  liveConnectionsAtEnd: number;
  truncatedAtEnd: boolean;
}

/**
 * readPacket of a captured frame. `ipOnly` (both modes read only the IP header's fields on): an
 * Ethernet frame of IPv4 is decoded from its IP header on, without the link stage and the view's
 * reset, as readPacket would decode it there; any failure is decoded again in full, for its reason.
 */
export function decodeFrame(rec: CaptureRecord, v: PacketView, ipOnly: boolean): number {
  const buf = rec.data;
  const off = rec.dataOff;
  if (ipOnly && rec.linkType === LINKTYPE_ETHERNET && rec.capLen > ETH_HDR_LEN && buf[off + 12] === 0x08 && buf[off + 13] === 0x00 && buf[off + ETH_HDR_LEN]! >> 4 === 4) {
    // (A version nibble other than 4 goes the whole way: the raw-IP decoder would take it as IPv6.)
    if (readRawIpv4Tcp(buf, off + ETH_HDR_LEN, rec.capLen - ETH_HDR_LEN, v) === OK) return OK;
  }
  return readPacket(buf, off, rec.capLen, rec.linkType, v);
}

/**
 * Direct mode's readdressing of a packet to the gateway: its destination address and port in the
 * bytes (checksums are finished after) and in its decode, which the engine may then take.
 */
function readdress(buf: Uint8Array, ipOff: number, v: PacketView, ip: number, port: number): void {
  wr32(buf, ipOff + 16, ip, false);
  wr16(buf, v.l4Off + 2, port, false);
  v.dst4 = ip >>> 0;
  v.dstPort = port;
}

/**
 * Whether the view decodeFrame (ipOnly) just filled with OK is, field for field, what the engine's
 * own decode, readRawIpv4Tcp(buf, v.l3Off, v.ipTotalLen), would make of the same bytes: it was
 * decoded that way (from the IP header of an Ethernet frame: linkType raw, l2Off at the IP
 * header; Ethernet padding after the IP length changes nothing) and its length is the header's,
 * not the capture's (a TSO length of 0 is written back into the bytes first, and the engine's
 * view would not accept the 0). Then the engine may take the view as it is (onPacket's `decoded`).
 * test/dataplane/replay-decode.test.ts compares the two decodes over any frame.
 */
export function engineCanTakeDecode(v: PacketView): boolean {
  return v.linkType === LINKTYPE_RAW && v.l2Off === v.l3Off && v.ipLenFromCapture === 0 && v.ipProto === IPPROTO_TCP && v.l4Off >= 0;
}

export function replayCapture(opts: ReplayOptions): ReplayReport {
  const rules = opts.rules;
  const reader = openCaptureFile(opts.capture);
  const pcapng = opts.out.endsWith('.pcapng');
  const writer = CaptureFileWriter.create(opts.out, pcapng ? 'pcapng' : 'pcap', LINKTYPE_RAW, SIDE_NAMES[SIDE_EXTERNAL]);
  const ifaceOf = [0, pcapng ? writer.addInterface(LINKTYPE_RAW, SIDE_NAMES[SIDE_INTERNAL]) : 0];
  const inbound = pcapng ? EPB_FLAG_INBOUND : 0;
  const outbound = pcapng ? EPB_FLAG_OUTBOUND : 0;
  const withInput = opts.emittedOnly !== true;
  const trustRecomputed = opts.verifyRecomputed !== true;
  const reuseDecode = opts.engineDecodes !== true;
  /**
   * Hands a packet to the engine, recording it as it arrived on that side first. `csumDone`:
   * its TCP checksum was just recomputed here (direct mode), so the engine need not verify it.
   * `decoded`: the engine's own decode of these bytes, already made here (onPacket's `decoded`).
   */
  const feed = (side: number, buf: Uint8Array, off: number, len: number, nowMs: number, csumDone: boolean, decoded: PacketView | null = null): void => {
    if (withInput) writer.write(tsSec, tsNsec, buf, off, len, len, ifaceOf[side], inbound);
    engine.onPacket(side, buf, off, len, nowMs, csumDone && trustRecomputed, decoded);
  };
  let tsSec = 0;
  let tsNsec = 0;
  let frame = 0;

  const report: ReplayReport = {
    input: opts.capture, rules: opts.rulesFile, output: opts.out, mode: 'direct', frames: 0,
    packetsIn: {}, bytesIn: {}, packetsOut: {}, bytesOut: {}, skipped: {},
    records: { rewrite: 0, mapping: 0, connection: 0, closed: 0, refusal: 0, notification: 0 },
    notificationsRelayed: 0, drops: {}, resetsSent: 0, liveMappingsAtEnd: 0, liveConnectionsAtEnd: 0, truncatedAtEnd: false,
  };
  const skip = (why: string): void => {
    report.skipped[why] = (report.skipped[why] ?? 0) + 1;
  };
  const lineSink = opts.onReportLine;
  // With a line sink the frequent kinds are written as text only; rare ones are made as records for both.
  const sink = lineSink === undefined ? opts.onRecord : undefined;
  const rareSink = opts.onRecord;
  const lines = lineSink !== undefined ? new ReportLines() : null;
  const counts = report.records;
  const rare = (r: RefusalReport | NotificationReport): void => {
    rareSink?.(r);
    lineSink?.(JSON.stringify(r));
  };

  // The report's records are made here from the engine's numbers, only when someone reads them.
  const events: EngineEvents = {
    opened: (e) => (lines !== null ? lineSink!(lines.connection(frame, e)) : sink?.({ record: 'connection', frame, ...connectionRecordOf(e) })),
    closed: (e) => (lines !== null ? lineSink!(lines.closed(frame, e)) : sink?.({ record: 'closed', frame, ...closedRecordOf(e) })),
    rewrote: (e) => (lines !== null ? lineSink!(lines.rewrite(frame, e)) : sink?.({ record: 'rewrite', frame, ...rewriteRecordOf(e) })),
    pinholeOpened: (e) => (lines !== null ? lineSink!(lines.mapping(frame, e)) : sink?.({ record: 'mapping', frame, ...mappingRecordOf(e) })),
    pinholeExpired: () => {},
    refused: (e) => {
      counts.refusal++;
      if (rareSink !== undefined || lineSink !== undefined) rare({ record: 'refusal', frame, ...refusalRecordOf(e) });
    },
    notified: (e) => {
      counts.notification++;
      if (rareSink !== undefined || lineSink !== undefined) rare({ record: 'notification', frame, ...notificationRecordOf(e) });
    },
    packetDropped: () => {},
  };
  const engine = new Engine({
    rules,
    events,
    records: (rareSink !== undefined || lineSink !== undefined) && opts.allRecords !== false,
    seed: opts.seed ?? 1,
    midstreamPickup: true,
    output: {
      emit(side, pkt, off, len) {
        writer.write(tsSec, tsNsec, pkt, off, len, len, ifaceOf[side], outbound);
      },
    },
  });

  // Addresses as int32 keys (ip | 0): a u32 above 2^31 looked up as is was a heap number per frame.
  const servers = new Map<number, number>(); // server ip | 0 → rule index
  for (const r of rules.rules) if (r.enabled && !r.outbound && !servers.has(r.serverIp | 0)) servers.set(r.serverIp | 0, r.index);
  // Outbound rules: a direct capture's client is inside (fed as is on the internal side), its
  // server outside (fed on the external side, addressed to the NAT source the engine chose).
  // Without one (the usual replay) a frame to or from no published server costs no rule walk.
  const anyOutbound = rules.rules.some((r) => r.enabled && r.outbound);
  const outboundPair = (src: number, dst: number): boolean => anyOutbound && selectOutboundRule(rules, src, dst) >= 0;
  const externals = new Set<number>([rules.gateway.externalIp | 0, ...rules.rules.map((r) => r.externalIp | 0)]);
  const gwIp = rules.gateway.internalIp;

  const rec = new CaptureRecord();
  const v = new PacketView();
  // Captures taken with segmentation offload carry IPv4 total length 0: take the captured length.
  v.acceptTsoZeroLen = 1;
  let mode: 'gateway' | 'direct' | null = opts.mode === 'auto' ? null : opts.mode;

  try {
    while (reader.next(rec)) {
      frame = reader.frameNumber;
      report.frames++;
      if (decodeFrame(rec, v, true) !== OK) {
        skip(`undecodable frame: ${v.errReason}`);
        continue;
      }
      if (v.ipVersion !== 4) {
        skip('not IPv4');
        continue;
      }
      tsSec = rec.tsSec;
      tsNsec = rec.tsNsec;
      const nowMs = rec.tsSec * 1000 + Math.floor(rec.tsNsec / 1e6);
      const buf = rec.data;
      const ipOff = v.l3Off;
      const ipLen = v.ipTotalLen;
      if (v.ipLenFromCapture) {
        // Write the real length back, as the sending host's NIC would have on the wire.
        buf[ipOff + 2] = ipLen >>> 8;
        buf[ipOff + 3] = ipLen & 0xff;
        finishIpv4Checksum(buf, ipOff, v.ipHdrLen);
      }
      if (mode === null) {
        mode = externals.has(v.dst4 | 0) || v.dst4 === gwIp ? 'gateway'
          : servers.has(v.dst4 | 0) || servers.has(v.src4 | 0) || outboundPair(v.src4, v.dst4) || outboundPair(v.dst4, v.src4) ? 'direct' : null;
      }
      if (mode === 'gateway' || mode === null) {
        const side = externals.has(v.dst4 | 0) ? SIDE_EXTERNAL : v.dst4 === gwIp ? SIDE_INTERNAL : -1;
        // The engine takes this decode, when it is the engine's own, rather than making it again.
        if (side < 0) skip('not addressed to the gateway');
        else feed(side, buf, ipOff, ipLen, nowMs, false, mode === 'gateway' && reuseDecode && engineCanTakeDecode(v) ? v : null);
        continue;
      }
      // direct mode
      if (v.ipProto !== IPPROTO_TCP || v.l4Off < 0 || v.isFragment) {
        skip(servers.has(v.dst4 | 0) || servers.has(v.src4 | 0) ? 'not TCP (only TCP is published)' : 'not to or from a published server');
        continue;
      }
      const toRule = servers.get(v.dst4 | 0);
      const fromRule = servers.get(v.src4 | 0);
      // Whether the view is the engine's own decode of these bytes: it stays so below, each field
      // the readdressing writes being written into the view too.
      const decoded = reuseDecode && engineCanTakeDecode(v) ? v : null;
      let side = -1;
      // Client → server: to 135, or to a port the engine mapped for this client.
      if (toRule !== undefined) {
        const rule = rules.rules[toRule]!;
        // A dynamic port: the pinhole a tower rewrite opened for this client (direct mode plays it).
        const extPort = v.dstPort === EPM_PORT ? EPM_PORT : engine.mappedPortOf(toRule, v.src4, v.dst4, v.dstPort);
        if (extPort >= 0) {
          readdress(buf, ipOff, v, rule.externalIp, extPort);
          side = SIDE_EXTERNAL;
          // A client behind the gateway acknowledges what the gateway sent it (its numbering
          // differs after the gateway changed a PDU's length).
          const flow = engine.connectionOf(v.src4, v.srcPort, rule.externalIp, extPort);
          if (flow >= 0 && (v.tcpFlags & TCP_ACK) !== 0) {
            const ack = engine.clientSideSeq(flow, v.tcpAck) >>> 0;
            wr32(buf, v.l4Off + 8, ack, false);
            v.tcpAck = ack;
          }
        }
      }
      // Server → client: from 135 or a mapped server port, to the connection the engine opened.
      if (side < 0 && fromRule !== undefined) {
        const rule = rules.rules[fromRule]!;
        const extPort = v.srcPort === EPM_PORT ? EPM_PORT : engine.mappedPortOf(fromRule, v.dst4, v.src4, v.srcPort);
        if (extPort >= 0) {
          const flow = engine.connectionOf(v.dst4, v.dstPort, rule.externalIp, extPort);
          if (flow < 0) {
            skip('server packet before any client packet of its connection');
            continue;
          }
          readdress(buf, ipOff, v, gwIp, engine.gatewayPortOf(flow));
          side = SIDE_INTERNAL;
        }
      }
      if (side < 0 && toRule === undefined && fromRule === undefined) {
        if (outboundPair(v.src4, v.dst4)) {
          feed(SIDE_INTERNAL, buf, ipOff, ipLen, nowMs, false, decoded);
          continue;
        }
        const natPort = outboundPair(v.dst4, v.src4) ? engine.outboundPortOf(v.dst4, v.dstPort, v.src4, v.srcPort) : -1;
        if (natPort >= 0) {
          readdress(buf, ipOff, v, rules.gateway.externalIp, natPort);
          side = SIDE_EXTERNAL;
        }
      }
      if (side < 0) {
        skip(toRule !== undefined || fromRule !== undefined ? 'port not published for this client' : 'not to or from a published server');
        continue;
      }
      finishIpv4Checksum(buf, ipOff, v.ipHdrLen);
      finishTcpChecksumV4(buf, ipOff, v.l4Off, ipLen - v.ipHdrLen);
      feed(side, buf, ipOff, ipLen, nowMs, true, decoded);
    }
    report.truncatedAtEnd = reader.truncatedAtEnd;
  } finally {
    reader.close();
    writer.close();
  }

  const c = engine.counters;
  report.mode = mode ?? 'direct';
  counts.connection = c.connectionsOpened;
  counts.closed = c.connectionsClosed;
  counts.rewrite = c.rewrites;
  counts.mapping = c.mappingsCreated;
  for (const side of [SIDE_EXTERNAL, SIDE_INTERNAL]) {
    const name = SIDE_NAMES[side]!;
    report.packetsIn[name] = c.packetsIn[side]!;
    report.bytesIn[name] = c.bytesIn[side]!;
    report.packetsOut[name] = c.packetsOut[side]!;
    report.bytesOut[name] = c.bytesOut[side]!;
  }
  report.drops = c.dropsByName();
  report.resetsSent = c.resetsSent;
  report.notificationsRelayed = c.notificationsRelayed;
  report.liveMappingsAtEnd = engine.pinholeCount;
  report.liveConnectionsAtEnd = engine.connectionCount;
  return report;
}


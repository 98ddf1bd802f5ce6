/**
 * `rpcgw inspect`: reads a capture file and reports every endpoint-mapper call in it.
 *
 * Frames → wire decode → TCP flows with an end on port 135 → per-direction ByteStream (order,
 * retransmissions, mid-stream pickup) → EpmInspector. Offline diagnostics, so flows are keyed
 * by strings here; the gateway's packet path uses the numeric tables of nat/ instead.
 */
import { openCaptureFile } from '../dataplane/capture-file.js';
import { CaptureRecord } from '../pcap/record.js';
import { PacketView, readPacket, TCP_SYN, IPPROTO_TCP } from '../wire/packet.js';
import { ipv4ToString, ipv6ToString } from '../wire/addr.js';
import { OK, STATUS_NAMES } from '../wire/status.js';
import { ByteStream } from '../stream/byte-stream.js';
import { EpmInspector, type EpmCallRecord, type InspectorSink, type ProblemRecord } from './inspector.js';

export const EPM_PORT = 135;

/** Bound on tracked connections, so a capture of a port scan cannot exhaust memory. */
const MAX_FLOWS = 65536;

export interface InspectedCall extends EpmCallRecord {
  client: string;
  server: string;
  /** Capture timestamp of the response frame, seconds since the epoch. */
  time: number;
}

export interface InspectedProblem extends ProblemRecord {
  client: string;
  server: string;
}

export interface InspectSummary {
  file: string;
  format: string;
  frames: number;
  ipPackets: number;
  tcpSegments: number;
  epmConnections: number;
  pdus: number;
  epmCalls: number;
  towers: number;
  problems: number;
  /** Frames the wire decoder could not read (non-IP link types, truncated captures), by reason. */
  undecodedFrames: Record<string, number>;
  truncatedAtEnd: boolean;
}

export interface InspectOutput {
  call(rec: InspectedCall): void;
  problem(rec: InspectedProblem): void;
}

class Connection implements InspectorSink {
  readonly toServer = new ByteStream();
  readonly toClient = new ByteStream();
  readonly inspector: EpmInspector;
  time = 0;
  lastFrame = 0;

  constructor(
    readonly client: string,
    readonly server: string,
    private readonly out: InspectOutput,
    private readonly summary: InspectSummary,
  ) {
    this.inspector = new EpmInspector(this, true);
  }

  onCall(rec: EpmCallRecord): void {
    this.summary.epmCalls++;
    this.summary.towers += rec.towers.length;
    this.out.call({ ...rec, client: this.client, server: this.server, time: this.time });
  }

  onProblem(rec: ProblemRecord): void {
    this.summary.problems++;
    this.out.problem({ ...rec, client: this.client, server: this.server });
  }
}

function endpoint(v: PacketView, buf: Uint8Array, src: boolean): string {
  const port = src ? v.srcPort : v.dstPort;
  if (v.ipVersion === 4) return `${ipv4ToString(src ? v.src4 : v.dst4)}:${port}`;
  return `[${ipv6ToString(buf, src ? v.src6Off : v.dst6Off)}]:${port}`;
}

/** Reads `file` and reports every EPM call to `out`. Throws CaptureFileError if the file is unreadable. */
export function inspectCapture(file: string, out: InspectOutput): InspectSummary {
  const reader = openCaptureFile(file);
  const rec = new CaptureRecord();
  const view = new PacketView();
  // Captures taken with segmentation offload carry IPv4 total length 0: take the captured length.
  view.acceptTsoZeroLen = 1;
  const flows = new Map<string, Connection>();
  const summary: InspectSummary = {
    file, format: reader.format, frames: 0, ipPackets: 0, tcpSegments: 0, epmConnections: 0, pdus: 0,
    epmCalls: 0, towers: 0, problems: 0, undecodedFrames: {}, truncatedAtEnd: false,
  };
  try {
    while (reader.next(rec)) {
      summary.frames++;
      const frameNo = reader.frameNumber;
      const st = readPacket(rec.data, rec.dataOff, rec.capLen, rec.linkType, view);
      if (st !== OK) {
        const key = `${STATUS_NAMES[st]}: ${view.errReason}`;
        summary.undecodedFrames[key] = (summary.undecodedFrames[key] ?? 0) + 1;
        continue;
      }
      summary.ipPackets++;
      if (view.ipProto !== IPPROTO_TCP || view.l4Off < 0) continue;
      summary.tcpSegments++;
      const toServer = view.dstPort === EPM_PORT;
      if (!toServer && view.srcPort !== EPM_PORT) continue;
      const client = endpoint(view, rec.data, toServer);
      const server = endpoint(view, rec.data, !toServer);
      const key = `${client}>${server}`;
      let conn = flows.get(key);
      if (conn === undefined) {
        if (flows.size >= MAX_FLOWS) continue;
        conn = new Connection(client, server, out, summary);
        flows.set(key, conn);
        summary.epmConnections++;
      }
      conn.time = rec.tsSec + rec.tsNsec / 1e9;
      conn.lastFrame = frameNo;
      const stream = toServer ? conn.toServer : conn.toClient;
      const sink = toServer ? conn.inspector.client : conn.inspector.server;
      if ((view.tcpFlags & TCP_SYN) !== 0) {
        stream.onSyn(view.tcpSeq);
        continue;
      }
      if (view.payloadLen > 0) stream.push(view.tcpSeq, rec.data, view.payloadOff, view.payloadLen, frameNo, sink);
    }
    summary.truncatedAtEnd = reader.truncatedAtEnd;
  } finally {
    reader.close();
  }
  // Deliver what still waits behind holes in the capture.
  for (const conn of flows.values()) {
    conn.toServer.flush(conn.inspector.client);
    conn.toClient.flush(conn.inspector.server);
    conn.inspector.finish(conn.lastFrame);
    summary.pdus += conn.inspector.pdus;
  }
  return summary;
}

/**
 * Reads the endpoint-mapper conversation of one TCP connection and reports every EPM call:
 * what was asked (ept_map's requested interface) and what came back (every tower). This is
 * the reporting path of `rpcgw inspect` — it allocates one record per call, never per packet.
 *
 * Per direction: in-order bytes from stream/ByteStream → PDU framing (dcerpc/co-stream, the
 * gateway's own reader) → bind/bind_ack context table (which context is EPM, NDR or NDR64) →
 * per-call fragment reassembly → ept_map / ept_lookup stub decoders, with the gateway's pending-
 * call table and NDR/NDR64 guess. Problems are reported with the frame and the offset inside the PDU
 * and the connection carries on; nothing here throws on wire input.
 */
import type { StreamSink } from '../stream/byte-stream.js';
import { OK, STATUS_NAMES } from '../wire/status.js';
import {
  PTYPE_ALTER_CONTEXT,
  PTYPE_ALTER_CONTEXT_RESP,
  PTYPE_BIND,
  PTYPE_BIND_ACK,
  PTYPE_FAULT,
  PTYPE_NAMES,
  PTYPE_REQUEST,
  PTYPE_RESPONSE,
  UUID_EPM,
} from '../dcerpc/constants.js';
import { CoHeader, readCoHeader } from '../dcerpc/header.js';
import { CO_ERROR, CO_INCOMPLETE, CoStream } from '../dcerpc/co-stream.js';
import { PendingCalls } from '../dcerpc/pending-calls.js';
import { BindAckView, BindView, FaultView, RequestView, ResponseView, readBind, readBindAck, readFault, readRequest, readResponse } from '../dcerpc/pdu.js';
import { FragmentReassembler, ReassembledCall } from '../dcerpc/reassembly.js';
import { PresentationContexts } from '../dcerpc/context.js';
import { uuidToString } from '../dcerpc/uuid.js';
import { EPT_LOOKUP, EPT_MAP, PROTO_NAMES } from '../epm/constants.js';
import { EptMapRequestView, EptMapResponseView, readEptMapRequest, readEptMapResponse } from '../epm/ept-map.js';
import { EptLookupResponseView, readEptLookupResponse } from '../epm/ept-lookup.js';
import { mapRequestNdr64, readEpmResponse, responseGuess, syntaxOrder } from '../epm/stub-syntax.js';
import { asciiAt, type TowerView, towerPipeOrHost, towerUuidToString } from '../epm/tower.js';
import { ipv4ToString } from '../wire/addr.js';

/** Calls remembered per connection while waiting for their response. */
const MAX_PENDING_CALLS = 64;

export const EPM_OPNAMES: readonly string[] = [
  'ept_insert', 'ept_delete', 'ept_lookup', 'ept_map', 'ept_lookup_handle_free', 'ept_inq_object', 'ept_mgmt_delete', 'ept_map_auth',
];

export interface TowerRecord {
  index: number;
  interface: string;
  version: string;
  transferSyntax: string;
  protocol: string;
  ip: string;
  port: number | null;
  /** Named pipe, local endpoint, NetBIOS host or an unknown floor as `0xNN:<rhs hex>`. */
  endpoint: string;
  object?: string;
  annotation?: string;
}

export interface EpmCallRecord {
  frame: number;
  requestFrame: number | null;
  callId: number;
  opnum: number;
  op: string;
  syntax: 'NDR' | 'NDR64' | 'unknown';
  /** error_status_t of the response, or the fault status when the server faulted. */
  status: number;
  fault: boolean;
  requested: { interface: string; version: string } | null;
  towers: TowerRecord[];
}

export interface ProblemRecord {
  frame: number;
  /** Which side sent the bytes. */
  from: 'client' | 'server';
  layer: 'dcerpc' | 'epm' | 'stream';
  /** Offset inside the PDU (dcerpc, epm) where decoding stopped; -1 when not applicable. */
  pduOffset: number;
  ptype: string;
  reason: string;
}

export interface InspectorSink {
  onCall(rec: EpmCallRecord): void;
  onProblem(rec: ProblemRecord): void;
}

type Requested = { interface: string; version: string } | null;

/** The bytes of one direction, cut into PDUs. */
class DirectionFramer implements StreamSink {
  private readonly cur = new CoStream();
  /** After a gap or junk: drop bytes until a PDU header is plausible. */
  private resync = false;

  constructor(
    private readonly conv: EpmInspector,
    readonly fromClient: boolean,
  ) {}

  onBytes(data: Uint8Array, off: number, len: number, frameNo: number): void {
    const c = this.cur;
    c.begin(data, off, len, 0);
    for (;;) {
      const ev = c.nextPdu();
      if (ev === CO_INCOMPLETE) return;
      if (ev === CO_ERROR) {
        // Not a PDU header here: the stream was picked up mid-PDU or bytes were lost.
        if (!this.resync) {
          this.conv.problem(frameNo, this.fromClient, 'stream', -1, '', `no DCE/RPC header where one was expected (${c.errReason}); skipping to the next segment`);
        }
        this.resync = true;
        c.skipChunk();
        return;
      }
      this.resync = false;
      this.conv.onPdu(this.fromClient, c.pduBuf, c.pduOff, c.fragLen, frameNo);
    }
  }

  /** End of capture (or of the connection): a PDU still waiting for bytes is reported. */
  finish(frameNo: number): void {
    const c = this.cur;
    if (c.pos > 0 && !this.resync) {
      const want = c.fragLen > 0 ? ` of ${c.fragLen}` : '';
      this.conv.problem(frameNo, this.fromClient, 'dcerpc', c.pos, '', `connection ended inside a PDU: ${c.pos}${want} bytes received (frag_length beyond the data?)`);
    }
    c.reset();
  }

  onGap(frameNo: number): void {
    const c = this.cur;
    if (c.pos > 0) this.conv.problem(frameNo, this.fromClient, 'stream', -1, '', `${c.pos} bytes of a PDU lost to a gap in the capture`);
    c.reset();
    this.resync = true;
  }
}

export class EpmInspector {
  readonly client: DirectionFramer;
  readonly server: DirectionFramer;
  /** Number of DCE/RPC PDUs framed on this connection. */
  pdus = 0;

  private readonly contexts = new PresentationContexts();
  private readonly pending = new PendingCalls(MAX_PENDING_CALLS);
  /** Per pending-call slot: the request's frame and the interface ept_map asked for. */
  private readonly pendingFrame = new Float64Array(MAX_PENDING_CALLS);
  private readonly pendingRequested: Requested[] = new Array<Requested>(MAX_PENDING_CALLS).fill(null);
  private readonly reasmClient = new FragmentReassembler();
  private readonly reasmServer = new FragmentReassembler();
  private readonly hdr = new CoHeader();
  private readonly bind = new BindView();
  private readonly ack = new BindAckView();
  private readonly req = new RequestView();
  private readonly resp = new ResponseView();
  private readonly fault = new FaultView();
  private readonly call = new ReassembledCall();
  private readonly mapReq = new EptMapRequestView();
  private readonly mapResp = new EptMapResponseView();
  private readonly lookupResp = new EptLookupResponseView();

  /**
   * @param assumeEpm treat contexts whose bind was not captured as EPM (the server port is 135).
   */
  constructor(
    private readonly sink: InspectorSink,
    private readonly assumeEpm: boolean,
  ) {
    this.client = new DirectionFramer(this, true);
    this.server = new DirectionFramer(this, false);
  }

  /** The capture ended: report PDUs left incomplete. */
  finish(lastFrame: number): void {
    this.client.finish(lastFrame);
    this.server.finish(lastFrame);
  }

  problem(frame: number, fromClient: boolean, layer: ProblemRecord['layer'], pduOffset: number, ptype: string, reason: string): void {
    this.sink.onProblem({ frame, from: fromClient ? 'client' : 'server', layer, pduOffset, ptype, reason });
  }

  onPdu(fromClient: boolean, buf: Uint8Array, off: number, len: number, frame: number): void {
    this.pdus++;
    const h = this.hdr;
    const st = readCoHeader(buf, off, len, h);
    if (st !== OK) {
      this.problem(frame, fromClient, 'dcerpc', h.errOffset - off, '', `${STATUS_NAMES[st]}: ${h.errReason}`);
      return;
    }
    const ptypeName = PTYPE_NAMES[h.ptype] ?? `ptype ${h.ptype}`;
    switch (h.ptype) {
      case PTYPE_BIND:
      case PTYPE_ALTER_CONTEXT: {
        const s = readBind(buf, off, len, this.bind);
        if (s !== OK) return this.problem(frame, fromClient, 'dcerpc', this.bind.errOffset - off, ptypeName, `${STATUS_NAMES[s]}: ${this.bind.errReason}`);
        this.contexts.onBind(buf, this.bind);
        return;
      }
      case PTYPE_BIND_ACK:
      case PTYPE_ALTER_CONTEXT_RESP: {
        const s = readBindAck(buf, off, len, this.ack);
        if (s !== OK) return this.problem(frame, fromClient, 'dcerpc', this.ack.errOffset - off, ptypeName, `${STATUS_NAMES[s]}: ${this.ack.errReason}`);
        this.contexts.onBindAck(this.ack);
        return;
      }
      case PTYPE_REQUEST:
        if (fromClient) this.onRequest(buf, off, len, frame, ptypeName);
        return;
      case PTYPE_RESPONSE:
        if (!fromClient) this.onResponse(buf, off, len, frame, ptypeName);
        return;
      case PTYPE_FAULT:
        if (!fromClient) this.onFault(buf, off, len, frame, ptypeName);
        return;
      default:
        return;
    }
  }

  /** Is this context the endpoint mapper (or, without a captured bind, presumed to be)? */
  private isEpm(ctxId: number): boolean {
    if (this.contexts.isAccepted(ctxId)) return this.contexts.interfaceMatches(ctxId, UUID_EPM, 3);
    return this.assumeEpm;
  }

  private onRequest(buf: Uint8Array, off: number, len: number, frame: number, ptypeName: string): void {
    const r = this.req;
    const s = readRequest(buf, off, len, r);
    if (s !== OK) return this.problem(frame, true, 'dcerpc', r.errOffset - off, ptypeName, `${STATUS_NAMES[s]}: ${r.errReason}`);
    if (!this.isEpm(r.ctxId)) return;
    const c = this.call;
    const rs = this.reasmClient.add(buf, off, this.hdr, r.stubOff, r.stubLen, c);
    if (rs !== OK) return this.problem(frame, true, 'dcerpc', c.errOffset - off, ptypeName, `${STATUS_NAMES[rs]}: ${c.errReason}`);
    if (!c.complete) return;
    let requested: Requested = null;
    if (r.opnum === EPT_MAP && r.authLevel < 6) {
      const m = this.mapReq;
      const ndr64 = mapRequestNdr64(syntaxOrder(this.contexts.syntaxOf(r.ctxId)), c.data, c.off, c.len, this.hdr.littleEndian, m);
      const ms = readEptMapRequest(c.data, c.off, c.len, ndr64, this.hdr.littleEndian, m);
      if (ms !== OK) {
        this.problem(frame, true, 'epm', m.errOffset - c.off, 'ept_map request', `${STATUS_NAMES[ms]}: ${m.errReason} (stub offset)`);
      } else if (m.towerPresent && m.tower.ifUuidOff >= 0) {
        requested = { interface: towerUuidToString(c.data, m.tower.ifUuidOff), version: `${m.tower.ifMajor}.${m.tower.ifMinor}` };
      }
    }
    const slot = this.pending.expect(this.hdr.callId, r.opnum);
    this.pendingFrame[slot] = frame;
    this.pendingRequested[slot] = requested;
  }

  private onFault(buf: Uint8Array, off: number, len: number, frame: number, ptypeName: string): void {
    const f = this.fault;
    const s = readFault(buf, off, len, f);
    if (s !== OK) return this.problem(frame, false, 'dcerpc', f.errOffset - off, ptypeName, `${STATUS_NAMES[s]}: ${f.errReason}`);
    const slot = this.pending.find(this.hdr.callId);
    if (slot < 0) return;
    const opnum = this.pending.opnumAt(slot);
    const requestFrame = this.pendingFrame[slot]!;
    const requested = this.pendingRequested[slot]!;
    this.pending.forget(slot);
    this.sink.onCall({
      frame, requestFrame, callId: this.hdr.callId, opnum, op: EPM_OPNAMES[opnum] ?? `opnum ${opnum}`,
      syntax: 'unknown', status: f.status, fault: true, requested, towers: [],
    });
  }

  private onResponse(buf: Uint8Array, off: number, len: number, frame: number, ptypeName: string): void {
    const r = this.resp;
    const s = readResponse(buf, off, len, r);
    if (s !== OK) return this.problem(frame, false, 'dcerpc', r.errOffset - off, ptypeName, `${STATUS_NAMES[s]}: ${r.errReason}`);
    const callId = this.hdr.callId;
    const slot = this.pending.find(callId);
    // A response to a call we did not see: only interesting on a presumed-EPM connection.
    if (slot < 0 && !(this.assumeEpm && !this.contexts.isAccepted(r.ctxId))) return;
    const c = this.call;
    const rs = this.reasmServer.add(buf, off, this.hdr, r.stubOff, r.stubLen, c);
    if (rs !== OK) return this.problem(frame, false, 'dcerpc', c.errOffset - off, ptypeName, `${STATUS_NAMES[rs]}: ${c.errReason}`);
    if (!c.complete) return;
    const known = slot < 0 ? -1 : this.pending.opnumAt(slot);
    const requestFrame = slot < 0 ? null : this.pendingFrame[slot]!;
    const requested = slot < 0 ? null : this.pendingRequested[slot]!;
    if (slot >= 0) this.pending.forget(slot);
    if (r.authLevel >= 6) return; // encrypted stub: nothing readable
    if (known >= 0 && known !== EPT_MAP && known !== EPT_LOOKUP) return;
    // The operation (when the request went unseen) and the syntax: whichever decodes.
    const order = syntaxOrder(this.contexts.syntaxOf(r.ctxId));
    const got = readEpmResponse(known, order, c.data, c.off, c.len, this.hdr.littleEndian, this.mapResp, this.lookupResp);
    if (got < 0 && known < 0) return;
    const opnum = got >= 0 ? got : known;
    const ndr64 = got >= 0 ? responseGuess.ndr64 : order[0]!;
    const rec: EpmCallRecord = {
      frame, requestFrame, callId, opnum, op: EPM_OPNAMES[opnum] ?? `opnum ${opnum}`,
      syntax: ndr64 ? 'NDR64' : 'NDR', status: 0, fault: false, requested, towers: [],
    };
    if (opnum === EPT_MAP) {
      const m = this.mapResp;
      // Decoded by the guess already; read again only for the error of a stub that did not decode.
      const ms = got === EPT_MAP ? OK : readEptMapResponse(c.data, c.off, c.len, ndr64, this.hdr.littleEndian, m);
      if (ms !== OK) {
        return this.problem(frame, false, 'epm', m.errOffset - c.off, 'ept_map response', `${STATUS_NAMES[ms]}: ${m.errReason} (stub offset)`);
      }
      rec.status = m.status;
      for (let i = 0; i < m.towerCount; i++) rec.towers.push(towerRecord(c.data, m.towers[i]!, i + 1));
    } else {
      const l = this.lookupResp;
      const ls = got === EPT_LOOKUP ? OK : readEptLookupResponse(c.data, c.off, c.len, ndr64, this.hdr.littleEndian, l);
      if (ls !== OK) {
        return this.problem(frame, false, 'epm', l.errOffset - c.off, 'ept_lookup response', `${STATUS_NAMES[ls]}: ${l.errReason} (stub offset)`);
      }
      rec.status = l.status;
      for (let i = 0; i < l.entryCount; i++) {
        if (l.towerOff[i]! < 0) continue;
        const t = towerRecord(c.data, l.towers[i]!, i + 1);
        t.object = uuidToString(c.data, l.objectUuidOff[i]!, this.hdr.littleEndian);
        t.annotation = asciiAt(c.data, l.annotationOff[i]!, l.annotationLen[i]!);
        rec.towers.push(t);
      }
    }
    this.sink.onCall(rec);
  }
}

function towerRecord(buf: Uint8Array, t: TowerView, index: number): TowerRecord {
  return {
    index,
    interface: t.ifUuidOff >= 0 ? towerUuidToString(buf, t.ifUuidOff) : '',
    version: `${t.ifMajor}.${t.ifMinor}`,
    transferSyntax: t.syntaxUuidOff >= 0 ? towerUuidToString(buf, t.syntaxUuidOff) : '',
    protocol: PROTO_NAMES[t.protocol] ?? 'unknown',
    ip: t.ipv4Off >= 0 ? ipv4ToString(t.ipv4) : '',
    port: t.portOff >= 0 ? t.port : null,
    endpoint: towerPipeOrHost(buf, t),
  };
}


/**
 * The endpoint-mapper leg of the published connections (client → external:135 → server:135): one
 * reader for all of them, each connection's state in its row (see EpmLeg).
 *
 * Both directions are read PDU by PDU with a CoStream cursor (dcerpc/co-stream: a PDU inside one
 * segment is read in place, one spanning segments is copied into a pooled buffer until decided)
 * and decided:
 *   client → server: binds and alter_contexts may name only the EPM interface; ept_map must ask
 *     for an interface the rule publishes; ept_lookup follows the rule's `lookup`; other
 *     operations (insert, delete, mgmt_delete, map_auth ...) are refused.
 *   server → client: ept_map / ept_lookup responses are reassembled across fragments and every
 *     ncacn_ip_tcp tower naming the server (or 0.0.0.0) is rewritten in place to the external
 *     address and a mapped port — length-preserving, so no sequence number moves.
 * The engine holds the TCP segments of a PDU until the PDU is decided (see stream/held-stream).
 * Every decoder returns a status; a refusal carries a reason code and a detail for the log.
 */
import { OK } from '../wire/status.js';
import {
  AUTH_LEVEL_PKT,
  AUTH_LEVEL_PKT_PRIVACY,
  PFC_FIRST_FRAG,
  PFC_LAST_FRAG,
  PTYPE_ALTER_CONTEXT,
  PTYPE_ALTER_CONTEXT_RESP,
  DCERPC_OFF_PTYPE,
  PTYPE_AUTH3,
  PTYPE_BIND,
  PTYPE_BIND_ACK,
  PTYPE_BIND_NAK,
  PTYPE_CO_CANCEL,
  PTYPE_FAULT,
  PTYPE_NAMES,
  PTYPE_ORPHANED,
  PTYPE_REQUEST,
  PTYPE_RESPONSE,
  PTYPE_SHUTDOWN,
  UUID_EPM,
} from '../dcerpc/constants.js';
import { CO_ERROR, CO_INCOMPLETE, CoStream } from '../dcerpc/co-stream.js';
import { PendingCalls } from '../dcerpc/pending-calls.js';
import { CoHeader, readCoHeader } from '../dcerpc/header.js';
import { BindAckView, BindView, RequestView, ResponseView, readBind, readBindAck, readRequest, readResponse } from '../dcerpc/pdu.js';
import { PresentationContexts, type ContextsState } from '../dcerpc/context.js';
import { uuidEqualsAcrossOrder, uuidToString } from '../dcerpc/uuid.js';
import { interfaceLabel } from '../dcerpc/label.js';
import { EPT_LOOKUP, EPT_LOOKUP_HANDLE_FREE, EPT_MAP, PROTO_NCACN_IP_TCP } from '../epm/constants.js';
import { EptMapResponseView } from '../epm/ept-map.js';
import { EptLookupResponseView, writeEptLookupResponse, type EptLookupEntrySpec } from '../epm/ept-lookup.js';
import { readEpmResponse, responseGuess, syntaxOrder } from '../epm/stub-syntax.js';
import { MapRequestMemo, MapResponseMemo } from '../epm/map-memo.js';
import { writeResponse } from '../dcerpc/pdu-write.js';
import { asciiAt, type TowerView } from '../epm/tower.js';
import { seqAdd } from '../stream/seq.js';
import { LOOKUP_ALLOW, LOOKUP_DENY, LOOKUP_PUBLISHED, type CompiledRule } from '../policy/compiled.js';
import { interfaceAllowed } from '../policy/match.js';
import { MAP_ERR_NAMES } from '../nat/mapping-table.js';
import {
  PASS,
  REFUSE_AUTH_RESPONSE,
  REFUSE_BIND_INTERFACE,
  REFUSE_CALL_TOO_LARGE,
  REFUSE_ENCRYPTED,
  REFUSE_LOOKUP,
  REFUSE_MALFORMED,
  REFUSE_MAPPING,
  REFUSE_MAP_INTERFACE,
  REFUSE_OPNUM,
  REFUSE_UNEXPECTED_PDU,
} from './reasons.js';
import type { Leg } from './leg.js';
import { LegRows } from './leg-rows.js';

/** EPM is registered as v3 (C706) and, by some stacks, v4. */
const EPM_MAJOR_MIN = 3;
const EPM_MAJOR_MAX = 4;
/** Calls awaiting a response that may need rewriting. */
const MAX_PENDING_CALLS = 16;
/** Pending-call tables not in use: a connection holds one only while it has calls awaiting their response. */
const pendingPool: PendingCalls[] = [];
const MAX_PENDING_POOLED = 256;
/** Fragments of one response call that are tracked for rewriting. */
const MAX_FRAGMENTS = 64;

/** What the leg needs from the engine: patching, mappings, and the report of rewrites; `flow` is the leg's connection. */
export interface EpmLegHost {
  /** Rewrite `n` bytes of the direction being fed, at stream sequence `seq`. */
  patchStream(flow: number, seq: number, bytes: Uint8Array, off: number, n: number): void;
  /** External port mapped for the connection's client to serverIp:serverPort, or a negative MAP_ERR_*. */
  acquireMapping(flow: number, serverIp: number, serverPort: number): number;
  /**
   * Outbound flows: a pinhole for the connection's internal client to its server's `port` (the
   * tower's address `towerIp` must be that server or 0). The port, 0 when the tower opens
   * nothing (another host, port 0), or a negative MAP_ERR_*.
   */
  acquireOutbound(flow: number, towerIp: number, port: number): number;
  towerRewritten(flow: number, opnum: number, buf: Uint8Array, tower: TowerView, newIp: number, newPort: number): void;
  /**
   * Replaces the stream bytes [startSeq, endSeq) of the direction being fed (a whole response
   * call, held) with `bytes`, which may be shorter or longer: the one length change the gateway
   * makes (ept_lookup under `lookup: published`).
   */
  replaceStream(flow: number, startSeq: number, endSeq: number, bytes: Uint8Array): void;
}

/** An EPM leg's carried state (EpmLeg.exportState), JSON-able. */
export interface EpmLegState {
  pickedUp: boolean;
  contexts: ContextsState;
  /** Calls awaiting their response: [callId, opnum]. */
  pending: [number, number][];
  lastNdr64: boolean;
  clientMaxRecvFrag: number;
}

/** Response fragments the gateway builds never exceed this (C706's minimum everyone accepts). */
const MIN_FRAG = 1432;
const RESP_HDR = 24;

/**
 * Decoder scratch views, shared by every leg: they are only used during one synchronous
 * decision, and one EptLookupResponseView alone holds 1024 tower views — per connection, they
 * were the engine's largest cost (allocation and GC).
 */
const SHARED_HDR = new CoHeader();
const SHARED_BIND = new BindView();
const SHARED_ACK = new BindAckView();
const SHARED_REQ = new RequestView();
const SHARED_RESP = new ResponseView();
const SHARED_MAPRESP = new EptMapResponseView();
const SHARED_LOOKUPRESP = new EptLookupResponseView();
/** The last ept_map request and response decoded, answering the same stub again (map-memo.ts). */
const MAPREQ_MEMO = new MapRequestMemo();
const MAPRESP_MEMO = new MapResponseMemo();
/** Patch bytes handed to the host, which copies them. */
const SCRATCH = new Uint8Array(4);
/** A connection's cursors and context table while one of its calls runs (LegRows). */
const C2S = new CoStream();
const S2C = new CoStream();
const CONTEXTS = new PresentationContexts();

/**
 * The response call being reassembled for rewriting: its stub and where each fragment's stub
 * bytes lie in the stream. Pooled: a connection holds one only while a call is in flight.
 */
class ResponseCall {
  callId = 0;
  opnum = 0;
  ctx = 0;
  littleEndian = true;
  authLevel = 0;
  /** The call's operation was guessed (request not seen): a stub that decodes as neither is let by. */
  guessed = false;
  /** Stream span of the call: first PDU start, last PDU end. */
  startSeq = 0;
  endSeq = 0;
  stub = new Uint8Array(4096);
  stubLen = 0;
  fragCount = 0;
  readonly fragStubStart = new Int32Array(MAX_FRAGMENTS);
  readonly fragSeq = new Uint32Array(MAX_FRAGMENTS);
  readonly fragLen = new Int32Array(MAX_FRAGMENTS);
}
const MAX_CALLS_POOLED = 16;
const callPool: ResponseCall[] = [];

function giveCall(call: ResponseCall): void {
  if (callPool.length < MAX_CALLS_POOLED) callPool.push(call);
}

function givePending(p: PendingCalls): void {
  p.clear();
  if (pendingPool.length < MAX_PENDING_POOLED) pendingPool.push(p);
}

/*
 * An EPM connection's leg state is a row of LegRows, numbered from a free list (EPM connections
 * are few next to mapped ones: rows by flow id would be mostly empty). The row's flags word:
 * F_* | the client's max_recv_frag << 16. The rest lives in maps by row only while it exists:
 * the pending-call table (calls awaiting their response), the response call being rewritten.
 * The interface of the last ept_map (for a later refusal's record) is kept as bytes in `ifaces`
 * (uuid, major, minor: IFACE_LEN a row) and made into text only when a refusal names it.
 */
const F_PICKED_UP = 1;
/** The syntax the last response decoded with was NDR64. */
const F_LAST_NDR64 = 2;
/** The row's `ifaces` entry holds an interface; F_IFACE_BE: its uuid is in big-endian NDR order. */
const F_HAS_IFACE = 4;
const F_IFACE_BE = 8;
const IFACE_LEN = 20;

export class EpmLeg implements Leg {
  /** Set with a refusal (read right after feed): what the log says, and the interface concerned. */
  refuseDetail = '';

  private readonly rows = new LegRows();
  /** EPM row of each flow id (-1: none); rows no connection uses. */
  private rowOf = new Int32Array(64).fill(-1);
  private readonly freeRows: number[] = [];
  private rowsMade = 0;
  /** By row (null: none); arrays, not maps: every call of every connection reads and writes them. */
  private readonly pendingBy: (PendingCalls | null)[] = [];
  private readonly callBy: (ResponseCall | null)[] = [];
  private ifaces = new Uint8Array(16 * IFACE_LEN);

  // The connection of the call in progress (open/close): its flow, row and carried fields.
  private flow = -1;
  private row = -1;
  private rule!: CompiledRule;
  private externalIp = 0;
  /** The connection was picked up mid-stream: binds may be missing, be lenient about contexts. */
  private pickedUp = false;
  /** The syntax the last response decoded with. */
  private lastNdr64 = false;
  /** F_HAS_IFACE | F_IFACE_BE of the connection in the call (or of the last one). */
  private ifaceFlags = 0;
  /** What the client said it can receive in one fragment (its bind). */
  private clientMaxRecvFrag = MIN_FRAG;
  /** callId → opnum of calls whose response must be read (ept_map, allowed ept_lookup). */
  private pending: PendingCalls | null = null;
  /** The response call being reassembled for rewriting (from a pool, only while one is in flight). */
  private call: ResponseCall | null = null;

  constructor(
    private readonly host: EpmLegHost,
    /** Bound on one reassembled response call (bytes of stub). */
    private readonly maxCallBytes: number,
    private readonly ruleOf: (flow: number) => CompiledRule,
    private readonly externalIpOf: (flow: number) => number,
  ) {}

  /** A new EPM connection `flow` (picked up mid-stream: binds may be missing). */
  init(flow: number, pickedUp: boolean): void {
    this.release(flow);
    let row = this.freeRows.pop() ?? -1;
    if (row < 0) {
      row = this.rowsMade++;
      this.pendingBy.push(null);
      this.callBy.push(null);
    }
    if (flow >= this.rowOf.length) {
      let n = this.rowOf.length;
      while (n <= flow) n *= 2;
      const a = new Int32Array(n).fill(-1);
      a.set(this.rowOf);
      this.rowOf = a;
    }
    this.rowOf[flow] = row;
    this.rows.clear(row, C2S);
    this.rows.setFlags(row, (pickedUp ? F_PICKED_UP : 0) | (MIN_FRAG << 16));
  }

  /** Connection `flow` left: its row and what it held go back to their pools. */
  release(flow: number): void {
    const row = flow < this.rowOf.length ? this.rowOf[flow]! : -1;
    if (row < 0) return;
    this.rowOf[flow] = -1;
    this.rows.release(row, C2S);
    const p = this.pendingBy[row]!;
    if (p !== null) this.pendingBy[row] = null, givePending(p);
    const call = this.callBy[row]!;
    if (call !== null) this.callBy[row] = null, giveCall(call);
    this.freeRows.push(row);
  }

  /** No PDU half read either way and no response call being reassembled (snapshot). */
  atPduBoundary(flow: number): boolean {
    const row = this.rowOf[flow]!;
    return this.rows.atBoundary(row) && this.callBy[row] === null;
  }

  /** What a restarted gateway needs to carry this endpoint-mapper connection on. */
  exportState(flow: number): EpmLegState {
    this.open(flow);
    this.rows.attachContexts(this.row, CONTEXTS);
    const contexts = CONTEXTS.exportState();
    const s = { pickedUp: this.pickedUp, contexts, pending: this.pending?.entries() ?? [], lastNdr64: this.lastNdr64, clientMaxRecvFrag: this.clientMaxRecvFrag };
    this.close();
    return s;
  }

  /** Loads exportState()'s output after init(); false if it is inconsistent. */
  importState(flow: number, s: EpmLegState): boolean {
    this.open(flow);
    this.rows.attachContexts(this.row, CONTEXTS);
    const contextsOk = CONTEXTS.importState(s.contexts);
    this.rows.detachContexts(this.row, CONTEXTS);
    const ok = contextsOk && s.pending.length <= MAX_PENDING_CALLS;
    if (ok) {
      this.pickedUp = s.pickedUp;
      this.dropPending();
      for (const [callId, opnum] of s.pending) this.expectResponse(callId, opnum | 0);
      this.lastNdr64 = s.lastNdr64;
      this.clientMaxRecvFrag = Math.max(MIN_FRAG, Math.min(0xffff, s.clientMaxRecvFrag | 0));
    }
    this.close();
    return ok;
  }

  /** The interface of the last ept_map (what a refusal from outside the leg names). */
  interfaceOf(flow: number): string {
    const row = this.rowOf[flow]!;
    return this.labelOf(row, this.rows.flags(row));
  }

  /** The interface of the connection last fed (read right after a refusal). */
  get lastInterface(): string {
    return this.labelOf(this.row, this.ifaceFlags);
  }

  private labelOf(row: number, flags: number): string {
    if ((flags & F_HAS_IFACE) === 0) return '';
    const at = row * IFACE_LEN;
    const a = this.ifaces;
    return interfaceLabel(a, at, (flags & F_IFACE_BE) === 0, a[at + 16]! | (a[at + 17]! << 8), a[at + 18]! | (a[at + 19]! << 8));
  }

  /** Keeps the interface at buf[off] (uuid in `littleEndian` order) as the connection's last. */
  private setInterface(buf: Uint8Array, off: number, littleEndian: boolean, major: number, minor: number): void {
    const at = this.row * IFACE_LEN;
    if (at + IFACE_LEN > this.ifaces.length) {
      const a = new Uint8Array(Math.max(at + IFACE_LEN, this.ifaces.length * 2));
      a.set(this.ifaces);
      this.ifaces = a;
    }
    const a = this.ifaces;
    for (let i = 0; i < 16; i++) a[at + i] = buf[off + i]!;
    a[at + 16] = major & 0xff;
    a[at + 17] = (major >>> 8) & 0xff;
    a[at + 18] = minor & 0xff;
    a[at + 19] = (minor >>> 8) & 0xff;
    this.ifaceFlags = F_HAS_IFACE | (littleEndian ? 0 : F_IFACE_BE);
  }

  /** True while the direction holds part of a PDU (or of a response call being rewritten). */
  midPdu(flow: number, fromClient: boolean): boolean {
    const row = this.rowOf[flow]!;
    if (fromClient) return this.rows.midPdu(row, true);
    return this.rows.midPdu(row, false) || this.callBy[row] !== null;
  }

  /** Feeds in-order payload bytes starting at stream sequence `seq`. PASS or a REFUSE_* code. */
  feed(flow: number, fromClient: boolean, data: Uint8Array, off: number, len: number, seq: number): number {
    this.open(flow);
    const rows = this.rows;
    const c = fromClient ? C2S : S2C;
    rows.loadCursor(this.row, fromClient, c);
    rows.attachContexts(this.row, CONTEXTS);
    const v = this.walk(c, fromClient, data, off, len, seq);
    rows.saveCursor(this.row, fromClient, c);
    rows.detachContexts(this.row, CONTEXTS);
    this.close();
    return v;
  }

  /** Takes up connection `flow` for one call. */
  private open(flow: number): void {
    const row = this.rowOf[flow]!;
    this.flow = flow;
    this.row = row;
    this.rule = this.ruleOf(flow);
    this.externalIp = this.externalIpOf(flow);
    const f = this.rows.flags(row);
    this.pickedUp = (f & F_PICKED_UP) !== 0;
    this.lastNdr64 = (f & F_LAST_NDR64) !== 0;
    this.clientMaxRecvFrag = f >>> 16;
    this.ifaceFlags = f & (F_HAS_IFACE | F_IFACE_BE);
    this.pending = this.pendingBy[row]!;
    this.call = this.callBy[row]!;
  }

  /** Writes back what the call changed. */
  private close(): void {
    const row = this.row;
    this.rows.setFlags(row, (this.pickedUp ? F_PICKED_UP : 0) | (this.lastNdr64 ? F_LAST_NDR64 : 0) | this.ifaceFlags | (this.clientMaxRecvFrag << 16));
    this.pendingBy[row] = this.pending;
    this.callBy[row] = this.call;
    this.pending = null;
    this.call = null;
  }

  private walk(c: CoStream, fromClient: boolean, data: Uint8Array, off: number, len: number, seq: number): number {
    c.begin(data, off, len, seq);
    for (;;) {
      // Every EPM PDU is decided whole.
      const ev = c.nextPdu();
      if (ev === CO_INCOMPLETE) return PASS;
      if (ev === CO_ERROR) return this.refuse(REFUSE_MALFORMED, `PDU header at offset ${c.errOffset}: ${c.errReason}`);
      const verdict = fromClient ? this.clientPdu(c.pduBuf, c.pduOff, c.fragLen) : this.serverPdu(c.pduBuf, c.pduOff, c.fragLen, c.startSeq);
      if (verdict !== PASS) return verdict;
    }
  }

  private refuse(code: number, detail: string): number {
    this.refuseDetail = detail;
    return code;
  }

  // ---- client → server ----------------------------------------------------------------------

  /** A PDU from the client: buf[off, off + len). */
  private clientPdu(buf: Uint8Array, off: number, len: number): number {
    // bind and request: their decoder reads the header once (a header it refuses is named as
    // before by badHeader); the other PTYPEs need only the header.
    switch (len > DCERPC_OFF_PTYPE ? buf[off + DCERPC_OFF_PTYPE]! : -1) {
      case PTYPE_BIND:
      case PTYPE_ALTER_CONTEXT:
        return this.clientBind(buf, off, len);
      case PTYPE_REQUEST:
        return this.clientRequest(buf, off, len);
    }
    const bad = this.badHeader(buf, off, len);
    if (bad >= 0) return bad;
    const h = SHARED_HDR; // badHeader decoded it
    switch (h.ptype) {
      case PTYPE_AUTH3:
      case PTYPE_CO_CANCEL:
      case PTYPE_ORPHANED:
        return PASS;
      default:
        return this.refuse(REFUSE_UNEXPECTED_PDU, `${PTYPE_NAMES[h.ptype] ?? h.ptype} from the client`);
    }
  }

  /**
   * The refusal of a PDU whose common header readCoHeader refuses, else -1 with the header in
   * SHARED_HDR. After a decoder refused the PDU it tells a bad header (the decoders check it first,
   * with the same offsets and reasons) from the PDU's own fault, which the caller names.
   */
  private badHeader(buf: Uint8Array, off: number, len: number): number {
    const h = SHARED_HDR;
    if (readCoHeader(buf, off, len, h) === OK) return -1;
    return this.refuse(REFUSE_MALFORMED, `PDU header at offset ${h.errOffset - off}: ${h.errReason}`);
  }

  private clientBind(buf: Uint8Array, pduOff: number, len: number): number {
    const b = SHARED_BIND;
    if (readBind(buf, pduOff, len, b) !== OK) {
      const bad = this.badHeader(buf, pduOff, len);
      return bad >= 0 ? bad : this.refuse(REFUSE_MALFORMED, `${PTYPE_NAMES[b.ptype] ?? 'bind'} at offset ${b.errOffset - pduOff}: ${b.errReason}`);
    }
    for (let i = 0; i < b.nContexts; i++) {
      const off = b.abstractUuidOff[i]!;
      const major = b.ifMajor[i]!;
      const isEpm = uuidEqualsAcrossOrder(buf, off, b.littleEndian, UUID_EPM, 0, true) && major >= EPM_MAJOR_MIN && major <= EPM_MAJOR_MAX;
      if (!isEpm) {
        this.setInterface(buf, off, b.littleEndian, major, b.ifMinor[i]!);
        return this.refuse(REFUSE_BIND_INTERFACE, `bind on port 135 to ${this.lastInterface}, not the endpoint mapper`);
      }
    }
    CONTEXTS.onBind(buf, b);
    if (b.maxRecvFrag >= MIN_FRAG) this.clientMaxRecvFrag = b.maxRecvFrag;
    return PASS;
  }

  private clientRequest(buf: Uint8Array, pduOff: number, len: number): number {
    const r = SHARED_REQ;
    if (readRequest(buf, pduOff, len, r) !== OK) {
      const bad = this.badHeader(buf, pduOff, len);
      return bad >= 0 ? bad : this.refuse(REFUSE_MALFORMED, `request at offset ${r.errOffset - pduOff}: ${r.errReason}`);
    }
    if (!CONTEXTS.isAccepted(r.ctxId) && !this.pickedUp) {
      return this.refuse(REFUSE_MALFORMED, `request on presentation context ${r.ctxId}, which no bind_ack accepted`);
    }
    const first = (r.pfcFlags & PFC_FIRST_FRAG) !== 0;
    const last = (r.pfcFlags & PFC_LAST_FRAG) !== 0;
    switch (r.opnum) {
      case EPT_MAP: {
        if (!first || !last) return this.refuse(REFUSE_MALFORMED, 'ept_map request in several fragments');
        if (r.hasAuth && r.authLevel >= AUTH_LEVEL_PKT_PRIVACY) return this.refuse(REFUSE_ENCRYPTED, 'encrypted ept_map request: its interface cannot be checked');
        const order = syntaxOrder(CONTEXTS.syntaxOf(r.ctxId));
        const m = MAPREQ_MEMO; // the last stub's decode when this one is the same (map-memo.ts)
        if (m.read(order, buf, r.stubOff, r.stubLen, r.littleEndian) !== OK) return this.refuse(REFUSE_MALFORMED, `ept_map request at stub offset ${m.errOffset - r.stubOff}: ${m.errReason}`);
        if (!m.towerPresent || m.ifUuidOff < 0) return this.refuse(REFUSE_MAP_INTERFACE, 'ept_map request without a map tower');
        this.setInterface(buf, m.ifUuidOff, true, m.ifMajor, m.ifMinor);
        if (!interfaceAllowed(this.rule, buf, m.ifUuidOff, true, m.ifMajor, m.ifMinor)) {
          return this.refuse(REFUSE_MAP_INTERFACE, `ept_map for ${this.lastInterface}, not published by rule "${this.rule.name}"`);
        }
        this.expectResponse(r.callId, EPT_MAP);
        return PASS;
      }
      case EPT_LOOKUP:
        if (this.rule.lookup === LOOKUP_DENY) return this.refuse(REFUSE_LOOKUP, `ept_lookup denied by rule "${this.rule.name}" (lookup: deny)`);
        this.expectResponse(r.callId, EPT_LOOKUP);
        return PASS;
      case EPT_LOOKUP_HANDLE_FREE:
        return PASS;
      default:
        return this.refuse(REFUSE_OPNUM, `endpoint-mapper operation ${r.opnum} is not allowed from outside`);
    }
  }

  private expectResponse(callId: number, opnum: number): void {
    (this.pending ??= pendingPool.pop() ?? new PendingCalls(MAX_PENDING_CALLS)).expect(callId, opnum);
  }

  /** The call is answered: forgotten, and the table goes back to the pool once empty. */
  private takePending(callId: number): void {
    const p = this.pending;
    if (p === null) return;
    p.take(callId);
    if (p.size === 0) this.dropPending();
  }

  private dropPending(): void {
    const p = this.pending;
    if (p === null) return;
    this.pending = null;
    givePending(p);
  }

  // ---- server → client ----------------------------------------------------------------------

  /** A PDU from the server: buf[off, off + len), its first byte at stream sequence `seq`. */
  private serverPdu(buf: Uint8Array, off: number, len: number, seq: number): number {
    // bind_ack and response: their decoder reads the header once (see clientPdu).
    switch (len > DCERPC_OFF_PTYPE ? buf[off + DCERPC_OFF_PTYPE]! : -1) {
      case PTYPE_BIND_ACK:
      case PTYPE_ALTER_CONTEXT_RESP: {
        const a = SHARED_ACK;
        if (readBindAck(buf, off, len, a) !== OK) {
          const bad = this.badHeader(buf, off, len);
          return bad >= 0 ? bad : this.refuse(REFUSE_MALFORMED, `${PTYPE_NAMES[a.ptype]} at offset ${a.errOffset - off}: ${a.errReason}`);
        }
        CONTEXTS.onBindAck(a);
        return PASS;
      }
      case PTYPE_RESPONSE:
        return this.serverResponse(buf, off, len, seq);
    }
    const bad = this.badHeader(buf, off, len);
    if (bad >= 0) return bad;
    const h = SHARED_HDR; // badHeader decoded it
    switch (h.ptype) {
      case PTYPE_FAULT:
        this.takePending(h.callId);
        if (this.call !== null && this.call.callId === h.callId) this.endCall();
        return PASS;
      case PTYPE_BIND_NAK:
      case PTYPE_SHUTDOWN:
        return PASS;
      default:
        return this.refuse(REFUSE_UNEXPECTED_PDU, `${PTYPE_NAMES[h.ptype] ?? h.ptype} from the server`);
    }
  }

  private serverResponse(buf: Uint8Array, pduOff: number, len: number, seq: number): number {
    const r = SHARED_RESP;
    if (readResponse(buf, pduOff, len, r) !== OK) {
      const bad = this.badHeader(buf, pduOff, len);
      return bad >= 0 ? bad : this.refuse(REFUSE_MALFORMED, `response at offset ${r.errOffset - pduOff}: ${r.errReason}`);
    }
    const first = (r.pfcFlags & PFC_FIRST_FRAG) !== 0;
    const last = (r.pfcFlags & PFC_LAST_FRAG) !== 0;
    if (first) {
      let opnum = this.pending?.peek(r.callId) ?? -1;
      let guessed = false;
      // Picked up after the request went by: which layout decodes tells the operation.
      if (opnum < 0 && this.pickedUp) {
        opnum = EPT_MAP;
        guessed = true;
      }
      if (opnum < 0) {
        if (this.call !== null) this.call.guessed = false;
        return PASS;
      }
      const c = (this.call ??= callPool.pop() ?? new ResponseCall());
      c.guessed = guessed;
      c.callId = r.callId;
      c.opnum = opnum;
      c.ctx = r.ctxId;
      c.littleEndian = r.littleEndian;
      c.authLevel = r.hasAuth ? r.authLevel : 0;
      c.stubLen = 0;
      c.fragCount = 0;
      c.startSeq = seq;
    } else if (this.call === null || r.callId !== this.call.callId) {
      return PASS; // a fragment of a call we do not rewrite
    }
    const call = this.call!;
    if (call.fragCount >= MAX_FRAGMENTS || call.stubLen + r.stubLen > this.maxCallBytes) {
      this.endCall();
      return this.refuse(REFUSE_CALL_TOO_LARGE, `endpoint-mapper response over ${this.maxCallBytes} bytes or ${MAX_FRAGMENTS} fragments`);
    }
    this.appendStub(call, buf, r.stubOff, r.stubLen, seqAdd(seq, r.stubOff - pduOff));
    call.endSeq = seqAdd(seq, len);
    if (!last) return PASS;
    this.takePending(call.callId);
    const verdict = this.rewriteCall(call);
    this.endCall();
    return verdict;
  }

  /** No response call in flight: its buffers go back to the pool. */
  private endCall(): void {
    if (this.call !== null) {
      giveCall(this.call);
      this.call = null;
    }
  }

  private appendStub(call: ResponseCall, buf: Uint8Array, off: number, len: number, seq: number): void {
    if (call.stubLen + len > call.stub.length) {
      const next = new Uint8Array(Math.max(call.stub.length * 2, call.stubLen + len));
      next.set(call.stub.subarray(0, call.stubLen));
      call.stub = next;
    }
    call.stub.set(buf.subarray(off, off + len), call.stubLen);
    const i = call.fragCount++;
    call.fragStubStart[i] = call.stubLen;
    call.fragSeq[i] = seq;
    call.fragLen[i] = len;
    call.stubLen += len;
  }

  /** Decodes the complete response stub and rewrites its towers. */
  private rewriteCall(call: ResponseCall): number {
    const stub = call.stub;
    const le = call.littleEndian;
    const order = syntaxOrder(CONTEXTS.syntaxOf(call.ctx));
    const known = call.guessed ? -1 : call.opnum;
    // An ept_map answer through the memo: the server's same answer again takes the last decode (map-memo.ts).
    const mapView = known === EPT_MAP ? MAPRESP_MEMO.view : SHARED_MAPRESP;
    const opnum = known === EPT_MAP ? MAPRESP_MEMO.read(order, stub, 0, call.stubLen, le)
      : readEpmResponse(known, order, stub, 0, call.stubLen, le, SHARED_MAPRESP, SHARED_LOOKUPRESP);
    if (opnum < 0) {
      if (call.guessed) return PASS; // not an ept_map/ept_lookup response after all
      const v = call.opnum === EPT_MAP ? mapView : SHARED_LOOKUPRESP;
      return this.refuse(REFUSE_MALFORMED, `endpoint-mapper response at stub offset ${v.errOffset}: ${v.errReason}`);
    }
    this.lastNdr64 = responseGuess.ndr64;
    const count = opnum === EPT_MAP ? mapView.towerCount : SHARED_LOOKUPRESP.entryCount;
    const towers: TowerView[] = opnum === EPT_MAP ? mapView.towers : SHARED_LOOKUPRESP.towers;
    if (this.rule.outbound) return this.outboundAnswer(opnum, count, towers, stub);
    if (opnum === EPT_LOOKUP && this.rule.lookup === LOOKUP_PUBLISHED) return this.publishedLookup(call, this.lastNdr64);
    for (let i = 0; i < count; i++) {
      const t = towers[i]!;
      if (opnum === EPT_LOOKUP && SHARED_LOOKUPRESP.towerOff[i]! < 0) continue;
      if (t.protocol !== PROTO_NCACN_IP_TCP || t.portOff < 0 || t.ipv4Off < 0) continue;
      if (t.ipv4 !== this.rule.serverIp && t.ipv4 !== 0) continue;
      if (call.authLevel >= AUTH_LEVEL_PKT) {
        return this.refuse(REFUSE_AUTH_RESPONSE, 'signed or encrypted endpoint-mapper response names the server: it cannot be rewritten');
      }
      const extPort = this.host.acquireMapping(this.flow, t.ipv4 === 0 ? this.rule.serverIp : t.ipv4, t.port);
      if (extPort < 0) {
        this.setInterface(stub, t.ifUuidOff, true, t.ifMajor, t.ifMinor);
        return this.refuse(REFUSE_MAPPING, `no mapped port for ${this.lastInterface}: ${MAP_ERR_NAMES[extPort] ?? extPort} in rule "${this.rule.name}"`);
      }
      this.host.towerRewritten(this.flow, opnum, stub, t, this.externalIp, extPort);
      const s = SCRATCH;
      s[0] = extPort >>> 8;
      s[1] = extPort & 0xff;
      this.patchStub(call, t.portOff, s, 2);
      s[0] = this.externalIp >>> 24;
      s[1] = (this.externalIp >>> 16) & 0xff;
      s[2] = (this.externalIp >>> 8) & 0xff;
      s[3] = this.externalIp & 0xff;
      this.patchStub(call, t.ipv4Off, s, 4);
    }
    return PASS;
  }

  /**
   * An outbound rule's answer is passed on as the server wrote it (the towers name the server,
   * which the internal client reaches through the source NAT); each ncacn_ip_tcp tower of an
   * allowed interface opens a pinhole for exactly this client, this server and that port.
   */
  private outboundAnswer(opnum: number, count: number, towers: TowerView[], stub: Uint8Array): number {
    for (let i = 0; i < count; i++) {
      const t = towers[i]!;
      if (opnum === EPT_LOOKUP && SHARED_LOOKUPRESP.towerOff[i]! < 0) continue;
      if (t.protocol !== PROTO_NCACN_IP_TCP || t.portOff < 0 || t.ipv4Off < 0) continue;
      if (!interfaceAllowed(this.rule, stub, t.ifUuidOff, true, t.ifMajor, t.ifMinor)) continue;
      const r = this.host.acquireOutbound(this.flow, t.ipv4, t.port);
      if (r < 0) {
        this.setInterface(stub, t.ifUuidOff, true, t.ifMajor, t.ifMinor);
        return this.refuse(REFUSE_MAPPING, `no pinhole for ${this.lastInterface}: ${MAP_ERR_NAMES[r] ?? r} in rule "${this.rule.name}"`);
      }
    }
    return PASS;
  }

  /**
   * `lookup: published`: answers with only the entries of interfaces the rule publishes whose
   * tower is ncacn_ip_tcp on the server (rewritten like ept_map); named-pipe, local and other
   * hosts' entries are removed with the rest. The call is re-encoded (counts and lengths fixed,
   * fragments no larger than the client accepts) and replaces the server's bytes in the stream.
   */
  private publishedLookup(call: ResponseCall, ndr64: boolean): number {
    const l = SHARED_LOOKUPRESP;
    const stub = call.stub;
    const entries: EptLookupEntrySpec[] = [];
    for (let i = 0; i < l.entryCount; i++) {
      if (l.towerOff[i]! < 0) continue;
      const t = l.towers[i]!;
      if (t.protocol !== PROTO_NCACN_IP_TCP || t.portOff < 0 || t.ipv4Off < 0) continue;
      if (t.ipv4 !== this.rule.serverIp && t.ipv4 !== 0) continue;
      if (!interfaceAllowed(this.rule, stub, t.ifUuidOff, true, t.ifMajor, t.ifMinor)) continue;
      if (call.authLevel >= AUTH_LEVEL_PKT) {
        return this.refuse(REFUSE_AUTH_RESPONSE, 'signed or encrypted ept_lookup response cannot be filtered');
      }
      const extPort = this.host.acquireMapping(this.flow, t.ipv4 === 0 ? this.rule.serverIp : t.ipv4, t.port);
      if (extPort < 0) {
        this.setInterface(stub, t.ifUuidOff, true, t.ifMajor, t.ifMinor);
        return this.refuse(REFUSE_MAPPING, `no mapped port for ${this.lastInterface}: ${MAP_ERR_NAMES[extPort] ?? extPort} in rule "${this.rule.name}"`);
      }
      this.host.towerRewritten(this.flow, EPT_LOOKUP, stub, t, this.externalIp, extPort);
      const tower = stub.slice(t.off, t.off + t.len);
      const rel = (x: number): number => x - t.off;
      tower[rel(t.portOff)] = extPort >>> 8;
      tower[rel(t.portOff) + 1] = extPort & 0xff;
      tower[rel(t.ipv4Off)] = this.externalIp >>> 24;
      tower[rel(t.ipv4Off) + 1] = (this.externalIp >>> 16) & 0xff;
      tower[rel(t.ipv4Off) + 2] = (this.externalIp >>> 8) & 0xff;
      tower[rel(t.ipv4Off) + 3] = this.externalIp & 0xff;
      const annotation = asciiAt(stub, l.annotationOff[i]!, l.annotationLen[i]!);
      entries.push({ object: uuidToString(stub, l.objectUuidOff[i]!, call.littleEndian), annotation, tower });
    }
    const out = new Uint8Array(call.stubLen + 64);
    const le = call.littleEndian;
    const stubLen = writeEptLookupResponse(out, 0, {
      ndr64, littleEndian: le, entryHandle: stub.slice(l.entryHandleOff, l.entryHandleOff + 20), entries, maxEnts: l.maxCount, status: l.status,
    });
    const newStub = out.subarray(0, stubLen);
    // Fragments as the server would cut them: no larger than the client receives.
    const per = Math.max(8, (this.clientMaxRecvFrag - RESP_HDR) & ~7);
    const pdus: Uint8Array[] = [];
    for (let at = 0; at < stubLen || pdus.length === 0; at += per) {
      const part = newStub.subarray(at, Math.min(stubLen, at + per));
      const flags = (at === 0 ? PFC_FIRST_FRAG : 0) | (at + per >= stubLen ? PFC_LAST_FRAG : 0);
      const pdu = new Uint8Array(RESP_HDR + part.length);
      writeResponse(pdu, 0, { callId: call.callId, ctxId: call.ctx, stub: part, pfcFlags: flags, allocHint: stubLen - at, littleEndian: le });
      pdus.push(pdu);
    }
    const bytes = new Uint8Array(pdus.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of pdus) {
      bytes.set(p, o);
      o += p.length;
    }
    this.host.replaceStream(this.flow, call.startSeq, call.endSeq, bytes);
    return PASS;
  }

  /** Patches stub bytes [stubPos, +n): each byte goes back to its place in its fragment's segment. */
  private patchStub(call: ResponseCall, stubPos: number, bytes: Uint8Array, n: number): void {
    // Keep the copy in step too, so a later field of the same call sees rewritten bytes.
    for (let i = 0; i < n; i++) call.stub[stubPos + i] = bytes[i]!;
    let done = 0;
    for (let f = 0; f < call.fragCount && done < n; f++) {
      const start = call.fragStubStart[f]!;
      const end = start + call.fragLen[f]!;
      const pos = stubPos + done;
      if (pos < start || pos >= end) continue;
      const k = Math.min(n - done, end - pos);
      this.host.patchStream(this.flow, seqAdd(call.fragSeq[f]!, pos - start), bytes, done, k);
      done += k;
    }
  }
}

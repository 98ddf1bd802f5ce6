/**
 * The endpoint-mapper leg of one published connection (client → external:135 → server:135).
 *
 * Both directions are read PDU by PDU (each PDU is copied into a 64 KiB assembly buffer — EPM
 * PDUs are small control traffic, not the throughput path) and decided:
 *   client → server: binds and alter_contexts may name only the EPM interface; ept_map must ask
 *     for an interface the rule publishes; ept_lookup follows the rule's `lookup`; other
 *     operations (insert, delete, mgmt_delete, map_auth ...) are refused.
 *   server → client: ept_map / ept_lookup responses are reassembled across fragments and every
 *     ncacn_ip_tcp tower naming the server (or 0.0.0.0) is rewritten in place to the external
 *     address and a mapped port — length-preserving, so no sequence number moves.
 * The engine holds the TCP segments of a PDU until the PDU is decided (see stream/held-stream).
 * Every decoder returns a status; a refusal carries a reason code and a detail for the log.
 */
import { OK, NEED_MORE } from '../wire/status.js';
import {
  DCERPC_FRAME_PEEK_LEN,
  MAX_FRAG_LEN,
  PFC_FIRST_FRAG,
  PFC_LAST_FRAG,
  PTYPE_ALTER_CONTEXT,
  PTYPE_ALTER_CONTEXT_RESP,
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
  SYNTAX_NDR,
  SYNTAX_NDR64,
  UUID_EPM,
} from '../dcerpc/constants.js';
import { FrameInfo, framePdu } from '../dcerpc/framer.js';
import { CoHeader, readCoHeader } from '../dcerpc/header.js';
import { BindAckView, BindView, RequestView, ResponseView, readBind, readBindAck, readRequest, readResponse } from '../dcerpc/pdu.js';
import { PresentationContexts, type ContextsState } from '../dcerpc/context.js';
import { uuidEqualsAcrossOrder, uuidToString } from '../dcerpc/uuid.js';
import { EPT_LOOKUP, EPT_LOOKUP_HANDLE_FREE, EPT_MAP, PROTO_NCACN_IP_TCP } from '../epm/constants.js';
import { EptMapRequestView, EptMapResponseView, readEptMapRequest, readEptMapResponse } from '../epm/ept-map.js';
import { EptLookupResponseView, readEptLookupResponse, writeEptLookupResponse, type EptLookupEntrySpec } from '../epm/ept-lookup.js';
import { writeResponse } from '../dcerpc/pdu-write.js';
import { asciiAt, type TowerView, towerUuidToString } from '../epm/tower.js';
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

/** Auth levels at or above this sign the stub: a rewrite would break the signature. */
const AUTH_LEVEL_PKT = 4;
const AUTH_LEVEL_PKT_PRIVACY = 6;
/** EPM is registered as v3 (C706) and, by some stacks, v4. */
const EPM_MAJOR_MIN = 3;
const EPM_MAJOR_MAX = 4;
/** Calls awaiting a response that may need rewriting. */
const MAX_PENDING_CALLS = 16;
/** Fragments of one response call that are tracked for rewriting. */
const MAX_FRAGMENTS = 64;

/** What the leg needs from the engine: patching, mappings, and the report of rewrites; `flow` is the leg's connection. */
export interface EpmLegHost {
  /** Rewrite `n` bytes of the direction being fed, at stream sequence `seq`. */
  patchStream(flow: number, seq: number, bytes: Uint8Array, off: number, n: number): void;
  /** External port mapped for the connection's client to serverIp:serverPort, or a negative MAP_ERR_*. */
  acquireMapping(flow: number, serverIp: number, serverPort: number): number;
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
const SHARED_FRAME = new FrameInfo();
const SHARED_HDR = new CoHeader();
const SHARED_BIND = new BindView();
const SHARED_ACK = new BindAckView();
const SHARED_REQ = new RequestView();
const SHARED_RESP = new ResponseView();
const SHARED_MAPREQ = new EptMapRequestView();
const SHARED_MAPRESP = new EptMapResponseView();
const SHARED_LOOKUPRESP = new EptLookupResponseView();

/** Bytes of one direction, collected PDU by PDU. */
class PduAssembler {
  /** Grows to the PDU being assembled (at most MAX_FRAG_LEN); EPM PDUs are mostly small. */
  buf = new Uint8Array(1024);
  have = 0;
  need = DCERPC_FRAME_PEEK_LEN;
  knownLen = false;
  startSeq = 0;

  reset(): void {
    this.have = 0;
    this.need = DCERPC_FRAME_PEEK_LEN;
    this.knownLen = false;
  }
}

export class EpmLeg implements Leg {
  flow = -1;
  rule!: CompiledRule;
  externalIp = 0;
  /** The connection was picked up mid-stream: binds may be missing, be lenient about contexts. */
  pickedUp = false;
  /** Set with a refusal: what the log says. */
  refuseDetail = '';
  /** Interface concerned by the refusal or the last ept_map ('' if none). */
  lastInterface = '';

  private readonly c2s = new PduAssembler();
  private readonly s2c = new PduAssembler();
  private readonly contexts = new PresentationContexts();
  private readonly frame = SHARED_FRAME;
  private readonly hdr = SHARED_HDR;
  private readonly bind = SHARED_BIND;
  private readonly ack = SHARED_ACK;
  private readonly req = SHARED_REQ;
  private readonly resp = SHARED_RESP;
  private readonly mapReq = SHARED_MAPREQ;
  private readonly mapResp = SHARED_MAPRESP;
  private readonly lookupResp = SHARED_LOOKUPRESP;
  /** callId → opnum of calls whose response must be read (ept_map, allowed ept_lookup). */
  private readonly pendingCallId = new Int32Array(MAX_PENDING_CALLS).fill(-1);
  private readonly pendingOpnum = new Int32Array(MAX_PENDING_CALLS);
  private pendingNext = 0;

  // The response call being reassembled for rewriting.
  private callActive = false;
  private callId = 0;
  private callOpnum = 0;
  private callCtx = 0;
  private callLittleEndian = true;
  private callAuthLevel = 0;
  /** The call's operation was guessed (request not seen): a stub that decodes as neither is let by. */
  private callGuessed = false;
  /** The syntax the last response decoded with. */
  private lastNdr64 = false;
  private callStub: Uint8Array = new Uint8Array(4096);
  private callStubLen = 0;
  private fragCount = 0;
  private readonly fragStubStart = new Int32Array(MAX_FRAGMENTS);
  private readonly fragSeq = new Uint32Array(MAX_FRAGMENTS);
  private readonly fragLen = new Int32Array(MAX_FRAGMENTS);
  private readonly scratch = new Uint8Array(4);
  /** Stream span of the response call being reassembled: first PDU start, last PDU end. */
  private callStartSeq = 0;
  private callEndSeq = 0;
  /** What the client said it can receive in one fragment (its bind). */
  private clientMaxRecvFrag = MIN_FRAG;

  constructor(
    private readonly host: EpmLegHost,
    /** Bound on one reassembled response call (bytes of stub). */
    private readonly maxCallBytes: number,
  ) {}

  /** No PDU half read either way and no response call being reassembled (snapshot). */
  atPduBoundary(): boolean {
    return this.c2s.have === 0 && this.s2c.have === 0 && !this.callActive;
  }

  /** What a restarted gateway needs to carry this endpoint-mapper connection on. */
  exportState(): EpmLegState {
    const pending: [number, number][] = [];
    for (let i = 0; i < MAX_PENDING_CALLS; i++) if (this.pendingCallId[i]! >= 0) pending.push([this.pendingCallId[i]!, this.pendingOpnum[i]!]);
    return { pickedUp: this.pickedUp, contexts: this.contexts.exportState(), pending, lastNdr64: this.lastNdr64, clientMaxRecvFrag: this.clientMaxRecvFrag };
  }

  /** Loads exportState()'s output after init(); false if it is inconsistent. */
  importState(s: EpmLegState): boolean {
    if (!this.contexts.importState(s.contexts) || s.pending.length > MAX_PENDING_CALLS) return false;
    this.pickedUp = s.pickedUp;
    s.pending.forEach(([callId, opnum], i) => {
      this.pendingCallId[i] = callId | 0;
      this.pendingOpnum[i] = opnum | 0;
    });
    this.pendingNext = s.pending.length % MAX_PENDING_CALLS;
    this.lastNdr64 = s.lastNdr64;
    this.clientMaxRecvFrag = Math.max(MIN_FRAG, Math.min(0xffff, s.clientMaxRecvFrag | 0));
    return true;
  }

  /** Resets for reuse on a new connection. */
  init(rule: CompiledRule, externalIp: number, pickedUp: boolean): void {
    this.rule = rule;
    this.externalIp = externalIp;
    this.pickedUp = pickedUp;
    this.refuseDetail = '';
    this.lastInterface = '';
    this.c2s.reset();
    this.s2c.reset();
    this.contexts.reset();
    this.pendingCallId.fill(-1);
    this.callActive = false;
    this.callStubLen = 0;
    this.fragCount = 0;
  }

  /** True while the direction holds part of a PDU (or of a response call being rewritten). */
  midPdu(fromClient: boolean): boolean {
    if (fromClient) return this.c2s.have > 0;
    return this.s2c.have > 0 || this.callActive;
  }

  /** Feeds in-order payload bytes starting at stream sequence `seq`. PASS or a REFUSE_* code. */
  feed(fromClient: boolean, data: Uint8Array, off: number, len: number, seq: number): number {
    const a = fromClient ? this.c2s : this.s2c;
    let p = 0;
    while (p < len) {
      if (a.have === 0) a.startSeq = seqAdd(seq, p);
      const take = Math.min(len - p, a.need - a.have);
      for (let i = 0; i < take; i++) a.buf[a.have + i] = data[off + p + i]!;
      a.have += take;
      p += take;
      if (a.have < a.need) break;
      if (!a.knownLen) {
        const st = framePdu(a.buf, 0, a.have, this.frame);
        if (st !== NEED_MORE && st !== OK) return this.refuse(REFUSE_MALFORMED, `PDU header at offset ${this.frame.errOffset}: ${this.frame.errReason}`);
        a.need = this.frame.pduLen;
        a.knownLen = true;
        if (a.buf.length < a.need) {
          const grown = new Uint8Array(Math.min(MAX_FRAG_LEN, Math.max(a.need, a.buf.length * 2)));
          grown.set(a.buf.subarray(0, a.have));
          a.buf = grown;
        }
        if (a.have < a.need) continue;
      }
      const verdict = fromClient ? this.clientPdu(a.buf, a.need, a.startSeq) : this.serverPdu(a.buf, a.need, a.startSeq);
      if (verdict !== PASS) return verdict;
      a.reset();
    }
    return PASS;
  }

  private refuse(code: number, detail: string): number {
    this.refuseDetail = detail;
    return code;
  }

  // ---- client → server ----------------------------------------------------------------------

  private clientPdu(buf: Uint8Array, len: number, _seq: number): number {
    const h = this.hdr;
    if (readCoHeader(buf, 0, len, h) !== OK) return this.refuse(REFUSE_MALFORMED, `PDU header at offset ${h.errOffset}: ${h.errReason}`);
    switch (h.ptype) {
      case PTYPE_BIND:
      case PTYPE_ALTER_CONTEXT:
        return this.clientBind(buf, len);
      case PTYPE_REQUEST:
        return this.clientRequest(buf, len);
      case PTYPE_AUTH3:
      case PTYPE_CO_CANCEL:
      case PTYPE_ORPHANED:
        return PASS;
      default:
        return this.refuse(REFUSE_UNEXPECTED_PDU, `${PTYPE_NAMES[h.ptype] ?? h.ptype} from the client`);
    }
  }

  private clientBind(buf: Uint8Array, len: number): number {
    const b = this.bind;
    const st = readBind(buf, 0, len, b);
    if (st !== OK) return this.refuse(REFUSE_MALFORMED, `${PTYPE_NAMES[b.ptype] ?? 'bind'} at offset ${b.errOffset}: ${b.errReason}`);
    for (let i = 0; i < b.nContexts; i++) {
      const off = b.abstractUuidOff[i]!;
      const major = b.ifMajor[i]!;
      const isEpm = uuidEqualsAcrossOrder(buf, off, b.littleEndian, UUID_EPM, 0, true) && major >= EPM_MAJOR_MIN && major <= EPM_MAJOR_MAX;
      if (!isEpm) {
        this.lastInterface = `${uuidToString(buf, off, b.littleEndian)}@${major}.${b.ifMinor[i]}`;
        return this.refuse(REFUSE_BIND_INTERFACE, `bind on port 135 to ${this.lastInterface}, not the endpoint mapper`);
      }
    }
    this.contexts.onBind(buf, b);
    if (b.maxRecvFrag >= MIN_FRAG) this.clientMaxRecvFrag = b.maxRecvFrag;
    return PASS;
  }

  private clientRequest(buf: Uint8Array, len: number): number {
    const r = this.req;
    const st = readRequest(buf, 0, len, r);
    if (st !== OK) return this.refuse(REFUSE_MALFORMED, `request at offset ${r.errOffset}: ${r.errReason}`);
    if (!this.contexts.isAccepted(r.ctxId) && !this.pickedUp) {
      return this.refuse(REFUSE_MALFORMED, `request on presentation context ${r.ctxId}, which no bind_ack accepted`);
    }
    const first = (r.pfcFlags & PFC_FIRST_FRAG) !== 0;
    const last = (r.pfcFlags & PFC_LAST_FRAG) !== 0;
    switch (r.opnum) {
      case EPT_MAP: {
        if (!first || !last) return this.refuse(REFUSE_MALFORMED, 'ept_map request in several fragments');
        if (r.hasAuth && r.authLevel >= AUTH_LEVEL_PKT_PRIVACY) return this.refuse(REFUSE_ENCRYPTED, 'encrypted ept_map request: its interface cannot be checked');
        const m = this.mapReq;
        const ndr64 = this.requestIsNdr64(r.ctxId, buf, r.stubOff, r.stubLen, r.littleEndian);
        const ms = readEptMapRequest(buf, r.stubOff, r.stubLen, ndr64, r.littleEndian, m);
        if (ms !== OK) return this.refuse(REFUSE_MALFORMED, `ept_map request at stub offset ${m.errOffset - r.stubOff}: ${m.errReason}`);
        if (!m.towerPresent || m.tower.ifUuidOff < 0) return this.refuse(REFUSE_MAP_INTERFACE, 'ept_map request without a map tower');
        const t = m.tower;
        this.lastInterface = `${towerUuidToString(buf, t.ifUuidOff)}@${t.ifMajor}.${t.ifMinor}`;
        if (!interfaceAllowed(this.rule, buf, t.ifUuidOff, true, t.ifMajor, t.ifMinor)) {
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

  private requestIsNdr64(ctxId: number, buf: Uint8Array, off: number, len: number, le: boolean): boolean {
    const s = this.contexts.syntaxOf(ctxId);
    if (s === SYNTAX_NDR64) return true;
    if (s === SYNTAX_NDR) return false;
    return readEptMapRequest(buf, off, len, false, le, this.mapReq) !== OK && readEptMapRequest(buf, off, len, true, le, this.mapReq) === OK;
  }

  private expectResponse(callId: number, opnum: number): void {
    for (let i = 0; i < MAX_PENDING_CALLS; i++) {
      if (this.pendingCallId[i] === callId) {
        this.pendingOpnum[i] = opnum;
        return;
      }
    }
    const i = this.pendingNext;
    this.pendingCallId[i] = callId;
    this.pendingOpnum[i] = opnum;
    this.pendingNext = (i + 1) % MAX_PENDING_CALLS;
  }

  /** The opnum of a pending call (and forgets it), or -1. */
  private takePending(callId: number): number {
    for (let i = 0; i < MAX_PENDING_CALLS; i++) {
      if (this.pendingCallId[i] === callId) {
        this.pendingCallId[i] = -1;
        return this.pendingOpnum[i]!;
      }
    }
    return -1;
  }

  private peekPending(callId: number): number {
    for (let i = 0; i < MAX_PENDING_CALLS; i++) if (this.pendingCallId[i] === callId) return this.pendingOpnum[i]!;
    return -1;
  }

  // ---- server → client ----------------------------------------------------------------------

  private serverPdu(buf: Uint8Array, len: number, seq: number): number {
    const h = this.hdr;
    if (readCoHeader(buf, 0, len, h) !== OK) return this.refuse(REFUSE_MALFORMED, `PDU header at offset ${h.errOffset}: ${h.errReason}`);
    switch (h.ptype) {
      case PTYPE_BIND_ACK:
      case PTYPE_ALTER_CONTEXT_RESP: {
        const st = readBindAck(buf, 0, len, this.ack);
        if (st !== OK) return this.refuse(REFUSE_MALFORMED, `${PTYPE_NAMES[h.ptype]} at offset ${this.ack.errOffset}: ${this.ack.errReason}`);
        this.contexts.onBindAck(this.ack);
        return PASS;
      }
      case PTYPE_RESPONSE:
        return this.serverResponse(buf, len, seq);
      case PTYPE_FAULT:
        this.takePending(h.callId);
        if (this.callActive && this.callId === h.callId) this.callActive = false;
        return PASS;
      case PTYPE_BIND_NAK:
      case PTYPE_SHUTDOWN:
        return PASS;
      default:
        return this.refuse(REFUSE_UNEXPECTED_PDU, `${PTYPE_NAMES[h.ptype] ?? h.ptype} from the server`);
    }
  }

  private serverResponse(buf: Uint8Array, len: number, seq: number): number {
    const r = this.resp;
    const st = readResponse(buf, 0, len, r);
    if (st !== OK) return this.refuse(REFUSE_MALFORMED, `response at offset ${r.errOffset}: ${r.errReason}`);
    const first = (r.pfcFlags & PFC_FIRST_FRAG) !== 0;
    const last = (r.pfcFlags & PFC_LAST_FRAG) !== 0;
    if (first) {
      let opnum = this.peekPending(r.callId);
      this.callGuessed = false;
      // Picked up after the request went by: which layout decodes tells the operation.
      if (opnum < 0 && this.pickedUp) {
        opnum = EPT_MAP;
        this.callGuessed = true;
      }
      if (opnum < 0) return PASS;
      this.callActive = true;
      this.callId = r.callId;
      this.callOpnum = opnum;
      this.callCtx = r.ctxId;
      this.callLittleEndian = r.littleEndian;
      this.callAuthLevel = r.hasAuth ? r.authLevel : 0;
      this.callStubLen = 0;
      this.fragCount = 0;
      this.callStartSeq = seq;
    } else if (!this.callActive || r.callId !== this.callId) {
      return PASS; // a fragment of a call we do not rewrite
    }
    if (this.fragCount >= MAX_FRAGMENTS || this.callStubLen + r.stubLen > this.maxCallBytes) {
      this.callActive = false;
      return this.refuse(REFUSE_CALL_TOO_LARGE, `endpoint-mapper response over ${this.maxCallBytes} bytes or ${MAX_FRAGMENTS} fragments`);
    }
    this.appendStub(buf, r.stubOff, r.stubLen, seqAdd(seq, r.stubOff));
    this.callEndSeq = seqAdd(seq, len);
    if (!last) return PASS;
    this.callActive = false;
    this.takePending(this.callId);
    return this.rewriteCall();
  }

  private appendStub(buf: Uint8Array, off: number, len: number, seq: number): void {
    if (this.callStubLen + len > this.callStub.length) {
      const next = new Uint8Array(Math.max(this.callStub.length * 2, this.callStubLen + len));
      next.set(this.callStub.subarray(0, this.callStubLen));
      this.callStub = next;
    }
    this.callStub.set(buf.subarray(off, off + len), this.callStubLen);
    const i = this.fragCount++;
    this.fragStubStart[i] = this.callStubLen;
    this.fragSeq[i] = seq;
    this.fragLen[i] = len;
    this.callStubLen += len;
  }

  /** Decodes the complete response stub and rewrites its towers. */
  private rewriteCall(): number {
    const stub = this.callStub;
    const le = this.callLittleEndian;
    const syntax = this.contexts.syntaxOf(this.callCtx);
    const order = syntax === SYNTAX_NDR64 ? NDR64_ONLY : syntax === SYNTAX_NDR ? NDR_ONLY : EITHER;
    let count = -1;
    let towers: TowerView[] = this.mapResp.towers;
    let opnum = this.callOpnum;
    for (const ndr64 of order) {
      this.lastNdr64 = ndr64;
      if (opnum === EPT_MAP && readEptMapResponse(stub, 0, this.callStubLen, ndr64, le, this.mapResp) === OK) {
        count = this.mapResp.towerCount;
        towers = this.mapResp.towers;
        break;
      }
      if ((opnum === EPT_LOOKUP || this.callGuessed) && readEptLookupResponse(stub, 0, this.callStubLen, ndr64, le, this.lookupResp) === OK) {
        count = this.lookupResp.entryCount;
        towers = this.lookupResp.towers;
        opnum = EPT_LOOKUP;
        break;
      }
    }
    if (count < 0) {
      if (this.callGuessed) return PASS; // not an ept_map/ept_lookup response after all
      const v = opnum === EPT_MAP ? this.mapResp : this.lookupResp;
      return this.refuse(REFUSE_MALFORMED, `endpoint-mapper response at stub offset ${v.errOffset}: ${v.errReason}`);
    }
    if (opnum === EPT_LOOKUP && this.rule.lookup === LOOKUP_PUBLISHED) return this.publishedLookup(order === NDR64_ONLY || (order === EITHER && this.lastNdr64));
    for (let i = 0; i < count; i++) {
      const t = towers[i]!;
      if (opnum === EPT_LOOKUP && this.lookupResp.towerOff[i]! < 0) continue;
      if (t.protocol !== PROTO_NCACN_IP_TCP || t.portOff < 0 || t.ipv4Off < 0) continue;
      if (t.ipv4 !== this.rule.serverIp && t.ipv4 !== 0) continue;
      if (this.callAuthLevel >= AUTH_LEVEL_PKT) {
        return this.refuse(REFUSE_AUTH_RESPONSE, 'signed or encrypted endpoint-mapper response names the server: it cannot be rewritten');
      }
      const extPort = this.host.acquireMapping(this.flow, t.ipv4 === 0 ? this.rule.serverIp : t.ipv4, t.port);
      if (extPort < 0) {
        this.lastInterface = `${towerUuidToString(stub, t.ifUuidOff)}@${t.ifMajor}.${t.ifMinor}`;
        return this.refuse(REFUSE_MAPPING, `no mapped port for ${this.lastInterface}: ${MAP_ERR_NAMES[extPort] ?? extPort} in rule "${this.rule.name}"`);
      }
      this.host.towerRewritten(this.flow, opnum, stub, t, this.externalIp, extPort);
      const s = this.scratch;
      s[0] = extPort >>> 8;
      s[1] = extPort & 0xff;
      this.patchStub(t.portOff, s, 2);
      s[0] = this.externalIp >>> 24;
      s[1] = (this.externalIp >>> 16) & 0xff;
      s[2] = (this.externalIp >>> 8) & 0xff;
      s[3] = this.externalIp & 0xff;
      this.patchStub(t.ipv4Off, s, 4);
    }
    return PASS;
  }

  /**
   * `lookup: published`: answers with only the entries of interfaces the rule publishes whose
   * tower is ncacn_ip_tcp on the server (rewritten like ept_map); named-pipe, local and other
   * hosts' entries are removed with the rest. The call is re-encoded (counts and lengths fixed,
   * fragments no larger than the client accepts) and replaces the server's bytes in the stream.
   */
  private publishedLookup(ndr64: boolean): number {
    const l = this.lookupResp;
    const stub = this.callStub;
    const entries: EptLookupEntrySpec[] = [];
    for (let i = 0; i < l.entryCount; i++) {
      if (l.towerOff[i]! < 0) continue;
      const t = l.towers[i]!;
      if (t.protocol !== PROTO_NCACN_IP_TCP || t.portOff < 0 || t.ipv4Off < 0) continue;
      if (t.ipv4 !== this.rule.serverIp && t.ipv4 !== 0) continue;
      if (!interfaceAllowed(this.rule, stub, t.ifUuidOff, true, t.ifMajor, t.ifMinor)) continue;
      if (this.callAuthLevel >= AUTH_LEVEL_PKT) {
        return this.refuse(REFUSE_AUTH_RESPONSE, 'signed or encrypted ept_lookup response cannot be filtered');
      }
      const extPort = this.host.acquireMapping(this.flow, t.ipv4 === 0 ? this.rule.serverIp : t.ipv4, t.port);
      if (extPort < 0) {
        this.lastInterface = `${towerUuidToString(stub, t.ifUuidOff)}@${t.ifMajor}.${t.ifMinor}`;
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
      entries.push({ object: uuidToString(stub, l.objectUuidOff[i]!, this.callLittleEndian), annotation, tower });
    }
    const out = new Uint8Array(this.callStubLen + 64);
    const le = this.callLittleEndian;
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
      writeResponse(pdu, 0, { callId: this.callId, ctxId: this.callCtx, stub: part, pfcFlags: flags, allocHint: stubLen - at, littleEndian: le });
      pdus.push(pdu);
    }
    const bytes = new Uint8Array(pdus.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of pdus) {
      bytes.set(p, o);
      o += p.length;
    }
    this.host.replaceStream(this.flow, this.callStartSeq, this.callEndSeq, bytes);
    return PASS;
  }

  /** Patches stub bytes [stubPos, +n): each byte goes back to its place in its fragment's segment. */
  private patchStub(stubPos: number, bytes: Uint8Array, n: number): void {
    // Keep the copy in step too, so a later field of the same call sees rewritten bytes.
    for (let i = 0; i < n; i++) this.callStub[stubPos + i] = bytes[i]!;
    let done = 0;
    for (let f = 0; f < this.fragCount && done < n; f++) {
      const start = this.fragStubStart[f]!;
      const end = start + this.fragLen[f]!;
      const pos = stubPos + done;
      if (pos < start || pos >= end) continue;
      const k = Math.min(n - done, end - pos);
      this.host.patchStream(this.flow, seqAdd(this.fragSeq[f]!, pos - start), bytes, done, k);
      done += k;
    }
  }
}

const NDR_ONLY: readonly boolean[] = [false];
const NDR64_ONLY: readonly boolean[] = [true];
const EITHER: readonly boolean[] = [false, true];

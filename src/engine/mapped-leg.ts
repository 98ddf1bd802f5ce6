/**
 * The RPC policy of a mapped connection (client → external:P → server:Q), read as the bytes go
 * by — what made ISA's filter "secure RPC publishing" rather than port forwarding.
 *
 * Each direction is cut into PDUs by a CoStream cursor (dcerpc/co-stream) that keeps only the 24
 * header bytes (and the auth_level byte of the trailer as it passes), so bulk store traffic is
 * neither copied nor held. One MappedLeg reads every mapped connection: a connection's state is
 * its row of LegRows (leg-rows.ts) by flow id, loaded into the leg's two cursors and its context
 * table for one feed and written back after it. A PDU is decided on the segment that carries its LAST byte: if it is refused, that
 * segment is dropped and the connection reset both ways, so the server never receives a whole
 * refused PDU. Binds, alter_contexts and their acks are copied whole (small) to read their
 * presentation contexts.
 *   - every context of a bind/alter_context must name an interface the rule allows;
 *   - a request must use a context the server accepted (no request before a bind);
 *   - requireEncryption: binds, alter_contexts and requests below packet privacy, or without an
 *     auth verifier, are refused (auth3 and the auth legs pass untouched);
 *   - notifications: a readable EMSMDB EcRRegisterPushNotification is held until complete and its
 *     callback SOCKADDR rewritten to the gateway's relay address (length-preserving); an
 *     encrypted or signed one follows the rule's notificationsWhenEncrypted.
 */
import { OK } from '../wire/status.js';
import {
  PTYPE_ALTER_CONTEXT,
  PTYPE_ALTER_CONTEXT_RESP,
  PTYPE_BIND,
  PTYPE_BIND_ACK,
  PTYPE_REQUEST,
  SYNTAX_NDR64,
} from '../dcerpc/constants.js';
import { CO_ERROR, CO_FRAMED, CO_HEADER, CO_INCOMPLETE, CO_KEEP_HEADER, CO_PDU, CoStream } from '../dcerpc/co-stream.js';
import { BindAckView, BindView, RequestView, readRequest } from '../dcerpc/pdu.js';
import { PresentationContexts, type ContextsState } from '../dcerpc/context.js';
import { seqAdd } from '../stream/seq.js';
import type { CompiledRule } from '../policy/compiled.js';
import { NOTIFY_PINHOLE } from '../policy/compiled.js';
import {
  AF_INET,
  AF_INET6_WINDOWS,
  EMSMDB_OPNUM_REGISTER_PUSH,
  EMSMDB_UUID_WIRE,
  PushRegistrationView,
  readRegisterPushNotification,
} from '../exchange/push-notification.js';
import {
  PASS,
  REFUSE_IPV6_CALLBACK,
  REFUSE_MALFORMED,
} from './reasons.js';
import type { Leg } from './leg.js';
import { LegRows } from './leg-rows.js';
import { Verdict, authRoomVerdict, bindVerdict, otherClientPduVerdict, requestVerdict, serverPduVerdict } from './rpc-verdicts.js';

const AUTH_LEVEL_PKT = 4;
const OFF_CTX_ID = 20;
const OFF_OPNUM = 22;

/** A mapped leg's carried state (MappedLeg.exportState), JSON-able. */
export interface MappedLegState {
  pickedUp: boolean;
  passThrough: boolean;
  boundOnce: boolean;
  lastInterface: string;
  contexts: ContextsState;
  /** Interface label of each proposed context, for refusal records. */
  labels: [number, string][];
}

/** What the leg needs from the engine; `flow` is the leg's connection. */
export interface MappedLegHost {
  patchStream(flow: number, seq: number, bytes: Uint8Array, off: number, n: number): void;
  /** A relay port on the gateway's internal address for the connection's client callback port, or -1. */
  registerNotification(flow: number, clientPort: number): number;
  /** An encrypted registration: open the rule's notification pinhole (or log the drop). */
  encryptedRegistration(flow: number, pinhole: boolean): void;
  /** A registration left as it was, and why (logged). */
  registrationNotRewritten(flow: number, why: string): void;
}

/** Decoder scratch views shared by every leg (used only during one synchronous decision). */
const SHARED_BIND = new BindView();
const SHARED_ACK = new BindAckView();
const SHARED_REQ = new RequestView();
const SHARED_PUSH = new PushRegistrationView();
const VERDICT = new Verdict();
/** Patch bytes handed to the host, which copies them. */
const SCRATCH = new Uint8Array(4);

/*
 * A mapped connection's leg state is its row of LegRows (by flow id); the row's flags word:
 *   F_* | ctxId of the last bind's first element << 16 (with F_HAS_LAST: lastInterface).
 */
const F_PICKED_UP = 1;
/** Framing was lost on a picked-up stream: pass the rest uninspected. */
const F_PASS_THROUGH = 2;
const F_BOUND_ONCE = 4;
/** A client request is held until complete: its callback address may be rewritten. */
const F_HOLDING = 8;
/** The last bind named a first element (ctxId in the top half): lastInterface. */
const F_HAS_LAST = 32;

export class MappedLeg implements Leg {
  /** With a refusal (read right after feed): what the log says, and the interface concerned. */
  refuseDetail = '';
  lastInterface = '';

  private readonly rows = new LegRows();
  // The connection being fed (only during feed): its flow, rule, flags and loaded parts.
  private flow = -1;
  private rule!: CompiledRule;
  private flags = 0;
  private lastSet = false;
  private ctxOn = false;
  private readonly c2s = new CoStream();
  private readonly s2c = new CoStream();
  private readonly contexts = new PresentationContexts();
  /** ctx for serverPduVerdict, which attaches the row's table only for the PDUs that change it. */
  private readonly ctxOnDemand = (): PresentationContexts => this.ctx();

  constructor(
    private readonly host: MappedLegHost,
    /** The address a connection's callback is rewritten to: the internal one, or the external one for an outbound connection. */
    private readonly gwIp: (flow: number) => number,
    private readonly ruleOf: (flow: number) => CompiledRule,
  ) {}

  /** A new connection `flow` (picked up mid-stream: binds may be missing; a stream that does not frame is passed, not refused). */
  init(flow: number, pickedUp: boolean): void {
    this.rows.clear(flow, this.c2s);
    if (pickedUp) this.rows.setFlags(flow, F_PICKED_UP);
  }

  /** Connection `flow` left: what only it held goes back. */
  release(flow: number): void {
    this.rows.release(flow, this.c2s);
  }

  /** Bytes of the rows (all connections; the maps' rare entries aside). */
  memoryBytes(): number {
    return this.rows.bytes();
  }

  /** The last bind's first interface (what a refusal from outside the leg names). */
  interfaceOf(flow: number): string {
    this.open(flow);
    const label = this.lastLabel();
    this.close();
    return label;
  }

  /** Loads what a packet of `flow` will read (LegRows.touch). */
  touch(flow: number, fromClient: boolean): number {
    return this.rows.touch(flow, fromClient);
  }

  midPdu(flow: number, fromClient: boolean): boolean {
    return fromClient && (this.rows.flags(flow) & F_HOLDING) !== 0;
  }

  /** Both directions are between PDUs: the leg's state fits a snapshot (daemon restart). */
  atPduBoundary(flow: number): boolean {
    return this.rows.atBoundary(flow);
  }

  /** What a restarted gateway needs to keep enforcing the policy on this connection. */
  exportState(flow: number): MappedLegState {
    this.open(flow);
    const contexts = this.ctx().exportState();
    const labels: [number, string][] = [];
    for (const id of contexts.ids) if (id >= 0) labels.push([id, this.contexts.labelOf(id)]);
    const f = this.flags;
    const s: MappedLegState = {
      pickedUp: (f & F_PICKED_UP) !== 0, passThrough: (f & F_PASS_THROUGH) !== 0, boundOnce: (f & F_BOUND_ONCE) !== 0,
      lastInterface: this.lastLabel(), contexts, labels,
    };
    this.close();
    return s;
  }

  /** Loads exportState()'s output after init(); false if the saved contexts are inconsistent. */
  importState(flow: number, s: MappedLegState): boolean {
    this.open(flow);
    const ok = this.ctx().importState(s.contexts);
    if (ok) {
      let f = (this.flags & F_HOLDING) | (s.pickedUp ? F_PICKED_UP : 0) | (s.passThrough ? F_PASS_THROUGH : 0) | (s.boundOnce ? F_BOUND_ONCE : 0);
      // lastInterface is kept as the context that names it.
      const last = s.labels.find(([id, label]) => label === s.lastInterface && this.contexts.labelOf(id) === label);
      if (last !== undefined) f |= F_HAS_LAST | (last[0] << 16);
      this.flags = f;
    }
    this.close();
    return ok;
  }

  feed(flow: number, fromClient: boolean, data: Uint8Array, off: number, len: number, seq: number): number {
    if ((this.rows.flags(flow) & F_PASS_THROUGH) !== 0) return PASS;
    // Most segments of a large call or answer are body bytes between headers: counted in the row.
    if (this.rows.skipBody(flow, fromClient, len)) return PASS;
    // And the server's segment that ends a response: passed (serverPdu), the cursor reset in the row.
    if (!fromClient && this.rows.endResponse(flow, false, len)) return PASS;
    this.open(flow);
    const c = fromClient ? this.c2s : this.s2c;
    this.rows.loadCursor(flow, fromClient, c);
    const v = this.walk(c, fromClient, data, off, len, seq);
    this.rows.saveCursor(flow, fromClient, c);
    this.close();
    return v;
  }

  /** Takes up connection `flow` for one call. */
  private open(flow: number): void {
    this.flow = flow;
    this.rule = this.ruleOf(flow);
    this.flags = this.rows.flags(flow);
    this.lastSet = false;
    this.ctxOn = false;
  }

  /** Writes back what the call changed. */
  private close(): void {
    if (this.ctxOn) this.rows.detachContexts(this.flow, this.contexts);
    this.rows.setFlags(this.flow, this.flags);
  }

  /** The connection's context table, attached on first use in a call. */
  private ctx(): PresentationContexts {
    if (this.ctxOn) return this.contexts;
    this.ctxOn = true;
    this.rows.attachContexts(this.flow, this.contexts);
    return this.contexts;
  }

  private walk(c: CoStream, fromClient: boolean, data: Uint8Array, off: number, len: number, seq: number): number {
    c.begin(data, off, len, seq);
    for (;;) {
      switch (c.next()) {
        case CO_INCOMPLETE:
          return PASS;
        case CO_ERROR:
          if ((this.flags & (F_PICKED_UP | F_BOUND_ONCE)) === F_PICKED_UP) {
            this.flags |= F_PASS_THROUGH; // joined mid-PDU: boundaries unknown, nothing to enforce on
            c.reset();
            return PASS;
          }
          return this.refuse(REFUSE_MALFORMED, `${fromClient ? 'client' : 'server'} PDU header at offset ${c.errOffset}: ${c.errReason}`);
        case CO_FRAMED:
          // Binds, alter_contexts and their acks are read whole (small): their contexts matter.
          if (c.ptype === PTYPE_BIND || c.ptype === PTYPE_ALTER_CONTEXT || c.ptype === PTYPE_BIND_ACK || c.ptype === PTYPE_ALTER_CONTEXT_RESP) c.keepWhole();
          break;
        case CO_HEADER: {
          const v = this.headerComplete(c, fromClient);
          if (v !== PASS) return v;
          break;
        }
        case CO_PDU: {
          const v = fromClient ? this.clientPdu(c) : this.serverPdu(c);
          if (fromClient) this.flags &= ~F_HOLDING;
          c.reset();
          if (v !== PASS) return v;
          break;
        }
      }
    }
  }

  private refuse(code: number, detail: string): number {
    this.refuseDetail = detail;
    if (!this.lastSet) this.lastInterface = this.lastLabel();
    return code;
  }

  /** The label of the last bind's first interface ('' for none), of the connection taken up. */
  private lastLabel(): string {
    return (this.flags & F_HAS_LAST) !== 0 ? this.ctx().labelOf(this.flags >>> 16) : '';
  }

  /** The refusal names `label` (rather than the last bind's first interface). */
  private naming(label: string): void {
    this.lastInterface = label;
    this.lastSet = true;
  }

  /** The 24-byte header (or the whole, shorter PDU) is known. */
  private headerComplete(c: CoStream, fromClient: boolean): number {
    if (authRoomVerdict(c.ptype, c.fragLen, c.authLen, VERDICT) !== PASS) return this.refused(VERDICT, REFUSE_MALFORMED);
    if (fromClient && c.ptype === PTYPE_REQUEST && c.fragLen >= CO_KEEP_HEADER && this.rule.notifications) {
      const ctxId = c.hdrU16(OFF_CTX_ID);
      if (c.hdrU16(OFF_OPNUM) === EMSMDB_OPNUM_REGISTER_PUSH && this.ctx().interfaceMatches(ctxId, EMSMDB_UUID_WIRE, 0)) {
        c.keepWhole();
        this.flags |= F_HOLDING; // the callback address may be rewritten: hold until the PDU is complete
      }
    }
    return PASS;
  }

  // ---- decisions --------------------------------------------------------------------------

  /** A shared decision (rpc-verdicts.ts) refused with `code`: name its interface, keep its text. */
  private refused(v: Verdict, code: number): number {
    if (v.iface !== '') this.naming(v.iface);
    return this.refuse(code, v.detail);
  }

  private clientPdu(c: CoStream): number {
    switch (c.ptype) {
      case PTYPE_BIND:
      case PTYPE_ALTER_CONTEXT:
        return this.clientBind(c);
      case PTYPE_REQUEST:
        return this.clientRequest(c);
      default: {
        const code = otherClientPduVerdict(c.ptype, 'on a mapped port', VERDICT);
        return code === PASS ? PASS : this.refused(VERDICT, code);
      }
    }
  }

  private clientBind(c: CoStream): number {
    const b = SHARED_BIND;
    const buf = c.pduBuf;
    const code = bindVerdict(this.rule, buf, c.pduOff, c.fragLen, c.ptype, b, false, VERDICT);
    if (code !== PASS) return this.refused(VERDICT, code);
    this.ctx().onBind(buf, b);
    // lastInterface from now on: the first element's interface, as the table keeps it.
    if (b.nContexts > 0) this.flags = (this.flags & 0xffff) | F_HAS_LAST | (b.ctxId[0]! << 16);
    else if (c.ptype === PTYPE_BIND) this.flags &= ~F_HAS_LAST & 0xffff;
    this.flags |= F_BOUND_ONCE;
    return PASS;
  }

  private clientRequest(c: CoStream): number {
    const ctxId = c.hdrU16(OFF_CTX_ID);
    const bound = (this.flags & F_BOUND_ONCE) !== 0;
    // A picked-up connection may use contexts bound before the gateway saw it, until it binds.
    const accepted = this.ctx().isAccepted(ctxId) || ((this.flags & F_PICKED_UP) !== 0 && !bound);
    const code = requestVerdict(this.rule, this.ctx(), accepted, bound, ctxId, c.hdrU16(OFF_OPNUM), c.authLen, c.authLevel, VERDICT);
    if (code !== PASS) return this.refused(VERDICT, code);
    if ((this.flags & F_HOLDING) !== 0) return this.registration(c, ctxId);
    return PASS;
  }

  /** A complete EcRRegisterPushNotification (held): rewrite its callback, or follow the rule. */
  private registration(c: CoStream, ctxId: number): number {
    const r = SHARED_REQ;
    const buf = c.pduBuf;
    if (readRequest(buf, c.pduOff, c.fragLen, r) !== OK) return this.refuse(REFUSE_MALFORMED, `request at offset ${r.errOffset - c.pduOff}: ${r.errReason}`);
    // Signed or sealed stubs cannot be changed: the signature covers them.
    if (r.hasAuth && r.authLevel >= AUTH_LEVEL_PKT) {
      this.host.encryptedRegistration(this.flow, this.rule.notificationsWhenEncrypted === NOTIFY_PINHOLE);
      return PASS;
    }
    const ndr64 = this.ctx().syntaxOf(ctxId) === SYNTAX_NDR64;
    const v = SHARED_PUSH;
    if (readRegisterPushNotification(buf, r.stubOff, r.stubLen, ndr64, r.littleEndian, v) !== OK) {
      return this.refuse(REFUSE_MALFORMED, `EcRRegisterPushNotification at stub offset ${v.errOffset - r.stubOff}: ${v.errReason}`);
    }
    if (v.family === AF_INET6_WINDOWS) {
      return this.refuse(REFUSE_IPV6_CALLBACK, 'EcRRegisterPushNotification with an IPv6 callback address (family 23): not supported by this gateway');
    }
    if (v.family !== AF_INET || v.portOff < 0) {
      return this.refuse(REFUSE_MALFORMED, `EcRRegisterPushNotification callback of family ${v.family} and ${v.callbackLen} bytes`);
    }
    if (v.port < this.rule.notifyPortLo || v.port > this.rule.notifyPortHi) {
      this.host.registrationNotRewritten(this.flow, `callback port ${v.port} outside notificationPorts ${this.rule.notifyPortLo}-${this.rule.notifyPortHi}`);
      return PASS;
    }
    const relay = this.host.registerNotification(this.flow, v.port);
    if (relay < 0) {
      this.host.registrationNotRewritten(this.flow, 'no free notification relay port');
      return PASS;
    }
    const s = SCRATCH;
    s[0] = relay >>> 8;
    s[1] = relay & 0xff;
    this.host.patchStream(this.flow, seqAdd(c.startSeq, v.portOff - c.pduOff), s, 0, 2);
    const gw = this.gwIp(this.flow);
    s[0] = gw >>> 24;
    s[1] = (gw >>> 16) & 0xff;
    s[2] = (gw >>> 8) & 0xff;
    s[3] = gw & 0xff;
    this.host.patchStream(this.flow, seqAdd(c.startSeq, v.ipv4Off - c.pduOff), s, 0, 4);
    return PASS;
  }

  private serverPdu(c: CoStream): number {
    const code = serverPduVerdict(c.ptype, c.pduBuf, c.pduOff, c.fragLen, this.ctxOnDemand, SHARED_ACK, 'on a mapped port', VERDICT);
    return code === PASS ? PASS : this.refused(VERDICT, code);
  }
}


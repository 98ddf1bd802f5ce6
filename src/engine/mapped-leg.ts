/**
 * The RPC policy of a mapped connection (client → external:P → server:Q), read as the bytes go
 * by — what made ISA's filter "secure RPC publishing" rather than port forwarding.
 *
 * Each direction is cut into PDUs by a CoStream cursor (dcerpc/co-stream) that keeps only the 24
 * header bytes (and the auth_level byte of the trailer as it passes), so bulk store traffic is
 * neither copied nor held. A PDU is decided on the segment that carries its LAST byte: if it is refused, that
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
  SYNTAX_NDR64,
} from '../dcerpc/constants.js';
import { CO_ERROR, CO_FRAMED, CO_HEADER, CO_INCOMPLETE, CO_KEEP_HEADER, CO_PDU, CoStream } from '../dcerpc/co-stream.js';
import { BindAckView, BindView, RequestView, readBind, readBindAck, readRequest } from '../dcerpc/pdu.js';
import { PresentationContexts, type ContextsState } from '../dcerpc/context.js';
import { uuidToString } from '../dcerpc/uuid.js';
import { interfaceLabel } from '../dcerpc/label.js';
import { seqAdd } from '../stream/seq.js';
import type { CompiledRule } from '../policy/compiled.js';
import { NOTIFY_PINHOLE } from '../policy/compiled.js';
import { interfaceAllowed } from '../policy/match.js';
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
  REFUSE_BIND_INTERFACE,
  REFUSE_CONTEXT_NOT_ACCEPTED,
  REFUSE_IPV6_CALLBACK,
  REFUSE_MALFORMED,
  REFUSE_NOT_ENCRYPTED,
  REFUSE_UNEXPECTED_PDU,
} from './reasons.js';
import type { Leg } from './leg.js';

const AUTH_LEVEL_PKT = 4;
const AUTH_LEVEL_PKT_PRIVACY = 6;
const OFF_AUTH_LEN = 10;
const OFF_CTX_ID = 20;
const OFF_OPNUM = 22;
const SEC_TRAILER_LEN = 8;

/** Bytes before the body of a PDU type (request/response/fault have 8 more than the common 16). */
function minHeader(ptype: number): number {
  return ptype === PTYPE_REQUEST || ptype === PTYPE_RESPONSE || ptype === PTYPE_FAULT ? CO_KEEP_HEADER : 16;
}

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
/** Patch bytes handed to the host, which copies them. */
const SCRATCH = new Uint8Array(4);

export class MappedLeg implements Leg {
  flow = -1;
  rule!: CompiledRule;
  /** Picked up mid-stream (replay): binds may be missing; a stream that does not frame is passed, not refused. */
  pickedUp = false;
  /** Framing was lost on a picked-up stream: pass the rest uninspected. */
  passThrough = false;
  refuseDetail = '';
  lastInterface = '';

  private readonly c2s = new CoStream();
  private readonly s2c = new CoStream();
  /** A client request is held until complete: its callback address may be rewritten. */
  private holding = false;
  private readonly contexts = new PresentationContexts();
  private boundOnce = false;
  /** Interface named by each presentation context the client proposed (for refusal records). */
  private readonly ctxLabel = new Map<number, string>();

  constructor(
    private readonly host: MappedLegHost,
    private readonly gwIp: () => number,
  ) {}

  init(rule: CompiledRule, pickedUp: boolean): void {
    this.rule = rule;
    this.pickedUp = pickedUp;
    this.passThrough = false;
    this.refuseDetail = '';
    this.lastInterface = '';
    this.c2s.reset();
    this.s2c.reset();
    this.holding = false;
    this.contexts.reset();
    this.ctxLabel.clear();
    this.boundOnce = false;
  }

  midPdu(fromClient: boolean): boolean {
    return fromClient && this.holding;
  }

  /** Both directions are between PDUs: the leg's state fits a snapshot (daemon restart). */
  atPduBoundary(): boolean {
    return this.c2s.pos === 0 && this.s2c.pos === 0;
  }

  /** What a restarted gateway needs to keep enforcing the policy on this connection. */
  exportState(): MappedLegState {
    return {
      pickedUp: this.pickedUp, passThrough: this.passThrough, boundOnce: this.boundOnce, lastInterface: this.lastInterface,
      contexts: this.contexts.exportState(), labels: [...this.ctxLabel],
    };
  }

  /** Loads exportState()'s output after init(); false if the saved contexts are inconsistent. */
  importState(s: MappedLegState): boolean {
    if (!this.contexts.importState(s.contexts)) return false;
    this.pickedUp = s.pickedUp;
    this.passThrough = s.passThrough;
    this.boundOnce = s.boundOnce;
    this.lastInterface = s.lastInterface;
    this.ctxLabel.clear();
    for (const [id, label] of s.labels) this.ctxLabel.set(id, label);
    return true;
  }

  feed(fromClient: boolean, data: Uint8Array, off: number, len: number, seq: number): number {
    if (this.passThrough) return PASS;
    const c = fromClient ? this.c2s : this.s2c;
    c.begin(data, off, len, seq);
    for (;;) {
      switch (c.next()) {
        case CO_INCOMPLETE:
          return PASS;
        case CO_ERROR:
          if (this.pickedUp && !this.boundOnce) {
            this.passThrough = true; // joined mid-PDU: boundaries unknown, nothing to enforce on
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
          if (fromClient) this.holding = false;
          c.reset();
          if (v !== PASS) return v;
          break;
        }
      }
    }
  }

  private refuse(code: number, detail: string): number {
    this.refuseDetail = detail;
    return code;
  }

  /** The 24-byte header (or the whole, shorter PDU) is known. */
  private headerComplete(c: CoStream, fromClient: boolean): number {
    // The sec_trailer must lie after the PDU's own header (else its "auth_level" is a header byte).
    if (c.authLen > 0 && c.fragLen - c.authLen - SEC_TRAILER_LEN < minHeader(c.ptype)) {
      return this.refuse(REFUSE_MALFORMED, `${PTYPE_NAMES[c.ptype] ?? c.ptype}: auth_length ${c.authLen} at offset ${OFF_AUTH_LEN} leaves no room for the header (frag_length ${c.fragLen})`);
    }
    if (fromClient && c.ptype === PTYPE_REQUEST && c.fragLen >= CO_KEEP_HEADER && this.rule.notifications) {
      const ctxId = c.hdrU16(OFF_CTX_ID);
      if (c.hdrU16(OFF_OPNUM) === EMSMDB_OPNUM_REGISTER_PUSH && this.contexts.interfaceMatches(ctxId, EMSMDB_UUID_WIRE, 0)) {
        c.keepWhole();
        this.holding = true; // the callback address may be rewritten: hold until the PDU is complete
      }
    }
    return PASS;
  }

  // ---- decisions --------------------------------------------------------------------------

  private encryptedEnough(hasAuth: boolean, level: number): boolean {
    return hasAuth && level >= AUTH_LEVEL_PKT_PRIVACY;
  }

  private clientPdu(c: CoStream): number {
    switch (c.ptype) {
      case PTYPE_BIND:
      case PTYPE_ALTER_CONTEXT:
        return this.clientBind(c);
      case PTYPE_REQUEST:
        return this.clientRequest(c);
      case PTYPE_AUTH3:
      case PTYPE_CO_CANCEL:
      case PTYPE_ORPHANED:
        return PASS;
      default:
        return this.refuse(REFUSE_UNEXPECTED_PDU, `${PTYPE_NAMES[c.ptype] ?? c.ptype} from the client on a mapped port`);
    }
  }

  private clientBind(c: CoStream): number {
    const b = SHARED_BIND;
    const buf = c.pduBuf;
    const st = readBind(buf, c.pduOff, c.fragLen, b);
    const what = PTYPE_NAMES[c.ptype] ?? 'bind';
    if (st !== OK) return this.refuse(REFUSE_MALFORMED, `${what} at offset ${b.errOffset - c.pduOff}: ${b.errReason}`);
    for (let i = 0; i < b.nContexts; i++) {
      const off = b.abstractUuidOff[i]!;
      if (!interfaceAllowed(this.rule, buf, off, b.littleEndian, b.ifMajor[i]!, b.ifMinor[i]!)) {
        this.lastInterface = `${uuidToString(buf, off, b.littleEndian)}@${b.ifMajor[i]}.${b.ifMinor[i]}`;
        return this.refuse(REFUSE_BIND_INTERFACE, `${what} to ${this.lastInterface}, not published by rule "${this.rule.name}"`);
      }
    }
    if (c.ptype === PTYPE_BIND) this.ctxLabel.clear();
    for (let i = 0; i < b.nContexts; i++) {
      this.ctxLabel.set(b.ctxId[i]!, interfaceLabel(buf, b.abstractUuidOff[i]!, b.littleEndian, b.ifMajor[i]!, b.ifMinor[i]!));
    }
    if (b.nContexts > 0) this.lastInterface = this.ctxLabel.get(b.ctxId[0]!)!;
    if (this.rule.requireEncryption && !this.encryptedEnough(b.hasAuth, b.authLevel)) {
      const level = b.hasAuth ? `auth level ${b.authLevel}` : 'no authentication';
      return this.refuse(REFUSE_NOT_ENCRYPTED, `${what} with ${level}; rule "${this.rule.name}" requires packet privacy (6)`);
    }
    this.contexts.onBind(buf, b);
    this.boundOnce = true;
    return PASS;
  }

  private clientRequest(c: CoStream): number {
    const ctxId = c.hdrU16(OFF_CTX_ID);
    if (!this.contexts.isAccepted(ctxId) && !(this.pickedUp && !this.boundOnce)) {
      this.lastInterface = this.ctxLabel.get(ctxId) ?? '';
      return this.refuse(REFUSE_CONTEXT_NOT_ACCEPTED, this.boundOnce ? `request on presentation context ${ctxId}, which the server did not accept` : 'request before any bind');
    }
    const hasAuth = c.authLen > 0;
    if (this.rule.requireEncryption && !this.encryptedEnough(hasAuth, c.authLevel)) {
      const level = hasAuth ? `auth level ${c.authLevel}` : 'no authentication';
      return this.refuse(REFUSE_NOT_ENCRYPTED, `request (opnum ${c.hdrU16(OFF_OPNUM)}) with ${level}; rule "${this.rule.name}" requires packet privacy (6)`);
    }
    if (this.holding) return this.registration(c, ctxId);
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
    const ndr64 = this.contexts.syntaxOf(ctxId) === SYNTAX_NDR64;
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
    const gw = this.gwIp();
    s[0] = gw >>> 24;
    s[1] = (gw >>> 16) & 0xff;
    s[2] = (gw >>> 8) & 0xff;
    s[3] = gw & 0xff;
    this.host.patchStream(this.flow, seqAdd(c.startSeq, v.ipv4Off - c.pduOff), s, 0, 4);
    return PASS;
  }

  private serverPdu(c: CoStream): number {
    switch (c.ptype) {
      case PTYPE_BIND_ACK:
      case PTYPE_ALTER_CONTEXT_RESP: {
        const st = readBindAck(c.pduBuf, c.pduOff, c.fragLen, SHARED_ACK);
        if (st !== OK) return this.refuse(REFUSE_MALFORMED, `${PTYPE_NAMES[c.ptype]} at offset ${SHARED_ACK.errOffset - c.pduOff}: ${SHARED_ACK.errReason}`);
        this.contexts.onBindAck(SHARED_ACK);
        return PASS;
      }
      case PTYPE_BIND_NAK:
        this.contexts.onBindNak();
        return PASS;
      case PTYPE_RESPONSE:
      case PTYPE_FAULT:
      case PTYPE_SHUTDOWN:
        return PASS;
      default:
        return this.refuse(REFUSE_UNEXPECTED_PDU, `${PTYPE_NAMES[c.ptype] ?? c.ptype} from the server on a mapped port`);
    }
  }
}


/**
 * The policy on the DCE/RPC stream inside an RPC over HTTP virtual connection: the decisions a
 * mapped connection gets (engine/mapped-leg), over whole PDUs the proxy has framed with the
 * shared reader (dcerpc/co-stream):
 *   - every context of a bind/alter_context must name an interface the entry allows (plus the
 *     endpoint mapper when the client asked for RemotePort 593);
 *   - a request must use a context the server accepted;
 *   - requireEncryption: binds, alter_contexts and requests below packet privacy (auth level 6)
 *     or without an auth verifier are refused; auth3 and the auth legs pass.
 * It is a thin adapter over dcerpc's readBind/readBindAck and PresentationContexts and policy's
 * interfaceAllowed, not a copy of MappedLeg (whose state is being moved into typed-array rows):
 * the two should share one decision function once that settles.
 */
import { OK } from '../wire/status.js';
import {
  AUTH_LEVEL_PKT_PRIVACY, DCERPC_OFF_AUTH_LEN, REQ_HDR_LEN, REQ_OFF_CTX_ID, REQ_OFF_OPNUM, SEC_TRAILER_LEN,
  EPM_VERSION_MAJOR, PTYPE_ALTER_CONTEXT, PTYPE_ALTER_CONTEXT_RESP, PTYPE_AUTH3, PTYPE_BIND, PTYPE_BIND_ACK,
  PTYPE_BIND_NAK, PTYPE_CO_CANCEL, PTYPE_FAULT, PTYPE_NAMES, PTYPE_ORPHANED, PTYPE_REQUEST, PTYPE_RESPONSE,
  PTYPE_SHUTDOWN, UUID_EPM,
} from '../dcerpc/constants.js';
import { BindAckView, BindView, readBind, readBindAck } from '../dcerpc/pdu.js';
import { PresentationContexts } from '../dcerpc/context.js';
import { interfaceLabel } from '../dcerpc/label.js';
import { uuidEqualsAcrossOrder } from '../dcerpc/uuid.js';
import { interfaceAllowed } from '../policy/match.js';
import type { CompiledRpcOverHttp } from '../policy/https.js';
import {
  PASS, REFUSE_BIND_INTERFACE, REFUSE_CONTEXT_NOT_ACCEPTED, REFUSE_MALFORMED, REFUSE_NOT_ENCRYPTED, REFUSE_UNEXPECTED_PDU,
} from '../engine/reasons.js';


const BIND = new BindView();
const ACK = new BindAckView();

function u16(buf: Uint8Array, off: number, le: boolean): number {
  return le ? buf[off]! | (buf[off + 1]! << 8) : (buf[off]! << 8) | buf[off + 1]!;
}

export class InnerPolicy {
  /** Why the last refusal happened, and the interface it was about (for the log). */
  detail = '';
  lastInterface = '';
  private readonly contexts = new PresentationContexts();
  private boundOnce = false;

  constructor(
    private readonly rule: CompiledRpcOverHttp,
    /** RemotePort 593: the endpoint mapper interface is allowed too. */
    private readonly epm: boolean,
  ) {}

  private refuse(code: number, detail: string): number {
    this.detail = detail;
    return code;
  }

  /** A whole client PDU (buf[off, off + len), len = frag_length): PASS or a REFUSE_* reason. */
  clientPdu(buf: Uint8Array, off: number, len: number): number {
    const ptype = buf[off + 2]!;
    const le = (buf[off + 4]! & 0x10) !== 0;
    const authLen = u16(buf, off + DCERPC_OFF_AUTH_LEN, le);
    const minHdr = ptype === PTYPE_REQUEST ? REQ_HDR_LEN : 16;
    if (authLen > 0 && len - authLen - SEC_TRAILER_LEN < minHdr) {
      return this.refuse(REFUSE_MALFORMED, `${PTYPE_NAMES[ptype] ?? ptype}: auth_length ${authLen} leaves no room for the header (frag_length ${len})`);
    }
    const authLevel = authLen > 0 ? buf[off + len - authLen - SEC_TRAILER_LEN + 1]! : -1;
    switch (ptype) {
      case PTYPE_BIND:
      case PTYPE_ALTER_CONTEXT:
        return this.bind(buf, off, len, ptype);
      case PTYPE_REQUEST: {
        if (len < REQ_HDR_LEN) return this.refuse(REFUSE_MALFORMED, `request of ${len} bytes`);
        const ctxId = u16(buf, off + REQ_OFF_CTX_ID, le);
        if (!this.contexts.isAccepted(ctxId)) {
          return this.refuse(REFUSE_CONTEXT_NOT_ACCEPTED, this.boundOnce ? `request on presentation context ${ctxId}, which the server did not accept` : 'request before any bind');
        }
        if (this.rule.requireEncryption && authLevel < AUTH_LEVEL_PKT_PRIVACY) {
          const level = authLen > 0 ? `auth level ${authLevel}` : 'no authentication';
          return this.refuse(REFUSE_NOT_ENCRYPTED, `request (opnum ${u16(buf, off + REQ_OFF_OPNUM, le)}) with ${level}; "${this.rule.name}" requires packet privacy (6)`);
        }
        return PASS;
      }
      case PTYPE_AUTH3:
      case PTYPE_CO_CANCEL:
      case PTYPE_ORPHANED:
        return PASS;
      default:
        return this.refuse(REFUSE_UNEXPECTED_PDU, `${PTYPE_NAMES[ptype] ?? ptype} from the client`);
    }
  }

  private bind(buf: Uint8Array, off: number, len: number, ptype: number): number {
    const b = BIND;
    const what = PTYPE_NAMES[ptype] ?? 'bind';
    if (readBind(buf, off, len, b) !== OK) return this.refuse(REFUSE_MALFORMED, `${what} at offset ${b.errOffset - off}: ${b.errReason}`);
    for (let i = 0; i < b.nContexts; i++) {
      const u = b.abstractUuidOff[i]!;
      const major = b.ifMajor[i]!;
      const minor = b.ifMinor[i]!;
      this.lastInterface = interfaceLabel(buf, u, b.littleEndian, major, minor);
      const isEpm = this.epm && major === EPM_VERSION_MAJOR && uuidEqualsAcrossOrder(UUID_EPM, 0, true, buf, u, b.littleEndian);
      if (!isEpm && !interfaceAllowed(this.rule, buf, u, b.littleEndian, major, minor)) {
        return this.refuse(REFUSE_BIND_INTERFACE, `${what} to ${this.lastInterface}, not allowed by "${this.rule.name}"`);
      }
    }
    if (this.rule.requireEncryption && !(b.hasAuth && b.authLevel >= AUTH_LEVEL_PKT_PRIVACY)) {
      const level = b.hasAuth ? `auth level ${b.authLevel}` : 'no authentication';
      return this.refuse(REFUSE_NOT_ENCRYPTED, `${what} with ${level}; "${this.rule.name}" requires packet privacy (6)`);
    }
    this.contexts.onBind(buf, b);
    this.boundOnce = true;
    return PASS;
  }

  /** A whole server PDU: contexts follow the acks; anything a server does not send is refused. */
  serverPdu(buf: Uint8Array, off: number, len: number): number {
    const ptype = buf[off + 2]!;
    switch (ptype) {
      case PTYPE_BIND_ACK:
      case PTYPE_ALTER_CONTEXT_RESP:
        if (readBindAck(buf, off, len, ACK) !== OK) return this.refuse(REFUSE_MALFORMED, `${PTYPE_NAMES[ptype]} at offset ${ACK.errOffset - off}: ${ACK.errReason}`);
        this.contexts.onBindAck(ACK);
        return PASS;
      case PTYPE_BIND_NAK:
        this.contexts.onBindNak();
        return PASS;
      case PTYPE_RESPONSE:
      case PTYPE_FAULT:
      case PTYPE_SHUTDOWN:
        return PASS;
      default:
        return this.refuse(REFUSE_UNEXPECTED_PDU, `${PTYPE_NAMES[ptype] ?? ptype} from the server`);
    }
  }
}

/**
 * The policy on the DCE/RPC stream inside an RPC over HTTP virtual connection: the decisions a
 * mapped connection gets (engine/mapped-leg), over whole PDUs the proxy has framed with the
 * shared reader (dcerpc/co-stream):
 *   - every context of a bind/alter_context must name an interface the entry allows (plus the
 *     endpoint mapper when the client asked for RemotePort 593);
 *   - a request must use a context the server accepted;
 *   - requireEncryption: binds, alter_contexts and requests below packet privacy (auth level 6)
 *     or without an auth verifier are refused; auth3 and the auth legs pass.
 * The decisions are the mapped leg's own (engine/rpc-verdicts.ts), over whole PDUs; this class
 * keeps what a mapped connection keeps in its row: the context table and whether it bound once.
 */
import {
  DCERPC_OFF_AUTH_LEN, PTYPE_ALTER_CONTEXT, PTYPE_BIND, PTYPE_REQUEST, REQ_HDR_LEN, REQ_OFF_CTX_ID, REQ_OFF_OPNUM, SEC_TRAILER_LEN,
} from '../dcerpc/constants.js';
import { BindAckView, BindView } from '../dcerpc/pdu.js';
import { PresentationContexts } from '../dcerpc/context.js';
import { interfaceLabel } from '../dcerpc/label.js';
import { rd16 } from '../dcerpc/ndr.js';
import type { CompiledRpcOverHttp } from '../policy/https.js';
import { PASS, REFUSE_MALFORMED } from '../engine/reasons.js';
import { Verdict, authRoomVerdict, bindVerdict, otherClientPduVerdict, requestVerdict, serverPduVerdict } from '../engine/rpc-verdicts.js';

const BIND = new BindView();
const ACK = new BindAckView();
const WHERE = 'inside RPC over HTTP';

export class InnerPolicy {
  /** Why the last refusal happened, and the interface it was about (for the log). */
  detail = '';
  lastInterface = '';
  private readonly contexts = new PresentationContexts();
  private readonly contextsOf = (): PresentationContexts => this.contexts;
  private readonly verdict = new Verdict();
  private boundOnce = false;

  constructor(
    private readonly rule: CompiledRpcOverHttp,
    /** RemotePort 593: the endpoint mapper interface is allowed too. */
    private readonly epm: boolean,
  ) {}

  private refused(code: number): number {
    this.detail = this.verdict.detail;
    if (this.verdict.iface !== '') this.lastInterface = this.verdict.iface;
    return code;
  }

  /** A whole client PDU (buf[off, off + len), len = frag_length): PASS or a REFUSE_* reason. */
  clientPdu(buf: Uint8Array, off: number, len: number): number {
    const v = this.verdict;
    const ptype = buf[off + 2]!;
    const le = (buf[off + 4]! & 0x10) !== 0;
    const authLen = rd16(buf, off + DCERPC_OFF_AUTH_LEN, le);
    let code = authRoomVerdict(ptype, len, authLen, v);
    if (code !== PASS) return this.refused(code);
    switch (ptype) {
      case PTYPE_BIND:
      case PTYPE_ALTER_CONTEXT:
        code = bindVerdict(this.rule, buf, off, len, ptype, BIND, this.epm, v);
        if (code !== PASS) return this.refused(code);
        this.contexts.onBind(buf, BIND);
        this.boundOnce = true;
        // Later refusals name the bind's first interface, as a mapped connection's do.
        if (BIND.nContexts > 0) this.lastInterface = interfaceLabel(buf, BIND.abstractUuidOff[0]!, BIND.littleEndian, BIND.ifMajor[0]!, BIND.ifMinor[0]!);
        return PASS;
      case PTYPE_REQUEST: {
        if (len < REQ_HDR_LEN) return this.refused(v.refuse(REFUSE_MALFORMED, `request of ${len} bytes`));
        const ctxId = rd16(buf, off + REQ_OFF_CTX_ID, le);
        const authLevel = authLen > 0 ? buf[off + len - authLen - SEC_TRAILER_LEN + 1]! : -1;
        code = requestVerdict(this.rule, this.contexts, this.contexts.isAccepted(ctxId), this.boundOnce, ctxId, rd16(buf, off + REQ_OFF_OPNUM, le), authLen, authLevel, v);
        return code === PASS ? PASS : this.refused(code);
      }
      default:
        code = otherClientPduVerdict(ptype, WHERE, v);
        return code === PASS ? PASS : this.refused(code);
    }
  }

  /** A whole server PDU: contexts follow the acks; anything a server does not send is refused. */
  serverPdu(buf: Uint8Array, off: number, len: number): number {
    const code = serverPduVerdict(buf[off + 2]!, buf, off, len, this.contextsOf, ACK, WHERE, this.verdict);
    return code === PASS ? PASS : this.refused(code);
  }
}

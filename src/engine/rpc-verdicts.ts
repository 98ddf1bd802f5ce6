/**
 * The per-PDU policy of a DCE/RPC connection under a rule, as pure decisions over one PDU's
 * bytes: which client PDU types pass, a bind/alter_context's interfaces and authentication level,
 * a request's presentation context and level, the server's acks. Shared by the mapped leg (a
 * TCP connection to a mapped port) and the RPC proxy (the stream inside an RPC over HTTP virtual
 * connection), so both refuse the same PDUs for the same reasons, in the same words.
 *
 * Each decision returns PASS or a REFUSE_* code; a refusal leaves its log text in `v.detail` and,
 * where the refusal is about one interface, its label in `v.iface` ('' otherwise).
 */
import { OK } from '../wire/status.js';
import {
  AUTH_LEVEL_PKT_PRIVACY,
  EPM_VERSION_MAJOR,
  PTYPE_ALTER_CONTEXT_RESP,
  PTYPE_AUTH3,
  PTYPE_BIND_ACK,
  PTYPE_BIND_NAK,
  PTYPE_CO_CANCEL,
  PTYPE_FAULT,
  PTYPE_NAMES,
  PTYPE_ORPHANED,
  PTYPE_REQUEST,
  PTYPE_RESPONSE,
  PTYPE_SHUTDOWN,
  SEC_TRAILER_LEN,
  UUID_EPM,
} from '../dcerpc/constants.js';
import { CO_KEEP_HEADER } from '../dcerpc/co-stream.js';
import type { PresentationContexts } from '../dcerpc/context.js';
import { interfaceLabel } from '../dcerpc/label.js';
import { type BindAckView, type BindView, readBind, readBindAck } from '../dcerpc/pdu.js';
import { uuidEqualsAcrossOrder, uuidToString } from '../dcerpc/uuid.js';
import type { CompiledRule } from '../policy/compiled.js';
import { interfaceAllowed } from '../policy/match.js';
import { PASS, REFUSE_BIND_INTERFACE, REFUSE_CONTEXT_NOT_ACCEPTED, REFUSE_MALFORMED, REFUSE_NOT_ENCRYPTED, REFUSE_UNEXPECTED_PDU } from './reasons.js';

/** What a PDU policy reads of a rule (a publishing rule or an rpcOverHttp entry). */
export type PduRule = Pick<CompiledRule, 'name' | 'requireEncryption' | 'anyInterface' | 'ifUuid' | 'ifMajor' | 'ifMinor'>;

/** Why the last decision refused, for the log. */
export class Verdict {
  detail = '';
  /** The interface the refusal is about ('' when it names none). */
  iface = '';

  refuse(code: number, detail: string, iface = ''): number {
    this.detail = detail;
    this.iface = iface;
    return code;
  }
}

/** Bytes before the body of a PDU type (request/response/fault have 8 more than the common 16). */
function minHeader(ptype: number): number {
  return ptype === PTYPE_REQUEST || ptype === PTYPE_RESPONSE || ptype === PTYPE_FAULT ? CO_KEEP_HEADER : 16;
}

function ptypeName(ptype: number): string {
  return PTYPE_NAMES[ptype] ?? String(ptype);
}

/** The sec_trailer must lie after the PDU's own header (else its "auth_level" is a header byte). */
export function authRoomVerdict(ptype: number, fragLen: number, authLen: number, v: Verdict): number {
  if (authLen > 0 && fragLen - authLen - SEC_TRAILER_LEN < minHeader(ptype)) {
    return v.refuse(REFUSE_MALFORMED, `${ptypeName(ptype)}: auth_length ${authLen} at offset 10 leaves no room for the header (frag_length ${fragLen})`);
  }
  return PASS;
}

/** Client PDUs other than bind, alter_context and request: the auth legs and cancels pass. */
export function otherClientPduVerdict(ptype: number, where: string, v: Verdict): number {
  if (ptype === PTYPE_AUTH3 || ptype === PTYPE_CO_CANCEL || ptype === PTYPE_ORPHANED) return PASS;
  return v.refuse(REFUSE_UNEXPECTED_PDU, `${ptypeName(ptype)} from the client ${where}`);
}

/**
 * A whole bind or alter_context (buf[off, off + len)), decoded into `b`: every context names an
 * interface the rule allows (or the endpoint mapper, when `epmAllowed`), and with
 * requireEncryption the PDU carries packet privacy. On PASS, `b` holds the decoded PDU.
 */
export function bindVerdict(rule: PduRule, buf: Uint8Array, off: number, len: number, ptype: number, b: BindView, epmAllowed: boolean, v: Verdict): number {
  const what = PTYPE_NAMES[ptype] ?? 'bind';
  if (readBind(buf, off, len, b) !== OK) return v.refuse(REFUSE_MALFORMED, `${what} at offset ${b.errOffset - off}: ${b.errReason}`);
  for (let i = 0; i < b.nContexts; i++) {
    const u = b.abstractUuidOff[i]!;
    const major = b.ifMajor[i]!;
    if (interfaceAllowed(rule, buf, u, b.littleEndian, major, b.ifMinor[i]!)) continue;
    if (epmAllowed && major === EPM_VERSION_MAJOR && uuidEqualsAcrossOrder(UUID_EPM, 0, true, buf, u, b.littleEndian)) continue;
    const iface = `${uuidToString(buf, u, b.littleEndian)}@${major}.${b.ifMinor[i]}`;
    return v.refuse(REFUSE_BIND_INTERFACE, `${what} to ${iface}, not published by rule "${rule.name}"`, iface);
  }
  if (rule.requireEncryption && !(b.hasAuth && b.authLevel >= AUTH_LEVEL_PKT_PRIVACY)) {
    const iface = b.nContexts > 0 ? interfaceLabel(buf, b.abstractUuidOff[0]!, b.littleEndian, b.ifMajor[0]!, b.ifMinor[0]!) : '';
    const level = b.hasAuth ? `auth level ${b.authLevel}` : 'no authentication';
    return v.refuse(REFUSE_NOT_ENCRYPTED, `${what} with ${level}; rule "${rule.name}" requires packet privacy (6)`, iface);
  }
  return PASS;
}

/**
 * A request on context `ctxId`: the server accepted that context (`accepted`), and with
 * requireEncryption it carries packet privacy (authLen 0: no verifier).
 */
export function requestVerdict(
  rule: PduRule, contexts: PresentationContexts, accepted: boolean, boundOnce: boolean,
  ctxId: number, opnum: number, authLen: number, authLevel: number, v: Verdict,
): number {
  if (!accepted) {
    const detail = boundOnce ? `request on presentation context ${ctxId}, which the server did not accept` : 'request before any bind';
    return v.refuse(REFUSE_CONTEXT_NOT_ACCEPTED, detail, contexts.labelOf(ctxId));
  }
  if (rule.requireEncryption && !(authLen > 0 && authLevel >= AUTH_LEVEL_PKT_PRIVACY)) {
    const level = authLen > 0 ? `auth level ${authLevel}` : 'no authentication';
    return v.refuse(REFUSE_NOT_ENCRYPTED, `request (opnum ${opnum}) with ${level}; rule "${rule.name}" requires packet privacy (6)`);
  }
  return PASS;
}

/**
 * A whole server PDU: the contexts follow the acks; anything a server does not send is refused.
 * `contexts` is asked for the table only by the PDUs that change it (the acks and the nak): a
 * mapped connection keeps its table in its row, and attaching it for every response cost more
 * than the rest of the response's verdict.
 */
export function serverPduVerdict(
  ptype: number, buf: Uint8Array, off: number, len: number, contexts: () => PresentationContexts, ack: BindAckView, where: string, v: Verdict,
): number {
  switch (ptype) {
    case PTYPE_BIND_ACK:
    case PTYPE_ALTER_CONTEXT_RESP:
      if (readBindAck(buf, off, len, ack) !== OK) return v.refuse(REFUSE_MALFORMED, `${ptypeName(ptype)} at offset ${ack.errOffset - off}: ${ack.errReason}`);
      contexts().onBindAck(ack);
      return PASS;
    case PTYPE_BIND_NAK:
      contexts().onBindNak();
      return PASS;
    case PTYPE_RESPONSE:
    case PTYPE_FAULT:
    case PTYPE_SHUTDOWN:
      return PASS;
    default:
      return v.refuse(REFUSE_UNEXPECTED_PDU, `${ptypeName(ptype)} from the server ${where}`);
  }
}


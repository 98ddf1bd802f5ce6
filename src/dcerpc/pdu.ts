/**
 * Connection-oriented PDU decoders (C706 12.6, MS-RPCE 2.2.2, MS-RPCH 2.2.3.6; notes A, F.2).
 *
 * Every decoder takes the PDU's first byte at `off` and `len` bytes available from there, checks
 * the common header, requires the whole PDU (NEED_MORE with needed = frag_length otherwise), and
 * fills a preallocated view. UUIDs are not copied: views hold their absolute offsets in `buf`,
 * valid as long as the caller's buffer is. Integers are read in the PDU's drep byte order.
 *
 * The auth verifier is located from the end (frag_length - auth_length - 8, MS-RPCE 2.2.2.11),
 * never by walking the body; a body that runs into it is malformed.
 */
import { DecodeResult, MALFORMED, OK, UNSUPPORTED, fail, needMore } from '../wire/status.js';
import type { Status } from '../wire/status.js';
import {
  BIND_ACK_OFF_ASSOC_GROUP, BIND_ACK_OFF_MAX_RECV, BIND_ACK_OFF_MAX_XMIT, BIND_ACK_OFF_SEC_ADDR,
  BIND_ACK_OFF_SEC_ADDR_LEN, BIND_NAK_OFF_N_VERSIONS, BIND_NAK_OFF_REASON, BIND_OFF_ASSOC_GROUP,
  BIND_OFF_CONTEXTS, BIND_OFF_MAX_RECV, BIND_OFF_MAX_XMIT, BIND_OFF_N_CONTEXTS, CONTEXT_ELEM_FIXED_LEN,
  DCERPC_HDR_LEN, DCERPC_OFF_AUTH_LEN, DCERPC_OFF_FRAG_LEN, DCERPC_OFF_PTYPE, FAULT_HDR_LEN, FAULT_OFF_STATUS,
  MAX_CONTEXTS, MAX_RTS_COMMANDS, MAX_TRANSFER_SYNTAXES, NDR64_VERSION, NDR_VERSION, PFC_OBJECT_UUID,
  PTYPE_ALTER_CONTEXT, PTYPE_ALTER_CONTEXT_RESP, PTYPE_AUTH3, PTYPE_BIND, PTYPE_BIND_ACK, PTYPE_BIND_NAK,
  PTYPE_CO_CANCEL, PTYPE_FAULT, PTYPE_ORPHANED, PTYPE_REQUEST, PTYPE_RESPONSE, PTYPE_RTS, PTYPE_SHUTDOWN,
  REQ_OFF_ALLOC_HINT, REQ_OFF_CTX_ID, REQ_OFF_OBJECT, REQ_OFF_OPNUM, RESP_HDR_LEN,
  RESP_OFF_ALLOC_HINT, RESP_OFF_CANCEL_COUNT, RESP_OFF_CTX_ID, RESULT_ELEM_LEN, RTS_CLIENT_ADDRESS_V4,
  RTS_CLIENT_ADDRESS_V4_LEN, RTS_CLIENT_ADDRESS_V6, RTS_CLIENT_ADDRESS_V6_LEN, RTS_CMD_CLIENT_ADDRESS,
  RTS_CMD_PADDING, RTS_CMD_SIZES, RTS_HDR_LEN, RTS_OFF_FLAGS, RTS_OFF_N_COMMANDS, RTS_PADDING_FIXED_LEN,
  SEC_TRAILER_LEN, SEC_TRAILER_OFF_CONTEXT_ID, SEC_TRAILER_OFF_LEVEL, SEC_TRAILER_OFF_PAD_LEN,
  SEC_TRAILER_OFF_TYPE, SYNTAX_BTFN, SYNTAX_ID_LEN, SYNTAX_NDR, SYNTAX_NDR64, SYNTAX_UNKNOWN, UUID_BIND_NAK_EEINFO_SIGNATURE,
  UUID_NDR, UUID_NDR64, isBtfnUuid, AUTH3_HDR_LEN,
} from './constants.js';
import { CoHeader, headerSizeForPtype, readCoHeader } from './header.js';
import {
  PDU_KIND_AUTH3, PDU_KIND_BIND, PDU_KIND_BIND_ACK, PDU_KIND_BIND_NAK, PDU_KIND_FAULT, PDU_KIND_HEADER_ONLY, PDU_KIND_REQUEST,
  PDU_KIND_RESPONSE, PDU_KIND_RTS, pduViewClass,
} from './co-pdu.js';
import { align, rd16, rd32 } from './ndr.js';
import { uuidEqualsAcrossOrder } from './uuid.js';
import {
  ERR_AUTH_LEN, ERR_AUTH_NOT_ALLOWED, ERR_AUTH_PAD, ERR_AUTH_REQUIRED, ERR_CONTEXT_OVERRUN,
  ERR_NO_TRANSFER_SYNTAX, ERR_PDU_INCOMPLETE, ERR_RESULT_OVERRUN, ERR_RTS_BAD_ADDRESS_TYPE,
  ERR_RTS_COMMAND_OVERRUN, ERR_RTS_TOO_MANY_COMMANDS, ERR_RTS_TRAILING, ERR_RTS_UNKNOWN_COMMAND,
  ERR_SEC_ADDR_OVERRUN, ERR_SHORT_BODY, ERR_TOO_MANY_CONTEXTS, ERR_TOO_MANY_RESULTS,
  ERR_TOO_MANY_TRANSFER_SYNTAXES, ERR_UNKNOWN_PTYPE, ERR_VERSIONS_OVERRUN, ERR_WRONG_PTYPE,
} from './reasons.js';

export * from './pdu-write.js';

// ---------------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------------

// Each view is an interface over the one runtime class CoPdu (co-pdu.ts: one hidden class, so the
// header and auth-verifier stores every decoder shares are monomorphic). `new BindView()` etc.
// return a CoPdu made for that PDU shape.

/** Header plus auth verifier: the part every PDU view shares. */
export interface PduBase extends CoHeader {
  /** Absolute offset of the PDU's first byte in the decoded buffer. */
  pduOff: number;
  /** auth_length > 0: a sec_trailer and auth value are present. */
  hasAuth: boolean;
  authType: number;
  authLevel: number;
  /** Pad bytes between the body/stub and the sec_trailer (they belong to the stub area). */
  authPadLen: number;
  authReserved: number;
  authContextId: number;
  /** Absolute offset of the 8-byte sec_trailer (0 without auth). */
  secTrailerOff: number;
  /** Absolute offset and length of the auth value (token or signature). */
  authValueOff: number;
  authValueLen: number;
}
/** A view with only the header and auth verifier (readAuthVerifier's own tests). */
export const PduBase = pduViewClass<PduBase>(PDU_KIND_HEADER_ONLY);

/** bind (11) and alter_context (14). */
export interface BindView extends PduBase {
  maxXmitFrag: number;
  maxRecvFrag: number;
  assocGroup: number;
  nContexts: number;
  /** p_cont_id of element i. */
  readonly ctxId: Uint16Array;
  /** Absolute offset of element i's abstract syntax UUID (drep byte order). */
  readonly abstractUuidOff: Uint32Array;
  /** Abstract interface version: if_version u32 split as major = low 16 bits, minor = high. */
  readonly ifMajor: Uint16Array;
  readonly ifMinor: Uint16Array;
  /** n_transfer_syn of element i (1..MAX_TRANSFER_SYNTAXES). */
  readonly nTransfer: Uint8Array;
  /** Transfer syntax j of element i at index i * MAX_TRANSFER_SYNTAXES + j: UUID offset, u32 version. */
  readonly transferUuidOff: Uint32Array;
  readonly transferVersion: Uint32Array;
  /** Classification of that transfer syntax: SYNTAX_NDR, SYNTAX_NDR64, SYNTAX_BTFN or SYNTAX_UNKNOWN. */
  readonly transferSyntax: Uint8Array;
  /** Absolute offset just after the last context element. */
  contextsEnd: number;
}
export const BindView = pduViewClass<BindView>(PDU_KIND_BIND);

/** bind_ack (12) and alter_context_resp (15). */
export interface BindAckView extends PduBase {
  maxXmit: number;
  maxRecv: number;
  assocGroup: number;
  /** sec_addr.length (includes the NUL; may be 0) and the absolute offset of its bytes. */
  secAddrLen: number;
  secAddrOff: number;
  nResults: number;
  /** Result i answers context element i of the bind (positional): RESULT_*. */
  readonly result: Uint16Array;
  /** Provider reason; in a negotiate_ack the BTFN response bitmask. */
  readonly reason: Uint16Array;
  readonly transferUuidOff: Uint32Array;
  readonly transferVersion: Uint32Array;
  /** Classification of the returned transfer syntax (SYNTAX_*; BTFN never, it is a result code). */
  readonly transferSyntax: Uint8Array;
}
export const BindAckView = pduViewClass<BindAckView>(PDU_KIND_BIND_ACK);

/** bind_nak (13). */
export interface BindNakView extends PduBase {
  /** provider_reject_reason (NAK_REASON_*). */
  reason: number;
  nVersions: number;
  /** Absolute offset of the {major u8, minor u8} pairs. */
  versionsOff: number;
  /** MS-RPCE 2.2.2.9: a 16-byte Signature follows the versions iff frag_length leaves room. */
  hasSignature: boolean;
  signatureOff: number;
  /** The Signature is the extended-error one (90740320-fad0-11d3-82d7-009027b130ab). */
  signatureIsEeInfo: boolean;
  /** Bytes after the Signature (extended error information). */
  extraOff: number;
  extraLen: number;
}
export const BindNakView = pduViewClass<BindNakView>(PDU_KIND_BIND_NAK);

/** request (0). */
export interface RequestView extends PduBase {
  allocHint: number;
  ctxId: number;
  opnum: number;
  hasObject: boolean;
  objectUuidOff: number;
  /** Stub bytes only: excludes the auth pad, sec_trailer and auth value. */
  stubOff: number;
  stubLen: number;
}
export const RequestView = pduViewClass<RequestView>(PDU_KIND_REQUEST);

/** response (2). */
export interface ResponseView extends PduBase {
  allocHint: number;
  ctxId: number;
  cancelCount: number;
  stubOff: number;
  stubLen: number;
}
export const ResponseView = pduViewClass<ResponseView>(PDU_KIND_RESPONSE);

/** fault (3). */
export interface FaultView extends PduBase {
  allocHint: number;
  ctxId: number;
  cancelCount: number;
  /** The reserved byte at 23; MS-RPCE 2.2.2.8: bit 0 = extended error information present. */
  faultFlags: number;
  status: number;
  stubOff: number;
  stubLen: number;
}
export const FaultView = pduViewClass<FaultView>(PDU_KIND_FAULT);

/** rpc_auth_3 (16). */
export interface Auth3View extends PduBase {
  /** The 4 pad bytes after the header, read as C706's max_xmit/max_recv (0 if absent). */
  maxXmitFrag: number;
  maxRecvFrag: number;
}
export const Auth3View = pduViewClass<Auth3View>(PDU_KIND_AUTH3);

/** shutdown (17), co_cancel (18), orphaned (19): header plus optional auth verifier. */
export type HeaderOnlyView = PduBase;
export const HeaderOnlyView = pduViewClass<HeaderOnlyView>(PDU_KIND_HEADER_ONLY);

/** RTS (20), MS-RPCH 2.2.3.6. */
export interface RtsView extends PduBase {
  /** RTS_FLAG_* bits. */
  flags: number;
  numberOfCommands: number;
  /** Command i: CommandType and the absolute offset of its type field, and its total length. */
  readonly commandType: Uint32Array;
  readonly commandOff: Uint32Array;
  readonly commandLen: Uint32Array;
}
export const RtsView = pduViewClass<RtsView>(PDU_KIND_RTS);

/** One preallocated sub-view per PDU shape; readPdu fills the one matching `ptype`. */
export class PduView extends DecodeResult {
  /** PTYPE of the last decoded PDU (-1 before the first). */
  ptype = -1;
  readonly header = new CoHeader();
  /** bind and alter_context. */
  readonly bind = new BindView();
  /** bind_ack and alter_context_resp. */
  readonly bindAck = new BindAckView();
  readonly bindNak = new BindNakView();
  readonly request = new RequestView();
  readonly response = new ResponseView();
  readonly fault = new FaultView();
  readonly auth3 = new Auth3View();
  /** shutdown, co_cancel and orphaned. */
  readonly headerOnly = new HeaderOnlyView();
  readonly rts = new RtsView();
}

// ---------------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------------

/** Which PTYPEs may carry an auth verifier. */
const AUTH_FORBIDDEN = 0;
const AUTH_OPTIONAL = 1;
const AUTH_REQUIRED = 2;

/**
 * sec_trailer (8 bytes) + auth value, at pduOff + fragLen - authLen - 8:
 *   0 u8 auth_type | 1 u8 auth_level | 2 u8 auth_pad_length | 3 u8 auth_reserved
 *   4 u32 auth_context_id (drep order) | 8 auth_value[authLen]
 * Caller guarantees fragLen bytes at pduOff. With authLen 0 clears the fields and returns OK.
 */
export function readAuthVerifier(
  buf: Uint8Array, pduOff: number, fragLen: number, authLen: number, littleEndian: boolean, out: PduBase,
): Status {
  if (authLen === 0) {
    out.hasAuth = false;
    out.authType = 0;
    out.authLevel = 0;
    out.authPadLen = 0;
    out.authReserved = 0;
    out.authContextId = 0;
    out.secTrailerOff = 0;
    out.authValueOff = 0;
    out.authValueLen = 0;
    return OK;
  }
  const trailerOff = pduOff + fragLen - authLen - SEC_TRAILER_LEN;
  if (trailerOff < pduOff + DCERPC_HDR_LEN) return fail(out, MALFORMED, pduOff + DCERPC_OFF_AUTH_LEN, ERR_AUTH_LEN);
  out.hasAuth = true;
  out.authType = buf[trailerOff + SEC_TRAILER_OFF_TYPE]! | 0;
  out.authLevel = buf[trailerOff + SEC_TRAILER_OFF_LEVEL]! | 0;
  out.authPadLen = buf[trailerOff + SEC_TRAILER_OFF_PAD_LEN]! | 0;
  out.authReserved = buf[trailerOff + SEC_TRAILER_OFF_PAD_LEN + 1]! | 0;
  out.authContextId = rd32(buf, trailerOff + SEC_TRAILER_OFF_CONTEXT_ID, littleEndian);
  out.secTrailerOff = trailerOff;
  out.authValueOff = trailerOff + SEC_TRAILER_LEN;
  out.authValueLen = authLen;
  return OK;
}

/**
 * Header, PTYPE, minimum length, completeness, auth verifier: the prologue of every decoder.
 * A frag_length too short for the PTYPE is MALFORMED even before the PDU is complete.
 */
function beginPdu(
  buf: Uint8Array, off: number, len: number, out: PduBase, ptypeA: number, ptypeB: number, authMode: number,
): Status {
  const st = readCoHeader(buf, off, len, out);
  if (st !== OK) return st;
  if (out.ptype !== ptypeA && out.ptype !== ptypeB) return fail(out, MALFORMED, off + DCERPC_OFF_PTYPE, ERR_WRONG_PTYPE);
  if (out.fragLen < headerSizeForPtype(out.ptype, out.pfcFlags)) {
    return fail(out, MALFORMED, off + DCERPC_OFF_FRAG_LEN, ERR_SHORT_BODY);
  }
  if (authMode === AUTH_FORBIDDEN && out.authLen !== 0) return fail(out, MALFORMED, off + DCERPC_OFF_AUTH_LEN, ERR_AUTH_NOT_ALLOWED);
  if (authMode === AUTH_REQUIRED && out.authLen === 0) return fail(out, MALFORMED, off + DCERPC_OFF_AUTH_LEN, ERR_AUTH_REQUIRED);
  if (len < out.fragLen) return needMore(out, off + len, out.fragLen, ERR_PDU_INCOMPLETE);
  out.pduOff = off;
  return readAuthVerifier(buf, off, out.fragLen, out.authLen, out.littleEndian, out);
}

/** End of the body: the sec_trailer if present, else the end of the PDU. */
function bodyEnd(out: PduBase): number {
  return out.hasAuth ? out.secTrailerOff : out.pduOff + out.fragLen;
}

/** End of the stub: before the auth pad if authenticated. -1 if the pad runs past `stubOff`. */
function stubEnd(out: PduBase, stubOff: number): number {
  if (!out.hasAuth) return out.pduOff + out.fragLen;
  const end = out.secTrailerOff - out.authPadLen;
  return end < stubOff ? -1 : end;
}

/** SYNTAX_* of the transfer syntax UUID at `off` (drep order `le`) with version `version`. */
function classifyTransferSyntax(buf: Uint8Array, off: number, le: boolean, version: number): number {
  const major = version & 0xffff;
  if (major === NDR_VERSION && uuidEqualsAcrossOrder(buf, off, le, UUID_NDR, 0, true)) return SYNTAX_NDR;
  if (major === NDR64_VERSION && uuidEqualsAcrossOrder(buf, off, le, UUID_NDR64, 0, true)) return SYNTAX_NDR64;
  if (isBtfnUuid(buf, off, le)) return SYNTAX_BTFN;
  return SYNTAX_UNKNOWN;
}

// ---------------------------------------------------------------------------------------------
// bind / alter_context
// ---------------------------------------------------------------------------------------------

/**
 * bind (11) / alter_context (14), integers in drep order:
 *   16 u16 max_xmit_frag | 18 u16 max_recv_frag | 20 u32 assoc_group_id
 *   24 u8 n_context_elem | 25 u8 reserved | 26 u16 reserved2
 *   28 n x p_cont_elem_t: +0 u16 p_cont_id | +2 u8 n_transfer_syn | +3 u8 reserved
 *      +4 uuid abstract (16) | +20 u32 if_version (major low 16, minor high 16)
 *      +24 n_transfer_syn x { uuid (16), u32 version }
 *   [auth pad][sec_trailer 8][auth_value]
 */
export function readBind(buf: Uint8Array, off: number, len: number, out: BindView): Status {
  const st = beginPdu(buf, off, len, out, PTYPE_BIND, PTYPE_ALTER_CONTEXT, AUTH_OPTIONAL);
  if (st !== OK) return st;
  const le = out.littleEndian;
  out.maxXmitFrag = rd16(buf, off + BIND_OFF_MAX_XMIT, le);
  out.maxRecvFrag = rd16(buf, off + BIND_OFF_MAX_RECV, le);
  out.assocGroup = rd32(buf, off + BIND_OFF_ASSOC_GROUP, le);
  out.nContexts = 0;
  const n = buf[off + BIND_OFF_N_CONTEXTS]! | 0;
  if (n > MAX_CONTEXTS) return fail(out, UNSUPPORTED, off + BIND_OFF_N_CONTEXTS, ERR_TOO_MANY_CONTEXTS);
  const end = bodyEnd(out);
  let pos = off + BIND_OFF_CONTEXTS;
  for (let i = 0; i < n; i++) {
    if (pos + CONTEXT_ELEM_FIXED_LEN > end) return fail(out, MALFORMED, pos, ERR_CONTEXT_OVERRUN);
    const nt = buf[pos + 2]! | 0;
    if (nt === 0) return fail(out, MALFORMED, pos + 2, ERR_NO_TRANSFER_SYNTAX);
    if (nt > MAX_TRANSFER_SYNTAXES) return fail(out, UNSUPPORTED, pos + 2, ERR_TOO_MANY_TRANSFER_SYNTAXES);
    if (pos + CONTEXT_ELEM_FIXED_LEN + nt * SYNTAX_ID_LEN > end) return fail(out, MALFORMED, pos, ERR_CONTEXT_OVERRUN);
    out.ctxId[i] = rd16(buf, pos, le);
    out.nTransfer[i] = nt;
    out.abstractUuidOff[i] = pos + 4;
    const ifVersion = rd32(buf, pos + 20, le);
    out.ifMajor[i] = ifVersion & 0xffff;
    out.ifMinor[i] = ifVersion >>> 16;
    let ts = pos + CONTEXT_ELEM_FIXED_LEN;
    const base = i * MAX_TRANSFER_SYNTAXES;
    for (let j = 0; j < nt; j++) {
      const version = rd32(buf, ts + 16, le);
      out.transferUuidOff[base + j] = ts;
      out.transferVersion[base + j] = version;
      out.transferSyntax[base + j] = classifyTransferSyntax(buf, ts, le, version);
      ts += SYNTAX_ID_LEN;
    }
    pos = ts;
  }
  out.nContexts = n;
  out.contextsEnd = pos;
  return OK;
}

// ---------------------------------------------------------------------------------------------
// bind_ack / alter_context_resp
// ---------------------------------------------------------------------------------------------

/**
 * bind_ack (12) / alter_context_resp (15), integers in drep order:
 *   16 u16 max_xmit_frag | 18 u16 max_recv_frag | 20 u32 assoc_group_id
 *   24 u16 sec_addr.length | 26 sec_addr bytes (length incl. NUL, may be 0)
 *   pad to 4 relative to the PDU start (len 0 -> 2 pad bytes)
 *   u8 n_results | u8 reserved | u16 reserved2
 *   n x p_result_t: u16 result | u16 reason | uuid (16) | u32 version
 *   [auth pad][sec_trailer 8][auth_value]
 */
export function readBindAck(buf: Uint8Array, off: number, len: number, out: BindAckView): Status {
  const st = beginPdu(buf, off, len, out, PTYPE_BIND_ACK, PTYPE_ALTER_CONTEXT_RESP, AUTH_OPTIONAL);
  if (st !== OK) return st;
  const le = out.littleEndian;
  out.maxXmit = rd16(buf, off + BIND_ACK_OFF_MAX_XMIT, le);
  out.maxRecv = rd16(buf, off + BIND_ACK_OFF_MAX_RECV, le);
  out.assocGroup = rd32(buf, off + BIND_ACK_OFF_ASSOC_GROUP, le);
  out.nResults = 0;
  const end = bodyEnd(out);
  const secAddrLen = rd16(buf, off + BIND_ACK_OFF_SEC_ADDR_LEN, le);
  if (off + BIND_ACK_OFF_SEC_ADDR + secAddrLen > end) {
    return fail(out, MALFORMED, off + BIND_ACK_OFF_SEC_ADDR_LEN, ERR_SEC_ADDR_OVERRUN);
  }
  out.secAddrLen = secAddrLen;
  out.secAddrOff = off + BIND_ACK_OFF_SEC_ADDR;
  const pos = align(off + BIND_ACK_OFF_SEC_ADDR + secAddrLen, off, 4);
  if (pos + 4 > end) return fail(out, MALFORMED, pos, ERR_RESULT_OVERRUN);
  const n = buf[pos]! | 0;
  if (n > MAX_CONTEXTS) return fail(out, UNSUPPORTED, pos, ERR_TOO_MANY_RESULTS);
  if (pos + 4 + n * RESULT_ELEM_LEN > end) return fail(out, MALFORMED, pos, ERR_RESULT_OVERRUN);
  let r = pos + 4;
  for (let i = 0; i < n; i++) {
    const version = rd32(buf, r + 20, le);
    out.result[i] = rd16(buf, r, le);
    out.reason[i] = rd16(buf, r + 2, le);
    out.transferUuidOff[i] = r + 4;
    out.transferVersion[i] = version;
    const syntax = classifyTransferSyntax(buf, r + 4, le, version);
    out.transferSyntax[i] = syntax === SYNTAX_BTFN ? SYNTAX_UNKNOWN : syntax;
    r += RESULT_ELEM_LEN;
  }
  out.nResults = n;
  return OK;
}

// ---------------------------------------------------------------------------------------------
// bind_nak
// ---------------------------------------------------------------------------------------------

/**
 * bind_nak (13), never authenticated:
 *   16 u16 provider_reject_reason | 18 u8 n_protocols | 19 n x {u8 major, u8 minor}
 *   [16-byte Signature iff frag_length leaves room (MS-RPCE 2.2.2.9)][extended error info]
 * A bind_nak that stops after the reason (frag_length 18) is accepted with no versions.
 */
export function readBindNak(buf: Uint8Array, off: number, len: number, out: BindNakView): Status {
  const st = beginPdu(buf, off, len, out, PTYPE_BIND_NAK, PTYPE_BIND_NAK, AUTH_FORBIDDEN);
  if (st !== OK) return st;
  const le = out.littleEndian;
  const end = off + out.fragLen;
  out.reason = rd16(buf, off + BIND_NAK_OFF_REASON, le);
  out.nVersions = 0;
  out.versionsOff = off + BIND_NAK_OFF_N_VERSIONS + 1;
  out.hasSignature = false;
  out.signatureOff = 0;
  out.signatureIsEeInfo = false;
  out.extraOff = 0;
  out.extraLen = 0;
  let pos = off + BIND_NAK_OFF_N_VERSIONS;
  if (pos < end) {
    const n = buf[pos]! | 0;
    if (pos + 1 + 2 * n > end) return fail(out, MALFORMED, pos, ERR_VERSIONS_OVERRUN);
    out.nVersions = n;
    pos += 1 + 2 * n;
  }
  if (end - pos >= 16) {
    out.hasSignature = true;
    out.signatureOff = pos;
    out.signatureIsEeInfo = uuidEqualsAcrossOrder(buf, pos, le, UUID_BIND_NAK_EEINFO_SIGNATURE, 0, true);
    out.extraOff = pos + 16;
    out.extraLen = end - pos - 16;
  }
  return OK;
}

// ---------------------------------------------------------------------------------------------
// request / response / fault
// ---------------------------------------------------------------------------------------------

/**
 * request (0), integers in drep order:
 *   16 u32 alloc_hint | 20 u16 p_cont_id | 22 u16 opnum
 *   [24 uuid object (16) iff PFC_OBJECT_UUID] | stub | [auth pad][sec_trailer 8][auth_value]
 */
export function readRequest(buf: Uint8Array, off: number, len: number, out: RequestView): Status {
  const st = beginPdu(buf, off, len, out, PTYPE_REQUEST, PTYPE_REQUEST, AUTH_OPTIONAL);
  if (st !== OK) return st;
  const le = out.littleEndian;
  out.allocHint = rd32(buf, off + REQ_OFF_ALLOC_HINT, le);
  out.ctxId = rd16(buf, off + REQ_OFF_CTX_ID, le);
  out.opnum = rd16(buf, off + REQ_OFF_OPNUM, le);
  out.hasObject = (out.pfcFlags & PFC_OBJECT_UUID) !== 0;
  out.objectUuidOff = out.hasObject ? off + REQ_OFF_OBJECT : 0;
  const stubOff = off + headerSizeForPtype(PTYPE_REQUEST, out.pfcFlags);
  const end = stubEnd(out, stubOff);
  if (end < 0) return fail(out, MALFORMED, out.secTrailerOff + SEC_TRAILER_OFF_PAD_LEN, ERR_AUTH_PAD);
  out.stubOff = stubOff;
  out.stubLen = end - stubOff;
  return OK;
}

/**
 * response (2), integers in drep order:
 *   16 u32 alloc_hint | 20 u16 p_cont_id | 22 u8 cancel_count | 23 u8 reserved
 *   24 stub | [auth pad][sec_trailer 8][auth_value]
 */
export function readResponse(buf: Uint8Array, off: number, len: number, out: ResponseView): Status {
  const st = beginPdu(buf, off, len, out, PTYPE_RESPONSE, PTYPE_RESPONSE, AUTH_OPTIONAL);
  if (st !== OK) return st;
  const le = out.littleEndian;
  out.allocHint = rd32(buf, off + RESP_OFF_ALLOC_HINT, le);
  out.ctxId = rd16(buf, off + RESP_OFF_CTX_ID, le);
  out.cancelCount = buf[off + RESP_OFF_CANCEL_COUNT]! | 0;
  const stubOff = off + RESP_HDR_LEN;
  const end = stubEnd(out, stubOff);
  if (end < 0) return fail(out, MALFORMED, out.secTrailerOff + SEC_TRAILER_OFF_PAD_LEN, ERR_AUTH_PAD);
  out.stubOff = stubOff;
  out.stubLen = end - stubOff;
  return OK;
}

/**
 * fault (3), integers in drep order:
 *   16 u32 alloc_hint | 20 u16 p_cont_id | 22 u8 cancel_count | 23 u8 reserved (flags)
 *   24 u32 status | 28 u32 reserved | 32 stub (optional) | [auth pad][sec_trailer 8][auth_value]
 */
export function readFault(buf: Uint8Array, off: number, len: number, out: FaultView): Status {
  const st = beginPdu(buf, off, len, out, PTYPE_FAULT, PTYPE_FAULT, AUTH_OPTIONAL);
  if (st !== OK) return st;
  const le = out.littleEndian;
  out.allocHint = rd32(buf, off + RESP_OFF_ALLOC_HINT, le);
  out.ctxId = rd16(buf, off + RESP_OFF_CTX_ID, le);
  out.cancelCount = buf[off + RESP_OFF_CANCEL_COUNT]! | 0;
  out.faultFlags = buf[off + RESP_OFF_CANCEL_COUNT + 1]! | 0;
  out.status = rd32(buf, off + FAULT_OFF_STATUS, le);
  const stubOff = off + FAULT_HDR_LEN;
  const end = stubEnd(out, stubOff);
  if (end < 0) return fail(out, MALFORMED, out.secTrailerOff + SEC_TRAILER_OFF_PAD_LEN, ERR_AUTH_PAD);
  out.stubOff = stubOff;
  out.stubLen = end - stubOff;
  return OK;
}

// ---------------------------------------------------------------------------------------------
// auth3, shutdown, co_cancel, orphaned
// ---------------------------------------------------------------------------------------------

/**
 * rpc_auth_3 (16), MS-RPCE 2.2.2.10: 16 four pad bytes (C706: u16 max_xmit, u16 max_recv) |
 * [auth pad][sec_trailer 8][auth_value]. The verifier is required.
 */
export function readAuth3(buf: Uint8Array, off: number, len: number, out: Auth3View): Status {
  const st = beginPdu(buf, off, len, out, PTYPE_AUTH3, PTYPE_AUTH3, AUTH_REQUIRED);
  if (st !== OK) return st;
  const hasPad = out.secTrailerOff >= off + AUTH3_HDR_LEN;
  out.maxXmitFrag = hasPad ? rd16(buf, off + DCERPC_HDR_LEN, out.littleEndian) : 0;
  out.maxRecvFrag = hasPad ? rd16(buf, off + DCERPC_HDR_LEN + 2, out.littleEndian) : 0;
  return OK;
}

/** shutdown (17): header only (plus an optional verifier, tolerated). */
export function readShutdown(buf: Uint8Array, off: number, len: number, out: HeaderOnlyView): Status {
  return beginPdu(buf, off, len, out, PTYPE_SHUTDOWN, PTYPE_SHUTDOWN, AUTH_OPTIONAL);
}

/** co_cancel (18): header plus optional auth verifier; call_id names the call to cancel. */
export function readCoCancel(buf: Uint8Array, off: number, len: number, out: HeaderOnlyView): Status {
  return beginPdu(buf, off, len, out, PTYPE_CO_CANCEL, PTYPE_CO_CANCEL, AUTH_OPTIONAL);
}

/** orphaned (19): header plus optional auth verifier; call_id names the abandoned call. */
export function readOrphaned(buf: Uint8Array, off: number, len: number, out: HeaderOnlyView): Status {
  return beginPdu(buf, off, len, out, PTYPE_ORPHANED, PTYPE_ORPHANED, AUTH_OPTIONAL);
}

// ---------------------------------------------------------------------------------------------
// RTS
// ---------------------------------------------------------------------------------------------

/** Total size of the RTS command at `pos` (type already read), or -1 if its body is malformed. */
function rtsCommandLen(buf: Uint8Array, pos: number, end: number, type: number, le: boolean): number {
  if (type === RTS_CMD_PADDING) {
    if (pos + RTS_PADDING_FIXED_LEN > end) return RTS_PADDING_FIXED_LEN;
    return RTS_PADDING_FIXED_LEN + rd32(buf, pos + 4, le);
  }
  if (type === RTS_CMD_CLIENT_ADDRESS) {
    if (pos + 8 > end) return RTS_CLIENT_ADDRESS_V4_LEN;
    const addrType = rd32(buf, pos + 4, le);
    if (addrType === RTS_CLIENT_ADDRESS_V4) return RTS_CLIENT_ADDRESS_V4_LEN;
    if (addrType === RTS_CLIENT_ADDRESS_V6) return RTS_CLIENT_ADDRESS_V6_LEN;
    return -1;
  }
  return RTS_CMD_SIZES[type]! | 0;
}

/**
 * RTS (20), MS-RPCH 2.2.3.6 (integers in drep order, always little-endian in practice):
 *   16 u16 Flags | 18 u16 NumberOfCommands | 20 commands: u32 CommandType, then a body whose
 *   size is fixed per type (notes F.2), Padding = 8 + count, ClientAddress = 24 (v4) / 36 (v6).
 * Never authenticated. Commands must fill the PDU exactly.
 */
export function readRts(buf: Uint8Array, off: number, len: number, out: RtsView): Status {
  const st = beginPdu(buf, off, len, out, PTYPE_RTS, PTYPE_RTS, AUTH_FORBIDDEN);
  if (st !== OK) return st;
  const le = out.littleEndian;
  out.flags = rd16(buf, off + RTS_OFF_FLAGS, le);
  out.numberOfCommands = 0;
  const n = rd16(buf, off + RTS_OFF_N_COMMANDS, le);
  if (n > MAX_RTS_COMMANDS) return fail(out, UNSUPPORTED, off + RTS_OFF_N_COMMANDS, ERR_RTS_TOO_MANY_COMMANDS);
  const end = off + out.fragLen;
  let pos = off + RTS_HDR_LEN;
  for (let i = 0; i < n; i++) {
    if (pos + 4 > end) return fail(out, MALFORMED, pos, ERR_RTS_COMMAND_OVERRUN);
    const type = rd32(buf, pos, le);
    if (type >= RTS_CMD_SIZES.length) return fail(out, MALFORMED, pos, ERR_RTS_UNKNOWN_COMMAND);
    const size = rtsCommandLen(buf, pos, end, type, le);
    if (size < 0) return fail(out, MALFORMED, pos + 4, ERR_RTS_BAD_ADDRESS_TYPE);
    if (pos + size > end) return fail(out, MALFORMED, pos, ERR_RTS_COMMAND_OVERRUN);
    out.commandType[i] = type;
    out.commandOff[i] = pos;
    out.commandLen[i] = size;
    pos += size;
  }
  if (pos !== end) return fail(out, MALFORMED, pos, ERR_RTS_TRAILING);
  out.numberOfCommands = n;
  return OK;
}

// ---------------------------------------------------------------------------------------------
// Dispatch
// ---------------------------------------------------------------------------------------------

function copyError(out: DecodeResult, from: DecodeResult, st: Status): Status {
  out.errOffset = from.errOffset;
  out.errReason = from.errReason;
  out.needed = from.needed;
  return st;
}

/**
 * Decodes whichever connection-oriented PDU starts at `off` into the matching sub-view of `out`
 * (out.ptype says which). Connectionless-only PTYPEs and values above 20 are UNSUPPORTED.
 */
export function readPdu(buf: Uint8Array, off: number, len: number, out: PduView): Status {
  const hst = readCoHeader(buf, off, len, out.header);
  if (hst !== OK) return copyError(out, out.header, hst);
  const ptype = out.header.ptype;
  out.ptype = ptype;
  let st: Status;
  let view: DecodeResult;
  switch (ptype) {
    case PTYPE_BIND:
    case PTYPE_ALTER_CONTEXT:
      st = readBind(buf, off, len, out.bind);
      view = out.bind;
      break;
    case PTYPE_BIND_ACK:
    case PTYPE_ALTER_CONTEXT_RESP:
      st = readBindAck(buf, off, len, out.bindAck);
      view = out.bindAck;
      break;
    case PTYPE_BIND_NAK:
      st = readBindNak(buf, off, len, out.bindNak);
      view = out.bindNak;
      break;
    case PTYPE_REQUEST:
      st = readRequest(buf, off, len, out.request);
      view = out.request;
      break;
    case PTYPE_RESPONSE:
      st = readResponse(buf, off, len, out.response);
      view = out.response;
      break;
    case PTYPE_FAULT:
      st = readFault(buf, off, len, out.fault);
      view = out.fault;
      break;
    case PTYPE_AUTH3:
      st = readAuth3(buf, off, len, out.auth3);
      view = out.auth3;
      break;
    case PTYPE_SHUTDOWN:
      st = readShutdown(buf, off, len, out.headerOnly);
      view = out.headerOnly;
      break;
    case PTYPE_CO_CANCEL:
      st = readCoCancel(buf, off, len, out.headerOnly);
      view = out.headerOnly;
      break;
    case PTYPE_ORPHANED:
      st = readOrphaned(buf, off, len, out.headerOnly);
      view = out.headerOnly;
      break;
    case PTYPE_RTS:
      st = readRts(buf, off, len, out.rts);
      view = out.rts;
      break;
    default:
      return fail(out, UNSUPPORTED, off + DCERPC_OFF_PTYPE, ERR_UNKNOWN_PTYPE);
  }
  if (st !== OK) return copyError(out, view, st);
  out.errOffset = 0;
  out.errReason = '';
  out.needed = 0;
  return OK;
}

/**
 * The one runtime class behind every connection-oriented decoder output: CoHeader and each PDU
 * view (BindView, RequestView, ... in pdu.ts) are TypeScript interfaces over a CoPdu.
 *
 * Why one class: readCoHeader, beginPdu and readAuthVerifier store ~25 fields into whichever view
 * they are handed. With a class per view, ten hidden classes reached those store sites and every
 * store was a megamorphic StoreIC (readCoHeader was the top self-time function of the churn
 * profile). A CoPdu always has the same fields in the same order, so every view has one hidden
 * class and those stores are monomorphic. The types stay distinct: a view's interface names only
 * its own fields, and `new BindView()` still works (pdu.ts's constructors return a CoPdu).
 *
 * Two names mean different things in different views: `ctxId` (a number in request, response and
 * fault; the per-element Uint16Array in bind) and `reason` (a number in bind_nak; the per-result
 * Uint16Array in bind_ack). Each instance holds what its kind needs there (the field is then a
 * tagged field: a small integer or an array). Arrays a kind does not use are shared empty ones,
 * so a header-only view costs a few hundred bytes, not the bind's ~10 KB.
 */
import { DecodeResult } from '../wire/status.js';
import { MAX_CONTEXTS, MAX_RTS_COMMANDS, MAX_TRANSFER_SYNTAXES } from './constants.js';

/** What a CoPdu is made for: which arrays it owns and what ctxId/reason hold. */
export const PDU_KIND_HEADER = 0;
export const PDU_KIND_BIND = 1;
export const PDU_KIND_BIND_ACK = 2;
export const PDU_KIND_BIND_NAK = 3;
export const PDU_KIND_REQUEST = 4;
export const PDU_KIND_RESPONSE = 5;
export const PDU_KIND_FAULT = 6;
export const PDU_KIND_AUTH3 = 7;
export const PDU_KIND_HEADER_ONLY = 8;
export const PDU_KIND_RTS = 9;

const NO_U8 = new Uint8Array(0);
const NO_U16 = new Uint16Array(0);
const NO_U32 = new Uint32Array(0);

/**
 * The union of every view's fields (their meaning is documented on the interfaces in header.ts
 * and pdu.ts). Number and boolean fields first, initialised inline; the arrays and the two
 * kind-dependent fields last, assigned in the constructor in one fixed order.
 */
export class CoPdu extends DecodeResult {
  // CoHeader
  rpcVers = 0;
  rpcVersMinor = 0;
  ptype = 0;
  pfcFlags = 0;
  drep0 = 0;
  littleEndian = true;
  fragLen = 0;
  authLen = 0;
  callId = 0;
  // PduBase
  pduOff = 0;
  hasAuth = false;
  authType = 0;
  authLevel = 0;
  authPadLen = 0;
  authReserved = 0;
  authContextId = 0;
  secTrailerOff = 0;
  authValueOff = 0;
  authValueLen = 0;
  // bind, alter_context; auth3 (maxXmitFrag, maxRecvFrag)
  maxXmitFrag = 0;
  maxRecvFrag = 0;
  assocGroup = 0;
  nContexts = 0;
  contextsEnd = 0;
  // bind_ack, alter_context_resp
  maxXmit = 0;
  maxRecv = 0;
  secAddrLen = 0;
  secAddrOff = 0;
  nResults = 0;
  // bind_nak
  nVersions = 0;
  versionsOff = 0;
  hasSignature = false;
  signatureOff = 0;
  signatureIsEeInfo = false;
  extraOff = 0;
  extraLen = 0;
  // request, response, fault
  allocHint = 0;
  opnum = 0;
  hasObject = false;
  objectUuidOff = 0;
  cancelCount = 0;
  faultFlags = 0;
  status = 0;
  stubOff = 0;
  stubLen = 0;
  // rts
  flags = 0;
  numberOfCommands = 0;
  // Kind-dependent (constructor).
  declare ctxId: number | Uint16Array;
  declare reason: number | Uint16Array;
  declare abstractUuidOff: Uint32Array;
  declare ifMajor: Uint16Array;
  declare ifMinor: Uint16Array;
  declare nTransfer: Uint8Array;
  declare transferUuidOff: Uint32Array;
  declare transferVersion: Uint32Array;
  declare transferSyntax: Uint8Array;
  declare result: Uint16Array;
  declare commandType: Uint32Array;
  declare commandOff: Uint32Array;
  declare commandLen: Uint32Array;

  constructor(kind: number = PDU_KIND_HEADER) {
    super();
    const bind = kind === PDU_KIND_BIND;
    const ack = kind === PDU_KIND_BIND_ACK;
    const rts = kind === PDU_KIND_RTS;
    const nTs = bind ? MAX_CONTEXTS * MAX_TRANSFER_SYNTAXES : ack ? MAX_CONTEXTS : 0;
    this.ctxId = bind ? new Uint16Array(MAX_CONTEXTS) : 0;
    this.reason = ack ? new Uint16Array(MAX_CONTEXTS) : 0;
    this.abstractUuidOff = bind ? new Uint32Array(MAX_CONTEXTS) : NO_U32;
    this.ifMajor = bind ? new Uint16Array(MAX_CONTEXTS) : NO_U16;
    this.ifMinor = bind ? new Uint16Array(MAX_CONTEXTS) : NO_U16;
    this.nTransfer = bind ? new Uint8Array(MAX_CONTEXTS) : NO_U8;
    this.transferUuidOff = nTs > 0 ? new Uint32Array(nTs) : NO_U32;
    this.transferVersion = nTs > 0 ? new Uint32Array(nTs) : NO_U32;
    this.transferSyntax = nTs > 0 ? new Uint8Array(nTs) : NO_U8;
    this.result = ack ? new Uint16Array(MAX_CONTEXTS) : NO_U16;
    this.commandType = rts ? new Uint32Array(MAX_RTS_COMMANDS) : NO_U32;
    this.commandOff = rts ? new Uint32Array(MAX_RTS_COMMANDS) : NO_U32;
    this.commandLen = rts ? new Uint32Array(MAX_RTS_COMMANDS) : NO_U32;
  }
}

/** A constructor `new X()` that returns a CoPdu of `kind`, typed as the view interface T. */
export function pduViewClass<T>(kind: number): new () => T {
  return function view(): CoPdu {
    return new CoPdu(kind);
  } as unknown as new () => T;
}

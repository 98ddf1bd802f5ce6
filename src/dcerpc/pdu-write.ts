/**
 * Connection-oriented PDU encoders, one per PTYPE. Not on the hot path (tests, sample captures,
 * the engine's synthetic faults and bind_naks), so they take option objects and may allocate.
 * Each writes a complete PDU at `off`, with frag_length and auth_length set, and returns the
 * bytes written. Integers go out in the requested drep byte order (little-endian by default).
 * They throw RangeError when the buffer is too small or the PDU would exceed 65535 bytes
 * (programming errors, not wire input).
 */
import {
  AUTH3_HDR_LEN, BIND_ACK_OFF_SEC_ADDR, BIND_OFF_CONTEXTS, BTFN_PREFIX, CONTEXT_ELEM_FIXED_LEN,
  DCERPC_HDR_LEN, FAULT_HDR_LEN, MAX_FRAG_LEN, PFC_FIRST_FRAG, PFC_LAST_FRAG, PFC_OBJECT_UUID,
  PTYPE_ALTER_CONTEXT, PTYPE_ALTER_CONTEXT_RESP, PTYPE_AUTH3, PTYPE_BIND, PTYPE_BIND_ACK, PTYPE_BIND_NAK,
  PTYPE_CO_CANCEL, PTYPE_FAULT, PTYPE_ORPHANED, PTYPE_REQUEST, PTYPE_RESPONSE, PTYPE_RTS, PTYPE_SHUTDOWN,
  REQ_HDR_LEN, REQ_HDR_LEN_OBJECT, RESP_HDR_LEN, RESULT_ELEM_LEN, RTS_CLIENT_ADDRESS_V4,
  RTS_CLIENT_ADDRESS_V4_LEN, RTS_CLIENT_ADDRESS_V6, RTS_CLIENT_ADDRESS_V6_LEN, RTS_CMD_ASSOCIATION_GROUP_ID,
  RTS_CMD_CLIENT_ADDRESS, RTS_CMD_COOKIE, RTS_CMD_FLOW_CONTROL_ACK, RTS_CMD_PADDING, RTS_CMD_SIZES,
  RTS_HDR_LEN, RTS_PADDING_FIXED_LEN, SEC_TRAILER_LEN, SYNTAX_ID_LEN, UUID_BIND_NAK_EEINFO_SIGNATURE,
} from './constants.js';
import { writeCoHeader } from './header.js';
import { align, wr16, wr32 } from './ndr.js';
import { copyUuid, parseUuid } from './uuid.js';

/** A UUID as text ("8a885d04-1ceb-...") or as 16 bytes in little-endian wire form (e.g. UUID_NDR). */
export type UuidLike = string | Uint8Array;

/** A transfer syntax; version is the u32 if_version (major | minor << 16), e.g. NDR = 2. */
export interface SyntaxId {
  uuid: UuidLike;
  version: number;
}

/** An abstract syntax (interface) and its version. */
export interface InterfaceId {
  uuid: UuidLike;
  major: number;
  minor: number;
}

export interface AuthOptions {
  /** auth_type (AUTH_TYPE_*). */
  type: number;
  /** auth_level (AUTH_LEVEL_*). */
  level: number;
  /** auth_pad_length; default: request/response/fault pad the stub to 16, others the body to 4. */
  padLen?: number;
  contextId?: number;
  reserved?: number;
  /** auth value (token or signature); its length becomes auth_length. Must not be empty. */
  value: Uint8Array;
}

export interface ContextElemOptions {
  ctxId: number;
  abstract: InterfaceId;
  transfer: SyntaxId[];
}

export interface BindOptions {
  callId: number;
  contexts: ContextElemOptions[];
  /** Default 4280 (impacket / Windows). */
  maxXmit?: number;
  maxRecv?: number;
  assocGroup?: number;
  auth?: AuthOptions;
  littleEndian?: boolean;
  /** Default FIRST|LAST. */
  pfcFlags?: number;
}

export interface BindResultOptions {
  /** RESULT_*. */
  result: number;
  reason?: number;
  /** Default: nil UUID, version 0 (what servers return for rejections). */
  transfer?: SyntaxId;
}

export interface BindAckOptions {
  callId: number;
  results: BindResultOptions[];
  /** Port string without NUL ("135"); the NUL is added. '' (default) gives sec_addr.length 0. */
  secAddr?: string;
  maxXmit?: number;
  maxRecv?: number;
  assocGroup?: number;
  auth?: AuthOptions;
  littleEndian?: boolean;
  pfcFlags?: number;
}

export interface BindNakOptions {
  callId: number;
  /** provider_reject_reason (NAK_REASON_*). */
  reason: number;
  /** Default [{ major: 5, minor: 0 }]. */
  versions?: { major: number; minor: number }[];
  /** true: the extended-error Signature; a UUID: that Signature; absent/false: none. */
  signature?: boolean | UuidLike;
  /** Bytes after the Signature (extended error information). */
  extra?: Uint8Array;
  littleEndian?: boolean;
  pfcFlags?: number;
}

export interface RequestOptions {
  callId: number;
  ctxId: number;
  opnum: number;
  stub: Uint8Array;
  /** Adds the object UUID and sets PFC_OBJECT_UUID. */
  object?: UuidLike;
  /** Default FIRST|LAST (PFC_OBJECT_UUID is added when `object` is given). */
  pfcFlags?: number;
  /** Default stub.length. */
  allocHint?: number;
  auth?: AuthOptions;
  littleEndian?: boolean;
}

export interface ResponseOptions {
  callId: number;
  ctxId: number;
  stub: Uint8Array;
  cancelCount?: number;
  pfcFlags?: number;
  allocHint?: number;
  auth?: AuthOptions;
  littleEndian?: boolean;
}

export interface FaultOptions {
  callId: number;
  /** NCA status (NCA_S_*) or Win32 error. */
  status: number;
  ctxId?: number;
  cancelCount?: number;
  /** The reserved byte at 23 (bit 0: extended error present). */
  faultFlags?: number;
  stub?: Uint8Array;
  /** Default FIRST|LAST; add PFC_DID_NOT_EXECUTE for a call refused before it ran. */
  pfcFlags?: number;
  /** Default stub length. */
  allocHint?: number;
  auth?: AuthOptions;
  littleEndian?: boolean;
}

export interface Auth3Options {
  callId: number;
  auth: AuthOptions;
  /** The 4 pad bytes after the header (C706 max_xmit/max_recv); default 0. */
  maxXmit?: number;
  maxRecv?: number;
  pfcFlags?: number;
  littleEndian?: boolean;
}

export interface HeaderOnlyOptions {
  callId: number;
  auth?: AuthOptions;
  pfcFlags?: number;
  littleEndian?: boolean;
}

/**
 * One RTS command. Fields used per type: value (ReceiveWindowSize, ConnectionTimeout,
 * ChannelLifetime, ClientKeepalive, Version, Destination, PingTrafficSentNotify);
 * cookie (Cookie, AssociationGroupId; FlowControlAck's ChannelCookie) with bytesReceived and
 * availableWindow (FlowControlAck); padding = byte count (Padding); address = 4 or 16 bytes
 * (ClientAddress). Empty, ANCE and NegativeANCE have no body.
 */
export interface RtsCommand {
  type: number;
  value?: number;
  cookie?: Uint8Array;
  bytesReceived?: number;
  availableWindow?: number;
  padding?: number;
  address?: Uint8Array;
}

export interface RtsOptions {
  /** RTS_FLAG_* (default 0). */
  flags?: number;
  commands: RtsCommand[];
  /** Default 0 (MS-RPCH: RTS PDUs carry call_id 0). */
  callId?: number;
  /** Default FIRST|LAST. */
  pfcFlags?: number;
  littleEndian?: boolean;
}

const FIRST_LAST = PFC_FIRST_FRAG | PFC_LAST_FRAG;
const DEFAULT_MAX_FRAG = 4280;
const NIL_UUID = new Uint8Array(16);

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

function putUuid(buf: Uint8Array, off: number, uuid: UuidLike, le: boolean): void {
  if (typeof uuid === 'string') {
    if (!parseUuid(uuid, buf, off, le)) throw new RangeError(`not a UUID: ${uuid}`);
    return;
  }
  if (uuid.length !== 16) throw new RangeError('a UUID must be 16 bytes');
  copyUuid(uuid, 0, true, buf, off, le);
}

function checkRoom(buf: Uint8Array, off: number, total: number): void {
  if (total > MAX_FRAG_LEN) throw new RangeError(`PDU of ${total} bytes exceeds frag_length maximum`);
  if (off < 0 || off + total > buf.length) throw new RangeError(`PDU of ${total} bytes does not fit at ${off}`);
}

/** auth_pad_length: explicit, or what pads `bodyRel` bytes (counted from the alignment base) to `n`. */
function authPad(auth: AuthOptions | undefined, bodyRel: number, n: number): number {
  if (auth === undefined) return 0;
  if (auth.value.length === 0) throw new RangeError('auth value must not be empty');
  if (auth.padLen !== undefined) return auth.padLen;
  return align(bodyRel, 0, n) - bodyRel;
}

function authSize(auth: AuthOptions | undefined, padLen: number): number {
  return auth === undefined ? 0 : padLen + SEC_TRAILER_LEN + auth.value.length;
}

/** Zero pad, sec_trailer, auth value at `pos`; returns the position after them. */
function putAuth(buf: Uint8Array, pos: number, auth: AuthOptions | undefined, padLen: number, le: boolean): number {
  if (auth === undefined) return pos;
  buf.fill(0, pos, pos + padLen);
  let p = pos + padLen;
  buf[p] = auth.type;
  buf[p + 1] = auth.level;
  buf[p + 2] = padLen;
  buf[p + 3] = auth.reserved ?? 0;
  wr32(buf, p + 4, auth.contextId ?? 0, le);
  p += SEC_TRAILER_LEN;
  buf.set(auth.value, p);
  return p + auth.value.length;
}

function authLenOf(auth: AuthOptions | undefined): number {
  return auth === undefined ? 0 : auth.value.length;
}

/**
 * Runs an encoder into a scratch buffer and returns exactly the bytes it wrote
 * (e.g. `encode(writeBind, { callId: 1, contexts })`).
 */
export function encode<T>(write: (buf: Uint8Array, off: number, opts: T) => number, opts: T): Uint8Array {
  const scratch = new Uint8Array(MAX_FRAG_LEN);
  const n = write(scratch, 0, opts);
  return scratch.slice(0, n);
}

// ---------------------------------------------------------------------------------------------
// bind / alter_context
// ---------------------------------------------------------------------------------------------

function writeBindLike(buf: Uint8Array, off: number, o: BindOptions, ptype: number): number {
  const le = o.littleEndian ?? true;
  let bodyLen = BIND_OFF_CONTEXTS;
  for (const c of o.contexts) bodyLen += CONTEXT_ELEM_FIXED_LEN + SYNTAX_ID_LEN * c.transfer.length;
  const padLen = authPad(o.auth, bodyLen, 4);
  const total = bodyLen + authSize(o.auth, padLen);
  checkRoom(buf, off, total);
  writeCoHeader(buf, off, ptype, o.pfcFlags ?? FIRST_LAST, total, authLenOf(o.auth), o.callId, le);
  wr16(buf, off + 16, o.maxXmit ?? DEFAULT_MAX_FRAG, le);
  wr16(buf, off + 18, o.maxRecv ?? DEFAULT_MAX_FRAG, le);
  wr32(buf, off + 20, o.assocGroup ?? 0, le);
  buf[off + 24] = o.contexts.length;
  buf[off + 25] = 0;
  wr16(buf, off + 26, 0, le);
  let pos = off + BIND_OFF_CONTEXTS;
  for (const c of o.contexts) {
    wr16(buf, pos, c.ctxId, le);
    buf[pos + 2] = c.transfer.length;
    buf[pos + 3] = 0;
    putUuid(buf, pos + 4, c.abstract.uuid, le);
    wr32(buf, pos + 20, ((c.abstract.major & 0xffff) | ((c.abstract.minor & 0xffff) << 16)) >>> 0, le);
    pos += CONTEXT_ELEM_FIXED_LEN;
    for (const t of c.transfer) {
      putUuid(buf, pos, t.uuid, le);
      wr32(buf, pos + 16, t.version, le);
      pos += SYNTAX_ID_LEN;
    }
  }
  return putAuth(buf, pos, o.auth, padLen, le) - off;
}

/** bind (11). */
export function writeBind(buf: Uint8Array, off: number, o: BindOptions): number {
  return writeBindLike(buf, off, o, PTYPE_BIND);
}

/** alter_context (14): the bind layout. */
export function writeAlterContext(buf: Uint8Array, off: number, o: BindOptions): number {
  return writeBindLike(buf, off, o, PTYPE_ALTER_CONTEXT);
}

// ---------------------------------------------------------------------------------------------
// bind_ack / alter_context_resp
// ---------------------------------------------------------------------------------------------

function writeBindAckLike(buf: Uint8Array, off: number, o: BindAckOptions, ptype: number): number {
  const le = o.littleEndian ?? true;
  const secAddr = o.secAddr ?? '';
  const secAddrLen = secAddr.length === 0 ? 0 : secAddr.length + 1;
  const resultsOff = align(BIND_ACK_OFF_SEC_ADDR + secAddrLen, 0, 4);
  const bodyLen = resultsOff + 4 + RESULT_ELEM_LEN * o.results.length;
  const padLen = authPad(o.auth, bodyLen, 4);
  const total = bodyLen + authSize(o.auth, padLen);
  checkRoom(buf, off, total);
  writeCoHeader(buf, off, ptype, o.pfcFlags ?? FIRST_LAST, total, authLenOf(o.auth), o.callId, le);
  wr16(buf, off + 16, o.maxXmit ?? DEFAULT_MAX_FRAG, le);
  wr16(buf, off + 18, o.maxRecv ?? DEFAULT_MAX_FRAG, le);
  wr32(buf, off + 20, o.assocGroup ?? 0, le);
  wr16(buf, off + 24, secAddrLen, le);
  for (let i = 0; i < secAddr.length; i++) buf[off + BIND_ACK_OFF_SEC_ADDR + i] = secAddr.charCodeAt(i) & 0xff;
  // NUL terminator and alignment pad (zeros).
  buf.fill(0, off + BIND_ACK_OFF_SEC_ADDR + secAddr.length, off + resultsOff);
  let pos = off + resultsOff;
  buf[pos] = o.results.length;
  buf[pos + 1] = 0;
  wr16(buf, pos + 2, 0, le);
  pos += 4;
  for (const r of o.results) {
    wr16(buf, pos, r.result, le);
    wr16(buf, pos + 2, r.reason ?? 0, le);
    putUuid(buf, pos + 4, r.transfer?.uuid ?? NIL_UUID, le);
    wr32(buf, pos + 20, r.transfer?.version ?? 0, le);
    pos += RESULT_ELEM_LEN;
  }
  return putAuth(buf, pos, o.auth, padLen, le) - off;
}

/** bind_ack (12). */
export function writeBindAck(buf: Uint8Array, off: number, o: BindAckOptions): number {
  return writeBindAckLike(buf, off, o, PTYPE_BIND_ACK);
}

/** alter_context_resp (15): the bind_ack layout. */
export function writeAlterContextResp(buf: Uint8Array, off: number, o: BindAckOptions): number {
  return writeBindAckLike(buf, off, o, PTYPE_ALTER_CONTEXT_RESP);
}

// ---------------------------------------------------------------------------------------------
// bind_nak
// ---------------------------------------------------------------------------------------------

/** bind_nak (13): reason, version list, optional Signature and extended error bytes. */
export function writeBindNak(buf: Uint8Array, off: number, o: BindNakOptions): number {
  const le = o.littleEndian ?? true;
  const versions = o.versions ?? [{ major: 5, minor: 0 }];
  const sig = o.signature === true ? UUID_BIND_NAK_EEINFO_SIGNATURE : o.signature === false ? undefined : o.signature;
  const extra = o.extra ?? new Uint8Array(0);
  const total = DCERPC_HDR_LEN + 2 + 1 + 2 * versions.length + (sig === undefined ? 0 : 16 + extra.length);
  checkRoom(buf, off, total);
  writeCoHeader(buf, off, PTYPE_BIND_NAK, o.pfcFlags ?? FIRST_LAST, total, 0, o.callId, le);
  wr16(buf, off + 16, o.reason, le);
  buf[off + 18] = versions.length;
  let pos = off + 19;
  for (const v of versions) {
    buf[pos] = v.major;
    buf[pos + 1] = v.minor;
    pos += 2;
  }
  if (sig !== undefined) {
    putUuid(buf, pos, sig, le);
    buf.set(extra, pos + 16);
    pos += 16 + extra.length;
  }
  return pos - off;
}

// ---------------------------------------------------------------------------------------------
// request / response / fault
// ---------------------------------------------------------------------------------------------

/** request (0). Default auth pad: stub padded to 16 bytes from the stub start (as Windows does). */
export function writeRequest(buf: Uint8Array, off: number, o: RequestOptions): number {
  const le = o.littleEndian ?? true;
  const flags = (o.pfcFlags ?? FIRST_LAST) | (o.object !== undefined ? PFC_OBJECT_UUID : 0);
  const hdr = (flags & PFC_OBJECT_UUID) !== 0 ? REQ_HDR_LEN_OBJECT : REQ_HDR_LEN;
  const padLen = authPad(o.auth, o.stub.length, 16);
  const total = hdr + o.stub.length + authSize(o.auth, padLen);
  checkRoom(buf, off, total);
  writeCoHeader(buf, off, PTYPE_REQUEST, flags, total, authLenOf(o.auth), o.callId, le);
  wr32(buf, off + 16, o.allocHint ?? o.stub.length, le);
  wr16(buf, off + 20, o.ctxId, le);
  wr16(buf, off + 22, o.opnum, le);
  if (hdr === REQ_HDR_LEN_OBJECT) putUuid(buf, off + REQ_HDR_LEN, o.object ?? NIL_UUID, le);
  buf.set(o.stub, off + hdr);
  return putAuth(buf, off + hdr + o.stub.length, o.auth, padLen, le) - off;
}

/** response (2). */
export function writeResponse(buf: Uint8Array, off: number, o: ResponseOptions): number {
  const le = o.littleEndian ?? true;
  const padLen = authPad(o.auth, o.stub.length, 16);
  const total = RESP_HDR_LEN + o.stub.length + authSize(o.auth, padLen);
  checkRoom(buf, off, total);
  writeCoHeader(buf, off, PTYPE_RESPONSE, o.pfcFlags ?? FIRST_LAST, total, authLenOf(o.auth), o.callId, le);
  wr32(buf, off + 16, o.allocHint ?? o.stub.length, le);
  wr16(buf, off + 20, o.ctxId, le);
  buf[off + 22] = o.cancelCount ?? 0;
  buf[off + 23] = 0;
  buf.set(o.stub, off + RESP_HDR_LEN);
  return putAuth(buf, off + RESP_HDR_LEN + o.stub.length, o.auth, padLen, le) - off;
}

/** fault (3). */
export function writeFault(buf: Uint8Array, off: number, o: FaultOptions): number {
  const le = o.littleEndian ?? true;
  const stub = o.stub ?? new Uint8Array(0);
  const padLen = authPad(o.auth, stub.length, 16);
  const total = FAULT_HDR_LEN + stub.length + authSize(o.auth, padLen);
  checkRoom(buf, off, total);
  writeCoHeader(buf, off, PTYPE_FAULT, o.pfcFlags ?? FIRST_LAST, total, authLenOf(o.auth), o.callId, le);
  wr32(buf, off + 16, o.allocHint ?? stub.length, le);
  wr16(buf, off + 20, o.ctxId ?? 0, le);
  buf[off + 22] = o.cancelCount ?? 0;
  buf[off + 23] = o.faultFlags ?? 0;
  wr32(buf, off + 24, o.status, le);
  wr32(buf, off + 28, 0, le);
  buf.set(stub, off + FAULT_HDR_LEN);
  return putAuth(buf, off + FAULT_HDR_LEN + stub.length, o.auth, padLen, le) - off;
}

// ---------------------------------------------------------------------------------------------
// auth3, shutdown, co_cancel, orphaned
// ---------------------------------------------------------------------------------------------

/** rpc_auth_3 (16): 4 pad bytes then the verifier. */
export function writeAuth3(buf: Uint8Array, off: number, o: Auth3Options): number {
  const le = o.littleEndian ?? true;
  const padLen = authPad(o.auth, AUTH3_HDR_LEN, 4);
  const total = AUTH3_HDR_LEN + authSize(o.auth, padLen);
  checkRoom(buf, off, total);
  writeCoHeader(buf, off, PTYPE_AUTH3, o.pfcFlags ?? FIRST_LAST, total, authLenOf(o.auth), o.callId, le);
  wr16(buf, off + 16, o.maxXmit ?? 0, le);
  wr16(buf, off + 18, o.maxRecv ?? 0, le);
  return putAuth(buf, off + AUTH3_HDR_LEN, o.auth, padLen, le) - off;
}

function writeHeaderOnly(buf: Uint8Array, off: number, o: HeaderOnlyOptions, ptype: number): number {
  const le = o.littleEndian ?? true;
  const padLen = authPad(o.auth, DCERPC_HDR_LEN, 4);
  const total = DCERPC_HDR_LEN + authSize(o.auth, padLen);
  checkRoom(buf, off, total);
  writeCoHeader(buf, off, ptype, o.pfcFlags ?? FIRST_LAST, total, authLenOf(o.auth), o.callId, le);
  return putAuth(buf, off + DCERPC_HDR_LEN, o.auth, padLen, le) - off;
}

/** shutdown (17). */
export function writeShutdown(buf: Uint8Array, off: number, o: HeaderOnlyOptions): number {
  return writeHeaderOnly(buf, off, o, PTYPE_SHUTDOWN);
}

/** co_cancel (18). */
export function writeCoCancel(buf: Uint8Array, off: number, o: HeaderOnlyOptions): number {
  return writeHeaderOnly(buf, off, o, PTYPE_CO_CANCEL);
}

/** orphaned (19). */
export function writeOrphaned(buf: Uint8Array, off: number, o: HeaderOnlyOptions): number {
  return writeHeaderOnly(buf, off, o, PTYPE_ORPHANED);
}

// ---------------------------------------------------------------------------------------------
// RTS
// ---------------------------------------------------------------------------------------------

function rtsCommandSize(c: RtsCommand): number {
  if (c.type === RTS_CMD_PADDING) return RTS_PADDING_FIXED_LEN + (c.padding ?? 0);
  if (c.type === RTS_CMD_CLIENT_ADDRESS) {
    return c.address?.length === 16 ? RTS_CLIENT_ADDRESS_V6_LEN : RTS_CLIENT_ADDRESS_V4_LEN;
  }
  const size = RTS_CMD_SIZES[c.type];
  if (size === undefined || size === 0) throw new RangeError(`unknown RTS command ${c.type}`);
  return size;
}

function putCookie(buf: Uint8Array, pos: number, cookie: Uint8Array | undefined): void {
  if (cookie !== undefined && cookie.length !== 16) throw new RangeError('an RTS cookie must be 16 bytes');
  buf.set(cookie ?? NIL_UUID, pos);
}

/** One RTS command at `pos`; returns its size. */
function putRtsCommand(buf: Uint8Array, pos: number, c: RtsCommand, le: boolean): number {
  const size = rtsCommandSize(c);
  wr32(buf, pos, c.type, le);
  buf.fill(0, pos + 4, pos + size);
  switch (c.type) {
    case RTS_CMD_FLOW_CONTROL_ACK:
      wr32(buf, pos + 4, c.bytesReceived ?? 0, le);
      wr32(buf, pos + 8, c.availableWindow ?? 0, le);
      putCookie(buf, pos + 12, c.cookie);
      break;
    case RTS_CMD_COOKIE:
    case RTS_CMD_ASSOCIATION_GROUP_ID:
      putCookie(buf, pos + 4, c.cookie);
      break;
    case RTS_CMD_PADDING:
      wr32(buf, pos + 4, c.padding ?? 0, le);
      break;
    case RTS_CMD_CLIENT_ADDRESS: {
      const addr = c.address ?? new Uint8Array(4);
      if (addr.length !== 4 && addr.length !== 16) throw new RangeError('an RTS client address is 4 or 16 bytes');
      wr32(buf, pos + 4, addr.length === 16 ? RTS_CLIENT_ADDRESS_V6 : RTS_CLIENT_ADDRESS_V4, le);
      buf.set(addr, pos + 8);
      break;
    }
    default:
      if (size === 8) wr32(buf, pos + 4, c.value ?? 0, le);
  }
  return size;
}

/** RTS (20): Flags, NumberOfCommands, commands. */
export function writeRts(buf: Uint8Array, off: number, o: RtsOptions): number {
  const le = o.littleEndian ?? true;
  let total = RTS_HDR_LEN;
  for (const c of o.commands) total += rtsCommandSize(c);
  checkRoom(buf, off, total);
  writeCoHeader(buf, off, PTYPE_RTS, o.pfcFlags ?? FIRST_LAST, total, 0, o.callId ?? 0, le);
  wr16(buf, off + 16, o.flags ?? 0, le);
  wr16(buf, off + 18, o.commands.length, le);
  let pos = off + RTS_HDR_LEN;
  for (const c of o.commands) pos += putRtsCommand(buf, pos, c, le);
  return pos - off;
}

/** Wire bytes (LE) of a BTFN transfer syntax with the given feature bitmask (MS-RPCE 2.2.2.14). */
export function btfnUuid(bitmask: number): Uint8Array {
  const u = new Uint8Array(16);
  u.set(BTFN_PREFIX, 0);
  u[8] = bitmask & 0xff;
  u[9] = (bitmask >>> 8) & 0xff;
  return u;
}

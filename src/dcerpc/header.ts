/**
 * The 16-byte common header of every connection-oriented PDU (C706 12.6.1, notes A.1).
 */
import { MALFORMED, OK, fail, needMore } from '../wire/status.js';
import type { DecodeResult, Status } from '../wire/status.js';
import { PDU_KIND_HEADER, pduViewClass } from './co-pdu.js';
import {
  DCERPC_HDR_LEN, DCERPC_OFF_AUTH_LEN, DCERPC_OFF_CALL_ID, DCERPC_OFF_DREP, DCERPC_OFF_FRAG_LEN,
  DCERPC_OFF_PFC_FLAGS, DCERPC_OFF_PTYPE, DCERPC_OFF_RPC_VERS, DCERPC_OFF_RPC_VERS_MINOR,
  DREP_LITTLE_ENDIAN, PFC_OBJECT_UUID, PTYPE_ALTER_CONTEXT, PTYPE_ALTER_CONTEXT_RESP, PTYPE_AUTH3,
  PTYPE_BIND, PTYPE_BIND_ACK, PTYPE_BIND_NAK, PTYPE_FAULT, PTYPE_REQUEST, PTYPE_RESPONSE, PTYPE_RTS, RPC_VERS,
  RPC_VERS_MINOR_MAX, SEC_TRAILER_LEN, REQ_HDR_LEN, REQ_HDR_LEN_OBJECT, RESP_HDR_LEN, FAULT_HDR_LEN,
  BIND_FIXED_LEN, RTS_HDR_LEN,
} from './constants.js';
import { rd16, rd32, wr16, wr32 } from './ndr.js';
import {
  ERR_AUTH_LEN, ERR_BAD_DREP, ERR_BAD_RPC_VERS, ERR_BAD_RPC_VERS_MINOR, ERR_FRAG_LEN_SHORT, ERR_SHORT_HEADER,
} from './reasons.js';

/**
 * Decoded common header. Every PDU view has these fields, so readCoHeader can fill a view
 * directly; at run time a CoHeader and every view are one class, CoPdu (co-pdu.ts says why).
 */
export interface CoHeader extends DecodeResult {
  rpcVers: number;
  rpcVersMinor: number;
  ptype: number;
  pfcFlags: number;
  /** packed_drep byte 0 (0x10 = little-endian integers, ASCII). */
  drep0: number;
  /** Byte order of every integer after the drep, from drep0's high nibble. */
  littleEndian: boolean;
  fragLen: number;
  /** Length of the auth value only (the 8-byte sec_trailer comes on top). */
  authLen: number;
  callId: number;
}
export const CoHeader = pduViewClass<CoHeader>(PDU_KIND_HEADER);

/** Smallest fixed header of a bind_ack: up to sec_addr.length, empty sec_addr, pad, n_results. */
const BIND_ACK_MIN_LEN = 32;
/** bind_nak: provider_reject_reason; the version list may be absent. */
const BIND_NAK_MIN_LEN = 18;

/**
 * Bytes a PTYPE's header occupies before the body/stub: the smallest valid frag_length of that
 * PTYPE without auth, and what must fit before auth_length + 8. Lower bounds only: variable parts are checked by the PTYPE's own decoder. auth3's 4 pad
 * bytes are not counted, so an auth3 that omits them is still framed.
 */
export function headerSizeForPtype(ptype: number, pfcFlags: number): number {
  switch (ptype) {
    case PTYPE_REQUEST:
      return (pfcFlags & PFC_OBJECT_UUID) !== 0 ? REQ_HDR_LEN_OBJECT : REQ_HDR_LEN;
    case PTYPE_RESPONSE:
      return RESP_HDR_LEN;
    case PTYPE_FAULT:
      return FAULT_HDR_LEN;
    case PTYPE_BIND:
    case PTYPE_ALTER_CONTEXT:
      return BIND_FIXED_LEN;
    case PTYPE_BIND_ACK:
    case PTYPE_ALTER_CONTEXT_RESP:
      return BIND_ACK_MIN_LEN;
    case PTYPE_BIND_NAK:
      return BIND_NAK_MIN_LEN;
    case PTYPE_RTS:
      return RTS_HDR_LEN;
    case PTYPE_AUTH3:
    default:
      return DCERPC_HDR_LEN;
  }
}

/**
 * Common header, 16 bytes; fields after the drep in drep byte order:
 *   0 u8 rpc_vers (5) | 1 u8 rpc_vers_minor (0/1) | 2 u8 PTYPE | 3 u8 pfc_flags
 *   4 u8[4] packed_drep | 8 u16 frag_length | 10 u16 auth_length | 12 u32 call_id
 * Checks: version 5.0/5.1, drep integer nibble 0/1, frag_length >= 16, and when auth_length > 0
 * that auth_length + 8 fits after the PTYPE's header. Does not require frag_length bytes.
 */
export function readCoHeader(buf: Uint8Array, off: number, len: number, out: CoHeader): Status {
  if (len < DCERPC_HDR_LEN) return needMore(out, off + Math.max(0, len), DCERPC_HDR_LEN, ERR_SHORT_HEADER);
  const rpcVers = buf[off + DCERPC_OFF_RPC_VERS]! | 0;
  if (rpcVers !== RPC_VERS) return fail(out, MALFORMED, off + DCERPC_OFF_RPC_VERS, ERR_BAD_RPC_VERS);
  const minor = buf[off + DCERPC_OFF_RPC_VERS_MINOR]! | 0;
  if (minor > RPC_VERS_MINOR_MAX) return fail(out, MALFORMED, off + DCERPC_OFF_RPC_VERS_MINOR, ERR_BAD_RPC_VERS_MINOR);
  const drep0 = buf[off + DCERPC_OFF_DREP]! | 0;
  if (drep0 >>> 4 > 1) return fail(out, MALFORMED, off + DCERPC_OFF_DREP, ERR_BAD_DREP);
  const le = (drep0 & 0xf0) === DREP_LITTLE_ENDIAN;
  const fragLen = rd16(buf, off + DCERPC_OFF_FRAG_LEN, le);
  if (fragLen < DCERPC_HDR_LEN) return fail(out, MALFORMED, off + DCERPC_OFF_FRAG_LEN, ERR_FRAG_LEN_SHORT);
  const ptype = buf[off + DCERPC_OFF_PTYPE]! | 0;
  const pfcFlags = buf[off + DCERPC_OFF_PFC_FLAGS]! | 0;
  const authLen = rd16(buf, off + DCERPC_OFF_AUTH_LEN, le);
  if (authLen > 0 && authLen + SEC_TRAILER_LEN > fragLen - headerSizeForPtype(ptype, pfcFlags)) {
    return fail(out, MALFORMED, off + DCERPC_OFF_AUTH_LEN, ERR_AUTH_LEN);
  }
  out.rpcVers = rpcVers;
  out.rpcVersMinor = minor;
  out.ptype = ptype;
  out.pfcFlags = pfcFlags;
  out.drep0 = drep0;
  out.littleEndian = le;
  out.fragLen = fragLen;
  out.authLen = authLen;
  out.callId = rd32(buf, off + DCERPC_OFF_CALL_ID, le);
  out.errOffset = 0;
  out.errReason = '';
  out.needed = 0;
  return OK;
}

/** Writes a 5.0 common header with drep 10 00 00 00 (or 00 00 00 00 for big-endian); returns 16. */
export function writeCoHeader(
  buf: Uint8Array, off: number, ptype: number, pfcFlags: number, fragLen: number, authLen: number,
  callId: number, littleEndian = true,
): number {
  buf[off + DCERPC_OFF_RPC_VERS] = RPC_VERS;
  buf[off + DCERPC_OFF_RPC_VERS_MINOR] = 0;
  buf[off + DCERPC_OFF_PTYPE] = ptype;
  buf[off + DCERPC_OFF_PFC_FLAGS] = pfcFlags;
  buf[off + DCERPC_OFF_DREP] = littleEndian ? DREP_LITTLE_ENDIAN : 0;
  buf[off + DCERPC_OFF_DREP + 1] = 0;
  buf[off + DCERPC_OFF_DREP + 2] = 0;
  buf[off + DCERPC_OFF_DREP + 3] = 0;
  wr16(buf, off + DCERPC_OFF_FRAG_LEN, fragLen, littleEndian);
  wr16(buf, off + DCERPC_OFF_AUTH_LEN, authLen, littleEndian);
  wr32(buf, off + DCERPC_OFF_CALL_ID, callId, littleEndian);
  return DCERPC_HDR_LEN;
}

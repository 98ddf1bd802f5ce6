/**
 * PDU boundaries in one direction of a TCP byte stream (notes A.1 "Framing rule"): read 10 bytes,
 * decode frag_length in the drep byte order, wait until frag_length bytes are present.
 */
import { DecodeResult, MALFORMED, OK, fail, needMore } from '../wire/status.js';
import type { Status } from '../wire/status.js';
import {
  DCERPC_FRAME_PEEK_LEN, DCERPC_HDR_LEN, DCERPC_OFF_DREP, DCERPC_OFF_FRAG_LEN, DCERPC_OFF_PTYPE,
  DCERPC_OFF_RPC_VERS, DCERPC_OFF_RPC_VERS_MINOR, DREP_LITTLE_ENDIAN, MAX_FRAG_LEN, RPC_VERS, RPC_VERS_MINOR_MAX,
} from './constants.js';
import { rd16 } from './ndr.js';
import {
  ERR_BAD_DREP, ERR_BAD_RPC_VERS, ERR_BAD_RPC_VERS_MINOR, ERR_FRAG_LEN_LONG, ERR_FRAG_LEN_SHORT,
  ERR_PDU_INCOMPLETE, ERR_SHORT_PEEK,
} from './reasons.js';

export { MAX_FRAG_LEN } from './constants.js';

export class FrameInfo extends DecodeResult {
  /** frag_length: bytes of this PDU starting at `off`. */
  pduLen = 0;
  ptype = 0;
  littleEndian = true;
}

/**
 * Finds the PDU starting at `off`: 0 u8 rpc_vers | 1 u8 minor | 2 u8 PTYPE | 3 flags |
 * 4 drep[4] | 8 u16 frag_length (drep order). Bytes already present are checked as soon as they
 * arrive (a stream that does not start with 5 is rejected at once). OK when all pduLen bytes
 * are present, else NEED_MORE with `needed` = 10 or pduLen.
 */
export function framePdu(buf: Uint8Array, off: number, len: number, out: FrameInfo, maxFragLen = MAX_FRAG_LEN): Status {
  if (len > DCERPC_OFF_RPC_VERS && buf[off + DCERPC_OFF_RPC_VERS] !== RPC_VERS) {
    return fail(out, MALFORMED, off + DCERPC_OFF_RPC_VERS, ERR_BAD_RPC_VERS);
  }
  if (len > DCERPC_OFF_RPC_VERS_MINOR && (buf[off + DCERPC_OFF_RPC_VERS_MINOR]! | 0) > RPC_VERS_MINOR_MAX) {
    return fail(out, MALFORMED, off + DCERPC_OFF_RPC_VERS_MINOR, ERR_BAD_RPC_VERS_MINOR);
  }
  if (len > DCERPC_OFF_DREP && (buf[off + DCERPC_OFF_DREP]! | 0) >>> 4 > 1) {
    return fail(out, MALFORMED, off + DCERPC_OFF_DREP, ERR_BAD_DREP);
  }
  if (len < DCERPC_FRAME_PEEK_LEN) {
    return needMore(out, off + Math.max(0, len), DCERPC_FRAME_PEEK_LEN, ERR_SHORT_PEEK);
  }
  const le = ((buf[off + DCERPC_OFF_DREP]! | 0) & 0xf0) === DREP_LITTLE_ENDIAN;
  const fragLen = rd16(buf, off + DCERPC_OFF_FRAG_LEN, le);
  if (fragLen < DCERPC_HDR_LEN) return fail(out, MALFORMED, off + DCERPC_OFF_FRAG_LEN, ERR_FRAG_LEN_SHORT);
  if (fragLen > maxFragLen) return fail(out, MALFORMED, off + DCERPC_OFF_FRAG_LEN, ERR_FRAG_LEN_LONG);
  out.pduLen = fragLen;
  out.ptype = buf[off + DCERPC_OFF_PTYPE]! | 0;
  out.littleEndian = le;
  if (len < fragLen) return needMore(out, off + len, fragLen, ERR_PDU_INCOMPLETE);
  out.errOffset = 0;
  out.errReason = '';
  out.needed = 0;
  return OK;
}

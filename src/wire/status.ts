/**
 * Result codes shared by every decoder in rpcgw.
 *
 * Decoders never throw on wire input: they return one of these numbers and, when it is not OK,
 * leave the location and reason in the scratch output object (a subclass of DecodeResult).
 * Reasons are string constants, so reporting an error allocates nothing.
 */
export const OK = 0;
/** Not enough bytes yet; `needed` holds how many bytes (from the decoder's start offset) are required. */
export const NEED_MORE = 1;
/** The bytes contradict the format; `errOffset` (absolute, in the buffer given) and `errReason` say where and why. */
export const MALFORMED = 2;
/** Well-formed but a variant this layer does not handle (unknown link type, ptype, protocol...). */
export const UNSUPPORTED = 3;

export type Status = typeof OK | typeof NEED_MORE | typeof MALFORMED | typeof UNSUPPORTED;

export const STATUS_NAMES: readonly string[] = ['ok', 'need-more', 'malformed', 'unsupported'];

/** The one reason string readPacket's callers match on for short captures (IPv4 and IPv6). */
export const R_IP_TRUNCATED_BY_CAPTURE = 'ip packet truncated by capture';

/** Base class of every decoder's preallocated output: where and why decoding stopped. */
export class DecodeResult {
  /** Absolute offset in the decoded buffer of the byte that made decoding stop. */
  errOffset = 0;
  /** Constant, human-readable reason ('' when OK). */
  errReason = '';
  /** With NEED_MORE: total bytes required from the decoder's start offset. */
  needed = 0;
}

/** Records a failure in `out` and returns `status`, so decoders can `return fail(...)`. */
export function fail(out: DecodeResult, status: Status, offset: number, reason: string): Status {
  out.errOffset = offset;
  out.errReason = reason;
  return status;
}

/** Records a NEED_MORE with the total byte count required from the decoder's start. */
export function needMore(out: DecodeResult, offset: number, needed: number, reason: string): Status {
  out.errOffset = offset;
  out.errReason = reason;
  out.needed = needed;
  return NEED_MORE;
}

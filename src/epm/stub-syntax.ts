/**
 * NDR or NDR64, and ept_map or ept_lookup, for an endpoint-mapper stub: the one guess the EPM leg
 * and `rpcgw inspect` share. The transfer syntax comes from the bind_ack when it was seen
 * (PresentationContexts.syntaxOf); a connection picked up after its bind, or a response whose
 * request went by unseen, is read with whichever syntax (NDR first) and operation decode it
 * cleanly — the two layouts differ in count widths and alignment, so a wrong guess does not
 * decode.
 */
import { OK } from '../wire/status.js';
import { SYNTAX_NDR, SYNTAX_NDR64 } from '../dcerpc/constants.js';
import { EPT_LOOKUP, EPT_MAP } from './constants.js';
import { readEptMapRequest, readEptMapResponse, type EptMapRequestView, type EptMapResponseView } from './ept-map.js';
import { readEptLookupResponse, type EptLookupResponseView } from './ept-lookup.js';

const NDR_ONLY: readonly boolean[] = [false];
const NDR64_ONLY: readonly boolean[] = [true];
const NDR_THEN_NDR64: readonly boolean[] = [false, true];

/** The syntaxes to try (as `ndr64` flags, in order) for a context whose syntax is `known`. */
export function syntaxOrder(known: number): readonly boolean[] {
  return known === SYNTAX_NDR64 ? NDR64_ONLY : known === SYNTAX_NDR ? NDR_ONLY : NDR_THEN_NDR64;
}

/**
 * An ept_map request stub: the first syntax of `order` it decodes with (`view` holds that
 * decode), or `order[0]` when none does (`view` then holds the last failure).
 */
export function mapRequestNdr64(order: readonly boolean[], buf: Uint8Array, off: number, len: number, le: boolean, view: EptMapRequestView): boolean {
  const got = decodeMapRequest(order, buf, off, len, le, view);
  return got < 0 ? order[0]! : got === 1;
}

/**
 * An ept_map request stub decoded with the first syntax of `order` that reads it: 1 (NDR64) or 0
 * (NDR), `view` holding that decode; -1 when none does (`view` holds the last failure). One
 * decode where mapRequestNdr64 and a readEptMapRequest with its answer made two.
 */
export function decodeMapRequest(order: readonly boolean[], buf: Uint8Array, off: number, len: number, le: boolean, view: EptMapRequestView): number {
  for (let i = 0; i < order.length; i++) {
    const ndr64 = order[i]!;
    if (readEptMapRequest(buf, off, len, ndr64, le, view) === OK) return ndr64 ? 1 : 0;
  }
  return -1;
}

/** Set by readEpmResponse: the syntax the stub decoded with. */
export const responseGuess = { ndr64: false };

/**
 * A response stub of `opnum` (EPT_MAP or EPT_LOOKUP; -1: unknown, ept_map tried before
 * ept_lookup in each syntax). Returns the operation it decoded as — its view filled and
 * responseGuess.ndr64 set — or -1 when it decodes as neither.
 */
export function readEpmResponse(
  opnum: number, order: readonly boolean[], buf: Uint8Array, off: number, len: number, le: boolean,
  mapView: EptMapResponseView, lookupView: EptLookupResponseView,
): number {
  for (const ndr64 of order) {
    if ((opnum === EPT_MAP || opnum < 0) && readEptMapResponse(buf, off, len, ndr64, le, mapView) === OK) {
      responseGuess.ndr64 = ndr64;
      return EPT_MAP;
    }
    if ((opnum === EPT_LOOKUP || opnum < 0) && readEptLookupResponse(buf, off, len, ndr64, le, lookupView) === OK) {
      responseGuess.ndr64 = ndr64;
      return EPT_LOOKUP;
    }
  }
  return -1;
}

/**
 * The one NDR/NDR64 and ept_map/ept_lookup guess (EPM leg and rpcgw inspect), on stubs from an
 * independent encoder (impacket): a known syntax is used as is; an unknown one is found by which
 * layout decodes; a response whose request went unseen is told apart by its layout.
 */
import { describe, expect, it } from 'vitest';
import { SYNTAX_NDR, SYNTAX_NDR64, SYNTAX_UNKNOWN } from '../../src/dcerpc/constants.js';
import { EPT_LOOKUP, EPT_MAP } from '../../src/epm/constants.js';
import { EptMapRequestView, EptMapResponseView, readEptMapRequest } from '../../src/epm/ept-map.js';
import { OK } from '../../src/wire/status.js';
import { EptLookupResponseView } from '../../src/epm/ept-lookup.js';
import { decodeMapRequest, mapRequestNdr64, readEpmResponse, responseGuess, syntaxOrder } from '../../src/epm/stub-syntax.js';
import {
  IMPACKET_LOOKUP_RESP_NDR, IMPACKET_LOOKUP_RESP_NDR64, IMPACKET_MAP_REQ_NP_NDR, IMPACKET_MAP_REQ_NP_NDR64,
  IMPACKET_MAP_RESP_TCP_NP_NDR, IMPACKET_MAP_RESP_TCP_NP_NDR64,
} from './impacket-vectors.js';

const mapView = new EptMapResponseView();
const lookupView = new EptLookupResponseView();

function guess(opnum: number, known: number, stub: Uint8Array): [number, boolean] {
  const op = readEpmResponse(opnum, syntaxOrder(known), stub, 0, stub.length, true, mapView, lookupView);
  return [op, responseGuess.ndr64];
}

describe('EPM stub syntax', () => {
  it('the bind_ack said which: only that syntax is tried', () => {
    expect(syntaxOrder(SYNTAX_NDR)).toEqual([false]);
    expect(syntaxOrder(SYNTAX_NDR64)).toEqual([true]);
    expect(guess(EPT_MAP, SYNTAX_NDR64, IMPACKET_MAP_RESP_TCP_NP_NDR)[0]).toBe(-1);
    expect(guess(EPT_MAP, SYNTAX_NDR, IMPACKET_MAP_RESP_TCP_NP_NDR)).toEqual([EPT_MAP, false]);
  });

  it('unknown syntax (bind not seen): NDR first, then NDR64, whichever decodes', () => {
    expect(syntaxOrder(-1)).toEqual([false, true]);
    expect(syntaxOrder(SYNTAX_UNKNOWN)).toEqual([false, true]);
    expect(guess(EPT_MAP, -1, IMPACKET_MAP_RESP_TCP_NP_NDR)).toEqual([EPT_MAP, false]);
    expect(guess(EPT_MAP, -1, IMPACKET_MAP_RESP_TCP_NP_NDR64)).toEqual([EPT_MAP, true]);
    expect(guess(EPT_LOOKUP, -1, IMPACKET_LOOKUP_RESP_NDR64)).toEqual([EPT_LOOKUP, true]);
    expect(mapView.towerCount).toBe(2);
    expect(lookupView.entryCount).toBe(5);
  });

  it('request not seen: ept_map or ept_lookup by which layout decodes', () => {
    expect(guess(-1, -1, IMPACKET_MAP_RESP_TCP_NP_NDR64)).toEqual([EPT_MAP, true]);
    expect(guess(-1, -1, IMPACKET_LOOKUP_RESP_NDR)).toEqual([EPT_LOOKUP, false]);
    expect(guess(-1, -1, new Uint8Array(7))[0]).toBe(-1);
    // A known operation is not second-guessed: an ept_lookup answer to an ept_map call does not decode.
    expect(guess(EPT_MAP, -1, IMPACKET_LOOKUP_RESP_NDR)[0]).toBe(-1);
  });

  it('ept_map request: the syntax that decodes, else the first candidate', () => {
    const v = new EptMapRequestView();
    const s64 = IMPACKET_MAP_REQ_NP_NDR64;
    expect(mapRequestNdr64(syntaxOrder(-1), s64, 0, s64.length, true, v)).toBe(true);
    expect(v.towerLen).toBe(85);
    const s = IMPACKET_MAP_REQ_NP_NDR;
    expect(mapRequestNdr64(syntaxOrder(-1), s, 0, s.length, true, v)).toBe(false);
    expect(mapRequestNdr64(syntaxOrder(SYNTAX_NDR64), s, 0, s.length, true, v)).toBe(true);
    expect(mapRequestNdr64(syntaxOrder(-1), new Uint8Array(3), 0, 3, true, v)).toBe(false);
  });

  it('ept_map request decoded once: the view holds what a second decode with the found syntax would', () => {
    const once = new EptMapRequestView();
    const twice = new EptMapRequestView();
    for (const s of [IMPACKET_MAP_REQ_NP_NDR64, IMPACKET_MAP_REQ_NP_NDR]) {
      for (const known of [-1, SYNTAX_NDR, SYNTAX_NDR64]) {
        const order = syntaxOrder(known);
        const got = decodeMapRequest(order, s, 0, s.length, true, once);
        const ndr64 = mapRequestNdr64(order, s, 0, s.length, true, twice);
        const st = readEptMapRequest(s, 0, s.length, ndr64, true, twice);
        expect(got >= 0).toBe(st === OK);
        if (got >= 0) expect(got === 1).toBe(ndr64);
        expect({ ...once, tower: { ...once.tower } }).toEqual({ ...twice, tower: { ...twice.tower } });
      }
    }
    expect(decodeMapRequest(syntaxOrder(-1), new Uint8Array(3), 0, 3, true, once)).toBe(-1);
  });
});

/**
 * The EPM leg dispatches bind, request, bind_ack and response on the PTYPE byte and lets their
 * decoder read the header once (it read it twice before: readCoHeader, then the decoder). Its
 * refusals must not change: a header readCoHeader refuses is still "PDU header at offset N: why",
 * a PDU whose header is fine still names the PDU's own fault. Oracle: the dispatch as it was before
 * (readCoHeader first, then the PTYPE's decoder), written out here over the same decoders, for the
 * first PDU of a new connection, either direction, on random and mutated PDUs that frame.
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { EpmLeg, type EpmLegHost } from '../../src/engine/epm-leg.js';
import { PASS, REFUSE_MALFORMED, REFUSE_UNEXPECTED_PDU } from '../../src/engine/reasons.js';
import type { CompiledRule } from '../../src/policy/compiled.js';
import {
  PTYPE_ALTER_CONTEXT, PTYPE_ALTER_CONTEXT_RESP, PTYPE_AUTH3, PTYPE_BIND, PTYPE_BIND_ACK, PTYPE_BIND_NAK, PTYPE_CO_CANCEL,
  PTYPE_FAULT, PTYPE_NAMES, PTYPE_ORPHANED, PTYPE_REQUEST, PTYPE_RESPONSE, PTYPE_SHUTDOWN, UUID_NDR,
} from '../../src/dcerpc/constants.js';
import { OK } from '../../src/wire/status.js';
import { CoHeader, readCoHeader } from '../../src/dcerpc/header.js';
import {
  BindAckView, BindView, RequestView, ResponseView, encode, readBind, readBindAck, readRequest, readResponse, writeBind, writeBindAck,
  writeRequest, writeResponse,
} from '../../src/dcerpc/pdu.js';
import { AUTH3_NTLM, BIND_3CTX, BIND_ACK_135, FAULT_EEINFO, REQUEST_EPT_MAP_NDR64, REQUEST_NTLM_PRIVACY, RESPONSE_EPT_MAP_NDR64, RESPONSE_NTLM_PRIVACY, SHUTDOWN } from './vectors.js';

const AUTH = { type: 10, level: 6, contextId: 1, value: new Uint8Array(16).fill(9) };
const SEEDS = [
  AUTH3_NTLM, BIND_3CTX, BIND_ACK_135, FAULT_EEINFO, REQUEST_EPT_MAP_NDR64, REQUEST_NTLM_PRIVACY, RESPONSE_EPT_MAP_NDR64,
  RESPONSE_NTLM_PRIVACY, SHUTDOWN,
  encode(writeBind, { callId: 3, auth: AUTH, contexts: [{ ctxId: 0, abstract: { uuid: UUID_NDR, major: 1, minor: 0 }, transfer: [{ uuid: UUID_NDR, version: 2 }] }] }),
  encode(writeBindAck, { callId: 3, auth: AUTH, secAddr: '135', results: [{ result: 0, transfer: { uuid: UUID_NDR, version: 2 } }] }),
  encode(writeRequest, { callId: 4, ctxId: 0, opnum: 3, stub: new Uint8Array(24), auth: AUTH }),
  encode(writeResponse, { callId: 4, ctxId: 0, stub: new Uint8Array(24), auth: AUTH, littleEndian: false }),
];

const HOST: EpmLegHost = {
  patchStream: () => { throw new Error('unexpected host call'); },
  acquireMapping: () => { throw new Error('unexpected host call'); },
  acquireOutbound: () => { throw new Error('unexpected host call'); },
  towerRewritten: () => { throw new Error('unexpected host call'); },
  replaceStream: () => { throw new Error('unexpected host call'); },
} as unknown as EpmLegHost;
const RULE = { name: 'r' } as unknown as CompiledRule;

const H = new CoHeader();
const B = new BindView();
const A = new BindAckView();
const Q = new RequestView();
const R = new ResponseView();

/**
 * The refusal detail the old dispatch gave for the first PDU of a connection, or null where it
 * went on past the decoders (then the leg's later checks decide, unchanged code).
 */
function oldVerdict(buf: Uint8Array, len: number, fromClient: boolean): [number, string] | null {
  if (readCoHeader(buf, 0, len, H) !== OK) return [REFUSE_MALFORMED, `PDU header at offset ${H.errOffset}: ${H.errReason}`];
  const p = H.ptype;
  if (fromClient) {
    switch (p) {
      case PTYPE_BIND:
      case PTYPE_ALTER_CONTEXT:
        return readBind(buf, 0, len, B) !== OK ? [REFUSE_MALFORMED, `${PTYPE_NAMES[B.ptype] ?? 'bind'} at offset ${B.errOffset}: ${B.errReason}`] : null;
      case PTYPE_REQUEST:
        return readRequest(buf, 0, len, Q) !== OK ? [REFUSE_MALFORMED, `request at offset ${Q.errOffset}: ${Q.errReason}`] : null;
      case PTYPE_AUTH3:
      case PTYPE_CO_CANCEL:
      case PTYPE_ORPHANED:
        return [PASS, ''];
      default:
        return [REFUSE_UNEXPECTED_PDU, `${PTYPE_NAMES[p] ?? p} from the client`];
    }
  }
  switch (p) {
    case PTYPE_BIND_ACK:
    case PTYPE_ALTER_CONTEXT_RESP:
      return readBindAck(buf, 0, len, A) !== OK ? [REFUSE_MALFORMED, `${PTYPE_NAMES[p]} at offset ${A.errOffset}: ${A.errReason}`] : [PASS, ''];
    case PTYPE_RESPONSE:
      return readResponse(buf, 0, len, R) !== OK ? [REFUSE_MALFORMED, `response at offset ${R.errOffset}: ${R.errReason}`] : [PASS, ''];
    case PTYPE_FAULT:
    case PTYPE_BIND_NAK:
    case PTYPE_SHUTDOWN:
      return [PASS, ''];
    default:
      return [REFUSE_UNEXPECTED_PDU, `${PTYPE_NAMES[p] ?? p} from the server`];
  }
}

let flow = 0;
function legVerdict(buf: Uint8Array, fromClient: boolean): [number, string] {
  const leg = new EpmLeg(HOST, 65536, () => RULE, () => 0);
  const f = flow++ & 63;
  leg.init(f, false);
  leg.refuseDetail = '';
  const code = leg.feed(f, fromClient, buf, 0, buf.length, 1000);
  leg.release(f);
  return [code, code === PASS ? '' : leg.refuseDetail];
}

function check(buf: Uint8Array, fromClient: boolean): void {
  const want = oldVerdict(buf, buf.length, fromClient);
  const got = legVerdict(buf, fromClient);
  if (want !== null) expect(got).toEqual(want);
  else expect(got[1].startsWith('PDU header') || / at offset /.test(got[1])).toBe(false);
}

describe('EPM leg: one header read per PDU, the same refusals', () => {
  it('a bind whose auth_length does not fit is still refused as a PDU header', () => {
    const b = BIND_3CTX.slice();
    b[10] = 0xf0; // auth_length 240 in a PDU far shorter
    expect(legVerdict(b, true)).toEqual([REFUSE_MALFORMED, `PDU header at offset 10: ${(readCoHeader(b, 0, b.length, H), H.errReason)}`]);
    const a = BIND_ACK_135.slice();
    a[10] = 0xf0;
    expect(legVerdict(a, false)[1]).toMatch(/^PDU header at offset 10: /);
  });

  it('property: mutated PDUs that frame, either direction, any PTYPE', () => {
    fc.assert(fc.property(
      fc.constantFrom(...SEEDS), fc.boolean(), fc.integer({ min: 0, max: 21 }), fc.boolean(),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      fc.option(fc.integer({ min: 0, max: 0xffff }), { nil: undefined }),
      (seed, fromClient, ptype, keepPtype, edits, authLen) => {
        const buf = seed.slice();
        for (const [i, b] of edits) buf[i % buf.length] = b;
        // Frames: version 5.0/5.1, drep as the seed's, frag_length = the bytes there.
        buf[0] = 5;
        buf[1] = buf[1]! & 1;
        buf[4] = seed[4]!;
        const le = (buf[4]! & 0xf0) === 0x10;
        if (!keepPtype) buf[2] = ptype;
        if (authLen !== undefined) {
          buf[10] = le ? authLen & 0xff : authLen >> 8;
          buf[11] = le ? authLen >> 8 : authLen & 0xff;
        }
        buf[8] = le ? buf.length & 0xff : buf.length >> 8;
        buf[9] = le ? buf.length >> 8 : buf.length & 0xff;
        check(buf, fromClient);
      },
    ), { numRuns: 3000 });
  });
});

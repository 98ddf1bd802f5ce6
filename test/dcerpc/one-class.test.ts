/**
 * The PDU views as one runtime class (src/dcerpc/co-pdu.ts) decode exactly as the class-per-view
 * decoders did (test/dcerpc/reference/, frozen at ac9c0b1): same status, error offset, reason,
 * needed, and every field the old view had (arrays element by element), for random bytes, random
 * truncations and mutations of valid PDUs. Each decoder's views are reused across runs in both
 * implementations, so a field one of them forgets to write shows as a difference too.
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { CoHeader, readCoHeader } from '../../src/dcerpc/header.js';
import * as NEW from '../../src/dcerpc/pdu.js';
import { encode, writeBind, writeBindAck, writeRequest, writeResponse } from '../../src/dcerpc/pdu.js';
import { CoPdu } from '../../src/dcerpc/co-pdu.js';
import * as OLDH from './reference/header.js';
import * as OLD from './reference/pdu.js';
import { UUID_NDR, UUID_NDR64 } from '../../src/dcerpc/constants.js';
import {
  AUTH3_NTLM, BIND_3CTX, BIND_ACK_135, BIND_ACK_EMPTY_SECADDR, BIND_NAK_PLAIN, BIND_NAK_SIGNED, FAULT_EEINFO,
  REQUEST_EPT_MAP_NDR64, REQUEST_NTLM_PRIVACY, RESPONSE_EPT_MAP_NDR64, RESPONSE_NTLM_PRIVACY, RTS_CONN_A1, SHUTDOWN,
} from './vectors.js';

const VALID = [
  AUTH3_NTLM, BIND_3CTX, BIND_ACK_135, BIND_ACK_EMPTY_SECADDR, BIND_NAK_PLAIN, BIND_NAK_SIGNED, FAULT_EEINFO,
  REQUEST_EPT_MAP_NDR64, REQUEST_NTLM_PRIVACY, RESPONSE_EPT_MAP_NDR64, RESPONSE_NTLM_PRIVACY, RTS_CONN_A1, SHUTDOWN,
  encode(writeBind, { callId: 3, littleEndian: false, contexts: [{ ctxId: 0, abstract: { uuid: UUID_NDR, major: 1, minor: 0 }, transfer: [{ uuid: UUID_NDR, version: 2 }, { uuid: UUID_NDR64, version: 1 }] }] }),
  encode(writeBindAck, { callId: 3, littleEndian: false, secAddr: '135', results: [{ result: 0, transfer: { uuid: UUID_NDR, version: 2 } }] }),
  encode(writeRequest, { callId: 9, ctxId: 1, opnum: 3, stub: new Uint8Array(40).fill(7), auth: { type: 10, level: 6, contextId: 5, value: new Uint8Array(16), padLen: 4 } }),
  encode(writeResponse, { callId: 9, ctxId: 1, stub: new Uint8Array(33), littleEndian: false }),
];

type Decoder = (buf: Uint8Array, off: number, len: number, out: never) => number;
/** [name, new decoder, new view, old decoder, old view] */
const PAIRS: [string, Decoder, object, Decoder, object][] = [
  ['readCoHeader', readCoHeader as Decoder, new CoHeader(), OLDH.readCoHeader as Decoder, new OLDH.CoHeader()],
  ['readBind', NEW.readBind as Decoder, new NEW.BindView(), OLD.readBind as Decoder, new OLD.BindView()],
  ['readBindAck', NEW.readBindAck as Decoder, new NEW.BindAckView(), OLD.readBindAck as Decoder, new OLD.BindAckView()],
  ['readBindNak', NEW.readBindNak as Decoder, new NEW.BindNakView(), OLD.readBindNak as Decoder, new OLD.BindNakView()],
  ['readRequest', NEW.readRequest as Decoder, new NEW.RequestView(), OLD.readRequest as Decoder, new OLD.RequestView()],
  ['readResponse', NEW.readResponse as Decoder, new NEW.ResponseView(), OLD.readResponse as Decoder, new OLD.ResponseView()],
  ['readFault', NEW.readFault as Decoder, new NEW.FaultView(), OLD.readFault as Decoder, new OLD.FaultView()],
  ['readAuth3', NEW.readAuth3 as Decoder, new NEW.Auth3View(), OLD.readAuth3 as Decoder, new OLD.Auth3View()],
  ['readShutdown', NEW.readShutdown as Decoder, new NEW.HeaderOnlyView(), OLD.readShutdown as Decoder, new OLD.HeaderOnlyView()],
  ['readCoCancel', NEW.readCoCancel as Decoder, new NEW.HeaderOnlyView(), OLD.readCoCancel as Decoder, new OLD.HeaderOnlyView()],
  ['readOrphaned', NEW.readOrphaned as Decoder, new NEW.HeaderOnlyView(), OLD.readOrphaned as Decoder, new OLD.HeaderOnlyView()],
  ['readRts', NEW.readRts as Decoder, new NEW.RtsView(), OLD.readRts as Decoder, new OLD.RtsView()],
];
const NEW_PDU = new NEW.PduView();
const OLD_PDU = new OLD.PduView();

/** Every field of the old view `like`, read from `view`, one per line (arrays joined). */
function fieldsOf(view: object, like: object): string {
  let out = '';
  for (const k of Object.keys(like)) {
    const v = (view as Record<string, unknown>)[k];
    out += `${k}=${ArrayBuffer.isView(v) ? Array.prototype.join.call(v, ',') : typeof v === 'string' ? JSON.stringify(v) : String(v)}\n`;
  }
  return out;
}

function sameAsBefore(buf: Uint8Array, off: number, len: number): void {
  for (const [name, dn, vn, dold, vold] of PAIRS) {
    const sn = dn(buf, off, len, vn as never);
    const so = dold(buf, off, len, vold as never);
    expect(`${name} status=${sn}\n${fieldsOf(vn, vold)}`).toBe(`${name} status=${so}\n${fieldsOf(vold, vold)}`);
  }
  const sn = NEW.readPdu(buf, off, len, NEW_PDU);
  const so = OLD.readPdu(buf, off, len, OLD_PDU);
  expect([sn, NEW_PDU.ptype, NEW_PDU.errOffset, NEW_PDU.errReason, NEW_PDU.needed])
    .toEqual([so, OLD_PDU.ptype, OLD_PDU.errOffset, OLD_PDU.errReason, OLD_PDU.needed]);
  for (const k of ['header', 'bind', 'bindAck', 'bindNak', 'request', 'response', 'fault', 'auth3', 'headerOnly', 'rts'] as const) {
    expect(`${k}\n${fieldsOf(NEW_PDU[k], OLD_PDU[k])}`).toBe(`${k}\n${fieldsOf(OLD_PDU[k], OLD_PDU[k])}`);
  }
}

describe('one runtime class for every PDU view', () => {
  it('CoHeader and every view are CoPdu instances with the same own keys in the same order', () => {
    const views = [new CoHeader(), new NEW.PduBase(), ...PAIRS.map((p) => p[2]), NEW_PDU.bind, NEW_PDU.rts];
    const keys = Object.keys(views[0]!).join(',');
    for (const v of views) {
      expect(v).toBeInstanceOf(CoPdu);
      expect(Object.keys(v).join(',')).toBe(keys);
    }
  });

  it('every field of each old view exists on the new one, with the same kind of value', () => {
    for (const [name, , vn, , vold] of PAIRS) {
      for (const [k, v] of Object.entries(vold)) {
        const w = (vn as Record<string, unknown>)[k];
        expect([name, k, typeof w, ArrayBuffer.isView(w) ? (w as Uint8Array).constructor.name : '', ArrayBuffer.isView(w) ? (w as Uint8Array).length : -1])
          .toEqual([name, k, typeof v, ArrayBuffer.isView(v) ? (v as Uint8Array).constructor.name : '', ArrayBuffer.isView(v) ? (v as Uint8Array).length : -1]);
      }
    }
  });

  it('every valid vector decodes as before', () => {
    for (const v of VALID) sameAsBefore(v, 0, v.length);
  });

  it('property: random bytes (a valid-looking header half the time), at any offset', () => {
    fc.assert(fc.property(
      fc.uint8Array({ maxLength: 300 }), fc.boolean(), fc.integer({ min: 0, max: 9 }), fc.constantFrom(0, 2, 3, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21),
      fc.boolean(), fc.integer({ min: 0, max: 40 }),
      (bytes, prefix, at, ptype, bigEndian, authLen) => {
        const buf = new Uint8Array(at + bytes.length);
        buf.set(bytes, at);
        if (prefix && bytes.length >= 16) {
          buf[at] = 5;
          buf[at + 1] = bytes[1]! & 1;
          buf[at + 2] = ptype;
          buf[at + 4] = bigEndian ? 0 : 0x10;
          const n = bytes.length;
          buf[at + 8] = bigEndian ? n >> 8 : n & 0xff;
          buf[at + 9] = bigEndian ? n & 0xff : n >> 8;
          buf[at + 10] = bigEndian ? 0 : authLen;
          buf[at + 11] = bigEndian ? authLen : 0;
        }
        sameAsBefore(buf, at, bytes.length);
      },
    ), { numRuns: 2000 });
  });

  it('property: random truncations of valid PDUs', () => {
    fc.assert(fc.property(fc.constantFrom(...VALID), fc.nat(), (pdu, cut) => {
      const len = cut % (pdu.length + 1);
      sameAsBefore(pdu.slice(0, len), 0, len);
    }), { numRuns: 2000 });
  });

  it('property: random byte mutations of valid PDUs', () => {
    fc.assert(fc.property(
      fc.constantFrom(...VALID), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
      (pdu, edits) => {
        const buf = pdu.slice();
        // Mostly in the first 32 bytes (header, body header), where the decoders branch.
        for (const [i, b] of edits) buf[i % 3 === 0 ? i % buf.length : i % Math.min(32, buf.length)] = b;
        sameAsBefore(buf, 0, buf.length);
      },
    ), { numRuns: 2000 });
  });
});

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { OK, NEED_MORE, MALFORMED, UNSUPPORTED } from '../../src/wire/status.js';
import { CoHeader, readCoHeader } from '../../src/dcerpc/header.js';
import { FrameInfo, framePdu } from '../../src/dcerpc/framer.js';
import {
  PduView, readPdu, readBind, readBindAck, readBindNak, readRequest, readResponse, readFault, readAuth3,
  readShutdown, readCoCancel, readOrphaned, readRts, BindView, BindAckView, BindNakView, RequestView, ResponseView,
  FaultView, Auth3View, HeaderOnlyView, RtsView, encode, writeRequest, writeResponse, writeBind, writeBindAck,
} from '../../src/dcerpc/pdu.js';
import { FragmentReassembler, ReassembledCall } from '../../src/dcerpc/reassembly.js';
import { PresentationContexts } from '../../src/dcerpc/context.js';
import {
  PTYPE_BIND, PTYPE_ALTER_CONTEXT, PTYPE_BIND_ACK, PTYPE_ALTER_CONTEXT_RESP, PTYPE_BIND_NAK, PTYPE_REQUEST,
  PTYPE_RESPONSE, PTYPE_RTS, MAX_TRANSFER_SYNTAXES, UUID_NDR,
} from '../../src/dcerpc/constants.js';
import {
  AUTH3_NTLM, BIND_3CTX, BIND_ACK_135, BIND_ACK_EMPTY_SECADDR, BIND_NAK_PLAIN, BIND_NAK_SIGNED, FAULT_EEINFO,
  REQUEST_EPT_MAP_NDR64, REQUEST_NTLM_PRIVACY, RESPONSE_EPT_MAP_NDR64, RESPONSE_NTLM_PRIVACY, RTS_CONN_A1, SHUTDOWN,
} from './vectors.js';

const VALID = [
  AUTH3_NTLM, BIND_3CTX, BIND_ACK_135, BIND_ACK_EMPTY_SECADDR, BIND_NAK_PLAIN, BIND_NAK_SIGNED, FAULT_EEINFO,
  REQUEST_EPT_MAP_NDR64, REQUEST_NTLM_PRIVACY, RESPONSE_EPT_MAP_NDR64, RESPONSE_NTLM_PRIVACY, RTS_CONN_A1, SHUTDOWN,
  encode(writeBind, { callId: 3, littleEndian: false, contexts: [{ ctxId: 0, abstract: { uuid: UUID_NDR, major: 1, minor: 0 }, transfer: [{ uuid: UUID_NDR, version: 2 }] }] }),
  encode(writeBindAck, { callId: 3, littleEndian: false, secAddr: '135', results: [{ result: 0, transfer: { uuid: UUID_NDR, version: 2 } }] }),
];

const views = {
  header: new CoHeader(), frame: new FrameInfo(), pdu: new PduView(), bind: new BindView(), ack: new BindAckView(),
  nak: new BindNakView(), req: new RequestView(), resp: new ResponseView(), fault: new FaultView(),
  auth3: new Auth3View(), only: new HeaderOnlyView(), rts: new RtsView(),
};
const STATUSES = [OK, NEED_MORE, MALFORMED, UNSUPPORTED];

/** Runs every decoder on buf[off, off+len) and checks status values and in-bounds results. */
function decodeAll(buf: Uint8Array, off: number, len: number): void {
  const end = off + len;
  const results = [
    readCoHeader(buf, off, len, views.header),
    framePdu(buf, off, len, views.frame),
    readPdu(buf, off, len, views.pdu),
    readBind(buf, off, len, views.bind),
    readBindAck(buf, off, len, views.ack),
    readBindNak(buf, off, len, views.nak),
    readRequest(buf, off, len, views.req),
    readResponse(buf, off, len, views.resp),
    readFault(buf, off, len, views.fault),
    readAuth3(buf, off, len, views.auth3),
    readShutdown(buf, off, len, views.only),
    readCoCancel(buf, off, len, views.only),
    readOrphaned(buf, off, len, views.only),
    readRts(buf, off, len, views.rts),
  ];
  for (const st of results) expect(STATUSES).toContain(st);
  sameVerdictAsFresh(buf, off, len, results);
  if (results[3] === OK) {
    const v = views.bind;
    expect(v.contextsEnd).toBeLessThanOrEqual(end);
    for (let i = 0; i < v.nContexts; i++) {
      expect(v.abstractUuidOff[i]! + 16).toBeLessThanOrEqual(end);
      for (let j = 0; j < v.nTransfer[i]!; j++) expect(v.transferUuidOff[i * MAX_TRANSFER_SYNTAXES + j]! + 20).toBeLessThanOrEqual(end);
    }
  }
  if (results[4] === OK) {
    const v = views.ack;
    expect(v.secAddrOff + v.secAddrLen).toBeLessThanOrEqual(end);
    for (let i = 0; i < v.nResults; i++) expect(v.transferUuidOff[i]! + 20).toBeLessThanOrEqual(end);
  }
  if (results[6] === OK) {
    expect(views.req.stubLen).toBeGreaterThanOrEqual(0);
    expect(views.req.stubOff + views.req.stubLen).toBeLessThanOrEqual(end);
    if (views.req.hasAuth) expect(views.req.authValueOff + views.req.authValueLen).toBeLessThanOrEqual(end);
  }
  if (results[7] === OK) {
    expect(views.resp.stubLen).toBeGreaterThanOrEqual(0);
    expect(views.resp.stubOff + views.resp.stubLen).toBeLessThanOrEqual(end);
  }
  if (results[13] === OK) {
    for (let i = 0; i < views.rts.numberOfCommands; i++) {
      expect(views.rts.commandOff[i]! + views.rts.commandLen[i]!).toBeLessThanOrEqual(end);
    }
  }
}

type Decoder = (buf: Uint8Array, off: number, len: number, out: never) => number;
/** decodeAll's decoders that fill a PDU view, by their index in its results: the decoder, the view it reused, a fresh one. */
const VIEW_DECODERS: [number, Decoder, object, () => object][] = [
  [0, readCoHeader as Decoder, views.header, () => new CoHeader()],
  [2, readPdu as Decoder, views.pdu, () => new PduView()],
  [3, readBind as Decoder, views.bind, () => new BindView()],
  [4, readBindAck as Decoder, views.ack, () => new BindAckView()],
  [5, readBindNak as Decoder, views.nak, () => new BindNakView()],
  [6, readRequest as Decoder, views.req, () => new RequestView()],
  [7, readResponse as Decoder, views.resp, () => new ResponseView()],
  [8, readFault as Decoder, views.fault, () => new FaultView()],
  [9, readAuth3 as Decoder, views.auth3, () => new Auth3View()],
  [12, readOrphaned as Decoder, views.only, () => new HeaderOnlyView()],
  [13, readRts as Decoder, views.rts, () => new RtsView()],
];
const HEADER_FIELDS = ['rpcVers', 'rpcVersMinor', 'ptype', 'pfcFlags', 'drep0', 'littleEndian', 'fragLen', 'authLen', 'callId'] as const;

/**
 * Every PDU view is one runtime class (src/dcerpc/co-pdu.ts) and the views here are reused across
 * PDUs of every type, as the engine reuses its own: a decoder's verdict into a reused view must be
 * its verdict into a fresh one — status, error offset and reason, how much more it wants, and on
 * success the common header (readPdu: the status and error). Fields past a refusal or past a count
 * are left as they were, by design.
 */
function sameVerdictAsFresh(buf: Uint8Array, off: number, len: number, results: number[]): void {
  for (const [i, decode, reused, fresh] of VIEW_DECODERS) {
    const f = fresh();
    const st = decode(buf, off, len, f as never);
    const verdict = (v: object): unknown[] => {
      const x = v as Record<string, unknown>;
      return [st, x.errOffset, x.errReason, st === NEED_MORE ? x.needed : 0, ...(st === OK && i !== 2 ? HEADER_FIELDS.map((k) => x[k]) : [])];
    };
    expect([i, results[i], ...verdict(reused).slice(1)]).toEqual([i, ...verdict(f)]);
  }
}

/** Feeds buf as if it were a request/response fragment to a reassembler and a context table. */
function stateful(buf: Uint8Array, off: number, len: number, r: FragmentReassembler, pc: PresentationContexts): void {
  const out = new ReassembledCall();
  if (readPdu(buf, off, len, views.pdu) !== OK) return;
  switch (views.pdu.ptype) {
    case PTYPE_REQUEST:
      expect(STATUSES).toContain(r.add(buf, off, views.pdu.request, views.pdu.request.stubOff, views.pdu.request.stubLen, out));
      break;
    case PTYPE_RESPONSE:
      expect(STATUSES).toContain(r.add(buf, off, views.pdu.response, views.pdu.response.stubOff, views.pdu.response.stubLen, out));
      break;
    case PTYPE_BIND:
    case PTYPE_ALTER_CONTEXT:
      expect(STATUSES).toContain(pc.onBind(buf, views.pdu.bind));
      break;
    case PTYPE_BIND_ACK:
    case PTYPE_ALTER_CONTEXT_RESP:
      expect(STATUSES).toContain(pc.onBindAck(views.pdu.bindAck));
      pc.isAccepted(0);
      pc.syntaxOf(1);
      break;
    case PTYPE_BIND_NAK:
      pc.onBindNak();
      break;
    default:
  }
}

describe('no decoder throws', () => {
  it('property: random bytes (with a valid-looking header prefix half the time)', () => {
    fc.assert(fc.property(
      fc.uint8Array({ maxLength: 400 }), fc.boolean(), fc.integer({ min: 0, max: 20 }), fc.constantFrom(0, 2, 3, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20),
      (bytes, prefix, at, ptype) => {
        const buf = new Uint8Array(at + bytes.length);
        buf.set(bytes, at);
        if (prefix && bytes.length >= 16) {
          buf[at] = 5;
          buf[at + 1] = 0;
          buf[at + 2] = ptype;
          buf[at + 4] = 0x10;
          buf[at + 9] = 0;
          buf[at + 8] = bytes.length & 0xff;
          buf[at + 9] = bytes.length >> 8;
          if (bytes[10]! > 64) buf[at + 10] = 0;
        }
        decodeAll(buf, at, bytes.length);
        stateful(buf, at, bytes.length, new FragmentReassembler(4096, 2), new PresentationContexts());
      },
    ), { numRuns: 3000 });
  });

  it('property: random truncations of valid PDUs', () => {
    fc.assert(fc.property(fc.constantFrom(...VALID), fc.nat(), (pdu, cut) => {
      const len = cut % (pdu.length + 1);
      const buf = pdu.slice(0, len);
      decodeAll(buf, 0, len);
      // a truncated PDU is never OK for its own decoder: the framer/decoder wants frag_length bytes
      if (len < pdu.length) expect(readPdu(buf, 0, len, views.pdu)).not.toBe(OK);
    }), { numRuns: 3000 });
  });

  it('property: random byte mutations of valid PDUs', () => {
    fc.assert(fc.property(
      fc.constantFrom(...VALID), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
      (pdu, edits) => {
        const buf = pdu.slice();
        for (const [i, b] of edits) buf[i % buf.length] = b;
        decodeAll(buf, 0, buf.length);
        const r = new FragmentReassembler(2048, 2);
        const pc = new PresentationContexts();
        for (const v of VALID) stateful(v, 0, v.length, r, pc);
        stateful(buf, 0, buf.length, r, pc);
      },
    ), { numRuns: 3000 });
  });

  it('property: the reassembler survives any sequence of fragments', () => {
    const frag = fc.record({
      callId: fc.integer({ min: 0, max: 3 }), flags: fc.integer({ min: 0, max: 3 }),
      size: fc.integer({ min: 0, max: 700 }), request: fc.boolean(),
    });
    fc.assert(fc.property(fc.array(frag, { maxLength: 30 }), (frags) => {
      const r = new FragmentReassembler(1500, 3);
      const out = new ReassembledCall();
      const expectLen = new Map<number, number>();
      for (const f of frags) {
        const stub = new Uint8Array(f.size).fill(f.callId);
        const bytes = f.request
          ? encode(writeRequest, { callId: f.callId, ctxId: 0, opnum: 1, stub, pfcFlags: f.flags })
          : encode(writeResponse, { callId: f.callId, ctxId: 0, stub, pfcFlags: f.flags });
        const v = f.request ? views.req : views.resp;
        expect((f.request ? readRequest(bytes, 0, bytes.length, views.req) : readResponse(bytes, 0, bytes.length, views.resp))).toBe(OK);
        const st = r.add(bytes, 0, v, v.stubOff, v.stubLen, out);
        expect([OK, MALFORMED]).toContain(st);
        // model: track the expected length of each call
        const first = (f.flags & 1) !== 0;
        const last = (f.flags & 2) !== 0;
        if (st === OK && out.complete) {
          const prev = first ? 0 : expectLen.get(f.callId) ?? -1;
          expect(out.len).toBe(prev + f.size);
          expect(out.data.subarray(out.off, out.off + out.len).every((b) => b === f.callId)).toBe(true);
          expectLen.delete(f.callId);
        } else if (st === OK) {
          expectLen.set(f.callId, (first ? 0 : expectLen.get(f.callId)!) + f.size);
          expect(last).toBe(false);
        } else {
          expectLen.delete(f.callId);
        }
        expect(r.callsInProgress).toBe(expectLen.size);
      }
    }), { numRuns: 1000 });
  });
});

describe('PDU type coverage of the fuzz corpus', () => {
  it('every valid vector decodes OK', () => {
    for (const v of VALID) {
      expect(readPdu(v, 0, v.length, views.pdu)).toBe(OK);
    }
    expect(VALID.some((v) => v[2] === PTYPE_RTS)).toBe(true);
  });
});

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { OK, NEED_MORE, MALFORMED } from '../../src/wire/status.js';
import { CoHeader, readCoHeader, writeCoHeader } from '../../src/dcerpc/header.js';
import { FrameInfo, framePdu, MAX_FRAG_LEN } from '../../src/dcerpc/framer.js';
import {
  PTYPE_BIND, PTYPE_REQUEST, PTYPE_RESPONSE, PTYPE_SHUTDOWN, PFC_FIRST_FRAG, PFC_LAST_FRAG,
} from '../../src/dcerpc/constants.js';
import {
  ERR_AUTH_LEN, ERR_BAD_DREP, ERR_BAD_RPC_VERS, ERR_BAD_RPC_VERS_MINOR, ERR_FRAG_LEN_LONG, ERR_FRAG_LEN_SHORT,
  ERR_PDU_INCOMPLETE, ERR_SHORT_HEADER, ERR_SHORT_PEEK,
} from '../../src/dcerpc/reasons.js';
import { encode, writeRequest, writeResponse, writeShutdown, writeBind } from '../../src/dcerpc/pdu.js';
import { a5, embed, hex } from './bytes.js';

// Header of the EPM bind BIND_3CTX (vectors.ts).
const BIND_HDR = hex(
  '05 00',       // rpc_vers 5, minor 0
  '0b',          // PTYPE 11 bind
  '03',          // pfc_flags FIRST|LAST
  '10 00 00 00', // drep: little-endian, ASCII, IEEE
  'a0 00',       // frag_length 160
  '00 00',       // auth_length 0
  '15 00 00 00', // call_id 21
);

describe('readCoHeader', () => {
  it('decodes a little-endian header at an offset', () => {
    const h = new CoHeader();
    const buf = embed(BIND_HDR, 3);
    expect(readCoHeader(buf, 3, BIND_HDR.length, h)).toBe(OK);
    expect(h.rpcVers).toBe(5);
    expect(h.rpcVersMinor).toBe(0);
    expect(h.ptype).toBe(PTYPE_BIND);
    expect(h.pfcFlags).toBe(PFC_FIRST_FRAG | PFC_LAST_FRAG);
    expect(h.drep0).toBe(0x10);
    expect(h.littleEndian).toBe(true);
    expect(h.fragLen).toBe(160);
    expect(h.authLen).toBe(0);
    expect(h.callId).toBe(21);
  });

  it('decodes a big-endian header', () => {
    const h = new CoHeader();
    const b = hex('05 01 00 03', '00 00 00 00', '01 02', '00 10', '12 34 56 78');
    expect(readCoHeader(b, 0, b.length, h)).toBe(OK);
    expect(h.littleEndian).toBe(false);
    expect(h.rpcVersMinor).toBe(1);
    expect(h.fragLen).toBe(0x102);
    expect(h.authLen).toBe(0x10);
    expect(h.callId).toBe(0x12345678);
  });

  it('NEED_MORE with needed = 16 below 16 bytes', () => {
    const h = new CoHeader();
    expect(readCoHeader(BIND_HDR, 0, 15, h)).toBe(NEED_MORE);
    expect(h.needed).toBe(16);
    expect(h.errReason).toBe(ERR_SHORT_HEADER);
    expect(h.errOffset).toBe(15);
  });

  const cases: [string, Uint8Array, number, string][] = [
    ['rpc_vers 4', hex('04 00 0b 03 10 00 00 00 a0 00 00 00 02 00 00 00'), 0, ERR_BAD_RPC_VERS],
    ['minor 2', hex('05 02 0b 03 10 00 00 00 a0 00 00 00 02 00 00 00'), 1, ERR_BAD_RPC_VERS_MINOR],
    ['drep 0x20', hex('05 00 0b 03 20 00 00 00 a0 00 00 00 02 00 00 00'), 4, ERR_BAD_DREP],
    ['frag_length 15', hex('05 00 0b 03 10 00 00 00 0f 00 00 00 02 00 00 00'), 8, ERR_FRAG_LEN_SHORT],
    // request: 24-byte header; frag_length 48 leaves 24, auth_length 17 + 8 = 25 > 24
    ['auth_length that lies (request)', hex('05 00 00 03 10 00 00 00 30 00 11 00 02 00 00 00'), 10, ERR_AUTH_LEN],
    // with the object flag the header is 40: 48 - 40 = 8 < 1 + 8
    ['auth_length vs object UUID', hex('05 00 00 83 10 00 00 00 30 00 01 00 02 00 00 00'), 10, ERR_AUTH_LEN],
  ];
  for (const [name, bytes, at, reason] of cases) {
    it(`MALFORMED: ${name}`, () => {
      const h = new CoHeader();
      const buf = embed(bytes, 4);
      expect(readCoHeader(buf, 4, bytes.length, h)).toBe(MALFORMED);
      expect(h.errReason).toBe(reason);
      expect(h.errOffset).toBe(4 + at);
    });
  }

  it('accepts an auth_length that exactly fits', () => {
    const h = new CoHeader();
    // request, frag_length 48: 24 header + 8 trailer + 16 value
    const b = hex('05 00 00 03 10 00 00 00 30 00 10 00 02 00 00 00');
    expect(readCoHeader(b, 0, 16, h)).toBe(OK);
    expect(h.authLen).toBe(16);
  });

  it('writeCoHeader writes exactly 16 bytes, both orders', () => {
    const b = a5(20);
    expect(writeCoHeader(b, 2, PTYPE_BIND, 3, 160, 0, 21)).toBe(16);
    expect(b.subarray(2, 18)).toEqual(BIND_HDR);
    expect(b[1]).toBe(0xa5);
    expect(b[18]).toBe(0xa5);
    const be = a5(16);
    writeCoHeader(be, 0, PTYPE_RESPONSE, 3, 0x102, 0x10, 0x12345678, false);
    expect(be).toEqual(hex('05 00 02 03', '00 00 00 00', '01 02', '00 10', '12 34 56 78'));
  });
});

describe('framePdu', () => {
  it('needs 10 bytes, then the whole PDU', () => {
    const f = new FrameInfo();
    const buf = embed(BIND_HDR, 0, 200);
    expect(framePdu(buf, 0, 9, f)).toBe(NEED_MORE);
    expect(f.needed).toBe(10);
    expect(f.errReason).toBe(ERR_SHORT_PEEK);
    expect(framePdu(buf, 0, 10, f)).toBe(NEED_MORE);
    expect(f.needed).toBe(160);
    expect(f.errReason).toBe(ERR_PDU_INCOMPLETE);
    expect(f.pduLen).toBe(160);
    expect(framePdu(buf, 0, 159, f)).toBe(NEED_MORE);
    expect(framePdu(buf, 0, 160, f)).toBe(OK);
    expect(f.pduLen).toBe(160);
    expect(f.ptype).toBe(PTYPE_BIND);
    expect(f.littleEndian).toBe(true);
  });

  it('rejects a bad first byte as soon as it is present', () => {
    const f = new FrameInfo();
    const b = hex('16 03 01');
    expect(framePdu(b, 0, 1, f)).toBe(MALFORMED);
    expect(f.errReason).toBe(ERR_BAD_RPC_VERS);
    expect(f.errOffset).toBe(0);
    expect(framePdu(hex('00 05 07'), 1, 2, f)).toBe(MALFORMED);
    expect(f.errReason).toBe(ERR_BAD_RPC_VERS_MINOR);
    expect(f.errOffset).toBe(2);
  });

  it('rejects frag_length < 16 and above the bound', () => {
    const f = new FrameInfo();
    expect(framePdu(hex('05 00 00 03 10 00 00 00 0c 00'), 0, 10, f)).toBe(MALFORMED);
    expect(f.errReason).toBe(ERR_FRAG_LEN_SHORT);
    expect(f.errOffset).toBe(8);
    expect(framePdu(hex('05 00 00 03 10 00 00 00 01 10'), 0, 10, f, 4096)).toBe(MALFORMED);
    expect(f.errReason).toBe(ERR_FRAG_LEN_LONG);
    expect(MAX_FRAG_LEN).toBe(65535);
    expect(framePdu(hex('05 00 00 03 30 00 00 00 01 10'), 0, 10, f)).toBe(MALFORMED);
    expect(f.errReason).toBe(ERR_BAD_DREP);
  });

  it('reads frag_length big-endian when drep says so', () => {
    const f = new FrameInfo();
    expect(framePdu(hex('05 00 02 03 00 00 00 00 01 00'), 0, 10, f)).toBe(NEED_MORE);
    expect(f.needed).toBe(256);
    expect(f.littleEndian).toBe(false);
  });

  // A stream of several PDUs of both byte orders.
  const pdus = [
    encode(writeBind, { callId: 1, contexts: [{ ctxId: 0, abstract: { uuid: 'e1af8308-5d1f-11c9-91a4-08002b14a0fa', major: 3, minor: 0 }, transfer: [{ uuid: '8a885d04-1ceb-11c9-9fe8-08002b104860', version: 2 }] }] }),
    encode(writeRequest, { callId: 2, ctxId: 0, opnum: 3, stub: new Uint8Array(300).fill(1) }),
    encode(writeResponse, { callId: 2, ctxId: 0, stub: new Uint8Array(17).fill(2), littleEndian: false }),
    encode(writeShutdown, { callId: 0 }),
    encode(writeRequest, { callId: 3, ctxId: 0, opnum: 4, stub: new Uint8Array(0), littleEndian: false }),
  ];
  const stream = new Uint8Array(pdus.reduce((n, p) => n + p.length, 0));
  {
    let o = 0;
    for (const p of pdus) {
      stream.set(p, o);
      o += p.length;
    }
  }

  /** Feeds `chunks` to a framer the way the stream layer would, returning the PDUs found. */
  function frameChunks(chunks: Uint8Array[]): number[][] {
    const f = new FrameInfo();
    let pending = new Uint8Array(0);
    const found: number[][] = [];
    for (const c of chunks) {
      const merged = new Uint8Array(pending.length + c.length);
      merged.set(pending);
      merged.set(c, pending.length);
      let off = 0;
      for (;;) {
        const st = framePdu(merged, off, merged.length - off, f);
        if (st !== OK) {
          expect(st).toBe(NEED_MORE);
          break;
        }
        found.push([f.pduLen, f.ptype]);
        off += f.pduLen;
      }
      pending = merged.slice(off);
    }
    expect(pending.length).toBe(0);
    return found;
  }

  it('frames a stream delivered in one piece', () => {
    expect(frameChunks([stream])).toEqual([
      [pdus[0]!.length, PTYPE_BIND], [324, PTYPE_REQUEST], [41, PTYPE_RESPONSE], [16, PTYPE_SHUTDOWN], [24, PTYPE_REQUEST],
    ]);
  });

  it('property: any split of the stream gives the same PDU list', () => {
    const whole = frameChunks([stream]);
    fc.assert(fc.property(fc.uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 40 }), (cuts) => {
      const sorted = [...cuts].sort((a, b) => a - b);
      const chunks: Uint8Array[] = [];
      let prev = 0;
      for (const c of sorted) {
        chunks.push(stream.slice(prev, c));
        prev = c;
      }
      chunks.push(stream.slice(prev));
      expect(frameChunks(chunks)).toEqual(whole);
    }));
  });

  it('property: byte-at-a-time delivery finds the same PDUs', () => {
    const chunks = Array.from(stream, (b) => Uint8Array.of(b));
    expect(frameChunks(chunks)).toEqual(frameChunks([stream]));
  });
});

/**
 * CoStream, the one PDU reader of a DCE/RPC byte stream (EPM leg, mapped leg, rpcgw inspect):
 * however TCP cuts the stream, the same PDUs come out, each at the right sequence number, with
 * the auth_level of its trailer; junk is reported in the segment that carries it; nothing throws.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  CO_ERROR, CO_FRAMED, CO_HEADER, CO_INCOMPLETE, CO_PDU, CO_STATE_WORDS, CoStream, coEndResponse, coSkipBody,
} from '../../src/dcerpc/co-stream.js';
import { encode, writeBind, writeRequest, writeResponse, writeShutdown } from '../../src/dcerpc/pdu-write.js';
import { PTYPE_BIND, PTYPE_REQUEST, PTYPE_RESPONSE, PTYPE_SHUTDOWN } from '../../src/dcerpc/constants.js';
import { ERR_BAD_RPC_VERS, ERR_FRAG_LEN_SHORT } from '../../src/dcerpc/reasons.js';
import { FrameInfo, framePdu } from '../../src/dcerpc/framer.js';
import { MALFORMED } from '../../src/wire/status.js';
import { hex } from './bytes.js';
import { concat } from '../pcap/bytes.js';

const EPM = { uuid: 'e1af8308-5d1f-11c9-91a4-08002b14a0fa', major: 3, minor: 0 };
const NDR = { uuid: '8a885d04-1ceb-11c9-9fe8-08002b104860', version: 2 };
const NTLM = 10;

/** bind, a request sealed at level 6, a big-endian response at level 5, a shutdown, a request of 300 bytes. */
const PDUS: Uint8Array[] = [
  encode(writeBind, { callId: 1, contexts: [{ ctxId: 0, abstract: EPM, transfer: [NDR] }] }),
  encode(writeRequest, { callId: 2, ctxId: 0, opnum: 3, stub: new Uint8Array(40).fill(1), auth: { type: NTLM, level: 6, value: new Uint8Array(16).fill(9) } }),
  encode(writeResponse, { callId: 2, ctxId: 0, stub: new Uint8Array(17).fill(2), littleEndian: false, auth: { type: NTLM, level: 5, value: new Uint8Array(16).fill(7) } }),
  encode(writeShutdown, { callId: 0 }),
  encode(writeRequest, { callId: 3, ctxId: 0, opnum: 4, stub: new Uint8Array(300).fill(3) }),
];
const PTYPES = [PTYPE_BIND, PTYPE_REQUEST, PTYPE_RESPONSE, PTYPE_SHUTDOWN, PTYPE_REQUEST];
const AUTH_LEVELS = [-1, 6, 5, -1, -1];
const STREAM = concat(...PDUS);
/** Where each PDU of STREAM ends. */
const PDU_ENDS = PDUS.map((_, i) => PDUS.slice(0, i + 1).reduce((n, p) => n + p.length, 0));
const SEQ0 = 0xfffffff0; // the PDUs straddle the sequence-number wrap

interface Seen {
  ptype: number;
  startSeq: number;
  authLevel: number;
  bytes: Uint8Array;
  inPlace: boolean;
}

/** Feeds STREAM cut at `cuts`, each chunk placed at an offset of its own buffer (as in a frame). */
function read(cuts: number[], keep: boolean): { pdus: Seen[]; events: number[]; left: number } {
  const s = new CoStream();
  const pdus: Seen[] = [];
  const events: number[] = [];
  const bounds = [0, ...cuts.filter((c) => c > 0 && c < STREAM.length).sort((a, b) => a - b), STREAM.length];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const from = bounds[i]!;
    const n = bounds[i + 1]! - from;
    if (n === 0) continue;
    const frame = new Uint8Array(n + 54).fill(0xa5);
    frame.set(STREAM.subarray(from, from + n), 54);
    s.begin(frame, 54, n, (SEQ0 + from) >>> 0);
    for (;;) {
      const ev = s.next();
      events.push(ev);
      if (ev === CO_INCOMPLETE) {
        expect(s.consumed).toBe(n);
        break;
      }
      if (ev === CO_FRAMED && keep) s.keepWhole();
      if (ev === CO_PDU) {
        const bytes = keep ? s.pduBuf.slice(s.pduOff, s.pduOff + s.fragLen) : new Uint8Array(0);
        pdus.push({ ptype: s.ptype, startSeq: s.startSeq, authLevel: s.authLevel, bytes, inPlace: s.pduBuf === frame });
      }
      expect(ev).not.toBe(CO_ERROR);
    }
  }
  return { pdus, events, left: s.pos };
}

function startSeqs(): number[] {
  let o = 0;
  return PDUS.map((p) => {
    const at = (SEQ0 + o) >>> 0;
    o += p.length;
    return at;
  });
}

describe('CoStream: PDUs out of a byte stream', () => {
  it('the whole stream in one chunk: every PDU read in place, framed then header then PDU', () => {
    const r = read([], true);
    expect(r.pdus.map((p) => p.ptype)).toEqual(PTYPES);
    expect(r.pdus.map((p) => p.bytes)).toEqual(PDUS);
    expect(r.pdus.every((p) => p.inPlace)).toBe(true);
    expect(r.pdus.map((p) => p.startSeq)).toEqual(startSeqs());
    expect(r.pdus.map((p) => p.authLevel)).toEqual(AUTH_LEVELS);
    expect(r.events).toEqual([...PDUS.flatMap(() => [CO_FRAMED, CO_HEADER, CO_PDU]), CO_INCOMPLETE]);
    expect(r.left).toBe(0);
  });

  it('one byte a chunk: the same PDUs, copied (none lies in one chunk)', () => {
    const r = read(Array.from({ length: STREAM.length }, (_, i) => i), true);
    expect(r.pdus.map((p) => p.bytes)).toEqual(PDUS);
    expect(r.pdus.some((p) => p.inPlace)).toBe(false);
    expect(r.pdus.map((p) => p.authLevel)).toEqual(AUTH_LEVELS);
    expect(r.pdus.map((p) => p.startSeq)).toEqual(startSeqs());
  });

  it('any cut: the same PDUs, sequence numbers and auth levels, kept or only counted', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: STREAM.length }), { maxLength: 40 }), fc.boolean(), (cuts, keep) => {
        const r = read(cuts, keep);
        expect(r.pdus.map((p) => p.ptype)).toEqual(PTYPES);
        if (keep) expect(r.pdus.map((p) => p.bytes)).toEqual(PDUS);
        expect(r.pdus.map((p) => p.startSeq)).toEqual(startSeqs());
        expect(r.pdus.map((p) => p.authLevel)).toEqual(AUTH_LEVELS);
        expect(r.left).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('says what it needs next: incomplete(consumed, needed) through the peek, the header and the body', () => {
    const s = new CoStream();
    const req = PDUS[4]!; // 324 bytes, no auth
    s.begin(req, 0, 4, 100);
    expect(s.next()).toBe(CO_INCOMPLETE);
    expect([s.consumed, s.needed, s.pos]).toEqual([4, 6, 4]);
    s.begin(req, 4, 16, 104);
    expect(s.next()).toBe(CO_FRAMED);
    expect([s.consumed, s.fragLen, s.ptype, s.littleEndian]).toEqual([6, 324, PTYPE_REQUEST, true]);
    expect(s.next()).toBe(CO_INCOMPLETE);
    expect([s.consumed, s.needed]).toEqual([16, 4]); // 20 of the 24 header bytes
    s.begin(req, 20, 100, 120);
    expect(s.next()).toBe(CO_HEADER);
    expect(s.hdrU16(22)).toBe(4); // opnum
    expect(s.authLen).toBe(0);
    expect(s.next()).toBe(CO_INCOMPLETE);
    expect([s.consumed, s.needed, s.pos]).toEqual([100, 204, 120]);
    s.begin(req, 120, 204, 220);
    expect(s.next()).toBe(CO_PDU);
    expect(s.startSeq).toBe(100);
    expect(s.next()).toBe(CO_INCOMPLETE);
    expect(s.pos).toBe(0);
  });

  it('nextPdu (a reader that keeps every PDU): only whole PDUs, in place or copied', () => {
    const s = new CoStream();
    const cut = PDUS[0]!.length + 30; // the second PDU spans two chunks
    const got: Uint8Array[] = [];
    for (const [from, to] of [[0, cut], [cut, STREAM.length]] as const) {
      s.begin(STREAM, from, to - from, from);
      for (let ev = s.nextPdu(); ev !== CO_INCOMPLETE; ev = s.nextPdu()) {
        expect(ev).toBe(CO_PDU);
        got.push(s.pduBuf.slice(s.pduOff, s.pduOff + s.fragLen));
      }
    }
    expect(got).toEqual(PDUS);
  });

  it('a PDU shorter than 24 bytes: header and PDU on the same byte', () => {
    const s = new CoStream();
    s.begin(PDUS[3]!, 0, 16, 0);
    expect([s.next(), s.next(), s.next(), s.next()]).toEqual([CO_FRAMED, CO_HEADER, CO_PDU, CO_INCOMPLETE]);
  });
});

describe('CoStream: what does not frame', () => {
  it('a bad rpc_vers is reported with the first byte, not after ten', () => {
    const s = new CoStream();
    s.begin(hex('04'), 0, 1, 0);
    expect(s.next()).toBe(CO_ERROR);
    expect(s.errOffset).toBe(0);
    expect(s.errReason).toBe(ERR_BAD_RPC_VERS);
  });

  it('frag_length below 16 is refused at its offset', () => {
    const s = new CoStream();
    const h = hex('05 00 00 03', '10 00 00 00', '0f 00', '00 00');
    s.begin(h, 0, h.length, 0);
    expect(s.next()).toBe(CO_ERROR);
    expect([s.errOffset, s.errReason]).toEqual([8, ERR_FRAG_LEN_SHORT]);
  });

  it('skipChunk drops the rest of the chunk: the next chunk starts a PDU', () => {
    const s = new CoStream();
    const junk = hex('ff ff ff ff ff');
    s.begin(junk, 0, junk.length, 0);
    expect(s.next()).toBe(CO_ERROR);
    s.skipChunk();
    expect(s.pos).toBe(0);
    s.begin(PDUS[0]!, 0, PDUS[0]!.length, 5);
    expect([s.next(), s.next(), s.next()]).toEqual([CO_FRAMED, CO_HEADER, CO_PDU]);
    expect(s.startSeq).toBe(5);
  });

  it('property: the first ten bytes, however cut, frame exactly as framePdu says (verdict, frag_length, ptype, byte order, error place)', () => {
    // Each header byte either valid or any value, so both the framing and every refusal are drawn.
    const byte = (valid: number[]): fc.Arbitrary<number> => fc.oneof(fc.constantFrom(...valid), fc.integer({ min: 0, max: 255 }));
    const header = fc.tuple(
      byte([5]), byte([0, 1]), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), byte([0x10, 0x00, 0x11, 0x01]),
      fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }),
      byte([0, 16, 24]), byte([0, 16, 24]),
    );
    fc.assert(
      fc.property(header, fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 10 }), (bytes, sizes) => {
        const h = Uint8Array.from(bytes);
        const f = new FrameInfo();
        const want = framePdu(h, 0, h.length, f);
        const s = new CoStream();
        let at = 0;
        let ev = CO_INCOMPLETE;
        for (let k = 0; at < h.length && ev === CO_INCOMPLETE; k++) {
          const n = Math.min(sizes[k % sizes.length]!, h.length - at);
          s.begin(h, at, n, at);
          ev = s.next();
          at += s.consumed;
        }
        if (want === MALFORMED) {
          expect(ev).toBe(CO_ERROR);
          expect([s.errOffset, s.errReason]).toEqual([f.errOffset, f.errReason]);
        } else {
          expect(ev).toBe(CO_FRAMED);
          expect([s.fragLen, s.ptype, s.littleEndian]).toEqual([f.pduLen, f.ptype, f.littleEndian]);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('random bytes, cut anywhere: never throws, every event is one of the five', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }), (bytes, sizes) => {
        const s = new CoStream();
        let at = 0;
        for (let k = 0; at < bytes.length; k++) {
          const n = Math.min(sizes[k % sizes.length]!, bytes.length - at);
          s.begin(bytes, at, n, at);
          for (let guard = 0; guard < 1000; guard++) {
            const ev = s.next();
            expect([CO_INCOMPLETE, CO_FRAMED, CO_HEADER, CO_PDU, CO_ERROR]).toContain(ev);
            if (ev === CO_FRAMED) s.keepWhole();
            if (ev === CO_ERROR) s.skipChunk();
            if (ev === CO_INCOMPLETE || ev === CO_ERROR) break;
          }
          at += n;
        }
      }),
      { numRuns: 300 },
    );
  });
});

/**
 * Cuts STREAM into random chunks and runs each through a saved-cursor shortcut (on a copy of the
 * row) and through the general path (load, begin, next until CO_INCOMPLETE or CO_ERROR, save; a
 * PDU reset, binds kept whole when `keepBinds`); when the shortcut took the chunk, `check` gets the
 * general path's events, the PDU types it framed, and both rows. Fails when the shortcut took no
 * chunk at all (a shortcut never taken would agree with anything).
 */
function shortcutAgainstGeneralPath(
  shortcut: (rows: Int32Array, at: number, n: number) => boolean,
  check: (events: number[], ptypes: number[], rows: Int32Array, fast: Int32Array) => void,
): void {
  let taken = 0;
  fc.assert(
    // A cut at a PDU's end often (a shortcut that ends a PDU is taken only there), else anywhere.
    fc.property(fc.array(fc.oneof(fc.nat(STREAM.length), fc.constantFrom(...PDU_ENDS)), { maxLength: 40 }), fc.boolean(), (cuts, keepBinds) => {
      const s = new CoStream();
      const rows = new Int32Array(CO_STATE_WORDS + 2).fill(0x5a5a5a5a);
      rows.fill(0, 1, 1 + CO_STATE_WORDS); // the cursor's row at 1, between guard words
      let copy: Uint8Array | null = null;
      const bounds = [0, ...cuts.filter((c) => c > 0).sort((a, b) => a - b), STREAM.length];
      for (let i = 0; i + 1 < bounds.length; i++) {
        const n = bounds[i + 1]! - bounds[i]!;
        if (n === 0) continue;
        const fast = rows.slice();
        const took = shortcut(fast, 1, n);
        if (!took) expect(fast).toEqual(rows);
        const buf = new Uint8Array(n + 5).fill(0xa5);
        buf.set(STREAM.subarray(bounds[i]!, bounds[i]! + n), 3);
        s.load(rows, 1, copy);
        s.begin(buf, 3, n, (SEQ0 + bounds[i]!) >>> 0);
        const events: number[] = [];
        const ptypes: number[] = [];
        for (let ev = s.next(); ; ev = s.next()) {
          events.push(ev);
          if (ev === CO_INCOMPLETE || ev === CO_ERROR) break;
          if (ev === CO_FRAMED && keepBinds && s.ptype === PTYPE_BIND) s.keepWhole();
          if (ev === CO_PDU) {
            ptypes.push(s.ptype);
            s.reset();
          }
        }
        copy = s.save(rows, 1);
        if (took) {
          taken++;
          check(events, ptypes, rows, fast);
        }
      }
    }),
    { numRuns: 500 },
  );
  expect(taken, 'chunks the shortcut took').toBeGreaterThan(0);
}

describe('coSkipBody: the body-bytes fast path on a saved cursor', () => {
  it('property: when it takes a chunk, the row is what load, begin, next and save leave, and next saw nothing but CO_INCOMPLETE', () => {
    shortcutAgainstGeneralPath(coSkipBody, (events, _ptypes, rows, fast) => {
      expect(events).toEqual([CO_INCOMPLETE]);
      expect(rows).toEqual(fast);
    });
  });

  it('leaves alone a chunk that ends the PDU or carries its auth_level', () => {
    const s = new CoStream();
    const rows = new Int32Array(CO_STATE_WORDS);
    const sealed = PDUS[1]!; // auth_level at fragLen - 16 - 8 + 1
    s.begin(sealed, 0, 30, 0);
    while (s.next() !== CO_INCOMPLETE);
    s.save(rows, 0);
    const at = sealed.length - 16 - 8 + 1;
    expect(coSkipBody(rows.slice(), 0, at - 30)).toBe(true); // up to the byte before auth_level
    expect(coSkipBody(rows.slice(), 0, at - 30 + 1)).toBe(false); // the auth_level byte
    const plain = PDUS[4]!;
    s.reset();
    s.begin(plain, 0, 30, 0);
    while (s.next() !== CO_INCOMPLETE);
    s.save(rows, 0);
    expect(coSkipBody(rows.slice(), 0, plain.length - 31)).toBe(true);
    expect(coSkipBody(rows.slice(), 0, plain.length - 30)).toBe(false); // its last byte: CO_PDU is due
  });
});

describe('CoStream: header words however the stream is cut', () => {
  /**
   * Every event but CO_INCOMPLETE with the cursor's state and the 24 header bytes, for a stream
   * fed in chunks of `sizes` (cycled). Chunks of one byte never take takeHeader's whole-word
   * step (nor any shortcut that needs the header in one chunk): the reference.
   * A PDU is kept whole when its index in the stream is odd; the trace ends at a CO_ERROR.
   */
  function trace(stream: Uint8Array, sizes: number[]): string[] {
    const s = new CoStream();
    const out: string[] = [];
    let pdu = 0;
    let at = 0;
    for (let k = 0; at < stream.length; k++) {
      const n = Math.min(sizes[k % sizes.length]!, stream.length - at);
      const frame = new Uint8Array(n + 7).fill(0xa5);
      frame.set(stream.subarray(at, at + n), 7);
      s.begin(frame, 7, n, at);
      for (;;) {
        const ev = s.next();
        if (ev === CO_INCOMPLETE) break;
        if (ev === CO_ERROR) {
          // Where the junk is and why; how many bytes were taken, and what follows, depend on the cut.
          out.push(`error ${s.errOffset} ${s.errReason}`);
          return out;
        }
        const hdr = Array.from({ length: 24 }, (_, i) => s.hdrByte(i)).join(',');
        out.push(`${ev} pos=${s.pos} frag=${s.fragLen} ptype=${s.ptype} le=${s.littleEndian} auth=${s.authLen}/${s.authLevel} seq=${s.startSeq} hdr=${hdr}`);
        if (ev === CO_FRAMED && (pdu & 1) === 1) s.keepWhole();
        if (ev === CO_PDU) {
          if ((pdu & 1) === 1) out.push(Array.from(s.pduBuf.subarray(s.pduOff, s.pduOff + s.fragLen)).join(','));
          pdu++;
        }
      }
      at += n;
    }
    return out;
  }

  it('property: any cut gives the events, state and header bytes that one byte a chunk gives', () => {
    const pdu = fc.constantFrom(...PDUS);
    const edit = fc.tuple(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 255 }));
    fc.assert(
      fc.property(fc.array(pdu, { minLength: 1, maxLength: 6 }), fc.array(edit, { maxLength: 3 }),
        fc.array(fc.integer({ min: 1, max: 80 }), { minLength: 1, maxLength: 12 }), (pdus, edits, sizes) => {
          const stream = concat(...pdus);
          // A few header bytes changed: short PDUs (frag_length < 24), other byte orders, junk.
          for (const [i, b] of edits) if (i < stream.length) stream[i] = b;
          expect(trace(stream, sizes)).toEqual(trace(stream, [1]));
        }),
      { numRuns: 1500 },
    );
  });
});

describe('coEndResponse: the last segment of a response on a saved cursor', () => {
  it('property: when it takes a chunk, next saw CO_PDU of a response then CO_INCOMPLETE, and the row is what load, begin, next, reset and save leave', () => {
    shortcutAgainstGeneralPath(coEndResponse, (events, ptypes, rows, fast) => {
      expect(events).toEqual([CO_PDU, CO_INCOMPLETE]);
      expect(ptypes).toEqual([PTYPE_RESPONSE]);
      expect(rows).toEqual(fast);
    });
  });

  it('leaves alone a chunk that ends a request, or stops short of the response\'s end or runs past it', () => {
    const s = new CoStream();
    const rows = new Int32Array(CO_STATE_WORDS);
    const resp = PDUS[2]!;
    s.begin(resp, 0, 30, 0);
    while (s.next() !== CO_INCOMPLETE);
    s.save(rows, 0);
    expect(coEndResponse(rows.slice(), 0, resp.length - 31)).toBe(false);
    expect(coEndResponse(rows.slice(), 0, resp.length - 29)).toBe(false);
    expect(coEndResponse(rows.slice(), 0, resp.length - 30)).toBe(true);
    const req = PDUS[4]!;
    s.load(new Int32Array(CO_STATE_WORDS), 0, null);
    s.begin(req, 0, 30, 0);
    while (s.next() !== CO_INCOMPLETE);
    s.save(rows, 0);
    expect(coEndResponse(rows.slice(), 0, req.length - 30)).toBe(false);
  });
});

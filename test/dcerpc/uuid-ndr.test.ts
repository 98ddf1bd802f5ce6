import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  UUID_NDR, UUID_NDR64, UUID_EPM, UUID_BTFN_WINDOWS, isBtfnUuid, PTYPE_NAMES, PTYPE_RTS, PTYPE_BIND,
  UUID_BIND_NAK_EEINFO_SIGNATURE,
} from '../../src/dcerpc/constants.js';
import {
  uuidToString, parseUuid, uuidEquals, uuidEqualsAcrossOrder, copyUuid, copyUuidToLE, uuidBytes,
} from '../../src/dcerpc/uuid.js';
import { rd16, rd32, rd64lo, wr16, wr32, wr64, align } from '../../src/dcerpc/ndr.js';
import { hex } from './bytes.js';

describe('well-known UUID constants (wire form, little-endian)', () => {
  it('match their text forms', () => {
    expect(uuidToString(UUID_NDR, 0)).toBe('8a885d04-1ceb-11c9-9fe8-08002b104860');
    expect(uuidToString(UUID_NDR64, 0)).toBe('71710533-beba-4937-8319-b5dbef9ccc36');
    expect(uuidToString(UUID_EPM, 0)).toBe('e1af8308-5d1f-11c9-91a4-08002b14a0fa');
    expect(uuidToString(UUID_BTFN_WINDOWS, 0)).toBe('6cb71c2c-9812-4540-0300-000000000000');
    expect(uuidToString(UUID_BIND_NAK_EEINFO_SIGNATURE, 0)).toBe('90740320-fad0-11d3-82d7-009027b130ab');
  });

  it('equal the byte strings of protocol-notes C.1/C.2/B', () => {
    expect(UUID_NDR).toEqual(hex('04 5d 88 8a eb 1c c9 11 9f e8 08 00 2b 10 48 60'));
    expect(UUID_NDR64).toEqual(hex('33 05 71 71 ba be 37 49 83 19 b5 db ef 9c cc 36'));
    expect(UUID_EPM).toEqual(hex('08 83 af e1 1f 5d c9 11 91 a4 08 00 2b 14 a0 fa'));
  });

  it('PTYPE_NAMES is indexed by PTYPE', () => {
    expect(PTYPE_NAMES[PTYPE_BIND]).toBe('bind');
    expect(PTYPE_NAMES[PTYPE_RTS]).toBe('rts');
    expect(PTYPE_NAMES[0]).toBe('request');
  });
});

describe('isBtfnUuid', () => {
  it('recognises any 6cb71c2c-9812-4540-* in either byte order', () => {
    expect(isBtfnUuid(UUID_BTFN_WINDOWS, 0)).toBe(true);
    expect(isBtfnUuid(hex('00', '2c 1c b7 6c 12 98 40 45 01 00 00 00 00 00 00 00'), 1)).toBe(true);
    expect(isBtfnUuid(hex('6c b7 1c 2c 98 12 45 40 03 00 00 00 00 00 00 00'), 0, false)).toBe(true);
    expect(isBtfnUuid(UUID_NDR, 0)).toBe(false);
    // the big-endian form is not BTFN when read as little-endian
    expect(isBtfnUuid(hex('6c b7 1c 2c 98 12 45 40 03 00 00 00 00 00 00 00'), 0)).toBe(false);
  });
});

describe('uuid text and byte order', () => {
  it('parses into LE and BE wire forms', () => {
    const le = new Uint8Array(18).fill(0xa5);
    expect(parseUuid('E1AF8308-5D1F-11C9-91A4-08002B14A0FA', le, 1)).toBe(true);
    expect(le.subarray(1, 17)).toEqual(UUID_EPM);
    expect(le[0]).toBe(0xa5);
    expect(le[17]).toBe(0xa5);
    const be = new Uint8Array(16);
    expect(parseUuid('{e1af8308-5d1f-11c9-91a4-08002b14a0fa}', be, 0, false)).toBe(true);
    expect(be).toEqual(hex('e1 af 83 08 5d 1f 11 c9 91 a4 08 00 2b 14 a0 fa'));
    expect(uuidToString(be, 0, false)).toBe('e1af8308-5d1f-11c9-91a4-08002b14a0fa');
  });

  it('rejects malformed text without writing', () => {
    const out = new Uint8Array(16).fill(7);
    expect(parseUuid('e1af8308-5d1f-11c9-91a4-08002b14a0f', out, 0)).toBe(false);
    expect(parseUuid('e1af8308x5d1f-11c9-91a4-08002b14a0fa', out, 0)).toBe(false);
    expect(parseUuid('g1af8308-5d1f-11c9-91a4-08002b14a0fa', out, 0)).toBe(false);
    expect(parseUuid('e1af8308-5d1f-11c9-91a4-08002b14a0fa', out, 1)).toBe(false);
    expect(out.every((b) => b === 7)).toBe(true);
    expect(() => uuidBytes('nope')).toThrow('not a UUID: nope');
  });

  it('compares across byte orders', () => {
    const be = uuidBytes('e1af8308-5d1f-11c9-91a4-08002b14a0fa', false);
    expect(uuidEquals(be, 0, UUID_EPM, 0)).toBe(false);
    expect(uuidEqualsAcrossOrder(be, 0, false, UUID_EPM, 0, true)).toBe(true);
    expect(uuidEqualsAcrossOrder(UUID_EPM, 0, true, be, 0, false)).toBe(true);
    expect(uuidEqualsAcrossOrder(be, 0, false, UUID_NDR, 0, true)).toBe(false);
    const le = new Uint8Array(16);
    copyUuidToLE(be, 0, false, le, 0);
    expect(le).toEqual(UUID_EPM);
  });

  it('property: text -> bytes -> text round-trips in both orders; copyUuid converts', () => {
    fc.assert(fc.property(fc.uuid(), fc.boolean(), (text, little) => {
      const b = new Uint8Array(16);
      expect(parseUuid(text, b, 0, little)).toBe(true);
      expect(uuidToString(b, 0, little)).toBe(text.toLowerCase());
      const other = new Uint8Array(16);
      copyUuid(b, 0, little, other, 0, !little);
      expect(uuidToString(other, 0, !little)).toBe(text.toLowerCase());
      expect(uuidEqualsAcrossOrder(b, 0, little, other, 0, !little)).toBe(true);
    }));
  });
});

describe('ndr integer helpers', () => {
  it('read both byte orders, u32 unsigned', () => {
    const b = hex('01 02 03 04 ff ff ff ff');
    expect(rd16(b, 0, true)).toBe(0x0201);
    expect(rd16(b, 0, false)).toBe(0x0102);
    expect(rd32(b, 0, true)).toBe(0x04030201);
    expect(rd32(b, 0, false)).toBe(0x01020304);
    expect(rd32(b, 4, true)).toBe(0xffffffff);
  });

  it('rd64lo returns a number below 2^53 and -1 above', () => {
    expect(rd64lo(hex('4b 00 00 00 00 00 00 00'), 0, true)).toBe(75);
    expect(rd64lo(hex('00 00 00 00 00 00 00 4b'), 0, false)).toBe(75);
    expect(rd64lo(hex('ff ff ff ff ff ff 1f 00'), 0, true)).toBe(2 ** 53 - 1);
    expect(rd64lo(hex('00 00 00 00 00 00 20 00'), 0, true)).toBe(-1);
    expect(rd64lo(hex('ff ff ff ff ff ff ff ff'), 0, true)).toBe(-1);
  });

  it('writes mirror reads', () => {
    const b = new Uint8Array(8).fill(0xa5);
    expect(wr16(b, 0, 0x1234, true)).toBe(2);
    expect(b.subarray(0, 2)).toEqual(hex('34 12'));
    wr16(b, 0, 0x1234, false);
    expect(b.subarray(0, 2)).toEqual(hex('12 34'));
    expect(wr32(b, 0, 0xdeadbeef, true)).toBe(4);
    expect(b.subarray(0, 4)).toEqual(hex('ef be ad de'));
    wr32(b, 0, 0xdeadbeef, false);
    expect(b.subarray(0, 4)).toEqual(hex('de ad be ef'));
    expect(wr64(b, 0, 2 ** 40 + 5, true)).toBe(8);
    expect(b).toEqual(hex('05 00 00 00 00 01 00 00'));
    wr64(b, 0, 2 ** 40 + 5, false);
    expect(b).toEqual(hex('00 00 01 00 00 00 00 05'));
  });

  it('property: wr/rd round trip', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 53 - 1 }), fc.boolean(), (v, le) => {
      const b = new Uint8Array(8);
      wr64(b, 0, v, le);
      expect(rd64lo(b, 0, le)).toBe(v);
      wr32(b, 0, v >>> 0, le);
      expect(rd32(b, 0, le)).toBe(v >>> 0);
    }));
  });

  it('align pads relative to the stub start', () => {
    expect(align(24, 24, 8)).toBe(24);
    expect(align(25, 24, 8)).toBe(32);
    expect(align(107, 0, 4)).toBe(108);
    expect(align(30, 0, 4)).toBe(32);
    expect(align(31, 3, 4)).toBe(31);
    expect(align(32, 3, 4)).toBe(35);
  });
});

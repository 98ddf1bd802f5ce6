/**
 * src/exchange/push-notification.ts: the EcRRegisterPushNotification (EMSMDB opnum 4) request
 * stub and the Windows SOCKADDR inside it (protocol-notes §E.1). Byte vectors annotated field by
 * field, both NDR byte orders and NDR64, IPv6 (family 23), counts that lie, truncations with
 * exact statuses, reasons and absolute offsets; random bytes never throw.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MALFORMED, OK } from '../../src/wire/status.js';
import {
  AF_INET, AF_INET6_WINDOWS, PushRegistrationView, R_PUSH_CONTEXT_TOO_LONG, R_PUSH_COUNT_HUGE, R_PUSH_COUNT_MISMATCH,
  R_PUSH_TRAILING, R_PUSH_TRUNCATED, encodeRegisterPushNotification, readRegisterPushNotification, sockaddrIn,
} from '../../src/exchange/push-notification.js';
import { sockaddrIn6 } from '../helpers/policy-harness.js';

/** Bytes from a hex string with spaces/newlines and `//` comments. */
function hx(text: string): Uint8Array {
  const clean = text.replace(/\/\/[^\n]*/g, '').replace(/\s+/g, '');
  return Uint8Array.from(clean.match(/../g) ?? [], (b) => parseInt(b, 16));
}

const HANDLE = '00000000 11111111111111111111111111111111';

/** NDR, little-endian: rgbContext 8 bytes, callback 10.1.2.3:5555. Offsets are stub offsets. */
const NDR_LE = hx(`
  ${HANDLE}                // 0  pcxh: attributes u32 + UUID (20 bytes, opaque)
  00000000                 // 20 iRpc u32 = 0
  08000000                 // 24 rgbContext max_count u32 LE = 8
  c0c1c2c3c4c5c6c7         // 28 rgbContext (what the server's datagram will carry)
  0800                     // 36 cbContext u16 LE = 8
  0000                     // 38 pad to 4
  ffffffff                 // 40 grbitAdviseBits u32 = 0xffffffff
  10000000                 // 44 rgbCallbackAddress max_count u32 LE = 16
  0200                     // 48 sa_family u16 LITTLE-endian = 2 (AF_INET)
  15b3                     // 50 sin_port u16 BIG-endian = 5555
  0a010203                 // 52 sin_addr 10.1.2.3
  0000000000000000         // 56 sin_zero
  1000                     // 64 cbCallbackAddress u16 LE = 16
`);

/** The same call with drep big-endian: NDR integers flip, the SOCKADDR bytes do not. */
const NDR_BE = hx(`
  ${HANDLE}                // 0  pcxh
  00000000                 // 20 iRpc
  00000008                 // 24 max_count u32 BE = 8
  c0c1c2c3c4c5c6c7         // 28 rgbContext
  0008                     // 36 cbContext u16 BE
  0000                     // 38 pad
  ffffffff                 // 40 grbitAdviseBits
  00000010                 // 44 max_count u32 BE = 16
  0200 15b3 0a010203 0000000000000000  // 48 SOCKADDR_IN: family still LE, port still BE
  0010                     // 64 cbCallbackAddress u16 BE
`);

/** rgbContext of 5 bytes: the u16 after it needs one pad byte, the u32 after that none. */
const NDR_ODD_CONTEXT = hx(`
  ${HANDLE} 00000000       // 0 pcxh, 20 iRpc
  05000000                 // 24 max_count = 5
  c0c1c2c3c4               // 28 rgbContext
  00                       // 33 pad to 2
  0500                     // 34 cbContext = 5
  ffffffff                 // 36 grbitAdviseBits (already 4-aligned)
  10000000                 // 40 max_count = 16
  0200 0d05 c0a80107 0000000000000000  // 44 AF_INET, port 3333, 192.168.1.7
  1000                     // 60 cbCallbackAddress = 16
`);

/** NDR64: conformances are u64, 8-aligned; the rest keeps NDR alignment. */
const NDR64_LE = hx(`
  ${HANDLE} 00000000       // 0 pcxh, 20 iRpc
  0800000000000000         // 24 rgbContext max_count u64 = 8
  c0c1c2c3c4c5c6c7         // 32 rgbContext
  0800                     // 40 cbContext u16
  0000                     // 42 pad to 4
  ffffffff                 // 44 grbitAdviseBits
  1000000000000000         // 48 max_count u64 = 16 (already 8-aligned)
  0200 15b3 0a010203 0000000000000000  // 56 SOCKADDR_IN
  1000                     // 72 cbCallbackAddress
`);

/** IPv6 callback: family 23 (Windows AF_INET6), port BE, flowinfo, 2001:db8::5, scope id. */
const NDR_IPV6 = hx(`
  ${HANDLE} 00000000 08000000 c0c1c2c3c4c5c6c7 0800 0000 ffffffff  // 0..43 as NDR_LE
  1c000000                 // 44 max_count = 28
  1700                     // 48 sa_family = 23 LE
  15b3                     // 50 port 5555 BE
  00000000                 // 52 sin6_flowinfo
  20010db8000000000000000000000005  // 56 sin6_addr
  00000000                 // 72 sin6_scope_id
  1c00                     // 76 cbCallbackAddress = 28
`);

/** Decodes `stub` placed at offset 24 of a buffer pre-filled with 0xa5 (offsets are absolute). */
function decodeAt(stub: Uint8Array, ndr64 = false, le = true, base = 24): { st: number; v: PushRegistrationView } {
  const buf = new Uint8Array(base + stub.length + 8).fill(0xa5);
  buf.set(stub, base);
  const v = new PushRegistrationView();
  const st = readRegisterPushNotification(buf, base, stub.length, ndr64, le, v);
  return { st, v };
}

function fields(v: PushRegistrationView): Record<string, number> {
  return {
    contextOff: v.contextOff, contextLen: v.contextLen, adviseBits: v.adviseBits, callbackOff: v.callbackOff, callbackLen: v.callbackLen,
    family: v.family, port: v.port, portOff: v.portOff, ipv4: v.ipv4, ipv4Off: v.ipv4Off,
  };
}

describe('EcRRegisterPushNotification stub: well-formed', () => {
  it('NDR little-endian: every field and its absolute offset', () => {
    const { st, v } = decodeAt(NDR_LE);
    expect(st).toBe(OK);
    expect(fields(v)).toEqual({
      contextOff: 24 + 28, contextLen: 8, adviseBits: 0xffffffff, callbackOff: 24 + 48, callbackLen: 16,
      family: AF_INET, port: 5555, portOff: 24 + 50, ipv4: 0x0a010203, ipv4Off: 24 + 52,
    });
  });

  it('NDR big-endian: same fields; the SOCKADDR keeps its own byte orders (family LE, port BE)', () => {
    const { st, v } = decodeAt(NDR_BE, false, false);
    expect(st).toBe(OK);
    expect(fields(v)).toEqual(fields(decodeAt(NDR_LE).v));
  });

  it('the big-endian stub read as little-endian is refused: max_count 0x08000000 overruns the stub', () => {
    const { st, v } = decodeAt(NDR_BE, false, true);
    expect([st, v.errReason, v.errOffset]).toEqual([MALFORMED, R_PUSH_TRUNCATED, 24 + 28]);
  });

  it('rgbContext of 5 bytes: alignment pads counted from the stub start', () => {
    const { st, v } = decodeAt(NDR_ODD_CONTEXT, false, true, 0);
    expect(st).toBe(OK);
    expect(fields(v)).toEqual({
      contextOff: 28, contextLen: 5, adviseBits: 0xffffffff, callbackOff: 44, callbackLen: 16,
      family: AF_INET, port: 3333, portOff: 46, ipv4: 0xc0a80107, ipv4Off: 48,
    });
    // Alignment is relative to the stub, not the buffer: the same stub at an odd offset decodes the same.
    const odd = decodeAt(NDR_ODD_CONTEXT, false, true, 13);
    expect(odd.st).toBe(OK);
    expect(odd.v.portOff).toBe(13 + 46);
  });

  it('NDR64: u64 conformances, 8-aligned', () => {
    const { st, v } = decodeAt(NDR64_LE, true);
    expect(st).toBe(OK);
    expect(fields(v)).toEqual({
      contextOff: 24 + 32, contextLen: 8, adviseBits: 0xffffffff, callbackOff: 24 + 56, callbackLen: 16,
      family: AF_INET, port: 5555, portOff: 24 + 58, ipv4: 0x0a010203, ipv4Off: 24 + 60,
    });
  });

  it('IPv6 (family 23, 28 bytes): decodes OK with the family, and no IPv4 port/address to rewrite', () => {
    const { st, v } = decodeAt(NDR_IPV6);
    expect(st).toBe(OK);
    expect([v.family, v.callbackLen, v.portOff, v.ipv4Off]).toEqual([AF_INET6_WINDOWS, 28, -1, -1]);
    expect(AF_INET6_WINDOWS).toBe(23);
  });

  it('a callback too short for a SOCKADDR_IN: family known, no port; shorter than 2 bytes: family -1', () => {
    const short = encodeRegisterPushNotification({ context: new Uint8Array(4), callback: Uint8Array.of(2, 0, 0x15, 0xb3) });
    const a = decodeAt(short, false, true, 0);
    expect([a.st, a.v.family, a.v.portOff, a.v.ipv4Off, a.v.callbackLen]).toEqual([OK, AF_INET, -1, -1, 4]);
    const one = encodeRegisterPushNotification({ context: new Uint8Array(4), callback: Uint8Array.of(2) });
    const b = decodeAt(one, false, true, 0);
    expect([b.st, b.v.family, b.v.portOff]).toEqual([OK, -1, -1]);
    const none = encodeRegisterPushNotification({ context: new Uint8Array(0), callback: new Uint8Array(0) });
    const c = decodeAt(none, false, true, 0);
    expect([c.st, c.v.family, c.v.contextLen, c.v.callbackLen]).toEqual([OK, -1, 0, 0]);
  });

  it('a family written big-endian (02 as the second byte) is not AF_INET: 0x0200', () => {
    const cb = Uint8Array.of(0, 2, 0x15, 0xb3, 10, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0);
    const { st, v } = decodeAt(encodeRegisterPushNotification({ context: new Uint8Array(8), callback: cb }));
    expect([st, v.family, v.portOff]).toEqual([OK, 0x200, -1]);
  });

  it('a decoded view does not keep the previous decode\'s port (scratch reused)', () => {
    const v = new PushRegistrationView();
    expect(readRegisterPushNotification(NDR_LE, 0, NDR_LE.length, false, true, v)).toBe(OK);
    expect(v.portOff).toBe(50);
    expect(readRegisterPushNotification(NDR_IPV6, 0, NDR_IPV6.length, false, true, v)).toBe(OK);
    expect([v.family, v.portOff, v.ipv4Off]).toEqual([23, -1, -1]);
  });
});

describe('encoders', () => {
  it('sockaddrIn(5555, 10.1.2.3): family 02 00, port 15 b3, address, 8 zero bytes', () => {
    expect(Array.from(sockaddrIn(5555, 0x0a010203))).toEqual([0x02, 0x00, 0x15, 0xb3, 0x0a, 0x01, 0x02, 0x03, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('encodeRegisterPushNotification gives the annotated vectors, both byte orders', () => {
    const handle = hx(HANDLE);
    const context = hx('c0c1c2c3c4c5c6c7');
    const callback = sockaddrIn(5555, 0x0a010203);
    expect(Array.from(encodeRegisterPushNotification({ handle, context, callback }))).toEqual(Array.from(NDR_LE));
    expect(Array.from(encodeRegisterPushNotification({ handle, context, callback, littleEndian: false }))).toEqual(Array.from(NDR_BE));
    expect(Array.from(encodeRegisterPushNotification({ handle, context: hx('c0c1c2c3c4'), callback: sockaddrIn(3333, 0xc0a80107) }))).toEqual(Array.from(NDR_ODD_CONTEXT));
    const v6 = sockaddrIn6(5555, hx('20010db8000000000000000000000005'));
    expect(Array.from(encodeRegisterPushNotification({ handle, context, callback: v6 }))).toEqual(Array.from(NDR_IPV6));
  });

  it('round trip: encode → decode → the same context bytes and callback', () => {
    const context = Uint8Array.from({ length: 16 }, (_, i) => 0x40 + i);
    const stub = encodeRegisterPushNotification({ context, callback: sockaddrIn(65535, 0xfffffffe), adviseBits: 0x12345678 });
    const v = new PushRegistrationView();
    expect(readRegisterPushNotification(stub, 0, stub.length, false, true, v)).toBe(OK);
    expect(Array.from(stub.subarray(v.contextOff, v.contextOff + v.contextLen))).toEqual(Array.from(context));
    expect([v.adviseBits, v.port, v.ipv4]).toEqual([0x12345678, 65535, 0xfffffffe]);
  });
});

describe('EcRRegisterPushNotification stub: malformed', () => {
  /** A copy of `src` with bytes at `at` replaced. */
  const patched = (src: Uint8Array, at: number, bytes: number[]): Uint8Array => {
    const b = src.slice();
    b.set(bytes, at);
    return b;
  };

  it('rgbContext of 16 bytes is accepted, 17 is refused at cbContext (ecTooBig territory)', () => {
    const ok = encodeRegisterPushNotification({ context: new Uint8Array(16), callback: sockaddrIn(1, 1) });
    expect(decodeAt(ok).st).toBe(OK);
    // 17 context bytes: 28..44, pad at 45, cbContext at 46.
    const big = encodeRegisterPushNotification({ context: new Uint8Array(17), callback: sockaddrIn(1, 1) });
    const { st, v } = decodeAt(big);
    expect([st, v.errReason, v.errOffset]).toEqual([MALFORMED, R_PUSH_CONTEXT_TOO_LONG, 24 + 46]);
  });

  it('counts that lie', () => {
    const cases: [string, Uint8Array, string, number][] = [
      // rgbContext max_count 0x7fffffff: its bytes would run past the stub.
      ['context count huge', patched(NDR_LE, 24, [0xff, 0xff, 0xff, 0x7f]), R_PUSH_TRUNCATED, 28],
      ['context count 2^32-1', patched(NDR_LE, 24, [0xff, 0xff, 0xff, 0xff]), R_PUSH_TRUNCATED, 28],
      // cbContext 9 while max_count says 8.
      ['cbContext differs', patched(NDR_LE, 36, [0x09, 0x00]), R_PUSH_COUNT_MISMATCH, 36],
      // callback max_count 1000.
      ['callback count past the end', patched(NDR_LE, 44, [0xe8, 0x03, 0, 0]), R_PUSH_TRUNCATED, 48],
      // cbCallbackAddress 28 while max_count says 16.
      ['cbCallbackAddress differs', patched(NDR_LE, 64, [0x1c, 0x00]), R_PUSH_COUNT_MISMATCH, 64],
      // max_count 12 (shorter than the bytes): cbCallbackAddress is then read inside the address.
      ['callback count short', patched(NDR_LE, 44, [0x0c, 0, 0, 0]), R_PUSH_COUNT_MISMATCH, 60],
    ];
    for (const [label, stub, reason, off] of cases) {
      const { st, v } = decodeAt(stub);
      expect([label, st, v.errReason, v.errOffset]).toEqual([label, MALFORMED, reason, 24 + off]);
    }
  });

  it('NDR64: a conformance of 2^53 or more is refused as such; 2^40 as truncated', () => {
    const huge = patched(NDR64_LE, 24, [0, 0, 0, 0, 0, 0, 0x20, 0]); // hi word 0x00200000
    const a = decodeAt(huge, true);
    expect([a.st, a.v.errReason, a.v.errOffset]).toEqual([MALFORMED, R_PUSH_COUNT_HUGE, 24 + 24]);
    const big = patched(NDR64_LE, 48, [0, 0, 0, 0, 0, 1, 0, 0]); // callback count 2^40
    const b = decodeAt(big, true);
    expect([b.st, b.v.errReason, b.v.errOffset]).toEqual([MALFORMED, R_PUSH_TRUNCATED, 24 + 56]);
  });

  it('the NDR stub read as NDR64 (and back) is refused, not misread', () => {
    expect(decodeAt(NDR_LE, true).st).toBe(MALFORMED);
    expect(decodeAt(NDR64_LE, false).st).toBe(MALFORMED);
  });

  it('bytes after cbCallbackAddress are refused at the first extra byte', () => {
    const longer = new Uint8Array(NDR_LE.length + 2);
    longer.set(NDR_LE);
    const { st, v } = decodeAt(longer);
    expect([st, v.errReason, v.errOffset]).toEqual([MALFORMED, R_PUSH_TRAILING, 24 + 66]);
  });

  it('every truncation: MALFORMED, truncated, at the first field that does not fit', () => {
    // Where decoding stops, by stub length (NDR_LE is 66 bytes).
    const expectedOffset = (len: number): number => {
      if (len < 28) return 24; // rgbContext max_count
      if (len < 36) return 28; // rgbContext bytes
      if (len < 38) return 36; // cbContext
      if (len < 44) return 40; // grbitAdviseBits
      if (len < 48) return 44; // callback max_count
      if (len < 64) return 48; // callback bytes
      return 64; // cbCallbackAddress
    };
    for (let len = 0; len < NDR_LE.length; len++) {
      const { st, v } = decodeAt(NDR_LE.subarray(0, len));
      expect([len, st, v.errReason, v.errOffset]).toEqual([len, MALFORMED, R_PUSH_TRUNCATED, 24 + expectedOffset(len)]);
    }
  });
});

describe('EcRRegisterPushNotification stub: properties', () => {
  const flags = fc.record({ ndr64: fc.boolean(), le: fc.boolean() });

  it('random bytes never throw; OK results point inside the stub', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), flags, fc.nat(16), (bytes, f, base) => {
        const buf = new Uint8Array(base + bytes.length);
        buf.set(bytes, base);
        const v = new PushRegistrationView();
        const st = readRegisterPushNotification(buf, base, bytes.length, f.ndr64, f.le, v);
        expect([OK, MALFORMED]).toContain(st);
        if (st === OK) {
          expect(v.contextOff + v.contextLen).toBeLessThanOrEqual(base + bytes.length);
          expect(v.callbackOff + v.callbackLen).toBeLessThanOrEqual(base + bytes.length);
          expect(v.contextLen).toBeLessThanOrEqual(16);
          if (v.portOff >= 0) expect(v.ipv4Off + 4).toBeLessThanOrEqual(v.callbackOff + v.callbackLen);
        } else {
          expect(v.errReason).not.toBe('');
          expect(v.errOffset).toBeGreaterThanOrEqual(base);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('random registrations round-trip; every truncation and every single-byte change never throws', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 16 }), fc.uint8Array({ maxLength: 40 }), fc.boolean(), fc.nat(), fc.nat(255), fc.nat(255),
        (context, callback, le, cut, at, value) => {
          const stub = encodeRegisterPushNotification({ context, callback, littleEndian: le });
          const v = new PushRegistrationView();
          expect(readRegisterPushNotification(stub, 0, stub.length, false, le, v)).toBe(OK);
          expect(Array.from(stub.subarray(v.callbackOff, v.callbackOff + v.callbackLen))).toEqual(Array.from(callback));
          const len = cut % stub.length;
          expect(readRegisterPushNotification(stub, 0, len, false, le, v)).toBe(MALFORMED);
          const bent = stub.slice();
          bent[at % bent.length] = value;
          expect([OK, MALFORMED]).toContain(readRegisterPushNotification(bent, 0, bent.length, true, le, v));
          expect([OK, MALFORMED]).toContain(readRegisterPushNotification(bent, 0, bent.length, false, !le, v));
        },
      ),
      { numRuns: 1500 },
    );
  });
});

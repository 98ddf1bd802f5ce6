/**
 * EMSMDB EcRRegisterPushNotification (opnum 4) request stub — MS-OXCRPC 3.1.4.5, MS-OXCNOTIF
 * 2.2.1.3.3 — and the Windows SOCKADDR inside it, which the gateway rewrites so the server's new-mail
 * datagrams come back through it.
 *
 * Request stub, NDR (alignment relative to the stub start; NDR64: conformances are u64, 8-aligned):
 *   pcxh                 20 bytes context handle (attributes u32 + UUID)
 *   iRpc                 u32
 *   rgbContext           conformant array: max_count u32 (= cbContext), then the bytes
 *   cbContext            u16 (align 2)
 *   grbitAdviseBits      u32 (align 4)
 *   rgbCallbackAddress   conformant array: max_count u32 (align 4), then the bytes
 *   cbCallbackAddress    u16 (align 2)
 * SOCKADDR: sa_family u16 LITTLE-endian (2 = AF_INET, 23 = AF_INET6 on Windows), port u16
 * BIG-endian, then IPv4 (4 bytes) + 8 zero bytes (16 in all), or for IPv6 flowinfo u32, address
 * 16, scope_id u32 (28 in all).
 */
import { DecodeResult, MALFORMED, OK, type Status, fail } from '../wire/status.js';
import { align, rd16, rd32, rd64lo } from '../dcerpc/ndr.js';

export const EMSMDB_OPNUM_REGISTER_PUSH = 4;
export const EMSMDB_UUID = 'a4f1db00-ca47-1067-b31f-00dd010662da';
/** Wire bytes (NDR/tower little-endian UUID form). */
export const EMSMDB_UUID_WIRE = Uint8Array.of(0x00, 0xdb, 0xf1, 0xa4, 0x47, 0xca, 0x67, 0x10, 0xb3, 0x1f, 0x00, 0xdd, 0x01, 0x06, 0x62, 0xda);

export const AF_INET = 2;
/** AF_INET6 as Windows numbers it (not Linux's 10). */
export const AF_INET6_WINDOWS = 23;
export const SOCKADDR_IN_LEN = 16;
export const SOCKADDR_IN6_LEN = 28;
/** MS-OXCRPC: rgbContext is at most 16 bytes (ecTooBig beyond). */
export const MAX_CONTEXT_LEN = 16;
const CONTEXT_HANDLE_LEN = 20;

export const R_PUSH_TRUNCATED = 'EcRRegisterPushNotification stub truncated';
export const R_PUSH_COUNT_MISMATCH = 'array conformance differs from its length field';
export const R_PUSH_CONTEXT_TOO_LONG = 'rgbContext longer than 16 bytes';
export const R_PUSH_TRAILING = 'bytes after cbCallbackAddress';
export const R_PUSH_COUNT_HUGE = 'NDR64 conformance beyond 2^53';

export class PushRegistrationView extends DecodeResult {
  /** Absolute offset and length of rgbContext (what the server's datagram will carry). */
  contextOff = 0;
  contextLen = 0;
  adviseBits = 0;
  /** Absolute offset and length of rgbCallbackAddress. */
  callbackOff = 0;
  callbackLen = 0;
  /** sa_family (AF_INET, AF_INET6_WINDOWS, other) or -1 if the callback is shorter than 2 bytes. */
  family = -1;
  /** With AF_INET and 16 bytes: the port (host order), the IPv4 address (u32), their offsets. */
  port = 0;
  portOff = -1;
  ipv4 = 0;
  ipv4Off = -1;
}

/** Decodes an EcRRegisterPushNotification request stub. Never throws. */
export function readRegisterPushNotification(
  buf: Uint8Array, stubOff: number, stubLen: number, ndr64: boolean, littleEndian: boolean, out: PushRegistrationView,
): Status {
  const end = stubOff + stubLen;
  out.family = -1;
  out.portOff = -1;
  out.ipv4Off = -1;
  let p = stubOff + CONTEXT_HANDLE_LEN + 4; // pcxh, iRpc
  // rgbContext
  const ctxCount = readCount(buf, stubOff, p, end, ndr64, littleEndian, out);
  if (ctxCount < 0) return MALFORMED;
  p = align(p, stubOff, ndr64 ? 8 : 4) + (ndr64 ? 8 : 4);
  if (p + ctxCount > end) return fail(out, MALFORMED, p, R_PUSH_TRUNCATED);
  out.contextOff = p;
  out.contextLen = ctxCount;
  p += ctxCount;
  p = align(p, stubOff, 2);
  if (p + 2 > end) return fail(out, MALFORMED, p, R_PUSH_TRUNCATED);
  if (rd16(buf, p, littleEndian) !== ctxCount) return fail(out, MALFORMED, p, R_PUSH_COUNT_MISMATCH);
  if (ctxCount > MAX_CONTEXT_LEN) return fail(out, MALFORMED, p, R_PUSH_CONTEXT_TOO_LONG);
  p = align(p + 2, stubOff, 4);
  if (p + 4 > end) return fail(out, MALFORMED, p, R_PUSH_TRUNCATED);
  out.adviseBits = rd32(buf, p, littleEndian);
  p += 4;
  // rgbCallbackAddress
  const cbCount = readCount(buf, stubOff, p, end, ndr64, littleEndian, out);
  if (cbCount < 0) return MALFORMED;
  p = align(p, stubOff, ndr64 ? 8 : 4) + (ndr64 ? 8 : 4);
  if (p + cbCount > end) return fail(out, MALFORMED, p, R_PUSH_TRUNCATED);
  out.callbackOff = p;
  out.callbackLen = cbCount;
  p += cbCount;
  p = align(p, stubOff, 2);
  if (p + 2 > end) return fail(out, MALFORMED, p, R_PUSH_TRUNCATED);
  if (rd16(buf, p, littleEndian) !== cbCount) return fail(out, MALFORMED, p, R_PUSH_COUNT_MISMATCH);
  p += 2;
  if (p !== end) return fail(out, MALFORMED, p, R_PUSH_TRAILING);
  readSockaddr(buf, out);
  return OK;
}

/** Reads the conformance at the aligned position after `p`; -1 (and `out` set) if it does not fit. */
function readCount(buf: Uint8Array, base: number, p: number, end: number, ndr64: boolean, le: boolean, out: PushRegistrationView): number {
  const at = align(p, base, ndr64 ? 8 : 4);
  if (at + (ndr64 ? 8 : 4) > end) {
    fail(out, MALFORMED, at, R_PUSH_TRUNCATED);
    return -1;
  }
  const n = ndr64 ? rd64lo(buf, at, le) : rd32(buf, at, le);
  if (n < 0) {
    fail(out, MALFORMED, at, R_PUSH_COUNT_HUGE);
    return -1;
  }
  return n;
}

function readSockaddr(buf: Uint8Array, out: PushRegistrationView): void {
  const o = out.callbackOff;
  if (out.callbackLen < 2) return;
  out.family = buf[o]! | (buf[o + 1]! << 8); // little-endian, as in the client's memory
  if (out.family === AF_INET && out.callbackLen >= SOCKADDR_IN_LEN) {
    out.portOff = o + 2;
    out.port = (buf[o + 2]! << 8) | buf[o + 3]!;
    out.ipv4Off = o + 4;
    out.ipv4 = ((buf[o + 4]! << 24) | (buf[o + 5]! << 16) | (buf[o + 6]! << 8) | buf[o + 7]!) >>> 0;
  }
}

/** Builds a SOCKADDR_IN (16 bytes) as a Windows client registers it. */
export function sockaddrIn(port: number, ipv4: number): Uint8Array {
  const b = new Uint8Array(SOCKADDR_IN_LEN);
  b[0] = AF_INET;
  b[2] = port >>> 8;
  b[3] = port & 0xff;
  b[4] = ipv4 >>> 24;
  b[5] = (ipv4 >>> 16) & 0xff;
  b[6] = (ipv4 >>> 8) & 0xff;
  b[7] = ipv4 & 0xff;
  return b;
}

/** Encodes a request stub (tests, simulators); returns the bytes. NDR only. */
export function encodeRegisterPushNotification(opts: { handle?: Uint8Array; context: Uint8Array; callback: Uint8Array; adviseBits?: number; littleEndian?: boolean }): Uint8Array {
  const le = opts.littleEndian ?? true;
  const parts: number[] = [];
  const u16 = (v: number): void => void (le ? parts.push(v & 0xff, v >>> 8) : parts.push(v >>> 8, v & 0xff));
  const u32 = (v: number): void => {
    const b = [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
    parts.push(...(le ? b : b.reverse()));
  };
  const align = (n: number): void => {
    while (parts.length % n !== 0) parts.push(0);
  };
  parts.push(...(opts.handle ?? new Uint8Array(CONTEXT_HANDLE_LEN)));
  u32(0); // iRpc
  u32(opts.context.length);
  parts.push(...opts.context);
  align(2);
  u16(opts.context.length);
  align(4);
  u32(opts.adviseBits ?? 0xffffffff);
  u32(opts.callback.length);
  parts.push(...opts.callback);
  align(2);
  u16(opts.callback.length);
  return Uint8Array.from(parts);
}

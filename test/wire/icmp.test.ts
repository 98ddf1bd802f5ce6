import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ICMP_CODE_FRAG_NEEDED, ICMP_DEST_UNREACH, ICMP_ERROR_MAX, ICMP_TIME_EXCEEDED, IcmpQuoteView, icmpChecksumOk, readIcmpError, rewriteIcmpQuote, writeIcmpError,
  R_ICMP_NOT_ERROR, R_ICMP_QUOTE_TRUNCATED,
} from '../../src/wire/icmp.js';
import { MALFORMED, OK, UNSUPPORTED } from '../../src/wire/status.js';
import { buildTcpV4Frame } from '../../src/wire/build.js';
import { TCP_ACK } from '../../src/wire/packet.js';
import { get16, refIpChecksum, refL4Checksum } from '../helpers/inet-checksum.js';

const G = 0xc0000201; // 192.0.2.1
const S = 0xc000020a; // 192.0.2.10
const C = 0xcb007105; // 203.0.113.5
const E = 0xc6336401; // 198.51.100.1
const R = 0xc00002fe; // 192.0.2.254, a router

function segment(src: number, dst: number, sport: number, dport: number, payloadLen: number): Uint8Array {
  const f = new Uint8Array(14 + 40 + payloadLen);
  const n = buildTcpV4Frame(f, 0, { src, dst, srcPort: sport, dstPort: dport, seq: 0x01020304, ack: 0x0a0b0c0d, flags: TCP_ACK, payload: new Uint8Array(payloadLen).fill(0x5a), dontFragment: true });
  return f.slice(14, n);
}

describe('ICMP errors: writeIcmpError', () => {
  it('fragmentation-needed: header, next-hop MTU, the original packet quoted as received, checksums', () => {
    const orig = segment(G, S, 61001, 1032, 100);
    const b = new Uint8Array(ICMP_ERROR_MAX).fill(0xa5);
    const n = writeIcmpError(b, 0, R, G, ICMP_DEST_UNREACH, ICMP_CODE_FRAG_NEEDED, 1280, 7, orig, 0, orig.length);
    expect(n).toBe(20 + 8 + orig.length);
    expect(b[0]).toBe(0x45);
    expect(b[1]).toBe(0xc0); // internetwork control, as Linux
    expect(get16(b, 2)).toBe(n);
    expect(get16(b, 4)).toBe(7);
    expect(b[8]).toBe(64);
    expect(b[9]).toBe(1);
    expect(get16(b, 10)).toBe(refIpChecksum(b));
    expect([b[20], b[21], get16(b, 24), get16(b, 26)]).toEqual([3, 4, 0, 1280]);
    expect(b.subarray(28, n)).toEqual(orig);
    expect(icmpChecksumOk(b, 20, n - 20)).toBe(true);
  });

  it('time exceeded: MTU field 0; a long packet is quoted up to 576 bytes in all (RFC 1812)', () => {
    const orig = segment(C, E, 50000, 135, 1400);
    const b = new Uint8Array(ICMP_ERROR_MAX);
    const n = writeIcmpError(b, 0, E, C, ICMP_TIME_EXCEEDED, 0, 1280, 1, orig, 0, orig.length);
    expect(n).toBe(576);
    expect(get16(b, 26)).toBe(0);
    expect(b.subarray(28, 576)).toEqual(orig.subarray(0, 548));
    expect(icmpChecksumOk(b, 20, n - 20)).toBe(true);
  });
});

describe('ICMP errors: readIcmpError and rewriteIcmpQuote', () => {
  const q = new IcmpQuoteView();

  it('reads the quoted tuple; rewriting it keeps the quoted IP and TCP checksums what a from-scratch sum gives', () => {
    const sent = segment(G, S, 61001, 1032, 40); // what the gateway sent the server
    const b = new Uint8Array(ICMP_ERROR_MAX);
    const n = writeIcmpError(b, 0, R, G, ICMP_DEST_UNREACH, ICMP_CODE_FRAG_NEEDED, 1280, 1, sent, 0, sent.length);
    expect(readIcmpError(b, 20, n - 20, q)).toBe(OK);
    expect([q.type, q.code, q.proto, q.src4, q.dst4, q.srcPort, q.dstPort, q.ipOff, q.l4Off, q.l4CsumOff]).toEqual([3, 4, 6, G, S, 61001, 1032, 28, 48, 64]);
    rewriteIcmpQuote(b, q, 0, C, 50000);
    rewriteIcmpQuote(b, q, 1, E, 40001);
    const quoted = b.slice(28, n);
    // What the client had sent: the same segment between C:50000 and E:40001.
    const mine = segment(C, E, 50000, 40001, 40);
    expect(quoted).toEqual(mine);
    expect(get16(quoted, 10)).toBe(refIpChecksum(quoted));
    expect(get16(quoted, 36)).toBe(refL4Checksum(quoted));
  });

  it('a quote too short to hold the ports, a non-error type, and a non-first fragment are not read', () => {
    const sent = segment(G, S, 61001, 1032, 0);
    const b = new Uint8Array(ICMP_ERROR_MAX);
    writeIcmpError(b, 0, R, G, ICMP_DEST_UNREACH, 1, 0, 1, sent, 0, 27);
    expect(readIcmpError(b, 20, 8 + 27, q)).toBe(MALFORMED);
    expect(q.errReason).toBe(R_ICMP_QUOTE_TRUNCATED);
    // 8 bytes of TCP (ports and sequence number): enough, but no checksum field to update.
    writeIcmpError(b, 0, R, G, ICMP_DEST_UNREACH, 1, 0, 1, sent, 0, 28);
    expect(readIcmpError(b, 20, 8 + 28, q)).toBe(OK);
    expect(q.l4CsumOff).toBe(-1);
    b[20] = 8; // echo request
    expect(readIcmpError(b, 20, 8 + 28, q)).toBe(UNSUPPORTED);
    expect(q.errReason).toBe(R_ICMP_NOT_ERROR);
    b[20] = 3;
    b[28 + 7] = 1; // fragment offset 8
    expect(readIcmpError(b, 20, 8 + 28, q)).toBe(UNSUPPORTED);
  });

  it('property: random bytes never throw and never read outside the message', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 700 }), fc.nat(40), (bytes, cut) => {
        const len = Math.max(0, bytes.length - cut);
        const st = readIcmpError(bytes, 0, len, q);
        if (st === OK) {
          expect(q.l4Off + 8).toBeLessThanOrEqual(len);
          if (q.l4CsumOff >= 0) expect(q.l4CsumOff + 2).toBeLessThanOrEqual(len);
          rewriteIcmpQuote(bytes, q, 0, 1, 2);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

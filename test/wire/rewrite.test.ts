import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  setIpv4Src,
  setIpv4Dst,
  setSrcPort,
  setDstPort,
  setIpv6Src,
  setIpv6Dst,
  rewritePayload,
  decrementTtl,
} from '../../src/wire/rewrite.js';
import { PacketView, readPacket, IPPROTO_TCP, IPPROTO_UDP } from '../../src/wire/packet.js';
import { OK } from '../../src/wire/status.js';
import {
  fold,
  onesSum,
  finishIpv4Checksum,
  finishTcpChecksumV4,
  finishTcpChecksumV6,
  finishUdpChecksumV4,
  finishUdpChecksumV6,
  ipv4HeaderChecksumOk,
  l4ChecksumOk,
} from '../../src/wire/checksum.js';
import { buildTcpV4Frame, buildTcpV6Frame, buildUdpV4Frame, buildUdpV6Frame } from '../../src/wire/build.js';
import { parseIpv4 } from '../../src/wire/addr.js';
import { hex } from './hex.js';
import * as V from './vectors.js';

// ---------------------------------------------------------------------------------------------
// Reference: the same packet with every checksum recomputed from scratch.

function csumAt(buf: Uint8Array, at: number): number {
  return (buf[at]! << 8) | buf[at + 1]!;
}

function l4CsumOff(v: PacketView): number {
  return v.l4Off + (v.ipProto === IPPROTO_TCP ? 16 : 6);
}

/** A copy of `buf` with the IPv4 header and TCP/UDP checksums recomputed in full. */
function fullRecompute(buf: Uint8Array, v: PacketView): Uint8Array {
  const c = buf.slice();
  if (v.ipVersion === 4) finishIpv4Checksum(c, v.l3Off, v.ipHdrLen);
  if (v.l4Off < 0) return c;
  if (v.ipProto === IPPROTO_TCP) {
    (v.ipVersion === 4 ? finishTcpChecksumV4 : finishTcpChecksumV6)(c, v.l3Off, v.l4Off, v.l4Len);
  } else if (v.ipProto === IPPROTO_UDP && csumAt(buf, l4CsumOff(v)) !== 0) {
    (v.ipVersion === 4 ? finishUdpChecksumV4 : finishUdpChecksumV6)(c, v.l3Off, v.l4Off, v.l4Len);
  }
  return c;
}

function decode(buf: Uint8Array, off: number, len: number): PacketView {
  const v = new PacketView();
  expect(readPacket(buf, off, len, 1, v)).toBe(OK);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Random packets.

interface PacketSpec {
  six: boolean;
  tcp: boolean;
  vlanIds: number[];
  src4: number;
  dst4: number;
  src6: Uint8Array;
  dst6: Uint8Array;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  nopOptions: number;
  ipOptionWords: number;
  payload: Uint8Array;
  noUdpChecksum: boolean;
  off: number;
}

const packetSpec: fc.Arbitrary<PacketSpec> = fc.record({
  six: fc.boolean(),
  tcp: fc.boolean(),
  vlanIds: fc.array(fc.nat(4095), { maxLength: 2 }),
  src4: fc.nat(0xffffffff),
  dst4: fc.nat(0xffffffff),
  src6: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  dst6: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  srcPort: fc.nat(0xffff),
  dstPort: fc.nat(0xffff),
  seq: fc.nat(0xffffffff),
  ack: fc.nat(0xffffffff),
  flags: fc.nat(0xff),
  nopOptions: fc.nat(40),
  ipOptionWords: fc.nat(10),
  payload: fc.uint8Array({ maxLength: 90 }),
  noUdpChecksum: fc.boolean(),
  off: fc.nat(3),
});

/** Builds the packet at spec.off in a buffer with 0xa5 before and after; returns [buf, frameLen]. */
function build(s: PacketSpec): [Uint8Array, number] {
  const buf = new Uint8Array(s.off + 300).fill(0xa5);
  const l2 = { vlanIds: s.vlanIds };
  const tcpOptions = s.nopOptions > 0 ? new Uint8Array(s.nopOptions).fill(1) : undefined;
  const ipOptions = s.ipOptionWords > 0 ? new Uint8Array(s.ipOptionWords * 4).fill(1) : undefined;
  let n: number;
  if (s.six) {
    const a = { ...l2, src: s.src6, dst: s.dst6, srcPort: s.srcPort, dstPort: s.dstPort, payload: s.payload };
    n = s.tcp
      ? buildTcpV6Frame(buf, s.off, { ...a, seq: s.seq, ack: s.ack, flags: s.flags, ...(tcpOptions ? { tcpOptions } : {}) })
      : buildUdpV6Frame(buf, s.off, a);
  } else {
    const a = { ...l2, src: s.src4, dst: s.dst4, srcPort: s.srcPort, dstPort: s.dstPort, payload: s.payload, ...(ipOptions ? { ipOptions } : {}) };
    n = s.tcp
      ? buildTcpV4Frame(buf, s.off, { ...a, seq: s.seq, ack: s.ack, flags: s.flags, ...(tcpOptions ? { tcpOptions } : {}) })
      : buildUdpV4Frame(buf, s.off, { ...a, noChecksum: s.noUdpChecksum });
  }
  return [buf, n];
}

// ---------------------------------------------------------------------------------------------
// Random rewrites.

type Op =
  | { kind: 'src4' | 'dst4'; addr: number }
  | { kind: 'src6' | 'dst6'; addr: Uint8Array }
  | { kind: 'srcPort' | 'dstPort'; port: number }
  | { kind: 'payload'; at: number; n: number; data: Uint8Array; srcOff: number; self: boolean; selfFrom: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constantFrom('src4' as const, 'dst4' as const), addr: fc.oneof(fc.nat(0xffffffff), fc.constantFrom(0, 0xffffffff)) }),
  fc.record({ kind: fc.constantFrom('src6' as const, 'dst6' as const), addr: fc.uint8Array({ minLength: 16, maxLength: 16 }) }),
  fc.record({ kind: fc.constantFrom('srcPort' as const, 'dstPort' as const), port: fc.oneof(fc.nat(0xffff), fc.constantFrom(0, 0xffff)) }),
  fc.record({
    kind: fc.constant('payload' as const),
    at: fc.nat(),
    n: fc.nat(),
    data: fc.uint8Array({ minLength: 0, maxLength: 100 }),
    srcOff: fc.nat(5),
    self: fc.boolean(),
    selfFrom: fc.nat(),
  }),
);

/** Applies `op` as the engine would; for payload ops picks a range inside the payload. */
function apply(buf: Uint8Array, v: PacketView, op: Op): void {
  switch (op.kind) {
    case 'src4':
      expect(setIpv4Src(buf, v, op.addr)).toBe(v.ipVersion === 4);
      return;
    case 'dst4':
      expect(setIpv4Dst(buf, v, op.addr)).toBe(v.ipVersion === 4);
      return;
    case 'src6':
      expect(setIpv6Src(buf, v, op.addr, 0)).toBe(v.ipVersion === 6);
      return;
    case 'dst6':
      expect(setIpv6Dst(buf, v, op.addr, 0)).toBe(v.ipVersion === 6);
      return;
    case 'srcPort':
      expect(setSrcPort(buf, v, op.port)).toBe(true);
      return;
    case 'dstPort':
      expect(setDstPort(buf, v, op.port)).toBe(true);
      return;
    case 'payload': {
      if (v.payloadLen === 0) return;
      const rel = op.at % v.payloadLen;
      const n = op.n % (v.payloadLen - rel + 1);
      const absOff = v.payloadOff + rel;
      if (op.self) {
        // Source inside the same buffer, possibly overlapping the destination (memmove semantics).
        const from = v.payloadOff + (op.selfFrom % (v.payloadLen - n + 1));
        const expected = buf.slice(from, from + n);
        expect(rewritePayload(buf, v, absOff, buf, from, n)).toBe(true);
        expect(buf.subarray(absOff, absOff + n)).toEqual(expected);
      } else {
        const src = new Uint8Array(op.srcOff + n);
        for (let i = 0; i < n; i++) src[op.srcOff + i] = op.data[i % Math.max(1, op.data.length)] ?? i;
        expect(rewritePayload(buf, v, absOff, src, op.srcOff, n)).toBe(true);
        expect(buf.subarray(absOff, absOff + n)).toEqual(src.subarray(op.srcOff, op.srcOff + n));
      }
      return;
    }
  }
}

/** Index of the first differing byte, -1 when equal (toEqual on typed arrays is slow in a property loop). */
function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** Names of the view fields that differ. */
function viewDiff(a: PacketView, b: PacketView): string[] {
  const ra = a as unknown as Record<string, unknown>;
  const rb = b as unknown as Record<string, unknown>;
  return Object.keys(ra).filter((k) => ra[k] !== rb[k]);
}

/** After rewrites: checksums equal a full recompute, still verify, and the view equals a fresh decode. */
function checkAgainstRecompute(buf: Uint8Array, v: PacketView, off: number, n: number, udpNone: boolean): void {
  expect(firstDiff(buf, fullRecompute(buf, v))).toBe(-1);
  if (v.ipVersion === 4) expect(ipv4HeaderChecksumOk(buf, v)).toBe(true);
  if (udpNone) expect(csumAt(buf, l4CsumOff(v))).toBe(0);
  else expect(l4ChecksumOk(buf, v)).toBe(true);
  expect(viewDiff(decode(buf, off, n), v)).toEqual([]);
  expect(buf[off - 1] ?? 0xa5).toBe(0xa5);
  expect(buf[off + n]).toBe(0xa5);
}

describe('incremental rewrites equal a full recompute (property)', () => {
  it('random TCP/UDP over IPv4/IPv6, random sequences of address, port and payload rewrites', () => {
    fc.assert(
      fc.property(packetSpec, fc.array(opArb, { minLength: 1, maxLength: 6 }), (s, ops) => {
        const [buf, n] = build(s);
        const v = decode(buf, s.off, n);
        const udpNone = !s.six && !s.tcp && s.noUdpChecksum;
        for (const op of ops) {
          apply(buf, v, op);
          checkAgainstRecompute(buf, v, s.off, n, udpNone);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('the 0x0000 / 0xffff corner: rewrites whose true result is checksum 0x0000 (TCP, IP) or 0xffff (UDP)', () => {
    let tcpZero = 0;
    let udpFfff = 0;
    let ipZero = 0;
    fc.assert(
      fc.property(
        packetSpec.filter((s) => s.payload.length >= 4 && !(s.noUdpChecksum && !s.tcp && !s.six)),
        // a copy from elsewhere in the packet could read the nudged word: sources are separate here
        opArb.map((op) => (op.kind === 'payload' ? { ...op, self: false } : op)),
        (s, op) => {
          const [buf, n] = build(s);
          const v = decode(buf, s.off, n);
          // Dry run on a copy to learn the post-rewrite checksums...
          const probe = buf.slice();
          const pv = decode(probe, s.off, n);
          apply(probe, pv, op);
          const after = fullRecompute(probe, pv);
          // ...then nudge an untouched payload word (even distance from the L4 start) and the IP id
          // of the original so that those post-rewrite sums become 0xffff.
          const [lo, hi] = touchedRange(v, op);
          let word = -1;
          for (let p = v.payloadOff + ((v.payloadOff - v.l4Off) & 1); p + 1 < v.payloadOff + v.payloadLen; p += 2) {
            if (p + 1 < lo || p >= hi) {
              word = p;
              break;
            }
          }
          if (word < 0) return;
          const l4c = csumAt(after, l4CsumOff(v));
          const target = v.ipProto === IPPROTO_UDP && l4c === 0xffff ? 0 : l4c; // UDP 0xffff encodes a true 0
          addOnes(buf, word, target);
          if (v.ipVersion === 4) addOnes(buf, v.l3Off + 4, csumAt(after, v.l3Off + 10));
          const fixed = fullRecompute(buf, v);
          buf.set(fixed);
          const v2 = decode(buf, s.off, n);
          apply(buf, v2, op);
          checkAgainstRecompute(buf, v2, s.off, n, false);
          const c = csumAt(buf, l4CsumOff(v2));
          if (v2.ipProto === IPPROTO_TCP) {
            expect(c).toBe(0);
            tcpZero++;
          } else {
            expect(c).toBe(0xffff);
            udpFfff++;
          }
          if (v2.ipVersion === 4) {
            expect(csumAt(buf, v2.l3Off + 10)).toBe(0);
            ipZero++;
          }
        },
      ),
      { numRuns: 1500 },
    );
    expect(tcpZero).toBeGreaterThan(100);
    expect(udpFfff).toBeGreaterThan(100);
    expect(ipZero).toBeGreaterThan(100);
  });
});

/** Ones'-complement addition of `x` to the 16-bit word at `at`. */
function addOnes(buf: Uint8Array, at: number, x: number): void {
  const w = fold(((buf[at]! << 8) | buf[at + 1]!) + x);
  buf[at] = w >> 8;
  buf[at + 1] = w & 0xff;
}

/** Byte range [lo, hi) a payload op will write (mirrors apply()); empty for other ops. */
function touchedRange(v: PacketView, op: Op): [number, number] {
  if (op.kind !== 'payload' || v.payloadLen === 0) return [0, 0];
  const rel = op.at % v.payloadLen;
  const n = op.n % (v.payloadLen - rel + 1);
  return [v.payloadOff + rel, v.payloadOff + rel + n];
}

describe('rewrite details', () => {
  it('setIpv4Dst on the SYN vector: bytes, both checksums, and the view', () => {
    const f = V.ethIpv4TcpSyn.slice();
    const v = decode(f, 0, f.length);
    const addr = parseIpv4('10.0.0.17');
    expect(setIpv4Dst(f, v, addr)).toBe(true);
    expect(Array.from(f.subarray(30, 34))).toEqual([10, 0, 0, 17]);
    expect(v.dst4).toBe(addr);
    expect(f).toEqual(fullRecompute(f, v));
    // only the address and the two checksum fields changed
    const changed = [];
    for (let i = 0; i < f.length; i++) if (f[i] !== V.ethIpv4TcpSyn[i]) changed.push(i);
    expect(changed.every((i) => (i >= 30 && i < 34) || i === 24 || i === 25 || i === 50 || i === 51)).toBe(true);
  });

  it('UDP checksum 0 ("none") stays 0 through address, port and payload rewrites', () => {
    const f = V.sllIpv4Udp.slice();
    f[42] = 0;
    f[43] = 0;
    const v = new PacketView();
    expect(readPacket(f, 0, f.length, 113, v)).toBe(OK);
    setIpv4Src(f, v, 0xc0000201);
    setSrcPort(f, v, 135);
    expect(rewritePayload(f, v, v.payloadOff + 1, hex('ff ff'), 0, 2)).toBe(true);
    expect([f[42], f[43]]).toEqual([0, 0]);
    expect(ipv4HeaderChecksumOk(f, v)).toBe(true);
    expect([v.src4, v.srcPort]).toEqual([0xc0000201, 135]);
  });

  it('a non-first fragment: the address changes the IP checksum only; ports cannot be set', () => {
    const f = V.ethIpv4FragMiddle.slice();
    const v = decode(f, 0, f.length);
    expect(setIpv4Src(f, v, 0x01020304)).toBe(true);
    expect(f.subarray(34)).toEqual(V.ethIpv4FragMiddle.subarray(34));
    expect(ipv4HeaderChecksumOk(f, v)).toBe(true);
    expect(setSrcPort(f, v, 1)).toBe(false);
    expect(setDstPort(f, v, 1)).toBe(false);
  });

  it('ICMP: the address rewrite leaves the ICMP checksum alone (no pseudo-header) and it still verifies', () => {
    const f = V.nullIpv4Icmp.slice();
    const v = new PacketView();
    expect(readPacket(f, 0, f.length, 0, v)).toBe(OK);
    expect(setIpv4Dst(f, v, 0x0a000001)).toBe(true);
    expect(f.subarray(24)).toEqual(V.nullIpv4Icmp.subarray(24));
    expect(l4ChecksumOk(f, v)).toBe(true);
    expect(setSrcPort(f, v, 1)).toBe(false);
  });

  it('IPv4 setters refuse an IPv6 view and vice versa', () => {
    const f6 = V.ethIpv6Udp.slice();
    const v6 = decode(f6, 0, f6.length);
    expect(setIpv4Src(f6, v6, 1)).toBe(false);
    expect(setIpv4Dst(f6, v6, 1)).toBe(false);
    expect(f6).toEqual(V.ethIpv6Udp);
    const f4 = V.ethIpv4TcpSyn.slice();
    const v4 = decode(f4, 0, f4.length);
    expect(setIpv6Src(f4, v4, new Uint8Array(16), 0)).toBe(false);
    expect(setIpv6Dst(f4, v4, new Uint8Array(16), 0)).toBe(false);
    expect(f4).toEqual(V.ethIpv4TcpSyn);
  });

  it('rewritePayload refuses ranges outside the payload and short sources, writing nothing', () => {
    const f = V.ethQinqIpv4Tcp.slice();
    const v = decode(f, 0, f.length);
    const src = hex('aa bb cc dd ee ff');
    expect(rewritePayload(f, v, v.payloadOff - 1, src, 0, 2)).toBe(false); // starts in the TCP header
    expect(rewritePayload(f, v, v.payloadOff + 4, src, 0, 2)).toBe(false); // ends past the payload
    expect(rewritePayload(f, v, v.payloadOff, src, 5, 2)).toBe(false); // source too short
    expect(rewritePayload(f, v, v.payloadOff, src, 0, -1)).toBe(false);
    expect(f).toEqual(V.ethQinqIpv4Tcp);
    expect(rewritePayload(f, v, v.payloadOff + 5, src, 0, 0)).toBe(true); // empty range at the end
  });

  it('rewritePayload at an odd distance from the TCP start with an odd length (the QinQ vector)', () => {
    const f = V.ethQinqIpv4Tcp.slice();
    const v = decode(f, 0, f.length);
    // payload "05 00 0b 03 10" starts 20 bytes into the segment; bytes 1..3 sit at odd distance 21
    expect(rewritePayload(f, v, v.payloadOff + 1, hex('ff fe fd'), 0, 3)).toBe(true);
    expect(Array.from(f.subarray(v.payloadOff, v.payloadOff + 5))).toEqual([0x05, 0xff, 0xfe, 0xfd, 0x10]);
    expect(f).toEqual(fullRecompute(f, v));
    expect(l4ChecksumOk(f, v)).toBe(true);
  });

  it('decrementTtl: IPv4 checksum kept, refuses at TTL 1; IPv6 hop limit', () => {
    const f = V.ethIpv4TcpSyn.slice();
    const v = decode(f, 0, f.length);
    expect(decrementTtl(f, v)).toBe(true);
    expect([f[22], v.ttl]).toEqual([63, 63]);
    expect(ipv4HeaderChecksumOk(f, v)).toBe(true);
    expect(f).toEqual(fullRecompute(f, v));
    const one = V.ethIpv6Udp.slice(); // hop limit 1
    const v6 = decode(one, 0, one.length);
    expect(decrementTtl(one, v6)).toBe(false);
    expect(one).toEqual(V.ethIpv6Udp);
    const f6 = V.sll2Ipv6Tcp.slice();
    const w6 = new PacketView();
    expect(readPacket(f6, 0, f6.length, 276, w6)).toBe(OK);
    expect(decrementTtl(f6, w6)).toBe(true);
    expect([f6[27], w6.ttl]).toEqual([62, 62]);
    expect(l4ChecksumOk(f6, w6)).toBe(true);
  });

  it('an invalid checksum stays invalid by the same amount (corruption is not laundered)', () => {
    const f = V.ethIpv4TcpSyn.slice();
    f[51] = f[51]! ^ 0x10; // break the TCP checksum
    const v = decode(f, 0, f.length);
    const before = fold(onesSum(f, v.l4Off, v.l4Len, 0));
    setSrcPort(f, v, 4444);
    setIpv4Src(f, v, 0x0a000001);
    expect(l4ChecksumOk(f, v)).toBe(false);
    expect(before).toBeGreaterThan(0);
  });
});

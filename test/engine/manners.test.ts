/**
 * A router's manners, byte by byte: partial checksums from offloading senders, the IPv4 header
 * checksum, TTL and ICMP time exceeded, ICMP errors translated both ways (Path MTU discovery),
 * offload-merged frames re-segmented to the egress MTU, DF packets too big for the egress side.
 * Checksums are checked against a from-scratch reference sum and, where installed, by tshark.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  CLIENT, EMSMDB, EXT, EngineHarness, GW, SERVER, SIDE_EXTERNAL, SIDE_INTERNAL, TcpConn, bindMapped, epmSession, lastMappedPort, mapCall, parseTcp,
  rpcRequest, rpcResponse, rulesDoc, tcpTower, type Emitted, type HarnessOptions, SRVSVC, eptLookupRequest, eptLookupResponseStub, eptMapRequest,
  eptMapResponseStub, responseFragments, tcpPacket,
} from '../helpers/engine-harness.js';
import { get16, refIpChecksum, refL4Checksum, refSum, withPartialChecksum, writeRawPcap } from '../helpers/inet-checksum.js';
import { haveTshark, tshark } from '../helpers/tshark.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN } from '../../src/wire/packet.js';
import { accept, bindAckPdu, bindPdu, ctx, openMapped, policyDoc, registerPushPdu, udpPacket } from '../helpers/policy-harness.js';
import { sockaddrIn } from '../../src/exchange/push-notification.js';
import { ipv4ToString } from '../../src/wire/addr.js';

const ROUTER_IN = '192.0.2.254';
const ROUTER_OUT = '203.0.113.254';
const work = mkdtempSync(path.join(tmpdir(), 'rpcgw-manners-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** An engine with a mapped connection to SERVER:1032 opened and bound (EMSMDB). */
function mappedConn(opts: HarnessOptions = {}): { h: EngineHarness; m: TcpConn } {
  const h = new EngineHarness(rulesDoc(), opts);
  const c = epmSession(h);
  mapCall(c, [tcpTower(EMSMDB, 0, 81, SERVER, 1032)]);
  const m = new TcpConn(h, { cport: 51000, eport: lastMappedPort(h), sport: 1032 });
  expect(m.open()).toBe(true);
  bindMapped(m);
  return { h, m };
}

/** A copy of `pkt` with another TTL (IP checksum fixed). */
function withTtl(pkt: Uint8Array, ttl: number): Uint8Array {
  const p = pkt.slice();
  p[8] = ttl;
  const c = refIpChecksum(p);
  p[10] = c >> 8;
  p[11] = c & 0xff;
  return p;
}

const addrAt = (b: Uint8Array, at: number): string => ipv4ToString(((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0);

/** An ICMP error from `src` to `dst` quoting `quoted` (all of it), built by hand with the reference sum. */
function icmpError(src: string, dst: string, type: number, code: number, mtu: number, quoted: Uint8Array, ttl = 64): Uint8Array {
  const b = new Uint8Array(28 + quoted.length);
  b[0] = 0x45;
  b[2] = b.length >> 8;
  b[3] = b.length & 0xff;
  b[8] = ttl;
  b[9] = 1;
  b.set(Uint8Array.from(src.split('.').map(Number)), 12);
  b.set(Uint8Array.from(dst.split('.').map(Number)), 16);
  const ic = refIpChecksum(b);
  b[10] = ic >> 8;
  b[11] = ic & 0xff;
  b[20] = type;
  b[21] = code;
  b[26] = mtu >> 8;
  b[27] = mtu & 0xff;
  b.set(quoted, 28);
  const c = ~refSum(b.subarray(20)) & 0xffff;
  b[22] = c >> 8;
  b[23] = c & 0xff;
  return b;
}

interface ParsedIcmp {
  src: string;
  dst: string;
  ttl: number;
  type: number;
  code: number;
  mtu: number;
  icmpChecksumOk: boolean;
  ipChecksumOk: boolean;
  quote: Uint8Array;
}

function parseIcmp(pkt: Uint8Array): ParsedIcmp {
  expect(pkt[9]).toBe(1);
  expect(get16(pkt, 2)).toBe(pkt.length);
  return {
    src: addrAt(pkt, 12), dst: addrAt(pkt, 16), ttl: pkt[8]!, type: pkt[20]!, code: pkt[21]!, mtu: get16(pkt, 26),
    icmpChecksumOk: refSum(pkt.subarray(20)) === 0xffff, ipChecksumOk: get16(pkt, 10) === refIpChecksum(pkt), quote: pkt.slice(28),
  };
}

/** `a` and `b` differ only at the given byte offsets. */
function diffOutside(a: Uint8Array, b: Uint8Array, allowed: number[]): number[] {
  const d: number[] = [];
  if (a.length !== b.length) d.push(-1);
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i] && !allowed.includes(i)) d.push(i);
  return d;
}

/** tshark's checksum verdicts for each packet: ip (outer/inner), tcp, icmp; 0 bad, 1 good, 2 unverified. */
function tsharkVerdicts(name: string, packets: Uint8Array[]): string[] {
  const file = path.join(work, `${name}.pcap`);
  writeRawPcap(file, packets);
  return tshark([
    '-r', file, '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE',
    '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=,', '-e', 'ip.checksum.status', '-e', 'tcp.checksum.status', '-e', 'icmp.checksum.status',
  ]);
}

describe('partial checksums (an offloading client or server)', () => {
  it('a client segment with a partial TCP checksum passes; what leaves carries the full checksum of its bytes', () => {
    const { h, m } = mappedConn();
    const input = withPartialChecksum(m.clientPacket(m.cSent, rpcRequest(2, 300)));
    const out = h.inject(SIDE_EXTERNAL, input);
    expect(out.length).toBe(1);
    expect(out[0]!.side).toBe(SIDE_INTERNAL);
    const o = out[0]!.pkt;
    expect(get16(o, 36)).toBe(refL4Checksum(o));
    expect(get16(o, 10)).toBe(refIpChecksum(o));
    expect(parseTcp(o).payload).toEqual(rpcRequest(2, 300));
    expect(h.engine.counters.checksumsCompleted).toBe(1);
    // And a pure ACK from the server in the partial form: completed too, not passed on half-done.
    m.cSent += rpcRequest(2, 300).length;
    const ack = h.inject(SIDE_INTERNAL, withPartialChecksum(m.serverPacket(m.sSent, new Uint8Array(0), TCP_ACK)));
    expect(ack.length).toBe(1);
    expect(get16(ack[0]!.pkt, 36)).toBe(refL4Checksum(ack[0]!.pkt));
    if (haveTshark) expect(tsharkVerdicts('partial', [o, ack[0]!.pkt])).toEqual(['1\t1\t', '1\t1\t']);
  });

  it('a segment whose checksum is neither correct nor partial is dropped as bad-checksum, pure ACKs included', () => {
    const { h, m } = mappedConn();
    const bad = m.clientPacket(m.cSent, rpcRequest(2, 300));
    bad[37] = bad[37]! ^ 0x01;
    expect(h.inject(SIDE_EXTERNAL, bad)).toEqual([]);
    const badAck = m.serverPacket(m.sSent, new Uint8Array(0), TCP_ACK);
    badAck[36] = badAck[36]! ^ 0x80;
    expect(h.inject(SIDE_INTERNAL, badAck)).toEqual([]);
    expect(h.dropReasons()).toEqual(['bad-checksum', 'bad-checksum']);
    expect(h.engine.counters.dropsByName()).toMatchObject({ 'bad-checksum': 2 });
  });

  it('a server\'s notification datagram with a partial UDP checksum is relayed with the full one; a corrupt one is not', () => {
    const h = new EngineHarness(policyDoc({ interfaces: ['exchange'], notifications: true, lookup: 'deny' }));
    const { conn } = openMapped(h, { cport: 51000 });
    conn.clientSend(bindPdu([ctx(0, EMSMDB, 0, 81)]));
    conn.serverSend(bindAckPdu([accept()]));
    conn.clientSend(registerPushPdu({ context: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), callback: sockaddrIn(5555, 0x0a010203) }));
    const relay = Number(h.of('notification')[0]!.rec.relay.split(':')[1]);
    const good = udpPacket({ src: SERVER, dst: GW, sport: 34567, dport: relay, payload: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 9) });
    const out = h.inject(SIDE_INTERNAL, withPartialChecksum(good));
    expect(out.length).toBe(1);
    expect([addrAt(out[0]!.pkt, 12), addrAt(out[0]!.pkt, 16), get16(out[0]!.pkt, 22)]).toEqual([EXT, CLIENT, 5555]);
    expect(get16(out[0]!.pkt, 26)).toBe(refL4Checksum(out[0]!.pkt));
    const bad = good.slice();
    bad[30] = bad[30]! ^ 0xff;
    expect(h.inject(SIDE_INTERNAL, bad)).toEqual([]);
    expect(h.dropReasons()).toEqual(['bad-checksum']);
  });

  it('a bad IPv4 header checksum is dropped as bad-ip-checksum', () => {
    const { h, m } = mappedConn();
    const p = m.clientPacket(m.cSent, rpcRequest(2, 10));
    p[11] = p[11]! ^ 0x10;
    expect(h.inject(SIDE_EXTERNAL, p)).toEqual([]);
    expect(h.dropReasons()).toEqual(['bad-ip-checksum']);
  });
});

describe('TTL', () => {
  it('forwarded packets leave with TTL one less and a correct header checksum', () => {
    const { h, m } = mappedConn();
    const out = h.inject(SIDE_EXTERNAL, withTtl(m.clientPacket(m.cSent, rpcRequest(2, 10)), 9));
    expect(out[0]!.pkt[8]).toBe(8);
    expect(get16(out[0]!.pkt, 10)).toBe(refIpChecksum(out[0]!.pkt));
  });

  it('TTL 1 from a client: not forwarded, ICMP time exceeded from the external address quoting the packet as received', () => {
    const { h, m } = mappedConn();
    const input = withTtl(m.clientPacket(m.cSent, rpcRequest(2, 1000)), 1);
    const out = h.inject(SIDE_EXTERNAL, input);
    expect(out.length).toBe(1);
    expect(out[0]!.side).toBe(SIDE_EXTERNAL);
    const e = parseIcmp(out[0]!.pkt);
    expect([e.src, e.dst, e.type, e.code, e.mtu, e.icmpChecksumOk, e.ipChecksumOk]).toEqual([EXT, CLIENT, 11, 0, 0, true, true]);
    expect(e.quote).toEqual(input.subarray(0, 548)); // 576 bytes in all (RFC 1812), the original header first
    expect(h.dropReasons()).toEqual(['ttl-exceeded']);
    expect(h.engine.counters.icmpErrorsSent).toBe(1);
    // The quoted TCP segment is cut at 548 bytes: tshark cannot verify it, only the IP headers and ICMP.
    if (haveTshark) expect(tsharkVerdicts('ttl', [out[0]!.pkt])[0]).toMatch(/^1,1\t.*\t1$/);
  });

  it('a SYN with TTL 1 through a pinhole: time exceeded, and it leaves no connection behind', () => {
    const { h, m } = mappedConn();
    const before = h.engine.flows.count;
    const syn = tcpPacket({ src: CLIENT, dst: EXT, sport: 51001, dport: m.eport, seq: 0x2000_0000, ack: 0, flags: TCP_SYN });
    const out = h.inject(SIDE_EXTERNAL, withTtl(syn, 1));
    expect(out.map((e) => parseIcmp(e.pkt).type)).toEqual([11]);
    expect(h.engine.flows.count).toBe(before);
    // The same SYN with a TTL to spare then opens the connection as usual.
    const again = h.inject(SIDE_EXTERNAL, syn);
    expect(again.map((e) => e.side)).toEqual([SIDE_INTERNAL]);
    expect(h.engine.flows.count).toBe(before + 1);
  });

  it('TTL 1 from the server: answered from the gateway\'s internal address', () => {
    const { h, m } = mappedConn();
    const input = withTtl(m.serverPacket(m.sSent, rpcResponse(1, 8)), 1);
    const out = h.inject(SIDE_INTERNAL, input);
    const e = parseIcmp(out[0]!.pkt);
    expect([out[0]!.side, e.src, e.dst, e.type]).toEqual([SIDE_INTERNAL, GW, SERVER, 11]);
    expect(e.quote).toEqual(input);
  });

  it('ICMP errors are rate-limited (100 a second, by the packets\' clock) and the rest counted', () => {
    const { h, m } = mappedConn();
    const input = withTtl(m.clientPacket(m.cSent, rpcRequest(2, 10)), 1);
    let icmp = 0;
    for (let i = 0; i < 150; i++) icmp += h.inject(SIDE_EXTERNAL, input).length;
    expect(icmp).toBe(100);
    expect(h.engine.counters.icmpRateLimited).toBe(50);
    const later = h.nowMs + 500;
    for (let i = 0; i < 100; i++) icmp += h.inject(SIDE_EXTERNAL, input, later).length;
    expect(icmp).toBe(150);
    expect(h.engine.counters.dropsByName()['ttl-exceeded']).toBe(250);
  });
});

describe('ICMP errors about a translated connection (RFC 5508)', () => {
  it('fragmentation-needed from a router inside: to the client from E, quoting the client\'s own segment, MTU kept (and tshark agrees)', () => {
    const { h, m } = mappedConn();
    const sent = m.clientPacket(m.cSent, rpcRequest(2, 200));
    const fwd = h.inject(SIDE_EXTERNAL, sent);
    m.cSent += rpcRequest(2, 200).length;
    const err = icmpError(ROUTER_IN, GW, 3, 4, 1280, fwd[0]!.pkt);
    const out = h.inject(SIDE_INTERNAL, err);
    expect(out.length).toBe(1);
    expect(out[0]!.side).toBe(SIDE_EXTERNAL);
    const e = parseIcmp(out[0]!.pkt);
    expect([e.src, e.dst, e.ttl, e.type, e.code, e.mtu, e.icmpChecksumOk, e.ipChecksumOk]).toEqual([EXT, CLIENT, 63, 3, 4, 1280, true, true]);
    // The quote is the client's segment as it sent it, but for the TTL the gateway took off (and
    // that header's checksum): addresses, ports and the TCP checksum restored exactly.
    expect(diffOutside(e.quote, sent, [8, 10, 11])).toEqual([]);
    expect(e.quote[8]).toBe(sent[8]! - 1);
    expect(get16(e.quote, 10)).toBe(refIpChecksum(e.quote));
    expect(h.engine.counters.icmpTranslated).toBe(1);
    if (haveTshark) expect(tsharkVerdicts('fragneeded', [out[0]!.pkt])).toEqual(['1,1\t1\t1']);
  });

  it('a cut quote (header + 8 bytes, as RFC 792 routers send): addresses and ports translated, quoted IP checksum right', () => {
    const { h, m } = mappedConn();
    const sent = m.clientPacket(m.cSent, rpcRequest(2, 200));
    const fwd = h.inject(SIDE_EXTERNAL, sent);
    const out = h.inject(SIDE_INTERNAL, icmpError(ROUTER_IN, GW, 11, 0, 0, fwd[0]!.pkt.subarray(0, 28)));
    const e = parseIcmp(out[0]!.pkt);
    expect([e.type, e.icmpChecksumOk, e.quote.length]).toEqual([11, true, 28]);
    expect(diffOutside(e.quote, sent.subarray(0, 28), [2, 3, 8, 10, 11])).toEqual([]);
    expect(get16(e.quote, 10)).toBe(refIpChecksum(e.quote));
  });

  it('the reverse: an error from near the client about the server\'s segment goes to the server from G, quoting its own segment', () => {
    const { h, m } = mappedConn();
    const sent = m.serverPacket(m.sSent, rpcResponse(2, 100));
    const fwd = h.inject(SIDE_INTERNAL, sent);
    expect(fwd[0]!.side).toBe(SIDE_EXTERNAL);
    const out = h.inject(SIDE_EXTERNAL, icmpError(ROUTER_OUT, EXT, 3, 1, 0, fwd[0]!.pkt));
    expect(out.length).toBe(1);
    const e = parseIcmp(out[0]!.pkt);
    expect([out[0]!.side, e.src, e.dst, e.type, e.code, e.icmpChecksumOk, e.ipChecksumOk]).toEqual([SIDE_INTERNAL, GW, SERVER, 3, 1, true, true]);
    expect(diffOutside(e.quote, sent, [8, 10, 11])).toEqual([]);
    if (haveTshark) expect(tsharkVerdicts('reverse', [out[0]!.pkt])).toEqual(['1,1\t1\t1']);
  });

  it('after a length change (lookup: published) the quoted sequence number goes back to the server\'s numbering', () => {
    const h = new EngineHarness(policyDoc({ interfaces: ['exchange'], lookup: 'published' }));
    const c = epmSession(h, { cport: 50123 });
    const obj = '00000000-0000-0000-0000-000000000000';
    c.clientSend(eptLookupRequest({ callId: 2 }));
    const stub = eptLookupResponseStub([
      { object: obj, annotation: 'srvsvc', tower: tcpTower(SRVSVC, 3, 0, SERVER, 49152) },
      { object: obj, annotation: 'store', tower: tcpTower(EMSMDB, 0, 81, SERVER, 1032) },
    ]);
    c.serverSend(responseFragments(stub, 2));
    expect(h.refusals()).toEqual([]);
    // The client asks again, acknowledging what it got (in the gateway's numbering).
    const req = eptMapRequest({ callId: 3 });
    h.inject(SIDE_EXTERNAL, c.clientPacket(c.cSent, req, TCP_PSH | TCP_ACK, c.deliveredToClient().length));
    c.cSent += req.length;
    const resp = responseFragments(eptMapResponseStub([tcpTower(EMSMDB, 0, 81, SERVER, 1032)]), 3);
    const sent = c.serverPacket(c.sSent, resp);
    const fwd = h.inject(SIDE_INTERNAL, sent).filter((e) => e.side === SIDE_EXTERNAL);
    expect(fwd.length).toBe(1);
    expect(parseTcp(fwd[0]!.pkt).seq).not.toBe(parseTcp(sent).seq); // shifted: the lookup answer shrank
    const out = h.inject(SIDE_EXTERNAL, icmpError(ROUTER_OUT, EXT, 3, 4, 1280, fwd[0]!.pkt.subarray(0, 28)));
    const e = parseIcmp(out[0]!.pkt);
    expect([out[0]!.side, e.dst, e.icmpChecksumOk]).toEqual([SIDE_INTERNAL, SERVER, true]);
    expect(diffOutside(e.quote, sent.subarray(0, 28), [8, 10, 11])).toEqual([]);
  });

  it('errors about no connection, other ICMP, and errors that would expire are dropped with a reason, never answered', () => {
    const { h, m } = mappedConn();
    const fwd = h.inject(SIDE_EXTERNAL, m.clientPacket(m.cSent, rpcRequest(2, 20)));
    const stray = fwd[0]!.pkt.slice();
    stray[21] = stray[21]! ^ 0x01; // another gateway port: no such connection (quoted checksums need not match)
    expect(h.inject(SIDE_INTERNAL, icmpError(ROUTER_IN, GW, 3, 4, 1280, stray))).toEqual([]);
    const echo = icmpError(ROUTER_IN, GW, 8, 0, 0, fwd[0]!.pkt);
    expect(h.inject(SIDE_INTERNAL, echo)).toEqual([]);
    expect(h.inject(SIDE_INTERNAL, icmpError(ROUTER_IN, GW, 3, 4, 1280, fwd[0]!.pkt, 1))).toEqual([]);
    const corrupt = icmpError(ROUTER_IN, GW, 3, 4, 1280, fwd[0]!.pkt);
    corrupt[40] = corrupt[40]! ^ 0xff;
    expect(h.inject(SIDE_INTERNAL, corrupt)).toEqual([]);
    expect(h.dropReasons()).toEqual(['icmp-no-connection', 'icmp-not-translated', 'ttl-exceeded', 'bad-checksum']);
    expect(h.engine.counters.icmpErrorsSent).toBe(0);
  });

  it('property: random ICMP bodies (and mutated real errors) on either side never throw and are each forwarded or dropped', () => {
    const { h, m } = mappedConn();
    const fwd = h.inject(SIDE_EXTERNAL, m.clientPacket(m.cSent, rpcRequest(2, 20)));
    const real = icmpError(ROUTER_IN, GW, 3, 4, 1280, fwd[0]!.pkt);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 0, maxLength: 600 }).map((body) => ({ side: SIDE_INTERNAL, body, fromReal: false })),
          fc.uint8Array({ minLength: 0, maxLength: 600 }).map((body) => ({ side: SIDE_EXTERNAL, body, fromReal: false })),
          fc.array(fc.tuple(fc.nat(real.length - 21), fc.nat(255)), { minLength: 1, maxLength: 4 }).map((muts) => {
            const body = real.slice(20);
            for (const [at, val] of muts) body[at] = val;
            return { side: SIDE_INTERNAL, body, fromReal: true };
          }),
        ),
        fc.boolean(),
        ({ side, body, fromReal }, fixSum) => {
          const b = body.slice();
          if (fixSum && b.length >= 4) {
            b[2] = 0;
            b[3] = 0;
            const c = ~refSum(b) & 0xffff;
            b[2] = c >> 8;
            b[3] = c & 0xff;
          }
          const pkt = new Uint8Array(20 + b.length);
          pkt.set(real.subarray(0, 20));
          pkt[2] = pkt.length >> 8;
          pkt[3] = pkt.length & 0xff;
          if (side === SIDE_EXTERNAL) pkt.set(Uint8Array.from(EXT.split('.').map(Number)), 16);
          const ic = refIpChecksum(pkt);
          pkt[10] = ic >> 8;
          pkt[11] = ic & 0xff;
          pkt.set(b, 20);
          const ev = h.events.length;
          const out = h.inject(side, pkt);
          const dropped = h.events.slice(ev).filter((e) => e.type === 'dropped').length;
          expect(out.length + dropped).toBe(1);
          for (const o of out) {
            const e = parseIcmp(o.pkt);
            expect(e.ipChecksumOk).toBe(true);
            if (fixSum || fromReal) expect(e.icmpChecksumOk).toBe(true);
          }
        },
      ),
      { numRuns: 1500 },
    );
  });
});

describe('frames larger than the MTU', () => {
  /** The TCP packets of `out` to one side, with their payloads concatenated. */
  function cut(out: Emitted[], side: number): { pkts: Uint8Array[]; payload: Uint8Array } {
    const pkts = out.filter((e) => e.side === side).map((e) => e.pkt);
    return { pkts, payload: Buffer.concat(pkts.map((p) => parseTcp(p).payload)) };
  }

  it('a 20 KB GRO-merged client segment (partial checksum) leaves as MTU-sized segments whose payloads are the input\'s', () => {
    const { h, m } = mappedConn();
    const data = rpcRequest(2, 20000);
    const merged = withPartialChecksum(m.clientPacket(m.cSent, data));
    expect(merged.length).toBeGreaterThan(20000);
    const { pkts, payload } = cut(h.inject(SIDE_EXTERNAL, merged), SIDE_INTERNAL);
    expect(pkts.length).toBe(Math.ceil(data.length / 1460));
    expect(payload).toEqual(Buffer.from(data));
    let seq = m.clientSeq(m.cSent);
    pkts.forEach((p, k) => {
      const t = parseTcp(p);
      const last = k === pkts.length - 1;
      expect(p.length).toBe(last ? 40 + (data.length % 1460 || 1460) : 1500);
      expect([t.src, t.dst, t.dport, t.seq]).toEqual([GW, SERVER, 1032, seq]);
      expect(t.flags & (TCP_PSH | TCP_FIN)).toBe(last ? TCP_PSH : 0);
      expect(get16(p, 4)).toBe(k); // IP id advanced from the merged frame's (0)
      expect(p[8]).toBe(63);
      expect(get16(p, 36)).toBe(refL4Checksum(p));
      expect(get16(p, 10)).toBe(refIpChecksum(p));
      seq = (seq + t.payload.length) >>> 0;
    });
    expect(h.engine.counters.packetsSegmented).toBe(1);
    if (haveTshark) expect(new Set(tsharkVerdicts('gro', pkts))).toEqual(new Set(['1\t1\t']));
  });

  it('a 1500-byte DF segment toward a 1280-MTU side: dropped, frag-needed with MTU 1280 to the sender from E; 1280 passes', () => {
    const { h, m } = mappedConn({ internalMtu: 1280 });
    const data = rpcRequest(2, 1460 - 24);
    const input = m.clientPacket(m.cSent, data);
    expect(input.length).toBe(1500);
    const out = h.inject(SIDE_EXTERNAL, input);
    expect(out.length).toBe(1);
    const e = parseIcmp(out[0]!.pkt);
    expect([out[0]!.side, e.src, e.dst, e.type, e.code, e.mtu, e.icmpChecksumOk, e.ipChecksumOk]).toEqual([SIDE_EXTERNAL, EXT, CLIENT, 3, 4, 1280, true, true]);
    expect(e.quote).toEqual(input.subarray(0, 548));
    expect(h.dropReasons()).toEqual(['too-big-dont-fragment']);
    // The client, told, sends 1280-byte segments: they pass as they are.
    const small = rpcRequest(2, 1240 - 24);
    const ok = h.inject(SIDE_EXTERNAL, m.clientPacket(m.cSent, small));
    expect(ok.map((o) => [o.side, o.pkt.length])).toEqual([[SIDE_INTERNAL, 1280]]);
  });

  it('a merged frame toward a narrower side is cut to that side\'s MTU, and to the path MTU a translated frag-needed taught', () => {
    const { h, m } = mappedConn({ internalMtu: 1400 });
    const a = rpcRequest(2, 4000);
    const first = cut(h.inject(SIDE_EXTERNAL, m.clientPacket(m.cSent, a)), SIDE_INTERNAL);
    expect(first.pkts.map((p) => p.length).slice(0, -1)).toEqual(Array(first.pkts.length - 1).fill(1400));
    m.cSent += a.length;
    // A router further in says 1280: the client is told, and its next merged frames are cut to it.
    h.inject(SIDE_INTERNAL, icmpError(ROUTER_IN, GW, 3, 4, 1280, first.pkts[0]!));
    const b = rpcRequest(3, 4000);
    const second = cut(h.inject(SIDE_EXTERNAL, m.clientPacket(m.cSent, b)), SIDE_INTERNAL);
    expect(Math.max(...second.pkts.map((p) => p.length))).toBe(1280);
    expect(second.payload).toEqual(Buffer.from(b));
  });

  it('a merged frame from the server toward the client is cut to the external MTU', () => {
    const { h, m } = mappedConn();
    const data = rpcResponse(2, 9000);
    const { pkts, payload } = cut(h.inject(SIDE_INTERNAL, m.serverPacket(m.sSent, data)), SIDE_EXTERNAL);
    expect(pkts.length).toBe(Math.ceil(data.length / 1460));
    expect(payload).toEqual(Buffer.from(data));
    for (const p of pkts) expect([parseTcp(p).src, parseTcp(p).dst]).toEqual([EXT, CLIENT]);
  });
});

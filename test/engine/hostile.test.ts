/**
 * Hostile input: random bytes as IPv4 packets on either side, junk on a live EPM connection,
 * random mutations of valid EPM conversations, malformed EPM PDUs, and attempts to make the
 * gateway hold unbounded data. The engine must never throw, account for every packet (forwarded,
 * dropped with a reason, held, or refused), keep held bytes within its limits (and give them
 * back), and refuse malformed RPC with a detail that says where.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  CLIENT, CLIENT2, EMSMDB, EXT, EngineHarness, GW, SERVER, SIDE_EXTERNAL, SIDE_INTERNAL, TcpConn,
  bindMapped, epmBind, epmBindAck, epmSession, rpcRequest, rpcResponse, towerFieldOffsets, eptMapRequest, eptMapResponseStub, mapCall, parseTcp, responseFragments, rulesDoc, tcpPacket, tcpTower,
} from '../helpers/engine-harness.js';
import { REASON_COUNT, REFUSE_MALFORMED } from '../../src/engine/reasons.js';
import { finishIpv4Checksum, finishTcpChecksumV4 } from '../../src/wire/checksum.js';
import { TCP_ACK, TCP_PSH, TCP_SYN } from '../../src/wire/packet.js';
import { icmpChecksumOk } from '../../src/wire/icmp.js';
import { ipv4ToString } from '../../src/wire/addr.js';

const LIMITS = { maxHeldBytesPerFlow: 4096, maxHeldBytesTotal: 16384 };

/**
 * Injects one packet and checks the engine accounted for it: something was emitted, or one drop
 * was reported, or the connection was refused, or the packet is now held. Never throws.
 */
function injectAccounted(h: EngineHarness, side: number, pkt: Uint8Array, nowMs = h.nowMs): void {
  const ev0 = h.events.length;
  const em0 = h.emittedCount;
  const held0 = h.heldTotal;
  h.inject(side, pkt, nowMs);
  const fresh = h.events.slice(ev0);
  const dropped = fresh.filter((e) => e.type === 'dropped').length;
  const refused = fresh.filter((e) => e.type === 'refused').length;
  const emitted = h.emittedCount - em0;
  const held = h.heldTotal > held0;
  if (!(emitted > 0 || dropped > 0 || refused > 0 || held)) {
    throw new Error(`packet vanished: nothing emitted, dropped, refused or held (${Buffer.from(pkt).toString('hex').slice(0, 120)})`);
  }
  expect(dropped).toBeLessThanOrEqual(1);
  expect(h.heldTotal).toBeGreaterThanOrEqual(0);
  expect(h.heldTotal).toBeLessThanOrEqual(h.rules.gateway.limits.maxHeldBytesTotal);
}

/** Counters agree with what was seen: packets in/out per side, drop and refusal counts. */
function expectCountersAddUp(h: EngineHarness, injected: [number, number]): void {
  const c = h.engine.counters;
  expect([c.packetsIn[SIDE_EXTERNAL], c.packetsIn[SIDE_INTERNAL]]).toEqual(injected);
  if (h.emitted.length === h.emittedCount) {
    expect([c.packetsOut[SIDE_EXTERNAL], c.packetsOut[SIDE_INTERNAL]]).toEqual([h.onSide(SIDE_EXTERNAL).length, h.onSide(SIDE_INTERNAL).length]);
  }
  let drops = 0;
  let refusals = 0;
  for (let i = 1; i < REASON_COUNT; i++) (i < REFUSE_MALFORMED ? (drops += c.drops[i]!) : (refusals += c.drops[i]!));
  expect(drops).toBe(h.of('dropped').length);
  expect(refusals).toBe(h.of('refused').length);
}

/**
 * Every emitted packet is a well-formed IPv4/TCP packet (and, when every input had valid
 * checksums, valid checksums: the engine updates them incrementally, so a bad input checksum
 * stays bad on the way out, which is what the receiver needs to see).
 */
function expectWellFormedOutput(h: EngineHarness, inputChecksumsValid: boolean): void {
  for (const e of h.emitted) {
    if (e.pkt[9] === 1) {
      // An ICMP error the gateway answered with (TTL exceeded): from its own address on that side.
      expect(icmpChecksumOk(e.pkt, 20, e.pkt.length - 20)).toBe(true);
      expect(ipv4ToString(((e.pkt[12]! << 24) | (e.pkt[13]! << 16) | (e.pkt[14]! << 8) | e.pkt[15]!) >>> 0)).toBe(e.side === SIDE_EXTERNAL ? EXT : GW);
      continue;
    }
    const p = parseTcp(e.pkt);
    if (inputChecksumsValid) expect(p.ipChecksumOk && p.tcpChecksumOk).toBe(true);
    // Nothing goes to the clients from the inside addresses, nor to the servers from outside ones.
    if (e.side === SIDE_EXTERNAL) expect([SERVER, GW]).not.toContain(p.src);
    else expect(p.src).toBe(GW);
  }
}

/** All flows expire; nothing may stay held. */
function expectNothingHeldAtTheEnd(h: EngineHarness): void {
  h.tick(h.nowMs + 3_600_000);
  expect(h.engine.flows.count).toBe(0);
  expect(h.heldTotal).toBe(0);
}

const anyAddr = fc.constantFrom(EXT, GW, SERVER, CLIENT, CLIENT2, '0.0.0.0', '255.255.255.255', '10.1.2.3');
const anyPort = fc.oneof(fc.constantFrom(135, 40000, 50000, 1032, 0, 65535), fc.integer({ min: 0, max: 65535 }));

/** A TCP/IPv4 packet with random fields, then perhaps some header bytes overwritten. */
const tcpish = fc
  .record({
    src: anyAddr, dst: anyAddr, sport: anyPort, dport: anyPort, seq: fc.nat(), ack: fc.nat(), flags: fc.nat({ max: 255 }),
    payload: fc.uint8Array({ maxLength: 80 }),
    pokes: fc.array(fc.tuple(fc.nat({ max: 39 }), fc.nat({ max: 255 })), { maxLength: 3 }),
    cut: fc.option(fc.nat({ max: 120 })),
  })
  .map((r) => {
    let pkt = tcpPacket({ src: r.src, dst: r.dst, sport: r.sport, dport: r.dport, seq: r.seq, ack: r.ack, flags: r.flags, payload: r.payload });
    for (const [at, v] of r.pokes) pkt[at] = v;
    if (r.cut !== null) pkt = pkt.slice(0, r.cut);
    return pkt;
  });

const anyPacket = fc.oneof(fc.uint8Array({ maxLength: 120 }), tcpish);

describe('random packets never throw and are all accounted for', () => {
  it('random bytes and random TCP/IPv4 packets on either side', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(SIDE_EXTERNAL, SIDE_INTERNAL), anyPacket), { minLength: 1, maxLength: 40 }), (pkts) => {
        const h = new EngineHarness(rulesDoc({}, { limits: LIMITS }));
        const n: [number, number] = [0, 0];
        for (const [side, pkt] of pkts) {
          injectAccounted(h, side, pkt);
          n[side]!++;
          h.nowMs += 10;
        }
        expectCountersAddUp(h, n);
        expectWellFormedOutput(h, false);
        expectNothingHeldAtTheEnd(h);
      }),
      { numRuns: 150 },
    );
  });

  it('junk segments on a live EPM connection (either way, around the expected sequence numbers)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            fromClient: fc.boolean(), rel: fc.integer({ min: -200, max: 5000 }), flags: fc.constantFrom(TCP_ACK | TCP_PSH, TCP_ACK, TCP_SYN, 0, 0xff, TCP_ACK | 1, TCP_ACK | 4),
            payload: fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.constant(epmBind()), fc.constant(eptMapRequest()), fc.constant(epmBindAck())),
          }),
          { minLength: 1, maxLength: 30 },
        ),
        (segs) => {
          const h = new EngineHarness(rulesDoc({}, { limits: LIMITS }));
          const c = new TcpConn(h);
          expect(c.open()).toBe(true);
          const n: [number, number] = [3 - 1, 1]; // SYN + ACK from the client, SYN-ACK from the server
          for (const s of segs) {
            const pkt = s.fromClient ? c.clientPacket(s.rel, s.payload, s.flags) : c.serverPacket(s.rel, s.payload, s.flags);
            injectAccounted(h, s.fromClient ? SIDE_EXTERNAL : SIDE_INTERNAL, pkt);
            n[s.fromClient ? 0 : 1]++;
            h.nowMs += 5;
          }
          expectCountersAddUp(h, n);
          expectWellFormedOutput(h, true);
          expectNothingHeldAtTheEnd(h);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('junk on a mapped connection', () => {
  it('random segments either way after a valid bind: never throw, accounted for, nothing held at the end', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            fromClient: fc.boolean(), rel: fc.integer({ min: -100, max: 3000 }), flags: fc.constantFrom(TCP_ACK | TCP_PSH, TCP_ACK, 0xff, TCP_ACK | 1, TCP_ACK | 4),
            payload: fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.constant(rpcRequest(3, 50)), fc.constant(rpcResponse(3, 50)), fc.constant(epmBind(4, false, EMSMDB, 0))),
          }),
          { minLength: 1, maxLength: 25 },
        ),
        (segs) => {
          const h = new EngineHarness(rulesDoc({}, { limits: LIMITS }));
          const e = epmSession(h);
          mapCall(e, [tcpTower(EMSMDB, 0, 81, SERVER, 1032)]);
          const m = new TcpConn(h, { cport: 51000, eport: 40000, sport: 1032 });
          expect(m.open()).toBe(true);
          bindMapped(m);
          const n: [number, number] = [h.engine.counters.packetsIn[SIDE_EXTERNAL]!, h.engine.counters.packetsIn[SIDE_INTERNAL]!];
          for (const s of segs) {
            const pkt = s.fromClient ? m.clientPacket(m.cSent + s.rel, s.payload, s.flags) : m.serverPacket(m.sSent + s.rel, s.payload, s.flags);
            injectAccounted(h, s.fromClient ? SIDE_EXTERNAL : SIDE_INTERNAL, pkt);
            n[s.fromClient ? 0 : 1]++;
          }
          expectCountersAddUp(h, n);
          expectWellFormedOutput(h, true);
          expectNothingHeldAtTheEnd(h);
        },
      ),
      { numRuns: 100 },
    );
  });
});

/** A valid conversation recorded packet by packet: bind, ept_map with 2 towers, a mapped connection. */
function recordedConversation(): { side: number; pkt: Uint8Array }[] {
  const h = new EngineHarness(rulesDoc({}, { limits: LIMITS }), { recordInput: true });
  const c = epmSession(h);
  mapCall(c, [tcpTower(EMSMDB, 0, 81, SERVER, 1032), tcpTower(EMSMDB, 0, 81, SERVER, 1033)]);
  const m = new TcpConn(h, { cport: 51000, eport: 40000, sport: 1032 });
  m.open();
  bindMapped(m);
  m.clientSend(rpcRequest(2, 100, 7));
  m.serverSend(rpcResponse(2, 100, 8), 50);
  c.clientFin();
  c.serverFin();
  if (h.rewrites().length !== 2 || h.refusals().length !== 0) throw new Error('the recorded conversation should rewrite 2 towers and refuse nothing');
  return h.injected.map(({ side, pkt }) => ({ side, pkt }));
}

describe('mutations of a valid EPM conversation', () => {
  const base = recordedConversation();

  const mutation = fc.record({
    which: fc.nat(),
    kind: fc.constantFrom('bitflip', 'truncate', 'u16-max', 'u16-zero', 'u16-random', 'frag_length', 'auth_length', 'drop', 'duplicate'),
    at: fc.nat(),
    value: fc.nat({ max: 0xffff }),
    fixChecksums: fc.boolean(),
  });

  type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

  function mutate(pkts: { side: number; pkt: Uint8Array }[], muts: Mutation[]): { side: number; pkt: Uint8Array }[] {
    const out = pkts.map((p) => ({ side: p.side, pkt: p.pkt.slice() }));
    for (const m of muts) {
      const i = m.which % out.length;
      const p = out[i]!;
      const b = p.pkt;
      const payloadOff = 40;
      switch (m.kind) {
        case 'bitflip':
          if (b.length === 0) continue;
          b[m.at % b.length] = b[m.at % b.length]! ^ (1 << (m.value & 7));
          break;
        case 'truncate':
          p.pkt = b.slice(0, m.at % b.length);
          continue;
        case 'u16-max':
        case 'u16-zero':
        case 'u16-random': {
          const at = m.at % Math.max(1, b.length - 1);
          const v = m.kind === 'u16-max' ? 0xffff : m.kind === 'u16-zero' ? 0 : m.value;
          b[at] = v >>> 8;
          b[at + 1] = v & 0xff;
          break;
        }
        case 'frag_length':
        case 'auth_length':
          // The DCE/RPC header fields of a PDU starting at the payload (LE).
          if (b.length >= payloadOff + 12) {
            const at = payloadOff + (m.kind === 'frag_length' ? 8 : 10);
            b[at] = m.value & 0xff;
            b[at + 1] = m.value >>> 8;
          }
          break;
        case 'drop':
          out.splice(i, 1);
          if (out.length === 0) return out;
          continue;
        case 'duplicate':
          out.splice(i, 0, { side: p.side, pkt: b.slice() });
          continue;
      }
      if (m.fixChecksums && b.length >= 40 && (b[0]! >> 4) === 4 && (b[0]! & 15) === 5) {
        const total = (b[2]! << 8) | b[3]!;
        if (total === b.length) {
          finishIpv4Checksum(b, 0, 20);
          if (b[9] === 6 && (b[32]! >> 4) === 5) finishTcpChecksumV4(b, 0, 20, b.length - 20);
        }
      }
    }
    return out;
  }

  it('never throw, every packet accounted for, held bytes bounded and given back', () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 6 }), (muts) => {
        const pkts = mutate(base, muts);
        const h = new EngineHarness(rulesDoc({}, { limits: LIMITS }));
        const n: [number, number] = [0, 0];
        for (const { side, pkt } of pkts) {
          injectAccounted(h, side, pkt);
          n[side]!++;
          h.nowMs += 1;
        }
        expectCountersAddUp(h, n);
        expectWellFormedOutput(h, muts.every((m) => m.fixChecksums || m.kind === 'truncate' || m.kind === 'drop' || m.kind === 'duplicate'));
        // A rewrite that happened named the external address, never anything else.
        for (const r of h.rewrites()) expect(r.rewritten.startsWith(`${EXT}:`)).toBe(true);
        expectNothingHeldAtTheEnd(h);
      }),
      { numRuns: 300 },
    );
  });
});

describe('malformed EPM PDUs are refused as malformed-rpc, with the offset in the detail', () => {
  function setU16le(b: Uint8Array, at: number, v: number): Uint8Array {
    const c = b.slice();
    c[at] = v & 0xff;
    c[at + 1] = v >>> 8;
    return c;
  }

  /** The first tower's floor_count inside an ept_map request / response PDU. */
  function floorCountAt(pdu: Uint8Array, towerStart: number[]): number {
    // Find the tower by its fixed prefix: floor_count 5, then floor 1 (lhs 19, 0x0d).
    for (let i = 24; i + 5 < pdu.length; i++) {
      if (pdu[i] === 5 && pdu[i + 1] === 0 && pdu[i + 2] === 19 && pdu[i + 3] === 0 && pdu[i + 4] === 0x0d) {
        towerStart.push(i);
        return i;
      }
    }
    throw new Error('no tower in the PDU');
  }

  function refusedDetail(h: EngineHarness): string {
    const r = h.refusals();
    expect(r.map((x) => x.reason)).toEqual(['malformed-rpc']);
    return r[0]!.detail;
  }

  it('bind whose frag_length cuts its context list short', () => {
    const h = new EngineHarness(rulesDoc());
    const c = new TcpConn(h);
    c.open();
    const bind = epmBind();
    c.clientSend(setU16le(bind, 8, 30).subarray(0, 30));
    expect(refusedDetail(h)).toMatch(/\boffset \d+/);
    expect(c.deliveredToServer().length).toBe(0);
  });

  it('request whose auth_length says more than the PDU holds: refused, nothing reaches the server', () => {
    const h = new EngineHarness(rulesDoc());
    const c = epmSession(h);
    const before = c.deliveredToServer().length;
    c.clientSend(setU16le(eptMapRequest(), 10, 400));
    expect(refusedDetail(h)).toMatch(/auth_length/);
    expect(c.deliveredToServer().length).toBe(before);
  });

  it('response whose auth_length lies: refused, no mapping, nothing reaches the client', () => {
    const h = new EngineHarness(rulesDoc());
    const c = epmSession(h);
    c.clientSend(eptMapRequest());
    const before = c.deliveredToClient().length;
    const resp = responseFragments(eptMapResponseStub([tcpTower(EMSMDB, 0, 81, SERVER, 1032)]), 2);
    c.serverSend(setU16le(resp, 10, 1000));
    expect(refusedDetail(h)).toMatch(/auth_length/);
    expect(h.engine.mappings.count).toBe(0);
    expect(c.deliveredToClient().length).toBe(before);
  });

  // Regression: a PDU refused by the common-header decoder had a detail without an offset.
  it('auth_length lying: the detail names the offset', () => {
    for (const fromClient of [true, false]) {
      const h = new EngineHarness(rulesDoc());
      const c = epmSession(h);
      if (fromClient) c.clientSend(setU16le(eptMapRequest(), 10, 400));
      else {
        c.clientSend(eptMapRequest());
        c.serverSend(setU16le(responseFragments(eptMapResponseStub([tcpTower(EMSMDB, 0, 81, SERVER, 1032)]), 2), 10, 1000));
      }
      expect(refusedDetail(h)).toMatch(/\boffset \d+/);
    }
  });

  // Regression: a PDU refused by the framer had a detail without an offset.
  it('frag_length below the header size (framer): the detail names the offset', () => {
    const h = new EngineHarness(rulesDoc());
    const c = epmSession(h);
    c.clientSend(setU16le(eptMapRequest(), 8, 10));
    expect(refusedDetail(h)).toMatch(/\boffset \d+/);
  });

  it('a frag_length longer than the PDU swallows the start of the next PDU', () => {
    const h = new EngineHarness(rulesDoc());
    const c = epmSession(h);
    const req = eptMapRequest();
    // frag_length 8 bytes too long: the next PDU is read 8 bytes late, its rpc_vers is not 5.
    c.clientSend(setU16le(req, 8, req.length + 8));
    c.clientSend(eptMapRequest({ callId: 3 }));
    const detail = refusedDetail(h);
    expect(detail).toMatch(/\boffset \d+/);
  });

  it('rpc_vers 4 on 135 is refused', () => {
    const h = new EngineHarness(rulesDoc());
    const c = new TcpConn(h);
    c.open();
    const bind = epmBind();
    bind[0] = 4;
    c.clientSend(bind);
    expect(h.refusals().map((r) => r.reason)).toEqual(['malformed-rpc']);
    expect(c.deliveredToServer().length).toBe(0);
  });
});

describe('held bytes are bounded', () => {
  it('a PDU announced at 65535 bytes and dribbled 1 byte a segment is refused at the per-flow limit (pdu-hold-limit), held bytes given back', () => {
    const h = new EngineHarness(rulesDoc({}, { limits: LIMITS }));
    const c = epmSession(h);
    const req = eptMapRequest();
    const big = new Uint8Array(65535);
    big.set(req);
    big[8] = 0xff;
    big[9] = 0xff;
    let sent = 0;
    for (; sent < 2000 && h.refusals().length === 0; sent++) {
      c.clientSeg(c.cSent + sent, big.subarray(sent, sent + 1));
      expect(h.heldTotal).toBeLessThanOrEqual(LIMITS.maxHeldBytesPerFlow);
    }
    expect(h.refusals().map((r) => r.reason)).toEqual(['pdu-hold-limit']);
    expect(sent).toBeLessThan(LIMITS.maxHeldBytesPerFlow / 41 + 2);
    expect(h.heldTotal).toBe(0);
  });

  it('out-of-order segments beyond the per-flow limit are dropped (hold-limit), not kept', () => {
    const h = new EngineHarness(rulesDoc({}, { limits: LIMITS }));
    const c = epmSession(h);
    const chunk = new Uint8Array(500);
    let dropped = 0;
    for (let k = 1; k <= 20; k++) {
      c.clientSeg(c.cSent + 1 + k * 500, chunk); // a 1-byte hole before them: never contiguous
      dropped = h.dropReasons().filter((r) => r === 'hold-limit').length;
      expect(h.heldTotal).toBeLessThanOrEqual(LIMITS.maxHeldBytesPerFlow);
    }
    expect(dropped).toBeGreaterThan(0);
    expectNothingHeldAtTheEnd(h);
  });

  // Regression: the engine added a duplicate's length to heldTotal although HeldStream.holdAhead
  // had ignored it, and never took it back.
  it('the same out-of-order segment sent again and again is kept once (held bytes do not grow)', () => {
    const h = new EngineHarness(rulesDoc({}, { limits: LIMITS }));
    const c = epmSession(h);
    const seg = new Uint8Array(100);
    c.clientSeg(c.cSent + 10, seg);
    const held = h.heldTotal;
    for (let k = 0; k < 5; k++) c.clientSeg(c.cSent + 10, seg);
    expect(h.heldTotal).toBe(held);
  });

  // The leak above, seen from outside: a client repeats an out-of-order 1-byte segment until the
  // global budget (maxHeldBytesTotal) is "used"; its connection goes away; the budget must come back.
  it('one client repeating an out-of-order segment cannot exhaust the global hold budget of the others', () => {
    const h = new EngineHarness(rulesDoc({}, { limits: LIMITS }));
    const attacker = epmSession(h, { client: CLIENT2, cport: 40123 });
    for (let k = 0; k < 1000; k++) attacker.clientSeg(attacker.cSent + 10, Uint8Array.of(0));
    attacker.clientSeg(attacker.cSent, new Uint8Array(0), 4 /* RST */);
    h.tick(h.nowMs + 60_000);
    expect(h.engine.flows.count).toBe(0);
    // An innocent client, later, whose ept_map request arrives in two segments (so it is held).
    const c = epmSession(h);
    const req = eptMapRequest();
    for (const [from, to] of [[0, 20], [20, 40], [40, req.length]] as const) c.clientSeg(c.cSent + from, req.subarray(from, to));
    c.cSent += req.length;
    expect(h.refusals()).toEqual([]);
    c.serverSend(responseFragments(eptMapResponseStub([tcpTower(EMSMDB, 0, 81, SERVER, 1032)]), 2));
    expect(h.rewrites().length).toBe(1);
  });
});

describe('segments that fail their checksum', () => {
  // The engine forwards what it is given with incremental checksum updates, so a corrupt
  // segment stays corrupt for the receiver. On the EPM leg it is also READ: if the gateway
  // parses bytes the endpoint will discard, its view of the stream parts from the endpoints'.
  // Regression: the EPM leg read segments without checking their TCP checksum, so a corrupted
  // copy decided the rewrite (here: a mapping to the corrupted port 1033) and the good
  // retransmission only got the remembered patches.
  it('a corrupted copy of a response segment followed by the good retransmission: the client gets a correct rewrite', () => {
    const h = new EngineHarness(rulesDoc());
    const c = epmSession(h);
    c.clientSend(eptMapRequest());
    const resp = responseFragments(eptMapResponseStub([tcpTower(EMSMDB, 0, 81, SERVER, 1032)]), 2);
    const good = c.serverPacket(c.sSent, resp);
    const bad = good.slice();
    // Corrupt the tower's port (1032 → 1033) without fixing the checksum: a receiver drops it.
    const stub = eptMapResponseStub([tcpTower(EMSMDB, 0, 81, SERVER, 1032)]);
    const portAt = 40 + 24 + towerFieldOffsets(stub, false, false)[0]!.portOff; // IP+TCP, response header
    expect((bad[portAt]! << 8) | bad[portAt + 1]!).toBe(1032);
    bad[portAt + 1] = 1033 & 0xff;
    h.inject(SIDE_INTERNAL, bad);
    h.inject(SIDE_INTERNAL, good);
    c.sSent += resp.length;
    // Whatever the engine did with the corrupt copy, the mapping it made must lead to port 1032.
    const m = new TcpConn(h, { cport: 51000, eport: 40000, sport: 1032 });
    const syn = m.syn();
    expect(syn.length).toBe(1);
    expect(parseTcp(syn[0]!.pkt).dport).toBe(1032);
  });
});

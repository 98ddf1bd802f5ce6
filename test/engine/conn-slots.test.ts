/**
 * A direction whose only state is a few unacknowledged patches is carried in a slot of Conns'
 * slab (HeldStream.saveSlot/loadSlot) instead of a HeldStream of its own. Property: through any
 * sequence of patches, ACKs, holds, releases, pickups and connections leaving and coming back,
 * interleaved over several connections, each direction read back from Conns exports exactly the
 * state of a HeldStream of its own that was given the same calls (the plain path the slot
 * shortcuts), and no slot is left in use once every connection has left.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Conns } from '../../src/engine/conn.js';
import { HeldStream, SLOT_PATCHES } from '../../src/stream/held-stream.js';
import { decodeSnapshot, encodeSnapshot } from '../../src/engine/snapshot.js';
import { EngineHarness, SERVER, TcpConn, epmSession, eptMapRequest, eptMapResponseStub, responseFragments, rulesDoc, tcpTower } from '../helpers/engine-harness.js';
import { EMSMDB } from '../helpers/policy-harness.js';
import type { EpmLeg } from '../../src/engine/epm-leg.js';
import type { MappedLeg } from '../../src/engine/mapped-leg.js';

const FLOWS = 5;
const NO_LEG = { release(): void {} };

type Op =
  | { k: 'patch'; flow: number; d: number; at: number; bytes: number[] }
  | { k: 'ack'; flow: number; d: number; at: number }
  | { k: 'data'; flow: number; d: number; n: number }
  | { k: 'hold'; flow: number; d: number; n: number }
  | { k: 'release'; flow: number; d: number }
  | { k: 'renew'; flow: number }
  | { k: 'check'; flow: number; d: number };

const flowArb = fc.integer({ min: 0, max: FLOWS - 1 });
const dArb = fc.integer({ min: 0, max: 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('patch' as const), flow: flowArb, d: dArb, at: fc.integer({ min: -40, max: 0 }), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 12 }) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('ack' as const), flow: flowArb, d: dArb, at: fc.integer({ min: -40, max: 2 }) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('data' as const), flow: flowArb, d: dArb, n: fc.integer({ min: 1, max: 30 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('hold' as const), flow: flowArb, d: dArb, n: fc.integer({ min: 1, max: 30 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('release' as const), flow: flowArb, d: dArb }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('renew' as const), flow: flowArb }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('check' as const), flow: flowArb, d: dArb }) },
);

function fresh(): Conns {
  return new Conns(() => NO_LEG as unknown as EpmLeg, () => NO_LEG as unknown as MappedLeg);
}

/** Starts both directions of `flow` synced at an ISN of their own, in Conns and in the model. */
function start(cs: Conns, model: HeldStream[][], flow: number, isn: number): void {
  cs.addMapped(flow);
  model[flow] = [new HeldStream(), new HeldStream()];
  for (const d of [0, 1]) {
    cs.stream(flow, d === 0).onSyn(isn + d * 0x10000);
    model[flow]![d]!.onSyn(isn + d * 0x10000);
  }
  cs.settle(flow);
}

const DUMMY = new Uint8Array(60);

function apply(cs: Conns, model: HeldStream[][], op: Op): void {
  if (op.k === 'renew') {
    cs.remove(op.flow, 0);
    start(cs, model, op.flow, 0xfffff000 + op.flow * 977);
    return;
  }
  const m = model[op.flow]![op.d]!;
  const fromClient = op.d === 0;
  switch (op.k) {
    case 'patch': {
      const bytes = Uint8Array.from(op.bytes);
      cs.stream(op.flow, fromClient).patch((m.nextSeq + op.at) >>> 0, bytes, 0, bytes.length, null, null, 0);
      m.patch((m.nextSeq + op.at) >>> 0, bytes, 0, bytes.length, null, null, 0);
      break;
    }
    case 'ack': {
      // As StreamPath.step does: an ACK prunes the other end's own stream, if it has one.
      const own = cs.ownStream(op.flow, fromClient);
      if (own !== null) own.acked((m.nextSeq + op.at) >>> 0);
      m.acked((m.nextSeq + op.at) >>> 0);
      break;
    }
    case 'data':
      // Bytes read and forwarded at once.
      for (const s of [cs.stream(op.flow, fromClient), m]) {
        if (s.held.length !== 0) continue;
        s.nextSeq = s.releasedSeq = (s.nextSeq + op.n) >>> 0;
      }
      break;
    case 'hold':
      for (const s of [cs.stream(op.flow, fromClient), m]) {
        s.hold(DUMMY, 0, DUMMY.length, s.nextSeq, 40, op.n);
        s.nextSeq = (s.nextSeq + op.n) >>> 0;
      }
      break;
    case 'release':
      for (const s of [cs.stream(op.flow, fromClient), m]) s.release(() => {});
      break;
    case 'check':
      expect(cs.stream(op.flow, fromClient).exportState()).toEqual(m.exportState());
      expect(cs.stream(op.flow, fromClient).releasedSeq).toBe(m.releasedSeq);
      break;
  }
  cs.settle(op.flow);
}

describe('Conns: directions carried in slots', () => {
  it('every direction exports what a HeldStream of its own exports, whatever the interleaving; no slot outlives its connections', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 120 }), (ops) => {
        const cs = fresh();
        const model: HeldStream[][] = [];
        for (let f = 0; f < FLOWS; f++) start(cs, model, f, 1000 + f * 7919);
        for (const op of ops) apply(cs, model, op);
        for (let f = 0; f < FLOWS; f++) {
          for (const d of [0, 1]) {
            expect(cs.stream(f, d === 0).exportState()).toEqual(model[f]![d]!.exportState());
            cs.settle(f);
          }
        }
        for (let f = 0; f < FLOWS; f++) cs.remove(f, 0);
        expect(cs.slotsInUse).toBe(0);
      }),
      { numRuns: 400 },
    );
  });

  it('an EPM answer left unacknowledged takes a slot, not a HeldStream; the ACK gives the slot back', () => {
    const cs = fresh();
    const m = new HeldStream();
    start(cs, [[]], 0, 5000);
    m.onSyn(5000 + 0x10000);
    const s2c = cs.stream(0, false);
    const two = Uint8Array.of(0x04, 0x08);
    const four = Uint8Array.of(192, 0, 2, 1);
    for (const s of [s2c, m]) {
      s.nextSeq = s.releasedSeq = (s.nextSeq + 100) >>> 0;
      s.patch((s.nextSeq - 20) >>> 0, two, 0, 2, null, null, 0);
      s.patch((s.nextSeq - 10) >>> 0, four, 0, 4, null, null, 0);
    }
    cs.settle(0);
    expect(cs.slotsInUse).toBe(1);
    expect(cs.ownStream(0, false)!.exportState()).toEqual(m.exportState());
    cs.settle(0);
    cs.ownStream(0, false)!.acked((m.nextSeq) >>> 0);
    m.acked(m.nextSeq);
    cs.settle(0);
    expect(cs.slotsInUse).toBe(0);
    expect(cs.stream(0, false).exportState()).toEqual(m.exportState());
    expect(SLOT_PATCHES).toBeGreaterThanOrEqual(2);
  });
});

describe('an unacknowledged EPM answer across a restart', () => {
  it('its patches leave the slot for the snapshot and come back into one: the retransmission is rewritten as the answer was', () => {
    const doc = rulesDoc();
    const h = new EngineHarness(doc);
    const c = epmSession(h, { cport: 50321 });
    c.clientSend(eptMapRequest({ callId: 4 }));
    const answer = responseFragments(eptMapResponseStub([tcpTower(EMSMDB, 0, 81, SERVER, 1044)]), 4);
    const at = c.sSent;
    const [first] = c.serverSend(answer);
    expect(first).toBeDefined();
    const r = decodeSnapshot(encodeSnapshot(h.engine.snapshot(h.nowMs)));
    if (!r.ok) throw new Error(r.error);
    const h2 = new EngineHarness(doc);
    expect(h2.engine.restore(r.snapshot, h.nowMs, 3_600_000)).toMatchObject({ ok: true });
    const c2 = new TcpConn(h2, { client: c.client, cport: c.cport, ext: c.ext, eport: c.eport, server: c.server, sport: c.sport, cIsn: c.cIsn, sIsn: c.sIsn });
    c2.cSent = c.cSent;
    c2.sSent = c.sSent;
    c2.gwPort = c.gwPort;
    const again = c2.serverSeg(at, answer);
    expect(again).toHaveLength(1);
    expect(again[0]!.pkt).toEqual(first!.pkt);
  });
});

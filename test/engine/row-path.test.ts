/**
 * StreamPath's row path (fromRow: a mapped connection whose row alone carries its stream, a pure
 * ACK or the next bytes exactly) against the general path it shortcuts (setRowPath(false)): the
 * same random conversations, cut and disturbed the same way (retransmissions, overlaps, holes
 * filled later, pure ACKs, a RST, corrupt segments, a push registration whose callback is
 * rewritten, a request on a context never bound), give the same emitted packets (side and bytes,
 * in order), the same events and the same counters and held bytes. And the row path is taken (a
 * row path never taken would agree with anything).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { EngineHarness, SIDE_EXTERNAL, SIDE_INTERNAL, ip, type TcpConn } from '../helpers/engine-harness.js';
import { EMSMDB, accept, bindAckPdu, bindPdu, ctx, openMapped, patternStub, policyDoc, registerPushPdu, requestPdu, responsePdu } from '../helpers/policy-harness.js';
import { sockaddrIn } from '../../src/exchange/push-notification.js';
import { TCP_ACK, TCP_PSH, TCP_RST } from '../../src/wire/packet.js';
import { StreamPath, setRowPath } from '../../src/engine/stream-path.js';

interface Turn {
  fromClient: boolean;
  bytes: Uint8Array;
}

interface Plan {
  /** Stub sizes of the requests and of their responses. */
  calls: [number, number][];
  /** Insert a push registration before call i (-1: none). */
  registerAt: number;
  /** Insert a request on context 9 (never bound: refused) before call i (-1: none). */
  badAt: number;
  /** Segment sizes, cycled. */
  sizes: number[];
  /** One disturbance code per segment, cycled. */
  ops: number[];
  /** Send a RST from this segment index on (-1: none). */
  rstAt: number;
}

function turnsOf(p: Plan): Turn[] {
  const turns: Turn[] = [
    { fromClient: true, bytes: bindPdu([ctx(0, EMSMDB, 0, 81)]) },
    { fromClient: false, bytes: bindAckPdu([accept()]) },
  ];
  p.calls.forEach(([req, resp], i) => {
    if (i === p.registerAt) {
      turns.push({ fromClient: true, bytes: registerPushPdu({ context: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), callback: sockaddrIn(5555, ip('10.1.2.3')), callId: 100 + i }) });
      turns.push({ fromClient: false, bytes: responsePdu(patternStub(12, i + 50), { callId: 100 + i }) });
    }
    if (i === p.badAt) turns.push({ fromClient: true, bytes: requestPdu(patternStub(40, 9), { ctxId: 9, callId: 200 + i }) });
    turns.push({ fromClient: true, bytes: requestPdu(patternStub(req, i + 1), { opnum: 11, callId: 2 + i }) });
    turns.push({ fromClient: false, bytes: responsePdu(patternStub(resp, i + 7), { callId: 2 + i }) });
  });
  return turns;
}

/** Plays the plan on a fresh harness; returns everything the two paths must share. */
function play(p: Plan, rowPath: boolean): unknown {
  setRowPath(rowPath);
  const h = new EngineHarness(policyDoc({ interfaces: ['exchange'], lookup: 'deny', notifications: true }));
  const { conn } = openMapped(h);
  let seg = 0;
  let k = 0;
  const send = (c: TcpConn, fromClient: boolean, off: number, bytes: Uint8Array, flags = TCP_PSH | TCP_ACK): void => {
    const pkt = fromClient ? c.clientPacket(off, bytes, flags) : c.serverPacket(off, bytes, flags);
    h.inject(fromClient ? SIDE_EXTERNAL : SIDE_INTERNAL, pkt);
  };
  const all: [Uint8Array, Uint8Array] = [new Uint8Array(0), new Uint8Array(0)];
  for (const t of turnsOf(p)) {
    const d = t.fromClient ? 0 : 1;
    const base = t.fromClient ? conn.cSent : conn.sSent;
    const prev = all[d]!;
    const stream = new Uint8Array(base + t.bytes.length);
    stream.set(prev.subarray(0, base));
    stream.set(t.bytes, base);
    all[d] = stream;
    const pieces: [number, number][] = [];
    for (let at = 0; at < t.bytes.length; ) {
      const n = Math.min(t.bytes.length - at, p.sizes[k++ % p.sizes.length]!);
      pieces.push([base + at, n]);
      at += n;
    }
    const later: [number, number][] = [];
    for (let i = 0; i < pieces.length; i++) {
      const [off, n] = pieces[i]!;
      const op = p.ops[seg % p.ops.length]!;
      if (seg++ === p.rstAt) {
        send(conn, t.fromClient, off, new Uint8Array(0), TCP_RST | TCP_ACK);
        return result(h);
      }
      const piece = stream.subarray(off, off + n);
      switch (op) {
        case 1: // the piece, then again (a retransmission)
          send(conn, t.fromClient, off, piece);
          send(conn, t.fromClient, off, piece);
          break;
        case 2: // a hole: the piece comes after the next one
          later.push([off, n]);
          break;
        case 3: // a pure ACK from the other end first
          send(conn, !t.fromClient, t.fromClient ? conn.sSent : conn.cSent, new Uint8Array(0), TCP_ACK);
          send(conn, t.fromClient, off, piece);
          break;
        case 4: { // overlapping: starts up to 40 bytes back
          const back = Math.min(off, 1 + (n % 40));
          send(conn, t.fromClient, off - back, stream.subarray(off - back, off + n));
          break;
        }
        case 5: { // a corrupt copy first (dropped: bad checksum), then the piece
          const bad = t.fromClient ? conn.clientPacket(off, piece) : conn.serverPacket(off, piece);
          bad[bad.length - 1] = bad[bad.length - 1]! ^ 0x5a;
          h.inject(t.fromClient ? SIDE_EXTERNAL : SIDE_INTERNAL, bad);
          send(conn, t.fromClient, off, piece);
          break;
        }
        case 6: // an old range of this direction again, with other boundaries
          send(conn, t.fromClient, off, piece);
          if (off > 0) send(conn, t.fromClient, Math.floor(off / 2), stream.subarray(Math.floor(off / 2), Math.min(off + n, Math.floor(off / 2) + 1400)));
          break;
        default:
          send(conn, t.fromClient, off, piece);
      }
      while (later.length > 0 && op !== 2) {
        const [lo, ln] = later.shift()!;
        send(conn, t.fromClient, lo, stream.subarray(lo, lo + ln));
      }
    }
    for (const [lo, ln] of later) send(conn, t.fromClient, lo, stream.subarray(lo, lo + ln));
    if (t.fromClient) conn.cSent = stream.length;
    else conn.sSent = stream.length;
  }
  return result(h);
}

function result(h: EngineHarness): unknown {
  const plain = (x: unknown): unknown => JSON.parse(JSON.stringify(x, (_k, v: unknown) => (ArrayBuffer.isView(v) ? Array.from(v as Uint8Array) : v)));
  return {
    emitted: h.emitted.map((e) => `${e.side}:${Buffer.from(e.pkt).toString('hex')}`),
    events: plain(h.events),
    counters: plain(h.engine.counters),
    drops: h.engine.counters.dropsByName(),
    held: h.heldTotal,
  };
}

const plans: fc.Arbitrary<Plan> = fc.record({
  calls: fc.array(fc.tuple(fc.integer({ min: 0, max: 9000 }), fc.integer({ min: 0, max: 9000 })), { minLength: 1, maxLength: 5 }),
  registerAt: fc.integer({ min: -3, max: 4 }),
  badAt: fc.oneof(fc.constant(-1), fc.integer({ min: -1, max: 4 })),
  sizes: fc.array(fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 3000 }), fc.constant(1460)), { minLength: 1, maxLength: 8 }),
  ops: fc.array(fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 6 }) }), { minLength: 1, maxLength: 12 }),
  rstAt: fc.oneof({ weight: 4, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 60 }) }),
});

/** Packets StreamPath handed to its row path (fromRow) since the spy was made or cleared. */
const fromRow = vi.spyOn(StreamPath.prototype as unknown as { fromRow: (...a: unknown[]) => void }, 'fromRow');

describe('stream path: the row path against the general path', () => {
  afterEach(() => setRowPath(true));

  it('gives the same packets, events, counters and held bytes on random disturbed conversations', () => {
    let taken = 0;
    fc.assert(
      fc.property(plans, (p) => {
        const general = play(p, false);
        fromRow.mockClear();
        const row = play(p, true);
        taken += fromRow.mock.calls.length;
        expect(row).toEqual(general);
      }),
      { numRuns: 150 },
    );
    expect(taken).toBeGreaterThan(0);
  });

  it('an undisturbed conversation emits what it was given, and the register push is rewritten (the paths agree there too)', () => {
    const p: Plan = { calls: [[5000, 3000], [100, 9000]], registerAt: 1, badAt: -1, sizes: [1460], ops: [0], rstAt: -1 };
    fromRow.mockClear();
    const row = play(p, true) as { events: { type: string }[]; drops: Record<string, number> };
    // The register push is rewritten (a patch), so not every segment is the row's; most are.
    expect(fromRow.mock.calls.length).toBeGreaterThan(10);
    fromRow.mockClear();
    expect(row).toEqual(play(p, false));
    expect(fromRow.mock.calls.length).toBe(0);
    expect(row.events.filter((e) => e.type === 'notification').length).toBe(1);
    expect(row.events.filter((e) => e.type === 'refused')).toEqual([]);
  });
});

/**
 * Determinism: the engine never reads the clock or a random source of its own, so the same input
 * with the same seed gives the same packets, byte for byte, and the same events.
 */
import { describe, expect, it } from 'vitest';
import {
  CLIENT, CLIENT2, EMSMDB, EngineHarness, type Injected, NSPI, SERVER, SRVSVC, TcpConn,
  bindMapped, epmSession, eptLookupRequest, rpcRequest, rpcResponse, eptLookupResponseStub, mapCall, responseFragments, rulesDoc, tcpTower, towerFieldOffsets,
} from '../helpers/engine-harness.js';

const DOC = rulesDoc({ interfaces: ['exchange'], lookup: 'allow', mappedPorts: '40000-40002' });

/** A busy recorded input: two clients, lookups in fragments, maps, mapped connections, a refusal, timeouts. */
function busyInput(): Injected[] {
  const h = new EngineHarness(DOC, { recordInput: true });
  const a = epmSession(h);
  mapCall(a, [tcpTower(EMSMDB, 0, 81, SERVER, 1032), tcpTower(EMSMDB, 0, 81, SERVER, 1033)]);
  a.clientSend(eptLookupRequest({ callId: 3 }));
  const stub = eptLookupResponseStub([
    { object: '00000000-0000-0000-0000-000000000000', annotation: 'nspi', tower: tcpTower(NSPI, 56, 0, SERVER, 4997) },
    { object: '00000000-0000-0000-0000-000000000000', annotation: 'store', tower: tcpTower(EMSMDB, 0, 81, SERVER, 1032) },
  ]);
  const cuts = towerFieldOffsets(stub, false, true).map((f) => f.ipv4Off + 2);
  a.serverSend(responseFragments(stub, 3, cuts), 37);
  const b = epmSession(h, { client: CLIENT2, cport: 50001 });
  mapCall(b, [tcpTower(NSPI, 56, 0, SERVER, 4997)], { ifUuid: NSPI, major: 56, minor: 0 });
  const refused = epmSession(h, { cport: 50002 });
  mapCall(refused, [], { ifUuid: SRVSVC, major: 3, minor: 0 });
  for (const [client, cport, port, sport] of [[CLIENT, 51000, 40000, 1032], [CLIENT, 51001, 40001, 1033], [CLIENT2, 51000, 40000, 4997]] as const) {
    const m = new TcpConn(h, { client, cport, eport: port, sport });
    m.open();
    bindMapped(m, sport === 4997 ? NSPI : EMSMDB, sport === 4997 ? 56 : 0, sport === 4997 ? 0 : 81);
    m.clientSend(rpcRequest(2, 3000, cport & 0xff));
    m.serverSend(rpcResponse(2, 2000, sport & 0xff));
    h.nowMs += 1_000;
  }
  h.tick(h.nowMs + 100_000);
  const mapped = h.of('opened').filter((e) => e.rec.kind === 'mapped').length;
  if (h.refusals().length !== 1 || h.rewrites().length !== 5 || mapped !== 3) {
    throw new Error(`unexpected busy input: ${JSON.stringify(h.refusals())} refusals, ${h.rewrites().map((r) => r.rewritten)} rewrites, ${mapped} mapped connections`);
  }
  return h.injected;
}

function run(input: Injected[], seed: number): { out: string[]; events: string } {
  const h = new EngineHarness(DOC, { seed });
  for (const p of input) h.inject(p.side, p.pkt, p.nowMs);
  h.tick(input[input.length - 1]!.nowMs + 100_000);
  return { out: h.emitted.map((e) => `${e.side}:${Buffer.from(e.pkt).toString('hex')}`), events: JSON.stringify(h.events) };
}

describe('determinism of the engine', () => {
  const input = busyInput();

  it('the same input twice through one seed: identical emitted packets and events', () => {
    const a = run(input, 7);
    const b = run(input, 7);
    expect(a.out.length).toBeGreaterThan(50);
    expect(b.out).toEqual(a.out);
    expect(b.events).toBe(a.events);
  });

  it('two Engine instances alive at once with the same seed, fed packet by packet in turn, stay identical', () => {
    const h1 = new EngineHarness(DOC, { seed: 12345 });
    const h2 = new EngineHarness(DOC, { seed: 12345 });
    for (const p of input) {
      const o1 = h1.inject(p.side, p.pkt, p.nowMs).map((e) => Buffer.from(e.pkt).toString('hex'));
      const o2 = h2.inject(p.side, p.pkt, p.nowMs).map((e) => Buffer.from(e.pkt).toString('hex'));
      expect(o2).toEqual(o1);
    }
    expect(JSON.stringify(h2.events)).toBe(JSON.stringify(h1.events));
  });

  it('the engine does not keep references to the caller\'s buffers (input reused after the call)', () => {
    // EngineHarness.inject hands over a fresh copy; here one buffer is overwritten after each call.
    const ref = run(input, 7);
    const h = new EngineHarness(DOC, { seed: 7 });
    const buf = new Uint8Array(70_000);
    for (const p of input) {
      buf.set(p.pkt, 0);
      h.engine.onPacket(p.side, buf, 0, p.pkt.length, p.nowMs);
      buf.fill(0xee, 0, p.pkt.length);
    }
    h.tick(input[input.length - 1]!.nowMs + 100_000);
    expect(h.emitted.map((e) => `${e.side}:${Buffer.from(e.pkt).toString('hex')}`)).toEqual(ref.out);
  });
});

/**
 * "kernel" rules: every tower the EPM leg rewrites asks the host for a kernel pinhole, and the
 * rewritten answer reaches the client only once the host confirmed it (releaseDeferred).
 */
import { describe, expect, it } from 'vitest';
import {
  CLIENT, EMSMDB, EXT, EngineHarness, NSPI, SERVER, SIDE_EXTERNAL, TcpConn,
  epmSession, eptMapRequest, eptMapResponseStub, lastMappedPort, mapCall, responseFragments, rulesDoc, tcpTower,
} from '../helpers/engine-harness.js';
import type { KernelPinholeRequest } from '../../src/engine/kernel-handoff.js';
import { Output } from '../../src/engine/output.js';
import { NO_EVENTS } from '../../src/engine/events.js';
import { parseIpv4 } from '../../src/wire/addr.js';

function harness(rule: Record<string, unknown> = {}, withSink = true): { h: EngineHarness; wanted: KernelPinholeRequest[] } {
  const wanted: KernelPinholeRequest[] = [];
  const h = new EngineHarness(rulesDoc({ mappedInspection: 'kernel', pinholeTimeoutSeconds: 30, ...rule }), {
    ...(withSink ? { kernelPinholes: { wanted: (r: KernelPinholeRequest) => wanted.push(r) } } : {}),
    kernelHandoffTimeoutMs: 2000,
  });
  return { h, wanted };
}

/** Client-bound payload bytes emitted so far. */
const toClient = (c: TcpConn): number => c.deliveredToClient().length;

/** An EPM session whose ept_map answer (`towers`, default one EMSMDB tower) now waits for its pinholes. */
function heldAnswer(towers = [tcpTower(EMSMDB, 0, 81, SERVER, 1032)], o: Parameters<typeof mapCall>[2] = {}) {
  const { h, wanted } = harness();
  const c = epmSession(h);
  const before = toClient(c);
  mapCall(c, towers, o);
  return { h, wanted, c, before };
}

describe('kernel pinhole hand-off', () => {
  it('asks for the pinhole with the rewrite and holds the answer until the host confirms it', () => {
    const { h, wanted, c, before } = heldAnswer();
    const port = lastMappedPort(h);
    expect(wanted).toEqual([{
      token: expect.any(Number) as number, mapping: expect.any(Number) as number, rule: 'r0', clientIp: parseIpv4(CLIENT), extIp: parseIpv4(EXT),
      extPort: port, serverIp: parseIpv4(SERVER), serverPort: 1032, timeoutMs: 30_000,
    }]);
    expect(toClient(c)).toBe(before); // nothing of the answer yet
    h.engine.releaseDeferred(wanted[0]!.token, null, h.nowMs);
    const answer = c.deliveredToClient().bytes.subarray(before);
    expect(answer.length).toBeGreaterThan(0);
    // The rewritten tower is in what the client got: the mapped port, big-endian.
    expect(Buffer.from(answer).includes(Buffer.from([port >> 8, port & 0xff]))).toBe(true);
  });

  it('two towers in one answer: released only when both pinholes are in', () => {
    const { h, wanted, c, before } = heldAnswer([tcpTower(EMSMDB, 0, 81, SERVER, 1032), tcpTower(EMSMDB, 0, 81, SERVER, 1033)]);
    expect(wanted.map((w) => w.serverPort)).toEqual([1032, 1033]);
    h.engine.releaseDeferred(wanted[1]!.token, null, h.nowMs);
    expect(toClient(c)).toBe(before);
    h.engine.releaseDeferred(wanted[0]!.token, null, h.nowMs);
    expect(toClient(c)).toBeGreaterThan(before);
  });

  it('a refused pinhole refuses the connection: the answer never reaches the client, the reason names nft', () => {
    const { h, wanted, c, before } = heldAnswer([tcpTower(NSPI, 56, 0, SERVER, 4997)], { ifUuid: NSPI, major: 56, minor: 0 });
    h.engine.releaseDeferred(wanted[0]!.token, 'No such file or directory', h.nowMs);
    expect(toClient(c)).toBe(before);
    expect(h.refusals().map((r) => [r.reason, r.detail])).toEqual([['kernel-pinhole-failed', 'nftables refused the pinhole: No such file or directory']]);
    expect(h.engine.counters.dropsByName()['kernel-pinhole-failed']).toBe(1);
    // A late confirmation of the same token does nothing.
    h.engine.releaseDeferred(wanted[0]!.token, null, h.nowMs);
    expect(toClient(c)).toBe(before);
  });

  it('no answer from the host within the timeout: refused at the next tick', () => {
    const { h, wanted, c, before } = heldAnswer();
    expect(wanted).toHaveLength(1);
    h.engine.tick(h.nowMs + 1999);
    expect(h.refusals()).toEqual([]);
    h.engine.tick(h.nowMs + 2000);
    expect(h.refusals().map((r) => r.reason)).toEqual(['kernel-pinhole-failed']);
    expect(toClient(c)).toBe(before);
  });

  it('the client\'s connection to the mapped port is not the daemon\'s to carry', () => {
    const { h, wanted } = heldAnswer();
    h.engine.releaseDeferred(wanted[0]!.token, null, h.nowMs);
    const m = new TcpConn(h, { cport: 50001, eport: lastMappedPort(h), sport: 1032 });
    expect(m.syn().filter((e) => e.side !== SIDE_EXTERNAL)).toEqual([]);
    expect(h.dropReasons()).toContain('kernel-mode-port');
  });

  it('"full" rules and engines without a sink hold nothing', () => {
    for (const [rule, sink] of [[{ mappedInspection: 'full' }, true], [{}, false]] as const) {
      const { h, wanted } = harness(rule, sink);
      const c = epmSession(h);
      const before = toClient(c);
      mapCall(c, [tcpTower(EMSMDB, 0, 81, SERVER, 1032)]);
      expect(wanted).toEqual([]);
      expect(toClient(c)).toBeGreaterThan(before);
    }
  });

  it('an unpublished interface is still refused at ept_map, asking for nothing', () => {
    const { h, wanted } = harness({ interfaces: ['exchange'] });
    const c = epmSession(h);
    c.clientSend(eptMapRequest({ ifUuid: '4b324fc8-1670-01d3-1278-5a47bf6ee188', major: 3, minor: 0 }));
    c.serverSend(responseFragments(eptMapResponseStub([tcpTower(EMSMDB, 0, 81, SERVER, 1032)], false), 2));
    expect(h.refusals().map((r) => r.reason)).toEqual(['interface-not-published']);
    expect(wanted).toEqual([]);
  });
});

describe('Output while an answer waits', () => {
  it('keeps copies of what it holds: the capture buffer (a Buffer, whose slice() is a view) is overwritten by the next frame', () => {
    const sent: Uint8Array[] = [];
    const out = new Output({ emit: (_side, pkt, off, len) => sent.push(pkt.slice(off, off + len)) }, NO_EVENTS, 1500, 1500);
    const frame = Buffer.alloc(100, 0xa5);
    frame.set([0x45, 0, 0, 40], 10); // a packet at offset 10 of a reused buffer
    const original = Uint8Array.from(frame.subarray(10, 50));
    out.holdQueue = [];
    out.send(SIDE_EXTERNAL, frame, 10, 40);
    const held = out.holdQueue;
    out.holdQueue = null;
    expect(sent).toEqual([]);
    frame.fill(0); // the next frame
    out.emitHeld(held);
    expect(sent.map((p) => Array.from(p))).toEqual([Array.from(original)]);
    expect(out.counters.packetsOut[SIDE_EXTERNAL]).toBe(1);
  });
});

/**
 * Bounds on endpoint-mapper connections: one client cannot make the gateway keep reading state
 * for more than MAX_EPM_CONNECTIONS_PER_CLIENT connections to TCP 135 at once; other clients are
 * unaffected, and a closed connection frees its place (at once: not after its close linger).
 */
import { describe, expect, it } from 'vitest';
import { EngineHarness, TcpConn, rulesDoc, CLIENT2 } from '../helpers/engine-harness.js';
import { MAX_EPM_CONNECTIONS_PER_CLIENT } from '../../src/engine/conn.js';

describe('endpoint-mapper connections per client are bounded', () => {
  it('the connection past the bound is dropped with epm-connection-limit; another client still connects', () => {
    const h = new EngineHarness(rulesDoc({}, { limits: { maxFlows: 4096 } }));
    for (let i = 0; i < MAX_EPM_CONNECTIONS_PER_CLIENT; i++) {
      const out = new TcpConn(h, { cport: 10000 + i }).syn();
      expect(out.length).toBe(1); // forwarded to the server
    }
    const over = new TcpConn(h, { cport: 9999 }).syn();
    expect(over).toEqual([]);
    expect(h.engine.counters.dropsByName()['epm-connection-limit']).toBe(1);
    expect(new TcpConn(h, { client: CLIENT2, cport: 10000 }).syn().length).toBe(1);
    // Unanswered SYNs leave the table at the embryonic timeout; then there is room again.
    h.tick(h.nowMs + 60_000);
    expect(new TcpConn(h, { cport: 9999 }).syn().length).toBe(1);
  });

  it('connections the client closed (FIN both ways) no longer count while they linger: short ones are bounded by those open', () => {
    const h = new EngineHarness(rulesDoc({}, { limits: { maxFlows: 8192 } }));
    // Twice the bound of connections opened and closed within the close linger (10 s): each
    // closed one still translates retransmitted FINs, but must not hold a place.
    for (let i = 0; i < 2 * MAX_EPM_CONNECTIONS_PER_CLIENT; i++) {
      const c = new TcpConn(h, { cport: 10000 + i });
      expect(c.open()).toBe(true);
      c.clientFin();
      c.serverFin();
    }
    expect(h.engine.counters.dropsByName()['epm-connection-limit'] ?? 0).toBe(0);
    // Open ones still count: the bound holds for connections left open.
    for (let i = 0; i < MAX_EPM_CONNECTIONS_PER_CLIENT; i++) expect(new TcpConn(h, { cport: 30000 + i }).syn().length).toBe(1);
    expect(new TcpConn(h, { cport: 9999 }).syn()).toEqual([]);
    expect(h.engine.counters.dropsByName()['epm-connection-limit']).toBe(1);
  });
});

/**
 * Bounds on endpoint-mapper connections: one client cannot make the gateway keep reading state
 * for more than MAX_EPM_CONNECTIONS_PER_CLIENT connections to TCP 135 at once; other clients are
 * unaffected, and a closed connection frees its place.
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
});

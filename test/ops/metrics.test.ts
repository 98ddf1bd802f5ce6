/**
 * The Prometheus text of `GET /metrics`: one series per drop/refusal reason, so an operator can
 * tell an out-of-order segment dropped at the hold limit from a connection refused because one
 * PDU outgrew it.
 */
import { describe, expect, it } from 'vitest';
import { EngineHarness, epmSession, eptMapRequest, rulesDoc } from '../helpers/engine-harness.js';
import { metricsText, type DataplaneCounters } from '../../src/ops/metrics.js';
import { REASON_NAMES } from '../../src/engine/reasons.js';

const LIMITS = { maxHeldBytesPerFlow: 4096, maxHeldBytesTotal: 16384 };

const DP: DataplaneCounters = {
  sendErrors: 0, truncatedFrames: 0, undecodableFrames: 0, reloads: 0, reloadFailures: 0,
  sentOnPacketSocket: 0, sentOnRawSocket: 0,
};

/** `rpcgw_drops_total{reason="X"} N` lines as [X, N]. */
function dropSeries(text: string): [string, number][] {
  const out: [string, number][] = [];
  for (const m of text.matchAll(/^rpcgw_drops_total\{reason="([^"]*)"\} (\d+)$/gm)) out.push([m[1]!, Number(m[2])]);
  return out;
}

describe('rpcgw_drops_total', () => {
  it('has one series per reason name: no two reasons share a label', () => {
    const h = new EngineHarness(rulesDoc());
    const labels = dropSeries(metricsText(h.engine, DP)).map(([r]) => r);
    expect(labels.length).toBeGreaterThan(20);
    expect(new Set(labels).size).toBe(labels.length);
    const named = REASON_NAMES.slice(1).filter((n) => n !== '');
    expect(new Set(named).size).toBe(named.length);
  });

  it('counts hold-limit drops and pdu-hold-limit refusals apart, in metrics and in the summary by name', () => {
    const h = new EngineHarness(rulesDoc({}, { limits: LIMITS }));
    // Out-of-order segments behind a 1-byte hole on one connection: dropped once past the limit.
    const a = epmSession(h);
    const chunk = new Uint8Array(500);
    for (let k = 1; k <= 20; k++) a.clientSeg(a.cSent + 1 + k * 500, chunk);
    const drops = h.dropReasons().filter((r) => r === 'hold-limit').length;
    expect(drops).toBeGreaterThan(0);
    // A PDU announced at 65535 bytes and dribbled in on another: refused at the limit.
    const b = epmSession(h);
    const big = new Uint8Array(65535);
    big.set(eptMapRequest());
    big[8] = 0xff;
    big[9] = 0xff;
    for (let sent = 0; sent < 2000 && h.refusals().length === 0; sent++) b.clientSeg(b.cSent + sent, big.subarray(sent, sent + 1));
    expect(h.refusals().map((r) => r.reason)).toEqual(['pdu-hold-limit']);

    const series = new Map(dropSeries(metricsText(h.engine, DP)));
    expect(series.get('hold-limit')).toBe(drops);
    expect(series.get('pdu-hold-limit')).toBe(1);
    const byName = h.engine.counters.dropsByName();
    expect(byName['hold-limit']).toBe(drops);
    expect(byName['pdu-hold-limit']).toBe(1);
  });
});

/**
 * The Prometheus text of `GET /metrics`: one series per drop/refusal reason, so an operator can
 * tell an out-of-order segment dropped at the hold limit from a connection refused because one
 * PDU outgrew it.
 */
import { describe, expect, it } from 'vitest';
import { EngineHarness, epmSession, eptMapRequest, rulesDoc } from '../helpers/engine-harness.js';
import { metricsText, type DataplaneCounters } from '../../src/ops/metrics.js';
import { REASON_NAMES } from '../../src/engine/reasons.js';
import { RuleStats, engineLog } from '../../src/ops/engine-log.js';
import { parseMetrics } from '../../src/lab/lab.js';
import pino from 'pino';

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

/** A PDU announced at 65535 bytes and dribbled in a byte at a time: refused at the hold limit. */
function refuseAtPduHoldLimit(h: EngineHarness): void {
  const b = epmSession(h);
  const big = new Uint8Array(65535);
  big.set(eptMapRequest());
  big[8] = 0xff;
  big[9] = 0xff;
  for (let sent = 0; sent < 2000 && h.refusals().length === 0; sent++) b.clientSeg(b.cSent + sent, big.subarray(sent, sent + 1));
}

describe('rpcgw_drops_total', () => {
  it('has one series per reason name: no two reasons share a label', async () => {
    const h = new EngineHarness(rulesDoc());
    const labels = dropSeries(await metricsText({ engine: h.engine, dp: DP })).map(([r]) => r);
    expect(labels.length).toBeGreaterThan(20);
    expect(new Set(labels).size).toBe(labels.length);
    const named = REASON_NAMES.slice(1).filter((n) => n !== '');
    expect(new Set(named).size).toBe(named.length);
  });

  it('counts hold-limit drops and pdu-hold-limit refusals apart, in metrics and in the summary by name', async () => {
    const h = new EngineHarness(rulesDoc({}, { limits: LIMITS }));
    // Out-of-order segments behind a 1-byte hole on one connection: dropped once past the limit.
    const a = epmSession(h);
    const chunk = new Uint8Array(500);
    for (let k = 1; k <= 20; k++) a.clientSeg(a.cSent + 1 + k * 500, chunk);
    const drops = h.dropReasons().filter((r) => r === 'hold-limit').length;
    expect(drops).toBeGreaterThan(0);
    refuseAtPduHoldLimit(h);
    expect(h.refusals().map((r) => r.reason)).toEqual(['pdu-hold-limit']);

    const series = new Map(dropSeries(await metricsText({ engine: h.engine, dp: DP })));
    expect(series.get('hold-limit')).toBe(drops);
    expect(series.get('pdu-hold-limit')).toBe(1);
    const byName = h.engine.counters.dropsByName();
    expect(byName['hold-limit']).toBe(drops);
    expect(byName['pdu-hold-limit']).toBe(1);
  });
});

describe('drops and refusals, per rule, limits', () => {
  it('counts a refused connection once, in rpcgw_refusals_total{rule,reason}, not among the packet drops', async () => {
    const h = new EngineHarness(rulesDoc({}, { limits: LIMITS }));
    refuseAtPduHoldLimit(h);
    expect(h.refusals()).toHaveLength(1);
    // The daemon's firewall log sees the same refusal event and keeps the per-rule count.
    const stats = new RuleStats();
    const ev = engineLog(pino({ level: 'silent' }), { stats });
    for (const r of h.refusals()) ev.connectionRefused(r, 0);
    const samples = parseMetrics(await metricsText({ engine: h.engine, dp: DP, stats }));
    const rule = h.refusals()[0]!.rule;
    expect(samples.find((x) => x.name === 'rpcgw_refusals_total' && x.labels.reason === 'pdu-hold-limit')).toEqual({
      name: 'rpcgw_refusals_total', labels: { rule, reason: 'pdu-hold-limit' }, value: 1,
    });
    expect(samples.find((x) => x.name === 'rpcgw_drops_total' && x.labels.reason === 'pdu-hold-limit')?.value).toBe(0);
    // One name per quantity: packets sent are counted by side only (the raw-socket share has its own name).
    expect(samples.some((x) => x.name === 'rpcgw_sent_packets_total')).toBe(false);
  });

  it('has per-rule live gauges and each table beside its limit', async () => {
    const h = new EngineHarness(rulesDoc({}, { limits: LIMITS }));
    epmSession(h);
    const samples = parseMetrics(await metricsText({ engine: h.engine, dp: DP }));
    const rule = h.engine.rules.rules[0]!.name;
    expect(samples.find((x) => x.name === 'rpcgw_connections' && x.labels.rule === rule)?.value).toBe(h.engine.connectionCount);
    expect(h.engine.connectionCount).toBeGreaterThan(0);
    const limit = (t: string): number | undefined => samples.find((x) => x.name === 'rpcgw_table_limit' && x.labels.table === t)?.value;
    expect(limit('held-bytes')).toBe(LIMITS.maxHeldBytesTotal);
    expect(limit('flows')).toBe(h.engine.rules.gateway.limits.maxFlows);
    expect(samples.find((x) => x.name === 'rpcgw_table_entries' && x.labels.table === 'flows')?.value).toBe(h.engine.connectionCount);
  });

  it('adds process and event-loop metrics when asked', async () => {
    const h = new EngineHarness(rulesDoc());
    const text = await metricsText({ engine: h.engine, dp: DP, processMetrics: true });
    expect(text).toMatch(/^rpcgw_process_resident_memory_bytes \d+/m);
    expect(text).toMatch(/^rpcgw_nodejs_eventloop_lag_seconds /m);
  });
});

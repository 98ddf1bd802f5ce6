/**
 * Cost of a Prometheus scrape of the daemon's registry (ops/metrics.ts) with N pinholes and N
 * mapped connections (bench/scale.ts's population): the per-rule gauges walk both tables.
 * `node bench/dist/bench/scrape.js [N ...]` (default 10000 100000); JSON lines, one per N.
 * Figures only: no assertion.
 */
import { readRulesFile } from '../src/cli/rules-file.js';
import { gatewayRegistry } from '../src/ops/metrics.js';
import { RuleStats } from '../src/ops/engine-log.js';
import { benchRules, ensureRulesSchema } from './paths.js';
import { Population } from './scale.js';
import { Rng } from './rng.js';

ensureRulesSchema();
const rules = readRulesFile(benchRules).rules;
const dp = { sendErrors: 0, truncatedFrames: 0, undecodableFrames: 0, reloads: 0, reloadFailures: 0, sentOnPacketSocket: 0, sentOnRawSocket: 0 };
const sizes = process.argv.slice(2).map(Number).filter((n) => Number.isInteger(n) && n > 0);
for (const n of sizes.length > 0 ? sizes : [10_000, 100_000]) {
  const p = new Population(rules, n);
  const rng = new Rng(0x5c4a ^ n);
  for (let i = 0; i < n; i++) p.acquire(i);
  for (let i = 0; i < n; i++) if (!p.open(i, rng)) throw new Error(`connection ${i} not opened`);
  const reg = gatewayRegistry({ engine: p.engine, dp, stats: new RuleStats(), processMetrics: true });
  await reg.metrics(); // warm-up
  const runs: number[] = [];
  let bytes = 0;
  for (let k = 0; k < 5; k++) {
    const t0 = process.hrtime.bigint();
    bytes = (await reg.metrics()).length;
    runs.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  runs.sort((a, b) => a - b);
  process.stdout.write(JSON.stringify({ pinholes: p.engine.pinholeCount, connections: p.engine.connectionCount, scrapeMsMedian: runs[2], scrapeMsMin: runs[0], bytes }) + '\n');
}

/**
 * Cost of a restart's state: N pinholes and N bound mapped connections (bench/scale.ts's
 * population), Engine.snapshot, encode (the state file's bytes), decode, Engine.restore into a
 * fresh engine. `node bench/dist/bench/snapshot.js [N ...]` (default 10000 100000); prints JSON
 * lines, one per N. Figures only: no assertion.
 */
import { Engine } from '../src/engine/engine.js';
import { decodeSnapshot, encodeSnapshot } from '../src/engine/snapshot.js';
import { readRulesFile } from '../src/cli/rules-file.js';
import { benchRules, ensureRulesSchema } from './paths.js';
import { Population } from './scale.js';
import { Rng } from './rng.js';

const secondsSince = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e9;

ensureRulesSchema();
const rules = readRulesFile(benchRules).rules;
const sizes = process.argv.slice(2).map(Number).filter((n) => Number.isInteger(n) && n > 0);
for (const n of sizes.length > 0 ? sizes : [10_000, 100_000]) {
  const p = new Population(rules, n);
  const rng = new Rng(0x5a7e ^ n);
  for (let i = 0; i < n; i++) p.acquire(i);
  for (let i = 0; i < n; i++) if (!p.open(i, rng)) throw new Error(`connection ${i} not opened`);
  let t0 = process.hrtime.bigint();
  const snap = p.engine.snapshot(p.nowMs);
  const snapshotS = secondsSince(t0);
  t0 = process.hrtime.bigint();
  const bytes = encodeSnapshot(snap);
  const encodeS = secondsSince(t0);
  t0 = process.hrtime.bigint();
  const d = decodeSnapshot(bytes);
  const decodeS = secondsSince(t0);
  if (!d.ok) throw new Error(d.error);
  const fresh = new Engine({ rules, output: { emit(): void {} }, seed: 7 });
  t0 = process.hrtime.bigint();
  const r = fresh.restore(d.snapshot, p.nowMs + 1_000, 3_600_000);
  const restoreS = secondsSince(t0);
  if (!r.ok || r.mappings !== n || r.connections !== n) throw new Error(`restore: ${JSON.stringify(r)}`);
  process.stdout.write(
    JSON.stringify({
      mappings: n, connections: n, bytes: bytes.length, bytesPerConnectionAndPinhole: Math.round(bytes.length / n),
      snapshotS: +snapshotS.toFixed(3), encodeS: +encodeS.toFixed(3), decodeS: +decodeS.toFixed(3), restoreS: +restoreS.toFixed(3),
    }) + '\n',
  );
}

/**
 * The state file (src/ops/state-file.ts): written whole or not at all, mode 0600, read back to
 * the same snapshot; a missing file is `missing`, anything unusable `invalid` with the reason;
 * retiring renames it so it is read once.
 */
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EngineHarness, rulesDoc } from '../helpers/engine-harness.js';
import { openMapped } from '../helpers/policy-harness.js';
import { defaultStatePath, readStateFile, retireStateFile, writeStateFile } from '../../src/ops/state-file.js';

const dir = mkdtempSync(path.join(tmpdir(), 'rpcgw-state-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('state file', () => {
  it('lives beside the admin socket', () => {
    expect(defaultStatePath('/run/rpcgw/admin.sock')).toBe('/run/rpcgw/state.json');
  });

  it('round-trips a snapshot, mode 0600, no temporary file left; retired files are not read again', () => {
    const h = new EngineHarness(rulesDoc());
    openMapped(h);
    const snap = h.engine.snapshot(h.nowMs);
    const file = path.join(dir, 'sub', 'state.json');
    const n = writeStateFile(file, snap);
    expect(statSync(file).size).toBe(n);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(path.dirname(file))).toEqual(['state.json']);
    const r = readStateFile(file);
    expect(r.kind).toBe('ok');
    expect(JSON.parse(JSON.stringify((r as { snapshot: unknown }).snapshot))).toEqual(JSON.parse(JSON.stringify(snap)));
    expect(retireStateFile(file, '.used')).toBe(`${file}.used`);
    expect(readStateFile(file)).toEqual({ kind: 'missing' });
    expect(retireStateFile(file, '.used')).toBeNull();
  });

  it('a file that is not a state file, or a directory, is invalid with the reason', () => {
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, 'hello\n');
    expect(readStateFile(bad)).toMatchObject({ kind: 'invalid', reason: expect.stringContaining('not a state file') });
    expect(readStateFile(dir)).toMatchObject({ kind: 'invalid', reason: expect.stringContaining('cannot read') });
  });
});

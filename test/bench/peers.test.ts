/** bench/peers.ts: timing whole commands (the order and bookkeeping, never the times). */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { timeCommandsAlternated } from '../../bench/peers.js';

describe('timeCommandsAlternated', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rpcgw-peers-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const log = path.join(dir, 'order');
  writeFileSync(log, '');
  const appender = (name: string, exitCode = 0): string[] => [process.execPath, '-e', `require('fs').appendFileSync(${JSON.stringify(log)}, '${name}'); process.exit(${exitCode})`];

  it('runs the commands in turn, A B A B, and keeps each one\'s runs', () => {
    const [a, b] = timeCommandsAlternated([{ argv: appender('A'), display: ['a'] }, { argv: appender('B') }], 3);
    expect(readFileSync(log, 'utf8')).toBe('ABABAB');
    expect(a!.command).toBe('a');
    for (const t of [a!, b!]) {
      expect(t.available).toBe(true);
      expect(t.runs).toBe(3);
      expect(t.wallSeconds).toHaveLength(3);
      expect(t.bestWallSeconds).toBe(Math.min(...t.wallSeconds));
    }
  });

  it('a command that fails stops its own runs with its error, the other goes on', () => {
    writeFileSync(log, '');
    const [a, b] = timeCommandsAlternated([{ argv: appender('A', 3) }, { argv: appender('B') }], 3);
    expect(readFileSync(log, 'utf8')).toBe('ABBB');
    expect(a!.available).toBe(false);
    expect(a!.error).toMatch(/^exit 3/);
    expect(b!.available).toBe(true);
    expect(b!.wallSeconds).toHaveLength(3);
  });
});

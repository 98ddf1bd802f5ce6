/**
 * The bench runs its scale points in the environment the shipped unit gives the daemon: the
 * variables it reads must be the unit's, as systemd would set them.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { daemonEnvironment, unitEnvironment, unitFile } from '../../bench/unit-env.js';

describe('the daemon environment of deploy/rpcgw.service', () => {
  it('is what the shipped unit sets (its Environment= lines, nothing else)', () => {
    const text = readFileSync(unitFile, 'utf8');
    const lines = text.split('\n').filter((l) => l.trim().startsWith('Environment='));
    expect(lines.length).toBeGreaterThan(0);
    const env = daemonEnvironment();
    expect(env.GLIBC_TUNABLES).toBe('glibc.malloc.hugetlb=1');
    expect(Object.keys(env).length).toBe(lines.length);
  });

  it('reads systemd forms: several assignments, quoted values with spaces, a later one wins, comments skipped', () => {
    const env = unitEnvironment([
      '[Service]',
      '# Environment=COMMENTED=1',
      'Environment=A=1 "B=two words" C=',
      'ExecStart=/usr/bin/node x Environment=D=4',
      'Environment="A=again"',
    ].join('\n'));
    expect(env).toEqual({ A: 'again', B: 'two words', C: '' });
  });

  it('names the line of an assignment it cannot read', () => {
    expect(() => unitEnvironment('[Service]\nEnvironment=NOEQUALS', 'u')).toThrow('u line 2: "NOEQUALS" is not NAME=VALUE');
    expect(() => unitEnvironment('Environment="A=1', 'u')).toThrow(/u line 1: cannot read .*unclosed quote/);
  });
});

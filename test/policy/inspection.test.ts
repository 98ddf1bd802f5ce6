import { describe, expect, it } from 'vitest';
import { INSPECT_FULL, INSPECT_KERNEL } from '../../src/policy/compiled.js';
import { loadDoc, problemsOf, withRule } from './helpers.js';

describe('mappedInspection', () => {
  it('defaults to "full" and compiles "kernel"', () => {
    expect(loadDoc(withRule({})).rules.rules[0]!.mappedInspection).toBe(INSPECT_FULL);
    expect(loadDoc(withRule({ mappedInspection: 'kernel' })).rules.rules[0]!.mappedInspection).toBe(INSPECT_KERNEL);
  });

  it('refuses a value outside the enum, located at the field', () => {
    const p = problemsOf(withRule({ mappedInspection: 'fast' }));
    expect(p.map((x) => [x.path, x.rule, x.message])).toEqual([
      ['/rules/0/mappedInspection', 'exchange', 'expected one of "full", "kernel", found "fast"'],
    ]);
  });

  it('refuses "kernel" with requireEncryption or notifications: the kernel reads no PDU', () => {
    const enc = problemsOf(withRule({ mappedInspection: 'kernel', requireEncryption: true }));
    expect(enc).toHaveLength(1);
    expect(enc[0]).toMatchObject({ path: '/rules/0/mappedInspection', rule: 'exchange' });
    expect(enc[0]!.message).toMatch(/^expected "full" with requireEncryption: true, found "kernel" .*auth level of binds/);
    const both = problemsOf(withRule({ mappedInspection: 'kernel', requireEncryption: true, notifications: true }));
    expect(both.map((x) => x.message).join('\n')).toMatch(/notifications: true, found "kernel" .*notification registrations/);
    // Either alone with "full" is fine.
    expect(loadDoc(withRule({ requireEncryption: true })).rules.rules[0]!.requireEncryption).toBe(true);
  });
});

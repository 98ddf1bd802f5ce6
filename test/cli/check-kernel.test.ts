/**
 * `rpcgw check` on a rules file with a "kernel" rule: it says what the mode gives up, shows the
 * capture filter without the rule's mapped ports and the guard with its pinhole map and NAT, and
 * refuses "kernel" with requireEncryption or notifications (exit 65, located at the field).
 */
import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli } from '../helpers/cli.js';
import { projectRoot } from '../helpers/shared.js';

const dir = mkdtempSync(path.join(tmpdir(), 'rpcgw-check-kernel-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fileWith(patch: Record<string, unknown>): string {
  const doc = JSON.parse(readFileSync(path.join(projectRoot, 'rules', 'lab.json'), 'utf8')) as { rules: Record<string, unknown>[] };
  delete (doc as Record<string, unknown>).$schema;
  Object.assign(doc.rules[0]!, patch);
  const file = path.join(dir, `r${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(doc, null, 2));
  return file;
}

describe('rpcgw check with mappedInspection "kernel"', () => {
  it('explains what kernel mode gives up; the capture filter keeps only 135; the guard holds the pinhole map and NAT', () => {
    const r = runCli(['check', '--rules', fileWith({ mappedInspection: 'kernel' })]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^rule lab: .*mappedInspection kernel$/m);
    expect(r.stdout).toMatch(/^ {2}kernel mode: .*no per-PDU policy, no bind\/alter_context re-check.*no requireEncryption, no notification rewriting$/m);
    const ext = /^ {2}gw-ext: (.*)$/m.exec(r.stdout)![1]!;
    expect(ext).toContain('dst port 135');
    expect(ext).not.toContain('40000');
    expect(r.stdout).toContain('map kpin {');
    expect(r.stdout).toMatch(/dnat ip to ip saddr \. ip daddr \. tcp dport map @kpin/);
    expect(r.stdout).toMatch(/snat ip to 192\.0\.2\.1:61000-65535 comment "kernel rule lab"/);
    // A full rule says so and has none of it.
    const full = runCli(['check', '--rules', fileWith({})]);
    expect(full.stdout).toMatch(/^rule lab: .*mappedInspection full$/m);
    expect(full.stdout).not.toContain('kpin');
  });

  it('refuses "kernel" with requireEncryption or notifications: exit 65, located at the field', () => {
    for (const field of ['requireEncryption', 'notifications']) {
      const file = fileWith({ mappedInspection: 'kernel', [field]: true });
      const r = runCli(['check', '--rules', file]);
      expect(r.code, field).toBe(65);
      expect(r.stderr).toMatch(new RegExp(`/rules/0/mappedInspection \\(rule "lab"\\): expected "full" with ${field}: true, found "kernel"`));
    }
  });
});

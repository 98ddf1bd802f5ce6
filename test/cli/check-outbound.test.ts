/** `rpcgw check` on outbound rules: what the administrator reads about them, and located errors. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli } from '../helpers/cli.js';

function withRules(doc: unknown, f: (file: string) => void): void {
  const dir = mkdtempSync(path.join(tmpdir(), 'rpcgw-check-out-'));
  try {
    const file = path.join(dir, 'rules.json');
    writeFileSync(file, JSON.stringify(doc, null, 2));
    f(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const gateway = { external: { interface: 'gw-ext', address: '198.51.100.1' }, internal: { interface: 'gw-int', address: '192.0.2.1' } };

describe('rpcgw check, outbound rules', () => {
  it('summarises the rule (clients, servers, NAT source) and shows its capture terms', () => {
    withRules({ gateway, rules: [{ name: 'outlook-out', direction: 'outbound', clients: ['192.0.2.0/24'], servers: ['203.0.113.0/24'], interfaces: ['exchange'] }] }, (file) => {
      const r = runCli(['check', '--rules', file]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('rule outlook-out: outbound, clients 192.0.2.0/24 -> servers 203.0.113.0/24:135 from 198.51.100.1:10000-32767, EMSMDB');
      expect(r.stdout).toContain('(not dst host 192.0.2.1 and (src net 192.0.2.0/24) and (dst net 203.0.113.0/24))');
      expect(r.stdout).not.toContain('mappedPorts 1-0');
    });
  });

  it('refuses a published-server field on an outbound rule, located', () => {
    withRules({ gateway, rules: [{ name: 'o', direction: 'outbound', servers: ['203.0.113.0/24'], interfaces: ['any'], mappedPorts: '40000-40999' }] }, (file) => {
      const r = runCli(['check', '--rules', file]);
      expect(r.code).not.toBe(0);
      expect(r.stderr + r.stdout).toMatch(/\/rules\/0\/mappedPorts.*expected no "mappedPorts" on an outbound rule/);
    });
  });
});

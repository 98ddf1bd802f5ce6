/**
 * gateway.natPorts and the kernel guard the rules compile to: the guard drops what the daemon
 * owns (published ports, the servers' answers on the NAT ports, relayed notifications) and none
 * of the published server's other traffic. nft itself checks the script where it is installed.
 */
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { guardRuleset } from '../../src/dataplane/kernel-guard.js';
import { captureFilters } from '../../src/dataplane/bpf.js';
import { ownedRanges } from '../../src/dataplane/port-reserve.js';
import { loadDoc, minimalDoc, problemsOf } from './helpers.js';

const haveNft = process.getuid?.() === 0 && spawnSync('nft', ['--version']).status === 0;

function guardOf(gateway: Record<string, unknown> = {}, rule: Record<string, unknown> = {}): string {
  const doc = minimalDoc();
  Object.assign(doc.gateway, gateway);
  Object.assign(doc.rules[0]!, rule);
  return guardRuleset(loadDoc(doc).rules);
}

const ruleLines = (script: string): string[] => script.split('\n').filter((l) => / drop /.test(l)).map((l) => l.trim());

describe('gateway.natPorts', () => {
  it('defaults to 10000-32767, below the kernel default ip_local_port_range', () => {
    const g = loadDoc(minimalDoc()).rules.gateway;
    expect([g.natPortLo, g.natPortHi]).toEqual([10000, 32767]);
  });

  it('is validated like the other port ranges', () => {
    const doc = minimalDoc();
    doc.gateway.natPorts = '70-100';
    const p = problemsOf(doc);
    expect(p).toHaveLength(1);
    expect(p[0]!.path).toBe('/gateway/natPorts');
    expect(p[0]!.message).toMatch(/expected "LO-HI" with 1024 <= LO <= HI <= 65535, found "70-100"/);
  });

  it('is one of the ranges the daemon owns on the host, with the relay ports (when used) and each enabled mapped range', () => {
    const doc = minimalDoc();
    doc.rules.push({ name: 'off', server: '192.0.2.20', interfaces: ['exchange'], mappedPorts: '42000-42999', enabled: false });
    expect(ownedRanges(loadDoc(doc).rules).map((o) => `${o.what} ${o.lo}-${o.hi}`)).toEqual(['gateway.natPorts 10000-32767', 'rule exchange mappedPorts 40000-40999']);
    Object.assign(doc.rules[0]!, { notifications: true });
    expect(ownedRanges(loadDoc(doc).rules).map((o) => o.what)).toEqual(['gateway.natPorts', 'gateway.notificationRelayPorts', 'rule exchange mappedPorts']);
  });

  it('narrows the internal capture to the NAT ports', () => {
    const doc = minimalDoc();
    doc.gateway.natPorts = '50000-50999';
    expect(captureFilters(loadDoc(doc).rules).internal).toContain('tcp and dst host 192.0.2.1 and dst portrange 50000-50999 and (src host 192.0.2.10)');
  });
});

describe('gateway.kernelNatPorts', () => {
  it('defaults to 61000-65535, outside natPorts and the kernel default ip_local_port_range; the kernel SNAT uses it', () => {
    const doc = minimalDoc();
    Object.assign(doc.rules[0]!, { mappedInspection: 'kernel' });
    const rules = loadDoc(doc).rules;
    expect([rules.gateway.kernelNatPortLo, rules.gateway.kernelNatPortHi]).toEqual([61000, 65535]);
    expect(guardRuleset(rules, { flowtable: false, forwardingOn: [] })).toMatch(/snat ip to 192\.0\.2\.1:61000-65535 comment "kernel rule exchange"/);
    // Owned (reserved when it overlaps the host's ephemeral range) only with a kernel rule.
    expect(ownedRanges(rules).map((o) => `${o.what} ${o.lo}-${o.hi}`)).toContain('gateway.kernelNatPorts 61000-65535');
    expect(ownedRanges(loadDoc(minimalDoc()).rules).map((o) => o.what)).not.toContain('gateway.kernelNatPorts');
  });

  it('with a "kernel" rule, must not overlap natPorts or notificationRelayPorts (the internal address is shared), located', () => {
    const doc = minimalDoc();
    doc.gateway.kernelNatPorts = '32000-33000';
    expect(() => loadDoc(doc)).not.toThrow();
    Object.assign(doc.rules[0]!, { mappedInspection: 'kernel' });
    let p = problemsOf(doc);
    expect(p.map((x) => [x.path, x.message])).toEqual([
      ['/gateway/kernelNatPorts', 'expected a range that does not overlap gateway.natPorts "10000-32767", found "32000-33000"'],
    ]);
    doc.gateway.kernelNatPorts = '47500';
    p = problemsOf(doc);
    expect(p.map((x) => x.message)).toEqual(['expected a range that does not overlap gateway.notificationRelayPorts "47000-47999", found "47500"']);
    doc.gateway.kernelNatPorts = '100-200';
    expect(problemsOf(doc).map((x) => x.path)).toEqual(['/gateway/kernelNatPorts']);
    doc.gateway.kernelNatPorts = '50000-50999';
    expect(loadDoc(doc).rules.gateway.kernelNatPortLo).toBe(50000);
  });
});

describe('kernel guard', () => {
  it('drops exactly the published ports, the NAT ports and the relay ports; nothing else of the server', () => {
    const lines = ruleLines(guardOf({ natPorts: '62000-62999' }, { notifications: true }));
    expect(lines).toEqual([
      'ip daddr 198.51.100.1 tcp dport { 135, 40000-40999 } counter drop comment "clients to published ports"',
      `ip saddr { 192.0.2.10 } ip daddr 192.0.2.1 tcp dport 62000-62999 counter drop comment "published servers to the daemon's NAT source ports (gateway.natPorts)"`,
      'ip saddr { 192.0.2.10 } ip daddr 192.0.2.1 udp dport 47000-47999 counter drop comment "new-mail notifications the daemon relays"',
      'iifname "gw-ext" ip daddr 198.51.100.1 tcp dport { 135, 40000-40999 } counter drop comment "published ports never routed around the daemon"',
      'iifname "gw-ext" ip daddr { 192.0.2.10 } tcp dport 135 counter drop comment "published endpoint mappers only through the daemon"',
    ]);
    // The regressions: no rule over all of the server's TCP, forwarded traffic or UDP.
    for (const l of lines) {
      if (l.includes('ip saddr { 192.0.2.10 }') || l.includes('ip daddr { 192.0.2.10 }')) expect(l).toMatch(/dport \d/);
    }
  });

  it('drops the server-to-client notification ports only for rules that relay encrypted registrations by pinhole', () => {
    expect(ruleLines(guardOf({}, { notifications: true, notificationsWhenEncrypted: 'pinhole', notificationPorts: '5000-5100' }))).toContain(
      `ip saddr 192.0.2.10 oifname "gw-ext" udp dport { 5000-5100 } counter drop comment "encrypted sessions' notifications only through the daemon"`,
    );
    expect(guardOf({}, { notifications: true })).not.toContain('oifname');
  });

  it.skipIf(!haveNft)('is a script nft accepts (nft -c)', () => {
    const script = guardOf({}, { notifications: true, notificationsWhenEncrypted: 'pinhole' });
    const r = spawnSync('nft', ['-c', '-f', '-'], { input: script, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

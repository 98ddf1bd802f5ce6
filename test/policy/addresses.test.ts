/**
 * Addresses no rules file can mean: check refuses each, located, with the reason; the same client
 * network twice; a server off gateway.internal.network. JSONC comments load.
 */
import { describe, it, expect } from 'vitest';
import { loadRules } from '../../src/policy/load.js';
import { minimalDoc, problemsOf, withRule } from './helpers.js';

const IMPOSSIBLE: [string, RegExp][] = [
  ['0.0.0.0', /unspecified address/],
  ['127.0.0.1', /loopback/],
  ['224.0.0.5', /multicast/],
  ['239.255.255.250', /multicast/],
  ['255.255.255.255', /limited broadcast/],
  ['240.0.0.1', /reserved/],
  ['0.1.2.3', /this network/],
];

describe('impossible addresses', () => {
  for (const [addr, why] of IMPOSSIBLE) {
    it(`refuses ${addr} as a server, an externalAddress and the gateway's addresses`, () => {
      const server = problemsOf(withRule({ server: addr }));
      expect(server.map((p) => p.path)).toEqual(['/rules/0/server']);
      expect(server[0]!.message).toMatch(why);
      expect(server[0]!.line).toBeGreaterThan(0);
      const ext = problemsOf(withRule({ externalAddress: addr }));
      expect(ext.map((p) => p.path)).toContain('/rules/0/externalAddress');
      expect(ext.find((p) => p.path === '/rules/0/externalAddress')!.message).toMatch(why);
      for (const side of ['external', 'internal'] as const) {
        const doc = minimalDoc();
        (doc.gateway[side] as Record<string, unknown>).address = addr;
        const ps = problemsOf(doc);
        expect(ps.find((p) => p.path === `/gateway/${side}/address`)?.message).toMatch(why);
      }
    });
  }

  it('accepts ordinary unicast addresses', () => {
    expect(() => loadRules(JSON.stringify(withRule({ server: '10.1.2.3', externalAddress: '203.0.113.7' })), 'r.json')).not.toThrow();
  });

  it('refuses the same client network twice in a rule, naming the first', () => {
    const ps = problemsOf(withRule({ clients: ['203.0.113.0/24', '198.51.100.7/32', '203.0.113.0/24'] }));
    expect(ps).toEqual([expect.objectContaining({ path: '/rules/0/clients/2', message: expect.stringMatching(/"203\.0\.113\.0\/24" again \(also \/rules\/0\/clients\/0\)/) as string })]);
    // A bare address and its /32 are the same client.
    expect(problemsOf(withRule({ clients: ['198.51.100.7', '198.51.100.7/32'] })).map((p) => p.path)).toEqual(['/rules/0/clients/1']);
  });
});

describe('gateway.internal.network', () => {
  const withNet = (net: string, server = '192.0.2.10'): ReturnType<typeof minimalDoc> => {
    const doc = withRule({ server });
    (doc.gateway.internal as Record<string, unknown>).network = net;
    return doc;
  };

  it('accepts servers on it and refuses one outside it', () => {
    expect(() => loadRules(JSON.stringify(withNet('192.0.2.0/24')), 'r.json')).not.toThrow();
    const ps = problemsOf(withNet('192.0.2.0/24', '10.9.9.9'));
    expect(ps).toEqual([expect.objectContaining({ path: '/rules/0/server', message: 'expected a server on gateway.internal.network 192.0.2.0/24, found "10.9.9.9"' })]);
  });

  it('must be a network the internal address is on, and only on the internal side', () => {
    expect(problemsOf(withNet('10.0.0.0/8')).map((p) => p.path)).toEqual(['/gateway/internal/address', '/rules/0/server']);
    expect(problemsOf(withNet('192.0.2.1/24'))[0]!.message).toMatch(/did you mean "192\.0\.2\.0\/24"/);
    const doc = minimalDoc();
    (doc.gateway.external as Record<string, unknown>).network = '198.51.100.0/24';
    expect(problemsOf(doc).map((p) => p.path)).toEqual(['/gateway/external/network']);
  });
});

describe('JSONC', () => {
  it('loads a rules file with line and block comments, and locates problems after them', () => {
    const text = `// rpcgw rules
{
  /* the gateway */
  "gateway": {
    "external": { "interface": "gw-ext", "address": "198.51.100.1" }, // clients
    "internal": { "interface": "gw-int", "address": "192.0.2.1" }
  },
  "rules": [{ "name": "x", "server": "127.0.0.1", "interfaces": ["exchange"], "mappedPorts": "40000-40999" }]
}`;
    let problems: { line?: number; path: string }[] = [];
    try {
      loadRules(text, 'r.jsonc');
    } catch (e) {
      problems = (e as { problems: { line?: number; path: string }[] }).problems;
    }
    expect(problems).toEqual([expect.objectContaining({ path: '/rules/0/server', line: 8 })]);
    expect(() => loadRules(text.replace('127.0.0.1', '192.0.2.10'), 'r.jsonc')).not.toThrow();
  });
});

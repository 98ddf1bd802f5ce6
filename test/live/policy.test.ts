/**
 * The RPC policy on mapped ports, live: Samba behind `rpcgw run`, Impacket as the client.
 *  - a bind to an interface outside the rule on a mapped port is refused — map srvsvc, then bind
 *    wkssvc on the same port (Samba serves both there); srvsvc itself works;
 *  - requireEncryption: Impacket at auth level 5 is refused, at level 6 it works.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, ruleInterfaces } from '../../src/lab/lab.js';
import { LIVE_TIMEOUT_MS, repoRoot, skipLive } from './live.js';

function mappedPort(m: { towers: { protocol: string; port?: number }[] }): number {
  const t = m.towers.find((x) => x.protocol === 'ncacn_ip_tcp');
  if (t?.port === undefined) throw new Error(`no ncacn_ip_tcp tower in ${JSON.stringify(m)}`);
  return t.port;
}

describe.skipIf(skipLive('mapped-port policy'))('binds on a mapped port are checked against the rule', () => {
  const lab = new Lab();
  beforeAll(() => lab.up({ repoRoot, rules: { interfaces: ruleInterfaces(['srvsvc']) } }), LIVE_TIMEOUT_MS);
  afterAll(() => lab.down(), LIVE_TIMEOUT_MS);

  it('srvsvc works on its mapped port; wkssvc on the same port is refused and logged', async () => {
    const port = mappedPort(await lab.map('srvsvc'));
    const ok = await lab.call('srvsvc', port, 1);
    expect(ok.ok).toBe(true);
    const refused = await lab.call('wkssvc', port, 1);
    expect(refused.ok).toBe(false);
    expect(refused.bound).toBe(false);
    const rec = await lab.waitFor((r) => r.event === 'refused' && r.reason === 'bind-interface-not-allowed', 10_000);
    expect(rec).not.toBeNull();
    expect(String(rec!.interface)).toMatch(/^6bffd098-a112-3610-9833-46c3f87e345a/);
    expect(rec!.rule).toBe('lab');
    // srvsvc keeps working after the refusal.
    expect((await lab.call('srvsvc', port, 1)).ok).toBe(true);
  }, LIVE_TIMEOUT_MS);
});

describe.skipIf(skipLive('requireEncryption'))('requireEncryption: only packet privacy passes', () => {
  const lab = new Lab();
  beforeAll(() => lab.up({ repoRoot, rules: { interfaces: ruleInterfaces(['srvsvc', 'samr']), requireEncryption: true } }), LIVE_TIMEOUT_MS);
  afterAll(() => lab.down(), LIVE_TIMEOUT_MS);

  it('level 5 (integrity) is refused, level 6 (privacy) works, level 1 is refused', async () => {
    const port = mappedPort(await lab.map('srvsvc'));
    const five = await lab.call('srvsvc', port, 5);
    expect(five.ok).toBe(false);
    const six = await lab.call('srvsvc', port, 6);
    expect(six.ok).toBe(true);
    const one = await lab.call('srvsvc', port, 1);
    expect(one.ok).toBe(false);
    const refusals = lab.daemonLogs().filter((r) => r.event === 'refused' && r.reason === 'encryption-required');
    expect(refusals.length).toBe(2);
    expect(refusals.map((r) => String(r.detail))).toEqual([expect.stringMatching(/auth level 5/), expect.stringMatching(/no authentication/)]);
  }, LIVE_TIMEOUT_MS);
});

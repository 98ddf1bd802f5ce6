/**
 * `rpcgw lab`'s job (runLabScenario): the narrated walk through the gateway with real peers must
 * succeed step by step, say what the tower was before and after the gateway, and clean up.
 */
import { describe, it, expect } from 'vitest';
import { runLabScenario } from '../../src/lab/scenario.js';
import { listOurNamespaces } from '../../src/lab/netns.js';
import { LIVE_TIMEOUT_MS, repoRoot, skipLive } from './live.js';

const skip = skipLive('scenario.test.ts (rpcgw lab)', { rpcclient: true });

describe.skipIf(skip)('rpcgw lab', () => {
  it('narrates a successful walk through the gateway and leaves nothing behind', async () => {
    const before = new Set(listOurNamespaces());
    const lines: string[] = [];
    const code = await runLabScenario({ repoRoot, write: (l) => lines.push(l) });
    const text = lines.join('\n');
    expect(lines.filter((l) => l.includes('FAIL')), text).toEqual([]);
    expect(code, text).toBe(0);
    // The tower before (the server's own endpoint) and after (the gateway's mapped port).
    expect(text).toMatch(/the server answered\s+192\.0\.2\.10:49(1[5-9]|2\d)\d\b/);
    expect(text).toMatch(/the client received\s+198\.51\.100\.1:40\d\d\d/);
    expect(text).toMatch(/198\.51\.100\.11 -> 198\.51\.100\.1:40\d\d\d: no answer/);
    expect(text).toMatch(/the daemon refused it: interface-not-published/);
    expect(text).toMatch(/towers rewritten\s+[1-9]/);
    expect(text).toMatch(/pinholes opened\s+3\b/);
    expect(text).toMatch(/drops by reason\s+.*no-pinhole [1-9]/);
    expect(text).toMatch(/samr through the proxy: domains .*Builtin|RPC over HTTPS: left out/);
    expect(text).toMatch(/every step behaved as expected$/);
    // Its namespaces are gone (other labs running in parallel keep theirs).
    expect(listOurNamespaces().filter((n) => !before.has(n) && n.startsWith(`rpcgw-${process.pid}-`))).toEqual([]);
  }, LIVE_TIMEOUT_MS);
});

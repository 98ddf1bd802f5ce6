/**
 * The daemon's life cycle against real peers: SIGHUP with a broken rules file keeps the old
 * rules in force and traffic flowing; SIGHUP with a good file applies it; SIGTERM stops it with
 * exit 0 leaving no nftables table, no process and the interfaces' offloads as they were.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { LAB, Lab, isRefusal, ruleInterfaces, type IfaceName } from '../../src/lab/lab.js';
import { execOk, findTool, isAlive } from '../../src/lab/netns.js';
import { LIVE_TIMEOUT_MS, repoRoot, skipLive } from './live.js';

const skip = skipLive('lifecycle.test.ts (SIGHUP, SIGTERM, leftovers)');
const tool = (name: string): string => findTool(name) ?? name;

const FIRST: IfaceName[] = ['samr', 'srvsvc', 'winreg'];

/** `ethtool -k` lines that are not fixed by the driver, for before/after comparison. */
async function offloads(lab: Lab, iface: string): Promise<string[]> {
  const out = await execOk(lab.nsName('gateway'), [tool('ethtool'), '-k', iface]);
  return out.split('\n').filter((l) => /^\S.*: (on|off)$/.test(l));
}

describe.skipIf(skip)('rpcgw run: reload and stop', { timeout: LIVE_TIMEOUT_MS }, () => {
  const lab = new Lab();
  const before = new Map<string, string[]>();

  beforeAll(async () => {
    await lab.up({ repoRoot, daemon: false, rules: { interfaces: ruleInterfaces(FIRST), lookup: 'deny' } });
    for (const i of [LAB.ifExt, LAB.ifInt]) before.set(i, await offloads(lab, i));
    await lab.startDaemon();
  }, LIVE_TIMEOUT_MS);

  afterAll(async () => {
    await lab.down();
  }, LIVE_TIMEOUT_MS);

  /** ept_map then a level-1 call on the returned tower; the mapped port. */
  async function mapAndCall(iface: 'samr' | 'wkssvc'): Promise<number> {
    const m = await lab.map(iface);
    expect(m.error).toBeUndefined();
    expect(m.towers[0]?.ip).toBe(LAB.gatewayExt);
    const port = m.towers[0]!.port!;
    const c = await lab.call(iface, port, 1);
    expect(c.error).toBeUndefined();
    expect(c.ok).toBe(true);
    return port;
  }

  it('starts with the first rules: samr works, wkssvc is refused', async () => {
    await mapAndCall('samr');
    const w = await lab.map('wkssvc');
    expect(w.code).toBe(1);
    expect(w.towers).toEqual([]);
  });

  it('keeps the old rules and the traffic after SIGHUP with a broken file', async () => {
    const pid = lab.daemonPid;
    const samrPort = (await lab.map('samr')).towers[0]!.port!;
    // A connection that makes calls before and after the reload attempt.
    const from0 = lab.daemonLogs().length;
    const ongoing = lab.call('samr', samrPort, 6, { repeat: 2, intervalS: 3 });
    expect(await lab.waitFor((r) => r.event === 'connection-open' && r.kind === 'mapped', 10_000, from0)).not.toBeNull();
    const answer = await lab.hup('{ "gateway": { "external": ');
    expect(answer?.event).toBe('reload-refused');
    expect(answer?.level).toBeGreaterThanOrEqual(50);
    expect(JSON.stringify(answer?.problems ?? '')).toMatch(/invalid JSON/);
    expect(lab.isDaemonRunning()).toBe(true);
    expect(lab.daemonPid).toBe(pid);
    const survived = await ongoing;
    expect(survived.error).toBeUndefined();
    expect(survived).toMatchObject({ ok: true, rounds: 2 });
    // Existing mappings survive, new ept_maps and calls work, the old refusals still apply.
    expect(await mapAndCall('samr')).toBe(samrPort);
    const from = lab.daemonLogs().length;
    const w = await lab.map('wkssvc');
    expect(w.code).toBe(1);
    expect((await lab.waitFor(isRefusal, 5_000, from))?.reason).toBe('interface-not-published');
    const failures = (await lab.metrics()).find((s) => s.name === 'rpcgw_reload_failures_total');
    expect(failures?.value).toBe(1);
  });

  it('applies a good file on SIGHUP: wkssvc is published after the reload', async () => {
    const answer = await lab.hup(lab.rulesText({ interfaces: ruleInterfaces([...FIRST, 'wkssvc']), lookup: 'deny' }));
    expect(answer?.event).toBe('reload');
    await mapAndCall('wkssvc');
    await mapAndCall('samr');
  });

  it('stops on SIGTERM with exit 0, no nftables table, no process, offloads restored', async () => {
    const pid = lab.daemonPid!;
    expect((await lab.nftTables()).some((t) => / rpcgw$/.test(t))).toBe(true);
    const exit = await lab.stopDaemon();
    expect(exit).toEqual({ code: 0, signal: null, killed: false });
    expect(isAlive(pid)).toBe(false);
    expect(lab.nftTablesAfterStop).toEqual([]);
    expect(lab.gatewayProcessesAfterStop).toEqual([]);
    expect(lab.daemonLogs().some((r) => r.event === 'stopped')).toBe(true);
    for (const i of [LAB.ifExt, LAB.ifInt]) expect(await offloads(lab, i)).toEqual(before.get(i));
    // Nothing routes around the stopped daemon: forwarding stays off, the server is unreachable.
    expect((await execOk(lab.nsName('gateway'), [tool('sysctl'), '-n', 'net.ipv4.ip_forward'])).trim()).toBe('0');
    expect(await lab.probe(LAB.client, 135, { host: LAB.server })).toBe('unreachable');
  });

  it('leaves nothing behind after down()', async () => {
    await lab.down();
    expect(lab.leftovers()).toEqual([]);
  });
});

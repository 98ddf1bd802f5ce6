/**
 * A restart of `rpcgw run` keeps the pinholes and carries established connections on: impacket
 * maps srvsvc (a pinhole), binds and calls on a second connection and keeps it open, idle; the
 * daemon is stopped (SIGTERM: state saved) and started again (state restored before capture);
 * then the same connection calls again, and a new connection through the old pinhole (no new
 * ept_map) binds and calls. With --keep-guard-on-stop the nftables guard stays while no daemon
 * runs, so a call sent in that gap is dropped and retransmitted, not reset by the kernel. A state
 * file that cannot be used gives a warning and an empty start.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { LAB, Lab, isRewrite, ruleInterfaces, type DaemonRecord } from '../../src/lab/lab.js';
import { LIVE_TIMEOUT_MS, repoRoot, skipLive } from './live.js';

const skip = skipLive('restart.test.ts (rpcgw run restarted under an open connection)');

describe.skipIf(skip)('rpcgw run restarted with a pinhole and an established connection', { timeout: LIVE_TIMEOUT_MS }, () => {
  const lab = new Lab();

  beforeAll(async () => {
    await lab.up({ repoRoot, rules: { interfaces: ruleInterfaces(['srvsvc']), lookup: 'deny' } });
  }, LIVE_TIMEOUT_MS);

  afterAll(async () => {
    await lab.down();
  }, LIVE_TIMEOUT_MS);

  const since = (from: number, event: string): DaemonRecord[] => lab.daemonLogs().slice(from).filter((r) => r.event === event);

  async function waitForFile(file: string, timeoutMs: number): Promise<boolean> {
    for (const end = Date.now() + timeoutMs; Date.now() < end; ) {
      if (existsSync(file)) return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  }

  it('the same connection calls again after the restart, and the old pinhole lets a new connection in', async () => {
    const m = await lab.map('srvsvc');
    expect(m.code).toBe(0);
    const port = m.towers[0]!.port!;
    expect(m.towers[0]!.ip).toBe(LAB.gatewayExt);

    const ready = path.join(lab.dir!, 'round1.done');
    const go = path.join(lab.dir!, 'round2.go');
    const held = lab.client(
      ['call', '--host', LAB.gatewayExt, '--port', String(port), '--iface', 'srvsvc', '--auth-level', '1', '--repeat', '2', '--ready-file', ready, '--wait-file', go, '--timeout', '30'],
      { timeoutMs: 120_000 },
    );
    const firstRound = await Promise.race([waitForFile(ready, 30_000), held.then(() => false)]);
    expect(firstRound, 'impacket bound and called once').toBe(true);

    const from = lab.daemonLogs().length;
    const exit = await lab.stopDaemon();
    expect(exit.code).toBe(0);
    const [saved] = since(from, 'state-saved');
    expect(saved).toMatchObject({ mappings: 1, connections: 1 });
    expect(existsSync(path.join(lab.dir!, 'state.json'))).toBe(true);

    await lab.startDaemon();
    const [restored] = since(from, 'state-restored');
    expect(restored).toMatchObject({ mappings: 1, connections: 1, skipped: {}, rulesChanged: false });
    expect(existsSync(path.join(lab.dir!, 'state.json.used'))).toBe(true);
    expect(existsSync(path.join(lab.dir!, 'state.json'))).toBe(false);

    // The daemon lists the carried connection before it has seen a packet of it.
    const listed = await lab.admin(['mappings', '--connections', '--json']);
    const carried = listed.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; kind: string; client: string; external: string }).filter((x) => x.type === 'connection');
    expect(carried.filter((c) => c.kind === 'mapped').map((c) => c.external)).toEqual([`${LAB.gatewayExt}:${port}`]);

    writeFileSync(go, '');
    const r = await held;
    expect(r.json, JSON.stringify(r.json)).toMatchObject({ ok: true, rounds: 2, bound: true });
    expect(carried.find((c) => c.kind === 'mapped')!.client).toBe(r.json.local);

    // A new connection through the restored pinhole: no ept_map since the restart.
    const again = await lab.call('srvsvc', port, 1);
    expect(again.ok, JSON.stringify(again)).toBe(true);
    expect(lab.daemonLogs().slice(from).filter(isRewrite)).toEqual([]);
    expect(since(from, 'refused')).toEqual([]);
  });

  it('with --keep-guard-on-stop the guard stays during the restart: a call sent while no daemon runs is retransmitted and answered', async () => {
    lab.daemonArgs = ['--keep-guard-on-stop'];
    try {
      await keptGuardRestart();
    } finally {
      lab.daemonArgs = [];
    }
  });

  async function keptGuardRestart(): Promise<void> {
    await lab.stopDaemon();
    await lab.startDaemon();
    const m = await lab.map('srvsvc');
    expect(m.code).toBe(0);
    const port = m.towers[0]!.port!;
    const ready = path.join(lab.dir!, 'kept.round1.done');
    const go = path.join(lab.dir!, 'kept.round2.go');
    const held = lab.client(
      ['call', '--host', LAB.gatewayExt, '--port', String(port), '--iface', 'srvsvc', '--auth-level', '1', '--repeat', '2', '--ready-file', ready, '--wait-file', go, '--timeout', '30'],
      { timeoutMs: 120_000 },
    );
    expect(await Promise.race([waitForFile(ready, 30_000), held.then(() => false)])).toBe(true);

    const from = lab.daemonLogs().length;
    await lab.stopDaemon();
    expect(since(from, 'stopped')).toMatchObject([{ guardKept: true }]);
    expect(lab.nftTablesAfterStop!.join('\n')).toMatch(/rpcgw/);
    // The next call goes out while no daemon runs: the kept guard drops it, the client retransmits.
    writeFileSync(go, '');
    await new Promise((r) => setTimeout(r, 500));
    await lab.startDaemon();
    expect(since(from, 'guard-adopted')).toHaveLength(1);
    expect(since(from, 'stale-guard')).toEqual([]);
    expect(since(from, 'state-restored')).toMatchObject([{ connections: 1 }]);
    const r = await held;
    expect(r.json, JSON.stringify(r.json)).toMatchObject({ ok: true, rounds: 2 });
  }

  it('a corrupt state file gives a warning and an empty start; a missing one an info line', async () => {
    const from = lab.daemonLogs().length;
    await lab.stopDaemon();
    const file = path.join(lab.dir!, 'state.json');
    writeFileSync(file, '{"format":"rpcgw-state","version":1,"createdMs":');
    await lab.startDaemon();
    const [refused] = since(from, 'state-refused');
    expect(refused).toMatchObject({ level: 40, file, movedTo: `${file}.bad` });
    expect(String(refused!.reason)).toMatch(/not a state file/);
    expect(since(from, 'ready')).toHaveLength(1);
    expect(existsSync(`${file}.bad`)).toBe(true);

    const from2 = lab.daemonLogs().length;
    await lab.stopDaemon();
    // That stop saved a file again: remove it to see a first start.
    rmSync(file, { force: true });
    await lab.startDaemon();
    expect(since(from2, 'state-none')).toHaveLength(1);
    expect(since(from2, 'state-refused')).toEqual([]);
  });
});

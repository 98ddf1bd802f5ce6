/**
 * The live bench (bench/live.ts) in its tiny mode: 1 s per phase, through rpcgw run, kernel
 * forwarding and nftables NAT in the lab's namespaces. Checks that every mode ran and that the
 * JSON carries every field with the right type, and that nothing of ours is left behind. Never
 * judges a timing (those belong to bench/results). Needs root, ip, ethtool and nft: skipped
 * visibly otherwise.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveSkipReason, LIVE_MODES, type LiveResult } from '../../bench/live.js';
import { listOurNamespaces } from '../../src/lab/netns.js';
import { projectRoot } from '../helpers/shared.js';

const skip = liveSkipReason();
if (skip !== null) process.stderr.write(`test/bench/live.test.ts: skipped: ${skip}\n`);

describe.skipIf(skip !== null)('live bench, 1 s per phase', () => {
  const out = mkdtempSync(path.join(tmpdir(), 'rpcgw-live-test-'));
  let r: LiveResult;
  let stdout = '';
  let childPid = 0;
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  beforeAll(() => {
    // The bench runs compiled; tsc exits non-zero on someone else's type error but still emits.
    spawnSync(process.execPath, [path.join(projectRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(projectRoot, 'bench', 'tsconfig.json')], { encoding: 'utf8' });
    const run = spawnSync(process.execPath, [path.join(projectRoot, 'bench', 'dist', 'bench', 'main.js'), 'live', '--seconds', '1', '--out', out, '--name', 't'], {
      encoding: 'utf8', timeout: 170_000,
    });
    stdout = run.stdout;
    childPid = run.pid;
    const doc = JSON.parse(readFileSync(path.join(out, 't.json'), 'utf8')) as { schema: string; live: LiveResult };
    expect(doc.schema).toBe('rpcgw-bench-live/1');
    r = doc.live;
  }, 180_000);

  it('ran the four modes in order without an error', () => {
    expect(r.reason).toBe('');
    expect(r.status).toBe('ran');
    expect(r.modes.map((m) => m.mode)).toEqual([...LIVE_MODES]);
    for (const m of r.modes) expect(m.error).toBeNull();
  });

  it('records every figure of every phase, with the command and versions', () => {
    expect(r.secondsPerPhase).toBe(1);
    expect(r.command).toBe('node bench/dist/bench/main.js live --seconds 1');
    expect(r.versions.nft).toMatch(/^nftables v/);
    expect(r.versions.node).toBe(process.version);
    expect(r.machine.cpus).toBeGreaterThan(0);
    expect(r.machine.loadAverageStart).toHaveLength(3);
    expect(r.machine.loadAverageEnd).toHaveLength(3);
    for (const m of r.modes) {
      for (const phase of ['bulk', 'small', 'latency'] as const) {
        const p = m[phase]!;
        expect(p, `${m.mode} ${phase}`).not.toBeNull();
        expect(p.calls).toBeGreaterThan(0);
        expect(p.seconds).toBeGreaterThan(0.9);
        for (const k of ['gbitPerSecond', 'callsPerSecond', 'packetsPerSecond', 'responseBytes', 'gatewayPackets'] as const) {
          expect(Number.isFinite(p[k]), `${m.mode} ${phase} ${k}`).toBe(true);
          expect(p[k]).toBeGreaterThan(0);
        }
        expect(p.command).toContain(`--phase ${phase}`);
        if (phase === 'latency') {
          expect(p.p50Us).toBeGreaterThan(0);
          expect(p.p99Us).toBeGreaterThanOrEqual(p.p50Us!);
        } else expect(p.p50Us).toBeNull();
        // CPU is the daemon's: only the rpcgw mode has one.
        expect(p.machineIdlePercent).toBeGreaterThanOrEqual(0);
        expect(p.retransmits === null || p.retransmits >= 0).toBe(true);
        if (m.mode === 'rpcgw' || m.mode === 'rpcgw-kernel') {
          expect(p.daemonCpuSeconds).toBeGreaterThanOrEqual(0);
          expect(p.daemonCpuPercent).toBeGreaterThanOrEqual(0);
          expect(p.daemonCpuUsPerPacket).toBeGreaterThanOrEqual(0);
        } else {
          expect(p.daemonCpuSeconds).toBeNull();
          expect(p.daemonCpuUsPerPacket).toBeNull();
        }
      }
      // A bulk call is 64 KiB of response stub; small ones 64 bytes.
      expect(m.bulk!.responseBytes).toBe(m.bulk!.calls * 65536);
      expect(m.small!.responseBytes).toBe(m.small!.calls * 64);
    }
    expect(r.modes[0]!.bulk!.command).toContain('--epm 198.51.100.1');
    // The tower came back rewritten: the client went to the gateway's mapped port, not the server.
    const t = r.modes[0]!.bulk!.target;
    expect(t.host).toBe('198.51.100.1');
    expect(t.port).toBeGreaterThanOrEqual(40000);
    expect(t.port).toBeLessThanOrEqual(40999);
    expect(r.modes[1]!.bulk!.target).toEqual({ host: '192.0.2.10', port: 5000 });
    expect(r.modes[2]!.bulk!.target).toEqual({ host: '198.51.100.1', port: 40000 });
    expect(r.modes[0]!.daemonCounters).not.toBeNull();
    expect(r.modes[2]!.setup.join('\n')).toContain('dnat to 192.0.2.10:5000');
    // Kernel mode: the same ept_map through the daemon, a mapped port on the gateway.
    const k = r.modes[3]!.bulk!.target;
    expect(k.host).toBe('198.51.100.1');
    expect(k.port).toBeGreaterThanOrEqual(40000);
    expect(k.port).toBeLessThanOrEqual(40999);
    expect(r.modes[3]!.setup.join('\n')).toContain('"mappedInspection":"kernel"');
    // Connection set-ups per second in every mode, with their time percentiles.
    for (const m of r.modes) {
      expect(m.setups!.callsPerSecond, m.mode).toBeGreaterThan(0);
      expect(m.setups!.p99Us!).toBeGreaterThanOrEqual(m.setups!.p50Us!);
      expect(m.setups!.command).toContain('--phase setups');
    }
  });

  it('computes the ratios against both kernel peers and prints the table', () => {
    for (const k of ['bulkVsNftables', 'bulkVsForwarding', 'smallPpsVsNftables', 'smallPpsVsForwarding', 'kernelBulkVsNftables', 'kernelSmallPpsVsNftables'] as const) {
      expect(r.ratios[k]).toBeGreaterThan(0);
    }
    expect(r.ratios.bulkVsNftables).toBeCloseTo(r.modes[0]!.bulk!.gbitPerSecond / r.modes[2]!.bulk!.gbitPerSecond, 9);
    expect(stdout).toMatch(/^\| rpcgw \| [\d.]+ \|/m);
    expect(stdout).toMatch(/^\| nftables \| [\d.]+ \|/m);
    expect(readFileSync(path.join(out, 't.md'), 'utf8')).toBe(stdout);
  });

  it('leaves no namespace of its own behind', () => {
    // Other labs may come and go meanwhile: look only at names the bench process owned.
    expect(childPid).toBeGreaterThan(0);
    expect(listOurNamespaces().filter((n) => n.startsWith(`rpcgw-${childPid}-`))).toEqual([]);
  });
});

/**
 * The administrator's tools against a running daemon and real peers (Samba, Impacket):
 * `rpcgw status` and /healthz answer; `rpcgw events` streams the firewall log while calls run;
 * a refused `rpcgw reload` exits 65 and the old rules keep forwarding; a good one prints what
 * changed; mappings with state names and byte counts; flush of an unknown rule is an error;
 * explain names the rule; a second daemon is refused by the admin-socket lock.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { LAB, Lab, ruleInterfaces, type IfaceName } from '../../src/lab/lab.js';
import { exec, findTool, stopGroup } from '../../src/lab/netns.js';
import { LIVE_TIMEOUT_MS, repoRoot, skipLive } from './live.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const skip = skipLive('admin.test.ts (reload, events, status, healthz)');
const FIRST: IfaceName[] = ['samr', 'srvsvc', 'winreg'];

describe.skipIf(skip)('administrator tools on a running daemon', { timeout: LIVE_TIMEOUT_MS }, () => {
  const lab = new Lab();
  let events: ChildProcess | null = null;
  const streamed: Record<string, unknown>[] = [];

  beforeAll(async () => {
    await lab.up({ repoRoot, rules: { interfaces: ruleInterfaces(FIRST), lookup: 'deny' } });
  }, LIVE_TIMEOUT_MS);

  afterAll(async () => {
    await stopGroup(events);
    await lab.down();
  }, LIVE_TIMEOUT_MS);

  async function mapAndCall(iface: 'samr' | 'wkssvc'): Promise<number> {
    const m = await lab.map(iface);
    expect(m.error).toBeUndefined();
    const port = m.towers[0]!.port!;
    const c = await lab.call(iface, port, 1);
    expect(c.ok).toBe(true);
    return port;
  }

  it('status answers with version, rules file and hash, per-rule counts and the guard', async () => {
    const r = await lab.admin(['status', '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(s).toMatchObject({ rulesFile: lab.rulesPath, guardPresent: true, pid: lab.daemonPid });
    expect(s.rulesSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(s.rules).toEqual([expect.objectContaining({ rule: 'lab', enabled: true, pinholes: 0 })]);
    const text = await lab.admin(['status']);
    expect(text.stdout).toMatch(/kernel guard: present/);
  });

  it('/healthz answers 200 ok beside /metrics', async () => {
    const script = 'fetch(process.argv[1]).then(async (r) => { process.stdout.write(r.status + " " + await r.text()); })';
    const r = await exec(lab.nsName('gateway'), [process.execPath, '-e', script, `http://${lab.metricsListen}/healthz`], { timeoutMs: 10_000 });
    expect(r.stdout).toBe('200 ok\n');
  });

  it('streams events while calls run (rpcgw events --rule --type)', async () => {
    events = spawn(process.execPath, [lab.cliPath, 'events', '--json', '--rule', 'lab', '--client', LAB.client, '--socket', lab.adminSocket], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    events.stdout!.on('data', (b: Buffer) => {
      buf += b.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        streamed.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
        buf = buf.slice(nl + 1);
      }
    });
    // Calls start once the daemon counts the subscriber (status says so).
    for (let i = 0; i < 100; i++) {
      const st = JSON.parse((await lab.admin(['status', '--json'])).stdout) as { eventSubscribers: number };
      if (st.eventSubscribers === 1) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await mapAndCall('samr');
    await lab.map('wkssvc'); // refused: interface-not-published
    for (let i = 0; i < 50 && !streamed.some((r) => r.event === 'refused'); i++) await new Promise((r) => setTimeout(r, 100));
    const kinds = new Set(streamed.map((r) => r.event));
    for (const k of ['connection-open', 'rewrite', 'pinhole-open', 'refused']) expect(kinds.has(k), k).toBe(true);
    const refused = streamed.find((r) => r.event === 'refused')!;
    expect(refused).toMatchObject({ rule: 'lab', reason: 'interface-not-published', client_ip: LAB.client, level: 40, levelName: 'warning' });
    expect(typeof refused.client_port).toBe('number');
    expect(streamed.every((r) => r.rule === 'lab' && r.client_ip === LAB.client)).toBe(true);
  });

  it('lists mappings of one rule and client with state names, packets and bytes; flush of an unknown rule is an error', async () => {
    const port = (await lab.map('samr')).towers[0]!.port!;
    expect((await lab.call('samr', port, 1)).ok).toBe(true);
    const r = await lab.admin(['mappings', '--rule', 'lab', '--client', LAB.client, '--connections', '--json']);
    expect(r.code).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.some((x) => x.type === 'pinhole' && x.client === LAB.client)).toBe(true);
    const mapped = rows.filter((x) => x.type === 'connection' && x.kind === 'mapped');
    expect(mapped.length).toBeGreaterThan(0);
    // Names, not bits: a call's connection is established, then closing (both FINs: TIME_WAIT).
    for (const c of mapped) expect(['SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'TIME_WAIT', 'CLOSE']).toContain(c.stateName);
    const conn = mapped[mapped.length - 1]!;
    expect(conn.bytesFromClient as number).toBeGreaterThan(0);
    expect(conn.packetsFromServer as number).toBeGreaterThan(0);
    const text = await lab.admin(['mappings', '--rule', 'lab', '--connections']);
    expect(text.stdout).toMatch(/^mapped (ESTABLISHED|TIME_WAIT|FIN_WAIT|CLOSE) rule=lab .* packets=\d+\/\d+ bytes=\d+\/\d+$/m);
    const other = await lab.admin(['mappings', '--client', '198.51.100.99']);
    expect(other.stdout).toMatch(/^0 pinhole\(s\)$/m);
    const bad = await lab.admin(['flush', '--rule', 'nosuchrule']);
    expect(bad.code).toBe(65);
    expect(bad.stderr).toMatch(/no rule named "nosuchrule"/);
  });

  it('explains which rule a client meets, from the daemon', async () => {
    const r = await lab.admin(['explain', '--client', LAB.client, '--port', '135']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/rule lab, endpoint-mapper policy applies/);
    // A mapped port this client holds a pinhole for: allowed, naming the server behind it.
    const port = (await lab.map('samr')).towers[0]!.port!;
    const held = await lab.admin(['explain', '--client', LAB.client, '--port', String(port)]);
    expect(held.stdout).toMatch(new RegExp(`${LAB.gatewayExt}:${port}: allowed now, pinhole of rule lab to ${LAB.server}:\\d+`));
    const other = await lab.admin(['explain', '--client', '198.51.100.99', '--port', String(port)]);
    expect(other.stdout).toMatch(/no pinhole for this client now/);
    const stranger = await lab.admin(['explain', '--client', '203.0.113.9', '--port', '135']);
    expect(stranger.stdout).toMatch(/client-not-allowed/);
  });

  it('a refused reload exits 65, says why, and the old rules keep forwarding', async () => {
    const good = lab.rulesText({ interfaces: ruleInterfaces(FIRST), lookup: 'deny' });
    writeFileSync(lab.rulesPath, '{ "gateway": { "external": ');
    const r = await lab.admin(['reload']);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/reload refused/);
    expect(r.stderr).toMatch(/invalid JSON/);
    await mapAndCall('samr');
    expect((await lab.map('wkssvc')).code).toBe(1);
    // A change a reload cannot apply is refused by name, not ignored.
    const limits = JSON.parse(good) as { gateway: Record<string, unknown> };
    limits.gateway.limits = { maxMappingsPerClient: 7 };
    writeFileSync(lab.rulesPath, JSON.stringify(limits));
    const r2 = await lab.admin(['reload']);
    expect(r2.code).toBe(65);
    expect(r2.stderr).toMatch(/gateway\.limits changed: a reload cannot apply it/);
    await mapAndCall('samr');
    const samples = await lab.metrics();
    expect(samples.find((s) => s.name === 'rpcgw_reload_failures_total')?.value).toBe(2);
    // Per-rule series: the refusals and rewrites of the calls above, under rule="lab".
    expect(samples.find((s) => s.name === 'rpcgw_refusals_total' && s.labels.rule === 'lab' && s.labels.reason === 'interface-not-published')?.value).toBeGreaterThanOrEqual(2);
    expect(samples.find((s) => s.name === 'rpcgw_tower_rewrites_total' && s.labels.rule === 'lab')?.value).toBeGreaterThan(0);
    expect(samples.find((s) => s.name === 'rpcgw_table_limit' && s.labels.table === 'flows')?.value).toBeGreaterThan(0);
    expect(samples.some((s) => s.name === 'rpcgw_nodejs_eventloop_lag_seconds')).toBe(true);
  });

  it('a good reload prints what changed and applies it', async () => {
    writeFileSync(lab.rulesPath, lab.rulesText({ interfaces: ruleInterfaces([...FIRST, 'wkssvc']), lookup: 'deny' }));
    const r = await lab.admin(['reload']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/rules added: none; removed: none; changed: lab/);
    expect(r.stdout).toMatch(/pinholes kept: \d+, dropped: 0/);
    await mapAndCall('wkssvc');
  });

  it('a second daemon on the same admin socket is refused (exit 75) with a start-failed record', async () => {
    const r = await exec(lab.nsName('gateway'), [process.execPath, lab.cliPath, 'run', '--rules', lab.rulesPath], { timeoutMs: 20_000 });
    expect(r.code).toBe(75);
    expect(r.stderr).toMatch(/another rpcgw is already running/);
    const rec = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).find((x) => x.event === 'start-failed');
    expect(rec).toMatchObject({ level: 60, exitCode: 75 });
    expect(lab.isDaemonRunning()).toBe(true);
    await mapAndCall('samr');
  });

  it('tells systemd it is ready (READY=1 on NOTIFY_SOCKET) only after its ready record, and STOPPING=1 on stop', async () => {
    await lab.stopDaemon();
    const at = path.join(lab.dir!, 'notify.sock');
    const dgram = createRequire(import.meta.url)('unix-dgram') as {
      createSocket(t: 'unix_dgram', cb: (msg: Buffer) => void): { bind(p: string): void; close(): void };
    };
    const got: { msg: string; recordsBefore: number }[] = [];
    const rx = dgram.createSocket('unix_dgram', (m) => got.push({ msg: m.toString(), recordsBefore: lab.daemonLogs().length }));
    rx.bind(at);
    try {
      lab.daemonEnv = { NOTIFY_SOCKET: at };
      const from = lab.daemonLogs().length;
      await lab.startDaemon();
      for (let i = 0; i < 50 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(got.map((g) => g.msg.split('\n')[0])).toEqual(['READY=1']);
      const readyAt = lab.daemonLogs().findIndex((r, i) => i >= from && r.event === 'ready');
      expect(readyAt).toBeGreaterThanOrEqual(from);
      expect(got[0]!.recordsBefore).toBeGreaterThan(readyAt);
      await mapAndCall('samr');
      expect((await lab.stopDaemon()).code).toBe(0);
      expect(got.map((g) => g.msg.split('\n')[0])).toEqual(['READY=1', 'STOPPING=1']);
    } finally {
      rx.close();
    }
  });

  it('runs, forwards, reloads and cleans up with only the unit\'s capabilities (CapabilityBoundingSet, NoNewPrivileges)', async () => {
    const setpriv = findTool('setpriv');
    if (setpriv === null) return; // util-linux; present on Debian
    const unit = readFileSync(path.join(repoRoot, 'deploy', 'rpcgw.service'), 'utf8');
    const caps = /^CapabilityBoundingSet=(.*)$/m.exec(unit)![1]!.trim().split(/\s+/).map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`);
    lab.daemonEnv = {};
    lab.daemonWrapper = [setpriv, `--bounding-set=-all,${caps.join(',')}`, '--inh-caps=-all', '--no-new-privs', '--'];
    await lab.startDaemon();
    const pid = lab.daemonPid!;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    // capability(7) numbers of the unit's set: the daemon runs with exactly these.
    const bit: Record<string, number> = { net_bind_service: 10, net_admin: 12, net_raw: 13 };
    const mask = caps.reduce((m, c) => m | (1 << bit[c.slice(1)]!), 0);
    expect(BigInt('0x' + /^CapBnd:\s+([0-9a-f]+)$/m.exec(status)![1]!)).toBe(BigInt(mask));
    await mapAndCall('samr');
    expect((await lab.admin(['reload'])).code).toBe(0);
    expect((await lab.stopDaemon()).code).toBe(0);
    expect(lab.nftTablesAfterStop).toEqual([]);
  });
});

/**
 * `mappedInspection: "kernel"` end to end with real peers: Samba behind `rpcgw run`, impacket
 * and rpcclient in front, the peers' offloads at the kernel defaults. The endpoint mapper stays
 * in the daemon; each rewritten tower becomes an nftables pinhole for that client, and the
 * client's connection to the mapped port is carried by the kernel (DNAT/SNAT), never by the
 * daemon.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { IFACES, LAB, Lab, isRefusal, isRewrite, ruleInterfaces, type AuthLevel, type CallIface } from '../../src/lab/lab.js';
import { exec, execOk, findTool, isAlive } from '../../src/lab/netns.js';
import { LIVE_TIMEOUT_MS, PEERS_OFFLOADS_OFF, ROUTER_WITH_ADMIN_FIREWALL, becomeRouter, gatewayForwarding, repoRoot, skipLive } from './live.js';

const skip = skipLive('kernel-mode.test.ts (rpcgw run with a "kernel" rule)', { rpcclient: true }) || findTool('conntrack') === null;
if (findTool('conntrack') === null) console.warn('[rpcgw live tests] kernel-mode.test.ts: SKIPPED, needs conntrack (apt-get install conntrack)');

const isAlivePid = (pid: number | null): boolean => pid !== null && isAlive(pid);
const PUBLISHED: CallIface[] = ['samr', 'srvsvc', 'winreg'];
/** Short, so the expiry of an unused pinhole can be watched. */
const PINHOLE_S = 6;

describe.skipIf(skip)('rpcgw run with a "kernel" rule, peers\' offloads at kernel defaults', { timeout: LIVE_TIMEOUT_MS }, () => {
  const lab = new Lab();
  const mapped = new Map<CallIface, number>();
  const gw = (): string => lab.nsName('gateway');
  const nftMap = async (): Promise<string> => (await exec(gw(), [findTool('nft')!, 'list', 'map', 'inet', 'rpcgw', 'kpin'])).stdout;
  const forwarding = (): Promise<string[]> => gatewayForwarding(lab);
  const conntrack = async (): Promise<string> => (await exec(gw(), [findTool('conntrack')!, '-L', '-p', 'tcp'])).stdout;

  const RULES = { interfaces: ruleInterfaces(PUBLISHED), lookup: 'deny', mappedInspection: 'kernel', pinholeTimeoutSeconds: PINHOLE_S } as const;
  /** Polls the map until it holds (or, with present false, no longer holds) `element`. */
  const mapHas = async (element: string, present = true, withinMs = 5000): Promise<boolean> => {
    for (const end = Date.now() + withinMs; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
      if ((await nftMap()).includes(element) === present) return true;
    }
    return false;
  };

  beforeAll(async () => {
    await lab.up({ repoRoot, net: {}, rules: { ...RULES } });
  }, LIVE_TIMEOUT_MS);

  afterAll(async () => {
    await lab.down();
  }, LIVE_TIMEOUT_MS);

  for (const iface of ['samr', 'srvsvc'] as const) {
    for (const level of [1, 5, 6] as AuthLevel[]) {
      it(`${iface} at auth level ${level}: ept_map, then connect, bind and call through the kernel`, async () => {
        const from = lab.daemonLogs().length;
        // A fresh ept_map each time: the pinhole (6 s) must be alive when the client connects.
        const m = await lab.map(iface);
        expect(m.code).toBe(0);
        const t = m.towers[0]!;
        expect(t.ip).toBe(LAB.gatewayExt);
        mapped.set(iface, t.port!);
        // The element is in the map before the client had the tower.
        expect(await nftMap()).toContain(`${LAB.client} . ${LAB.gatewayExt} . ${t.port}`);
        const c = await lab.call(iface, t.port!, level);
        expect(c.error).toBeUndefined();
        expect(c.ok).toBe(true);
        if (iface === 'samr') expect(c.result?.domains).toEqual(['RPCGWLAB', 'Builtin']);
        if (iface === 'srvsvc') expect(c.result?.shares).toContain('IPC$');
        // The daemon carried the endpoint mapper only.
        await lab.waitFor(() => false, 200, from);
        const opened = lab.daemonLogs().slice(from).filter((r) => r.event === 'connection-open');
        expect(opened.map((r) => r.kind)).toEqual(['epm']);
        // conntrack saw the client's connection to the mapped port, translated to the server.
        expect(await conntrack()).toMatch(new RegExp(`src=${LAB.client.replace(/\./g, '\\.')} dst=${LAB.gatewayExt.replace(/\./g, '\\.')} sport=\\d+ dport=${t.port} .*src=${LAB.server.replace(/\./g, '\\.')} dst=192\\.0\\.2\\.1 `));
      });
    }
  }

  it('a client port inside gateway.natPorts: the kernel SNATs to kernelNatPorts, and the daemon counts no no-connection drop', async () => {
    const drops = async (): Promise<number> => (await lab.metrics()).filter((x) => x.name === 'rpcgw_drops_total' && x.labels.reason === 'no-connection').reduce((a, x) => a + x.value, 0);
    const sysctl = findTool('sysctl')!;
    const before = (await exec(lab.nsName('client'), [sysctl, '-n', 'net.ipv4.ip_local_port_range'])).stdout.trim().split(/\s+/).join(' ');
    // The client's ephemeral ports inside the default natPorts (10000-32767).
    await exec(lab.nsName('client'), [sysctl, '-w', 'net.ipv4.ip_local_port_range=20000 20999']);
    try {
      const dropsBefore = await drops();
      for (const iface of ['samr', 'srvsvc'] as const) {
        const m = await lab.map(iface);
        const c = await lab.call(iface, m.towers[0]!.port!, 5);
        expect(c.error).toBeUndefined();
        expect(c.ok).toBe(true);
      }
      // The server's answers never reach the daemon's capture as strays.
      await lab.waitFor(() => false, 300);
      expect(await drops()).toBe(dropsBefore);
      const ct = await conntrack();
      const flows = [...ct.matchAll(/src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+) .*?src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)/g)].filter((f) => f[1] === LAB.client && f[2] === LAB.gatewayExt && f[4] !== '135');
      // This test's connections (client ports 20000-20999) are there; earlier ones may linger.
      expect(flows.filter((f) => Number(f[3]) >= 20000 && Number(f[3]) <= 20999).length).toBeGreaterThan(0);
      for (const f of flows) {
        // The server answers the internal address on a kernelNatPorts port, not the client's.
        expect(f[6]).toBe(LAB.gatewayInt);
        expect(Number(f[8])).toBeGreaterThanOrEqual(61000);
      }
    } finally {
      await exec(lab.nsName('client'), [sysctl, '-w', `net.ipv4.ip_local_port_range=${before}`]);
    }
  });

  it('Samba\'s rpcclient (its own ept_map) works through the kernel rule, plain, signed and sealed', async () => {
    for (const [binding, command, expected] of [
      [`ncacn_ip_tcp:${LAB.gatewayExt}`, 'srvinfo', /platform_id\s*:\s*500/],
      [`ncacn_ip_tcp:${LAB.gatewayExt}[sign]`, 'enumdomains', /name:\[RPCGWLAB\]/],
      [`ncacn_ip_tcp:${LAB.gatewayExt}[seal]`, 'enumdomains', /name:\[Builtin\]/],
    ] as const) {
      const r = await lab.rpcclient(command, { binding, timeoutMs: 30_000 });
      expect(r.stderr, binding).toBe('');
      expect(r.code, binding).toBe(0);
      expect(r.stdout, binding).toMatch(expected);
    }
  });

  it('another client address cannot use the first client\'s mapped port', async () => {
    const m = await lab.map('samr');
    const port = m.towers[0]!.port!;
    expect(await lab.probe(LAB.client2, port, { timeoutS: 2 })).toBe('timeout');
    expect(await lab.probe(LAB.client, port)).toBe('connected');
  });

  it('an unpublished interface is still refused at ept_map, and no pinhole is made for it', async () => {
    const from = lab.daemonLogs().length;
    const before = await nftMap();
    const m = await lab.map('wkssvc');
    expect(m.code).toBe(1);
    expect(m.towers).toEqual([]);
    const refusal = await lab.waitFor((r) => isRefusal(r) && String(r.interface).startsWith(IFACES.wkssvc.uuid), 5_000, from);
    expect(refusal).toMatchObject({ reason: 'interface-not-published', rule: 'lab' });
    expect(lab.daemonLogs().slice(from).filter(isRewrite)).toEqual([]);
    expect((await nftMap()).split(' . ').length).toBeLessThanOrEqual(before.split(' . ').length);
  });

  it('an unused pinhole expires: gone from the map, and the port no longer answers', async () => {
    const m = await lab.map('winreg');
    const port = m.towers[0]!.port!;
    const element = `${LAB.client} . ${LAB.gatewayExt} . ${port}`;
    expect(await nftMap()).toContain(element);
    await new Promise((r) => setTimeout(r, (PINHOLE_S + 1.5) * 1000));
    expect(await nftMap()).not.toContain(element);
    expect(await lab.probe(LAB.client, port, { timeoutS: 2 })).toBe('timeout');
  });

  it('rpcgw mappings lists the kernel pinholes (time left) and their connections; flush --client removes both', async () => {
    const m = await lab.map('srvsvc');
    const port = m.towers[0]!.port!;
    expect(await lab.probe(LAB.client, port)).toBe('connected');
    const list = await lab.admin(['mappings', '--json']);
    expect(list.code).toBe(0);
    const rows = list.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const pin = rows.find((r) => r.type === 'kernel-pinhole' && r.external === `${LAB.gatewayExt}:${port}`);
    expect(pin).toMatchObject({ rule: 'lab', client: LAB.client, server: expect.stringMatching(new RegExp(`^${LAB.server.replace(/\./g, '\\.')}:\\d+$`)) as string });
    expect(Number(pin!.expiresInSeconds)).toBeGreaterThan(0);
    expect(Number(pin!.expiresInSeconds)).toBeLessThanOrEqual(PINHOLE_S);
    const conn = rows.find((r) => r.type === 'kernel-connection' && r.external === `${LAB.gatewayExt}:${port}`);
    expect(conn).toMatchObject({ rule: 'lab' });
    expect(String(conn!.client).startsWith(`${LAB.client}:`)).toBe(true);

    const other = await lab.admin(['flush', '--client', LAB.client2]);
    expect(other.stdout.trim()).toBe('flushed 0 pinhole(s) and 0 connection(s)');
    const mine = await lab.admin(['flush', '--client', LAB.client]);
    expect(mine.code).toBe(0);
    expect(mine.stdout).toMatch(/in the kernel: [1-9]\d* pinhole\(s\) and [1-9]\d* connection\(s\)/);
    expect(await nftMap()).not.toContain(`${LAB.client} . ${LAB.gatewayExt} . ${port}`);
    expect(await conntrack()).not.toContain(`dport=${port} `);
    expect(await lab.probe(LAB.client, port, { timeoutS: 2 })).toBe('timeout');
  });

  it('counts what the kernel forwarded per rule, and the pinholes, in its metrics', async () => {
    const samples = await lab.metrics();
    const value = (name: string, rule?: string): number => samples.filter((x) => x.name === name && (rule === undefined || x.labels.rule === rule)).reduce((a, x) => a + x.value, 0);
    // Every call above went through the kernel: packets both ways, far more than the pinholes.
    expect(value('rpcgw_kernel_forwarded_packets_total', 'lab')).toBeGreaterThan(50);
    expect(value('rpcgw_kernel_forwarded_bytes_total', 'lab')).toBeGreaterThan(value('rpcgw_kernel_forwarded_packets_total', 'lab') * 40);
    expect(value('rpcgw_kernel_pinholes_installed_total')).toBeGreaterThanOrEqual(lab.daemonLogs().filter(isRewrite).length);
    expect(value('rpcgw_kernel_pinholes_failed_total')).toBe(0);
  });

  it('a reload keeps the pinholes of a rule that stays "kernel"; a repaired guard table gets them back', async () => {
    const port = (await lab.map('samr')).towers[0]!.port!;
    const element = `${LAB.client} . ${LAB.gatewayExt} . ${port}`;
    expect(await nftMap()).toContain(element);
    const rec = await lab.hup(lab.rulesText({ ...RULES }));
    expect(rec?.event).toBe('reload');
    expect(await nftMap()).toContain(element);
    // Someone deletes the table: the watch reinstalls it, pinholes included.
    await exec(gw(), [findTool('nft')!, 'delete', 'table', 'inet', 'rpcgw']);
    expect(await mapHas(element)).toBe(true);
    expect(await lab.probe(LAB.client, port)).toBe('connected');
  });

  it('a restart carries the kernel pinholes (state file): the element is back once the daemon is up', async () => {
    const port = (await lab.map('srvsvc')).towers[0]!.port!;
    const element = `${LAB.client} . ${LAB.gatewayExt} . ${port}`;
    await lab.stopDaemon();
    expect(lab.nftTablesAfterStop).not.toContain('table inet rpcgw');
    await lab.startDaemon();
    expect(await mapHas(element)).toBe(true);
    expect(await lab.probe(LAB.client, port)).toBe('connected');
  });

  it('a reload that makes the rule "full" takes its pinholes out of the kernel', async () => {
    const port = (await lab.map('samr')).towers[0]!.port!;
    const rec = await lab.hup(lab.rulesText({ ...RULES, mappedInspection: 'full' }));
    expect(rec?.event).toBe('reload');
    expect((await exec(gw(), [findTool('nft')!, 'list', 'map', 'inet', 'rpcgw', 'kpin'])).code).not.toBe(0);
    // The daemon carries the port itself now: the pinhole (in its own table) still lets the client in.
    expect(await lab.probe(LAB.client, port)).toBe('connected');
    // No kernel rule left: forwarding is off again on the gateway's interfaces.
    expect(await forwarding()).toEqual(['0', '0']);
    expect(await lab.hup(lab.rulesText({ ...RULES }))).toMatchObject({ event: 'reload' });
    expect(await forwarding()).toEqual(['1', '1']);
  });

  it('a daemon killed outright leaves forwarding on; the next start turns it off with the stale table', async () => {
    expect(await forwarding()).toEqual(['1', '1']);
    process.kill(lab.daemonPid!, 'SIGKILL');
    for (let i = 0; i < 50 && isAlivePid(lab.daemonPid); i++) await new Promise((r) => setTimeout(r, 100));
    await lab.stopDaemon(); // reaps it; the table stays (nobody removed it)
    expect(await forwarding()).toEqual(['1', '1']);
    const from = lab.daemonLogs().length;
    await lab.startDaemon();
    const stale = await lab.waitFor((r) => r.event === 'stale-forwarding', 5_000, from);
    expect([...(stale?.interfaces as string[])].sort()).toEqual(['gw-ext', 'gw-int']);
    // The new daemon has kernel rules too: it turned forwarding on again itself, and works.
    expect(await forwarding()).toEqual(['1', '1']);
    const m = await lab.map('samr');
    expect(await lab.probe(LAB.client, m.towers[0]!.port!)).toBe('connected');
  });

  it('after stop nothing of rpcgw is left in nftables or conntrack', async () => {
    // A connection still open through a pinhole when the daemon stops.
    const m = await lab.map('samr');
    expect(await lab.probe(LAB.client, m.towers[0]!.port!)).toBe('connected');
    await lab.stopDaemon();
    expect(lab.nftTablesAfterStop).not.toContain('table inet rpcgw');
    const ct = await conntrack();
    expect(ct).not.toMatch(new RegExp(`dst=${LAB.gatewayExt.replace(/\./g, '\\.')} sport=\\d+ dport=40\\d\\d\\d `));
    // Forwarding is back off on the gateway's interfaces.
    expect(await forwarding()).toEqual(['0', '0']);
  });
});

/**
 * The same kernel rule in the other host settings the gateway suite runs in: the peers' offloads
 * off (a plain wire), and a router whose administrator has IP forwarding on and a drop-by-default
 * firewall of their own. On the router the daemon leaves forwarding and that firewall alone, so
 * the kernel-mode connections need the accept docs/operations.md gives — shown here both ways.
 */
describe.skipIf(skip).each([PEERS_OFFLOADS_OFF, ROUTER_WITH_ADMIN_FIREWALL])('rpcgw run with a "kernel" rule ($name)', { timeout: LIVE_TIMEOUT_MS }, ({ net, router }) => {
  const lab = new Lab();
  const RULES = { interfaces: ruleInterfaces(PUBLISHED), lookup: 'deny', mappedInspection: 'kernel', pinholeTimeoutSeconds: 30 } as const;

  beforeAll(async () => {
    await lab.up({ repoRoot, net, daemon: router !== true, rules: { ...RULES } });
    if (router === true) {
      await becomeRouter(lab);
      await lab.startDaemon();
    }
  }, LIVE_TIMEOUT_MS);

  afterAll(async () => {
    await lab.down();
  }, LIVE_TIMEOUT_MS);

  it.runIf(router === true)('the administrator\'s forward policy drops the kernel-mode connection until the documented accept is added', async () => {
    const port = (await lab.map('samr')).towers[0]!.port!;
    expect(await lab.probe(LAB.client, port, { timeoutS: 2 })).toBe('timeout');
    await execOk(lab.nsName('gateway'), [findTool('nft')!, 'add', 'rule', 'inet', 'admin', 'forward', 'ct', 'status', 'dnat', 'ct', 'original', 'ip', 'daddr', LAB.gatewayExt, 'accept']);
    expect(await lab.probe(LAB.client, port)).toBe('connected');
  });

  it('samr at auth level 6 (Impacket) and rpcclient sealed through the kernel rule', async () => {
    const from = lab.daemonLogs().length;
    const t = (await lab.map('samr')).towers[0]!;
    expect(t.ip).toBe(LAB.gatewayExt);
    const c = await lab.call('samr', t.port!, 6);
    expect(c.error).toBeUndefined();
    expect(c.result?.domains).toEqual(['RPCGWLAB', 'Builtin']);
    const r = await lab.rpcclient('enumdomains', { binding: `ncacn_ip_tcp:${LAB.gatewayExt}[seal]`, timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/name:\[RPCGWLAB\]/);
    // Only the endpoint mapper went through the daemon.
    expect(new Set(lab.daemonLogs().slice(from).filter((x) => x.event === 'connection-open').map((x) => x.kind))).toEqual(new Set(['epm']));
  });

  it('on stop: nothing of rpcgw left; forwarding as it found it, the administrator\'s table untouched', async () => {
    await lab.stopDaemon();
    expect(lab.nftTablesAfterStop).not.toContain('table inet rpcgw');
    expect(lab.nftTablesAfterStop!.includes('table inet admin')).toBe(router === true);
    const want = router === true ? '1' : '0';
    expect(await gatewayForwarding(lab)).toEqual([want, want]);
  });
});

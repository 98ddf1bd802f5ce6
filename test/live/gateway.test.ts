/**
 * The gateway end to end, with real peers only: Samba's samba-dcerpcd behind `rpcgw run`, and
 * Debian's impacket and Samba's rpcclient in front of it. The rule publishes samr, srvsvc and
 * winreg (explicitly, by UUID and version) to the client network; wkssvc, which Samba also
 * registers, is left out so a refusal can be seen.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { IFACES, LAB, Lab, isRefusal, isRewrite, ruleInterfaces, type AuthLevel, type CallIface, type DaemonRecord } from '../../src/lab/lab.js';
import { findTool } from '../../src/lab/netns.js';
import { LIVE_TIMEOUT_MS, PEERS_OFFLOADS_OFF, ROUTER_WITH_ADMIN_FIREWALL, becomeRouter, repoRoot, skipLive, type HostSetting } from './live.js';

const skip = skipLive('gateway.test.ts (rpcgw run between impacket and Samba)');
const haveRpcclient = findTool('rpcclient') !== null;
if (!skip && !haveRpcclient) console.warn('[rpcgw live tests] gateway.test.ts: rpcclient tests SKIPPED (apt-get install smbclient)');

const MAPPED_LO = 40000;
const MAPPED_HI = 40999;
const PUBLISHED: CallIface[] = ['samr', 'srvsvc', 'winreg'];

/**
 * The same suite on four hosts: the peers' veth ends at the kernel's defaults (tx checksum
 * offload and TSO on: partial checksums and segments of many MSS reach the gateway, as from
 * virtio-net VMs), the peers' offloads off (a plain wire), GRO on the gateway's own ends (merged
 * frames larger than the MTU reach the capture), and a router as administrators run one: IP
 * forwarding on and a firewall of their own that drops what it does not know, in input and forward,
 * installed before rpcgw starts.
 */
const HOSTS: HostSetting[] = [
  { name: 'peers with offloads at kernel defaults', net: {} },
  PEERS_OFFLOADS_OFF,
  { name: 'GRO on the gateway, peers at defaults', net: { gatewayGro: true } },
  ROUTER_WITH_ADMIN_FIREWALL,
];

describe.skipIf(skip).each(HOSTS)('rpcgw run between real DCE/RPC peers ($name)', { timeout: LIVE_TIMEOUT_MS }, ({ net, router }) => {
  const lab = new Lab();
  /** What each published interface was mapped to for the first client. */
  const mapped = new Map<CallIface, number>();

  beforeAll(async () => {
    await lab.up({ repoRoot, net, daemon: router !== true, rules: { interfaces: ruleInterfaces(PUBLISHED), lookup: 'deny' } });
    if (router === true) {
      await becomeRouter(lab);
      await lab.startDaemon();
    }
  }, LIVE_TIMEOUT_MS);

  it.runIf(router === true)('leaves the administrator\'s firewall in place beside its own table', async () => {
    expect(await lab.nftTables()).toEqual(expect.arrayContaining(['table inet admin', 'table inet rpcgw']));
  });

  afterAll(async () => {
    await lab.down();
  }, LIVE_TIMEOUT_MS);

  const recordsSince = (from: number, pred: (r: DaemonRecord) => boolean): DaemonRecord[] => lab.daemonLogs().slice(from).filter(pred);

  it('rewrites the ept_map tower to the external address and a mapped port, and logs both endpoints', async () => {
    const serverPorts = await lab.samba!.listeningPorts();
    const from = lab.daemonLogs().length;
    const m = await lab.map('samr');
    expect(m.code).toBe(0);
    expect(m.status).toBe(0);
    expect(m.towers).toHaveLength(1);
    const t = m.towers[0]!;
    expect(t).toMatchObject({ protocol: 'ncacn_ip_tcp', ip: LAB.gatewayExt, interface: IFACES.samr.uuid, version: '1.0' });
    expect(t.port).toBeGreaterThanOrEqual(MAPPED_LO);
    expect(t.port).toBeLessThanOrEqual(MAPPED_HI);
    mapped.set('samr', t.port!);

    const rw = await lab.waitFor((r) => isRewrite(r) && r.interface === IFACES.samr.uuid, 5_000, from);
    expect(rw).not.toBeNull();
    expect(rw).toMatchObject({ op: 'ept_map', client: LAB.client, rewritten: `${LAB.gatewayExt}:${t.port}`, version: '1.0' });
    // What the server really said: its own address and one of its dynamic ports.
    const [ip, port] = String(rw!.original).split(':');
    expect(ip).toBe(LAB.server);
    expect(serverPorts).toContain(Number(port));
    expect(Number(port)).not.toBe(135);
    expect(recordsSince(from, (r) => r.event === 'pinhole-open' && r.client === LAB.client).length).toBe(1);
  });

  for (const iface of PUBLISHED) {
    for (const level of [1, 5, 6] as AuthLevel[]) {
      it(`${iface} at auth level ${level}: ept_map, connect to the tower, bind and call`, async () => {
        let port = mapped.get(iface);
        if (port === undefined) {
          const m = await lab.map(iface);
          expect(m.code).toBe(0);
          const t = m.towers[0];
          expect(t?.ip).toBe(LAB.gatewayExt);
          port = t!.port!;
          mapped.set(iface, port);
        }
        const c = await lab.call(iface, port, level);
        expect(c.error).toBeUndefined();
        expect(c.ok).toBe(true);
        expect(c.local?.startsWith(`${LAB.client}:`)).toBe(true);
        if (iface === 'samr') expect(c.result?.domains).toEqual(['RPCGWLAB', 'Builtin']);
        if (iface === 'srvsvc') expect(c.result?.shares).toContain('IPC$');
        if (iface === 'winreg') expect(c.result?.productType).toBe('ServerNT');
      });
    }
  }

  it('gives each server endpoint its own mapped port, and the same one again on a second ept_map', async () => {
    expect(new Set(mapped.values()).size).toBe(mapped.size);
    const again = await lab.map('samr');
    expect(again.towers[0]?.port).toBe(mapped.get('samr'));
  });

  it('does not answer a second client address on the first client\'s mapped port', async () => {
    const port = mapped.get('samr') ?? (await lab.map('samr')).towers[0]!.port!;
    const from = lab.daemonLogs().length;
    expect(await lab.probe(LAB.client2, port, { timeoutS: 2 })).toBe('timeout');
    const drops = recordsSince(from, (r) => r.event === 'drop' && r.reason === 'no-pinhole');
    expect(drops.length).toBeGreaterThan(0);
    expect(String(drops[0]!.src).startsWith(`${LAB.client2}:`)).toBe(true);
    expect(drops[0]!.dst).toBe(`${LAB.gatewayExt}:${port}`);
    // The pinhole is still there for its own client.
    expect(await lab.probe(LAB.client, port)).toBe('connected');
  });

  it('refuses ept_map for an interface outside the rule, before the client gets a tower', async () => {
    const from = lab.daemonLogs().length;
    const m = await lab.map('wkssvc');
    expect(m.code).toBe(1);
    expect(m.towers).toEqual([]);
    expect(['reset', 'closed']).toContain(m.kind);
    const refusal = await lab.waitFor((r) => isRefusal(r) && String(r.interface).startsWith(IFACES.wkssvc.uuid), 5_000, from);
    expect(refusal).toMatchObject({ reason: 'interface-not-published', rule: 'lab' });
    expect(String(refusal!.client).split(':')[0]).toBe(LAB.client);
    expect(recordsSince(from, isRewrite)).toEqual([]);
  });

  it('refuses ept_lookup under "lookup": "deny"', async () => {
    const from = lab.daemonLogs().length;
    const r = await lab.client(['lookup', '--host', LAB.gatewayExt]);
    expect(r.code).toBe(1);
    expect(r.json.entries).toBeUndefined();
    const refusal = await lab.waitFor((x) => isRefusal(x), 5_000, from);
    expect(refusal?.reason).toBe('lookup-denied');
  });

  describe.skipIf(!haveRpcclient)('Samba\'s rpcclient as a second real client', () => {
    for (const [binding, command, expected] of [
      [`ncacn_ip_tcp:${LAB.gatewayExt}`, 'srvinfo', /platform_id\s*:\s*500/],
      [`ncacn_ip_tcp:${LAB.gatewayExt}[sign]`, 'enumdomains', /name:\[RPCGWLAB\]/],
      [`ncacn_ip_tcp:${LAB.gatewayExt}[seal]`, 'enumdomains', /name:\[Builtin\]/],
    ] as const) {
      it(`rpcclient ${binding} -c ${command} (its own ept_map through the gateway)`, async () => {
        const from = lab.daemonLogs().length;
        const r = await lab.rpcclient(command, { binding, timeoutMs: 30_000 });
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        expect(r.stdout).toMatch(expected);
        // It went through the endpoint mapper and a mapped port, not around the gateway.
        for (const kind of ['epm', 'mapped']) {
          const opened = await lab.waitFor((x) => x.event === 'connection-open' && x.kind === kind && String(x.client).startsWith(`${LAB.client}:`), 5_000, from);
          expect(opened, kind).not.toBeNull();
        }
      });
    }
  });

  it('lists the pinholes over the admin socket, and flushing a client closes its mapped ports', async () => {
    const samrPort = mapped.get('samr')!;
    const list = await lab.admin(['mappings', '--json']);
    expect(list.stderr).toBe('');
    expect(list.code).toBe(0);
    const pinholes = list.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r.type === 'pinhole');
    const samr = pinholes.find((p) => p.external === `${LAB.gatewayExt}:${samrPort}`);
    expect(samr).toMatchObject({ rule: 'lab', client: LAB.client });
    expect(String(samr!.server).startsWith(`${LAB.server}:`)).toBe(true);
    expect(pinholes.every((p) => p.client === LAB.client)).toBe(true);

    const other = await lab.admin(['flush', '--client', LAB.client2]);
    expect(other.stdout.trim()).toBe('flushed 0 pinhole(s) and 0 connection(s)');
    expect(await lab.probe(LAB.client, samrPort)).toBe('connected');
    const mine = await lab.admin(['flush', '--client', LAB.client]);
    expect(mine.code).toBe(0);
    expect(mine.stdout).toMatch(new RegExp(`flushed ${pinholes.length} pinhole\\(s\\)`));
    expect(await lab.probe(LAB.client, samrPort)).toBe('timeout');
  });

  it('counts what it did in its metrics', async () => {
    const samples = await lab.metrics();
    await lab.waitFor(() => false, 300); // let the last log lines arrive before counting them
    const value = (name: string, reason?: string): number =>
      samples.filter((s) => s.name === name && (reason === undefined || s.labels.reason === reason)).reduce((a, s) => a + s.value, 0);
    expect(value('rpcgw_tower_rewrites_total')).toBe(lab.daemonLogs().filter(isRewrite).length);
    expect(value('rpcgw_pinholes_opened_total')).toBe(lab.daemonLogs().filter((r) => r.event === 'pinhole-open').length);
    expect(value('rpcgw_connections_opened_total')).toBe(lab.daemonLogs().filter((r) => r.event === 'connection-open').length);
    expect(value('rpcgw_drops_total', 'no-pinhole')).toBeGreaterThan(0);
    expect(value('rpcgw_refusals_total', 'interface-not-published')).toBe(1);
    expect(value('rpcgw_drops_total', 'interface-not-published')).toBe(0);
  });
});

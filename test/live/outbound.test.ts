/**
 * Clients behind the gateway, with real peers: the lab's roles swapped. Samba's samba-dcerpcd
 * runs in the lab's CLIENT namespace (the external side, 198.51.100.10) and Impacket in the
 * SERVER namespace (the internal side, 192.0.2.10 and .11, default route via the gateway's
 * internal address); `rpcgw run` carries them with one outbound rule. The external namespace
 * has no route to 192.0.2.0/24, so Samba can only ever answer the gateway's external address:
 * a call that completes was source-translated to it.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { IFACES, LAB, Lab, isRefusal, ruleInterfaces, type CallIface } from '../../src/lab/lab.js';
import { exec, execOk, findTool } from '../../src/lab/netns.js';
import { SambaServer } from '../../src/lab/samba.js';
import { LIVE_TIMEOUT_MS, PEERS_OFFLOADS_OFF, ROUTER_WITH_ADMIN_FIREWALL, becomeRouter, repoRoot, skipLive, type HostSetting } from './live.js';
import { Capture, SimProcess, haveImpacket, haveTcpdump, runClient } from '../sim/harness.js';

const skip = skipLive('outbound.test.ts (internal Impacket to an external Samba through rpcgw run)');

const INSIDE = LAB.server;
const INSIDE2 = '192.0.2.11';
const OUTSIDE = LAB.client;
const ALLOWED: CallIface[] = ['samr', 'srvsvc'];

/** The roles swapped (Samba outside, the clients inside) and one outbound rule; `net` and a router as `setting` says. */
async function upOutboundLab(lab: Lab, setting: HostSetting): Promise<void> {
  await lab.up({ repoRoot, samba: false, daemon: false, net: setting.net });
  if (setting.router === true) await becomeRouter(lab);
  const ip = findTool('ip')!;
  const srv = lab.nsName('server');
  await execOk(srv, [ip, 'addr', 'add', `${INSIDE2}/24`, 'dev', LAB.ifHost]);
  await execOk(srv, [ip, 'route', 'add', 'default', 'via', LAB.gatewayInt]);
  lab.samba = await SambaServer.start({ ns: lab.nsName('client'), address: OUTSIDE, dir: path.join(lab.dir!, 'samba') });
  const doc = JSON.parse(lab.rulesText()) as { rules: unknown[] };
  doc.rules = [{
    name: 'lab-out', direction: 'outbound', clients: ['192.0.2.0/24'], servers: [`${OUTSIDE}/32`],
    interfaces: ruleInterfaces(ALLOWED), pinholeTimeoutSeconds: 60, idleTimeoutSeconds: 900,
  }];
  writeFileSync(lab.rulesPath, JSON.stringify(doc, null, 2));
  await lab.startDaemon();
}

const inside = { ns: 'server' as const, host: OUTSIDE };

describe.skipIf(skip)('outbound rule: internal Impacket to an external Samba', { timeout: LIVE_TIMEOUT_MS }, () => {
  const lab = new Lab();
  /** Every port an ept_map answer opened so far (Samba serves several interfaces per port). */
  const opened = new Set<number>();

  beforeAll(async () => {
    await upOutboundLab(lab, { name: 'peers with offloads at kernel defaults', net: {} });
  }, LIVE_TIMEOUT_MS);

  afterAll(async () => {
    await lab.down();
  }, LIVE_TIMEOUT_MS);

  it('the external side has no route to the internal network (what makes a completed call proof of the source NAT)', async () => {
    const r = await exec(lab.nsName('client'), [findTool('ip')!, 'route', 'get', INSIDE]);
    expect(r.code).not.toBe(0);
  });

  /** ept_map from inside; the port of the tower naming the external server. */
  async function mapPort(iface: CallIface, src = INSIDE): Promise<number> {
    const m = await lab.map(iface, { ...inside, src });
    expect(m.code).toBe(0);
    expect(m.status).toBe(0);
    const t = m.towers.find((x) => x.protocol === 'ncacn_ip_tcp');
    expect(t).toBeDefined();
    expect([OUTSIDE, '0.0.0.0']).toContain(t!.ip);
    opened.add(t!.port!);
    return t!.port!;
  }

  it('ept_map + bind + samr call through the gateway, every segment on the external leg from the external address', async () => {
    const pcap = path.join(lab.dir!, 'external-leg.pcap');
    const cap = haveTcpdump ? await Capture.start(LAB.ifHost, 'tcp', pcap, lab.nsName('client')) : null;
    const port = await mapPort('samr');
    const c = await lab.call('samr', port, 1, { ...inside, src: INSIDE });
    expect(c.bound).toBe(true);
    expect(c.ok).toBe(true);
    if (cap === null) return;
    await cap.stop();
    // tcpdump as the oracle: "IP a.b.c.d.port > e.f.g.h.port: ..." lines; sources toward Samba.
    const r = await exec(lab.nsName('client'), ['tcpdump', '-nn', '-r', pcap]);
    const toSamba = r.stdout.split('\n').map((l) => / IP (\d+\.\d+\.\d+\.\d+)\.\d+ > (\d+\.\d+\.\d+\.\d+)\.(\d+):/.exec(l)).filter((m) => m !== null && m[2] === OUTSIDE);
    expect(new Set(toSamba.map((m) => m![3]))).toEqual(new Set(['135', String(port)]));
    expect(new Set(toSamba.map((m) => m![1]))).toEqual(new Set([LAB.gatewayExt]));
  });

  it.each([1, 5, 6] as const)('srvsvc at auth level %i', async (level) => {
    const port = await mapPort('srvsvc');
    const c = await lab.call('srvsvc', port, level, { ...inside, src: INSIDE });
    expect(c.ok).toBe(true);
  });

  it('drops a direct connection from the same client to another high port of the server, and a second client on the first one\'s pinhole', async () => {
    const port = await mapPort('samr');
    const other = (await lab.samba!.listeningPorts()).find((p) => p !== 135 && !opened.has(p));
    expect(other).toBeDefined();
    expect(await lab.probe(INSIDE, other!, inside)).toBe('timeout');
    expect(await lab.probe(INSIDE2, port, inside)).toBe('timeout');
    // The client that mapped it still gets through.
    expect(await lab.probe(INSIDE, port, inside)).toBe('connected');
  });

  it('refuses an interface outside the list at ept_map', async () => {
    const from = lab.daemonLogs().length;
    const m = await lab.map('wkssvc', { ...inside, src: INSIDE });
    expect(m.towers).toEqual([]);
    const refusal = await lab.waitFor((r) => isRefusal(r) && String(r.interface ?? '').includes(IFACES.wkssvc.uuid), 5_000, from);
    expect(refusal).not.toBeNull();
  });
});

/**
 * The same outbound rule in the other host settings: the peers' offloads off, and a router whose
 * administrator has forwarding on and a drop-by-default firewall. The daemon carries outbound
 * connections itself (capture and injection), so the router's own forward chain is not in their
 * way — and must not carry them a second time untranslated: Samba outside only ever sees the
 * gateway's external address.
 */
describe.skipIf(skip).each([PEERS_OFFLOADS_OFF, ROUTER_WITH_ADMIN_FIREWALL])('outbound rule: internal Impacket to an external Samba ($name)', { timeout: LIVE_TIMEOUT_MS }, (setting) => {
  const lab = new Lab();

  beforeAll(async () => {
    await upOutboundLab(lab, setting);
  }, LIVE_TIMEOUT_MS);

  afterAll(async () => {
    await lab.down();
  }, LIVE_TIMEOUT_MS);

  it('ept_map, bind and a samr call at level 1 and srvsvc at level 6; every segment toward Samba from the external address', async () => {
    const pcap = path.join(lab.dir!, 'external-leg.pcap');
    const cap = haveTcpdump ? await Capture.start(LAB.ifHost, 'tcp', pcap, lab.nsName('client')) : null;
    const ports = new Set<string>(['135']);
    for (const [iface, level] of [['samr', 1], ['srvsvc', 6]] as const) {
      const m = await lab.map(iface, { ...inside, src: INSIDE });
      expect(m.code).toBe(0);
      const t = m.towers.find((x) => x.protocol === 'ncacn_ip_tcp')!;
      ports.add(String(t.port));
      const c = await lab.call(iface, t.port!, level, { ...inside, src: INSIDE });
      expect(c.error).toBeUndefined();
      expect(c.ok).toBe(true);
    }
    if (cap === null) return;
    await cap.stop();
    const r = await exec(lab.nsName('client'), ['tcpdump', '-nn', '-r', pcap]);
    const toSamba = r.stdout.split('\n').map((l) => / IP (\d+\.\d+\.\d+\.\d+)\.\d+ > (\d+\.\d+\.\d+\.\d+)\.(\d+):/.exec(l)).filter((m) => m !== null && m[2] === OUTSIDE);
    expect(new Set(toSamba.map((m) => m![3]))).toEqual(ports);
    expect(new Set(toSamba.map((m) => m![1]))).toEqual(new Set([LAB.gatewayExt]));
  });
});

/**
 * New-mail notifications for an internal Outlook-like client (test/sim) of the project's
 * Exchange store simulator outside: the registration's callback is rewritten to the gateway's
 * external address and a relay port; the simulator's datagram to it reaches the client's real
 * callback; a datagram from another external host to the relay port does not.
 */
describe.skipIf(skip || !haveImpacket)('outbound rule: new-mail notifications from an external Exchange simulator', { timeout: LIVE_TIMEOUT_MS }, () => {
  const lab = new Lab();
  let sim: SimProcess;
  const PASSWORD = 'Outl00k-lab';
  const CALLBACK_PORT = 50123;

  beforeAll(async () => {
    await lab.up({ repoRoot, samba: false, daemon: false });
    await execOk(lab.nsName('server'), [findTool('ip')!, 'route', 'add', 'default', 'via', LAB.gatewayInt]);
    const doc = JSON.parse(lab.rulesText()) as { rules: unknown[] };
    doc.rules = [{ name: 'outlook-out', direction: 'outbound', clients: ['192.0.2.0/24'], servers: [`${OUTSIDE}/32`], interfaces: ['exchange'], notifications: true }];
    writeFileSync(lab.rulesPath, JSON.stringify(doc, null, 2));
    await lab.startDaemon();
    sim = await SimProcess.start({
      listen: OUTSIDE, control: path.join(lab.dir!, 'sim.sock'), epmPort: 135, storePort: 6001, nspiPort: 6004, rfrPort: 6002,
      password: PASSWORD, extra: ['--auto-notify-ms', '4000'], netns: lab.nsName('client'),
    });
  }, LIVE_TIMEOUT_MS);

  afterAll(async () => {
    await sim?.stop();
    await lab.down();
  }, LIVE_TIMEOUT_MS);

  it('the datagram reaches the internal client\'s registered port; one from another external host does not', async () => {
    const client = runClient(
      ['--server', OUTSIDE, '--callback-ip', INSIDE, '--callback-port', String(CALLBACK_PORT), '--auth-level', '1', '--wait', '10'],
      { netns: lab.nsName('server'), timeoutMs: 60_000 },
    );
    await sim.waitFor((e) => e.event === 'register', 30_000);
    const relay = sim.events.filter((e) => e.event === 'register').map((e) => (e as unknown as { callback: { ip: string; port: number } }).callback)[0]!;
    // The server was given the gateway's external address, not the client's private one.
    expect(relay.ip).toBe(LAB.gatewayExt);
    const send = `import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('${LAB.client2}', 0)); s.sendto(b'forged-notification', ('${LAB.gatewayExt}', ${relay.port}))`;
    await execOk(lab.nsName('client'), ['/usr/bin/python3', '-c', send]);
    const r = await client;
    expect(r.result.errors).toEqual([]);
    expect(r.result.registration?.ret).toBe(0);
    expect(r.result.datagram?.received).toBe(true);
    expect(r.result.datagram?.count).toBe(1); // the forged one never arrived
    expect(r.result.datagram?.matches).toBe(true);
  }, LIVE_TIMEOUT_MS);
});

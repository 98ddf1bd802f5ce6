/**
 * The lab itself, without the daemon: the topology (no path from client to server, forwarding
 * off in the gateway), Samba answering as the peers notes say, a clean teardown, and the removal
 * of what a crashed earlier run left behind. If these fail, the gateway tests cannot mean much.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { IFACES, LAB, Lab } from '../../src/lab/lab.js';
import { exec, execOk, findTool, isAlive, listOurNamespaces, removeStaleNamespaces, run } from '../../src/lab/netns.js';
import { LIVE_TIMEOUT_MS, repoRoot, skipLive } from './live.js';

const skip = skipLive('lab.test.ts (namespaces, Samba)');
const tool = (name: string): string => findTool(name) ?? name;

describe.skipIf(skip)('lab without the daemon', { timeout: LIVE_TIMEOUT_MS }, () => {
  const lab = new Lab();

  beforeAll(async () => {
    await lab.up({ repoRoot, daemon: false });
  }, LIVE_TIMEOUT_MS);

  afterAll(async () => {
    await lab.down();
  }, LIVE_TIMEOUT_MS);

  it('gives each namespace its addresses and no route between client and server', async () => {
    const addrs = async (role: 'client' | 'gateway' | 'server'): Promise<string[]> =>
      (await execOk(lab.nsName(role), [tool('ip'), '-4', '-o', 'addr', 'show']))
        .split('\n')
        .map((l) => /inet (\S+)/.exec(l)?.[1])
        .filter((a): a is string => a !== undefined && !a.startsWith('127.'))
        .sort();
    expect(await addrs('client')).toEqual(['198.51.100.10/24', '198.51.100.11/24']);
    expect(await addrs('gateway')).toEqual(['192.0.2.1/24', '198.51.100.1/24']);
    expect(await addrs('server')).toEqual(['192.0.2.10/24']);
    // Only the connected routes: no default route anywhere.
    expect((await execOk(lab.nsName('client'), [tool('ip'), '-4', 'route', 'show'])).trim()).toBe('198.51.100.0/24 dev eth0 proto kernel scope link src 198.51.100.10');
    expect((await execOk(lab.nsName('server'), [tool('ip'), '-4', 'route', 'show'])).trim()).toBe('192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.10');
    expect((await execOk(lab.nsName('gateway'), [tool('sysctl'), '-n', 'net.ipv4.ip_forward'])).trim()).toBe('0');
    expect(await lab.probe(LAB.client, 135, { host: LAB.server })).toBe('unreachable');
  });

  it('names the interfaces as the rules file expects and leaves the peers\' offloads at the kernel defaults', async () => {
    const links = (await execOk(lab.nsName('gateway'), [tool('ip'), '-o', 'link', 'show'])).split('\n').map((l) => l.split(':')[1]?.trim().split('@')[0]);
    expect(links).toContain('gw-ext');
    expect(links).toContain('gw-int');
    for (const role of ['client', 'server'] as const) {
      const k = await execOk(lab.nsName(role), [tool('ethtool'), '-k', 'eth0']);
      // veth's defaults, as a virtio-net VM's: the gateway must cope with partial checksums and TSO.
      expect(k).toMatch(/^tx-checksumming: on/m);
      expect(k).toMatch(/^tcp-segmentation-offload: on/m);
    }
  });

  it('runs Samba: ept_map from the gateway namespace names the server and a dynamic port', async () => {
    const ports = await lab.samba!.listeningPorts();
    expect(ports).toContain(135);
    const m = await lab.map('samr', { ns: 'gateway', host: LAB.server });
    expect(m.code).toBe(0);
    expect(m.status).toBe(0);
    expect(m.towers).toHaveLength(1);
    expect(m.towers[0]).toMatchObject({ protocol: 'ncacn_ip_tcp', ip: LAB.server, interface: IFACES.samr.uuid, version: '1.0' });
    expect(ports).toContain(m.towers[0]!.port);
    expect(m.towers[0]!.port).toBeGreaterThanOrEqual(49152);
    // An interface Samba has no TCP endpoint for: status "not registered", no tower.
    const s = await lab.map('spoolss', { ns: 'gateway', host: LAB.server });
    expect(s).toMatchObject({ code: 0, statusHex: '0x16c9a0d6', towers: [] });
  });

  it('reads Samba\'s whole ept_lookup answer despite its non-zero status', async () => {
    const r = await lab.client(['lookup', '--host', LAB.server], { ns: 'gateway' });
    expect(r.code).toBe(0);
    const entries = r.json.entries as { protocol: string; interface?: string; ip?: string }[];
    expect(entries.length).toBeGreaterThan(20);
    expect(entries.some((e) => e.protocol === 'ncacn_ip_tcp' && e.interface === IFACES.winreg.uuid && e.ip === LAB.server)).toBe(true);
    expect(entries.some((e) => e.protocol === 'ncacn_np')).toBe(true);
  });

  it('reports client failures as one JSON object with an error and exit code 1', async () => {
    const bad = await lab.client(['call', '--host', LAB.server, '--port', '1', '--iface', 'samr'], { ns: 'gateway' });
    expect(bad.code).toBe(1);
    expect(bad.json).toMatchObject({ op: 'call', kind: 'refused' });
    expect(String(bad.json.error)).toMatch(/refused/i);
    const usage = await lab.client(['frobnicate']);
    expect(usage.code).toBe(1);
    expect(usage.json.kind).toBe('usage');
  });

  it('removes stale namespaces of a dead owner only', async () => {
    // pid_max + 1 can never be a live process; our parent is certainly alive.
    const deadPid = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim()) + 1;
    const dead = `rpcgw-${deadPid}-1-c`;
    const living = `rpcgw-${process.ppid}-999-c`;
    await run([tool('ip'), 'netns', 'add', dead]);
    await run([tool('ip'), 'netns', 'add', living]);
    try {
      const removed = await removeStaleNamespaces();
      expect(removed).toContain(dead);
      expect(removed).not.toContain(living);
      expect(listOurNamespaces()).not.toContain(dead);
      expect(listOurNamespaces()).toContain(living);
      // The running lab's own namespaces are never stale.
      expect(listOurNamespaces()).toContain(lab.nsName('gateway'));
    } finally {
      await run([tool('ip'), 'netns', 'del', living]);
      await run([tool('ip'), 'netns', 'del', dead]);
    }
  });

  it('tears down completely, and down() may be called twice', async () => {
    const dir = lab.dir!;
    const sambaPid = lab.samba!.pid!;
    await lab.down();
    await lab.down();
    expect(lab.leftovers()).toEqual([]);
    expect(existsSync(dir)).toBe(false);
    expect(isAlive(sambaPid)).toBe(false);
    expect((await exec(lab.nsName('client'), [tool('true')])).code).not.toBe(0);
  });
});

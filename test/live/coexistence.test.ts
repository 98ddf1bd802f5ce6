/**
 * rpcgw as a citizen of a router: with IP forwarding on in the gateway namespace and `rpcgw run`
 * publishing Samba, the host's own networking keeps working — an administrator's nftables DNAT
 * of ext:8443 to a server port outside the rule, the server's routed UDP to the client side, the
 * gateway's own TCP connections to the server — while the endpoint mapper is reachable only
 * through the daemon. `nft flush ruleset` is repaired, and the ports the daemon owns are reserved
 * from the host's ephemeral ports while it runs and given back on stop.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { LAB, Lab, ruleInterfaces } from '../../src/lab/lab.js';
import { exec, execOk, findTool, killGroup, spawnIn } from '../../src/lab/netns.js';
import { LAB_PYTHON } from '../../src/lab/prereqs.js';
import { LIVE_TIMEOUT_MS, repoRoot, skipLive } from './live.js';

const skip = skipLive('coexistence.test.ts (guard, forwarding, port reservation)');
const tool = (name: string): string => findTool(name) ?? name;

const HTTP_PORT = 8080; // on the server, outside the rule (only 135 and the mapped ports are)
const DNAT_PORT = 8443;
const UDP_PORT = 5353;
const TOKEN = 'owa-through-admin-dnat';
const RESERVED = '/proc/sys/net/ipv4/ip_local_reserved_ports';

const ADMIN_NAT = `table ip adminnat {
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "${LAB.ifExt}" ip daddr ${LAB.gatewayExt} tcp dport ${DNAT_PORT} dnat to ${LAB.server}:${HTTP_PORT}
  }
}
`;

describe.skipIf(skip)('rpcgw run next to the host\'s own networking', { timeout: LIVE_TIMEOUT_MS }, () => {
  const lab = new Lab();
  let web: ChildProcess | null = null;
  let webDir = '';
  let reservedBefore = '';

  const gw = (argv: string[]): Promise<string> => execOk(lab.nsName('gateway'), argv);
  const reserved = async (): Promise<string> => (await gw(['cat', RESERVED])).trim();
  const curl = (ns: 'client' | 'gateway', url: string): Promise<string> =>
    execOk(lab.nsName(ns), [tool('curl'), '-sS', '--max-time', '5', url], { timeoutMs: 10_000 });

  beforeAll(async () => {
    await lab.up({ repoRoot, daemon: false, rules: { interfaces: ruleInterfaces(['samr']), lookup: 'deny', notifications: true } });
    // A router: forwarding on, the peers route each other's networks through the gateway.
    await gw([tool('sysctl'), '-qw', 'net.ipv4.ip_forward=1']);
    await execOk(lab.nsName('client'), [tool('ip'), 'route', 'add', '192.0.2.0/24', 'via', LAB.gatewayExt]);
    await execOk(lab.nsName('server'), [tool('ip'), 'route', 'add', '198.51.100.0/24', 'via', LAB.gatewayInt]);
    webDir = mkdtempSync(path.join(tmpdir(), 'rpcgw-coexist-'));
    writeFileSync(path.join(webDir, 'hello.txt'), TOKEN);
    web = spawnIn(lab.nsName('server'), [LAB_PYTHON, '-m', 'http.server', String(HTTP_PORT), '--bind', LAB.server, '--directory', webDir]);
    // Up before the daemon starts: the listener answers the gateway directly.
    for (let i = 0; ; i++) {
      const r = await exec(lab.nsName('gateway'), [tool('curl'), '-s', '--max-time', '1', `http://${LAB.server}:${HTTP_PORT}/hello.txt`]);
      if (r.stdout === TOKEN) break;
      if (i >= 50) throw new Error(`the web server in the server namespace did not come up: ${r.stderr}`);
      await new Promise((res) => setTimeout(res, 100));
    }
    reservedBefore = await reserved();
    await gw([tool('nft'), '-f', writeTemp('adminnat.nft', ADMIN_NAT)]);
    await lab.startDaemon();
  }, LIVE_TIMEOUT_MS);

  function writeTemp(name: string, text: string): string {
    const p = path.join(webDir, name);
    writeFileSync(p, text);
    return p;
  }

  afterAll(async () => {
    if (web?.pid !== undefined) killGroup(web.pid, 'SIGKILL');
    await lab.down();
    if (webDir !== '') rmSync(webDir, { recursive: true, force: true });
  }, LIVE_TIMEOUT_MS);

  it('publishes the endpoint mapper: ept_map and a call through the gateway work', async () => {
    const m = await lab.map('samr');
    expect(m.error).toBeUndefined();
    expect(m.towers[0]?.ip).toBe(LAB.gatewayExt);
    const c = await lab.call('samr', m.towers[0]!.port!, 1);
    expect(c.ok).toBe(true);
  });

  it("an administrator's nftables DNAT of ext:8443 to a server port outside the rule works from the client", async () => {
    expect(await curl('client', `http://${LAB.gatewayExt}:${DNAT_PORT}/hello.txt`)).toBe(TOKEN);
    // Routed straight to the server's other services as well.
    expect(await curl('client', `http://${LAB.server}:${HTTP_PORT}/hello.txt`)).toBe(TOKEN);
  });

  it("the server's endpoint mapper is not reachable around the daemon", async () => {
    expect(await lab.probe(LAB.client, 135, { host: LAB.server })).toBe('timeout');
  });

  it("the server's UDP to the external side gets through", async () => {
    const listen = `import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('${LAB.client}', ${UDP_PORT})); s.settimeout(10); d, a = s.recvfrom(100); print(d.decode(), a[0])`;
    const got = exec(lab.nsName('client'), [LAB_PYTHON, '-c', listen], { timeoutMs: 15_000 });
    await new Promise((res) => setTimeout(res, 300));
    const send = `import socket, time\ns=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nfor _ in range(10):\n  s.sendto(b'dns-like', ('${LAB.client}', ${UDP_PORT})); time.sleep(0.1)`;
    const sender = exec(lab.nsName('server'), [LAB_PYTHON, '-c', send], { timeoutMs: 15_000 });
    const r = await got;
    await sender;
    expect(r.stdout.trim()).toBe(`dns-like ${LAB.server}`);
  });

  it("the gateway's own TCP connections to the server work", async () => {
    for (let i = 0; i < 10; i++) expect(await curl('gateway', `http://${LAB.server}:${HTTP_PORT}/hello.txt`)).toBe(TOKEN);
  });

  it('a neighbour whose TCP checksums are neither full nor partial is named once, at warning level', async () => {
    // 40 SYNs to 135 whose checksum is wrong both ways (not the sum, not the pseudo-header sum).
    const send = [
      'import socket, struct',
      'def csum(b):',
      '  if len(b) % 2: b += b"\\0"',
      '  s = sum(struct.unpack("!%dH" % (len(b) // 2), b))',
      '  while s >> 16: s = (s & 0xffff) + (s >> 16)',
      '  return s',
      `src, dst = socket.inet_aton('${LAB.client}'), socket.inet_aton('${LAB.gatewayExt}')`,
      'sk = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)',
      'for i in range(40):',
      '  tcp = struct.pack("!HHIIBBHHH", 20000 + i, 135, 1000 + i, 0, 5 << 4, 0x02, 64240, 0, 0)',
      '  pseudo = csum(src + dst + struct.pack("!BBH", 0, 6, len(tcp)))',
      '  full = 0xffff - csum(src + dst + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)',
      '  bad = next(x for x in range(1, 0xffff) if x not in (full, pseudo, 0xffff - pseudo))',
      '  tcp = tcp[:16] + struct.pack("!H", bad) + tcp[18:]',
      '  ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i, 0x4000, 64, 6, 0, src, dst)',
      `  sk.sendto(ip + tcp, ('${LAB.gatewayExt}', 0))`,
    ].join('\n');
    const from = lab.daemonLogs().length;
    await execOk(lab.nsName('client'), [LAB_PYTHON, '-c', send]);
    const rec = await lab.waitFor((r) => r.event === 'setup-warning', 5_000, from);
    expect(rec).toMatchObject({ level: 40, cause: 'bad-checksums', reason: 'bad-checksum' });
    expect(String(rec!.msg)).toMatch(/check offloads/);
    expect(lab.daemonLogs().slice(from).filter((r) => r.event === 'setup-warning')).toHaveLength(1);
    expect((await lab.metrics()).find((x) => x.name === 'rpcgw_drops_total' && x.labels.reason === 'bad-checksum')?.value).toBeGreaterThanOrEqual(40);
  });

  it('nft flush ruleset is repaired within 2 s, with a warning and a metric; the gateway keeps working', async () => {
    const from = lab.daemonLogs().length;
    await gw([tool('nft'), 'flush', 'ruleset']);
    const flushedAt = Date.now();
    let back = false;
    while (!back && Date.now() - flushedAt < 2_000) {
      back = (await exec(lab.nsName('gateway'), [tool('nft'), 'list', 'table', 'inet', 'rpcgw'])).code === 0;
      if (!back) await new Promise((res) => setTimeout(res, 100));
    }
    expect(back).toBe(true);
    const rec = await lab.waitFor((r) => r.event === 'guard-repaired', 5_000, from);
    expect(rec).toMatchObject({ level: 40, found: 'missing', repaired: true });
    expect((await lab.metrics()).find((s) => s.name === 'rpcgw_guard_repairs_total')?.value).toBe(1);
    const m = await lab.map('samr');
    expect(m.towers[0]?.ip).toBe(LAB.gatewayExt);
    expect((await lab.call('samr', m.towers[0]!.port!, 1)).ok).toBe(true);
  });

  it('reserves the owned ranges inside ip_local_port_range while running and restores the list on stop', async () => {
    const now = await reserved();
    // rules/lab.json maps 40000-40999; the relay ports 47000-47999; natPorts 10000-32767 is outside the default range.
    expect(now.split(',')).toEqual(expect.arrayContaining(['40000-40999', '47000-47999']));
    expect(now).not.toContain('10000-32767');
    const rec = lab.daemonLogs().find((r) => r.event === 'ports-reserved');
    expect(rec).toMatchObject({ localPortRange: '32768-60999', before: reservedBefore });
    const exit = await lab.stopDaemon();
    expect(exit.code).toBe(0);
    expect(await reserved()).toBe(reservedBefore);
    // The flush above took the admin's table too; the daemon leaves nothing of its own.
    expect(lab.nftTablesAfterStop).toEqual([]);
  });
});

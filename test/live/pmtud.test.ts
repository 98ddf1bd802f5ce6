/**
 * Path MTU discovery through a mapped connection. A real router (the server namespace, forwarding)
 * sits between the gateway and the server; its route to the server is narrowed to 1280 bytes, the
 * rest of the path is 1500, and every host keeps the kernel's default offloads (the client sends
 * TSO super-segments). The client moves more than 1 MB to the server and back over DCE/RPC through
 * `rpcgw run`: its first full-size segments are too big for the router, which answers the gateway
 * (the source it sees) with ICMP fragmentation-needed. Only if the gateway translates that error
 * back to the client (outer and quoted addresses and ports) does the client lower its path MTU and
 * the transfer finish. tshark on the client's link is the oracle for the translated error.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LAB, addFarHost, createLabNet, destroyLabNet, destroyLabNetSync, exec, execOk, findTool, spawnIn, stopGroup, waitForLine, type LabNet,
} from '../../src/lab/netns.js';
import { parseMetrics } from '../../src/lab/lab.js';
import { haveTshark, tshark } from '../helpers/tshark.js';
import { LIVE_TIMEOUT_MS, repoRoot, skipLive } from './live.js';

const skip = skipLive('pmtud.test.ts (ICMP fragmentation-needed through rpcgw run)') || !haveTshark;
if (!haveTshark) console.warn('[rpcgw live tests] pmtud.test.ts: SKIPPED, needs tshark');

const PEER = path.join(repoRoot, 'bench', 'dist', 'bench', 'live-peer.js');
const SERVER_PORT = 50123;
const NARROW_MTU = 1280;
const METRICS = '127.0.0.1:9135';

describe.skipIf(skip)('Path MTU discovery through a mapped connection', { timeout: LIVE_TIMEOUT_MS }, () => {
  let net: LabNet | null = null;
  let far = '';
  const dir = mkdtempSync(path.join(tmpdir(), 'rpcgw-pmtud-'));
  const children: ChildProcess[] = [];
  let daemon: ChildProcess | null = null;
  let capture: ChildProcess | null = null;
  let transfer: { code: number | null; stdout: string; stderr: string } = { code: null, stdout: '', stderr: '' };
  const onExit = (): void => {
    if (net !== null) destroyLabNetSync(net);
  };

  beforeAll(async () => {
    process.once('exit', onExit);
    // The DCE/RPC bulk peers are the benchmark's; they run compiled.
    spawnSync(process.execPath, [path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(repoRoot, 'bench', 'tsconfig.json')], { encoding: 'utf8' });
    net = await createLabNet();
    const f = await addFarHost(net);
    far = f.ns;
    const ip = findTool('ip')!;
    // The router's way to the server is narrower than every link: only it can say so (ICMP).
    await execOk(net.server, [ip, 'route', 'replace', '203.0.113.0/24', 'dev', 'far0', 'mtu', 'lock', String(NARROW_MTU)]);
    const server = spawnIn(far, [process.execPath, PEER, 'server', '--addr', f.address, '--port', String(SERVER_PORT), '--epm-port', '135']);
    children.push(server);
    await waitForLine(server, (l) => l.includes('"listening"'), 15_000, 'live-peer server');

    const rules = path.join(dir, 'rules.json');
    writeFileSync(rules, JSON.stringify({
      gateway: {
        external: { interface: LAB.ifExt, address: LAB.gatewayExt },
        internal: { interface: LAB.ifInt, address: LAB.gatewayInt },
        adminSocket: path.join(dir, 'admin.sock'),
        metrics: { listen: METRICS },
        log: { level: 'info' },
      },
      rules: [{ name: 'far', server: f.address, interfaces: ['any'], clients: [LAB.clientNet], mappedPorts: '40000-40999', lookup: 'deny' }],
    }));
    daemon = spawnIn(net.gateway, [process.execPath, path.join(repoRoot, 'dist', 'cli', 'main.js'), 'run', '--rules', rules]);
    children.push(daemon);
    await waitForLine(daemon, (l) => l.includes('"event":"ready"'), 30_000, 'rpcgw run');

    capture = spawnIn(net.client, ['tshark', '-i', LAB.ifHost, '-f', 'icmp', '-w', path.join(dir, 'client.pcapng')]);
    children.push(capture);
    await waitForLine(capture, (l) => l.includes('Capturing on'), 15_000, 'tshark', 'stderr');

    const r = await exec(net.client, [process.execPath, PEER, 'client', '--phase', 'bulk', '--seconds', '2', '--epm', LAB.gatewayExt], { timeoutMs: 30_000 });
    transfer = { code: r.code, stdout: r.stdout, stderr: r.stderr };
    await new Promise((res) => setTimeout(res, 500)); // let the capture write the last frames
    await stopGroup(capture, 'SIGINT');
  }, LIVE_TIMEOUT_MS);

  afterAll(async () => {
    for (const c of children.reverse()) await stopGroup(c);
    if (net !== null) await destroyLabNet(net).catch(() => destroyLabNetSync(net!));
    process.off('exit', onExit);
    rmSync(dir, { recursive: true, force: true });
  }, LIVE_TIMEOUT_MS);

  it('moves more than 1 MB each way through the narrowed path', () => {
    expect(transfer.stderr).toBe('');
    expect(transfer.code).toBe(0);
    const j = JSON.parse(transfer.stdout.trim().split('\n').pop()!) as { calls: number; requestBytes: number; responseBytes: number; target: { host: string; port: number } };
    expect(j.target.host).toBe(LAB.gatewayExt);
    expect(j.requestBytes).toBeGreaterThan(1024 * 1024);
    expect(j.responseBytes).toBeGreaterThan(1024 * 1024);
  });

  it('delivers the router\'s fragmentation-needed to the client, translated (tshark)', async () => {
    const j = JSON.parse(transfer.stdout.trim().split('\n').pop()!) as { target: { port: number } };
    const rows = tshark([
      '-r', path.join(dir, 'client.pcapng'), '-o', 'ip.check_checksum:TRUE',
      '-Y', 'icmp.type == 3 && icmp.code == 4',
      '-T', 'fields', '-E', 'occurrence=a', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'icmp.mtu', '-e', 'icmp.checksum.status',
      '-e', 'ip.checksum.status', '-e', 'tcp.srcport', '-e', 'tcp.dstport',
    ]);
    expect(rows.length).toBeGreaterThan(0);
    const [src, dst, mtu, icmpCsum, ipCsum, sport, dport] = rows[0]!.split('\t');
    // Outer: from the gateway's external address to the client. Quoted: the client's own segment
    // to the mapped port, as the client sent it (not the gateway's inside translation).
    expect(src).toBe(`${LAB.gatewayExt},${LAB.client}`);
    expect(dst).toBe(`${LAB.client},${LAB.gatewayExt}`);
    expect(mtu).toBe(String(NARROW_MTU));
    expect(icmpCsum).toBe('1'); // tshark: 1 = Good, 0 = Bad, 2 = unverified
    expect(ipCsum).toBe('1,1');
    expect(dport).toBe(String(j.target.port));
    expect(Number(sport)).toBeGreaterThan(0);
    // The client's kernel believed it: its route to the gateway now carries the path MTU.
    const route = await execOk(net!.client, [findTool('ip')!, 'route', 'get', LAB.gatewayExt]);
    expect(route).toMatch(new RegExp(`mtu ${NARROW_MTU}`));
  });

  it('counts the translated error, the completed partial checksums and the re-cut TSO frames in its metrics', async () => {
    const js = `fetch('http://${METRICS}/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))`;
    const samples = parseMetrics(await execOk(net!.gateway, [process.execPath, '-e', js]));
    const value = (name: string): number => samples.find((x) => x.name === name)?.value ?? -1;
    expect(value('rpcgw_icmp_translated_total')).toBeGreaterThanOrEqual(1);
    // The peers offload: their checksums arrive partial and their TSO frames larger than the path.
    expect(value('rpcgw_checksums_completed_total')).toBeGreaterThan(0);
    expect(value('rpcgw_packets_segmented_total')).toBeGreaterThan(0);
    expect(value('rpcgw_segments_out_total')).toBeGreaterThan(value('rpcgw_packets_segmented_total'));
    expect(samples.find((x) => x.name === 'rpcgw_drops_total' && x.labels.reason === 'bad-checksum')?.value).toBe(0);
  });
});

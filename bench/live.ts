/**
 * Measurement 4, live: our DCE/RPC bulk peers (live-peer.ts) in the lab's namespaces
 * (src/lab/netns.ts), through three gateways one after the other on the same namespaces:
 *   rpcgw       `rpcgw run` (ip_forward=0), the client finds the server through ept_map on
 *               198.51.100.1:135 and connects to the mapped port the daemon rewrote;
 *   rpcgw-kernel the same with the rule's mappedInspection "kernel": the daemon answers ept_map
 *               and installs the client's pinhole in nftables; the kernel forwards the rest;
 *   forwarding  ip_forward=1 and routes, no NAT: the client connects to 192.0.2.10:P;
 *   nftables    ip_forward=1, DNAT 198.51.100.1:40000 -> 192.0.2.10:P, SNAT to 192.0.2.1
 *               (the same packet shape as rpcgw's).
 * Offloads (GRO, LRO, TSO, GSO, tx/rx checksum) are off on all four veth ends: the client's and
 * server's too, because a peer's TSO/checksum offload hands the gateway super-frames with
 * partial checksums (measured in the lab with the peers' offloads at kernel defaults). With
 * `offloads: 'default'` every veth end stays at the kernel's defaults instead (GRO/TSO on).
 * Phases: bulk, small, latency, and setup (connection set-ups per second: [ept_map ->]
 * connect -> bind -> call -> close).
 * Per mode and phase: the client's own figures (Gbit/s of response stub bytes, calls/s,
 * round-trip p50/p99), packets the gateway received on both interfaces (ip -s link), and the
 * daemon's CPU (utime+stime from /proc/<pid>/stat) over the phase.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  LAB, createLabNet, destroyLabNet, destroyLabNetSync, exec, execOk, findTool, spawnIn, stopGroup, waitForLine, type LabNet,
} from '../src/lab/netns.js';
import { parseMetrics } from '../src/lab/lab.js';
import { cliMain, repoRoot } from './paths.js';
import { shellQuote } from './peers.js';

export const SERVER_PORT = 5000;
export const NAT_PORT = 40000;
export type LiveModeName = 'rpcgw' | 'rpcgw-kernel' | 'forwarding' | 'nftables';
export const LIVE_MODES: readonly LiveModeName[] = ['rpcgw', 'forwarding', 'nftables', 'rpcgw-kernel'];
export type LiveOffloads = 'off' | 'default';
const PHASES = ['bulk', 'small', 'latency', 'setups'] as const;

export interface LivePhase {
  /** The client's result line (live-peer.ts PhaseResult). */
  seconds: number;
  calls: number;
  responseBytes: number;
  gbitPerSecond: number;
  callsPerSecond: number;
  p50Us: number | null;
  p99Us: number | null;
  connections: number;
  window: number;
  /** Where the client connected (rpcgw: the address and mapped port of the rewritten tower). */
  target: { host: string; port: number };
  /** Packets the gateway received on gw-ext + gw-int during the phase, per second of the phase. */
  gatewayPackets: number;
  packetsPerSecond: number;
  /** Idle share of all the machine's CPUs during the phase (/proc/stat), in %: near 0 means the peers and gateway ran out of cores. */
  machineIdlePercent: number | null;
  /** TCP segments the client and server retransmitted during the phase (nstat TcpRetransSegs), null without nstat. */
  retransmits: number | null;
  /** Daemon CPU seconds (user+system) over the phase, and as % of one core; null without a daemon. */
  daemonCpuSeconds: number | null;
  daemonCpuPercent: number | null;
  /** Daemon CPU µs per packet the gateway received (its cost per packet; 1e6 / this = packets/s on one whole core). */
  daemonCpuUsPerPacket: number | null;
  command: string;
}

export interface LiveModeResult {
  mode: LiveModeName;
  /** null when the mode ran; otherwise why not. */
  error: string | null;
  setup: string[];
  /** rpcgw only: the daemon's drop/error/refusal counters (Prometheus samples, non-zero) after the phases. */
  daemonCounters: Record<string, number> | null;
  bulk: LivePhase | null;
  small: LivePhase | null;
  latency: LivePhase | null;
  /** Connection set-ups per second (callsPerSecond), their time p50/p99. */
  setups: LivePhase | null;
}

export interface LiveResult {
  status: 'ran' | 'skipped' | 'failed';
  reason: string;
  secondsPerPhase: number;
  /** Offloads on every veth end: all off, or the kernel's defaults. */
  offloads: LiveOffloads;
  command: string;
  versions: { kernel: string; nft: string | null; ethtool: string | null; node: string };
  /** The gateway, both peers and anything else on the machine share these CPUs. */
  machine: { cpus: number; loadAverageStart: number[]; loadAverageEnd: number[] };
  notes: string[];
  modes: LiveModeResult[];
  ratios: {
    bulkVsNftables: number | null;
    bulkVsForwarding: number | null;
    smallPpsVsNftables: number | null;
    smallPpsVsForwarding: number | null;
    kernelBulkVsNftables: number | null;
    kernelSmallPpsVsNftables: number | null;
  };
}

const PEER = path.join(repoRoot, 'bench', 'dist', 'bench', 'live-peer.js');

function log(msg: string): void {
  process.stderr.write(`[bench live ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** Why the live bench cannot run here, or null. */
export function liveSkipReason(): string | null {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'not root (network namespaces need CAP_NET_ADMIN): run as root';
  for (const t of ['ip', 'ethtool', 'nft', 'sysctl']) if (findTool(t) === null) return `${t} is not installed`;
  return null;
}

function toolVersion(argv: string[]): string | null {
  const p = findTool(argv[0]!);
  if (p === null) return null;
  const r = spawnSync(p, argv.slice(1), { encoding: 'utf8', timeout: 5000 });
  return r.status === 0 ? (r.stdout.split('\n')[0]?.trim() ?? null) : null;
}

const OFFLOADS = ['rx', 'off', 'tx', 'off', 'sg', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off', 'lro', 'off'];

async function offloadsOff(net: LabNet): Promise<void> {
  const ethtool = findTool('ethtool')!;
  const ends: [string, string][] = [[net.client, LAB.ifHost], [net.server, LAB.ifHost], [net.gateway, LAB.ifExt], [net.gateway, LAB.ifInt]];
  for (const [ns, dev] of ends) {
    // ethtool exits non-zero when one feature is fixed (lro on veth); check the result instead.
    await exec(ns, [ethtool, '-K', dev, ...OFFLOADS]);
    const k = await execOk(ns, [ethtool, '-k', dev]);
    for (const f of ['generic-receive-offload', 'tcp-segmentation-offload', 'generic-segmentation-offload', 'tx-checksumming', 'rx-checksumming']) {
      if (new RegExp(`^${f}: on`, 'm').test(k)) throw new Error(`${f} is still on on ${dev} in ${ns}`);
    }
  }
}

/** TcpRetransSegs of the client and server namespaces together (nstat -s: history files untouched). */
async function retransmits(net: LabNet): Promise<number | null> {
  const nstat = findTool('nstat');
  if (nstat === null) return null;
  let n = 0;
  for (const ns of [net.client, net.server]) {
    const r = await exec(ns, [nstat, '-asz', 'TcpRetransSegs']);
    const m = /^TcpRetransSegs\s+(\d+)/m.exec(r.stdout);
    if (r.code !== 0 || !m) return null;
    n += Number(m[1]);
  }
  return n;
}

async function rxPackets(ns: string): Promise<number> {
  const j = JSON.parse(await execOk(ns, [findTool('ip')!, '-s', '-j', 'link', 'show'])) as { ifname: string; stats64?: { rx?: { packets?: number } } }[];
  return j.filter((l) => l.ifname === LAB.ifExt || l.ifname === LAB.ifInt).reduce((a, l) => a + (l.stats64?.rx?.packets ?? 0), 0);
}

/** [idle, total] jiffies of all CPUs. */
function machineTicks(): [number, number] | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    return [(f[3] ?? 0) + (f[4] ?? 0), f.reduce((a, b) => a + b, 0)];
  } catch {
    return null;
  }
}

function cpuSeconds(pid: number): number | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the state field; clock ticks of 100 Hz.
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}

function rulesFor(dir: string, kernel: boolean): string {
  return JSON.stringify({
    gateway: {
      external: { interface: LAB.ifExt, address: LAB.gatewayExt },
      internal: { interface: LAB.ifInt, address: LAB.gatewayInt },
      adminSocket: path.join(dir, 'admin.sock'),
      metrics: { listen: METRICS },
      log: { level: 'info' },
    },
    rules: [{
      name: 'bench', server: LAB.server, interfaces: ['any'], clients: [LAB.clientNet], mappedPorts: '40000-40999', lookup: 'published',
      ...(kernel ? { mappedInspection: 'kernel' } : {}),
    }],
  }, null, 2) + '\n';
}

const METRICS = '127.0.0.1:9135';

/** Non-zero drop/error/refusal samples from the daemon's metrics listener (in the gateway namespace). */
async function daemonCounters(net: LabNet): Promise<Record<string, number> | null> {
  const js = `fetch('http://${METRICS}/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))`;
  const r = await exec(net.gateway, [process.execPath, '-e', js], { timeoutMs: 10_000 });
  if (r.code !== 0) return null;
  const out: Record<string, number> = {};
  for (const m of parseMetrics(r.stdout)) {
    if (m.value === 0 || !/drop|error|refus|fail|truncat|undecodable|resets|pinhole_install/i.test(m.name)) continue;
    const labels = Object.entries(m.labels).map(([k, v]) => `${k}="${v}"`).join(',');
    out[labels === '' ? m.name : `${m.name}{${labels}}`] = m.value;
  }
  return out;
}

interface PhasePlan { seconds: number; offloads: LiveOffloads }

type Phases = Pick<LiveModeResult, (typeof PHASES)[number]>;

async function runPhases(net: LabNet, mode: LiveModeName, clientArgs: string[], daemonPid: number | null, plan: PhasePlan): Promise<Phases> {
  const out: Phases = { bulk: null, small: null, latency: null, setups: null };
  for (const phase of PHASES) {
    const argv = [process.execPath, PEER, 'client', '--phase', phase, '--seconds', String(plan.seconds), ...clientArgs];
    const p0 = await rxPackets(net.gateway);
    const t0 = await retransmits(net);
    const m0 = machineTicks();
    const c0 = daemonPid === null ? null : cpuSeconds(daemonPid);
    const r = await exec(net.client, argv, { timeoutMs: (plan.seconds + 30) * 1000 });
    const m1 = machineTicks();
    const p1 = await rxPackets(net.gateway);
    const t1 = await retransmits(net);
    const c1 = daemonPid === null ? null : cpuSeconds(daemonPid);
    if (r.code !== 0) throw new Error(`${mode} ${phase}: client failed (${r.timedOut ? 'timed out' : `exit ${r.code}`}): ${r.stderr.trim().slice(-400)}`);
    const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as Omit<LivePhase, 'gatewayPackets' | 'packetsPerSecond' | 'daemonCpuSeconds' | 'daemonCpuPercent' | 'command'>;
    const cpu = c0 === null || c1 === null ? null : c1 - c0;
    out[phase] = {
      seconds: j.seconds, calls: j.calls, responseBytes: j.responseBytes, gbitPerSecond: j.gbitPerSecond, callsPerSecond: j.callsPerSecond,
      p50Us: j.p50Us, p99Us: j.p99Us, connections: j.connections, window: j.window, target: j.target,
      gatewayPackets: p1 - p0, packetsPerSecond: (p1 - p0) / j.seconds, retransmits: t0 === null || t1 === null ? null : t1 - t0,
      machineIdlePercent: m0 === null || m1 === null || m1[1] === m0[1] ? null : (100 * (m1[0] - m0[0])) / (m1[1] - m0[1]), daemonCpuSeconds: cpu, daemonCpuPercent: cpu === null ? null : (100 * cpu) / j.seconds,
      daemonCpuUsPerPacket: cpu === null || p1 === p0 ? null : (1e6 * cpu) / (p1 - p0),
      command: shellQuote(['ip', 'netns', 'exec', '<client>', 'node', 'bench/dist/bench/live-peer.js', ...argv.slice(2)]),
    };
    const o = out[phase]!;
    log(`  ${mode} ${phase}: ${o.gbitPerSecond.toFixed(2)} Gbit/s, ${Math.round(o.callsPerSecond)} calls/s, ${Math.round(o.packetsPerSecond)} gateway packets/s` +
      `${o.p50Us !== null ? `, p50 ${o.p50Us.toFixed(0)} µs p99 ${o.p99Us!.toFixed(0)} µs` : ''}${o.daemonCpuPercent !== null ? `, daemon CPU ${o.daemonCpuPercent.toFixed(0)}%` : ''}, ${o.retransmits ?? '?'} retransmits, machine idle ${o.machineIdlePercent?.toFixed(0) ?? '?'}%`);
  }
  return out;
}

async function runMode(net: LabNet, mode: LiveModeName, dir: string, plan: PhasePlan): Promise<LiveModeResult> {
  const res: LiveModeResult = { mode, error: null, setup: [], daemonCounters: null, bulk: null, small: null, latency: null, setups: null };
  const offloads = async (): Promise<void> => {
    if (plan.offloads === 'off') await offloadsOff(net);
  };
  const sysctl = findTool('sysctl')!;
  const ip = findTool('ip')!;
  const nft = findTool('nft')!;
  let daemon: ChildProcess | null = null;
  const gw = async (argv: string[], shown: string[], input?: string): Promise<void> => {
    res.setup.push(shellQuote(['ip', 'netns', 'exec', '<gateway>', ...shown]));
    await execOk(net.gateway, argv, input === undefined ? {} : { input });
  };
  try {
    if (mode === 'rpcgw' || mode === 'rpcgw-kernel') {
      const rules = path.join(dir, 'rules.json');
      writeFileSync(rules, rulesFor(dir, mode === 'rpcgw-kernel'));
      res.setup.push(shellQuote(['ip', 'netns', 'exec', '<gateway>', 'rpcgw', 'run', '--rules', 'R.json']), `R.json: ${JSON.stringify(JSON.parse(readFileSync(rules, 'utf8')))}`);
      // RPCGW_DAEMON_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p") profiles the daemon under load.
      const nodeArgs = (process.env.RPCGW_DAEMON_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
      daemon = spawnIn(net.gateway, [process.execPath, ...nodeArgs, cliMain, 'run', '--rules', rules]);
      await waitForLine(daemon, (l) => l.includes('"event":"ready"'), 30_000, 'rpcgw run');
      // Offloads the daemon left on (it turns its own off; check all four ends anyway).
      await offloads();
      Object.assign(res, await runPhases(net, mode, ['--epm', LAB.gatewayExt], daemon.pid ?? null, plan));
      res.daemonCounters = await daemonCounters(net);
    } else {
      await gw([sysctl, '-q', '-w', 'net.ipv4.ip_forward=1'], ['sysctl', '-w', 'net.ipv4.ip_forward=1']);
      await offloads();
      if (mode === 'forwarding') {
        res.setup.push(`ip -n <client> route add ${LAB.serverNet} via ${LAB.gatewayExt}`, `ip -n <server> route add ${LAB.clientNet} via ${LAB.gatewayInt}`);
        await execOk(net.client, [ip, 'route', 'replace', LAB.serverNet, 'via', LAB.gatewayExt]);
        await execOk(net.server, [ip, 'route', 'replace', LAB.clientNet, 'via', LAB.gatewayInt]);
        Object.assign(res, await runPhases(net, mode, ['--host', LAB.server, '--port', String(SERVER_PORT)], null, plan));
        await execOk(net.client, [ip, 'route', 'del', LAB.serverNet]);
        await execOk(net.server, [ip, 'route', 'del', LAB.clientNet]);
      } else {
        const ruleset = [
          'table ip rpcgw_bench_nat {',
          '  chain pre {',
          '    type nat hook prerouting priority dstnat; policy accept;',
          `    ip daddr ${LAB.gatewayExt} tcp dport ${NAT_PORT} dnat to ${LAB.server}:${SERVER_PORT}`,
          '  }',
          '  chain post {',
          '    type nat hook postrouting priority srcnat; policy accept;',
          `    ip daddr ${LAB.server} tcp dport ${SERVER_PORT} snat to ${LAB.gatewayInt}`,
          '  }',
          '}',
        ].join('\n') + '\n';
        await gw([nft, '-f', '-'], ['nft', '-f', '-', `<<< '${ruleset.replace(/\n/g, ' ')}'`], ruleset);
        Object.assign(res, await runPhases(net, mode, ['--host', LAB.gatewayExt, '--port', String(NAT_PORT)], null, plan));
        await execOk(net.gateway, [nft, 'delete', 'table', 'ip', 'rpcgw_bench_nat']);
      }
      await execOk(net.gateway, [sysctl, '-q', '-w', 'net.ipv4.ip_forward=0']);
    }
  } catch (e) {
    res.error = e instanceof Error ? e.message : String(e);
    log(`  ${mode}: ${res.error}`);
  } finally {
    await stopGroup(daemon);
  }
  return res;
}

const div = (a: number | null | undefined, b: number | null | undefined): number | null => (a == null || b == null || b <= 0 ? null : a / b);

/** A result with no mode run yet (status 'skipped' with `reason` until runLive fills it). */
export function emptyLiveResult(seconds: number, reason: string, offloads: LiveOffloads = 'off'): LiveResult {
  return {
    status: 'skipped', reason, secondsPerPhase: seconds, offloads,
    command: `node bench/dist/bench/main.js live --seconds ${seconds}${offloads === 'off' ? '' : ` --offloads ${offloads}`}`,
    versions: { kernel: os.release(), nft: toolVersion(['nft', '--version']), ethtool: toolVersion(['ethtool', '--version']), node: process.version },
    machine: { cpus: os.cpus().length, loadAverageStart: os.loadavg(), loadAverageEnd: os.loadavg() },
    notes: [
      `${os.cpus().length} CPUs shared by the client, server and gateway (and the daemon): the peers compete with the gateway for cores.`,
      'Gbit/s counts response stub bytes (64 KiB responses to 64 KiB requests, fragments of 4280 bytes); packets/s counts packets received on both gateway interfaces.',
      'rpcgw mode includes the ept_map lookup through 135 before each phase; forwarding and nftables connect straight to the endpoint.',
      'setup: connection set-ups per second by 4 loops, each ept_map (rpcgw modes) -> connect -> bind -> one small call -> close; forwarding and nftables (a pre-installed DNAT) skip the ept_map.',
      'Kernel forwarding and NAT run in softirq on the CPU of the sending peer; rpcgw is a third busy process: with machine idle near 0 the comparison is CPU-shared, see "CPU per packet".',
    ],
    modes: [],
    ratios: { bulkVsNftables: null, bulkVsForwarding: null, smallPpsVsNftables: null, smallPpsVsForwarding: null, kernelBulkVsNftables: null, kernelSmallPpsVsNftables: null },
  };
}

/** The whole live measurement; never throws (a failure is status 'failed' with the reason). */
export async function runLive(opts: { seconds: number; modes?: readonly LiveModeName[]; offloads?: LiveOffloads }): Promise<LiveResult> {
  const offloads = opts.offloads ?? 'off';
  const result = emptyLiveResult(opts.seconds, '', offloads);
  const skip = liveSkipReason();
  if (skip !== null) {
    result.reason = skip;
    return result;
  }
  let net: LabNet | null = null;
  let server: ChildProcess | null = null;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rpcgw-live-'));
  // An error, 'exit' or Ctrl-C must not leave namespaces or peers behind: destroyLabNetSync kills
  // whatever runs inside them (daemon, peers) and deletes them.
  const onExit = (): void => {
    if (net !== null) destroyLabNetSync(net);
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    onExit();
    process.kill(process.pid, sig);
  };
  process.once('exit', onExit);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, onSignal);
  try {
    log('creating the namespaces');
    net = await createLabNet();
    if (offloads === 'off') await offloadsOff(net);
    server = spawnIn(net.server, [process.execPath, PEER, 'server', '--addr', LAB.server, '--port', String(SERVER_PORT), '--epm-port', '135']);
    await waitForLine(server, (l) => l.includes('"listening"'), 15_000, 'live-peer server');
    for (const m of opts.modes ?? LIVE_MODES) {
      log(`mode ${m}`);
      result.modes.push(await runMode(net, m, dir, { seconds: opts.seconds, offloads }));
    }
    const by = (m: LiveModeName): LiveModeResult | undefined => result.modes.find((x) => x.mode === m && x.error === null);
    const r = by('rpcgw');
    const k = by('rpcgw-kernel');
    result.ratios = {
      kernelBulkVsNftables: div(k?.bulk?.gbitPerSecond, by('nftables')?.bulk?.gbitPerSecond),
      kernelSmallPpsVsNftables: div(k?.small?.packetsPerSecond, by('nftables')?.small?.packetsPerSecond),
      bulkVsNftables: div(r?.bulk?.gbitPerSecond, by('nftables')?.bulk?.gbitPerSecond),
      bulkVsForwarding: div(r?.bulk?.gbitPerSecond, by('forwarding')?.bulk?.gbitPerSecond),
      smallPpsVsNftables: div(r?.small?.packetsPerSecond, by('nftables')?.small?.packetsPerSecond),
      smallPpsVsForwarding: div(r?.small?.packetsPerSecond, by('forwarding')?.small?.packetsPerSecond),
    };
    const failed = result.modes.filter((m) => m.error !== null);
    result.status = failed.length === 0 ? 'ran' : 'failed';
    result.reason = failed.map((m) => `${m.mode}: ${m.error}`).join('; ');
  } catch (e) {
    result.status = 'failed';
    result.reason = e instanceof Error ? e.message : String(e);
  } finally {
    await stopGroup(server);
    if (net !== null) {
      try {
        await destroyLabNet(net);
      } catch (e) {
        log(`cleanup: ${(e as Error).message}`);
        destroyLabNetSync(net);
      }
    }
    process.off('exit', onExit);
    result.machine.loadAverageEnd = os.loadavg();
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(sig, onSignal);
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

/** Markdown section for the report. */
export function liveMarkdown(r: LiveResult): string {
  const L: string[] = [`## 4. Live (network namespaces, offloads ${r.offloads === 'off' ? 'off' : 'at kernel defaults on every veth'})`, ''];
  if (r.status === 'skipped') return [...L, `Skipped: ${r.reason}`, ''].join('\n');
  if (r.status === 'failed') L.push(`**Failed in part:** ${r.reason}`, '');
  const f = (x: number | null | undefined, d = 2): string => (x == null || !Number.isFinite(x) ? 'n/a' : x.toFixed(d));
  const k = (x: number | null | undefined): string => (x == null ? 'n/a' : `${Math.round(x / 1000)}k`);
  const la = (x: number[]): string => x.map((v) => v.toFixed(2)).join(' ');
  L.push(`\`${r.command}\`, ${r.secondsPerPhase} s per phase. Linux ${r.versions.kernel}, ${r.versions.nft ?? 'nft n/a'}, Node ${r.versions.node}; ` +
    `${r.machine.cpus} CPUs, load average ${la(r.machine.loadAverageStart)} at start, ${la(r.machine.loadAverageEnd)} at end.`, '');
  L.push('| gateway | bulk Gbit/s | bulk gw pkt/s | small calls/s | small gw pkt/s | RTT p50 µs | RTT p99 µs | set-ups/s (p50 / p99 µs) | daemon CPU bulk / small | TCP retransmits bulk / small | machine idle bulk / small |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const counters: string[] = [];
  for (const m of r.modes) {
    if (m.error !== null) {
      L.push(`| ${m.mode} | error: ${m.error.replace(/\|/g, '/')} | | | | | | | | | |`);
      continue;
    }
    const cpu = m.bulk?.daemonCpuPercent == null ? '–' : `${f(m.bulk.daemonCpuPercent, 0)}% / ${f(m.small?.daemonCpuPercent, 0)}%`;
    if (m.mode === 'rpcgw' && m.bulk?.daemonCpuUsPerPacket != null && m.small?.daemonCpuUsPerPacket != null) {
      const us = (p: LivePhase): string => `${f(p.daemonCpuUsPerPacket)} µs (≈ ${k(1e6 / p.daemonCpuUsPerPacket!)} packets/s if it had a core to itself)`;
      counters.push(`rpcgw CPU per packet: bulk ${us(m.bulk)}, small ${us(m.small)}`);
    }
    if (m.daemonCounters !== null && Object.keys(m.daemonCounters).length > 0) counters.push(`Daemon drop/error counters after the phases: ${Object.entries(m.daemonCounters).map(([n, v]) => `${n} ${v}`).join(', ')}`);
    const setup = m.setups === null ? 'n/a' : `${f(m.setups.callsPerSecond, 0)} (${f(m.setups.p50Us, 0)} / ${f(m.setups.p99Us, 0)})`;
    L.push(`| ${m.mode} | ${f(m.bulk?.gbitPerSecond)} | ${k(m.bulk?.packetsPerSecond)} | ${k(m.small?.callsPerSecond)} | ${k(m.small?.packetsPerSecond)} | ${f(m.latency?.p50Us, 0)} | ${f(m.latency?.p99Us, 0)} | ${setup} | ${cpu} | ${m.bulk?.retransmits ?? 'n/a'} / ${m.small?.retransmits ?? 'n/a'} | ${f(m.bulk?.machineIdlePercent, 0)}% / ${f(m.small?.machineIdlePercent, 0)}% |`);
  }
  const x = r.ratios;
  L.push('', `rpcgw / nftables NAT: bulk ${f(x.bulkVsNftables)}x, small packets/s ${f(x.smallPpsVsNftables)}x; rpcgw / forwarding: bulk ${f(x.bulkVsForwarding)}x, small packets/s ${f(x.smallPpsVsForwarding)}x; ` +
    `rpcgw kernel mode / nftables NAT: bulk ${f(x.kernelBulkVsNftables)}x, small packets/s ${f(x.kernelSmallPpsVsNftables)}x.`, '');
  for (const n of r.notes) L.push(`- ${n}`);
  for (const c of counters) L.push(`- ${c}.`);
  L.push('');
  return L.join('\n');
}

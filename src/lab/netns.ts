/**
 * Network namespaces for the lab: a client, a gateway and a server joined by two veth links,
 * and the child-process helpers everything else in the lab uses.
 *
 *   client ns                 gateway ns                         server ns
 *   eth0 198.51.100.10/24 ─── gw-ext 198.51.100.1/24
 *        198.51.100.11/24     gw-int 192.0.2.1/24 ────────────── eth0 192.0.2.10/24
 *
 * No namespace has a default route and the gateway does not forward (ip_forward=0), so the
 * client can reach the server only through the daemon. IPv6 is off in all three: the lab is
 * IPv4, and router solicitations on the captured links would only add noise to the drop counts.
 * The client's and server's veth ends keep the kernel's default offloads (tx checksum offload and
 * TSO on), like every VM neighbour on virtio-net: the gateway sees partial checksums and segments
 * larger than the MTU from them. `peerOffloads: 'off'` makes them behave like a plain wire instead;
 * `gatewayGro: true` turns GRO on on the gateway's own ends (veth has it off by default).
 *
 * Every command is an argv array run without a shell; anything that comes from outside (paths,
 * user input) is an argument, never part of a command string.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';

/** Our namespaces are `rpcgw-<pid>-<seq>-<role>`; the pid says whether the owner still lives. */
export const NS_PREFIX = 'rpcgw-';
const NS_NAME_RE = /^rpcgw-(\d+)-(\d+)-([cgsf])$/;

/** The only addresses the lab ever uses (RFC 5737 documentation ranges). */
export const LAB = {
  clientNet: '198.51.100.0/24',
  client: '198.51.100.10',
  client2: '198.51.100.11',
  gatewayExt: '198.51.100.1',
  gatewayInt: '192.0.2.1',
  serverNet: '192.0.2.0/24',
  server: '192.0.2.10',
  prefixLen: 24,
  ifExt: 'gw-ext',
  ifInt: 'gw-int',
  ifHost: 'eth0',
} as const;

export class LabError extends Error {
  override name = 'LabError';
}

// ---- child processes ----------------------------------------------------------------------

export interface ExecResult {
  argv: readonly string[];
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  timeoutMs?: number;
  /** Written to stdin, which is then closed. */
  input?: string;
  /** Output beyond this many bytes per stream is discarded (the result says so). */
  maxBytes?: number;
  env?: NodeJS.ProcessEnv;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;

/** Directories searched for system tools besides PATH (sudo and cron often drop /usr/sbin). */
const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Absolute path of a tool, or null: PATH first, then the usual system directories. */
export function findTool(name: string, extraDirs: readonly string[] = []): string | null {
  if (name.includes('/')) return existsSync(name) ? name : null;
  const dirs = [...(process.env.PATH ?? '').split(':').filter((d) => d !== ''), ...SYSTEM_DIRS, ...extraDirs];
  for (const d of dirs) {
    const p = path.join(d, name);
    if (existsSync(p)) return p;
  }
  return null;
}

function tool(name: string): string {
  const p = findTool(name);
  if (p === null) throw new LabError(`${name} is not installed (looked in PATH and ${SYSTEM_DIRS.join(', ')})`);
  return p;
}

/** Runs argv (no shell) and collects its output; rejects only when it cannot be started. */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return Promise.reject(new LabError('run: empty argv'));
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let timedOut = false;
    child.stdout.on('data', (b: Buffer) => {
      if (outLen < maxBytes) out.push(b);
      outLen += b.length;
    });
    child.stderr.on('data', (b: Buffer) => {
      if (errLen < maxBytes) err.push(b);
      errLen += b.length;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new LabError(`cannot run ${cmd}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        argv,
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      });
    });
    // A child that exits without reading its stdin must not crash us with EPIPE.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/** One line saying what a failed command was and how it failed. */
export function describeFailure(r: ExecResult): string {
  const how = r.timedOut ? 'timed out' : r.code !== null ? `exit ${r.code}` : `signal ${r.signal}`;
  const why = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-3).join(' | ');
  return `\`${r.argv.join(' ')}\` failed (${how})${why ? `: ${why}` : ''}`;
}

/** run() that throws a LabError unless the command exits 0; returns stdout. */
export async function runOk(argv: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0) throw new LabError(describeFailure(r));
  return r.stdout;
}

/** argv run inside namespace `ns` (`ip netns exec`, which execs argv: same pid, no shell). */
export function nsArgv(ns: string, argv: readonly string[]): string[] {
  return [tool('ip'), 'netns', 'exec', ns, ...argv];
}

export function exec(ns: string, argv: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
  return run(nsArgv(ns, argv), opts);
}

export function execOk(ns: string, argv: readonly string[], opts: RunOptions = {}): Promise<string> {
  return runOk(nsArgv(ns, argv), opts);
}

/**
 * Starts a long-running argv in `ns`, in its own process group (so a Ctrl-C on the terminal
 * reaches only us and the lab tears down in order; `killGroup` signals it and its children).
 */
export function spawnIn(ns: string, argv: readonly string[], env?: NodeJS.ProcessEnv): ChildProcess {
  const [cmd, ...args] = nsArgv(ns, argv);
  return spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: env ?? process.env });
}

/**
 * Resolves when `child` prints a line for which `pred` holds on `stream` (stdout by default;
 * tshark says "Capturing on" on stderr). Rejects when `timeoutMs` pass or the child exits first,
 * with the end of what it said on stderr. The stream keeps draining afterwards, so a chatty child
 * never blocks on a full pipe.
 */
export function waitForLine(
  child: ChildProcess,
  pred: (line: string) => boolean,
  timeoutMs: number,
  what: string,
  stream: 'stdout' | 'stderr' = 'stdout',
): Promise<void> {
  return new Promise((resolve, reject) => {
    const watched = stream === 'stdout' ? child.stdout : child.stderr;
    let buf = '';
    let err = '';
    const tail = (): string => (err ? `: ${err.trim().slice(-400)}` : '');
    const t = setTimeout(() => done(new Error(`${what}: not ready within ${timeoutMs} ms${tail()}`)), timeoutMs);
    const onData = (b: Buffer): void => {
      buf += b.toString('utf8');
      for (const l of buf.split('\n')) if (pred(l)) return done(null);
      if (buf.length > 1 << 20) buf = buf.slice(-4096);
    };
    const onErr = (b: Buffer): void => {
      if (err.length < 8192) err += b.toString('utf8');
    };
    const onExit = (): void => done(new Error(`${what} exited${tail()}`));
    const done = (e: Error | null): void => {
      clearTimeout(t);
      watched?.off('data', onData);
      child.stderr?.off('data', onErr);
      child.off('exit', onExit);
      child.stdout?.resume();
      child.stderr?.resume();
      if (e) reject(e);
      else resolve();
    };
    watched?.on('data', onData);
    child.stderr?.on('data', onErr);
    child.once('exit', onExit);
  });
}

/** Stops a process group started by spawnIn: `signal`, then SIGKILL after `graceMs`; resolves once it exited. */
export async function stopGroup(child: ChildProcess | null, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<void> {
  if (child?.pid === undefined) return;
  const pid = child.pid;
  if (!isAlive(pid)) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  killGroup(pid, signal);
  const t = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
  await gone;
  clearTimeout(t);
}

/** Signals a process group started by spawnIn; false when it is already gone. */
export function killGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

// ---- processes ----------------------------------------------------------------------------

/** State letter from /proc/<pid>/stat ('R', 'S', 'Z', ...), or null when there is no such pid. */
export function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may contain spaces and parentheses: the state follows the last ')'.
    const i = stat.lastIndexOf(')');
    return i < 0 ? null : stat.charAt(i + 2);
  } catch {
    return null;
  }
}

/** A zombie has finished: only its parent's wait() is missing (PID 1 in a container may never reap it). */
export function isAlive(pid: number): boolean {
  const s = procState(pid);
  return s !== null && s !== 'Z' && s !== 'X';
}

export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((s) => s !== '').join(' ');
  } catch {
    return '';
  }
}

/** Live (non-zombie) processes whose network namespace is one of `inodes`. */
export function processesInNetns(inodes: ReadonlySet<number>): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return found;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    let link: string;
    try {
      link = readlinkSync(`/proc/${e}/ns/net`);
    } catch {
      continue;
    }
    const m = /^net:\[(\d+)\]$/.exec(link);
    if (m && inodes.has(Number(m[1])) && isAlive(pid)) found.push({ pid, cmdline: cmdline(pid) });
  }
  return found;
}

// ---- namespaces ---------------------------------------------------------------------------

export interface LabNet {
  /** `<pid>-<seq>`, unique per lab in this process. */
  id: string;
  client: string;
  gateway: string;
  server: string;
  /** Namespaces a test added behind the server (`<id>-f`: a far host the server routes to). */
  extra: string[];
  /** Inode of each namespace (from /run/netns), to find processes left inside after deletion. */
  inodes: Set<number>;
}

let labSeq = 0;

export function labNames(pid: number, seq: number): { client: string; gateway: string; server: string } {
  const base = `${NS_PREFIX}${pid}-${seq}`;
  return { client: `${base}-c`, gateway: `${base}-g`, server: `${base}-s` };
}

function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

/** Namespaces named like ours that exist now. */
export function listOurNamespaces(): string[] {
  try {
    return readdirSync('/run/netns').filter((n) => NS_NAME_RE.test(n)).sort();
  } catch {
    return [];
  }
}

async function sysctlIn(ns: string, settings: readonly string[]): Promise<void> {
  await execOk(ns, [tool('sysctl'), '-q', '-w', ...settings]);
}

export interface LabNetOptions {
  /** The client's and server's veth ends: kernel defaults (tx checksum offload, TSO) or all off. */
  peerOffloads?: 'default' | 'off';
  /** GRO on the gateway's two veth ends (merged frames larger than the MTU reach the capture). */
  gatewayGro?: boolean;
}

/** Builds the three namespaces and links described at the top of this file. */
export async function createLabNet(opts: LabNetOptions = {}): Promise<LabNet> {
  const ip = tool('ip');
  const seq = ++labSeq;
  const names = labNames(process.pid, seq);
  const net: LabNet = { id: `${process.pid}-${seq}`, ...names, extra: [], inodes: new Set() };
  try {
    for (const ns of [net.client, net.gateway, net.server]) {
      await runOk([ip, 'netns', 'add', ns]);
      net.inodes.add(statSync(netnsPath(ns)).ino);
      // Before any link exists, so the veths come up without IPv6.
      await sysctlIn(ns, ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
      await runOk([ip, '-n', ns, 'link', 'set', 'lo', 'up']);
    }
    // Each veth end is created directly inside its namespace, so no name (temporary or final)
    // ever appears in the root namespace and two labs can never collide on an interface name.
    await runOk([ip, 'link', 'add', LAB.ifExt, 'netns', net.gateway, 'type', 'veth', 'peer', 'name', LAB.ifHost, 'netns', net.client]);
    await runOk([ip, 'link', 'add', LAB.ifInt, 'netns', net.gateway, 'type', 'veth', 'peer', 'name', LAB.ifHost, 'netns', net.server]);
    const cidr = (a: string): string => `${a}/${LAB.prefixLen}`;
    await runOk([ip, '-n', net.client, 'addr', 'add', cidr(LAB.client), 'dev', LAB.ifHost]);
    await runOk([ip, '-n', net.client, 'addr', 'add', cidr(LAB.client2), 'dev', LAB.ifHost]);
    await runOk([ip, '-n', net.gateway, 'addr', 'add', cidr(LAB.gatewayExt), 'dev', LAB.ifExt]);
    await runOk([ip, '-n', net.gateway, 'addr', 'add', cidr(LAB.gatewayInt), 'dev', LAB.ifInt]);
    await runOk([ip, '-n', net.server, 'addr', 'add', cidr(LAB.server), 'dev', LAB.ifHost]);
    await sysctlIn(net.gateway, ['net.ipv4.ip_forward=0']);
    // With tx checksum offload on (the default), a veth hands its peer segments whose checksum
    // field holds only the pseudo-header sum, and with TSO segments of many MSS: what a gateway
    // next to virtio-net VMs sees. The daemon must cope; 'off' gives a plain wire to compare.
    const ethtool = tool('ethtool');
    if (opts.peerOffloads === 'off') {
      for (const ns of [net.client, net.server]) await execOk(ns, [ethtool, '-K', LAB.ifHost, 'tx', 'off', 'tso', 'off', 'gso', 'off']);
    }
    if (opts.gatewayGro === true) {
      for (const i of [LAB.ifExt, LAB.ifInt]) await execOk(net.gateway, [ethtool, '-K', i, 'gro', 'on']);
    }
    await runOk([ip, '-n', net.client, 'link', 'set', LAB.ifHost, 'up']);
    await runOk([ip, '-n', net.gateway, 'link', 'set', LAB.ifExt, 'up']);
    await runOk([ip, '-n', net.gateway, 'link', 'set', LAB.ifInt, 'up']);
    await runOk([ip, '-n', net.server, 'link', 'set', LAB.ifHost, 'up']);
  } catch (e) {
    await destroyLabNet(net);
    throw e;
  }
  return net;
}

/**
 * A fourth host behind the server namespace, which becomes a router: server ns `far0` 203.0.113.1/24
 * ─── far ns `eth0` 203.0.113.10/24, forwarding on in the server ns, the far host's way back to
 * 192.0.2.0/24 through it, and the gateway's route to 203.0.113.0/24 through 192.0.2.10. For
 * tests that need a real router between the gateway and the server (ICMP errors from inside).
 */
export async function addFarHost(net: LabNet): Promise<{ ns: string; address: string; router: string }> {
  const ip = tool('ip');
  const ns = `${NS_PREFIX}${net.id}-f`;
  await runOk([ip, 'netns', 'add', ns]);
  net.extra.push(ns);
  net.inodes.add(statSync(netnsPath(ns)).ino);
  await sysctlIn(ns, ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  await runOk([ip, '-n', ns, 'link', 'set', 'lo', 'up']);
  await runOk([ip, 'link', 'add', 'far0', 'netns', net.server, 'type', 'veth', 'peer', 'name', LAB.ifHost, 'netns', ns]);
  await runOk([ip, '-n', net.server, 'addr', 'add', '203.0.113.1/24', 'dev', 'far0']);
  await runOk([ip, '-n', ns, 'addr', 'add', '203.0.113.10/24', 'dev', LAB.ifHost]);
  await runOk([ip, '-n', net.server, 'link', 'set', 'far0', 'up']);
  await runOk([ip, '-n', ns, 'link', 'set', LAB.ifHost, 'up']);
  await sysctlIn(net.server, ['net.ipv4.ip_forward=1']);
  await runOk([ip, '-n', ns, 'route', 'add', LAB.serverNet, 'via', '203.0.113.1']);
  await runOk([ip, '-n', net.gateway, 'route', 'add', '203.0.113.0/24', 'via', LAB.server]);
  return { ns, address: '203.0.113.10', router: LAB.server };
}

/** Kills whatever still runs in namespace `ns` (ours by construction) and deletes it. */
async function deleteNamespace(ns: string): Promise<void> {
  if (!existsSync(netnsPath(ns))) return;
  const ip = tool('ip');
  const pids = await run([ip, 'netns', 'pids', ns], { timeoutMs: 5_000 });
  for (const p of pids.stdout.split(/\s+/).filter((s) => /^\d+$/.test(s))) {
    try {
      process.kill(Number(p), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  const r = await run([ip, 'netns', 'del', ns], { timeoutMs: 10_000 });
  if (r.code !== 0 && existsSync(netnsPath(ns))) throw new LabError(describeFailure(r));
}

/** Deletes the lab's namespaces (and with them the veths and any nftables table inside). Idempotent. */
export async function destroyLabNet(net: LabNet): Promise<void> {
  const errors: string[] = [];
  for (const ns of [net.client, net.gateway, net.server, ...net.extra]) {
    try {
      await deleteNamespace(ns);
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  if (errors.length > 0) throw new LabError(errors.join('; '));
}

/** The synchronous last resort for process 'exit': kill what runs inside, delete the namespaces. */
export function destroyLabNetSync(net: LabNet): void {
  const ip = findTool('ip');
  if (ip === null) return;
  for (const ns of [net.client, net.gateway, net.server, ...net.extra]) {
    if (!existsSync(netnsPath(ns))) continue;
    const pids = spawnSync(ip, ['netns', 'pids', ns], { encoding: 'utf8', timeout: 5_000 });
    for (const p of (pids.stdout ?? '').split(/\s+/).filter((s) => /^\d+$/.test(s))) {
      try {
        process.kill(Number(p), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    spawnSync(ip, ['netns', 'del', ns], { timeout: 10_000 });
  }
}

/**
 * Deletes namespaces left by a lab whose process died without cleaning up (crash, SIGKILL).
 * Only names of our exact form whose owning pid no longer runs; returns the names removed.
 */
export async function removeStaleNamespaces(): Promise<string[]> {
  const removed: string[] = [];
  for (const ns of listOurNamespaces()) {
    const m = NS_NAME_RE.exec(ns);
    if (!m) continue;
    const owner = Number(m[1]);
    if (owner === process.pid || isAlive(owner)) continue;
    await deleteNamespace(ns);
    removed.push(ns);
  }
  return removed;
}

/**
 * The live lab: three namespaces (netns.ts), Samba in the server one (samba.ts), `rpcgw run`
 * in the gateway one, and Debian's impacket (lab/impacket_client.py) or Samba's rpcclient as
 * real clients in the client one. Used by `rpcgw lab` (scenario.ts) and by test/live.
 *
 * A Lab is single-use: up() once, down() (idempotent) once it is no longer needed. While any lab
 * is up, SIGINT/SIGTERM/SIGHUP tear it down before the process dies of the signal, and a process
 * 'exit' (also after an uncaught error) runs a synchronous teardown, so no namespace, process or
 * directory of ours outlives us. A lab left behind by a SIGKILLed run is removed by the next
 * up() (removeStaleLabs), by owner pid.
 */
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  LAB,
  LabError,
  createLabNet,
  type LabNetOptions,
  destroyLabNet,
  destroyLabNetSync,
  describeFailure,
  exec,
  findTool,
  isAlive,
  killGroup,
  processesInNetns,
  removeStaleNamespaces,
  listOurNamespaces,
  run,
  spawnIn,
  cmdline,
  type ExecResult,
  type LabNet,
} from './netns.js';
import { SambaServer } from './samba.js';
import { LAB_PYTHON } from './prereqs.js';

export { LAB, LabError } from './netns.js';

/** RPC interfaces the lab talks about (UUID and version as Samba registers them). */
export const IFACES = {
  samr: { uuid: '12345778-1234-abcd-ef00-0123456789ac', version: '1.0' },
  lsarpc: { uuid: '12345778-1234-abcd-ef00-0123456789ab', version: '0.0' },
  srvsvc: { uuid: '4b324fc8-1670-01d3-1278-5a47bf6ee188', version: '3.0' },
  wkssvc: { uuid: '6bffd098-a112-3610-9833-46c3f87e345a', version: '1.0' },
  winreg: { uuid: '338cd001-2244-31f1-aaaa-900038001003', version: '1.0' },
  spoolss: { uuid: '12345678-1234-abcd-ef00-0123456789ab', version: '1.0' },
} as const;
export type IfaceName = keyof typeof IFACES;
/** Interfaces impacket_client.py can make real calls on. */
export type CallIface = 'samr' | 'srvsvc' | 'wkssvc' | 'winreg';
export type AuthLevel = 1 | 5 | 6;


// ---- rules ----------------------------------------------------------------------------------

export interface LabRulesOptions {
  /** The rule's `interfaces` (default: what rules/lab.json says, `["any"]`). */
  interfaces?: string[];
  lookup?: 'deny' | 'published' | 'allow';
  pinholeTimeoutSeconds?: number;
  requireEncryption?: boolean;
  notifications?: boolean;
  notificationsWhenEncrypted?: 'drop' | 'pinhole';
  notificationPorts?: string;
  mappedInspection?: 'full' | 'kernel';
}

type Json = Record<string, unknown>;

/** rules/lab.json with the admin socket in the lab's directory and the rule adjusted by `opts`. */
export function labRulesText(repoRoot: string, dir: string, opts: LabRulesOptions = {}): string {
  const doc = JSON.parse(readFileSync(path.join(repoRoot, 'rules', 'lab.json'), 'utf8')) as Json;
  delete doc.$schema; // relative to rules/, meaningless in the lab directory
  const gateway = doc.gateway as Json;
  gateway.adminSocket = path.join(dir, 'admin.sock');
  const rule = (doc.rules as Json[])[0]!;
  if (opts.interfaces) rule.interfaces = opts.interfaces;
  if (opts.lookup) rule.lookup = opts.lookup;
  if (opts.pinholeTimeoutSeconds !== undefined) rule.pinholeTimeoutSeconds = opts.pinholeTimeoutSeconds;
  if (opts.requireEncryption !== undefined) rule.requireEncryption = opts.requireEncryption;
  if (opts.notifications !== undefined) rule.notifications = opts.notifications;
  if (opts.notificationsWhenEncrypted !== undefined) rule.notificationsWhenEncrypted = opts.notificationsWhenEncrypted;
  if (opts.notificationPorts !== undefined) rule.notificationPorts = opts.notificationPorts;
  if (opts.mappedInspection !== undefined) rule.mappedInspection = opts.mappedInspection;
  return JSON.stringify(doc, null, 2) + '\n';
}

/** `"UUID@MAJOR.MINOR"` rule entries for named interfaces. */
export function ruleInterfaces(names: readonly IfaceName[]): string[] {
  return names.map((n) => `${IFACES[n].uuid}@${IFACES[n].version}`);
}

// ---- daemon records -------------------------------------------------------------------------

/** One line of the daemon's stdout: a pino JSON record, or `{ raw }` when not JSON. */
export type DaemonRecord = Json & { event?: unknown; level?: unknown; msg?: unknown; raw?: string };

/** A tower rewrite (engine/events.ts RewriteRecord, logged as `"event":"rewrite"`). */
export function isRewrite(rec: DaemonRecord): boolean {
  return rec.event === 'rewrite' && typeof rec.original === 'string' && typeof rec.rewritten === 'string';
}

/** A refused connection (engine/events.ts RefusalRecord, logged as `"event":"refused"`). */
export function isRefusal(rec: DaemonRecord): boolean {
  return rec.event === 'refused' && typeof rec.reason === 'string';
}

export interface DaemonExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when it had to be SIGKILLed after not stopping within the grace time. */
  killed: boolean;
}

// ---- client results -------------------------------------------------------------------------

export interface ClientResult {
  code: number;
  json: Json;
  stderr: string;
}

export interface TowerInfo {
  protocol: string;
  ip?: string;
  port?: number;
  interface?: string;
  version?: string;
  endpoint?: string;
  decodeError?: string;
}

export interface MapResult {
  code: number;
  status?: number;
  statusHex?: string;
  towers: TowerInfo[];
  local?: string;
  error?: string;
  kind?: string;
}

export interface CallResult {
  code: number;
  ok: boolean;
  bound: boolean;
  /** Rounds of calls completed on the one connection. */
  rounds?: number;
  result?: Json;
  local?: string;
  error?: string;
  kind?: string;
}

export type ProbeOutcome = 'connected' | 'refused' | 'timeout' | 'unreachable';

export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text exposition format, samples only. */
export function parseMetrics(text: string): MetricSample[] {
  const out: MetricSample[] = [];
  for (const line of text.split('\n')) {
    const l = line.trim();
    if (l === '' || l.startsWith('#')) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(l);
    if (!m) continue;
    const labels: Record<string, string> = {};
    const re = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    let lm: RegExpExecArray | null;
    while ((lm = re.exec(m[3] ?? '')) !== null) labels[lm[1]!] = lm[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const value = Number(m[4]);
    if (!Number.isNaN(value)) out.push({ name: m[1]!, labels, value });
  }
  return out;
}

// ---- teardown on signals and exit -------------------------------------------------------------

const liveLabs = new Set<Lab>();
const TRAPPED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function onSignal(sig: NodeJS.Signals): void {
  uninstallHandlers();
  process.stderr.write(`rpcgw lab: ${sig}: tearing the lab down\n`);
  for (const l of liveLabs) l.interruptedBy = sig;
  void Promise.allSettled([...liveLabs].map((l) => l.down())).then(() => {
    // Die of the same signal, as if we had not caught it.
    process.kill(process.pid, sig);
  });
}

function onExit(): void {
  for (const l of liveLabs) l.downSync();
}

let handlersInstalled = false;

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const s of TRAPPED) process.on(s, onSignal);
  process.on('exit', onExit);
}

function uninstallHandlers(): void {
  if (!handlersInstalled) return;
  handlersInstalled = false;
  for (const s of TRAPPED) process.off(s, onSignal);
  process.off('exit', onExit);
}

// ---- stale labs -----------------------------------------------------------------------------

const DIR_PREFIX = 'rpcgw-lab-';
const DIR_RE = /^rpcgw-lab-(\d+)-\d+-/;

/** Namespaces and directories of labs whose process died without tearing down. */
export async function removeStaleLabs(): Promise<string[]> {
  const removed = await removeStaleNamespaces();
  let entries: string[] = [];
  try {
    entries = readdirSync(tmpdir());
  } catch {
    // no tmpdir listing: nothing to do
  }
  for (const e of entries) {
    const m = DIR_RE.exec(e);
    if (!m) continue;
    const owner = Number(m[1]);
    if (owner === process.pid || isAlive(owner)) continue;
    rmSync(path.join(tmpdir(), e), { recursive: true, force: true });
    removed.push(path.join(tmpdir(), e));
  }
  return removed;
}

// ---- the lab ----------------------------------------------------------------------------------

export interface LabUpOptions {
  /** The repository: dist/cli/main.js, rules/lab.json and lab/impacket_client.py live there. */
  repoRoot: string;
  rules?: LabRulesOptions;
  /** Start `rpcgw run` in the gateway namespace (default true). */
  daemon?: boolean;
  /** Start Samba in the server namespace (default true); false for a server of the caller's own. */
  samba?: boolean;
  daemonReadyTimeoutMs?: number;
  /** Offloads of the peers' and the gateway's veth ends (default: the kernel's defaults). */
  net?: LabNetOptions;
  /** One line per step of the set-up, for a narrating caller. */
  progress?: (line: string) => void;
}

export interface NsRole {
  ns?: 'client' | 'gateway' | 'server';
}

let dirSeq = 0;

export class Lab {
  net: LabNet | null = null;
  samba: SambaServer | null = null;
  dir: string | null = null;
  rulesPath = '';
  adminSocket = '';
  metricsListen: string | null = null;
  /** Extra `rpcgw run` arguments for the next startDaemon (e.g. --keep-guard-on-stop). */
  daemonArgs: string[] = [];
  /** Extra environment for the next startDaemon (e.g. NOTIFY_SOCKET, as systemd sets it). */
  daemonEnv: NodeJS.ProcessEnv = {};
  /** A command the next startDaemon runs `node … run` under (e.g. setpriv with the unit's capabilities). */
  daemonWrapper: string[] = [];
  repoRoot = '';
  /** Exit of the last daemon run, once it stopped. */
  daemonExit: DaemonExit | null = null;
  /** `nft list tables` in the gateway namespace right after the daemon stopped. */
  nftTablesAfterStop: string[] | null = null;
  /** The signal that made us tear the lab down, when one did. */
  interruptedBy: NodeJS.Signals | null = null;
  /** Processes left in the gateway namespace right after the daemon stopped. */
  gatewayProcessesAfterStop: { pid: number; cmdline: string }[] | null = null;

  private daemon: ChildProcess | null = null;
  private daemonRunning = false;
  private records: DaemonRecord[] = [];
  private daemonStderr = '';
  private waiters = new Set<() => void>();
  private downPromise: Promise<void> | null = null;
  private upCalled = false;

  /** Builds everything; on any failure tears down what was built and rethrows. */
  async up(opts: LabUpOptions): Promise<void> {
    if (this.upCalled) throw new LabError('a Lab is single-use: up() was already called');
    this.upCalled = true;
    this.repoRoot = opts.repoRoot;
    const say = opts.progress ?? ((): void => {});
    liveLabs.add(this);
    installHandlers();
    try {
      const stale = await removeStaleLabs();
      if (stale.length > 0) say(`removed what a crashed earlier lab left: ${stale.join(', ')}`);
      this.dir = mkdtempSync(path.join(tmpdir(), `${DIR_PREFIX}${process.pid}-${++dirSeq}-`));
      chmodSync(this.dir, 0o755); // Samba's anonymous sessions (nobody) must traverse it
      this.net = await createLabNet(opts.net);
      say(`namespaces ${this.net.client}, ${this.net.gateway}, ${this.net.server}`);
      if (opts.samba !== false) {
        this.samba = await SambaServer.start({ ns: this.net.server, address: LAB.server, dir: path.join(this.dir, 'samba') });
        say(`samba-dcerpcd listening in ${this.net.server}`);
      }
      this.rulesPath = path.join(this.dir, 'rules.json');
      this.adminSocket = path.join(this.dir, 'admin.sock');
      const rulesText = labRulesText(opts.repoRoot, this.dir, opts.rules);
      writeFileSync(this.rulesPath, rulesText);
      const listen = ((JSON.parse(rulesText) as Json).gateway as Json).metrics as Json | undefined;
      this.metricsListen = typeof listen?.listen === 'string' ? listen.listen : null;
      if (opts.daemon !== false) {
        await this.startDaemon(opts.daemonReadyTimeoutMs);
        say(`rpcgw run ready in ${this.net.gateway} (pid ${this.daemon?.pid})`);
      }
    } catch (e) {
      await this.down().catch(() => {});
      throw e;
    }
  }

  private need<T>(v: T | null, what: string): T {
    if (v === null) throw new LabError(`the lab is not up (${what})`);
    return v;
  }

  nsName(role: 'client' | 'gateway' | 'server'): string {
    return this.need(this.net, 'namespaces')[role];
  }

  get cliPath(): string {
    return path.join(this.repoRoot, 'dist', 'cli', 'main.js');
  }

  // ---- the daemon ---------------------------------------------------------------------------

  /** Starts `rpcgw run --rules <lab rules>` in the gateway namespace and waits for `"event":"ready"`. */
  async startDaemon(readyTimeoutMs = 30_000): Promise<void> {
    if (this.daemonRunning) throw new LabError('the daemon is already running');
    if (!existsSync(this.cliPath)) throw new LabError(`${this.cliPath} is missing: build first (npx tsc -p tsconfig.build.json)`);
    const from = this.records.length;
    const child = spawnIn(this.nsName('gateway'), [...this.daemonWrapper, process.execPath, this.cliPath, 'run', '--rules', this.rulesPath, ...this.daemonArgs], { ...process.env, ...this.daemonEnv });
    this.daemon = child;
    this.daemonRunning = true;
    this.daemonExit = null;
    this.nftTablesAfterStop = null;
    this.gatewayProcessesAfterStop = null;
    let pending = '';
    child.stdout?.on('data', (b: Buffer) => {
      pending += b.toString('utf8');
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        this.addLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    });
    child.stderr?.on('data', (b: Buffer) => {
      if (this.daemonStderr.length < 1 << 20) this.daemonStderr += b.toString('utf8');
    });
    // 'close', not 'exit': only then has everything the daemon wrote been read (its last records).
    child.on('close', (code, signal) => {
      if (pending !== '') this.addLine(pending);
      pending = '';
      this.daemonRunning = false;
      this.daemonExit ??= { code, signal, killed: false };
      this.wake();
    });
    const ready = await this.waitFor((r) => r.event === 'ready', readyTimeoutMs, from);
    if (ready === null) {
      const why = this.daemonRunning ? `no "event":"ready" line within ${readyTimeoutMs} ms` : `it exited (${this.describeExit()})`;
      throw new LabError(`rpcgw run did not become ready: ${why}${this.tail()}`);
    }
  }

  private addLine(line: string): void {
    if (line.trim() === '') return;
    let rec: DaemonRecord;
    try {
      const v = JSON.parse(line) as unknown;
      rec = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as DaemonRecord) : { raw: line };
    } catch {
      rec = { raw: line };
    }
    this.records.push(rec);
    this.wake();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** The first record from index `from` on that satisfies `pred`, or null after `timeoutMs` or when the daemon exits. */
  waitFor(pred: (r: DaemonRecord) => boolean, timeoutMs: number, from = 0): Promise<DaemonRecord | null> {
    return new Promise((resolve) => {
      let i = from;
      const check = (): boolean => {
        for (; i < this.records.length; i++) {
          if (pred(this.records[i]!)) {
            finish(this.records[i]!);
            return true;
          }
        }
        if (!this.daemonRunning) {
          finish(null);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => finish(null), timeoutMs);
      const finish = (r: DaemonRecord | null): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve(r);
      };
      const waiter = (): void => {
        check();
      };
      this.waiters.add(waiter);
      check();
    });
  }

  daemonLogs(): readonly DaemonRecord[] {
    return this.records;
  }

  daemonStderrText(): string {
    return this.daemonStderr;
  }

  get daemonPid(): number | null {
    return this.daemonRunning ? (this.daemon?.pid ?? null) : null;
  }

  isDaemonRunning(): boolean {
    return this.daemonRunning;
  }

  private describeExit(): string {
    const x = this.daemonExit;
    if (x === null) return 'running';
    return x.code !== null ? `exit ${x.code}` : `signal ${x.signal}`;
  }

  private tail(): string {
    const lines = this.records.slice(-5).map((r) => r.raw ?? JSON.stringify(r));
    const err = this.daemonStderr.trim().split('\n').slice(-5);
    const parts = [...lines, ...err.filter((l) => l !== '')];
    return parts.length > 0 ? `\n  ${parts.join('\n  ')}` : '';
  }

  /**
   * SIGTERM, then SIGKILL (the whole group) after `graceMs`. Afterwards records what the
   * daemon left in the gateway namespace: nftables tables and processes.
   */
  async stopDaemon(graceMs = 10_000): Promise<DaemonExit> {
    const child = this.daemon;
    if (child?.pid !== undefined && this.daemonRunning) {
      const gone = new Promise<void>((r) => {
        if (!this.daemonRunning) r();
        else child.once('close', () => r());
      });
      child.kill('SIGTERM');
      const timedOut = await Promise.race([gone.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), graceMs))]);
      if (timedOut) {
        killGroup(child.pid, 'SIGKILL');
        await Promise.race([gone, new Promise((r) => setTimeout(r, 3_000))]);
        this.daemonExit = { code: null, signal: 'SIGKILL', killed: true };
      }
    }
    if (this.net !== null) {
      this.nftTablesAfterStop = await this.nftTables();
      const gw = this.net.gateway;
      const r = await run([findTool('ip') ?? 'ip', 'netns', 'pids', gw], { timeoutMs: 5_000 });
      this.gatewayProcessesAfterStop = r.stdout
        .split(/\s+/)
        .filter((s) => /^\d+$/.test(s))
        .map(Number)
        .filter((p) => isAlive(p))
        .map((pid) => ({ pid, cmdline: cmdline(pid) }));
    }
    return this.daemonExit ?? { code: null, signal: null, killed: false };
  }

  /** `table <family> <name>` lines of `nft list tables` in the gateway namespace. */
  async nftTables(): Promise<string[]> {
    const nft = findTool('nft');
    if (nft === null || this.net === null) return [];
    const r = await exec(this.net.gateway, [nft, 'list', 'tables'], { timeoutMs: 10_000 });
    if (r.code !== 0) throw new LabError(describeFailure(r));
    return r.stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('table '));
  }

  /**
   * Replaces the rules file and sends SIGHUP. Returns the daemon's answer, the first
   * `"event":"reload"` or `"event":"reload-refused"` record that follows, or null when none came
   * within `timeoutMs`.
   */
  async hup(newRulesText: string, timeoutMs = 10_000): Promise<DaemonRecord | null> {
    const pid = this.need(this.daemonPid, 'daemon');
    writeFileSync(this.rulesPath, newRulesText);
    const from = this.records.length;
    process.kill(pid, 'SIGHUP');
    return this.waitFor((r) => r.event === 'reload' || r.event === 'reload-refused', timeoutMs, from);
  }

  /** Lab rules text (rules/lab.json adjusted) for hup(). */
  rulesText(opts: LabRulesOptions = {}): string {
    return labRulesText(this.repoRoot, this.need(this.dir, 'directory'), opts);
  }

  /** Samples from the daemon's metrics listener (fetched inside the gateway namespace). */
  async metrics(): Promise<MetricSample[]> {
    const listen = this.need(this.metricsListen, 'metrics.listen');
    const script = 'fetch(process.argv[1]).then(async (r) => { process.stdout.write(await r.text()); process.exitCode = r.ok ? 0 : 1; }, (e) => { process.stderr.write(String(e)); process.exitCode = 1; })';
    const r = await exec(this.nsName('gateway'), [process.execPath, '-e', script, `http://${listen}/metrics`], { timeoutMs: 10_000 });
    if (r.code !== 0) throw new LabError(describeFailure(r));
    return parseMetrics(r.stdout);
  }

  /** `rpcgw <command> --socket <adminSocket>` (mappings, flush) from the root namespace. */
  admin(args: readonly string[]): Promise<ExecResult> {
    return run([process.execPath, this.cliPath, ...args, '--socket', this.adminSocket], { timeoutMs: 15_000 });
  }

  // ---- clients ------------------------------------------------------------------------------

  /** Runs lab/impacket_client.py with `args` (in the client namespace unless told otherwise). */
  async client(args: readonly string[], opts: NsRole & { timeoutMs?: number } = {}): Promise<ClientResult> {
    const script = path.join(this.repoRoot, 'lab', 'impacket_client.py');
    const r = await exec(this.nsName(opts.ns ?? 'client'), [LAB_PYTHON, script, ...args], { timeoutMs: opts.timeoutMs ?? 60_000 });
    const text = r.stdout.trim();
    let json: Json;
    try {
      json = JSON.parse(text) as Json;
    } catch {
      throw new LabError(`impacket_client.py ${args[0] ?? ''} printed no JSON object (${describeFailure(r)}): ${text.slice(0, 300)}`);
    }
    return { code: r.code ?? -1, json, stderr: r.stderr };
  }

  /** ept_map for `iface` on host:135 (the gateway's external address by default). */
  async map(iface: IfaceName, opts: NsRole & { host?: string; src?: string; timeoutS?: number } = {}): Promise<MapResult> {
    const { uuid, version } = IFACES[iface];
    const args = ['map', '--host', opts.host ?? LAB.gatewayExt, '--uuid', uuid, '--version', version, '--timeout', String(opts.timeoutS ?? 10)];
    if (opts.src) args.push('--src', opts.src);
    const r = await this.client(args, opts);
    return { ...(r.json as Partial<MapResult>), code: r.code, towers: (r.json.towers as TowerInfo[] | undefined) ?? [] };
  }

  /** Binds to `iface` on host:port at `authLevel` (NTLM with the lab user above 1) and calls it. */
  async call(
    iface: CallIface,
    port: number,
    authLevel: AuthLevel,
    opts: NsRole & { host?: string; src?: string; repeat?: number; intervalS?: number } = {},
  ): Promise<CallResult> {
    const samba = this.need(this.samba, 'samba');
    const args = ['call', '--host', opts.host ?? LAB.gatewayExt, '--port', String(port), '--iface', iface, '--auth-level', String(authLevel)];
    if (authLevel !== 1) args.push('--user', samba.user, '--password', samba.password);
    if (opts.src) args.push('--src', opts.src);
    if (opts.repeat !== undefined) args.push('--repeat', String(opts.repeat), '--interval', String(opts.intervalS ?? 1));
    const r = await this.client(args, opts);
    return { ...(r.json as Partial<CallResult>), code: r.code, ok: r.json.ok === true, bound: r.json.bound === true };
  }

  /** TCP connect from `src` (one of the client's addresses) to host:port. */
  async probe(src: string, port: number, opts: NsRole & { host?: string; timeoutS?: number } = {}): Promise<ProbeOutcome> {
    const r = await this.client(['probe', '--src', src, '--host', opts.host ?? LAB.gatewayExt, '--port', String(port), '--timeout', String(opts.timeoutS ?? 2)], opts);
    if (r.code !== 0) throw new LabError(`probe failed: ${String(r.json.error)}`);
    return r.json.result as ProbeOutcome;
  }

  /**
   * Samba's rpcclient in the client namespace against `binding` (default the gateway's external
   * address over TCP: rpcclient asks the endpoint mapper there itself), as the lab user.
   */
  async rpcclient(commands: string, opts: { binding?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
    const samba = this.need(this.samba, 'samba');
    const tool = findTool('rpcclient');
    if (tool === null) throw new LabError('rpcclient is not installed (apt-get install smbclient)');
    const auth = path.join(samba.opts.dir, 'rpcclient.auth');
    writeFileSync(auth, `username = ${samba.user}\npassword = ${samba.password}\ndomain = RPCGWLAB\n`, { mode: 0o600 });
    const binding = opts.binding ?? `ncacn_ip_tcp:${LAB.gatewayExt}`;
    return exec(this.nsName('client'), [tool, '-s', samba.clientConfPath, '-A', auth, binding, '-c', commands], { timeoutMs: opts.timeoutMs ?? 60_000 });
  }

  // ---- teardown -----------------------------------------------------------------------------

  /** Stops the daemon (recording what it left), Samba, deletes the namespaces and the directory. Idempotent. */
  down(): Promise<void> {
    this.downPromise ??= this.doDown();
    return this.downPromise;
  }

  private async doDown(): Promise<void> {
    const errors: string[] = [];
    const step = async (what: string, f: () => Promise<unknown>): Promise<void> => {
      try {
        await f();
      } catch (e) {
        errors.push(`${what}: ${(e as Error).message}`);
      }
    };
    if (this.daemonRunning) await step('stopping rpcgw run', () => this.stopDaemon());
    if (this.samba !== null) await step('stopping samba', () => this.samba!.stop());
    if (this.net !== null) await step('deleting namespaces', () => destroyLabNet(this.net!));
    if (this.dir !== null) await step('removing the lab directory', async () => rmSync(this.dir!, { recursive: true, force: true }));
    liveLabs.delete(this);
    if (liveLabs.size === 0) uninstallHandlers();
    if (errors.length > 0) throw new LabError(`lab teardown: ${errors.join('; ')}`);
  }

  /** Synchronous teardown for process 'exit' (no awaiting possible there). */
  downSync(): void {
    if (this.daemon?.pid !== undefined && this.daemonRunning) killGroup(this.daemon.pid, 'SIGKILL');
    this.samba?.stopSync();
    if (this.net !== null) destroyLabNetSync(this.net);
    if (this.dir !== null) rmSync(this.dir, { recursive: true, force: true });
    liveLabs.delete(this);
  }

  /**
   * What of this lab still exists (empty when nothing): namespaces, processes inside them or
   * naming the lab directory, nftables tables the daemon left in the gateway namespace when it
   * stopped, the directory itself.
   */
  leftovers(): string[] {
    const found: string[] = [];
    if (this.net !== null) {
      const ours = new Set([this.net.client, this.net.gateway, this.net.server]);
      for (const ns of listOurNamespaces()) if (ours.has(ns)) found.push(`namespace ${ns}`);
      for (const p of processesInNetns(this.net.inodes)) found.push(`process ${p.pid} in a lab namespace: ${p.cmdline}`);
    }
    if (this.dir !== null) {
      for (const p of processesNaming(this.dir)) found.push(`process ${p.pid}: ${p.cmdline}`);
      if (existsSync(this.dir)) found.push(`directory ${this.dir}`);
    }
    for (const t of this.nftTablesAfterStop ?? []) found.push(`nftables ${t} in the gateway namespace after the daemon stopped`);
    for (const p of this.gatewayProcessesAfterStop ?? []) found.push(`process ${p.pid} in the gateway namespace after the daemon stopped: ${p.cmdline}`);
    return found;
  }
}

/** Live processes whose command line mentions `text` (our directory), excluding ourselves. */
function processesNaming(text: string): { pid: number; cmdline: string }[] {
  const out: { pid: number; cmdline: string }[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    const c = cmdline(Number(e));
    if (c.includes(text) && isAlive(Number(e))) out.push({ pid: Number(e), cmdline: c });
  }
  return out;
}

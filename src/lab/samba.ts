/**
 * The lab's real RPC server: Samba's samba-dcerpcd (no smbd, no nmbd, no AD DC) in the server
 * namespace, with its own smb.conf and every file it writes inside one temporary directory.
 *
 * What the host keeps afterwards: nothing. The account for NTLM binds is a passdb entry for the
 * existing Unix user root in a tdbsam inside the directory (pdbedit needs a Unix user of the
 * same name; using root avoids creating one). Samba's workers log to /var/log/samba whatever
 * smb.conf says, so the server runs in a private mount namespace (ip netns exec makes one) with
 * a directory of ours bind-mounted over /var/log/samba.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execOk, exec, findTool, isAlive, killGroup, LabError, spawnIn } from './netns.js';

export const SAMBA_LIBEXEC = '/usr/libexec/samba';
/** The Unix user the lab's passdb entry belongs to (see the file comment). */
export const SAMBA_USER = 'root';
const SAMBA_LOG_DIR = '/var/log/samba';
/** Dynamic ports samba-dcerpcd gives its workers (one each for classic, lsad, winreg, ...). */
export const SAMBA_DYNAMIC_PORTS = '49152-49200';

export function findSambaDcerpcd(): string | null {
  return findTool('samba-dcerpcd', [SAMBA_LIBEXEC]);
}

export interface SambaOptions {
  /** Server namespace. */
  ns: string;
  /** Address samba binds (besides 127.0.0.1). */
  address: string;
  /** Directory to create for everything Samba writes; removed by stop(). Must not exist. */
  dir: string;
  readyTimeoutMs?: number;
}

const SUBDIRS = ['private', 'state', 'cache', 'lock', 'pid', 'ncalrpc', 'log', 'varlog', 'client'] as const;

/** smb.conf of a standalone RPC server; see peers-notes for why each key is there. */
export function sambaConf(dir: string, address: string): string {
  const d = (s: string): string => path.join(dir, s);
  return [
    '[global]',
    '  server role = standalone server',
    '  workgroup = RPCGWLAB',
    '  netbios name = RPCGWLAB',
    // samba-dcerpcd itself listens on 135 and the dynamic ports, rather than waiting for smbd.
    '  rpc start on demand helpers = no',
    `  rpc server dynamic port range = ${SAMBA_DYNAMIC_PORTS}`,
    `  interfaces = ${address}/24 127.0.0.1/8`,
    '  bind interfaces only = yes',
    `  passdb backend = tdbsam:${d('private/passdb.tdb')}`,
    '  disable netbios = yes',
    '  load printers = no',
    '  printing = bsd',
    '  printcap name = /dev/null',
    `  private dir = ${d('private')}`,
    `  state directory = ${d('state')}`,
    `  cache directory = ${d('cache')}`,
    `  lock directory = ${d('lock')}`,
    `  pid directory = ${d('pid')}`,
    `  ncalrpc dir = ${d('ncalrpc')}`,
    `  log file = ${d('log/samba.log')}`,
    '  log level = 0',
    // Auth level 2 (connect) is refused by default.
    '  allow dcerpc auth level connect = yes',
    '',
  ].join('\n');
}

/** smb.conf for Samba's client tools (rpcclient), so their caches land in our directory too. */
export function clientConf(dir: string): string {
  const d = (s: string): string => path.join(dir, 'client', s);
  return [
    '[global]',
    '  workgroup = RPCGWLAB',
    `  cache directory = ${d('cache')}`,
    `  lock directory = ${d('lock')}`,
    `  state directory = ${d('state')}`,
    `  private dir = ${d('private')}`,
    `  ncalrpc dir = ${d('ncalrpc')}`,
    `  pid directory = ${d('pid')}`,
    `  log file = ${d('log')}`,
    '  log level = 0',
    '',
  ].join('\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class SambaServer {
  readonly user = SAMBA_USER;
  /** Random per lab: it exists only in the lab's passdb. */
  readonly password = `Lab-${randomBytes(6).toString('hex')}`;
  readonly confPath: string;
  readonly clientConfPath: string;
  private child: ChildProcess | null = null;
  private exited = false;
  private output = '';

  private constructor(readonly opts: SambaOptions) {
    this.confPath = path.join(opts.dir, 'smb.conf');
    this.clientConfPath = path.join(opts.dir, 'client.conf');
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** Writes the configuration, creates the user, starts samba-dcerpcd and waits for port 135. */
  static async start(opts: SambaOptions): Promise<SambaServer> {
    const s = new SambaServer(opts);
    try {
      await s.begin();
    } catch (e) {
      await s.stop();
      throw e;
    }
    return s;
  }

  private async begin(): Promise<void> {
    const { dir } = this.opts;
    const daemon = findSambaDcerpcd();
    if (daemon === null) throw new LabError(`samba-dcerpcd is not installed (apt-get install samba; looked in PATH and ${SAMBA_LIBEXEC})`);
    mkdirSync(dir, { recursive: false });
    // Anonymous calls run as nobody, which must be able to reach state/ (winreg opens its
    // registry there): 0755, not mkdtemp's 0700.
    chmodSync(dir, 0o755);
    for (const sub of SUBDIRS) mkdirSync(path.join(dir, sub), { mode: 0o755 });
    for (const sub of ['cache', 'lock', 'state', 'private', 'ncalrpc', 'pid']) mkdirSync(path.join(dir, 'client', sub));
    writeFileSync(this.confPath, sambaConf(dir, this.opts.address));
    writeFileSync(this.clientConfPath, clientConf(dir));

    const pdbedit = findTool('pdbedit');
    if (pdbedit === null) throw new LabError('pdbedit is not installed (apt-get install samba-common-bin)');
    await execOk(this.opts.ns, [pdbedit, '-s', this.confPath, '-a', '-u', this.user, '-t'], {
      input: `${this.password}\n${this.password}\n`,
      timeoutMs: 20_000,
    });

    const argv = [daemon, '-s', this.confPath, '--libexec-rpcds', '--foreground', '--no-process-group', '-l', path.join(dir, 'log')];
    const sh = findTool('sh');
    // The script is a constant; the directory and argv are positional parameters.
    const wrapped =
      existsSync(SAMBA_LOG_DIR) && sh !== null
        ? [sh, '-c', 'mount --bind "$0" "$1" && shift && exec "$@"', path.join(dir, 'varlog'), SAMBA_LOG_DIR, ...argv]
        : argv;
    const child = spawnIn(this.opts.ns, wrapped);
    this.child = child;
    const keep = (b: Buffer): void => {
      if (this.output.length < 65536) this.output += b.toString('utf8');
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('exit', () => {
      this.exited = true;
    });
    await this.waitListening(this.opts.readyTimeoutMs ?? 20_000);
  }

  private async waitListening(timeoutMs: number): Promise<void> {
    const ss = findTool('ss');
    if (ss === null) throw new LabError('ss is not installed (apt-get install iproute2)');
    const want = `${this.opts.address}:135`;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exited) throw new LabError(`samba-dcerpcd exited during start-up: ${this.output.trim().split('\n').slice(-5).join(' | ')}`);
      const r = await exec(this.opts.ns, [ss, '-H', '-t', '-l', '-n'], { timeoutMs: 5_000 });
      if (r.code === 0 && r.stdout.split('\n').some((l) => l.split(/\s+/).includes(want))) return;
      await sleep(100);
    }
    throw new LabError(`samba-dcerpcd did not listen on ${want} within ${timeoutMs} ms`);
  }

  /** The TCP ports samba-dcerpcd listens on (135 and its workers' dynamic ports). */
  async listeningPorts(): Promise<number[]> {
    const ss = findTool('ss');
    if (ss === null) return [];
    const r = await exec(this.opts.ns, [ss, '-H', '-t', '-l', '-n'], { timeoutMs: 5_000 });
    const ports = new Set<number>();
    for (const line of r.stdout.split('\n')) {
      const local = line.split(/\s+/)[3] ?? '';
      if (local.startsWith(`${this.opts.address}:`)) ports.add(Number(local.slice(local.lastIndexOf(':') + 1)));
    }
    return [...ports].sort((a, b) => a - b);
  }

  /** SIGTERM to samba and its workers, SIGKILL after `graceMs`; then the directory goes. Idempotent. */
  async stop(graceMs = 5_000): Promise<void> {
    const child = this.child;
    if (child?.pid !== undefined && !this.exited) {
      const pid = child.pid;
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      killGroup(pid, 'SIGTERM');
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs));
      if ((await Promise.race([gone, timer])) === 'timeout') {
        killGroup(pid, 'SIGKILL');
        await Promise.race([gone, sleep(2_000)]);
      }
    }
    // Workers exit with their parent; a zombie (nobody reaps it in a container) counts as gone.
    if (child?.pid !== undefined && isAlive(child.pid)) killGroup(child.pid, 'SIGKILL');
    this.child = null;
    rmSync(this.opts.dir, { recursive: true, force: true });
  }

  /** Synchronous last resort for process 'exit'. */
  stopSync(): void {
    if (this.child?.pid !== undefined) killGroup(this.child.pid, 'SIGKILL');
    this.child = null;
    rmSync(this.opts.dir, { recursive: true, force: true });
  }
}

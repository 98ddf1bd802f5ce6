/**
 * Runs the Exchange simulator (exchange_sim.py), the Outlook-like client (outlook_client.py) and
 * tcpdump from tests, optionally inside a network namespace (`netns`), and cleans up after them.
 * The control channel is a unix socket so it also works when the simulator runs in another
 * namespace (the filesystem is shared).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const PYTHON = '/usr/bin/python3';
export const simDir = path.dirname(fileURLToPath(import.meta.url));
export const simScript = path.join(simDir, 'exchange_sim.py');
export const clientScript = path.join(simDir, 'outlook_client.py');

export const haveImpacket =
  existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import impacket.ntlm, Cryptodome.Cipher.ARC4'], { encoding: 'utf8' }).status === 0;
export const haveTcpdump = spawnSync('tcpdump', ['--version'], { encoding: 'utf8' }).status === 0;
export const isRoot = process.getuid?.() === 0;

/** Every child started here, so a failing test still leaves nothing running (see killAll). */
const children = new Set<ChildProcess>();

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** SIGKILLs, by pid, every child this module started that is still running. */
export function killAll(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
  children.clear();
}

function withNetns(netns: string | undefined, argv: string[]): [string, string[]] {
  return netns ? ['ip', ['netns', 'exec', netns, ...argv]] : [argv[0]!, argv.slice(1)];
}

/** Resolves when the child exits (with its exit code; null when a signal ended it). Never kills. */
function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** Like exited(), but SIGKILLs the child (by pid) if it is still running after timeoutMs. */
function waitExit(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      if (child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

export type SimEvent = { ts: string; event: string } & Record<string, unknown>;

export interface SimPorts {
  epm: number;
  store: number;
  nspi: number;
  rfr: number;
  control: string;
}

export interface SimOptions {
  listen: string;
  /** Unix socket path of the control channel. */
  control: string;
  epmPort?: number;
  storePort?: number;
  nspiPort?: number;
  rfrPort?: number;
  password?: string;
  extra?: string[];
  netns?: string;
  readyTimeoutMs?: number;
}

/** A running exchange_sim.py: its ports, its JSON event log, its control channel. */
export class SimProcess {
  readonly events: SimEvent[] = [];
  private stderrTail = '';
  private waiters: { pred: (e: SimEvent) => boolean; resolve: (e: SimEvent) => void }[] = [];

  private constructor(
    readonly child: ChildProcess,
    readonly controlPath: string,
  ) {}

  ports!: SimPorts;

  static async start(o: SimOptions): Promise<SimProcess> {
    const argv = [
      PYTHON, simScript, '--listen', o.listen,
      '--epm-port', String(o.epmPort ?? 0), '--store-port', String(o.storePort ?? 0),
      '--nspi-port', String(o.nspiPort ?? 0), '--rfr-port', String(o.rfrPort ?? 0),
      '--control-port', o.control, ...(o.password !== undefined ? ['--password', o.password] : []), ...(o.extra ?? []),
    ];
    const [cmd, args] = withNetns(o.netns, argv);
    const child = track(spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] }));
    const sim = new SimProcess(child, o.control);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => sim.onStderr(chunk));
    const readyOrFatal = sim.waitFor((e) => e.event === 'ready' || e.event === 'fatal', o.readyTimeoutMs ?? 10_000);
    readyOrFatal.catch(() => undefined);     // the race below reports it; no unhandled rejection
    const ended = exited(child).then((code): SimEvent => ({ ts: '', event: 'exit', code }));
    let ready: SimEvent;
    try {
      ready = await Promise.race([readyOrFatal, ended]);
    } catch (err) {
      await sim.stop();
      throw err;
    }
    if (ready.event !== 'ready') {
      await sim.stop();
      throw new Error(`exchange_sim.py did not start: ${JSON.stringify(ready)} ${sim.stderrTail}`);
    }
    sim.ports = ready.ports as SimPorts;
    return sim;
  }

  private onStderr(chunk: string): void {
    this.stderrTail = (this.stderrTail + chunk).slice(-65536);
    const lines = this.stderrTail.split('\n');
    this.stderrTail = lines.pop()!;
    for (const line of lines) {
      if (line.trim() === '') continue;
      let e: SimEvent;
      try {
        e = JSON.parse(line) as SimEvent;
      } catch {
        e = { ts: '', event: 'stderr', line };
      }
      this.events.push(e);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(e)) return true;
        w.resolve(e);
        return false;
      });
    }
  }

  /** The first logged event (already seen or to come) matching pred. */
  waitFor(pred: (e: SimEvent) => boolean, timeoutMs = 10_000): Promise<SimEvent> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching simulator event within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ pred, resolve: (e) => { clearTimeout(timer); resolve(e); } });
    });
  }

  /** Sends one control command and returns its one-line JSON answer. */
  control(command: string, timeoutMs = 5_000): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const s = connect(this.controlPath);
      let buf = '';
      const timer = setTimeout(() => { s.destroy(); reject(new Error(`control '${command}' timed out`)); }, timeoutMs);
      s.setEncoding('utf8');
      s.on('connect', () => s.write(command + '\n'));
      s.on('data', (d: string) => {
        buf += d;
        const nl = buf.indexOf('\n');
        if (nl >= 0) {
          clearTimeout(timer);
          s.end();
          try {
            resolve(JSON.parse(buf.slice(0, nl)));
          } catch (err) {
            reject(err as Error);
          }
        }
      });
      s.on('error', (err) => { clearTimeout(timer); reject(err); });
    });
  }

  /** SIGTERM, then SIGKILL after timeoutMs. Resolves with the exit code (null if killed). */
  stop(timeoutMs = 5_000): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null && this.child.pid !== undefined) {
      try {
        process.kill(this.child.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
    }
    return waitExit(this.child, timeoutMs);
  }
}

/** What outlook_client.py prints (README.md in this folder lists every field). */
export interface ClientResult {
  ok: boolean;
  errors: { step: string; error: string; status?: string | null }[];
  tower?: { status: number; statusHex: string; port: number | null; ip: string | null; ndr64: boolean; towers: Tower[] } | null;
  connect?: ({ ok: boolean; host: string; port: number; cxh?: string; ret?: number } & Record<string, unknown>) | null;
  registration?: ({ ok: boolean; callbackIp: string; callbackPort: number; sockaddrHex: string; rgbContextHex: string; hNotification?: number; ret?: number }) | null;
  datagram?: { received: boolean; count: number; payloadHex: string | null; matches: boolean; sourceIp: string | null; sourcePort: number | null; afterMs: number | null } | null;
  directory?: Record<string, Record<string, unknown>>;
  async?: Record<string, unknown> | null;
  rpcExt2?: Record<string, unknown>;
  disconnect?: { ret: number };
  maps?: { iface: string; version: string; ndr64: boolean; status: number; statusHex: string; numTowers: number; port: number | null; ip: string | null; towers: Tower[] }[];
  lookup?: { status: number; statusHex: string; entries: (Tower & { annotation: string })[] };
}

export interface Tower {
  interface: string | null;
  version: string | null;
  protocol: string | null;
  port: number | null;
  ip: string | null;
  octetsHex?: string;
}

/** Runs outlook_client.py to completion; resolves with its JSON (stdout) and exit code. */
export function runClient(args: string[], opts: { netns?: string; timeoutMs?: number } = {}): Promise<{ code: number | null; result: ClientResult; stderr: string }> {
  const [cmd, argv] = withNetns(opts.netns, [PYTHON, clientScript, ...args]);
  const child = track(spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  return waitExit(child, opts.timeoutMs ?? 60_000).then((code) => {
    const line = out.trim().split('\n').pop() ?? '';
    let result: ClientResult;
    try {
      result = JSON.parse(line) as ClientResult;
    } catch {
      throw new Error(`outlook_client.py printed no JSON (exit ${code}): ${out}\n${err}`);
    }
    return { code, result, stderr: err };
  });
}

/** tcpdump -i IFACE --immediate-mode -w FILE FILTER, started and stopped around a test step. */
export class Capture {
  private constructor(private readonly child: ChildProcess) {}

  static async start(iface: string, filter: string, file: string, netns?: string): Promise<Capture> {
    const [cmd, args] = withNetns(netns, ['tcpdump', '-i', iface, '--immediate-mode', '-U', '-w', file, filter]);
    const child = track(spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] }));
    let err = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tcpdump did not start: ${err}`)), 10_000);
      child.stderr!.setEncoding('utf8').on('data', (d: string) => {
        err += d;
        if (err.includes('listening on')) { clearTimeout(timer); resolve(); }
      });
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`tcpdump exited ${code}: ${err}`)); });
    });
    return new Capture(child);
  }

  /** SIGINT lets tcpdump flush the file; SIGKILL after timeoutMs. */
  async stop(timeoutMs = 5_000): Promise<void> {
    await new Promise((r) => setTimeout(r, 200));    // let the last segments reach the socket
    if (this.child.pid !== undefined && this.child.exitCode === null) {
      try {
        process.kill(this.child.pid, 'SIGINT');
      } catch {
        /* gone */
      }
    }
    await waitExit(this.child, timeoutMs);
  }
}

/** A UDP port free on this host right now (bound then released). */
export function freeUdpPort(address = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.on('error', reject);
    s.bind(0, address, () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

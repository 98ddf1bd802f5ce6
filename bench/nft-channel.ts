/**
 * The kernel pinholes' channel to nftables, measured in a network namespace of its own
 * (unshare -n, root): the daemon's persistent `nft -i` channel (src/dataplane/nft-channel.ts)
 * against one `nft -f -` process per batch, installing the pinhole element the daemon installs
 * (add/delete/add with a timeout) into the guard's map:
 *   latency     one pinhole at a time, waiting for each acknowledgment (p50/p99, ms) — what an
 *               ept_map answer waits before it is released
 *   throughput  N pinholes submitted at once (batched into transactions), elements/s
 */
import { spawn, spawnSync } from 'node:child_process';
import { NftChannel } from '../src/dataplane/nft-channel.js';
import { pinholeCommand, type KernelPinhole } from '../src/dataplane/kernel-pinholes.js';

export interface NftChannelFigures {
  method: string;
  latencyP50Ms: number;
  latencyP99Ms: number;
  elementsPerSecond: number;
}

export interface NftChannelResult {
  status: 'ran' | 'skipped';
  reason: string;
  command: string;
  serial: number;
  burst: number;
  nft: string | null;
  figures: NftChannelFigures[];
}

const TABLE = `table inet rpcgw {
  map kpin {
    type ipv4_addr . ipv4_addr . inet_service : ipv4_addr . inet_service
    flags timeout
  }
}
`;

function pin(i: number): KernelPinhole {
  return {
    rule: 'bench', clientIp: (0xcb007100 + (i >>> 16)) >>> 0, extIp: 0xc6336401, extPort: 1024 + (i & 0xffff) % 64000,
    serverIp: 0xc000020a, serverPort: 49152, expiresMs: 0,
  };
}

const pct = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

/** One `nft -f -` per batch, inside the namespace held by `holder` (nsenter). */
function nftFile(pid: number, script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn('nsenter', ['-t', String(pid), '-n', 'nft', '-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (b: Buffer) => (err += b.toString()));
    c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(err.trim() || `nft exit ${code}`))));
    c.stdin.end(script);
  });
}

export async function runNftChannel(opts: { serial?: number; burst?: number } = {}): Promise<NftChannelResult> {
  const serial = opts.serial ?? 500;
  const burst = opts.burst ?? 5000;
  const res: NftChannelResult = {
    status: 'skipped', reason: '', command: `node bench/dist/bench/main.js nft-channel --serial ${serial} --burst ${burst}`, serial, burst, nft: null, figures: [],
  };
  if (process.getuid?.() !== 0) return { ...res, reason: 'not root' };
  const v = spawnSync('nft', ['--version'], { encoding: 'utf8' });
  if (v.status !== 0) return { ...res, reason: 'nft not installed' };
  res.nft = v.stdout.trim();
  // A namespace held open by a sleeping process; both methods talk to it.
  const holder = spawn('unshare', ['-n', 'sleep', '600'], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 200));
    const pid = holder.pid!;
    // unshare execs sleep: its pid is the namespace's.
    await nftFile(pid, TABLE);
    const ch = new NftChannel({ argv: ['nsenter', '-t', String(pid), '-n', 'nft', '-i'] });
    try {
      const lat: number[] = [];
      for (let i = 0; i < serial; i++) {
        const t0 = performance.now();
        const e = await ch.run(pinholeCommand('rpcgw', pin(i), 60_000, true));
        if (e !== null) throw new Error(e);
        lat.push(performance.now() - t0);
      }
      const t0 = performance.now();
      const errs = (await Promise.all(Array.from({ length: burst }, (_, i) => ch.run(pinholeCommand('rpcgw', pin(100_000 + i), 60_000, true))))).filter((x) => x !== null);
      if (errs.length > 0) throw new Error(errs[0]!);
      res.figures.push({ method: 'nft -i channel (rpcgw), new pinholes', latencyP50Ms: pct(lat, 0.5), latencyP99Ms: pct(lat, 0.99), elementsPerSecond: burst / ((performance.now() - t0) / 1000) });
      // The same pinholes again: refreshes (add, delete, add in one transaction).
      const rlat: number[] = [];
      for (let i = 0; i < serial; i++) {
        const t1 = performance.now();
        const e = await ch.run(pinholeCommand('rpcgw', pin(i), 60_000));
        if (e !== null) throw new Error(e);
        rlat.push(performance.now() - t1);
      }
      const t2 = performance.now();
      const rerrs = (await Promise.all(Array.from({ length: burst }, (_, i) => ch.run(pinholeCommand('rpcgw', pin(100_000 + i), 60_000))))).filter((x) => x !== null);
      if (rerrs.length > 0) throw new Error(rerrs[0]!);
      res.figures.push({ method: 'nft -i channel (rpcgw), refreshes', latencyP50Ms: pct(rlat, 0.5), latencyP99Ms: pct(rlat, 0.99), elementsPerSecond: burst / ((performance.now() - t2) / 1000) });
    } finally {
      ch.close();
    }
    const lat: number[] = [];
    for (let i = 0; i < Math.min(serial, 200); i++) {
      const t0 = performance.now();
      await nftFile(pid, pinholeCommand('rpcgw', pin(200_000 + i), 60_000, true) + '\n');
      lat.push(performance.now() - t0);
    }
    const t0 = performance.now();
    const cmds = Array.from({ length: burst }, (_, i) => pinholeCommand('rpcgw', pin(300_000 + i), 60_000, true)).join('\n') + '\n';
    await nftFile(pid, cmds);
    res.figures.push({ method: 'nft -f - per batch (a process each), new pinholes', latencyP50Ms: pct(lat, 0.5), latencyP99Ms: pct(lat, 0.99), elementsPerSecond: burst / ((performance.now() - t0) / 1000) });
    res.status = 'ran';
  } finally {
    holder.kill('SIGKILL');
  }
  return res;
}

export function nftChannelMarkdown(r: NftChannelResult): string {
  const L = ['## nft channel (kernel pinholes)', ''];
  if (r.status === 'skipped') return [...L, `Skipped: ${r.reason}`, ''].join('\n');
  L.push(`\`${r.command}\` (${r.nft}); latency: ${r.serial} pinholes one at a time, each awaited; throughput: ${r.burst} submitted at once.`, '');
  L.push('| method | install p50 ms | install p99 ms | elements/s (burst) |', '|---|---:|---:|---:|');
  for (const f of r.figures) L.push(`| ${f.method} | ${f.latencyP50Ms.toFixed(2)} | ${f.latencyP99Ms.toFixed(2)} | ${Math.round(f.elementsPerSecond)} |`);
  return L.join('\n') + '\n';
}

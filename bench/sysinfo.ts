/** The machine, tools and sources a result was measured with (absolute figures mean little without them). */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './paths.js';
import { toolVersion } from './peers.js';

export interface Environment {
  node: string;
  v8: string;
  rpcgw: string;
  /** `git rev-parse HEAD` (read-only), or null outside a git checkout. */
  gitCommit: string | null;
  /** sha256 over src/ (paths and contents): tells which working tree was measured, committed or not. */
  sourceDigest: string;
  tcpdump: string | null;
  libpcap: string | null;
  tshark: string | null;
  kernel: string;
  os: string;
  cpuModel: string;
  cpus: number;
  memoryBytes: number;
  /** 1, 5 and 15 minute load averages when the run started and when it ended. */
  loadAverageStart: number[];
  loadAverageEnd: number[];
}

function sourceDigest(): string {
  const h = createHash('sha256');
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        h.update(path.relative(repoRoot, p));
        h.update(readFileSync(p));
      }
    }
  };
  walk(path.join(repoRoot, 'src'));
  return h.digest('hex').slice(0, 16);
}

export function environment(): Environment {
  const git = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' });
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  const tcpdumpLines = spawnSync('tcpdump', ['--version'], { encoding: 'utf8' });
  const tdText = `${tcpdumpLines.stdout ?? ''}\n${tcpdumpLines.stderr ?? ''}`.split('\n');
  return {
    node: process.version,
    v8: process.versions.v8,
    rpcgw: pkg.version,
    gitCommit: git.status === 0 ? git.stdout.trim() : null,
    sourceDigest: sourceDigest(),
    tcpdump: tdText.find((l) => l.startsWith('tcpdump version')) ?? null,
    libpcap: tdText.find((l) => l.startsWith('libpcap version')) ?? null,
    tshark: toolVersion('tshark'),
    kernel: os.release(),
    os: `${os.type()} ${os.arch()}`,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cpus: os.cpus().length,
    memoryBytes: os.totalmem(),
    loadAverageStart: os.loadavg(),
    loadAverageEnd: [],
  };
}

/**
 * What the live lab needs from the machine. `rpcgw lab` refuses to start with the list of what
 * is missing; the live tests skip (visibly) on the same list.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { findTool } from './netns.js';
import { findSambaDcerpcd } from './samba.js';

export const LAB_PYTHON = '/usr/bin/python3';

/** One line per missing thing, each saying how to get it; empty when the lab can run. */
export function missingLabPrereqs(opts: { rpcclient?: boolean } = {}): string[] {
  const missing: string[] = [];
  if (process.platform !== 'linux') missing.push(`Linux network namespaces (this is ${process.platform})`);
  if (typeof process.getuid === 'function' && process.getuid() !== 0) missing.push('root (network namespaces, nftables, raw sockets)');
  for (const [t, pkg] of [
    ['ip', 'iproute2'],
    ['ss', 'iproute2'],
    ['nft', 'nftables'],
    ['sysctl', 'procps'],
    ['ethtool', 'ethtool'],
    ['pdbedit', 'samba'],
  ] as const) {
    if (findTool(t) === null) missing.push(`${t} (apt-get install ${pkg})`);
  }
  if (findSambaDcerpcd() === null) missing.push('samba-dcerpcd (apt-get install samba)');
  if (!existsSync(LAB_PYTHON)) {
    missing.push(`${LAB_PYTHON} (apt-get install python3-impacket)`);
  } else {
    const r = spawnSync(LAB_PYTHON, ['-c', 'import impacket.dcerpc.v5.epm'], { timeout: 20_000 });
    if (r.status !== 0) missing.push(`impacket for ${LAB_PYTHON} (apt-get install python3-impacket)`);
  }
  if (opts.rpcclient && findTool('rpcclient') === null) missing.push('rpcclient (apt-get install smbclient)');
  return missing;
}

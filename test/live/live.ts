/**
 * Shared by the live end-to-end tests: the repository root, and whether this machine can run
 * the lab (root, iproute2, nftables, ethtool, Samba, Debian's python3-impacket). When it cannot,
 * the suites are skipped with a warning that says what is missing — never silently.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { missingLabPrereqs } from '../../src/lab/prereqs.js';
import type { Lab } from '../../src/lab/lab.js';
import { exec, execOk, findTool, type LabNetOptions } from '../../src/lab/netns.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Generous: the lab starts in about a second, but CI machines can be slow and run files in parallel. */
export const LIVE_TIMEOUT_MS = 120_000;

/** True when the suite `name` must be skipped; says why on stderr. */
export function skipLive(name: string, opts: { rpcclient?: boolean } = {}): boolean {
  const missing = missingLabPrereqs(opts);
  if (missing.length === 0) return false;
  console.warn(`[rpcgw live tests] ${name}: SKIPPED, the lab needs: ${missing.join('; ')}`);
  return true;
}

/**
 * A router as administrators run one: IP forwarding on and a firewall of their own that drops what
 * it does not know, in input and forward.
 */
export const ADMIN_FIREWALL = `table inet admin {
  chain input { type filter hook input priority 0; policy drop; ct state established,related accept; iif lo accept; ip protocol icmp accept; }
  chain forward { type filter hook forward priority 0; policy drop; ct state established,related accept; }
}
`;

/** The host settings a live suite can run in besides the kernel defaults (gateway.test.ts runs them all). */
export interface HostSetting {
  name: string;
  net: LabNetOptions;
  /** Forwarding on and ADMIN_FIREWALL installed before rpcgw starts. */
  router?: boolean;
}
export const PEERS_OFFLOADS_OFF: HostSetting = { name: 'peers with offloads off', net: { peerOffloads: 'off' } };
export const ROUTER_WITH_ADMIN_FIREWALL: HostSetting = {
  name: 'forwarding on and the administrator\'s own drop-by-default firewall, peers at defaults', net: {}, router: true,
};

/** Makes the lab's gateway the router of ROUTER_WITH_ADMIN_FIREWALL (call before starting the daemon). */
export async function becomeRouter(lab: Lab): Promise<void> {
  const gw = lab.nsName('gateway');
  await execOk(gw, [findTool('sysctl')!, '-q', '-w', 'net.ipv4.ip_forward=1']);
  await execOk(gw, [findTool('nft')!, '-f', '-'], { input: ADMIN_FIREWALL });
}

/** `net.ipv4.conf.<i>.forwarding` of the lab gateway's two interfaces, gw-ext then gw-int ('0' or '1'). */
export async function gatewayForwarding(lab: Lab): Promise<string[]> {
  return Promise.all(['gw-ext', 'gw-int'].map(async (i) => (await exec(lab.nsName('gateway'), [findTool('sysctl')!, '-n', `net.ipv4.conf.${i}.forwarding`])).stdout.trim()));
}

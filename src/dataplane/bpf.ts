/**
 * libpcap filters compiled from the rules: each side captures only what the engine handles, so
 * the gateway's own traffic (and the packets it injects) never reaches the engine.
 *   external: TCP to a rule's external address, on 135 or the rule's mapped ports (not those of
 *             a "kernel" rule: the kernel carries them, so with every rule in kernel mode only
 *             TCP 135 is captured)
 *   internal: TCP from a published server to the gateway's internal address on its NAT source
 *             ports (gateway.natPorts: the gateway's own connections stay out); with notifications,
 *             UDP from such a server to the relay ports (and, for encrypted sessions with a
 *             pinhole, to the rule's notification ports)
 *   outbound rules (clients inside, servers outside): external, TCP from their servers to the
 *             gateway's external address on gateway.natPorts; internal, TCP from their clients
 *             to their servers; with notifications, external UDP to the relay ports
 *   both:     ICMP errors (destination unreachable, time exceeded) quoting a TCP packet, to the
 *             gateway's address on that side, from any router on the path (not only clients and
 *             servers): the engine translates those about a connection it carries (Path MTU
 *             discovery through the gateway); the kernel still sees them too
 */
import { cidr4ToString, ipv4ToString } from '../wire/addr.js';
import { INSPECT_KERNEL, NOTIFY_PINHOLE, type CompiledRules } from '../policy/compiled.js';

/** ICMP destination unreachable (3) or time exceeded (11) whose quoted IPv4 header says TCP (byte 8 + 9). */
const ICMP_ERRORS = '(icmp and (icmp[0] = 3 or icmp[0] = 11) and icmp[17] = 6)';

export interface CaptureFilters {
  external: string;
  internal: string;
}

/** `a/len` of each entry of a compiled net/mask list; null when one of them is everything (no match needed). */
export function netsCidrs(net: Uint32Array, mask: Uint32Array): string[] | null {
  const out: string[] = [];
  for (let i = 0; i < net.length; i++) {
    const m = mask[i]! >>> 0;
    if (m === 0) return null;
    out.push(cidr4ToString(net[i]!, m));
  }
  return out;
}

/** `src net A or src net B` for a compiled net/mask list; '' when one of them is everything. */
function netsTerm(dir: 'src' | 'dst', net: Uint32Array, mask: Uint32Array): string {
  return netsCidrs(net, mask)?.map((c) => `${dir} net ${c}`).join(' or ') ?? '';
}

/** Terms of the outbound rules: what arrives on each side for their connections. */
function outboundTerms(rules: CompiledRules): { external: string[]; internal: string[] } {
  const g = rules.gateway;
  const external: string[] = [];
  const internal: string[] = [];
  for (const r of rules.rules) {
    if (!r.enabled || !r.outbound) continue;
    const servers = netsTerm('src', r.serverNet, r.serverMask);
    external.push(`(dst host ${ipv4ToString(g.externalIp)} and dst portrange ${g.natPortLo}-${g.natPortHi}${servers === '' ? '' : ` and (${servers})`})`);
    const clients = netsTerm('src', r.clientNet, r.clientMask);
    const to = netsTerm('dst', r.serverNet, r.serverMask);
    internal.push(`(not dst host ${ipv4ToString(g.internalIp)}${clients === '' ? '' : ` and (${clients})`}${to === '' ? '' : ` and (${to})`})`);
  }
  return { external, internal };
}

export function captureFilters(rules: CompiledRules): CaptureFilters {
  const out = outboundTerms(rules);
  const enabled = rules.rules.filter((r) => r.enabled && !r.outbound);
  const byExternal = new Map<number, string[]>();
  for (const r of enabled) {
    const ports = byExternal.get(r.externalIp) ?? ['dst port 135'];
    if (r.mappedInspection !== INSPECT_KERNEL) ports.push(r.portLo === r.portHi ? `dst port ${r.portLo}` : `dst portrange ${r.portLo}-${r.portHi}`);
    byExternal.set(r.externalIp, ports);
  }
  const ext = [...byExternal].map(([ip, ports]) => `(dst host ${ipv4ToString(ip)} and (${[...new Set(ports)].join(' or ')}))`);
  ext.push(...out.external);
  const servers = [...new Set(enabled.map((r) => r.serverIp))].map((ip) => `src host ${ipv4ToString(ip)}`);
  const g = rules.gateway;
  // New-mail notifications: datagrams to the relay ports, and (encrypted sessions with a
  // pinhole) to clients on a rule's notification ports.
  const notifying = enabled.filter((r) => r.notifications);
  const udp: string[] = [];
  if (notifying.length > 0) {
    udp.push(`(dst host ${ipv4ToString(g.internalIp)} and dst portrange ${g.notifyRelayLo}-${g.notifyRelayHi})`);
    for (const r of notifying) {
      if (r.notificationsWhenEncrypted === NOTIFY_PINHOLE) udp.push(`(src host ${ipv4ToString(r.serverIp)} and dst portrange ${r.notifyPortLo}-${r.notifyPortHi})`);
    }
  }
  const notifyServers = [...new Set(notifying.map((r) => `src host ${ipv4ToString(r.serverIp)}`))];
  const icmpTo = (hosts: string[]): string => `(${ICMP_ERRORS} and (${hosts.map((h) => `dst host ${h}`).join(' or ')}))`;
  // With no enabled rule nothing may match: a filter that never matches, not an empty one (= all).
  const never = 'ip and tcp and less 1';
  const icmpExt = [...new Set([...byExternal.keys(), ...(out.external.length > 0 ? [g.externalIp] : [])])].map(ipv4ToString);
  const tcpInt = [
    ...(servers.length > 0 ? [`dst host ${ipv4ToString(g.internalIp)} and dst portrange ${g.natPortLo}-${g.natPortHi} and (${servers.join(' or ')})`] : []),
    ...out.internal,
  ];
  return {
    external: ext.length > 0
      ? `ip and ((tcp and (${ext.join(' or ')}))` +
        // Outbound connections' new-mail notifications: their servers' datagrams to the relay ports.
        (rules.rules.some((r) => r.enabled && r.outbound && r.notifications)
          ? ` or (udp and dst host ${ipv4ToString(g.externalIp)} and dst portrange ${g.notifyRelayLo}-${g.notifyRelayHi})` : '') +
        ` or ${icmpTo(icmpExt)})`
      : never,
    internal:
      tcpInt.length === 0
        ? never
        : `ip and ((tcp and ${tcpInt.length === 1 ? tcpInt[0]! : `((${tcpInt.join(') or (')}))`})` +
          (udp.length > 0 ? ` or (udp and (${notifyServers.join(' or ')}) and (${udp.join(' or ')}))` : '') +
          ` or ${icmpTo([ipv4ToString(g.internalIp)])})`,
  };
}

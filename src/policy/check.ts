/**
 * Checks JSON Schema cannot express: numeric port ranges, CIDR host bits, unique rule names,
 * overlapping mapped ranges, addresses that collide with the gateway's own. They run on whatever
 * parts of the document are well-formed (values that already failed the schema are skipped), so
 * one load reports every problem. Also produces the non-fatal warnings.
 */
import { isObject, prop, show } from './document.js';
import type { ProblemSink } from './document.js';
import {
  INTERFACE_ENTRY_EXPECTED, parseInterfaceEntry, parsePortRange, portRangeProblem,
} from './fields.js';
import { ASYNC_EMSMDB_UUID } from './interfaces.js';
import { checkHttpsSections } from './https.js';
import { checkClientNets } from './fields.js';
import { ipv4ToString, parseCidr4, parseIpv4 } from '../wire/addr.js';

/** AsyncEMSMDB's EcDoAsyncWaitEx may sit idle this long (MS-OXCRPC 3.3.4.1: 5 minutes) plus margin. */
export const ASYNC_IDLE_MIN_SECONDS = 360;

/**
 * Why `ip` cannot be a host's unicast address (server, gateway or published address), or null:
 * no packet to or from such an address is ever forwarded or answered as the rules intend.
 */
export function impossibleAddress(ip: number): string | null {
  const a = ip >>> 24;
  if (ip === 0) return 'the unspecified address 0.0.0.0';
  if (ip >>> 0 === 0xffffffff) return 'the limited broadcast address';
  if (a === 0) return 'an address of "this network" (0.0.0.0/8)';
  if (a === 127) return 'a loopback address (127.0.0.0/8)';
  if (a >= 224 && a <= 239) return 'a multicast address (224.0.0.0/4)';
  if (a >= 240) return 'a reserved address (240.0.0.0/4)';
  return null;
}

/** An error at `path` if `ip` is impossible for `what`; true when it was. */
function refuseImpossible(sink: ProblemSink, path: string, ip: number, text: unknown, what: string): boolean {
  const why = ip >= 0 ? impossibleAddress(ip) : null;
  if (why === null) return false;
  sink.error(path, `expected ${what}, found ${show(text)} (${why})`);
  return true;
}

/** A gateway-side address with what it is called in messages. */
interface NamedAddress {
  ip: number;
  what: string;
}

/** The value at `path` if it is a string and has no error yet. */
function cleanString(sink: ProblemSink, path: string, v: unknown): string | undefined {
  return typeof v === 'string' && sink.clean(path) ? v : undefined;
}

function cleanIp(sink: ProblemSink, path: string, v: unknown): number {
  const s = cleanString(sink, path, v);
  return s === undefined ? -1 : parseIpv4(s);
}

interface GatewayFacts {
  externalIp: number;
  internalIp: number;
  maxMappingsPerClient: number;
  /** gateway.internal.network, or null when not given or invalid. */
  internalNet: { net: number; mask: number; text: string } | null;
}

function checkGateway(sink: ProblemSink, gateway: unknown, kernelRule: boolean): GatewayFacts {
  const ext = prop(gateway, 'external');
  const int = prop(gateway, 'internal');
  let externalIp = cleanIp(sink, '/gateway/external/address', prop(ext, 'address'));
  let internalIp = cleanIp(sink, '/gateway/internal/address', prop(int, 'address'));
  if (refuseImpossible(sink, '/gateway/external/address', externalIp, prop(ext, 'address'), "the gateway's own unicast address")) externalIp = -1;
  if (refuseImpossible(sink, '/gateway/internal/address', internalIp, prop(int, 'address'), "the gateway's own unicast address")) internalIp = -1;
  if (prop(ext, 'network') !== undefined) {
    sink.error('/gateway/external/network', 'expected no "network" on the external side (only gateway.internal.network, the servers\' network, is checked)');
  }
  let internalNet: GatewayFacts['internalNet'] = null;
  const netText = cleanString(sink, '/gateway/internal/network', prop(int, 'network'));
  if (netText !== undefined) {
    const cidr = parseCidr4(netText);
    if (cidr === null) sink.error('/gateway/internal/network', `expected a CIDR such as "192.0.2.0/24", found ${show(netText)}`);
    else if (cidr.addr !== cidr.network) {
      sink.error('/gateway/internal/network', `expected a network address with the host bits zero, found ${show(netText)} (did you mean "${ipv4ToString(cidr.network)}/${cidr.prefixLen}"?)`);
    } else {
      internalNet = { net: cidr.network, mask: cidr.mask, text: netText };
      if (internalIp >= 0 && ((internalIp & cidr.mask) >>> 0) !== cidr.network) {
        sink.error('/gateway/internal/address', `expected an address on gateway.internal.network ${netText}, found ${show(prop(int, 'address'))}`);
      }
    }
  }
  if (externalIp >= 0 && externalIp === internalIp) {
    sink.error('/gateway/internal/address',
      `expected an address different from gateway.external.address, found ${show(prop(int, 'address'))}`);
  }
  const extIf = cleanString(sink, '/gateway/external/interface', prop(ext, 'interface'));
  const intIf = cleanString(sink, '/gateway/internal/interface', prop(int, 'interface'));
  if (extIf !== undefined && extIf === intIf) {
    sink.error('/gateway/internal/interface',
      `expected an interface different from gateway.external.interface, found ${show(intIf)} (the gateway tells the sides apart by interface)`);
  }
  const relayText = cleanString(sink, '/gateway/notificationRelayPorts', prop(gateway, 'notificationRelayPorts'));
  if (relayText !== undefined) {
    const problem = portRangeProblem(relayText);
    if (problem !== null) sink.error('/gateway/notificationRelayPorts', problem);
  }
  const natText = cleanString(sink, '/gateway/natPorts', prop(gateway, 'natPorts'));
  if (natText !== undefined) {
    const problem = portRangeProblem(natText);
    if (problem !== null) sink.error('/gateway/natPorts', problem);
  }
  const kernelNatText = cleanString(sink, '/gateway/kernelNatPorts', prop(gateway, 'kernelNatPorts'));
  if (kernelNatText !== undefined) {
    const problem = portRangeProblem(kernelNatText);
    if (problem !== null) sink.error('/gateway/kernelNatPorts', problem);
    const k = problem === null && kernelRule ? parsePortRange(kernelNatText) : null;
    // With a "kernel" rule, both share the internal address with it: its answers would be taken for the daemon's.
    for (const [name, text] of [['natPorts', natText], ['notificationRelayPorts', relayText]] as const) {
      const o = k !== null && text !== undefined && portRangeProblem(text) === null ? parsePortRange(text) : null;
      if (k !== null && o !== null && k.lo <= o.hi && o.lo <= k.hi) {
        sink.error('/gateway/kernelNatPorts', `expected a range that does not overlap gateway.${name} ${show(text)}, found ${show(kernelNatText)}`);
      }
    }
  }
  const listen = cleanString(sink, '/gateway/metrics/listen', prop(prop(gateway, 'metrics'), 'listen'));
  if (listen !== undefined) {
    const port = Number(listen.slice(listen.lastIndexOf(':') + 1));
    if (!(port >= 1 && port <= 65535)) {
      sink.error('/gateway/metrics/listen',
        `expected "ADDRESS:PORT" with an IPv4 address and 1 <= PORT <= 65535, found ${show(listen)}`);
    }
  }
  const limits = prop(gateway, 'limits');
  const perFlow = prop(limits, 'maxHeldBytesPerFlow');
  const total = prop(limits, 'maxHeldBytesTotal');
  if (typeof perFlow === 'number' && typeof total === 'number' && sink.clean('/gateway/limits/maxHeldBytesPerFlow') &&
      sink.clean('/gateway/limits/maxHeldBytesTotal') && total < perFlow) {
    sink.error('/gateway/limits/maxHeldBytesTotal',
      `expected at least maxHeldBytesPerFlow (${perFlow}), found ${total}`);
  }
  const perClient = prop(limits, 'maxMappingsPerClient');
  return { externalIp, internalIp, maxMappingsPerClient: typeof perClient === 'number' ? perClient : -1, internalNet };
}

/** What check.ts learned about one rule, for the cross-rule checks. -1 / null: unknown or invalid. */
interface RuleFacts {
  index: number;
  path: string;
  name: string | undefined;
  enabled: boolean;
  externalIp: number;
  ports: { lo: number; hi: number } | null;
  portsText: string;
  /** [net, mask] pairs, or null if any client entry is invalid. */
  clients: Array<[number, number]> | null;
}

function checkInterfaces(sink: ProblemSink, path: string, list: unknown): void {
  if (!Array.isArray(list) || !sink.clean(path)) return;
  let any = false;
  list.forEach((entry: unknown, i) => {
    const text = cleanString(sink, `${path}/${i}`, entry);
    if (text === undefined) return;
    const parsed = parseInterfaceEntry(text);
    if (parsed === null) sink.error(`${path}/${i}`, `expected ${INTERFACE_ENTRY_EXPECTED}, found ${show(text)}`);
    else if (parsed.kind === 'any') any = true;
  });
  if (any && list.length > 1) {
    sink.warn(path, '"any" already allows every interface the server registers; the other entries add nothing');
  }
}

/** Can this rule let AsyncEMSMDB through (so the 5-minute idle wait matters)? */
function carriesAsyncEmsmdb(list: unknown): boolean {
  if (!Array.isArray(list)) return false;
  return list.some((e: unknown) => {
    if (typeof e !== 'string') return false;
    const parsed = parseInterfaceEntry(e);
    if (parsed === null) return false;
    if (parsed.kind === 'any') return true;
    if (parsed.kind === 'set') return parsed.members.some((m) => m.uuid === ASYNC_EMSMDB_UUID);
    return parsed.uuid === ASYNC_EMSMDB_UUID;
  });
}

/** Fields that only mean something when the gateway publishes a server (inbound). */
const INBOUND_ONLY = ['server', 'externalAddress', 'mappedPorts', 'mappedInspection', 'requireEncryption'] as const;

/**
 * An outbound rule: internal clients to external servers, source-translated to
 * gateway.external.address; nothing is published, so the inbound fields are refused.
 */
function checkOutboundRule(sink: ProblemSink, rule: unknown, index: number): RuleFacts {
  const path = `/rules/${index}`;
  const name = prop(rule, 'name');
  for (const field of INBOUND_ONLY) {
    // requireEncryption and mappedInspection carry schema defaults: only a non-default value is an error.
    const v = prop(rule, field);
    if (v === undefined || (field === 'requireEncryption' && v === false) || (field === 'mappedInspection' && v === 'full')) continue;
    sink.error(`${path}/${field}`, `expected no ${JSON.stringify(field)} on an outbound rule (it publishes nothing; the NAT source is gateway.external.address), found ${show(v)}`);
  }
  checkClientNets(sink, `${path}/clients`, prop(rule, 'clients'));
  checkClientNets(sink, `${path}/servers`, prop(rule, 'servers'));
  checkInterfaces(sink, `${path}/interfaces`, prop(rule, 'interfaces'));
  // externalIp -1: outbound rules take no part in the published-address overlap and shadow checks.
  return { index, path, name: typeof name === 'string' ? name : undefined, enabled: prop(rule, 'enabled') !== false, externalIp: -1, ports: null, portsText: '', clients: null };
}

function checkRule(sink: ProblemSink, rule: unknown, index: number, gw: GatewayFacts): RuleFacts {
  if (prop(rule, 'direction') === 'outbound') return checkOutboundRule(sink, rule, index);
  const path = `/rules/${index}`;
  const name = prop(rule, 'name');
  const enabled = prop(rule, 'enabled') !== false;
  const gatewayAddresses: NamedAddress[] = [
    { ip: gw.externalIp, what: 'gateway.external.address' },
    { ip: gw.internalIp, what: 'gateway.internal.address' },
  ];

  // externalAddress (explicit, or the gateway's external address by default).
  const extText = prop(rule, 'externalAddress');
  let externalIp = extText === undefined ? gw.externalIp : cleanIp(sink, `${path}/externalAddress`, extText);
  if (extText !== undefined && refuseImpossible(sink, `${path}/externalAddress`, externalIp, extText, 'a public unicast address clients connect to')) externalIp = -1;
  if (extText !== undefined && externalIp >= 0 && externalIp === gw.internalIp) {
    sink.error(`${path}/externalAddress`,
      `expected a public address clients connect to, found ${show(extText)} (that is gateway.internal.address)`);
    externalIp = -1;
  }

  const serverText = prop(rule, 'server');
  const serverIp = cleanIp(sink, `${path}/server`, serverText);
  if (refuseImpossible(sink, `${path}/server`, serverIp, serverText, "the published server's unicast address")) {
    // reported
  } else if (serverIp >= 0 && gw.internalNet !== null && ((serverIp & gw.internalNet.mask) >>> 0) !== gw.internalNet.net) {
    sink.error(`${path}/server`, `expected a server on gateway.internal.network ${gw.internalNet.text}, found ${show(serverText)}`);
  } else if (serverIp >= 0) {
    const self = [...gatewayAddresses, { ip: externalIp, what: "this rule's externalAddress" }]
      .find((a) => a.ip >= 0 && a.ip === serverIp);
    if (self !== undefined) {
      sink.error(`${path}/server`,
        `expected the published server's own address, found ${show(serverText)} (that is ${self.what}, the gateway itself)`);
    }
  }

  let ports: { lo: number; hi: number } | null = null;
  const portsText = cleanString(sink, `${path}/mappedPorts`, prop(rule, 'mappedPorts'));
  if (portsText !== undefined) {
    const problem = portRangeProblem(portsText);
    if (problem === null) ports = parsePortRange(portsText);
    else sink.error(`${path}/mappedPorts`, problem);
  }
  const notifyText = cleanString(sink, `${path}/notificationPorts`, prop(rule, 'notificationPorts'));
  if (notifyText !== undefined) {
    const problem = portRangeProblem(notifyText);
    if (problem !== null) sink.error(`${path}/notificationPorts`, problem);
  }

  const clients = checkClientNets(sink, `${path}/clients`, prop(rule, 'clients'));
  checkInterfaces(sink, `${path}/interfaces`, prop(rule, 'interfaces'));
  warnRule(sink, rule, path, gw);
  checkInspection(sink, rule, path);

  return {
    index, path, name: typeof name === 'string' ? name : undefined, enabled, externalIp,
    ports, portsText: portsText ?? '', clients,
  };
}

/**
 * "kernel" hands the mapped connections to nftables: no PDU is read after ept_map, so nothing that
 * needs one (the auth level of each bind, the notification registration) can be enforced.
 */
function checkInspection(sink: ProblemSink, rule: unknown, path: string): void {
  if (prop(rule, 'mappedInspection') !== 'kernel') return;
  for (const field of ['requireEncryption', 'notifications'] as const) {
    if (prop(rule, field) !== true) continue;
    sink.error(`${path}/mappedInspection`,
      `expected "full" with ${field}: true, found "kernel" (the kernel forwards mapped connections without reading ` +
      `their PDUs, so ${field === 'requireEncryption' ? 'the auth level of binds' : 'notification registrations'} cannot be ` +
      `checked; use "full" or set ${field} to false)`);
  }
}

function warnRule(sink: ProblemSink, rule: unknown, path: string, gw: GatewayFacts): void {
  const idle = prop(rule, 'idleTimeoutSeconds');
  if (typeof idle === 'number' && idle < ASYNC_IDLE_MIN_SECONDS && carriesAsyncEmsmdb(prop(rule, 'interfaces'))) {
    sink.warn(`${path}/idleTimeoutSeconds`,
      `${idle} s is shorter than the 5 minutes AsyncEMSMDB (Outlook 2007+ notifications) waits on a quiet ` +
      `connection: such connections will be cut; use ${ASYNC_IDLE_MIN_SECONDS} or more (default 900)`);
  }
  const perClient = prop(rule, 'maxMappingsPerClient');
  if (typeof perClient === 'number' && gw.maxMappingsPerClient > 0 && perClient > gw.maxMappingsPerClient) {
    sink.warn(`${path}/maxMappingsPerClient`,
      `${perClient} has no effect above gateway.limits.maxMappingsPerClient (${gw.maxMappingsPerClient})`);
  }
  if (prop(rule, 'requireEncryption') === true && prop(rule, 'notifications') === true) {
    sink.warn(`${path}/notifications`,
      'with requireEncryption every registration is encrypted and cannot be rewritten: ' +
      `only notificationsWhenEncrypted (${show(prop(rule, 'notificationsWhenEncrypted'))}) applies`);
  }
}

function checkUniqueNames(sink: ProblemSink, facts: RuleFacts[]): void {
  const firstByName = new Map<string, RuleFacts>();
  for (const f of facts) {
    if (f.name === undefined || !sink.clean(`${f.path}/name`)) continue;
    const first = firstByName.get(f.name);
    if (first === undefined) firstByName.set(f.name, f);
    else sink.error(`${f.path}/name`, `expected a name no other rule uses, found ${show(f.name)} (also the name of ${first.path})`);
  }
}

function label(f: RuleFacts): string {
  return f.name === undefined ? f.path : `rule ${JSON.stringify(f.name)} (${f.path})`;
}

function checkOverlaps(sink: ProblemSink, facts: RuleFacts[]): void {
  for (let j = 0; j < facts.length; j++) {
    const b = facts[j];
    if (b === undefined || !b.enabled || b.ports === null || b.externalIp < 0) continue;
    for (let i = 0; i < j; i++) {
      const a = facts[i];
      if (a === undefined || !a.enabled || a.ports === null || a.externalIp !== b.externalIp) continue;
      if (a.ports.lo <= b.ports.hi && b.ports.lo <= a.ports.hi) {
        sink.error(`${b.path}/mappedPorts`,
          `expected a range that does not overlap ${show(a.portsText)} of ${label(a)} on externalAddress ` +
          `${ipv4ToString(b.externalIp)}, found ${show(b.portsText)}`);
        break;
      }
    }
  }
}

/** Warns about enabled rules an earlier rule always wins against (same address, wider clients). */
function warnShadowed(sink: ProblemSink, facts: RuleFacts[]): void {
  for (let j = 0; j < facts.length; j++) {
    const b = facts[j];
    if (b === undefined || !b.enabled || b.clients === null || b.externalIp < 0) continue;
    for (let i = 0; i < j; i++) {
      const a = facts[i];
      if (a === undefined || !a.enabled || a.clients === null || a.externalIp !== b.externalIp) continue;
      const aClients = a.clients;
      const covered = b.clients.every(([net, mask]) =>
        aClients.some(([aNet, aMask]) => (aMask & mask) >>> 0 === aMask && ((net & aMask) >>> 0) === aNet));
      if (covered) {
        sink.warn(`${b.path}/clients`,
          `this rule is never selected: ${label(a)} comes first on the same externalAddress and matches all its clients`);
        break;
      }
    }
  }
}

/** Runs every semantic check on `doc` (which may have schema errors) and records the results in `sink`. */
export function checkSemantics(doc: unknown, sink: ProblemSink): void {
  if (!isObject(doc)) return;
  const rules = prop(doc, 'rules');
  const kernelRule = Array.isArray(rules) && rules.some((r: unknown) => prop(r, 'mappedInspection') === 'kernel' && prop(r, 'enabled') !== false);
  const gw = checkGateway(sink, doc.gateway, kernelRule);
  if (!Array.isArray(rules)) return;
  const facts = rules.map((r: unknown, i) => checkRule(sink, r, i, gw));
  checkUniqueNames(sink, facts);
  checkOverlaps(sink, facts);
  warnShadowed(sink, facts);
  checkHttpsSections(doc, sink);
  if (rules.length > 0 && facts.every((f) => !f.enabled)) {
    sink.warn('/rules', 'no rule is enabled: the gateway publishes nothing');
  }
}

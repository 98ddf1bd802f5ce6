/**
 * Turns a validated rules document into numbers, once: addresses to u32, CIDRs to net/mask
 * arrays, interface entries to wire-order UUID bytes and version bounds, seconds to ms.
 * Only called after the schema and the semantic checks passed, so parse failures here are bugs.
 */
import { parseUuid } from '../dcerpc/uuid.js';
import {
  INSPECT_FULL, INSPECT_KERNEL, LOOKUP_ALLOW, LOOKUP_DENY, LOOKUP_PUBLISHED, NOTIFY_DROP, NOTIFY_PINHOLE, UUID_LEN,
} from './compiled.js';
import type { CompiledGateway, CompiledRule, CompiledRules, LookupMode, NotifyMode } from './compiled.js';
import type { RuleDocument, RulesDocument } from './document.js';
import { parseInterfaceEntry, parsePortRange } from './fields.js';
import { interfaceName } from './interfaces.js';
import { parseCidr4, parseIpv4 } from '../wire/addr.js';
import { compileHttps } from './https.js';
import type { CompiledInterfaces } from './https.js';

const LOOKUP_BY_NAME: Record<RuleDocument['lookup'], LookupMode> = {
  deny: LOOKUP_DENY, published: LOOKUP_PUBLISHED, allow: LOOKUP_ALLOW,
};
const NOTIFY_BY_NAME: Record<RuleDocument['notificationsWhenEncrypted'], NotifyMode> = {
  drop: NOTIFY_DROP, pinhole: NOTIFY_PINHOLE,
};

function ip(text: string): number {
  const v = parseIpv4(text);
  if (v < 0) throw new Error(`policy bug: unvalidated address ${text}`);
  return v;
}

function range(text: string): { lo: number; hi: number } {
  const r = parsePortRange(text);
  if (r === null) throw new Error(`policy bug: unvalidated port range ${text}`);
  return r;
}

interface IfEntry {
  uuid: string;
  major: number;
  minor: number;
  label: string;
}

function versionText(major: number, minor: number): string {
  return major < 0 ? 'any' : `${major}.${minor}`;
}

/** Expands sets, drops exact duplicates; `any` is reported through the flag, not as an entry. */
function expandInterfaces(list: string[]): { any: boolean; entries: IfEntry[] } {
  let any = false;
  const entries: IfEntry[] = [];
  const add = (uuid: string, major: number, minor: number): void => {
    if (entries.some((e) => e.uuid === uuid && e.major === major && e.minor === minor)) return;
    const name = interfaceName(uuid);
    const label = `${name === undefined ? '' : `${name} `}${uuid}@${versionText(major, minor)}`;
    entries.push({ uuid, major, minor, label });
  };
  for (const text of list) {
    const e = parseInterfaceEntry(text);
    if (e === null) throw new Error(`policy bug: unvalidated interface ${text}`);
    if (e.kind === 'any') any = true;
    else if (e.kind === 'set') for (const m of e.members) add(m.uuid, m.major, m.minor);
    else add(e.uuid, e.major, e.minor);
  }
  return { any, entries };
}

/** An `interfaces` list as the allow-list interfaceAllowed reads (rules and RPC over HTTP share it). */
export function compileInterfaces(list: string[]): CompiledInterfaces {
  const { any, entries } = expandInterfaces(list);
  const ifUuid = new Uint8Array(entries.length * UUID_LEN);
  entries.forEach((e, i) => {
    if (!parseUuid(e.uuid, ifUuid, i * UUID_LEN, true)) throw new Error(`policy bug: bad UUID ${e.uuid}`);
  });
  return {
    anyInterface: any, ifUuid,
    ifMajor: Int32Array.from(entries, (e) => e.major),
    ifMinor: Int32Array.from(entries, (e) => e.minor),
    ifLabel: entries.map((e) => e.label),
  };
}

/** A `clients` list as the net/mask arrays clientAllowed reads (rules and RPC over HTTP share it). */
export function compileClients(list: string[]): { clientNet: Uint32Array; clientMask: Uint32Array } {
  const clientNet = new Uint32Array(list.length);
  const clientMask = new Uint32Array(list.length);
  list.forEach((c, i) => {
    const cidr = parseCidr4(c);
    if (cidr === null) throw new Error(`policy bug: unvalidated CIDR ${c}`);
    clientNet[i] = cidr.network;
    clientMask[i] = cidr.mask;
  });
  return { clientNet, clientMask };
}

function compileRule(r: RuleDocument, index: number, gatewayExternal: string, gatewayPerClient: number): CompiledRule {
  const { clientNet, clientMask } = compileClients(r.clients);
  const outbound = r.direction === 'outbound';
  const ports = outbound ? { lo: 1, hi: 0 } : range(r.mappedPorts);
  const notify = range(r.notificationPorts);
  const servers = compileClients(r.servers ?? []);
  return {
    index,
    name: r.name,
    enabled: r.enabled,
    outbound,
    serverNet: servers.clientNet,
    serverMask: servers.clientMask,
    serverIp: outbound ? 0 : ip(r.server),
    externalIp: ip(outbound ? gatewayExternal : r.externalAddress ?? gatewayExternal),
    clientNet,
    clientMask,
    ...compileInterfaces(r.interfaces),
    portLo: ports.lo,
    portHi: ports.hi,
    pinholeTimeoutMs: r.pinholeTimeoutSeconds * 1000,
    idleTimeoutMs: r.idleTimeoutSeconds * 1000,
    maxMappingsPerClient: r.maxMappingsPerClient ?? gatewayPerClient,
    requireEncryption: r.requireEncryption,
    mappedInspection: r.mappedInspection === 'kernel' ? INSPECT_KERNEL : INSPECT_FULL,
    lookup: LOOKUP_BY_NAME[r.lookup],
    notifications: r.notifications,
    notificationsWhenEncrypted: NOTIFY_BY_NAME[r.notificationsWhenEncrypted],
    notifyPortLo: notify.lo,
    notifyPortHi: notify.hi,
  };
}

/**
 * Compiles `doc` (schema-valid, semantically checked, schema defaults filled) and fills the
 * defaults that depend on the gateway section into it, so `source` shows every effective value.
 */
export function compileDocument(doc: RulesDocument): CompiledRules {
  const g = doc.gateway;
  for (const r of doc.rules) {
    if (r.direction !== 'outbound') r.externalAddress ??= g.external.address;
    r.maxMappingsPerClient ??= g.limits.maxMappingsPerClient;
  }
  const gateway: CompiledGateway = {
    externalInterface: g.external.interface,
    externalIp: ip(g.external.address),
    internalInterface: g.internal.interface,
    internalIp: ip(g.internal.address),
    limits: { ...g.limits },
    metricsListen: g.metrics?.listen ?? null,
    adminSocket: g.adminSocket,
    notifyRelayLo: range(g.notificationRelayPorts).lo,
    notifyRelayHi: range(g.notificationRelayPorts).hi,
    natPortLo: range(g.natPorts).lo,
    natPortHi: range(g.natPorts).hi,
    kernelNatPortLo: range(g.kernelNatPorts).lo,
    kernelNatPortHi: range(g.kernelNatPorts).hi,
    logLevel: g.log.level,
  };
  const rules = doc.rules.map((r, i) => compileRule(r, i, g.external.address, g.limits.maxMappingsPerClient));
  const https = compileHttps(doc as unknown as Record<string, unknown>, compileInterfaces, compileClients);
  return { gateway, rules, https, source: doc };
}

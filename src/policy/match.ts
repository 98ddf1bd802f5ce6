/**
 * Rule matching on the packet path: numbers and typed arrays only, no allocation, no strings.
 * Addresses are u32 (network byte order read as a big-endian number: 192.0.2.10 = 0xC000020A);
 * callers may pass them signed (`a | 0`), every comparison normalises with `>>> 0`.
 */
import { uuidEqualsAcrossOrder } from '../dcerpc/uuid.js';
import { UUID_LEN } from './compiled.js';
import type { CompiledRule, CompiledRules } from './compiled.js';

/** Does `rule`'s clients list contain address `ip`? */
export function clientAllowed(rule: Pick<CompiledRule, 'clientNet' | 'clientMask'>, ip: number): boolean {
  return inNets(rule.clientNet, rule.clientMask, ip);
}

/** Is `ip` in one of the networks net[i] under mask[i]? */
export function inNets(net: Uint32Array, mask: Uint32Array, ip: number): boolean {
  for (let i = 0; i < net.length; i++) {
    if (((ip & (mask[i] ?? 0)) >>> 0) === net[i]) return true;
  }
  return false;
}

/**
 * The rule for a connection from `clientIp` to `externalIp`:135, firewall order: the index of
 * the first enabled rule on that external address whose clients contain the client; -1 if none.
 */
export function selectRule(rules: CompiledRules, externalIp: number, clientIp: number): number {
  const list = rules.rules;
  const ext = externalIp >>> 0;
  for (let i = 0; i < list.length; i++) {
    const r = list[i];
    if (r !== undefined && r.enabled && !r.outbound && r.externalIp === ext && clientAllowed(r, clientIp)) return i;
  }
  return -1;
}

/**
 * The outbound rule for a connection from internal `clientIp` to external `serverIp`, firewall
 * order: the first enabled outbound rule whose clients contain the client and whose servers
 * contain the server; -1 if none.
 */
export function selectOutboundRule(rules: CompiledRules, clientIp: number, serverIp: number): number {
  const list = rules.rules;
  for (let i = 0; i < list.length; i++) {
    const r = list[i];
    if (r === undefined || !r.enabled || !r.outbound || !clientAllowed(r, clientIp)) continue;
    if (inNets(r.serverNet, r.serverMask, serverIp)) return i;
  }
  return -1;
}

/**
 * Is the interface whose UUID is at `buf[uuidOff]` (16 bytes; Data1..3 little-endian when
 * `uuidLittleEndian`, else big-endian, per the PDU's drep) at version major.minor allowed by
 * `rule`? Major must be equal and minor at most the rule's (C706 compatibility); entries
 * without a version allow any. `any` allows everything. Caller guarantees the 16 bytes.
 */
export function interfaceAllowed(
  rule: Pick<CompiledRule, 'anyInterface' | 'ifUuid' | 'ifMajor' | 'ifMinor'>, buf: Uint8Array, uuidOff: number, uuidLittleEndian: boolean, major: number, minor: number,
): boolean {
  if (rule.anyInterface) return true;
  const uuids = rule.ifUuid;
  const majors = rule.ifMajor;
  const minors = rule.ifMinor;
  for (let i = 0; i < majors.length; i++) {
    if (!uuidEqualsAcrossOrder(uuids, i * UUID_LEN, true, buf, uuidOff, uuidLittleEndian)) continue;
    const wantMajor = majors[i] ?? -1;
    if (wantMajor < 0) return true;
    const maxMinor = minors[i] ?? -1;
    if (major === wantMajor && (maxMinor < 0 || minor <= maxMinor)) return true;
  }
  return false;
}

/**
 * Which enabled rule's mapped range on `externalIp` holds `port` (ranges of enabled rules on one
 * address never overlap, so there is at most one); -1 if none.
 */
export function ruleForMappedPort(rules: CompiledRules, externalIp: number, port: number): number {
  const list = rules.rules;
  const ext = externalIp >>> 0;
  for (let i = 0; i < list.length; i++) {
    const r = list[i];
    if (r !== undefined && r.enabled && r.externalIp === ext && port >= r.portLo && port <= r.portHi) return i;
  }
  return -1;
}

/**
 * Records and listings of connections and mappings: the strings an operator reads (the firewall
 * log's records, `rpcgw mappings` / `rpcgw connections`), made from the tables' numbers only
 * when someone listens or asks.
 */
import { ipv4ToString } from '../wire/addr.js';
import { FLOW_EPM } from '../nat/flow-table.js';
import type { FlowTable } from '../nat/flow-table.js';
import type { MappingTable } from '../nat/mapping-table.js';
import type { ConnectionRecord, EngineEvent, MappingRecord } from './events.js';
import type { RuleSlots } from './rule-slots.js';

/** A live mapping as `rpcgw mappings` lists it: its record and its times. */
export interface MappingListing extends MappingRecord {
  /** "outbound": an internal client's pinhole to an external server (external = that server's port). */
  direction: Direction;
  ageMs: number;
  idleMs: number;
  connections: number;
  /** Time left before the pinhole closes; null while connections hold it open. */
  expiresInMs: number | null;
}

/** A live connection as `rpcgw connections` lists it: its record (without the mapping) and its times and state. */
export type Direction = 'inbound' | 'outbound';

export interface ConnectionListing extends Omit<ConnectionRecord, 'mapping'> {
  /** "outbound": client is the internal one, server the external one, external = gateway = the NAT source. */
  direction: Direction;
  ageMs: number;
  idleMs: number;
  state: number;
}

export function connectionRecord(fl: FlowTable, slots: RuleSlots, flow: number): ConnectionRecord {
  const m = fl.mappingIdx(flow);
  return {
    flow, kind: fl.kind(flow) === FLOW_EPM ? 'epm' : 'mapped', rule: slots.name(fl.ruleIdx(flow)),
    client: `${ipv4ToString(fl.clientIp(flow))}:${fl.clientPort(flow)}`, external: `${ipv4ToString(fl.extIp(flow))}:${fl.extPort(flow)}`,
    gateway: `${ipv4ToString(fl.gwIp(flow))}:${fl.gwPort(flow)}`, server: `${ipv4ToString(fl.serverIp(flow))}:${fl.serverPort(flow)}`,
    ...(m >= 0 ? { mapping: m } : {}),
  };
}

export function mappingRecord(m: MappingTable, slots: RuleSlots, id: number): MappingRecord {
  return {
    mapping: id, rule: slots.name(m.ruleIdx(id)), client: ipv4ToString(m.clientIp(id)),
    external: `${ipv4ToString(m.extIp(id))}:${m.extPort(id)}`, server: `${ipv4ToString(m.serverIp(id))}:${m.serverPort(id)}`,
  };
}

/** `keep` (by id, numbers only) filters before any listing is built: `rpcgw mappings --client` at a million entries. */
export function listMappings(m: MappingTable, slots: RuleSlots, nowMs: number, keep?: (id: number) => boolean): MappingListing[] {
  const out: MappingListing[] = [];
  m.forEach((id) => {
    if (keep !== undefined && !keep(id)) return;
    const exp = m.expiresAtMs(id);
    out.push({
      ...mappingRecord(m, slots, id), direction: slots.rule(m.ruleIdx(id))?.outbound === true ? 'outbound' : 'inbound', ageMs: nowMs - m.createdMs(id), idleMs: nowMs - m.lastActivityMs(id), connections: m.connCount(id),
      expiresInMs: exp < 0 ? null : Math.max(0, exp - nowMs),
    });
  });
  return out;
}

export function listConnections(fl: FlowTable, slots: RuleSlots, nowMs: number, keep?: (id: number) => boolean): ConnectionListing[] {
  const out: ConnectionListing[] = [];
  fl.forEach((id) => {
    if (keep !== undefined && !keep(id)) return;
    const r = connectionRecord(fl, slots, id);
    // An outbound flow's row names sides (FlowTable header): its RPC client is the internal peer.
    const outbound = fl.outbound(id);
    out.push({
      flow: id, kind: r.kind, rule: r.rule, direction: outbound ? 'outbound' : 'inbound', client: outbound ? r.server : r.client, external: r.external,
      gateway: outbound ? r.external : r.gateway, server: outbound ? r.client : r.server,
      ageMs: nowMs - fl.createdMs(id), idleMs: nowMs - fl.lastSeenMs(id), state: fl.state(id),
    });
  });
  return out;
}

/** A connection's numbers into `e` (the engine's event record). */
export function fillConnection(e: EngineEvent, fl: FlowTable, slots: RuleSlots, flow: number): EngineEvent {
  e.names = slots;
  e.flow = flow;
  e.kind = fl.kind(flow);
  e.rule = fl.ruleIdx(flow);
  e.clientIp = fl.clientIp(flow);
  e.clientPort = fl.clientPort(flow);
  e.extIp = fl.extIp(flow);
  e.extPort = fl.extPort(flow);
  e.gwIp = fl.gwIp(flow);
  e.gwPort = fl.gwPort(flow);
  e.serverIp = fl.serverIp(flow);
  e.serverPort = fl.serverPort(flow);
  e.mapping = fl.mappingIdx(flow);
  return e;
}

/** A connection leaving the table: its numbers, `code` (CLOSE_*), counts and age into `e`. */
export function fillClosed(e: EngineEvent, fl: FlowTable, slots: RuleSlots, flow: number, code: number, nowMs: number): EngineEvent {
  fillConnection(e, fl, slots, flow);
  e.code = code;
  e.packetsFromClient = fl.packetsFromClient(flow);
  e.bytesFromClient = fl.bytesFromClient(flow);
  e.packetsFromServer = fl.packetsFromServer(flow);
  e.bytesFromServer = fl.bytesFromServer(flow);
  e.durationMs = nowMs - fl.createdMs(flow);
  return e;
}

/** A connection refused: its numbers, `code` (REFUSE_*), the leg's account and the interface it named ('' for none) into `e`. */
export function fillRefused(e: EngineEvent, fl: FlowTable, slots: RuleSlots, flow: number, code: number, detail: string, iface: string): EngineEvent {
  fillConnection(e, fl, slots, flow);
  e.code = code;
  e.detail = detail;
  e.hasInterface = false;
  e.interfaceText = iface;
  return e;
}

/** A mapping's numbers into `e`. */
export function fillMapping(e: EngineEvent, m: MappingTable, slots: RuleSlots, id: number): EngineEvent {
  e.names = slots;
  e.mapping = id;
  e.rule = m.ruleIdx(id);
  e.clientIp = m.clientIp(id);
  e.extIp = m.extIp(id);
  e.extPort = m.extPort(id);
  e.serverIp = m.serverIp(id);
  e.serverPort = m.serverPort(id);
  return e;
}

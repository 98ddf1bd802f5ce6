/**
 * The engine's state to and from a snapshot (snapshot.ts has the format): which pinholes and
 * connections are carried over a restart, and how a restored entry is checked against the rules
 * in force before it is put back in the tables.
 */
import { ipv4ToString } from '../wire/addr.js';
import { FLOW_EPM, FLOW_ERR_NAMES, FLOW_MAPPED, FLOW_ST_ESTABLISHED, isClosedState } from '../nat/flow-table.js';
import type { FlowTable } from '../nat/flow-table.js';
import { MAP_ERR_NAMES } from '../nat/mapping-table.js';
import type { MappingTable } from '../nat/mapping-table.js';
import type { NotifyRelay } from '../nat/notify-relay.js';
import type { CompiledRule } from '../policy/compiled.js';
import { MAX_EDITS } from '../stream/seqadj.js';
import type { Conns } from './conn.js';
import { connectionRecord, mappingRecord } from './records.js';
import type { RuleSlots } from './rule-slots.js';
import { SNAPSHOT_FORMAT, SNAPSHOT_VERSION, checkSnapshot, hex, readConnectionEntry, readMappingEntry } from './snapshot.js';
import type { ConnectionSnapshot, EngineSnapshot, MappingSnapshot, RestoreResult } from './snapshot.js';

/** The parts of an engine a snapshot reads and a restore fills. */
export interface EngineTables {
  readonly flows: FlowTable;
  readonly mappings: MappingTable;
  readonly conns: Conns;
  readonly slots: RuleSlots;
  readonly notify: NotifyRelay;
  readonly gwIp: number;
  readonly epmPort: number;
}

/**
 * The pinholes and the connections that can be carried on, as plain data. A connection is
 * carried only between PDUs with nothing held, established and not closing; the others are
 * counted in `left` by reason.
 */
export function takeSnapshot(e: EngineTables, nowMs: number): EngineSnapshot {
  const fl = e.flows;
  const m = e.mappings;
  const mappings: MappingSnapshot[] = [];
  m.forEach((id) => {
    const { mapping: _, ...rec } = mappingRecord(m, e.slots, id);
    mappings.push({ id, ...rec, createdMs: m.createdMs(id), lastActivityMs: m.lastActivityMs(id) });
  });
  const connections: ConnectionSnapshot[] = [];
  const left: Record<string, number> = {};
  const leave = (why: string): void => void (left[why] = (left[why] ?? 0) + 1);
  fl.forEach((id) => {
    const cs = e.conns;
    const rule = e.slots.rule(fl.ruleIdx(id));
    if (!cs.has(id) || rule === undefined || rule === null) return leave('no-state');
    // Not carried yet: the snapshot's shape names an inbound connection's roles.
    if (fl.outbound(id)) return leave('outbound');
    if (cs.refused(id)) return leave('refused');
    if (fl.isClosed(id)) return leave('closing');
    if (!fl.isEstablished(id)) return leave('embryonic');
    const epm = cs.isEpm(id);
    const boundary = epm ? cs.epm.atPduBoundary(id) : cs.mappedLeg.atPduBoundary(id);
    const c2s = cs.stream(id, true);
    const s2c = cs.stream(id, false);
    if (!c2s.idle || !s2c.idle || !boundary) return leave('mid-pdu');
    const edits = cs.edits(id);
    const { flow: _, ...rec } = connectionRecord(fl, e.slots, id);
    connections.push({
      ...rec, mapping: fl.mappingIdx(id),
      state: fl.state(id), createdMs: fl.createdMs(id), lastSeenMs: fl.lastSeenMs(id),
      counts: [fl.packetsFromClient(id), fl.bytesFromClient(id), fl.packetsFromServer(id), fl.bytesFromServer(id)],
      c2s: c2s.exportState(), s2c: s2c.exportState(), clientExpects: cs.expects(id, true), serverExpects: cs.expects(id, false),
      clientAckSeen: cs.ackSeen(id, true), serverAckSeen: cs.ackSeen(id, false),
      edits: (edits ?? []).map((x) => ({ oldStart: x.oldStart >>> 0, oldEnd: x.oldEnd >>> 0, newStart: x.newStart >>> 0, newEnd: x.newEnd >>> 0, delta: x.delta, sent: x.sent.map(hex) })),
      epm: epm ? cs.epm.exportState(id) : null, mapped: epm ? null : cs.mappedLeg.exportState(id),
      notifications: e.notify.registrationsOf(id), notifyPinhole: e.notify.hasPinhole(id),
    });
  });
  const g = e.slots.rules.gateway;
  return {
    format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, createdMs: nowMs, gateway: { external: ipv4ToString(g.externalIp), internal: ipv4ToString(g.internalIp) },
    rules: e.slots.rules.rules.map((r) => r.name), mappings, connections, left,
  };
}

/**
 * Loads a snapshot into an empty engine. Entries whose rule is gone (by name) or whose
 * translation no longer matches the rule, expired ones, and ones that do not read are skipped
 * and counted. A snapshot of other gateway addresses, older than `maxAgeMs`, or made for a
 * non-empty engine is refused as a whole. Never throws on the snapshot's content.
 */
export function restoreSnapshot(e: EngineTables, snap: EngineSnapshot, nowMs: number, maxAgeMs: number): RestoreResult {
  const top = checkSnapshot(snap);
  if (!top.ok) return top;
  const g = e.slots.rules.gateway;
  if (snap.gateway.external !== ipv4ToString(g.externalIp) || snap.gateway.internal !== ipv4ToString(g.internalIp)) {
    return { ok: false, error: `state of another gateway (external ${snap.gateway.external}, internal ${snap.gateway.internal})` };
  }
  if (nowMs - snap.createdMs > maxAgeMs) return { ok: false, error: `stale state: saved ${Math.round((nowMs - snap.createdMs) / 1000)} s ago, more than ${Math.round(maxAgeMs / 1000)} s` };
  if (e.flows.count > 0 || e.mappings.count > 0) return { ok: false, error: 'the engine already has state' };
  const skipped: Record<string, number> = {};
  const skip = (why: string): void => void (skipped[why] = (skipped[why] ?? 0) + 1);
  const ruleNamed = (name: string): { slot: number; rule: CompiledRule } | null => {
    const slot = e.slots.slotNamed(name);
    const rule = slot === undefined ? null : e.slots.rule(slot);
    return slot === undefined || rule === null || rule === undefined || !rule.enabled ? null : { slot, rule };
  };
  /** The enabled rule an entry names, or null with the entry skipped (unreadable, rule-gone). */
  const ruleOf = (x: { rule: string } | null): { slot: number; rule: CompiledRule } | null => {
    if (x === null) {
      skip('unreadable');
      return null;
    }
    const r = ruleNamed(x.rule);
    if (r === null) skip('rule-gone');
    return r;
  };
  const entries = snap.connections.map(readConnectionEntry);
  const inUse = new Set<number>();
  for (const c of entries) if (c !== null && c.mapped) inUse.add(c.mapping);
  const mappingOf = new Map<number, number>();
  let mappings = 0;
  for (const x of snap.mappings) {
    const m = readMappingEntry(x);
    const r = ruleOf(m);
    if (m === null || r === null) continue;
    if (m.serverIp !== r.rule.serverIp || m.extIp !== r.rule.externalIp || m.extPort < r.rule.portLo || m.extPort > r.rule.portHi) {
      skip('translation-changed');
      continue;
    }
    if (!inUse.has(m.id) && m.lastActivityMs + r.rule.pinholeTimeoutMs <= nowMs) {
      skip('expired');
      continue;
    }
    const id = e.mappings.restoreMapping(
      r.slot, r.rule.portLo, r.rule.portHi, r.rule.maxMappingsPerClient, m.clientIp, m.extIp, m.extPort, m.serverIp, m.serverPort, m.createdMs, m.lastActivityMs, r.rule.pinholeTimeoutMs,
    );
    if (id < 0) {
      skip(MAP_ERR_NAMES[id] ?? 'mapping-refused');
      continue;
    }
    mappingOf.set(m.id, id);
    mappings++;
  }
  let connections = 0;
  let notifications = 0;
  for (const c of entries) {
    const r = ruleOf(c);
    if (c === null || r === null) continue;
    const rule = r.rule;
    const m = c.mapped ? (mappingOf.get(c.mapping) ?? -1) : -1;
    if (c.mapped && m < 0) {
      skip('mapping-gone');
      continue;
    }
    const mt = e.mappings;
    const matches = c.gwIp === e.gwIp && c.gwPort >= g.natPortLo && c.gwPort <= g.natPortHi && (c.mapped
      ? c.extIp === mt.extIp(m) && c.extPort === mt.extPort(m) && c.clientIp === mt.clientIp(m) && c.serverIp === mt.serverIp(m) && c.serverPort === mt.serverPort(m)
      : c.extIp === rule.externalIp && c.extPort === e.epmPort && c.serverIp === rule.serverIp && c.serverPort === e.epmPort);
    if (!matches) {
      skip('translation-changed');
      continue;
    }
    if (isClosedState(c.state) || (c.state & FLOW_ST_ESTABLISHED) === 0 || c.lastSeenMs + rule.idleTimeoutMs <= nowMs) {
      skip('expired');
      continue;
    }
    if (!c.mapped && !e.conns.epmRoom(c.clientIp)) {
      skip('epm-connection-limit');
      continue;
    }
    const flow = e.flows.restoreFlow(
      c.mapped ? FLOW_MAPPED : FLOW_EPM, r.slot, m, c.clientIp, c.clientPort, c.extIp, c.extPort, c.gwIp, c.gwPort, c.serverIp, c.serverPort,
      c.state, c.createdMs, c.lastSeenMs, rule.idleTimeoutMs, c.counts,
    );
    if (flow < 0) {
      skip(FLOW_ERR_NAMES[flow] ?? 'flow-refused');
      continue;
    }
    const cs = e.conns;
    let legOk: boolean;
    if (c.mapped) {
      cs.mappedLeg.init(flow, false);
      cs.addMapped(flow);
      legOk = c.mappedLeg !== null && cs.mappedLeg.importState(flow, c.mappedLeg);
    } else {
      cs.addEpm(flow, c.clientIp, false);
      legOk = c.epmLeg !== null && cs.epm.importState(flow, c.epmLeg);
    }
    if (!legOk) {
      cs.remove(flow, c.clientIp);
      e.flows.remove(flow);
      skip('unreadable');
      continue;
    }
    cs.stream(flow, true).importState(c.c2s);
    cs.stream(flow, false).importState(c.s2c);
    cs.settle(flow);
    cs.restoreEnds(flow, c.clientExpects, c.serverExpects, c.clientAckSeen, c.serverAckSeen);
    cs.setEdits(flow, c.edits.length > 0 ? c.edits.slice(-MAX_EDITS) : null);
    if (c.mapped) {
      e.mappings.connOpened(m, nowMs);
      for (const [clientPort, relay] of c.notifications) {
        if (e.notify.restore(flow, c.clientIp, clientPort, c.serverIp, c.extIp, relay, g.notifyRelayLo, g.notifyRelayHi)) notifications++;
        else skip('notification-port-taken');
      }
      if (c.notifyPinhole) e.notify.openPinhole(flow, c.clientIp, c.serverIp, c.extIp, rule.notifyPortLo, rule.notifyPortHi);
    }
    connections++;
  }
  return { ok: true, mappings, connections, notifications, skipped };
}

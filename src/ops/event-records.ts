/**
 * The records an operator reads, made from the engine's numeric events: the firewall log, the
 * replay report and the tests see the same strings. Only a listener pays for them.
 */
import { ipv4ToString } from '../wire/addr.js';
import { uuidToString } from '../dcerpc/uuid.js';
import { interfaceLabel } from '../dcerpc/label.js';
import { EPT_MAP } from '../epm/constants.js';
import { FLOW_EPM } from '../nat/flow-table.js';
import { REASON_NAMES } from '../engine/reasons.js';
import { CLOSE_NAMES, NOTIFY_DROPPED, NOTIFY_NAMES, NOTIFY_PINHOLE, NOTIFY_REWRITTEN } from '../engine/events.js';
import type {
  ConnectionClosedRecord, ConnectionRecord, EngineEvent, EngineEvents, MappingRecord, NotificationRecord, RecordEvents, RefusalRecord, RewriteRecord,
} from '../engine/events.js';

/** An address and port as every record writes them: `a.b.c.d:port`. */
export const endpoint = (ip: number, port: number): string => `${ipv4ToString(ip)}:${port}`;
/** A connection record's `kind`. */
export const flowKindName = (kind: number): 'epm' | 'mapped' => (kind === FLOW_EPM ? 'epm' : 'mapped');
/** A rewrite record's `op`. */
export const rewriteOpName = (code: number): 'ept_map' | 'ept_lookup' => (code === EPT_MAP ? 'ept_map' : 'ept_lookup');

export function connectionRecordOf(e: EngineEvent): ConnectionRecord {
  return {
    flow: e.flow, kind: flowKindName(e.kind), rule: e.names.name(e.rule),
    client: endpoint(e.clientIp, e.clientPort), external: endpoint(e.extIp, e.extPort),
    gateway: endpoint(e.gwIp, e.gwPort), server: endpoint(e.serverIp, e.serverPort),
    ...(e.mapping >= 0 ? { mapping: e.mapping } : {}),
  };
}

export function closedRecordOf(e: EngineEvent): ConnectionClosedRecord {
  return {
    ...connectionRecordOf(e), reason: CLOSE_NAMES[e.code]!,
    packetsFromClient: e.packetsFromClient, bytesFromClient: e.bytesFromClient,
    packetsFromServer: e.packetsFromServer, bytesFromServer: e.bytesFromServer,
    durationMs: e.durationMs,
  };
}

export function mappingRecordOf(e: EngineEvent): MappingRecord {
  return {
    mapping: e.mapping, rule: e.names.name(e.rule), client: ipv4ToString(e.clientIp),
    external: endpoint(e.extIp, e.extPort), server: endpoint(e.serverIp, e.serverPort),
  };
}

export function rewriteRecordOf(e: EngineEvent): RewriteRecord {
  return {
    flow: e.flow, rule: e.names.name(e.rule), client: ipv4ToString(e.clientIp),
    op: rewriteOpName(e.code), interface: uuidToString(e.uuid, 0, e.uuidLittleEndian), version: `${e.ifMajor}.${e.ifMinor}`,
    original: endpoint(e.origIp, e.origPort), rewritten: endpoint(e.extIp, e.extPort), mapping: e.mapping,
  };
}

export function refusalRecordOf(e: EngineEvent): RefusalRecord {
  return {
    flow: e.flow, rule: e.names.name(e.rule), client: endpoint(e.clientIp, e.clientPort),
    server: endpoint(e.serverIp, e.serverPort), reason: REASON_NAMES[e.code] ?? String(e.code), detail: e.detail,
    interface: e.hasInterface ? interfaceLabel(e.uuid, 0, e.uuidLittleEndian, e.ifMajor, e.ifMinor) : e.interfaceText,
  };
}

export function notificationRecordOf(e: EngineEvent): NotificationRecord {
  const action = NOTIFY_NAMES[e.code]!;
  const rule = e.names.name(e.rule);
  return {
    flow: e.flow, rule, client: e.code === NOTIFY_REWRITTEN ? endpoint(e.clientIp, e.clientPort) : ipv4ToString(e.clientIp),
    server: ipv4ToString(e.serverIp), action, relay: e.code === NOTIFY_REWRITTEN ? endpoint(e.origIp, e.origPort) : '',
    detail: e.code === NOTIFY_REWRITTEN
      ? ''
      : e.code === NOTIFY_PINHOLE
        ? `encrypted registration: UDP from the server to the client on ports ${e.portLo}-${e.portHi} allowed while the session lives`
        : e.code === NOTIFY_DROPPED
          ? 'encrypted registration cannot be rewritten; the client falls back to polling (notificationsWhenEncrypted: drop)'
          : e.detail,
  };
}

/** The engine's events handed to `to` as records. */
export function recordsTo(to: RecordEvents): EngineEvents {
  return {
    opened: (e, nowMs) => to.connectionOpened(connectionRecordOf(e), nowMs),
    closed: (e, nowMs) => to.connectionClosed(closedRecordOf(e), nowMs),
    rewrote: (e, nowMs) => to.towerRewritten(rewriteRecordOf(e), nowMs),
    pinholeOpened: (e, nowMs) => to.mappingCreated(mappingRecordOf(e), nowMs),
    pinholeExpired: (e, nowMs) => to.mappingExpired(mappingRecordOf(e), nowMs),
    refused: (e, nowMs) => to.connectionRefused(refusalRecordOf(e), nowMs),
    notified: (e, nowMs) => to.notification(notificationRecordOf(e), nowMs),
    packetDropped: (reason, side, v, nowMs) => to.packetDropped(reason, side, v, nowMs),
  };
}

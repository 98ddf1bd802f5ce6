/**
 * What the engine tells its adapters besides the packets it emits: the firewall-log events.
 * Records are built only for rare events (connections, rewrites, mappings, refusals); packet
 * drops carry numbers only and the adapter decides what to log (rate-limited live, counted in
 * replay).
 */
import type { PacketView } from '../wire/packet.js';

export const SIDE_EXTERNAL = 0;
export const SIDE_INTERNAL = 1;
export const SIDE_NAMES: readonly string[] = ['external', 'internal'];

export interface ConnectionRecord {
  flow: number;
  kind: 'epm' | 'mapped';
  rule: string;
  client: string;
  external: string;
  gateway: string;
  server: string;
  /** The mapping (pinhole) a mapped connection came through. */
  mapping?: number;
}

export interface ConnectionClosedRecord extends ConnectionRecord {
  /** ttl-exceeded: the opening SYN expired at the gateway (answered with ICMP time exceeded). */
  reason: 'closed' | 'reset' | 'idle' | 'refused' | 'flushed' | 'ttl-exceeded';
  packetsFromClient: number;
  bytesFromClient: number;
  packetsFromServer: number;
  bytesFromServer: number;
  durationMs: number;
}

export interface RewriteRecord {
  flow: number;
  rule: string;
  client: string;
  op: 'ept_map' | 'ept_lookup';
  interface: string;
  version: string;
  original: string;
  rewritten: string;
  mapping: number;
}

export interface MappingRecord {
  mapping: number;
  rule: string;
  client: string;
  external: string;
  server: string;
}

export interface RefusalRecord {
  flow: number;
  rule: string;
  client: string;
  server: string;
  reason: string;
  detail: string;
  interface: string;
}

export interface NotificationRecord {
  flow: number;
  rule: string;
  client: string;
  server: string;
  /** rewritten: callback now points at the relay; pinhole: encrypted, UDP allowed; dropped / not-rewritten: left alone. */
  action: 'rewritten' | 'pinhole' | 'dropped' | 'not-rewritten';
  relay: string;
  detail: string;
}

export interface EngineEvents {
  connectionOpened(rec: ConnectionRecord, nowMs: number): void;
  connectionClosed(rec: ConnectionClosedRecord, nowMs: number): void;
  towerRewritten(rec: RewriteRecord, nowMs: number): void;
  mappingCreated(rec: MappingRecord, nowMs: number): void;
  mappingExpired(rec: MappingRecord, nowMs: number): void;
  connectionRefused(rec: RefusalRecord, nowMs: number): void;
  /** An EMSMDB push-notification registration and what the gateway did with it. */
  notification(rec: NotificationRecord, nowMs: number): void;
  /** A dropped packet: `view` describes it and is only valid during the call. */
  packetDropped(reason: number, side: number, view: PacketView, nowMs: number): void;
}

/** An EngineEvents that ignores everything (benchmarks, tests that only count). */
export const NO_EVENTS: EngineEvents = {
  connectionOpened() {},
  connectionClosed() {},
  towerRewritten() {},
  mappingCreated() {},
  mappingExpired() {},
  connectionRefused() {},
  notification() {},
  packetDropped() {},
};

/** Where the engine sends packets: an IPv4 packet to put on `side`. */
export interface EngineOutput {
  emit(side: number, pkt: Uint8Array, off: number, len: number): void;
}

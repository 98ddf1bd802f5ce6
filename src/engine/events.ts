/**
 * What the engine tells its adapters besides the packets it emits: the firewall-log events.
 * Events carry numbers only (ids, addresses as u32, ports, reason codes, an interface's uuid
 * bytes); the adapters make the records' strings (ops/event-records.ts) and decide what to log
 * (rate-limited live, counted in replay).
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

/** Why a connection left the table: EngineEvent.code of a closed event (CLOSE_NAMES: the record's text). */
export const CLOSE_CLOSED = 0;
export const CLOSE_RESET = 1;
export const CLOSE_IDLE = 2;
export const CLOSE_REFUSED = 3;
export const CLOSE_FLUSHED = 4;
/** The opening SYN expired at the gateway (answered with ICMP time exceeded). */
export const CLOSE_TTL_EXCEEDED = 5;
export const CLOSE_NAMES: readonly ConnectionClosedRecord['reason'][] = ['closed', 'reset', 'idle', 'refused', 'flushed', 'ttl-exceeded'];

/** What was done with a push-notification registration: EngineEvent.code of a notification event. */
export const NOTIFY_REWRITTEN = 0;
export const NOTIFY_PINHOLE = 1;
export const NOTIFY_DROPPED = 2;
export const NOTIFY_NOT_REWRITTEN = 3;
export const NOTIFY_NAMES: readonly NotificationRecord['action'][] = ['rewritten', 'pinhole', 'dropped', 'not-rewritten'];

/**
 * One event as numbers: the engine fills the one record it owns and hands it over; it is only
 * valid during the call. The records' strings (addresses, rule names, interfaces, close reasons)
 * are made from it by whoever listens (ops/event-records.ts). Fields an event does not use keep
 * whatever the last event left.
 */
export class EngineEvent {
  /** Rule names by slot, as they are when the event happens. */
  names: { name(slot: number): string } = { name: () => '' };
  flow = -1;
  /** FLOW_EPM or FLOW_MAPPED (connection events). */
  kind = 0;
  /** The rule's slot. */
  rule = -1;
  clientIp = 0;
  clientPort = 0;
  extIp = 0;
  extPort = 0;
  gwIp = 0;
  gwPort = 0;
  serverIp = 0;
  serverPort = 0;
  /** The mapping (pinhole) id, or -1. */
  mapping = -1;
  /** closed: CLOSE_*; refused: the reason code (reasons.ts); notification: NOTIFY_*; rewrite: the opnum. */
  code = 0;
  packetsFromClient = 0;
  bytesFromClient = 0;
  packetsFromServer = 0;
  bytesFromServer = 0;
  durationMs = 0;
  /** The interface: its uuid (16 bytes, in `uuidLittleEndian` order) and version, when hasInterface. */
  readonly uuid = new Uint8Array(16);
  uuidLittleEndian = true;
  hasInterface = false;
  ifMajor = 0;
  ifMinor = 0;
  /** rewrite: the tower's address before; notification: the relay's address. */
  origIp = 0;
  origPort = 0;
  /** notification (pinhole): the rule's notification ports. */
  portLo = 0;
  portHi = 0;
  /** refusal, not-rewritten notification: the leg's account (made only when it refuses). */
  detail = '';
  /** refusal without hasInterface: the interface as the leg named it ('' for none). */
  interfaceText = '';

  /** The interface from a uuid at `off` in `buf` (copied: the buffer is the packet's). */
  setInterface(buf: Uint8Array, off: number, littleEndian: boolean, major: number, minor: number): void {
    this.uuid.set(buf.subarray(off, off + 16));
    this.uuidLittleEndian = littleEndian;
    this.ifMajor = major;
    this.ifMinor = minor;
    this.hasInterface = true;
  }
}

/** What the engine tells its listener, as numbers (EngineEvent); ops/event-records.ts makes records of them. */
export interface EngineEvents {
  opened(ev: EngineEvent, nowMs: number): void;
  closed(ev: EngineEvent, nowMs: number): void;
  rewrote(ev: EngineEvent, nowMs: number): void;
  pinholeOpened(ev: EngineEvent, nowMs: number): void;
  pinholeExpired(ev: EngineEvent, nowMs: number): void;
  refused(ev: EngineEvent, nowMs: number): void;
  notified(ev: EngineEvent, nowMs: number): void;
  /** A dropped packet: `view` describes it and is only valid during the call. */
  packetDropped(reason: number, side: number, view: PacketView, nowMs: number): void;
}

/** The same events as records with strings (the firewall log, replay's report, tests). */
export interface RecordEvents {
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
  opened() {},
  closed() {},
  rewrote() {},
  pinholeOpened() {},
  pinholeExpired() {},
  refused() {},
  notified() {},
  packetDropped() {},
};

/** Where the engine sends packets: an IPv4 packet to put on `side`. */
export interface EngineOutput {
  emit(side: number, pkt: Uint8Array, off: number, len: number): void;
}

/**
 * The engine's state as plain data, so a daemon restart keeps its pinholes and carries its
 * established connections on (Engine.snapshot / Engine.restore). Pure: no fs, no clock.
 *
 * What is carried
 * - Pinholes (mappings): rule BY NAME, client, external ip:port, server ip:port, creation and
 *   last-activity times. Times are the engine's clock, which live is wall-clock milliseconds, so
 *   a deadline saved is the same instant after the restart.
 * - Connections (EPM and mapped) with both tuples (gwPort included: the server must keep seeing
 *   the same source), FLOW_ST_* bits, times, counters, and per direction the stream state: next
 *   expected sequence number (restore marks the stream synced there, so packets arriving with no
 *   SYN are translated at once), patches owed to retransmissions, the ACKs each end sent, the
 *   sequence-shift edits of a re-encoded ept_lookup; the leg's presentation contexts (a bound
 *   connection stays bound) and the notification relay ports registered on it.
 * - Only connections between PDUs with nothing held are carried: the others (and embryonic,
 *   closing or refused ones) are counted in `left` by reason and reset by their peers' timeout.
 *
 * Layout (JSON lines, version 1), one object a line so that no single string holds the whole
 * state (V8 strings stop at about 512 MiB: some 450 000 connections):
 *   {"format":"rpcgw-state","version":1,"createdMs":..,"gateway":{"external","internal"},
 *    "rules":[names],"left":{reason:count},"mappings":M,"connections":C}
 *   {"mapping":MappingSnapshot}          M lines
 *   {"connection":ConnectionSnapshot}    C lines
 *   {"end":true}
 * Reading never throws: decodeSnapshot returns an error value for bytes that are not UTF-8 JSON
 * lines, a foreign format, a newer version, a missing field, or a file cut short (counts and the
 * end line); restore skips (and counts) an entry that does not read.
 */
import { parseIpv4 } from '../wire/addr.js';
import type { HeldStreamState } from '../stream/held-stream.js';
import type { StreamEdit } from '../stream/seqadj.js';
import type { ContextsState } from '../dcerpc/context.js';
import type { EpmLegState } from './epm-leg.js';
import type { MappedLegState } from './mapped-leg.js';
import type { KernelPinholeEnds } from './kernel-handoff.js';

export const SNAPSHOT_FORMAT = 'rpcgw-state';
export const SNAPSHOT_VERSION = 1;

export interface MappingSnapshot {
  /** Id within this snapshot (connections name it). */
  id: number;
  rule: string;
  client: string;
  external: string;
  server: string;
  createdMs: number;
  lastActivityMs: number;
}

/** A StreamEdit (stream/seqadj) as saved. */
export interface EditSnapshot extends Omit<StreamEdit, 'sent'> {
  /** The segments sent in place of the server's (hex), to answer its retransmissions. */
  sent: string[];
}

/** A connection's fields that are the same in the file and once read (ConnectionEntry). */
interface ConnectionCommon {
  rule: string;
  /** MappingSnapshot.id of a mapped connection, -1 for EPM. */
  mapping: number;
  /** FLOW_ST_* bits. */
  state: number;
  createdMs: number;
  lastSeenMs: number;
  /** Packets and bytes from the client, packets and bytes from the server. */
  counts: number[];
  c2s: HeldStreamState;
  s2c: HeldStreamState;
  clientExpects: number;
  serverExpects: number;
  clientAckSeen: boolean;
  serverAckSeen: boolean;
  /** Notification registrations: [client's callback port, relay port]. */
  notifications: [number, number][];
  notifyPinhole: boolean;
}

export interface ConnectionSnapshot extends ConnectionCommon {
  kind: 'epm' | 'mapped';
  client: string;
  external: string;
  gateway: string;
  server: string;
  edits: EditSnapshot[];
  epm: EpmLegState | null;
  mapped: MappedLegState | null;
}

export interface EngineSnapshot {
  format: typeof SNAPSHOT_FORMAT;
  version: number;
  createdMs: number;
  gateway: { external: string; internal: string };
  rules: string[];
  mappings: MappingSnapshot[];
  connections: ConnectionSnapshot[];
  /** Connections not carried, by reason (mid-pdu, embryonic, closing, refused). */
  left: Record<string, number>;
  /** The rules file's SHA-256 when saved (set by the daemon; entries follow rules by name). */
  rulesSha256?: string;
}

/** What Engine.restore did, or why it did nothing. */
export type RestoreResult =
  | { ok: true; mappings: number; connections: number; notifications: number; skipped: Record<string, number> }
  | { ok: false; error: string };

export type DecodeResult = { ok: true; snapshot: EngineSnapshot } | { ok: false; error: string };

/** The state file's bytes (see the layout above). */
export function encodeSnapshot(s: EngineSnapshot): Uint8Array {
  const enc = new TextEncoder();
  const { mappings, connections, ...head } = s;
  const lines: Uint8Array[] = [enc.encode(JSON.stringify({ ...head, mappings: mappings.length, connections: connections.length }) + '\n')];
  for (const m of mappings) lines.push(enc.encode(JSON.stringify({ mapping: m }) + '\n'));
  for (const c of connections) lines.push(enc.encode(JSON.stringify({ connection: c }) + '\n'));
  lines.push(enc.encode('{"end":true}\n'));
  let n = 0;
  for (const l of lines) n += l.length;
  const out = new Uint8Array(n);
  n = 0;
  for (const l of lines) {
    out.set(l, n);
    n += l.length;
  }
  return out;
}

/** Bytes to a snapshot whose top level is sound, or an error value (never throws). */
export function decodeSnapshot(bytes: Uint8Array): DecodeResult {
  const dec = new TextDecoder('utf-8', { fatal: true });
  const objects: unknown[] = [];
  try {
    for (let at = 0; at < bytes.length; ) {
      let nl = bytes.indexOf(0x0a, at);
      if (nl < 0) nl = bytes.length;
      if (nl > at) objects.push(JSON.parse(dec.decode(bytes.subarray(at, nl))));
      at = nl + 1;
    }
  } catch (e) {
    return { ok: false, error: `not a state file (line ${objects.length + 1}: ${e instanceof Error ? e.message : String(e)})` };
  }
  const head = objects[0];
  if (!isObj(head)) return { ok: false, error: 'not a state file (no header line)' };
  const m = head.mappings;
  const c = head.connections;
  if (!Number.isInteger(m) || !Number.isInteger(c)) return checkSnapshot(head);
  const nm = m as number;
  const nc = c as number;
  const last = objects[objects.length - 1];
  if (objects.length !== nm + nc + 2 || !isObj(last) || last.end !== true) {
    return { ok: false, error: `state file truncated (${Math.max(0, objects.length - 1)} of ${nm + nc + 1} lines after the header)` };
  }
  const mappings: unknown[] = [];
  const connections: unknown[] = [];
  for (let i = 1; i <= nm; i++) mappings.push(isObj(objects[i]) ? (objects[i] as Obj).mapping : null);
  for (let i = nm + 1; i <= nm + nc; i++) connections.push(isObj(objects[i]) ? (objects[i] as Obj).connection : null);
  return checkSnapshot({ ...head, mappings, connections });
}

/** Checks the top level of a parsed snapshot (entries are checked one by one on restore). */
export function checkSnapshot(x: unknown): DecodeResult {
  if (!isObj(x) || x.format !== SNAPSHOT_FORMAT) return { ok: false, error: `not a state file (format is not "${SNAPSHOT_FORMAT}")` };
  if (!Number.isInteger(x.version) || (x.version as number) < 1) return { ok: false, error: 'state file without a valid version' };
  if ((x.version as number) > SNAPSHOT_VERSION) return { ok: false, error: `state file version ${String(x.version)} is newer than this rpcgw reads (${SNAPSHOT_VERSION})` };
  const g = x.gateway;
  if (!isNum(x.createdMs) || !isObj(g) || typeof g.external !== 'string' || typeof g.internal !== 'string') return { ok: false, error: 'state file without createdMs or gateway addresses' };
  if (!Array.isArray(x.rules) || !Array.isArray(x.mappings) || !Array.isArray(x.connections) || !isObj(x.left)) return { ok: false, error: 'state file truncated (rules, mappings, connections or left missing)' };
  return { ok: true, snapshot: x as unknown as EngineSnapshot };
}

// ---- entries, read into numbers --------------------------------------------------------------

/** A pinhole: its ends (as the kernel hand-off names them), its id and its clock. */
export interface MappingEntry extends KernelPinholeEnds {
  id: number;
  createdMs: number;
  lastActivityMs: number;
}

export interface ConnectionEntry extends ConnectionCommon {
  mapped: boolean;
  clientIp: number;
  clientPort: number;
  extIp: number;
  extPort: number;
  gwIp: number;
  gwPort: number;
  serverIp: number;
  serverPort: number;
  edits: StreamEdit[];
  epmLeg: EpmLegState | null;
  mappedLeg: MappedLegState | null;
}

export function readMappingEntry(x: unknown): MappingEntry | null {
  if (!isObj(x) || !Number.isInteger(x.id) || typeof x.rule !== 'string' || !isNum(x.createdMs) || !isNum(x.lastActivityMs)) return null;
  const client = typeof x.client === 'string' ? parseIpv4(x.client) : -1;
  const ext = endpoint(x.external);
  const server = endpoint(x.server);
  if (client < 0 || ext === null || server === null) return null;
  return {
    id: x.id as number, rule: x.rule, clientIp: client >>> 0, extIp: ext[0], extPort: ext[1], serverIp: server[0], serverPort: server[1],
    createdMs: x.createdMs as number, lastActivityMs: x.lastActivityMs as number,
  };
}

export function readConnectionEntry(x: unknown): ConnectionEntry | null {
  if (!isObj(x) || (x.kind !== 'epm' && x.kind !== 'mapped') || typeof x.rule !== 'string' || !Number.isInteger(x.mapping)) return null;
  const client = endpoint(x.client);
  const ext = endpoint(x.external);
  const gw = endpoint(x.gateway);
  const server = endpoint(x.server);
  if (client === null || ext === null || gw === null || server === null) return null;
  if (!u32(x.state) || (x.state as number) > 0xff || !isNum(x.createdMs) || !isNum(x.lastSeenMs)) return null;
  if (!Array.isArray(x.counts) || x.counts.length !== 4 || !x.counts.every(isNum)) return null;
  const c2s = heldState(x.c2s);
  const s2c = heldState(x.s2c);
  if (c2s === null || s2c === null || !u32(x.clientExpects) || !u32(x.serverExpects)) return null;
  if (typeof x.clientAckSeen !== 'boolean' || typeof x.serverAckSeen !== 'boolean' || typeof x.notifyPinhole !== 'boolean') return null;
  if (!Array.isArray(x.edits) || !Array.isArray(x.notifications) || !x.notifications.every((p) => pair(p, u16, u16))) return null;
  const edits: StreamEdit[] = [];
  for (const e of x.edits) {
    if (!isObj(e) || !u32(e.oldStart) || !u32(e.oldEnd) || !u32(e.newStart) || !u32(e.newEnd) || !Number.isInteger(e.delta)) return null;
    if (!Array.isArray(e.sent) || !e.sent.every((p) => typeof p === 'string' && /^([0-9a-f]{2})+$/.test(p))) return null;
    edits.push({ oldStart: e.oldStart as number, oldEnd: e.oldEnd as number, newStart: e.newStart as number, newEnd: e.newEnd as number, delta: e.delta as number, sent: (e.sent as string[]).map(unhex) });
  }
  const mapped = x.kind === 'mapped';
  const epmLeg = mapped ? null : epmState(x.epm);
  const mappedLeg = mapped ? mappedState(x.mapped) : null;
  if (epmLeg === null && mappedLeg === null) return null;
  return {
    mapped, rule: x.rule, mapping: x.mapping as number, clientIp: client[0], clientPort: client[1], extIp: ext[0], extPort: ext[1], gwIp: gw[0], gwPort: gw[1],
    serverIp: server[0], serverPort: server[1], state: x.state as number, createdMs: x.createdMs as number, lastSeenMs: x.lastSeenMs as number,
    counts: x.counts as number[], c2s, s2c, clientExpects: x.clientExpects as number, serverExpects: x.serverExpects as number,
    clientAckSeen: x.clientAckSeen, serverAckSeen: x.serverAckSeen, edits, epmLeg, mappedLeg, notifications: x.notifications as [number, number][],
    notifyPinhole: x.notifyPinhole,
  };
}

export function hex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += b[i]!.toString(16).padStart(2, '0');
  return s;
}

function unhex(s: string): Uint8Array {
  const b = new Uint8Array(s.length >>> 1);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(s.slice(i * 2, i * 2 + 2), 16);
  return b;
}

// ---- shape checks (the values themselves are checked where they are loaded) --------------------

type Obj = Record<string, unknown>;

function isObj(x: unknown): x is Obj {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isNum(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x);
}

function u32(x: unknown): boolean {
  return Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 0xffffffff;
}

function u16(x: unknown): boolean {
  return Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 0xffff;
}

function ints(x: unknown): x is number[] {
  return Array.isArray(x) && x.every((v) => Number.isInteger(v));
}

function pair(x: unknown, a: (v: unknown) => boolean, b: (v: unknown) => boolean): boolean {
  return Array.isArray(x) && x.length === 2 && a(x[0]) && b(x[1]);
}

/** "a.b.c.d:port" to [ip, port], or null. */
function endpoint(x: unknown): [number, number] | null {
  if (typeof x !== 'string') return null;
  const i = x.lastIndexOf(':');
  const ip = i > 0 ? parseIpv4(x.slice(0, i)) : -1;
  const port = Number(x.slice(i + 1));
  if (ip < 0 || !Number.isInteger(port) || port < 0 || port > 0xffff || x.slice(i + 1) === '') return null;
  return [ip >>> 0, port];
}

function heldState(x: unknown): HeldStreamState | null {
  if (!isObj(x) || typeof x.synced !== 'boolean' || !u32(x.nextSeq) || !Array.isArray(x.patches)) return null;
  if (!(x.forgottenEnd === null || u32(x.forgottenEnd)) || !(x.prunedEnd === null || u32(x.prunedEnd))) return null;
  const bytes = (v: unknown): boolean => ints(v) && v.length >= 1 && v.length <= 8 && v.every((b) => b >= 0 && b <= 255);
  if (x.patches.length > 4096 || !x.patches.every((p) => pair(p, u32, bytes))) return null;
  return x as unknown as HeldStreamState;
}

function contextsState(x: unknown): ContextsState | null {
  if (!isObj(x) || typeof x.uuids !== 'string' || typeof x.awaitingAck !== 'boolean') return null;
  for (const k of ['ids', 'states', 'majors', 'minors', 'masks', 'syntaxes', 'pending']) if (!ints(x[k])) return null;
  return x as unknown as ContextsState;
}

function epmState(x: unknown): EpmLegState | null {
  if (!isObj(x) || typeof x.pickedUp !== 'boolean' || typeof x.lastNdr64 !== 'boolean' || !Number.isInteger(x.clientMaxRecvFrag)) return null;
  if (contextsState(x.contexts) === null || !Array.isArray(x.pending) || !x.pending.every((p) => pair(p, Number.isInteger, Number.isInteger))) return null;
  return x as unknown as EpmLegState;
}

function mappedState(x: unknown): MappedLegState | null {
  if (!isObj(x) || typeof x.pickedUp !== 'boolean' || typeof x.passThrough !== 'boolean' || typeof x.boundOnce !== 'boolean' || typeof x.lastInterface !== 'string') return null;
  if (contextsState(x.contexts) === null || !Array.isArray(x.labels) || !x.labels.every((p) => pair(p, Number.isInteger, (v) => typeof v === 'string'))) return null;
  return x as unknown as MappedLegState;
}

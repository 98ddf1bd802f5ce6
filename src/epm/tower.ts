/**
 * Protocol tower octet string codec (C706 App. L).
 *
 * A tower is not NDR: its layout and byte order are fixed whatever the PDU's drep (lengths and
 * UUID-floor fields little-endian, ports big-endian, IPv4 in network order) and it has no
 * alignment padding. Offsets reported by readTower are absolute offsets into the buffer given,
 * so the gateway can patch the port and IPv4 bytes in place.
 */
import { DecodeResult, fail, MALFORMED, OK } from '../wire/status.js';
import type { Status } from '../wire/status.js';
import { UUID_NDR } from '../dcerpc/constants.js';
import { parseUuid, uuidToString } from '../dcerpc/uuid.js';
import {
  FLOOR_HTTP, FLOOR_IPV4, FLOOR_LRPC_PIPE, FLOOR_NCACN, FLOOR_NCADG,
  FLOOR_NCALRPC, FLOOR_NETBIOS, FLOOR_NP_PIPE, FLOOR_TCP, FLOOR_UDP, FLOOR_UUID, IPV4_RHS_LEN,
  PORT_RHS_LEN, PROTO_NCACN_HTTP, PROTO_NCACN_IP_TCP, PROTO_NCACN_NP, PROTO_NCADG_IP_UDP,
  PROTO_NCALRPC, PROTO_UNKNOWN, TOWER_FLOOR_COUNT_LEN, TOWER_MIN_FLOORS, UUID_FLOOR_LHS_LEN,
  UUID_FLOOR_RHS_LEN, UUID_LEN,
} from './constants.js';

// ---- failure reasons (errReason values) ----
export const TOWER_ERR_SHORT = 'tower: shorter than its floor_count field';
export const TOWER_ERR_PAST_BUFFER = 'tower: tower_length extends past the buffer';
export const TOWER_ERR_FEW_FLOORS = 'tower: fewer than 3 floors';
export const TOWER_ERR_FLOOR_COUNT = 'tower: floor_count exceeds the floors present';
export const TOWER_ERR_LHS_ZERO = 'tower: floor lhs_length is 0';
export const TOWER_ERR_LHS_PAST_END = 'tower: floor lhs extends past the tower';
export const TOWER_ERR_RHS_PAST_END = 'tower: floor rhs extends past the tower';
export const TOWER_ERR_UUID_FLOOR = 'tower: floor 1 or 2 is not a UUID floor (0x0d, lhs 19, rhs 2)';
export const TOWER_ERR_PORT_LEN = 'tower: port floor rhs_length is not 2';
export const TOWER_ERR_IPV4_LEN = 'tower: IPv4 floor rhs_length is not 4';
export const TOWER_ERR_DUP_FLOOR = 'tower: second address floor of the same kind';
export const TOWER_ERR_TRAILING = 'tower: bytes after the last floor';

/** What readTower found in one tower. Offsets are absolute; -1 means absent. */
export class TowerView extends DecodeResult {
  /** Absolute offset of the tower octets (its floor_count) and tower_length, as decoded. */
  off = -1;
  len = 0;
  floorCount = 0;
  /** Floor 1: interface UUID (16 bytes, always LE) and version. */
  ifUuidOff = -1;
  ifMajor = 0;
  ifMinor = 0;
  /** Floor 2: transfer syntax UUID and version (stays NDR 2.0 even in NDR64 calls). */
  syntaxUuidOff = -1;
  syntaxMajor = 0;
  syntaxMinor = 0;
  /** PROTO_* class from floors 3 and 4. */
  protocol = PROTO_UNKNOWN;
  /** Protocol id of floor 3 (0x0b ncacn, 0x0a ncadg, 0x0c ncalrpc...). */
  rpcProto = -1;
  /** 2-byte big-endian port of a TCP/UDP/HTTP floor. */
  portOff = -1;
  port = 0;
  /** 4 address bytes of an IPv4 floor; `ipv4` is that address as an unsigned u32 (a.b.c.d = a<<24...). */
  ipv4Off = -1;
  ipv4 = 0;
  /** ncacn_np pipe or ncalrpc endpoint string, without its NUL. */
  pipeOff = -1;
  pipeLen = 0;
  /** NetBIOS host name string, without its NUL. */
  hostOff = -1;
  hostLen = 0;
  /** First floor after floor 3 whose protocol id is unknown (e.g. 0x20 in the 2003 Exchange capture). */
  extraFloorProto = -1;
  extraFloorRhsOff = -1;
  extraFloorRhsLen = 0;

  reset(): void {
    this.errOffset = 0;
    this.errReason = '';
    this.needed = 0;
    this.off = -1;
    this.len = 0;
    this.floorCount = 0;
    this.ifUuidOff = -1;
    this.ifMajor = 0;
    this.ifMinor = 0;
    this.syntaxUuidOff = -1;
    this.syntaxMajor = 0;
    this.syntaxMinor = 0;
    this.protocol = PROTO_UNKNOWN;
    this.rpcProto = -1;
    this.portOff = -1;
    this.port = 0;
    this.ipv4Off = -1;
    this.ipv4 = 0;
    this.pipeOff = -1;
    this.pipeLen = 0;
    this.hostOff = -1;
    this.hostLen = 0;
    this.extraFloorProto = -1;
    this.extraFloorRhsOff = -1;
    this.extraFloorRhsLen = 0;
  }
}

function rd16le(buf: Uint8Array, off: number): number {
  return (buf[off]! | 0) | ((buf[off + 1]! | 0) << 8);
}

/** Length of the C string at off (bytes before the first NUL, or n if none). */
function cStringLen(buf: Uint8Array, off: number, n: number): number {
  for (let i = 0; i < n; i++) if (buf[off + i] === 0) return i;
  return n;
}

/** Classifies the tower from its floor 3 (RPC protocol) and floor 4 (endpoint) protocol ids. */
function classify(rpcProto: number, endpointProto: number): number {
  if (rpcProto === FLOOR_NCACN) {
    if (endpointProto === FLOOR_TCP) return PROTO_NCACN_IP_TCP;
    if (endpointProto === FLOOR_NP_PIPE) return PROTO_NCACN_NP;
    if (endpointProto === FLOOR_HTTP) return PROTO_NCACN_HTTP;
  } else if (rpcProto === FLOOR_NCADG) {
    if (endpointProto === FLOOR_UDP) return PROTO_NCADG_IP_UDP;
  } else if (rpcProto === FLOOR_NCALRPC) {
    if (endpointProto === FLOOR_LRPC_PIPE) return PROTO_NCALRPC;
  }
  return PROTO_UNKNOWN;
}

/**
 * Records an address floor (floor 4 and later) that starts at `floorOff`; `rhsLenOff` is where
 * its rhs_length sits.
 * A second floor of the same kind is refused: the gateway rewrites one port and one address per
 * tower, and a duplicate would carry the internal value through unrewritten.
 */
function readAddressFloor(
  buf: Uint8Array, proto: number, floorOff: number, rhsLenOff: number, rhsLen: number, out: TowerView,
): Status {
  const rhsOff = rhsLenOff + 2;
  switch (proto) {
    case FLOOR_TCP:
    case FLOOR_UDP:
    case FLOOR_HTTP:
      if (out.portOff >= 0) return fail(out, MALFORMED, floorOff, TOWER_ERR_DUP_FLOOR);
      if (rhsLen !== PORT_RHS_LEN) return fail(out, MALFORMED, rhsLenOff, TOWER_ERR_PORT_LEN);
      out.portOff = rhsOff;
      out.port = ((buf[rhsOff]! | 0) << 8) | (buf[rhsOff + 1]! | 0);
      return OK;
    case FLOOR_IPV4:
      if (out.ipv4Off >= 0) return fail(out, MALFORMED, floorOff, TOWER_ERR_DUP_FLOOR);
      if (rhsLen !== IPV4_RHS_LEN) return fail(out, MALFORMED, rhsLenOff, TOWER_ERR_IPV4_LEN);
      out.ipv4Off = rhsOff;
      out.ipv4 = (((buf[rhsOff]! | 0) << 24) | ((buf[rhsOff + 1]! | 0) << 16) |
        ((buf[rhsOff + 2]! | 0) << 8) | (buf[rhsOff + 3]! | 0)) >>> 0;
      return OK;
    case FLOOR_NP_PIPE:
    case FLOOR_LRPC_PIPE:
      if (out.pipeOff >= 0) return fail(out, MALFORMED, floorOff, TOWER_ERR_DUP_FLOOR);
      out.pipeOff = rhsOff;
      out.pipeLen = cStringLen(buf, rhsOff, rhsLen);
      return OK;
    case FLOOR_NETBIOS:
      if (out.hostOff >= 0) return fail(out, MALFORMED, floorOff, TOWER_ERR_DUP_FLOOR);
      out.hostOff = rhsOff;
      out.hostLen = cStringLen(buf, rhsOff, rhsLen);
      return OK;
    default:
      if (out.extraFloorProto < 0) {
        out.extraFloorProto = proto;
        out.extraFloorRhsOff = rhsOff;
        out.extraFloorRhsLen = rhsLen;
      }
      return OK;
  }
}

/**
 * Decodes the tower octet string of `towerLen` bytes at `off` into `out`.
 *
 * Layout (no padding; all lengths u16 little-endian, independent of drep):
 *   floor_count u16 LE
 *   floor_count x { lhs_length u16 LE | lhs (protocol id u8, lhs data) | rhs_length u16 LE | rhs }
 * Floors 1 and 2 are UUID floors: lhs = 0x0d, UUID (16, LE GUID), major u16 LE; rhs = minor u16 LE.
 * Floor 3 is the RPC protocol (0x0b/0x0a/0x0c); floors 4.. carry the endpoint: port u16 BE
 * (0x07 TCP, 0x08 UDP, 0x1f HTTP), IPv4 4 bytes (0x09), NUL-terminated strings (0x0f, 0x10, 0x11).
 * The floors must fill the tower exactly.
 */
export function readTower(buf: Uint8Array, off: number, towerLen: number, out: TowerView): Status {
  out.reset();
  out.off = off;
  out.len = towerLen;
  const end = off + towerLen;
  if (towerLen < TOWER_FLOOR_COUNT_LEN) return fail(out, MALFORMED, off, TOWER_ERR_SHORT);
  if (end > buf.length) return fail(out, MALFORMED, buf.length, TOWER_ERR_PAST_BUFFER);
  const floorCount = rd16le(buf, off);
  out.floorCount = floorCount;
  if (floorCount < TOWER_MIN_FLOORS) return fail(out, MALFORMED, off, TOWER_ERR_FEW_FLOORS);
  let pos = off + TOWER_FLOOR_COUNT_LEN;
  let endpointProto = -1;
  for (let i = 0; i < floorCount; i++) {
    // Every floor needs its lhs_length; the loop is bounded by floorCount <= 65535 and each
    // iteration advances pos by at least FLOOR_MIN_LEN bytes inside [off, end).
    if (pos + 2 > end) return fail(out, MALFORMED, pos, TOWER_ERR_FLOOR_COUNT);
    const lhsLen = rd16le(buf, pos);
    if (lhsLen === 0) return fail(out, MALFORMED, pos, TOWER_ERR_LHS_ZERO);
    const lhsOff = pos + 2;
    const rhsLenOff = lhsOff + lhsLen;
    if (rhsLenOff + 2 > end) return fail(out, MALFORMED, pos, TOWER_ERR_LHS_PAST_END);
    const rhsLen = rd16le(buf, rhsLenOff);
    const rhsOff = rhsLenOff + 2;
    if (rhsOff + rhsLen > end) return fail(out, MALFORMED, rhsLenOff, TOWER_ERR_RHS_PAST_END);
    const proto = buf[lhsOff]! | 0;
    if (i < 2) {
      if (proto !== FLOOR_UUID || lhsLen !== UUID_FLOOR_LHS_LEN || rhsLen !== UUID_FLOOR_RHS_LEN) {
        return fail(out, MALFORMED, pos, TOWER_ERR_UUID_FLOOR);
      }
      const major = rd16le(buf, lhsOff + 1 + UUID_LEN);
      const minor = rd16le(buf, rhsOff);
      if (i === 0) {
        out.ifUuidOff = lhsOff + 1;
        out.ifMajor = major;
        out.ifMinor = minor;
      } else {
        out.syntaxUuidOff = lhsOff + 1;
        out.syntaxMajor = major;
        out.syntaxMinor = minor;
      }
    } else if (i === 2) {
      out.rpcProto = proto;
    } else {
      if (i === 3) endpointProto = proto;
      const st = readAddressFloor(buf, proto, pos, rhsLenOff, rhsLen, out);
      if (st !== OK) return st;
    }
    pos = rhsOff + rhsLen;
  }
  if (pos !== end) return fail(out, MALFORMED, pos, TOWER_ERR_TRAILING);
  out.protocol = classify(out.rpcProto, endpointProto);
  return OK;
}

// ---- encoder ----

/** What writeTower builds. UUIDs as text; strings ASCII (one byte per char). */
export interface TowerSpec {
  ifUuid: string;
  ifMajor: number;
  ifMinor: number;
  /** Transfer syntax of floor 2; default NDR 8a885d04-1ceb-11c9-9fe8-08002b104860 v2.0. */
  syntaxUuid?: string;
  syntaxMajor?: number;
  syntaxMinor?: number;
  /** PROTO_NCACN_IP_TCP, _NCADG_IP_UDP, _NCACN_HTTP (port + ipv4), _NCACN_NP (pipe + host), _NCALRPC (pipe). */
  protocol: number;
  port?: number;
  /** IPv4 as an unsigned u32 (192.168.0.2 = 0xc0a80002). */
  ipv4?: number;
  pipe?: string;
  host?: string;
}

function writeFloorHeader(buf: Uint8Array, off: number, proto: number, rhsLen: number): number {
  buf[off] = 1;
  buf[off + 1] = 0;
  buf[off + 2] = proto;
  buf[off + 3] = rhsLen & 0xff;
  buf[off + 4] = (rhsLen >>> 8) & 0xff;
  return 5;
}

function writeUuidFloor(buf: Uint8Array, off: number, uuid: string | Uint8Array, major: number, minor: number): number {
  buf[off] = UUID_FLOOR_LHS_LEN;
  buf[off + 1] = 0;
  buf[off + 2] = FLOOR_UUID;
  if (typeof uuid === 'string') {
    if (!parseUuid(uuid, buf, off + 3, true)) throw new RangeError(`writeTower: bad UUID '${uuid}'`);
  } else {
    buf.set(uuid, off + 3);
  }
  buf[off + 19] = major & 0xff;
  buf[off + 20] = (major >>> 8) & 0xff;
  buf[off + 21] = UUID_FLOOR_RHS_LEN;
  buf[off + 22] = 0;
  buf[off + 23] = minor & 0xff;
  buf[off + 24] = (minor >>> 8) & 0xff;
  return 25;
}

/** A floor whose rhs is a 2-byte value: big-endian for ports, little-endian for minor versions. */
function writeU16Floor(buf: Uint8Array, off: number, proto: number, value: number, bigEndian: boolean): number {
  writeFloorHeader(buf, off, proto, 2);
  buf[off + 5] = bigEndian ? (value >>> 8) & 0xff : value & 0xff;
  buf[off + 6] = bigEndian ? value & 0xff : (value >>> 8) & 0xff;
  return 7;
}

function writeIpv4Floor(buf: Uint8Array, off: number, ipv4: number): number {
  writeFloorHeader(buf, off, FLOOR_IPV4, 4);
  buf[off + 5] = (ipv4 >>> 24) & 0xff;
  buf[off + 6] = (ipv4 >>> 16) & 0xff;
  buf[off + 7] = (ipv4 >>> 8) & 0xff;
  buf[off + 8] = ipv4 & 0xff;
  return 9;
}

function writeStringFloor(buf: Uint8Array, off: number, proto: number, text: string): number {
  writeFloorHeader(buf, off, proto, text.length + 1);
  for (let i = 0; i < text.length; i++) buf[off + 5 + i] = text.charCodeAt(i) & 0xff;
  buf[off + 5 + text.length] = 0;
  return 5 + text.length + 1;
}

/** Writes a tower octet string at `off`; returns its length (the tower_length to put before it). */
export function writeTower(buf: Uint8Array, off: number, spec: TowerSpec): number {
  const p = spec.protocol;
  let floors: number;
  if (p === PROTO_NCACN_IP_TCP || p === PROTO_NCADG_IP_UDP || p === PROTO_NCACN_HTTP || p === PROTO_NCACN_NP) floors = 5;
  else if (p === PROTO_NCALRPC) floors = 4;
  else throw new RangeError(`writeTower: cannot build a tower for protocol ${p}`);
  buf[off] = floors;
  buf[off + 1] = 0;
  let pos = off + 2;
  pos += writeUuidFloor(buf, pos, spec.ifUuid, spec.ifMajor, spec.ifMinor);
  pos += writeUuidFloor(buf, pos, spec.syntaxUuid ?? UUID_NDR, spec.syntaxMajor ?? 2, spec.syntaxMinor ?? 0);
  const rpcProto = p === PROTO_NCADG_IP_UDP ? FLOOR_NCADG : p === PROTO_NCALRPC ? FLOOR_NCALRPC : FLOOR_NCACN;
  pos += writeU16Floor(buf, pos, rpcProto, 0, false);
  if (p === PROTO_NCACN_NP) {
    pos += writeStringFloor(buf, pos, FLOOR_NP_PIPE, spec.pipe ?? '');
    pos += writeStringFloor(buf, pos, FLOOR_NETBIOS, spec.host ?? '');
  } else if (p === PROTO_NCALRPC) {
    pos += writeStringFloor(buf, pos, FLOOR_LRPC_PIPE, spec.pipe ?? '');
  } else {
    const portProto = p === PROTO_NCADG_IP_UDP ? FLOOR_UDP : p === PROTO_NCACN_HTTP ? FLOOR_HTTP : FLOOR_TCP;
    pos += writeU16Floor(buf, pos, portProto, spec.port ?? 0, true);
    pos += writeIpv4Floor(buf, pos, spec.ipv4 ?? 0);
  }
  return pos - off;
}

/** Bytes writeTower would write for `spec`, to size a buffer. */
export function towerSize(spec: TowerSpec): number {
  const fixed = 2 + 25 + 25 + 7;
  if (spec.protocol === PROTO_NCACN_NP) return fixed + 5 + (spec.pipe ?? '').length + 1 + 5 + (spec.host ?? '').length + 1;
  if (spec.protocol === PROTO_NCALRPC) return fixed + 5 + (spec.pipe ?? '').length + 1;
  return fixed + 7 + 9;
}

/** Builds a tower into a new array (tests, gateway-originated requests; not the packet path). */
export function buildTower(spec: TowerSpec): Uint8Array {
  const out = new Uint8Array(towerSize(spec));
  writeTower(out, 0, spec);
  return out;
}

// ---- reporting helpers (allocate strings; never called by decoders) ----

/** Text of a tower UUID (tower UUIDs are always little-endian). */
export function towerUuidToString(buf: Uint8Array, off: number): string {
  return uuidToString(buf, off, true);
}

/** `len` bytes as text, one character per byte (pipe names, hosts, annotations: ASCII on the wire). */
export function asciiAt(buf: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += String.fromCharCode(buf[off + i]! | 0);
  return s;
}

function hexAt(buf: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += (buf[off + i]! | 0).toString(16).padStart(2, '0');
  return s;
}

/**
 * The oracle's `pipe_or_host` column (MANIFEST.md): "pipe host" for ncacn_np, the endpoint for
 * ncalrpc, `0xNN:<rhs hex>` for the first unknown floor, '' otherwise.
 */
export function towerPipeOrHost(buf: Uint8Array, view: TowerView): string {
  const parts: string[] = [];
  if (view.pipeOff >= 0) parts.push(asciiAt(buf, view.pipeOff, view.pipeLen));
  if (view.hostOff >= 0) parts.push(asciiAt(buf, view.hostOff, view.hostLen));
  if (view.extraFloorProto >= 0) {
    parts.push('0x' + view.extraFloorProto.toString(16).padStart(2, '0') + ':' +
      hexAt(buf, view.extraFloorRhsOff, view.extraFloorRhsLen));
  }
  return parts.join(' ');
}

/** Floor protocol ids whose rhs readTower understands (everything else lands in extraFloor*). */
export const KNOWN_ADDRESS_FLOORS: readonly number[] = [
  FLOOR_TCP, FLOOR_UDP, FLOOR_IPV4, FLOOR_NP_PIPE, FLOOR_LRPC_PIPE, FLOOR_NETBIOS, FLOOR_HTTP,
];

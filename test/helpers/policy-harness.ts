/**
 * Helpers for the RPC policy on mapped connections and for new-mail notifications (issue 5),
 * on top of engine-harness.ts: rules with gateway extras, a mapped connection opened the way a
 * client opens one (ept_map through 135, then connect to the mapped port), bind / bind_ack /
 * request PDUs with several contexts and auth verifiers, the EcRRegisterPushNotification
 * request, raw IPv4/UDP datagrams, the two RSTs of a refusal, packet comparison "modulo NAT
 * fields", a DCE/RPC stream walker, and an `rpcgw replay` runner for the corpus tests.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import {
  CLIENT, EXT, GW, SERVER, SIDE_EXTERNAL, SIDE_INTERNAL, TcpConn, type EngineHarness, type Emitted,
  NDR_SYNTAX, NDR64_SYNTAX, epmSession, lastMappedPort, mapCall, parseTcp, rulesDoc, tcpTower, ip,
} from './engine-harness.js';
import { runCli } from './cli.js';
import { readReplayReport } from './replay-report.js';
import {
  type AuthOptions, type BindResultOptions, type ContextElemOptions, type SyntaxId, btfnUuid, encode,
  writeAlterContext, writeAlterContextResp, writeAuth3, writeBind, writeBindAck, writeRequest, writeResponse,
} from '../../src/dcerpc/pdu-write.js';
import { AUTH_TYPE_WINNT, PFC_FIRST_FRAG, PFC_LAST_FRAG, RESULT_ACCEPTANCE } from '../../src/dcerpc/constants.js';
import { FrameInfo, framePdu } from '../../src/dcerpc/framer.js';
import { EMSMDB_OPNUM_REGISTER_PUSH, encodeRegisterPushNotification } from '../../src/exchange/push-notification.js';
import { IPPROTO_UDP, LINKTYPE_RAW, PacketView, TCP_RST, readPacket } from '../../src/wire/packet.js';
import { writeIpv4Header } from '../../src/wire/ipv4.js';
import { writeUdpHeader } from '../../src/wire/udp.js';
import { finishUdpChecksumV4, ipv4HeaderChecksumOk, l4ChecksumOk } from '../../src/wire/checksum.js';
import { ipv4ToString } from '../../src/wire/addr.js';
import { OK } from '../../src/wire/status.js';

export const SRVSVC = '4b324fc8-1670-01d3-1278-5a47bf6ee188';
export const WKSSVC = '6bffd098-a112-3610-9833-46c3f87e345a';
export const EMSMDB = 'a4f1db00-ca47-1067-b31f-00dd010662da';
export const BTFN_SYNTAX: SyntaxId = { uuid: btfnUuid(0x0003), version: 1 };
export { NDR_SYNTAX, NDR64_SYNTAX };

/** Default gateway.notificationRelayPorts (docs/rules.md). */
export const RELAY_LO = 47000;
export const RELAY_HI = 47999;

/**
 * A rules document (engine-harness rulesDoc: rule "r0" publishing SERVER on EXT) whose gateway
 * section also gets `gateway` (e.g. notificationRelayPorts).
 */
export function policyDoc(rule: Record<string, unknown>, gateway: Record<string, unknown> = {}): Record<string, unknown> {
  const doc = rulesDoc(rule);
  doc.gateway = { ...(doc.gateway as Record<string, unknown>), ...gateway };
  return doc;
}

// ---- PDUs -------------------------------------------------------------------------------------

/** An auth verifier (NTLM by default) at `level` with a dummy token. */
export function auth(level: number, len = 16, type = AUTH_TYPE_WINNT): AuthOptions {
  return { type, level, value: new Uint8Array(len).fill(0xa0 + level), contextId: 0 };
}

/** A context element: ctxId, interface, transfer syntaxes (NDR by default). */
export function ctx(ctxId: number, uuid: string, major: number, minor: number, transfer: SyntaxId[] = [NDR_SYNTAX]): ContextElemOptions {
  return { ctxId, abstract: { uuid, major, minor }, transfer };
}

export interface BindPduOptions {
  callId?: number;
  alter?: boolean;
  auth?: AuthOptions;
  littleEndian?: boolean;
}

/** bind (or alter_context) with these context elements. */
export function bindPdu(contexts: ContextElemOptions[], o: BindPduOptions = {}): Uint8Array {
  return encode(o.alter === true ? writeAlterContext : writeBind, {
    callId: o.callId ?? 1, contexts, ...(o.auth ? { auth: o.auth } : {}), ...(o.littleEndian !== undefined ? { littleEndian: o.littleEndian } : {}),
  });
}

/** bind_ack (or alter_context_resp) with these positional results. */
export function bindAckPdu(results: BindResultOptions[], o: BindPduOptions & { port?: number } = {}): Uint8Array {
  return encode(o.alter === true ? writeAlterContextResp : writeBindAck, {
    callId: o.callId ?? 1, results, secAddr: String(o.port ?? 1032), ...(o.auth ? { auth: o.auth } : {}),
    ...(o.littleEndian !== undefined ? { littleEndian: o.littleEndian } : {}),
  });
}

/** An accepting result with NDR (or the given syntax). */
export const accept = (transfer: SyntaxId = NDR_SYNTAX): BindResultOptions => ({ result: RESULT_ACCEPTANCE, transfer });

export function auth3Pdu(callId: number, a: AuthOptions): Uint8Array {
  return encode(writeAuth3, { callId, auth: a });
}

export interface RequestPduOptions {
  callId?: number;
  ctxId?: number;
  opnum?: number;
  auth?: AuthOptions;
  pfcFlags?: number;
  allocHint?: number;
  littleEndian?: boolean;
}

export function requestPdu(stub: Uint8Array, o: RequestPduOptions = {}): Uint8Array {
  return encode(writeRequest, {
    callId: o.callId ?? 2, ctxId: o.ctxId ?? 0, opnum: o.opnum ?? 10, stub,
    ...(o.auth ? { auth: o.auth } : {}), ...(o.pfcFlags !== undefined ? { pfcFlags: o.pfcFlags } : {}),
    ...(o.allocHint !== undefined ? { allocHint: o.allocHint } : {}), ...(o.littleEndian !== undefined ? { littleEndian: o.littleEndian } : {}),
  });
}

export function responsePdu(stub: Uint8Array, o: { callId?: number; ctxId?: number; pfcFlags?: number; allocHint?: number } = {}): Uint8Array {
  return encode(writeResponse, {
    callId: o.callId ?? 2, ctxId: o.ctxId ?? 0, stub, ...(o.pfcFlags !== undefined ? { pfcFlags: o.pfcFlags } : {}),
    ...(o.allocHint !== undefined ? { allocHint: o.allocHint } : {}),
  });
}

/** One call's stub cut into request fragments of at most `per` stub bytes each (FIRST/LAST set). */
export function requestFragments(stub: Uint8Array, per: number, o: RequestPduOptions = {}): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < stub.length; at += per) {
    const flags = (at === 0 ? PFC_FIRST_FRAG : 0) | (at + per >= stub.length ? PFC_LAST_FRAG : 0);
    out.push(requestPdu(stub.subarray(at, Math.min(stub.length, at + per)), { ...o, pfcFlags: flags, allocHint: stub.length - at }));
  }
  return out;
}

/** A deterministic, non-repeating stub (so a byte moved or dropped shows). */
export function patternStub(len: number, seed = 1): Uint8Array {
  const b = new Uint8Array(len);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** EcRRegisterPushNotification (EMSMDB opnum 4) request PDU. */
export function registerPushPdu(o: { context: Uint8Array; callback: Uint8Array; callId?: number; ctxId?: number; auth?: AuthOptions; littleEndian?: boolean }): Uint8Array {
  const stub = encodeRegisterPushNotification({ context: o.context, callback: o.callback, ...(o.littleEndian !== undefined ? { littleEndian: o.littleEndian } : {}) });
  return requestPdu(stub, {
    callId: o.callId ?? 3, ctxId: o.ctxId ?? 0, opnum: EMSMDB_OPNUM_REGISTER_PUSH, ...(o.auth ? { auth: o.auth } : {}),
    ...(o.littleEndian !== undefined ? { littleEndian: o.littleEndian } : {}),
  });
}

/** A SOCKADDR_IN6 as Windows registers it: family 23 LE, port BE, flowinfo, 16-byte address, scope. */
export function sockaddrIn6(port: number, addr16: Uint8Array): Uint8Array {
  const b = new Uint8Array(28);
  b[0] = 23;
  b[2] = port >>> 8;
  b[3] = port & 0xff;
  b.set(addr16, 8);
  return b;
}

// ---- a mapped connection, opened the way a client does ----------------------------------------

export interface MappedOptions {
  iface?: string;
  major?: number;
  minor?: number;
  serverPort?: number;
  client?: string;
  /** Client port of the mapped connection; the EPM session uses cport - 1000. */
  cport?: number;
  /** External address the client talks to (the rule's externalAddress); default EXT. */
  ext?: string;
}

/**
 * ept_map for `iface` through 135 (the rule must publish it), then a TCP connection to the mapped
 * port, handshake done. Returns the connection (eport = mapped port, sport = server's port).
 */
export function openMapped(h: EngineHarness, o: MappedOptions = {}): { conn: TcpConn; port: number; epm: TcpConn } {
  const iface = o.iface ?? EMSMDB;
  const major = o.major ?? 0;
  const minor = o.minor ?? 81;
  const serverPort = o.serverPort ?? 1032;
  const client = o.client ?? CLIENT;
  const cport = o.cport ?? 51000;
  const ext = o.ext ?? EXT;
  const epm = epmSession(h, { client, cport: cport - 1000, ext });
  mapCall(epm, [tcpTower(iface, major, minor, SERVER, serverPort)], { ifUuid: iface, major, minor });
  const port = lastMappedPort(h);
  return { conn: connectMapped(h, port, { client, cport, serverPort, ext }), port, epm };
}

/** Another connection through an existing pinhole (handshake done). */
export function connectMapped(h: EngineHarness, port: number, o: { client?: string; cport: number; serverPort?: number; ext?: string }): TcpConn {
  const conn = new TcpConn(h, {
    client: o.client ?? CLIENT, cport: o.cport, ext: o.ext ?? EXT, eport: port, sport: o.serverPort ?? 1032, cIsn: 0x2000_0000 + o.cport * 7,
    sIsn: 0x7fff_0000 + o.cport,
  });
  if (!conn.open()) throw new Error(`handshake to mapped port ${port} not forwarded`);
  return conn;
}

// ---- checks -----------------------------------------------------------------------------------

/**
 * The two RSTs of a refusal on connection `c`, checked: to the client from ext:eport, to the
 * server from GW:gwPort, each at the sequence number that end last acknowledged, checksums valid.
 */
export function expectResetBothWays(c: TcpConn, emitted: Emitted[]): void {
  const rst = emitted.filter((e) => (parseTcp(e.pkt).flags & TCP_RST) !== 0).map((e) => ({ side: e.side, p: parseTcp(e.pkt) }));
  expect(rst.map((r) => r.side)).toEqual([SIDE_EXTERNAL, SIDE_INTERNAL]);
  const [toClient, toServer] = [rst[0]!.p, rst[1]!.p];
  expect([toClient.src, toClient.sport, toClient.dst, toClient.dport, toClient.flags]).toEqual([c.ext, c.eport, c.client, c.cport, TCP_RST]);
  expect([toServer.src, toServer.sport, toServer.dst, toServer.dport, toServer.flags]).toEqual([GW, c.gwPort, c.server, c.sport, TCP_RST]);
  expect(toClient.seq).toBe(c.lastAckFromClient);
  expect(toServer.seq).toBe(c.lastAckFromServer);
  for (const r of rst) expect(r.p.ipChecksumOk && r.p.tcpChecksumOk).toBe(true);
}

/** TTL (one less: a router forwards), IPv4 header checksum, addresses, ports and TCP checksum: what NAT may change. */
const NAT_FIELDS = new Set([8, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 36, 37]);

/**
 * Offsets (relative to the IP header) where `output` differs from `input` outside the NAT
 * fields, plus a length mismatch as -1. Both are 20-byte-IP + 20-byte-TCP packets.
 */
export function diffModuloNat(input: Uint8Array, output: Uint8Array): number[] {
  const out: number[] = [];
  if (input.length !== output.length) out.push(-1);
  if (output[8] !== input[8]! - 1) out.push(8);
  for (let i = 0; i < Math.min(input.length, output.length); i++) if (!NAT_FIELDS.has(i) && input[i] !== output[i]) out.push(i);
  return out;
}

/**
 * Sends `data` as the next bytes of one side of `c`, cut every `mss` bytes, and records for each
 * segment the packet injected and what the engine emitted for it.
 */
export function sendSegments(c: TcpConn, fromClient: boolean, data: Uint8Array, mss = 1460): { input: Uint8Array; out: Emitted[] }[] {
  const res: { input: Uint8Array; out: Emitted[] }[] = [];
  for (let p = 0; p < data.length; p += mss) {
    const seg = data.subarray(p, Math.min(data.length, p + mss));
    const input = fromClient ? c.clientPacket(c.cSent + p, seg) : c.serverPacket(c.sSent + p, seg);
    res.push({ input, out: c.h.inject(fromClient ? SIDE_EXTERNAL : SIDE_INTERNAL, input) });
  }
  if (fromClient) c.cSent += data.length;
  else c.sSent += data.length;
  return res;
}

/**
 * Problems (empty = none) if the segments were not forwarded one for one, immediately, to the
 * other side, byte-identical outside the NAT fields, with valid checksums.
 */
export function verbatimProblems(sent: { input: Uint8Array; out: Emitted[] }[], toSide: number): string[] {
  const problems: string[] = [];
  sent.forEach(({ input, out }, i) => {
    if (out.length !== 1 || out[0]!.side !== toSide) {
      problems.push(`segment ${i}: ${out.length} packet(s) emitted (sides ${out.map((e) => e.side).join(',')})`);
      return;
    }
    const d = diffModuloNat(input, out[0]!.pkt);
    if (d.length > 0) problems.push(`segment ${i}: differs at ${d.slice(0, 8).join(',')}`);
    const p = parseTcp(out[0]!.pkt);
    if (!p.ipChecksumOk || !p.tcpChecksumOk) problems.push(`segment ${i}: bad checksum`);
  });
  return problems;
}

export interface WalkedPdu {
  off: number;
  ptype: number;
  fragLen: number;
  flags: number;
  callId: number;
}

/**
 * Walks a byte stream PDU by PDU with the project's framer: every PDU must frame, the stream must
 * end on a PDU boundary. `error` is '' when it does.
 */
export function walkPdus(stream: Uint8Array): { pdus: WalkedPdu[]; error: string } {
  const f = new FrameInfo();
  const pdus: WalkedPdu[] = [];
  let p = 0;
  while (p < stream.length) {
    const st = framePdu(stream, p, stream.length - p, f);
    if (st !== OK) return { pdus, error: `at ${p}: ${f.errReason} (status ${st})` };
    const le = f.littleEndian;
    const callId = le
      ? (stream[p + 12]! | (stream[p + 13]! << 8) | (stream[p + 14]! << 16) | (stream[p + 15]! << 24)) >>> 0
      : ((stream[p + 12]! << 24) | (stream[p + 13]! << 16) | (stream[p + 14]! << 8) | stream[p + 15]!) >>> 0;
    pdus.push({ off: p, ptype: f.ptype, fragLen: f.pduLen, flags: stream[p + 3]!, callId });
    p += f.pduLen;
  }
  return { pdus, error: '' };
}

// ---- UDP --------------------------------------------------------------------------------------

/** A raw IPv4/UDP datagram with valid checksums (or UDP checksum 0 with noChecksum). */
export function udpPacket(o: { src: string; dst: string; sport: number; dport: number; payload: Uint8Array; noChecksum?: boolean; ttl?: number }): Uint8Array {
  const b = new Uint8Array(28 + o.payload.length);
  writeIpv4Header(b, 0, { src: ip(o.src), dst: ip(o.dst), proto: IPPROTO_UDP, totalLen: b.length, ttl: o.ttl ?? 64, id: 0x1234, dontFragment: false });
  writeUdpHeader(b, 20, o.sport, o.dport, 8 + o.payload.length);
  b.set(o.payload, 28);
  if (o.noChecksum !== true) finishUdpChecksumV4(b, 0, 20, 8 + o.payload.length);
  return b;
}

export interface ParsedUdp {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  payload: Uint8Array;
  udpChecksum: number;
  ipChecksumOk: boolean;
  udpChecksumOk: boolean;
}

const udpView = new PacketView();

export function parseUdp(pkt: Uint8Array): ParsedUdp {
  const v = udpView;
  if (readPacket(pkt, 0, pkt.length, LINKTYPE_RAW, v) !== OK || v.ipProto !== IPPROTO_UDP || v.l4Off < 0) throw new Error(`not IPv4/UDP: ${v.errReason}`);
  return {
    src: ipv4ToString(v.src4), dst: ipv4ToString(v.dst4), sport: v.srcPort, dport: v.dstPort,
    payload: pkt.slice(v.payloadOff, v.payloadOff + v.payloadLen), udpChecksum: (pkt[v.l4Off + 6]! << 8) | pkt[v.l4Off + 7]!,
    ipChecksumOk: ipv4HeaderChecksumOk(pkt, v), udpChecksumOk: l4ChecksumOk(pkt, v),
  };
}

// ---- rpcgw replay + tshark --------------------------------------------------------------------

let workDir: string | null = null;

/** A temporary folder for replay outputs (made on first use); removeReplayDir() deletes it. */
export function replayDir(): string {
  workDir ??= mkdtempSync(path.join(tmpdir(), 'rpcgw-policy-engine-'));
  return workDir;
}

export function removeReplayDir(): void {
  if (workDir !== null) rmSync(workDir, { recursive: true, force: true });
  workDir = null;
}

export interface ReplayOutcome {
  report: {
    mode: string;
    frames: number;
    rewrites: { interface: string; original: string; rewritten: string; op: string }[];
    refusals: { reason: string; detail: string; rule: string; client: string }[];
    drops: Record<string, number>;
    packetsIn: Record<string, number>;
    packetsOut: Record<string, number>;
    resetsSent: number;
  };
  out: string;
}

/** `rpcgw replay capture --rules <doc> --out <name>.pcapng --report ...`, exit 0 and empty stderr required. */
export function replayWith(capture: string, doc: unknown, name: string): ReplayOutcome {
  const rules = path.join(replayDir(), `${name}.rules.json`);
  const out = path.join(replayDir(), `${name}.pcapng`);
  const report = path.join(replayDir(), `${name}.report.json`);
  writeFileSync(rules, JSON.stringify(doc));
  const r = runCli(['replay', capture, '--rules', rules, '--out', out, '--report', report]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return { report: readReplayReport(report), out };
}

export { CLIENT, EXT, GW, SERVER };

#!/usr/bin/env node
/**
 * The live bench's own DCE/RPC traffic: a server and a client, run inside the lab's namespaces
 * by bench/live.ts (`node bench/dist/bench/live-peer.js server|client ...`).
 *
 * server --addr A --port P [--epm-port 135]
 *   135: bind -> bind_ack; any request -> an ept_map response with one tower naming A:P for the
 *        made-up interface BENCH_IFACE. P: bind -> bind_ack accepting NDR; request opnum 0 ->
 *        a 64-byte response, opnum 1 -> a BULK_STUB response in fragments of MAX_XMIT.
 * client --phase bulk|small|latency|setups --seconds S [--epm HOST] [--host H --port P] [--conns N] [--window W]
 *   setups: connection set-ups per second ([ept_map ->] connect -> bind -> call -> close, N loops).
 *   With --epm, asks the endpoint mapper at HOST:135 for BENCH_IFACE and connects where the
 *   (rewritten) tower says; otherwise connects to --host:--port. Prints one JSON line.
 *
 * PDUs are framed with a small state machine over the socket's chunks (header bytes collected
 * into a 24-byte scratch, the rest skipped), so the peers cost little next to the gateway.
 * Every loop stops at --seconds (and a hard cap of calls); nothing retries.
 */
import net from 'node:net';
import { UUID_EPM, UUID_NDR } from '../src/dcerpc/constants.js';
import { encode, writeBind, writeBindAck, writeRequest, writeResponse } from '../src/dcerpc/pdu-write.js';
import { EptMapResponseView, readEptMapResponse, writeEptMapRequest, writeEptMapResponse } from '../src/epm/ept-map.js';
import { PROTO_NCACN_IP_TCP } from '../src/epm/constants.js';
import { buildTower } from '../src/epm/tower.js';

/** A made-up interface UUID (no real service uses it). */
export const BENCH_IFACE = '6b656e63-6862-4c69-7665-000000000001';
export const MAX_XMIT = 4280;
export const BULK_STUB = 64 * 1024;
export const SMALL_STUB = 64;
const HDR = 24;
const PTYPE_REQUEST = 0;
const PTYPE_RESPONSE = 2;
const PTYPE_BIND = 11;
const PFC_FIRST = 0x01;
const PFC_LAST = 0x02;
const OPNUM_SMALL = 0;
const OPNUM_BULK = 1;
const MAX_CALLS = 50_000_000;

/** Calls `onFrag(hdr, hdrLen)` once per complete fragment; hdr holds its first min(24, fragLen) bytes. */
class Framer {
  private hdr = new Uint8Array(HDR);
  private have = 0;
  private fragLen = 0;
  private skip = 0;
  constructor(private onFrag: (hdr: Uint8Array, hdrLen: number) => void) {}

  push(b: Buffer): void {
    let i = 0;
    const n = b.length;
    while (i < n) {
      if (this.skip > 0) {
        const k = Math.min(this.skip, n - i);
        this.skip -= k;
        i += k;
        if (this.skip === 0) this.done();
        continue;
      }
      const want = this.have < 16 ? 16 : Math.min(HDR, this.fragLen);
      const k = Math.min(want - this.have, n - i);
      this.hdr.set(b.subarray(i, i + k), this.have);
      this.have += k;
      i += k;
      if (this.have < want) continue;
      if (this.have === 16) {
        this.fragLen = this.hdr[8]! | (this.hdr[9]! << 8);
        if (this.fragLen < 16) throw new Error(`bad frag_len ${this.fragLen}`);
        if (this.fragLen > 16) continue;
      }
      this.skip = this.fragLen - this.have;
      if (this.skip === 0) this.done();
    }
  }

  private done(): void {
    this.onFrag(this.hdr, Math.min(HDR, this.fragLen));
    this.have = 0;
    this.fragLen = 0;
  }
}

const callIdOf = (h: Uint8Array): number => (h[12]! | (h[13]! << 8) | (h[14]! << 16) | (h[15]! << 24)) >>> 0;

function setCallId(buf: Uint8Array, off: number, callId: number): void {
  buf[off + 12] = callId & 0xff;
  buf[off + 13] = (callId >>> 8) & 0xff;
  buf[off + 14] = (callId >>> 16) & 0xff;
  buf[off + 15] = (callId >>> 24) & 0xff;
}

/** A stub of `len` bytes split into fragments of at most MAX_XMIT, all in one buffer (call id 0). */
function fragmented(len: number, one: (buf: Uint8Array, off: number, stub: Uint8Array, flags: number) => number, hdrLen: number): Buffer {
  const per = MAX_XMIT - hdrLen;
  const out = Buffer.alloc(len + Math.ceil(len / per) * hdrLen);
  const stub = new Uint8Array(per).fill(0x5a);
  let off = 0;
  for (let done = 0; done < len; done += per) {
    const k = Math.min(per, len - done);
    const flags = (done === 0 ? PFC_FIRST : 0) | (done + k === len ? PFC_LAST : 0);
    off += one(out, off, stub.subarray(0, k), flags);
  }
  return out;
}

/** Writes a copy of `tpl` with every fragment's call id set (a queued write keeps its own bytes). */
function withCallId(tpl: Buffer, callId: number): Buffer {
  const b = Buffer.allocUnsafe(tpl.length);
  tpl.copy(b);
  for (let off = 0; off < b.length; off += b[off + 8]! | (b[off + 9]! << 8)) setCallId(b, off, callId);
  return b;
}

const NDR_ACCEPT = [{ result: 0, transfer: { uuid: UUID_NDR, version: 2 } }];

// ---- server -----------------------------------------------------------------------------

function serve(addr: string, port: number, epmPort: number): void {
  const ip = addr.split('.').reduce((a, x) => (a * 256 + Number(x)) >>> 0, 0);
  const tower = buildTower({ ifUuid: BENCH_IFACE, ifMajor: 1, ifMinor: 0, protocol: PROTO_NCACN_IP_TCP, port, ipv4: ip });
  const mapStub = new Uint8Array(256);
  const mapLen = writeEptMapResponse(mapStub, 0, { ndr64: false, towers: [tower], maxTowers: 4, status: 0 });
  const bulkTpl = fragmented(BULK_STUB, (buf, off, stub, flags) => writeResponse(buf, off, { callId: 0, ctxId: 0, stub, pfcFlags: flags, allocHint: BULK_STUB }), HDR);
  const smallTpl = Buffer.from(encode(writeResponse, { callId: 0, ctxId: 0, stub: new Uint8Array(SMALL_STUB).fill(0x33) }));
  const listen = (p: number, isEpm: boolean): void => {
    const srv = net.createServer((sock) => {
      sock.setNoDelay(true);
      sock.on('error', () => sock.destroy());
      let opnum = 0;
      const f = new Framer((h) => {
        const ptype = h[2]!;
        const callId = callIdOf(h);
        if (ptype === PTYPE_BIND) {
          sock.write(encode(writeBindAck, { callId, results: NDR_ACCEPT, secAddr: String(p), maxXmit: MAX_XMIT, maxRecv: MAX_XMIT, assocGroup: 0x1234 }));
        } else if (ptype === PTYPE_REQUEST) {
          if ((h[3]! & PFC_FIRST) !== 0) opnum = h[22]! | (h[23]! << 8);
          if ((h[3]! & PFC_LAST) === 0) return;
          if (isEpm) sock.write(encode(writeResponse, { callId, ctxId: 0, stub: mapStub.subarray(0, mapLen) }));
          else sock.write(withCallId(opnum === OPNUM_BULK ? bulkTpl : smallTpl, callId));
        }
      });
      sock.on('data', (b: Buffer) => {
        try {
          f.push(b);
        } catch {
          sock.destroy();
        }
      });
    });
    srv.listen(p, addr);
  };
  listen(epmPort, true);
  listen(port, false);
  process.stdout.write(JSON.stringify({ listening: [epmPort, port] }) + '\n');
}

// ---- client -----------------------------------------------------------------------------

function connect(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, noDelay: true });
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`connect ${host}:${port} timed out`));
    }, 5000);
    s.once('connect', () => {
      clearTimeout(t);
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

/** Sends one PDU and resolves with the stub of the (single-fragment) answer. */
function exchange(s: net.Socket, pdu: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let acc = Buffer.alloc(0);
    const t = setTimeout(() => done(new Error('no answer within 5 s')), 5000);
    const onData = (b: Buffer): void => {
      acc = Buffer.concat([acc, b]);
      if (acc.length >= 10 && acc.length >= (acc[8]! | (acc[9]! << 8))) done(null);
    };
    const done = (e: Error | null): void => {
      clearTimeout(t);
      s.off('data', onData);
      if (e) reject(e);
      else resolve(acc);
    };
    s.on('data', onData);
    s.write(pdu);
  });
}

async function bind(s: net.Socket, iface: { uuid: string | Uint8Array; major: number; minor: number }): Promise<void> {
  const ack = await exchange(s, encode(writeBind, { callId: 1, contexts: [{ ctxId: 0, abstract: iface, transfer: [{ uuid: UUID_NDR, version: 2 }] }] }));
  if (ack[2] !== 12) throw new Error(`bind answered with ptype ${ack[2]}`);
}

/** ept_map through `host`:135; returns the address and port of the tower that comes back. */
async function eptMap(host: string): Promise<{ host: string; port: number }> {
  const s = await connect(host, 135);
  try {
    await bind(s, { uuid: UUID_EPM, major: 3, minor: 0 });
    const stub = new Uint8Array(256);
    const tower = buildTower({ ifUuid: BENCH_IFACE, ifMajor: 1, ifMinor: 0, protocol: PROTO_NCACN_IP_TCP, port: 0, ipv4: 0 });
    const n = writeEptMapRequest(stub, 0, { ndr64: false, tower, maxTowers: 4 });
    const resp = await exchange(s, encode(writeRequest, { callId: 2, ctxId: 0, opnum: 3, stub: stub.subarray(0, n) }));
    if (resp[2] !== PTYPE_RESPONSE) throw new Error(`ept_map answered with ptype ${resp[2]}`);
    const v = new EptMapResponseView();
    const st = readEptMapResponse(resp, HDR, resp.length - HDR, false, true, v);
    if (st !== 0 || v.towerCount < 1) throw new Error(`ept_map response: status ${st}, ${v.towerCount} towers`);
    const t = v.towers[0]!;
    return { host: ipv4Text(t.ipv4), port: t.port };
  } finally {
    s.destroy();
  }
}

const ipv4Text = (x: number): string => [x >>> 24, (x >>> 16) & 0xff, (x >>> 8) & 0xff, x & 0xff].join('.');

interface Conn {
  sock: net.Socket;
  nextCallId: number;
  /** Send time of each outstanding call, in order (calls answer in order on one association). */
  sent: bigint[];
}

async function openConn(host: string, port: number): Promise<Conn> {
  const sock = await connect(host, port);
  await bind(sock, { uuid: BENCH_IFACE, major: 1, minor: 0 });
  return { sock, nextCallId: 2, sent: [] };
}

interface PhaseResult {
  phase: string;
  seconds: number;
  calls: number;
  requestBytes: number;
  responseBytes: number;
  gbitPerSecond: number;
  callsPerSecond: number;
  p50Us: number | null;
  p99Us: number | null;
  connections: number;
  window: number;
  target: { host: string; port: number };
}

async function runPhase(phase: string, target: { host: string; port: number }, seconds: number, conns: number, window: number): Promise<PhaseResult> {
  const bulk = phase === 'bulk';
  if (phase === 'latency') {
    conns = 1;
    window = 1;
  }
  const reqTpl = bulk
    ? fragmented(BULK_STUB, (buf, off, stub, flags) => writeRequest(buf, off, { callId: 0, ctxId: 0, opnum: OPNUM_BULK, stub, pfcFlags: flags, allocHint: BULK_STUB }), HDR)
    : Buffer.from(encode(writeRequest, { callId: 0, ctxId: 0, opnum: OPNUM_SMALL, stub: new Uint8Array(SMALL_STUB).fill(0x11) }));
  const cs: Conn[] = [];
  for (let i = 0; i < conns; i++) cs.push(await openConn(target.host, target.port));
  const lat: number[] = [];
  let calls = 0;
  let respBytes = 0;
  let reqBytes = 0;
  let stopping = false;
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(Math.round(seconds * 1e9));
  let tEnd = t0;
  await new Promise<void>((resolve, reject) => {
    let open = cs.length;
    const send = (c: Conn): void => {
      const id = c.nextCallId++;
      c.sent.push(process.hrtime.bigint());
      reqBytes += reqTpl.length;
      c.sock.write(withCallId(reqTpl, id));
    };
    const finish = (c: Conn): void => {
      if (c.sent.length > 0) return;
      c.sock.destroy();
      if (--open === 0) {
        clearTimeout(hard);
        resolve();
      }
    };
    const hard = setTimeout(() => reject(new Error(`phase ${phase} did not finish within ${seconds + 10} s`)), (seconds + 10) * 1000);
    for (const c of cs) {
      const f = new Framer((h) => {
        if ((h[3]! & PFC_LAST) === 0) return;
        const now = process.hrtime.bigint();
        const at = c.sent.shift()!;
        calls++;
        respBytes += bulk ? BULK_STUB : SMALL_STUB;
        if (phase === 'latency') lat.push(Number(now - at) / 1000);
        if (!stopping && (now >= deadline || calls >= MAX_CALLS)) {
          stopping = true;
          tEnd = now;
        }
        if (!stopping) send(c);
        else finish(c);
      });
      c.sock.on('data', (b: Buffer) => f.push(b));
      c.sock.on('error', (e) => {
        clearTimeout(hard);
        reject(e);
      });
      for (let i = 0; i < window; i++) send(c);
    }
  });
  const secs = Number(tEnd - t0) / 1e9;
  lat.sort((a, b) => a - b);
  const pct = (q: number): number | null => (lat.length === 0 ? null : lat[Math.min(lat.length - 1, Math.floor(q * lat.length))]!);
  return {
    phase, seconds: secs, calls, requestBytes: reqBytes, responseBytes: respBytes, gbitPerSecond: (respBytes * 8) / secs / 1e9, callsPerSecond: calls / secs,
    p50Us: phase === 'latency' ? pct(0.5) : null, p99Us: phase === 'latency' ? pct(0.99) : null, connections: conns, window, target,
  };
}

/**
 * Connection set-up: each of `conns` loops runs [ept_map at `epm`:135 ->] connect -> bind -> one
 * small call -> close, as fast as it can; a set-up's time is from the ept_map (or connect) to
 * the call's answer. callsPerSecond counts whole set-ups.
 */
async function runSetup(epm: string | null, fixed: { host: string; port: number } | null, seconds: number, conns: number): Promise<PhaseResult> {
  const req = Buffer.from(encode(writeRequest, { callId: 2, ctxId: 0, opnum: OPNUM_SMALL, stub: new Uint8Array(SMALL_STUB).fill(0x11) }));
  const lat: number[] = [];
  let target = fixed ?? { host: '', port: 0 };
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(Math.round(seconds * 1e9));
  const loop = async (): Promise<void> => {
    while (process.hrtime.bigint() < deadline) {
      const at = process.hrtime.bigint();
      const t = epm !== null ? await eptMap(epm) : target;
      target = t;
      const c = await openConn(t.host, t.port);
      try {
        await exchange(c.sock, req);
      } finally {
        c.sock.destroy();
      }
      lat.push(Number(process.hrtime.bigint() - at) / 1000);
    }
  };
  await Promise.all(Array.from({ length: conns }, loop));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  lat.sort((a, b) => a - b);
  const pct = (q: number): number | null => (lat.length === 0 ? null : lat[Math.min(lat.length - 1, Math.floor(q * lat.length))]!);
  return {
    phase: 'setups', seconds: secs, calls: lat.length, requestBytes: lat.length * req.length, responseBytes: lat.length * SMALL_STUB, gbitPerSecond: 0,
    callsPerSecond: lat.length / secs, p50Us: pct(0.5), p99Us: pct(0.99), connections: conns, window: 1, target,
  };
}

// ---- main -------------------------------------------------------------------------------

function opts(argv: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) if (argv[i]!.startsWith('--')) m.set(argv[i]!.slice(2), argv[i + 1] ?? '');
  return m;
}

async function main(): Promise<void> {
  const [role, ...rest] = process.argv.slice(2);
  const o = opts(rest);
  if (role === 'server') {
    serve(o.get('addr') ?? '0.0.0.0', Number(o.get('port') ?? 5000), Number(o.get('epm-port') ?? 135));
    return;
  }
  if (role !== 'client') throw new Error('usage: live-peer server|client ...');
  const phase = o.get('phase') ?? 'bulk';
  if (!['bulk', 'small', 'latency', 'setups'].includes(phase)) throw new Error(`unknown phase ${phase}`);
  if (phase === 'setups') {
    const fixed = o.has('epm') ? null : { host: o.get('host')!, port: Number(o.get('port')) };
    const r = await runSetup(o.get('epm') ?? null, fixed, Math.min(600, Number(o.get('seconds') ?? 5)), Number(o.get('conns') ?? 4));
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  const target = o.has('epm') ? await eptMap(o.get('epm')!) : { host: o.get('host')!, port: Number(o.get('port')) };
  const seconds = Math.min(600, Number(o.get('seconds') ?? 5));
  const r = await runPhase(phase, target, seconds, Number(o.get('conns') ?? (phase === 'bulk' ? 4 : 8)), Number(o.get('window') ?? (phase === 'bulk' ? 2 : 64)));
  process.stdout.write(JSON.stringify(r) + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`live-peer: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});

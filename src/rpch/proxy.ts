/**
 * The RPC proxy of RPC over HTTP v2 (MS-RPCH), inbound and outbound proxy in one: a client's two
 * long-lived HTTPS requests, RPC_IN_DATA (client -> server bytes in the request body) and
 * RPC_OUT_DATA (server -> client bytes in the response body), are paired by the virtual
 * connection cookie of CONN/A1 (OUT) and CONN/B1 (IN) into one virtual connection, carried over
 * one TCP connection to the server:port that `validPorts` allows for the client's
 * `?RemoteName:port` (plain ncacn_ip_tcp to the server; RemotePort 593 goes to the entry's
 * endpointMapperPort).
 *
 *   client --IN: B1, [RTS | RPC PDU]*-->  proxy --RPC PDUs (inspected)--> server:port
 *   client <--OUT: 200, A3, C2, [RTS | RPC PDU]*--  proxy <--RPC PDUs (inspected)-- server:port
 *
 * Both directions are cut into PDUs by the shared reader (dcerpc/co-stream, every PDU kept
 * whole: at most one PDU of 64 KiB per direction is buffered); RTS PDUs on IN are the proxy's
 * (flow control acks, pings) and never reach the server; RPC PDUs pass the InnerPolicy first. A
 * refused PDU is not written: the server connection is reset and both channels closed.
 *
 * Flow control (MS-RPCH 3.2.1.1.4): the OUT channel sends at most the client's advertised window
 * (CONN/A1 ReceiveWindowSize) beyond its last FlowControlAck; when the window or the TLS socket is
 * full the server socket is paused (TCP back pressure to the server). The IN channel advertises
 * `receiveWindowBytes` in CONN/C2 and acknowledges what the server socket has taken; while the
 * server socket is full the IN request is paused (back pressure to the client).
 *
 * Bounds: virtual connections in all and per client address; a half-paired connection waits at
 * most PAIR_TIMEOUT_MS for its other channel; the first PDU of a channel must arrive within the
 * listener's header timeout; an idle virtual connection is closed after idleTimeoutMs; the OUT
 * channel gets a ping when it has been quiet for keepAliveMs. Channel recycling (IN_R1/OUT_R1) is
 * not offered: a third channel for a cookie is refused (impacket never recycles; Outlook opens a
 * new virtual connection after about 1 GB).
 */
import net from 'node:net';
import type { RpcRequest, RpcResponse } from './http.js';
import { CO_ERROR, CO_INCOMPLETE, CO_PDU, CoStream } from '../dcerpc/co-stream.js';
import {
  NAK_REASON_NOT_SPECIFIED, PFC_DID_NOT_EXECUTE, PFC_FIRST_FRAG, PFC_LAST_FRAG, PTYPE_BIND, PTYPE_RTS, RTS_FLAG_ECHO, RTS_FLAG_PING,
} from '../dcerpc/constants.js';
import { writeBindNak, writeFault } from '../dcerpc/pdu.js';
import { InnerPolicy } from './inner-policy.js';
import { COOKIE_LEN, RtsValues, connA3, connC2, cookieHex, echo, flowControlAck, ping, readRtsValues } from './rts.js';
import { PASS, REASON_NAMES, REFUSE_UNEXPECTED_PDU } from '../engine/reasons.js';
import { RPCH_EPM_PORT, findValidPort } from '../policy/https.js';
import { clientAllowed } from '../policy/match.js';
import type { CompiledRpcOverHttp, CompiledValidPorts } from '../policy/https.js';
import { parseIpv4 } from '../wire/addr.js';

export const PAIR_TIMEOUT_MS = 30_000;
const CONNECT_TIMEOUT_MS = 10_000;
/** The OUT channel's response Content-Length (what IIS sends): the stream, not a real length. */
const OUT_CONTENT_LENGTH = '1073741824';
/** Bytes of a channel body read before its first PDU is complete (CONN/A1 76, CONN/B1 104). */
const FIRST_PDU_MAX = 1024;

export interface ProxyLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface ProxyCounters {
  virtualConnections: number;
  refusedPorts: number;
  refusedPdus: number;
  refusedLimits: number;
  malformed: number;
  bytesIn: number;
  bytesOut: number;
}

interface Channel {
  req: RpcRequest;
  res: RpcResponse;
  cookie: Uint8Array;
}

interface Target {
  remote: string;
  port: number;
  v: CompiledValidPorts;
}

const RTS = new RtsValues();
/** Win32 ERROR_ACCESS_DENIED, the status of the fault a refused call gets. */
const ERROR_ACCESS_DENIED = 5;


/** The peer's IPv4 address as text (an IPv4-mapped IPv6 address without its ::ffff: prefix). */
export function clientAddress(req: { socket: { remoteAddress?: string } }): string {
  const a = req.socket.remoteAddress ?? '';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

/** `?RemoteName:port` of the request URL, or null. */
export function parseTarget(url: string | undefined): { remote: string; port: number } | null {
  const q = (url ?? '').indexOf('?');
  if (q < 0) return null;
  const m = /^([A-Za-z0-9._-]{1,253}):([0-9]{1,5})$/.exec(decodeURIComponent((url ?? '').slice(q + 1)));
  if (m === null) return null;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { remote: m[1]!, port } : null;
}

/** One virtual connection: its two channels and the server connection. */
class VirtualConnection {
  in: Channel | null = null;
  out: Channel | null = null;
  server: net.Socket | null = null;
  established = false;
  closed = false;
  readonly policy: InnerPolicy;
  private readonly c2s = new CoStream();
  private readonly s2c = new CoStream();
  /** OUT channel flow control (bytes of RPC PDUs sent, and the client's last ack). */
  private outSent = 0;
  private outAckReceived = 0;
  private outWindow = 0;
  /** IN channel flow control (bytes of RPC PDUs received, and what was last acknowledged). */
  private inReceived = 0;
  private inAcked = 0;
  private lastActivity = Date.now();
  private lastOutWrite = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private readonly pending: Buffer[] = [];

  constructor(
    readonly proxy: RpcProxy,
    readonly key: string,
    readonly client: string,
    readonly user: string,
    readonly target: Target,
  ) {
    this.policy = new InnerPolicy(proxy.rule, target.port === RPCH_EPM_PORT);
    this.timer = setTimeout(() => this.close('pair-timeout', `the other channel did not arrive within ${PAIR_TIMEOUT_MS / 1000} s`), PAIR_TIMEOUT_MS);
  }

  private logFields(): Record<string, unknown> {
    return {
      rpcOverHttp: this.proxy.rule.name, client: this.client, user: this.user,
      remote: `${this.target.remote}:${this.target.port}`, server: `${this.target.v.server}:${this.serverPort()}`,
    };
  }

  serverPort(): number {
    return this.target.port === RPCH_EPM_PORT ? this.target.v.endpointMapperPort : this.target.port;
  }

  setOut(ch: Channel, windowSize: number): void {
    this.out = ch;
    this.outWindow = windowSize;
    ch.res.on('close', () => this.close('out-closed', 'the client closed the OUT channel'));
    ch.res.on('drain', () => this.maybeResumeServer());
    this.maybeConnect();
  }

  setIn(ch: Channel, rest: Buffer): void {
    this.in = ch;
    if (rest.length > 0) this.pending.push(rest);
    ch.req.on('data', (d: Buffer) => this.fromClient(d));
    ch.req.on('end', () => this.close('in-ended', 'the client ended the IN channel', true));
    ch.req.on('close', () => this.close('in-closed', 'the client closed the IN channel'));
    // Nothing is read until the server connection is up (the pending bytes wait, bounded by the window).
    ch.req.pause();
    this.maybeConnect();
  }

  private maybeConnect(): void {
    if (this.in === null || this.out === null || this.server !== null || this.closed) return;
    if (this.timer !== null) clearTimeout(this.timer);
    const host = this.target.v.server;
    const port = this.serverPort();
    const s = net.connect({ host, port, timeout: CONNECT_TIMEOUT_MS });
    this.server = s;
    s.setNoDelay(true);
    s.once('connect', () => {
      s.setTimeout(0);
      s.setKeepAlive(true, 60_000);
      this.onServerConnected();
    });
    s.once('timeout', () => this.close('server-unreachable', `no answer from ${host}:${port} within ${CONNECT_TIMEOUT_MS / 1000} s`));
    s.on('error', (e) => this.close(this.established ? 'server-error' : 'server-unreachable', `${host}:${port}: ${e.message}`));
    s.on('data', (d: Buffer) => this.fromServer(d));
    s.on('end', () => this.close('server-ended', 'the server closed the connection', true));
    s.on('drain', () => this.resumeClient());
  }

  private onServerConnected(): void {
    if (this.closed || this.out === null || this.in === null) return;
    this.established = true;
    const rule = this.proxy.rule;
    const res = this.out.res;
    res.writeHead(200, 'Success', {
      'Content-Type': 'application/rpc', 'Content-Length': OUT_CONTENT_LENGTH, 'Cache-Control': 'no-cache', Pragma: 'no-cache',
    });
    res.write(connA3(rule.idleTimeoutMs));
    res.write(connC2(rule.receiveWindowBytes, rule.idleTimeoutMs));
    this.lastOutWrite = Date.now();
    this.proxy.log.info({ event: 'rpch-connected', ...this.logFields() }, 'RPC over HTTP virtual connection established');
    this.timer = setInterval(() => this.tick(), Math.min(rule.keepAliveMs, 5000));
    for (const b of this.pending.splice(0)) this.fromClient(b);
    if (!this.closed) this.in.req.resume();
  }

  private tick(): void {
    const now = Date.now();
    const rule = this.proxy.rule;
    if (now - this.lastActivity >= rule.idleTimeoutMs) {
      this.close('idle', `no traffic for ${rule.idleTimeoutMs / 1000} s`);
      return;
    }
    if (this.out !== null && now - this.lastOutWrite >= rule.keepAliveMs) {
      this.out.res.write(ping());
      this.lastOutWrite = now;
    }
  }

  /**
   * Walks a chunk of one direction PDU by PDU (the shared reader, every PDU whole) and hands each
   * to `onPdu`; false when the stream did not frame (the connection is then closed) or `onPdu`
   * closed it.
   */
  private eachPdu(c: CoStream, d: Buffer, side: string, onPdu: (buf: Uint8Array, off: number, len: number, ptype: number) => boolean): boolean {
    this.lastActivity = Date.now();
    c.begin(d, 0, d.length, 0);
    for (;;) {
      const ev = c.nextPdu();
      if (ev === CO_INCOMPLETE) return true;
      if (ev === CO_ERROR) {
        this.proxy.counters.malformed++;
        this.close('malformed', `${side}: PDU header at offset ${c.errOffset}: ${c.errReason}`);
        return false;
      }
      if (ev !== CO_PDU) continue;
      if (!onPdu(c.pduBuf, c.pduOff, c.fragLen, c.ptype)) return false;
      c.reset();
    }
  }

  /** Bytes of the IN channel body after CONN/B1. */
  private fromClient(d: Buffer): void {
    if (this.closed) return;
    if (!this.established) {
      this.pending.push(d);
      return;
    }
    this.eachPdu(this.c2s, d, 'IN channel', (buf, off, len, ptype) => {
      if (ptype === PTYPE_RTS) return this.clientRts(buf, off, len);
      const v = this.policy.clientPdu(buf, off, len);
      if (v !== PASS) {
        this.refuse(v, buf, off);
        return false;
      }
      this.inReceived += len;
      this.proxy.counters.bytesIn += len;
      if (!this.server!.write(Buffer.from(buf.subarray(off, off + len)))) this.in!.req.pause();
      else this.ackIn();
      return true;
    });
  }

  /** An RTS PDU from the client on IN: flow control for OUT, pings; the rest are ignored. */
  private clientRts(buf: Uint8Array, off: number, len: number): boolean {
    const r = RTS;
    if (!readRtsValues(buf, off, len, r)) {
      this.proxy.counters.malformed++;
      this.close('malformed', `IN channel: RTS PDU at offset ${r.errOffset}: ${r.errReason}`);
      return false;
    }
    if (r.ackCookieOff >= 0 && this.out !== null && Buffer.compare(Buffer.from(buf.subarray(r.ackCookieOff, r.ackCookieOff + COOKIE_LEN)), Buffer.from(this.out.cookie)) === 0) {
      this.outAckReceived = r.ackBytesReceived;
      this.outWindow = r.ackAvailableWindow;
      this.maybeResumeServer();
    } else if ((r.flags & RTS_FLAG_PING) === 0 && r.ackCookieOff < 0) {
      this.proxy.log.debug({ event: 'rpch-rts-ignored', ...this.logFields(), flags: r.flags, commands: r.nCommands }, 'RTS PDU from the client ignored');
    }
    return true;
  }

  /** The server socket took the bytes: acknowledge the IN channel when half the window was used. */
  private ackIn(): void {
    const w = this.proxy.rule.receiveWindowBytes;
    if (this.inReceived - this.inAcked < w / 2 || this.out === null || this.in === null) return;
    this.inAcked = this.inReceived;
    this.out.res.write(flowControlAck(this.inReceived, w, this.in.cookie));
    this.lastOutWrite = Date.now();
  }

  private resumeClient(): void {
    if (this.closed || this.in === null) return;
    this.ackIn();
    this.in.req.resume();
  }

  private fromServer(d: Buffer): void {
    if (this.closed || this.out === null) return;
    const out = this.out;
    this.eachPdu(this.s2c, d, 'server', (buf, off, len, ptype) => {
      const v = ptype === PTYPE_RTS ? REFUSE_UNEXPECTED_PDU : this.policy.serverPdu(buf, off, len);
      if (v !== PASS) {
        if (ptype === PTYPE_RTS) this.policy.detail = 'RTS PDU from the server on an ncacn_ip_tcp connection';
        this.refuse(v);
        return false;
      }
      this.outSent += len;
      this.proxy.counters.bytesOut += len;
      const ok = out.res.write(Buffer.from(buf.subarray(off, off + len)));
      this.lastOutWrite = Date.now();
      if (!ok || this.outSent - this.outAckReceived >= this.outWindow) this.server!.pause();
      return true;
    });
  }

  private maybeResumeServer(): void {
    if (this.closed || this.server === null || this.out === null) return;
    if (this.out.res.writableNeedDrain) return;
    if (this.outSent - this.outAckReceived < this.outWindow) this.server.resume();
  }

  /**
   * A refused PDU: logged, never written to the server (whose connection is reset). A refused
   * client PDU is answered first, the way a server refuses — bind_nak for a bind, a fault
   * (access denied, did not execute) for anything else — so the client fails at once instead
   * of waiting on a channel that just ends; then both channels are closed.
   */
  private refuse(code: number, pdu?: Uint8Array, off = 0): void {
    this.proxy.counters.refusedPdus++;
    this.proxy.log.warn({
      event: 'rpch-refused', reason: REASON_NAMES[code] ?? String(code), ...this.logFields(),
      interface: this.policy.lastInterface, detail: this.policy.detail,
    }, `RPC over HTTP: ${this.policy.detail}`);
    if (pdu !== undefined && this.out !== null && this.out.res.headersSent) {
      const le = (pdu[off + 4]! & 0x10) !== 0;
      const callId = le
        ? (pdu[off + 12]! | (pdu[off + 13]! << 8) | (pdu[off + 14]! << 16) | (pdu[off + 15]! << 24)) >>> 0
        : ((pdu[off + 12]! << 24) | (pdu[off + 13]! << 16) | (pdu[off + 14]! << 8) | pdu[off + 15]!) >>> 0;
      const b = Buffer.alloc(64);
      const n = pdu[off + 2] === PTYPE_BIND
        ? writeBindNak(b, 0, { callId, reason: NAK_REASON_NOT_SPECIFIED })
        : writeFault(b, 0, { callId, status: ERROR_ACCESS_DENIED, pfcFlags: PFC_FIRST_FRAG | PFC_LAST_FRAG | PFC_DID_NOT_EXECUTE });
      this.out.res.write(b.subarray(0, n));
      this.server?.resetAndDestroy();
      this.close('refused', this.policy.detail, true);
      return;
    }
    this.close('refused', this.policy.detail);
  }

  /** Closes both channels and the server connection (orderly: the written bytes still go out). */
  close(why: string, detail: string, orderly = false): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      clearInterval(this.timer);
    }
    this.proxy.forget(this);
    const level = orderly || why === 'out-closed' || why === 'in-closed' ? 'info' : 'warn';
    this.proxy.log[level]({ event: 'rpch-closed', why, ...this.logFields() }, `RPC over HTTP virtual connection closed: ${detail}`);
    if (this.server !== null && !this.server.destroyed) {
      if (orderly) this.server.end();
      else this.server.resetAndDestroy();
    }
    for (const ch of [this.in, this.out]) {
      if (ch === null) continue;
      if (!ch.res.headersSent) {
        // IN never had a response; OUT fails before its 200 when the server could not be reached.
        if (orderly) ch.res.writeHead(200, 'Success', { Connection: 'close', 'Content-Length': '0' });
        else ch.res.writeHead(503, 'RPC Error: 6ba', { Connection: 'close', 'Content-Length': '0' });
        ch.res.end();
        ch.res.socket?.destroySoon();
      } else if (orderly) {
        ch.res.end();
        ch.res.socket?.destroySoon();
      } else {
        ch.res.socket?.destroy();
      }
    }
  }
}

/** One `rpcOverHttp` entry: accepts channels, pairs them, enforces the limits. */
export class RpcProxy {
  readonly counters: ProxyCounters = {
    virtualConnections: 0, refusedPorts: 0, refusedPdus: 0, refusedLimits: 0, malformed: 0, bytesIn: 0, bytesOut: 0,
  };
  private readonly vcs = new Map<string, VirtualConnection>();
  private readonly perClient = new Map<string, number>();

  constructor(public rule: CompiledRpcOverHttp, readonly log: ProxyLog, private readonly firstPduTimeoutMs: number) {}

  get active(): number {
    return this.vcs.size;
  }

  forget(vc: VirtualConnection): void {
    if (this.vcs.get(vc.key) !== vc) return;
    this.vcs.delete(vc.key);
    const n = (this.perClient.get(vc.client) ?? 1) - 1;
    if (n <= 0) this.perClient.delete(vc.client);
    else this.perClient.set(vc.client, n);
  }

  /** Closes every virtual connection (daemon stop, or the entry removed by a reload). */
  closeAll(why: string): void {
    for (const vc of [...this.vcs.values()]) vc.close(why, 'the RPC proxy is stopping');
  }

  private reject(res: RpcResponse, status: number, reason: string, fields: Record<string, unknown>, msg: string): void {
    this.log.warn({ event: 'rpch-refused', rpcOverHttp: this.rule.name, reason, ...fields }, msg);
    res.writeHead(status, reason === 'invalid-rpc-port' ? 'Invalid RPC Port' : undefined, { Connection: 'close', 'Content-Type': 'text/plain' });
    res.end(`${msg}\n`);
  }

  /**
   * An authenticated request on the proxy's path. `expectContinue`: the client waits for
   * `100 Continue` before its body (impacket, Windows): sent only once the request is accepted.
   */
  handle(req: RpcRequest, res: RpcResponse, user: string, expectContinue: boolean): void {
    const client = clientAddress(req);
    const fields = { client, user, method: req.method, url: req.url };
    if (req.method !== 'RPC_IN_DATA' && req.method !== 'RPC_OUT_DATA') {
      res.setHeader('Allow', 'RPC_IN_DATA, RPC_OUT_DATA');
      this.reject(res, 405, 'method-not-allowed', fields, `method ${req.method} on the RPC proxy`);
      return;
    }
    const ip = parseIpv4(client);
    if (ip < 0 || !clientAllowed(this.rule, ip >>> 0)) {
      this.reject(res, 403, 'client-not-allowed', fields, `client ${client} is not in the clients of "${this.rule.name}"`);
      return;
    }
    const t = parseTarget(req.url);
    const v = t === null ? null : findValidPort(this.rule, t.remote, t.port);
    if (t === null || v === null) {
      this.counters.refusedPorts++;
      this.reject(res, 503, 'invalid-rpc-port', fields,
        t === null ? 'no ?RemoteName:port in the request' : `${t.remote}:${t.port} is not in the validPorts of "${this.rule.name}"`);
      return;
    }
    if (expectContinue) res.writeContinue();
    this.readFirstPdu(req, res, (buf) => this.firstPdu(req, res, user, client, { ...t, v }, buf));
  }

  /** Collects the body until its first PDU is whole (bounded, timed); the rest is handed on. */
  private readFirstPdu(req: RpcRequest, res: RpcResponse, done: (buf: Buffer) => void): void {
    const parts: Buffer[] = [];
    let have = 0;
    let finished = false;
    const finish = (ok: boolean, why: string): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      if (ok) {
        req.pause();
        done(Buffer.concat(parts));
        return;
      }
      this.counters.malformed++;
      this.reject(res, 400, 'bad-channel-start', { client: clientAddress(req), method: req.method }, why);
      req.socket.destroySoon();
    };
    const onData = (d: Buffer): void => {
      parts.push(d);
      have += d.length;
      if (have >= 10) {
        const head = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
        const fragLen = head[8]! | (head[9]! << 8);
        if (head[0] !== 5 || head[2] !== PTYPE_RTS || fragLen < 20 || fragLen > FIRST_PDU_MAX) {
          finish(false, `${req.method} body does not start with an RTS PDU`);
          return;
        }
        if (have >= fragLen) finish(true, '');
      }
      if (have > FIRST_PDU_MAX) finish(false, `${req.method} body: no complete RTS PDU in ${FIRST_PDU_MAX} bytes`);
    };
    const onEnd = (): void => finish(false, `${req.method} body ended before its first RTS PDU`);
    const timer = setTimeout(() => finish(false, `${req.method}: no RTS PDU within ${this.firstPduTimeoutMs / 1000} s`), this.firstPduTimeoutMs);
    req.on('data', onData);
    req.on('end', onEnd);
    req.resume();
  }

  private firstPdu(req: RpcRequest, res: RpcResponse, user: string, client: string, target: Target, buf: Buffer): void {
    const fields = { client, user, method: req.method, remote: `${target.remote}:${target.port}` };
    const fragLen = buf[8]! | (buf[9]! << 8);
    const r = RTS;
    if (!readRtsValues(buf, 0, fragLen, r)) {
      this.counters.malformed++;
      this.reject(res, 400, 'malformed-rts', fields, `${req.method}: RTS PDU at offset ${r.errOffset}: ${r.errReason}`);
      req.socket.destroySoon();
      return;
    }
    if ((r.flags & RTS_FLAG_ECHO) !== 0) {
      const e = echo();
      res.writeHead(200, 'Success', { 'Content-Type': 'application/rpc', 'Content-Length': String(e.length) });
      res.end(e);
      return;
    }
    const isOut = req.method === 'RPC_OUT_DATA';
    // CONN/A1: Version, VC cookie, OUT cookie, ReceiveWindowSize. CONN/B1: Version, VC cookie, IN cookie, ...
    const shapeOk = r.nCookies >= 2 && r.version >= 1 && (isOut ? r.receiveWindowSize >= 8192 : r.assocGroupOff >= 0);
    if (!shapeOk) {
      this.counters.malformed++;
      this.reject(res, 400, 'not-conn-a1-b1', fields, `${req.method}: expected CONN/${isOut ? 'A1' : 'B1'}; channel recycling is not supported`);
      req.socket.destroySoon();
      return;
    }
    const key = cookieHex(buf, r.cookieOff[0]!);
    const cookie = Uint8Array.from(buf.subarray(r.cookieOff[1]!, r.cookieOff[1]! + COOKIE_LEN));
    const rest = buf.subarray(fragLen);
    let vc = this.vcs.get(key);
    if (vc === undefined) {
      // Limits count virtual connections, so they apply when a channel names a new cookie.
      const limit = this.vcs.size >= this.rule.maxVirtualConnections ? `maxVirtualConnections (${this.rule.maxVirtualConnections})`
        : (this.perClient.get(client) ?? 0) >= this.rule.maxVirtualConnectionsPerClient ? `maxVirtualConnectionsPerClient (${this.rule.maxVirtualConnectionsPerClient})` : '';
      if (limit !== '') {
        this.counters.refusedLimits++;
        this.reject(res, 503, 'virtual-connection-limit', fields, `${limit} reached`);
        req.socket.destroySoon();
        return;
      }
      vc = new VirtualConnection(this, key, client, user, target);
      this.vcs.set(key, vc);
      this.perClient.set(client, (this.perClient.get(client) ?? 0) + 1);
      this.counters.virtualConnections++;
    } else if ((isOut ? vc.out : vc.in) !== null || vc.client !== client || vc.user !== user
      || vc.target.remote.toLowerCase() !== target.remote.toLowerCase() || vc.target.port !== target.port) {
      const why = (isOut ? vc.out : vc.in) !== null ? `a second ${isOut ? 'OUT' : 'IN'} channel (channel recycling is not supported)` : 'a channel from another client, user or RemoteName:port';
      this.counters.refusedLimits++;
      this.reject(res, 400, 'third-channel', fields, `virtual connection cookie already in use: ${why}`);
      req.socket.destroySoon();
      return;
    }
    const ch: Channel = { req, res, cookie };
    if (isOut) vc.setOut(ch, r.receiveWindowSize);
    else vc.setIn(ch, Buffer.from(rest));
  }
}

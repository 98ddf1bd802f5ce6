/**
 * The HTTPS front end and the RPC proxy on loopback, with a raw TLS client speaking MS-RPCH by
 * hand (so bad input can be sent on purpose) and a small TCP server standing in for the RPC
 * server (it records what reached it and answers a bind with a bind_ack). The live test
 * (test/live/rpc-over-http.test.ts) does the same with Impacket and Samba.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import bcrypt from 'bcryptjs';
import {
  NDR_VERSION, RESULT_ACCEPTANCE, RTS_CMD_ASSOCIATION_GROUP_ID, RTS_CMD_CHANNEL_LIFETIME, RTS_CMD_CLIENT_KEEPALIVE,
  RTS_CMD_COOKIE, RTS_CMD_RECEIVE_WINDOW_SIZE, RTS_CMD_VERSION, UUID_NDR,
} from '../../src/dcerpc/constants.js';
import { writeBind, writeBindAck, writeRequest, writeRts } from '../../src/dcerpc/pdu.js';
import { HttpsFrontend } from '../../src/https/frontend.js';
import { freeLoopbackPorts } from '../helpers/free-ports.js';
import { loadDoc, minimalDoc } from '../policy/helpers.js';

const haveOpenssl = spawnSync('openssl', ['version']).status === 0;
const SAMR = '12345778-1234-abcd-ef00-0123456789ac';
// The listener's port, and two the refused reload asks for (checked to stay unbound): see free-ports.ts.
let PORT = 0;
let MOVED_PORT = 0;
let ADDED_PORT = 0;

interface Rec { event?: string; reason?: string; msg: string }
const records: Rec[] = [];
const log = {
  info: (o: object, msg: string) => records.push({ ...(o as Rec), msg }),
  warn: (o: object, msg: string) => records.push({ ...(o as Rec), msg }),
  error: (o: object, msg: string) => records.push({ ...(o as Rec), msg }),
  debug: () => {},
};

function buf(build: (b: Uint8Array) => number): Buffer {
  const b = Buffer.alloc(2048);
  return b.subarray(0, build(b));
}
const cookie = (seed: number): Uint8Array => Uint8Array.from({ length: 16 }, (_, i) => seed + i);
const a1 = (vc: Uint8Array): Buffer => buf((b) => writeRts(b, 0, { commands: [
  { type: RTS_CMD_VERSION, value: 1 }, { type: RTS_CMD_COOKIE, cookie: vc }, { type: RTS_CMD_COOKIE, cookie: cookie(0x40) },
  { type: RTS_CMD_RECEIVE_WINDOW_SIZE, value: 262144 }] }));
const b1 = (vc: Uint8Array): Buffer => buf((b) => writeRts(b, 0, { commands: [
  { type: RTS_CMD_VERSION, value: 1 }, { type: RTS_CMD_COOKIE, cookie: vc }, { type: RTS_CMD_COOKIE, cookie: cookie(0x60) },
  { type: RTS_CMD_CHANNEL_LIFETIME, value: 1 << 30 }, { type: RTS_CMD_CLIENT_KEEPALIVE, value: 300000 },
  { type: RTS_CMD_ASSOCIATION_GROUP_ID, cookie: cookie(0x80) }] }));
const samrBind = buf((b) => writeBind(b, 0, { callId: 1, contexts: [{ ctxId: 0, abstract: { uuid: SAMR, major: 1, minor: 0 }, transfer: [{ uuid: UUID_NDR, version: NDR_VERSION }] }] }));

/** A TLS client on one channel: sends a raw request head (and body), collects everything that comes back. */
class Chan {
  data = Buffer.alloc(0);
  closed = false;
  readonly sock: tls.TLSSocket;
  constructor() {
    this.sock = tls.connect({ host: '127.0.0.1', port: PORT, rejectUnauthorized: false });
    this.sock.on('data', (d: Buffer) => { this.data = Buffer.concat([this.data, d]); });
    this.sock.on('close', () => { this.closed = true; });
    this.sock.on('error', () => {});
  }
  request(method: string, target: string, length: number, auth = 'u:pw'): void {
    this.sock.write(`${method} /rpc/rpcproxy.dll?${target} HTTP/1.1\r\nHost: gw\r\nContent-Length: ${length}\r\n` +
      `${auth === '' ? '' : `Authorization: Basic ${Buffer.from(auth).toString('base64')}\r\n`}\r\n`);
  }
  text(): string {
    return this.data.toString('latin1');
  }
  async until(pred: (c: Chan) => boolean, ms = 5000): Promise<void> {
    await until(() => pred(this), () => `got ${JSON.stringify(this.text().slice(0, 200))} closed=${this.closed}`, ms);
  }
}

/** Polls `pred` until it holds; after `ms`, fails saying what was awaited (`what`). */
async function until(pred: () => boolean, what: () => string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out; ${what()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** An IN channel to `target` (RemoteName:port) is refused: not in validPorts. */
async function expectInvalidPort(target: string): Promise<void> {
  const c = new Chan();
  c.request('RPC_IN_DATA', target, 0);
  await c.until((x) => /^HTTP\/1\.1 503 Invalid RPC Port/.test(x.text()));
  c.sock.destroy();
}

let frontend: HttpsFrontend;

/** Virtual connections proxy "p" has opened so far. */
const virtualConnections = (): number => frontend.counters().rpch.get('p')?.virtualConnections ?? 0;

/** Waits until proxy "p" has opened more than `n` virtual connections (a timer would be too short under load). */
const untilVirtualConnectionsAbove = (n: number): Promise<void> => until(() => virtualConnections() > n, () => `waiting for virtual connection ${n + 1}`);

/**
 * An OUT channel to `target` with its CONN/A1 is accepted: the proxy opens its virtual connection,
 * and nothing comes back while it waits for its IN channel.
 */
async function expectOutChannelAccepted(target: string, cookieId: number): Promise<void> {
  const before = virtualConnections();
  const c = new Chan();
  c.request('RPC_OUT_DATA', target, 76);
  c.sock.write(a1(cookie(cookieId)));
  await untilVirtualConnectionsAbove(before);
  await new Promise((r) => setTimeout(r, 200)); // anything the proxy wrote after opening it has arrived
  expect(c.text()).toBe('');
  c.sock.destroy();
}

describe.skipIf(!haveOpenssl)('RPC proxy on loopback: pairing, inspection, bad input', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rpcgw-rpch-'));
  let server: net.Server;
  let serverPort = 0;
  const received: Buffer[] = [];
  let serverConns = 0;

  beforeAll(async () => {
    [PORT, MOVED_PORT, ADDED_PORT] = (await freeLoopbackPorts(3)) as [number, number, number];
    spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=gw.test',
      '-keyout', path.join(dir, 'k.pem'), '-out', path.join(dir, 'c.pem')]);
    writeFileSync(path.join(dir, 'users'), `u:${bcrypt.hashSync('pw', 4)}\n`);
    server = net.createServer((s) => {
      serverConns++;
      s.on('data', (d: Buffer) => {
        received.push(d);
        if (d[2] === 11) s.write(buf((b) => writeBindAck(b, 0, { callId: 1, results: [{ result: RESULT_ACCEPTANCE, transfer: { uuid: UUID_NDR, version: NDR_VERSION } }] })));
      });
      s.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    serverPort = (server.address() as net.AddressInfo).port;
    const doc = {
      ...minimalDoc(),
      httpsListeners: [{ name: 'l', address: '127.0.0.1', port: PORT, certificates: [{ cert: path.join(dir, 'c.pem'), key: path.join(dir, 'k.pem') }], users: path.join(dir, 'users'), headersTimeoutSeconds: 1 }],
      rpcOverHttp: [{ name: 'p', listener: 'l', validPorts: [{ remoteNames: ['srv'], server: '127.0.0.1', ports: String(serverPort) }], interfaces: [`${SAMR}@1.0`], requireEncryption: false, maxVirtualConnectionsPerClient: 2, receiveWindowBytes: 8192 }],
    };
    frontend = new HttpsFrontend(loadDoc(doc).rules.https!, log);
    await frontend.start();
  });

  afterAll(async () => {
    await frontend?.stop();
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** OUT with CONN/A1, then IN with CONN/B1, for the cookie seeded `seed`. */
  const openVc = (seed: number): { out: Chan; inn: Chan } => {
    const out = new Chan();
    out.request('RPC_OUT_DATA', `srv:${serverPort}`, 76);
    out.sock.write(a1(cookie(seed)));
    const inn = new Chan();
    inn.request('RPC_IN_DATA', `srv:${serverPort}`, 1 << 30);
    inn.sock.write(b1(cookie(seed)));
    return { out, inn };
  };

  it('pairs OUT and IN by cookie, answers CONN/A3 + CONN/C2, carries an allowed bind both ways, acks the IN window', async () => {
    const { out, inn } = openVc(1);
    await out.until((c) => c.data.includes('\r\n\r\n') && c.data.length >= c.data.indexOf('\r\n\r\n') + 4 + 28 + 44);
    expect(out.text()).toMatch(/^HTTP\/1\.1 200 Success\r\n/);
    const body = out.data.subarray(out.data.indexOf('\r\n\r\n') + 4);
    expect([body[2], body.readUInt16LE(8), body.readUInt16LE(18)]).toEqual([20, 28, 1]); // CONN/A3
    expect([body[28 + 2], body.readUInt16LE(28 + 8), body.readUInt16LE(28 + 18)]).toEqual([20, 44, 3]); // CONN/C2
    inn.sock.write(samrBind);
    await out.until((c) => c.data.includes(Buffer.from([5, 0, 12])));
    expect(Buffer.concat(received).subarray(0, samrBind.length)).toEqual(samrBind);
    // 8 KiB window: after 4 KiB of requests the proxy sends a FlowControlAck (RTS, flags OTHER_CMD) on OUT.
    const req = buf((b) => writeRequest(b, 0, { callId: 2, ctxId: 0, opnum: 1, stub: new Uint8Array(1000) }));
    for (let i = 0; i < 5; i++) inn.sock.write(req);
    await out.until((c) => c.data.includes(Buffer.from([5, 0, 20, 3, 0x10, 0, 0, 0, 48, 0])));
    inn.sock.destroy();
    out.sock.destroy();
  });

  it('a bind to another interface is refused: bind_nak to the client, nothing to the server', async () => {
    const before = Buffer.concat(received).length;
    const { out, inn } = openVc(2);
    await out.until((c) => c.text().includes('200 Success'));
    inn.sock.write(buf((b) => writeBind(b, 0, { callId: 7, contexts: [{ ctxId: 0, abstract: { uuid: '12345778-1234-abcd-ef00-0123456789ab', major: 0, minor: 0 }, transfer: [{ uuid: UUID_NDR, version: NDR_VERSION }] }] })));
    await out.until((c) => c.data.includes(Buffer.from([5, 0, 13])) && c.closed); // bind_nak, then the channel ends
    expect(Buffer.concat(received).length).toBe(before);
    expect(records.some((r) => r.event === 'rpch-refused' && r.reason === 'bind-interface-not-allowed')).toBe(true);
  });

  it('bad input gets a clear refusal and a clean close', async () => {
    const conns = serverConns;
    // RemoteName:port outside validPorts
    const bad = new Chan();
    bad.request('RPC_IN_DATA', 'srv:1', 0);
    await bad.until((c) => /^HTTP\/1\.1 503 Invalid RPC Port/.test(c.text()));
    // no credentials: 401 + WWW-Authenticate, the connection stays for the next request (Content-Length 0)
    const anon = new Chan();
    anon.request('RPC_IN_DATA', `srv:${serverPort}`, 0, '');
    await anon.until((c) => c.text().includes('401'));
    expect(anon.text()).toMatch(/WWW-Authenticate: Basic realm="rpcgw"/i);
    // a body that is not an RTS PDU
    const junk = new Chan();
    junk.request('RPC_OUT_DATA', `srv:${serverPort}`, 76);
    junk.sock.write(Buffer.alloc(76, 0x41));
    await junk.until((c) => c.text().startsWith('HTTP/1.1 400') && c.closed);
    // a lying Content-Length
    const lie = new Chan();
    lie.sock.write('RPC_IN_DATA /rpc/rpcproxy.dll?srv:1 HTTP/1.1\r\nContent-Length: 12abc\r\n\r\n');
    await lie.until((c) => c.text().startsWith('HTTP/1.1 400') && c.closed);
    // two Content-Lengths (the request-smuggling shape): refused, not one of them picked
    const twice = new Chan();
    twice.sock.write(`RPC_IN_DATA /rpc/rpcproxy.dll?srv:${serverPort} HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 76\r\n\r\n`);
    await twice.until((c) => c.text().startsWith('HTTP/1.1 400') && c.closed);
    // slow headers: closed after the listener's 1 s header timeout
    const slow = new Chan();
    slow.sock.write('RPC_IN_DATA /rpc/rpcproxy.dll?srv');
    await slow.until((c) => c.closed, 4000);
    // a third channel for a cookie already paired
    const vc = cookie(3);
    const out = new Chan();
    out.request('RPC_OUT_DATA', `srv:${serverPort}`, 76);
    out.sock.write(a1(vc));
    const again = new Chan();
    again.request('RPC_OUT_DATA', `srv:${serverPort}`, 76);
    again.sock.write(a1(vc));
    await again.until((c) => c.text().startsWith('HTTP/1.1 400'));
    expect(records.some((r) => r.reason === 'third-channel')).toBe(true);
    // per-client limit (2): the half-open one above counts; two more new cookies -> the second is refused
    const opened = virtualConnections();
    const x = new Chan();
    x.request('RPC_OUT_DATA', `srv:${serverPort}`, 76);
    x.sock.write(a1(cookie(4)));
    await untilVirtualConnectionsAbove(opened);
    const y = new Chan();
    y.request('RPC_OUT_DATA', `srv:${serverPort}`, 76);
    y.sock.write(a1(cookie(5)));
    await y.until((c) => c.text().startsWith('HTTP/1.1 503'));
    expect(records.some((r) => r.reason === 'virtual-connection-limit')).toBe(true);
    expect(serverConns).toBe(conns); // none of these reached the server
    for (const c of [bad, anon, junk, lie, slow, out, again, x, y]) c.sock.destroy();
  });

  it('counts per proxy what the metrics export: virtual connections, refusals by kind, bytes each way', () => {
    const c = frontend.counters().rpch.get('p')!;
    expect(c.virtualConnections).toBeGreaterThanOrEqual(3);
    expect(c.refusedPorts).toBeGreaterThanOrEqual(1);
    expect(c.refusedPdus).toBeGreaterThanOrEqual(1);
    expect(c.refusedLimits).toBeGreaterThanOrEqual(2); // third channel, per-client limit
    expect(c.malformed).toBeGreaterThanOrEqual(1);
    expect(c.bytesIn).toBeGreaterThanOrEqual(samrBind.length + 5 * 1024);
    expect(c.bytesOut).toBeGreaterThan(0);
  });

  it('a reload that moves a listener or adds one is refused by name, and changes nothing', async () => {
    const listener = { name: 'l', address: '127.0.0.1', port: PORT, certificates: [{ cert: path.join(dir, 'c.pem'), key: path.join(dir, 'k.pem') }], users: path.join(dir, 'users'), headersTimeoutSeconds: 1 };
    const doc = {
      ...minimalDoc(),
      httpsListeners: [{ ...listener, port: MOVED_PORT }, { ...listener, name: 'new', port: ADDED_PORT }],
      rpcOverHttp: [{ name: 'p', listener: 'l', validPorts: [{ remoteNames: ['other'], server: '127.0.0.1', ports: String(serverPort) }], interfaces: [`${SAMR}@1.0`] }],
    };
    expect(frontend.applyRules(loadDoc(doc).rules.https!)).toEqual([
      `httpsListeners "l" address or port (127.0.0.1:${PORT} -> 127.0.0.1:${MOVED_PORT})`,
      'httpsListeners "new" added',
    ]);
    expect(frontend.counters().rpch.has('p')).toBe(true);
    // Nothing of the refused document took effect: the listener still answers where it was, with
    // the old validPorts (the refused document's "other" is not a valid RemoteName) ...
    await expectInvalidPort(`other:${serverPort}`);
    await expectOutChannelAccepted(`srv:${serverPort}`, 11);
    // ... and nothing listens where the refused document wanted one.
    for (const port of [MOVED_PORT, ADDED_PORT]) {
      const refused = await new Promise<boolean>((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(false); });
        s.on('error', () => resolve(true));
      });
      expect(refused, `port ${port}`).toBe(true);
    }
  });

  it('a reload applies new validPorts to new virtual connections and says which listener changes need a restart', async () => {
    const doc = {
      ...minimalDoc(),
      httpsListeners: [{ name: 'l', address: '127.0.0.1', port: PORT, certificates: [{ cert: path.join(dir, 'c.pem'), key: path.join(dir, 'k.pem') }], users: path.join(dir, 'users'), headersTimeoutSeconds: 1 }],
      rpcOverHttp: [{ name: 'p', listener: 'l', validPorts: [{ remoteNames: ['other'], server: '127.0.0.1', ports: String(serverPort) }], interfaces: [`${SAMR}@1.0`] }],
    };
    expect(frontend.applyRules(loadDoc(doc).rules.https!)).toEqual([]);
    await expectInvalidPort(`srv:${serverPort}`);
    await expectOutChannelAccepted(`other:${serverPort}`, 9);
  });

  it('an unpublished path gets 404', async () => {
    const c = new Chan();
    c.sock.write('GET /ecp/ HTTP/1.1\r\nHost: gw\r\n\r\n');
    await c.until((x) => x.text().includes('404'));
    c.sock.destroy();
  });
});

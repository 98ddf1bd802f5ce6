/**
 * The gateway's HTTPS listeners: TLS termination (TLS 1.2+, SNI among the listener's
 * certificates, reloaded on SIGHUP), HTTP Basic pre-authentication against the listener's
 * htpasswd file, then routing by path to an RPC proxy (`rpcOverHttp`) or a published web path
 * (`webPublishing`). Nothing reaches the inside before a request is routed and authenticated:
 * unpublished paths get 404, missing or wrong credentials 401 with `WWW-Authenticate: Basic`.
 *
 * One TLS server per listener; a connection whose first request is RPC_IN_DATA / RPC_OUT_DATA
 * is read by rpch/http (Node's HTTP parser refuses those methods), any other goes to a Node http
 * server that never listens itself. Its per-request timeout is off (long polls live for hours)
 * and its header timeout is the listener's headersTimeoutSeconds.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import tls from 'node:tls';
import { isRpchStart, serveRpcHttp, type RpcRequest, type RpcResponse } from '../rpch/http.js';
import { comparableEntry, type CompiledHttps, type CompiledHttpsListener } from '../policy/https.js';
import { RpcProxy, clientAddress, type ProxyCounters, type ProxyLog } from '../rpch/proxy.js';
import { loadCertificates, pickContext, type LoadedCert } from './certs.js';
import { AUTH_BUSY, AUTH_MISSING, AUTH_OK, Users } from './users.js';
import { WebPublisher, type WebCounters } from './web-publish.js';

export interface FrontendLog extends ProxyLog {
  error(obj: object, msg: string): void;
}

type AnyRequest = IncomingMessage | RpcRequest;
type AnyResponse = ServerResponse | RpcResponse;

/** One listener and what is published on it. */
class Listener {
  server: tls.Server;
  private readonly http: http.Server;
  private readonly sockets = new Set<tls.TLSSocket>();
  certs: LoadedCert[];
  users: Users;
  proxies: { path: string; proxy: RpcProxy }[] = [];
  webs: WebPublisher[] = [];

  constructor(public cfg: CompiledHttpsListener, private readonly log: FrontendLog) {
    this.certs = loadCertificates(cfg);
    this.users = new Users(cfg.users, (why) => log.warn({ event: 'users-skipped', listener: cfg.name }, why));
    const first = this.certs[0]!;
    this.server = tls.createServer({
      minVersion: 'TLSv1.2',
      maxVersion: cfg.tlsMaxVersion,
      cert: readPem(first.cert),
      key: readPem(first.key),
      SNICallback: (name: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) => cb(null, pickContext(this.certs, name)),
      handshakeTimeout: cfg.headersTimeoutMs,
    });
    this.server.maxConnections = cfg.maxConnections;
    this.http = http.createServer({ requestTimeout: 0, headersTimeout: cfg.headersTimeoutMs, keepAliveTimeout: 5000 });
    this.http.timeout = 0;
    this.http.on('request', (req: IncomingMessage, res: ServerResponse) => void this.route(req, res, false));
    this.http.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => void this.route(req, res, true));
    this.server.on('secureConnection', (sock: tls.TLSSocket) => {
      this.sockets.add(sock);
      sock.once('close', () => this.sockets.delete(sock));
      this.dispatch(sock);
    });
    this.server.on('tlsClientError', (err: Error, sock: tls.TLSSocket) => {
      log.debug({ event: 'tls-error', listener: cfg.name, client: sock.remoteAddress, error: err.message }, 'TLS handshake failed');
    });
    this.http.on('clientError', (err: Error, sock) => {
      if (sock.writable) sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else sock.destroy();
      log.debug({ event: 'http-error', listener: cfg.name, error: err.message }, 'bad HTTP request');
    });
  }

  /** The first bytes of a connection decide who reads it: rpch/http for RPC_*, else Node's http server. */
  private dispatch(sock: tls.TLSSocket): void {
    let first = Buffer.alloc(0);
    const timer = setTimeout(() => sock.destroy(), this.cfg.headersTimeoutMs);
    const onData = (d: Buffer): void => {
      first = Buffer.concat([first, d]);
      if (first.length < 4 && first.indexOf(0x20) < 0) return;
      clearTimeout(timer);
      sock.off('data', onData);
      sock.pause();
      if (isRpchStart(first)) {
        serveRpcHttp(sock, first, this.cfg.headersTimeoutMs, (req, res, cont) => void this.route(req, res, cont), (why) => {
          this.log.info({ event: 'http-error', listener: this.cfg.name, client: sock.remoteAddress, error: why }, 'bad RPC over HTTP request');
        });
        sock.resume();
      } else {
        sock.unshift(first);
        this.http.emit('connection', sock);
        sock.resume();
      }
    };
    sock.on('data', onData);
    sock.on('error', () => sock.destroy());
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.cfg.port, this.cfg.address, () => {
        this.server.off('error', reject);
        this.server.on('error', (e) => this.log.error({ event: 'https-error', listener: this.cfg.name, error: e.message }, 'HTTPS listener error'));
        resolve();
      });
    });
  }

  /** SIGHUP: new certificate files; a bad file keeps the old ones (logged). */
  reloadCertificates(): void {
    try {
      const certs = loadCertificates(this.cfg);
      this.certs = certs;
      this.server.setSecureContext({ cert: readPem(certs[0]!.cert), key: readPem(certs[0]!.key), minVersion: 'TLSv1.2', maxVersion: this.cfg.tlsMaxVersion });
      this.log.info({ event: 'certificates-reloaded', listener: this.cfg.name, certificates: certs.map((c) => c.cert) }, 'certificates reloaded');
    } catch (e) {
      this.log.error({ event: 'certificates-reload-refused', listener: this.cfg.name, error: (e as Error).message }, 'certificates not reloaded; the old ones stay in use');
    }
    try {
      this.users.refresh();
    } catch (e) {
      this.log.error({ event: 'users-reload-refused', listener: this.cfg.name, error: (e as Error).message }, 'users file not re-read; the old users stay in force');
    }
  }

  /**
   * A reload's new settings for this listener (same address, port and header timeout; the
   * certificates, users file and CA-checked web entries were loaded by the caller, so nothing
   * here throws): certificates, TLS version cap, users, realm and connection limit apply to new
   * connections and requests.
   */
  reconfigure(cfg: CompiledHttpsListener, certs: LoadedCert[], users: Users): void {
    this.cfg = cfg;
    this.certs = certs;
    this.users = users;
    this.server.setSecureContext({ cert: readPem(certs[0]!.cert), key: readPem(certs[0]!.key), minVersion: 'TLSv1.2', maxVersion: cfg.tlsMaxVersion });
    this.server.maxConnections = cfg.maxConnections;
  }

  private async route(req: AnyRequest, res: AnyResponse, expectContinue: boolean): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    let path: string;
    try {
      path = decodeURIComponent(q < 0 ? url : url.slice(0, q)).toLowerCase();
    } catch {
      path = '\0';
    }
    const client = clientAddress(req);
    const proxy = this.proxies.find((p) => p.path === path && p.proxy.rule.enabled)?.proxy;
    const web = proxy === undefined ? this.webs.find((w) => w.matches(path)) : undefined;
    if (proxy === undefined && web === undefined) {
      this.log.info({ event: 'https-not-published', listener: this.cfg.name, client, method: req.method, url }, 'request for an unpublished path');
      this.finish(req, res, 404, {}, 'not found\n');
      return;
    }
    let user = '';
    if (proxy !== undefined || web!.entry.requireAuthentication) {
      const a = await this.users.check(req.headers.authorization, Date.now());
      if (a.status !== AUTH_OK) {
        if (a.status !== AUTH_MISSING) {
          this.log.warn({ event: 'https-auth-failed', listener: this.cfg.name, client, user: a.user, method: req.method, url, busy: a.status === AUTH_BUSY },
            a.status === AUTH_BUSY ? 'too many password checks at once' : 'wrong user name or password');
        }
        if (a.status === AUTH_BUSY) this.finish(req, res, 503, { 'Retry-After': '1' }, 'busy\n');
        else this.finish(req, res, 401, { 'WWW-Authenticate': `Basic realm="${this.cfg.realm}"` }, 'authentication required\n');
        return;
      }
      user = a.user;
    }
    if (proxy !== undefined) {
      if ('flowing' in req) proxy.handle(req, res as RpcResponse, user, expectContinue);
      else this.finish(req, res, 405, { Allow: 'RPC_IN_DATA, RPC_OUT_DATA' }, 'the RPC proxy takes RPC_IN_DATA and RPC_OUT_DATA only\n');
      return;
    }
    if ('flowing' in req) {
      this.finish(req, res, 405, {}, 'RPC_IN_DATA and RPC_OUT_DATA go to the RPC proxy path only\n');
      return;
    }
    if (expectContinue) res.writeContinue();
    web!.handle(req, res as ServerResponse, user, client);
  }

  /** A final answer before the body was read: keep the connection only if there is no body to skip. */
  private finish(req: AnyRequest, res: AnyResponse, status: number, headers: Record<string, string>, body: string): void {
    const len = Number(req.headers['content-length'] ?? '0');
    const hasBody = req.headers['transfer-encoding'] !== undefined || !(len === 0);
    res.writeHead(status, { ...headers, 'Content-Type': 'text/plain', 'Content-Length': String(Buffer.byteLength(body)), ...(hasBody ? { Connection: 'close' } : {}) });
    res.end(body);
    if (hasBody) req.socket.destroySoon();
  }

  close(): Promise<void> {
    for (const p of this.proxies) p.proxy.closeAll('stop');
    for (const w of this.webs) w.close();
    this.http.closeAllConnections();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
  }
}

/** Read again for the server's default context (loadCertificates checked it a moment ago). */
function readPem(file: string): string {
  return readFileSync(file, 'utf8');
}

/** One RPC proxy's counters and its open virtual connections. */
export type RpchCounters = ProxyCounters & { active: number };

export interface HttpsCounters {
  rpch: Map<string, RpchCounters>;
  web: Map<string, WebCounters>;
}

/** Every HTTPS listener of the rules, with its RPC proxies and web paths. */
export class HttpsFrontend {
  private readonly listeners: Listener[] = [];

  constructor(private cfg: CompiledHttps, private readonly log: FrontendLog) {}

  /** Loads certificates, users and CA files and listens; throws (nothing left listening) on any problem. */
  async start(): Promise<void> {
    try {
      for (const l of this.cfg.listeners) {
        const lis = new Listener(l, this.log);
        this.listeners.push(lis);
        for (const r of this.cfg.rpcOverHttp) {
          if (r.listener === l.name) lis.proxies.push({ path: r.path.toLowerCase(), proxy: new RpcProxy(r, this.log, l.headersTimeoutMs) });
        }
        for (const w of this.cfg.webPublishing) if (w.listener === l.name) lis.webs.push(new WebPublisher(w, this.log));
        await lis.listen();
        this.log.info({
          event: 'https-listening', listener: l.name, address: `${l.address}:${l.port}`, users: lis.users.size,
          rpcOverHttp: lis.proxies.map((p) => p.proxy.rule.name), webPublishing: lis.webs.map((w) => w.entry.name),
        }, `HTTPS listener ${l.name} on ${l.address}:${l.port}`);
      }
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  get empty(): boolean {
    return this.cfg.listeners.length === 0;
  }

  reloadCertificates(): void {
    for (const l of this.listeners) l.reloadCertificates();
  }

  /**
   * What a reload of the HTTPS sections cannot apply in place, one line each ([] when
   * applyRules may be called): a new listener, or a listener's address, port or
   * headersTimeoutSeconds (the socket and the TLS handshake timeout were made for them).
   */
  restartNeeded(next: CompiledHttps): string[] {
    const out: string[] = [];
    for (const n of next.listeners) {
      const l = this.listeners.find((x) => x.cfg.name === n.name);
      if (l === undefined) out.push(`httpsListeners "${n.name}" added`);
      else {
        if (n.address !== l.cfg.address || n.port !== l.cfg.port) out.push(`httpsListeners "${n.name}" address or port (${l.cfg.address}:${l.cfg.port} -> ${n.address}:${n.port})`);
        if (n.headersTimeoutMs !== l.cfg.headersTimeoutMs) out.push(`httpsListeners "${n.name}" headersTimeoutSeconds`);
      }
    }
    return out;
  }

  /**
   * Applies a reload's HTTPS sections to the running listeners, all or nothing: returns what
   * stops it (restartNeeded, or a certificate, users or backendCa file that cannot be loaded)
   * with nothing changed, else []. RPC proxies: new and changed entries serve new virtual
   * connections (open ones keep the policy they began with), a removed entry's are closed.
   * Published paths: an unchanged entry keeps its backend connections, a changed one serves new
   * requests (those under way finish), a removed one's are cut. A removed listener is closed.
   */
  applyRules(next: CompiledHttps): string[] {
    const restart = this.restartNeeded(next);
    if (restart.length > 0) return restart;
    type Prepared = { l: Listener; n: CompiledHttpsListener; certs: LoadedCert[]; users: Users; webs: WebPublisher[] };
    const prepared: Prepared[] = [];
    const made: WebPublisher[] = [];
    try {
      for (const l of this.listeners) {
        const n = next.listeners.find((x) => x.name === l.cfg.name);
        if (n === undefined) continue;
        const certs = comparableEntry(n.certificates) === comparableEntry(l.cfg.certificates) ? l.certs : loadCertificates(n);
        const users = n.users === l.cfg.users ? l.users : new Users(n.users, (why) => this.log.warn({ event: 'users-skipped', listener: n.name }, why));
        const webs = next.webPublishing.filter((w) => w.listener === n.name).map((w) => {
          const same = l.webs.find((x) => x.entry.name === w.name && comparableEntry(x.entry) === comparableEntry(w));
          if (same !== undefined) return same;
          const fresh = new WebPublisher(w, this.log);
          made.push(fresh);
          return fresh;
        });
        prepared.push({ l, n, certs, users, webs });
      }
    } catch (e) {
      for (const w of made) w.close();
      return [`HTTPS sections: ${(e as Error).message}`];
    }
    for (const l of this.listeners.filter((x) => !next.listeners.some((n) => n.name === x.cfg.name))) {
      this.listeners.splice(this.listeners.indexOf(l), 1);
      void l.close();
      this.log.info({ event: 'https-listener-closed', listener: l.cfg.name }, `HTTPS listener ${l.cfg.name} removed by the reload: closed`);
    }
    for (const { l, n, certs, users, webs } of prepared) {
      const wanted = next.rpcOverHttp.filter((r) => r.listener === n.name);
      for (const p of l.proxies) if (!wanted.some((r) => r.name === p.proxy.rule.name)) p.proxy.closeAll('removed');
      l.proxies = wanted.map((r) => {
        const old = l.proxies.find((p) => p.proxy.rule.name === r.name)?.proxy;
        if (old !== undefined) old.rule = r;
        return { path: r.path.toLowerCase(), proxy: old ?? new RpcProxy(r, this.log, n.headersTimeoutMs) };
      });
      for (const w of l.webs) {
        if (webs.includes(w)) continue;
        if (next.webPublishing.some((x) => x.name === w.entry.name && x.listener === n.name)) w.retire();
        else w.close();
      }
      l.webs = webs;
      l.reconfigure(n, certs, users);
    }
    this.cfg = next;
    return [];
  }

  /** Every RPC proxy's and published path's counters, by entry name (metrics). */
  counters(): HttpsCounters {
    const out: HttpsCounters = { rpch: new Map(), web: new Map() };
    for (const l of this.listeners) {
      for (const p of l.proxies) out.rpch.set(p.proxy.rule.name, { ...p.proxy.counters, active: p.proxy.active });
      for (const w of l.webs) out.web.set(w.entry.name, { ...w.counters });
    }
    return out;
  }

  async stop(): Promise<void> {
    const all = this.listeners.splice(0);
    await Promise.all(all.map((l) => l.close()));
  }
}

/**
 * Web publishing with SSL bridging: a request under a published prefix is forwarded over a new
 * TLS connection to the backend, whose certificate must chain to `backendCa` and name
 * `backendServerName`. Node's own https client does the HTTP; bodies are piped both ways (back
 * pressure included), `Host` is kept, `X-Forwarded-For` / `X-Forwarded-Proto` are added, hop-by-hop
 * headers dropped. No timeout is set on the backend request: a long poll (ActiveSync Ping waits
 * up to an hour) ends when the backend or the client ends it.
 */
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse, OutgoingHttpHeaders } from 'node:http';
import type { CompiledWebPublishing } from '../policy/https.js';
import type { ProxyLog } from '../rpch/proxy.js';

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'expect',
]);

export interface WebCounters {
  requests: number;
  backendErrors: number;
}

/** Does `path` (lower-case, no query) fall under `prefix` at a segment boundary? */
export function underPrefix(path: string, prefix: string): boolean {
  if (prefix === '/') return true;
  return path === prefix || (path.startsWith(prefix) && (path.charAt(prefix.length) === '/'));
}

export class WebPublisher {
  readonly counters: WebCounters = { requests: 0, backendErrors: 0 };
  private readonly agent: https.Agent;

  constructor(readonly entry: CompiledWebPublishing, private readonly log: ProxyLog) {
    const ca = readFileSync(entry.backendCa, 'utf8');
    // keepAlive: backend connections are reused between requests; no socket timeout (long polls).
    this.agent = new https.Agent({ ca, keepAlive: true, servername: entry.backendServerName, minVersion: 'TLSv1.2' });
  }

  matches(path: string): boolean {
    return this.entry.enabled && this.entry.paths.some((p) => underPrefix(path, p));
  }

  close(): void {
    this.agent.destroy();
  }

  /** A reload replaced this entry: requests under way finish; idle backend connections go now. */
  retire(): void {
    for (const list of Object.values(this.agent.freeSockets)) for (const sock of list ?? []) sock.destroy();
    // Agent reads its own keepAlive field when a socket frees: those of requests under way close then.
    (this.agent as unknown as { keepAlive: boolean }).keepAlive = false;
  }

  handle(req: IncomingMessage, res: ServerResponse, user: string, client: string): void {
    this.counters.requests++;
    const e = this.entry;
    const headers: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    }
    // Authorization goes through either way: OWA and ActiveSync with Basic check the same credentials.
    const prior = req.headers['x-forwarded-for'];
    headers['x-forwarded-for'] = prior === undefined ? client : `${Array.isArray(prior) ? prior.join(', ') : prior}, ${client}`;
    headers['x-forwarded-proto'] = 'https';
    const b = e.backend;
    const up = https.request({
      agent: this.agent, host: b.hostname, port: b.port === '' ? 443 : Number(b.port), servername: e.backendServerName,
      method: req.method, path: req.url, headers, timeout: 0,
    });
    up.on('response', (r) => {
      const out: OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(r.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
      res.writeHead(r.statusCode ?? 502, r.statusMessage, out);
      r.pipe(res);
      r.on('error', () => res.destroy());
    });
    up.on('error', (err) => {
      this.counters.backendErrors++;
      const code = (err as NodeJS.ErrnoException).code ?? '';
      this.log.warn({ event: 'web-backend-error', webPublishing: e.name, client, user, url: req.url, backend: b.origin, code },
        `web publishing "${e.name}": backend ${b.origin}: ${err.message}`);
      if (!res.headersSent) {
        res.writeHead(502, { 'Content-Type': 'text/plain', Connection: 'close' });
        res.end('bad gateway\n');
      } else {
        res.destroy();
      }
    });
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  }
}

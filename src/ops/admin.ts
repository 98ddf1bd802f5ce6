/**
 * The admin socket: a Unix socket that only root can open (mode 0600, daemon runs as root),
 * one JSON request line in, one JSON response line out — or, for `events`, one JSON line per
 * firewall-log record until the client goes away. `rpcgw mappings`, `flush`, `status`, `reload`,
 * `explain` and `events` are its clients.
 *
 * It is also the instance lock: binding a Unix socket path is exclusive, and a socket file whose
 * daemon died refuses connections. So a start finds either a live daemon answering there (refuse
 * to start, naming it) or a stale file (removed, then bound) — no pid file, nothing to check
 * against /proc, and the kernel releases it when the process dies however it dies.
 */
import net from 'node:net';
import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';

export interface AdminRequest {
  cmd: 'mappings' | 'connections' | 'flush' | 'status' | 'reload' | 'events' | 'explain';
  rule?: string;
  client?: string;
  port?: number;
  type?: string;
}

/** A reply that is a stream: `start` is given a line writer and returns the unsubscribe function. */
export interface AdminStream {
  stream: (write: (rec: unknown) => void) => () => void;
}

export type AdminHandler = (req: AdminRequest) => unknown;

export class InstanceLockError extends Error {}

/** Bound on one request line: a request is a few dozen bytes. */
const MAX_REQUEST_BYTES = 4096;
/** Records an `events` client may fall behind by before it is cut off (the daemon never waits for it). */
const MAX_STREAM_BACKLOG_BYTES = 4 << 20;

function isStream(r: unknown): r is AdminStream {
  return r !== null && typeof r === 'object' && typeof (r as AdminStream).stream === 'function';
}

function connection(sock: net.Socket, handle: AdminHandler): void {
  let buf = '';
  sock.setEncoding('utf8');
  sock.setTimeout(5000, () => sock.destroy());
  sock.on('error', () => sock.destroy());
  const onData = (chunk: string): void => {
    buf += chunk;
    if (buf.length > MAX_REQUEST_BYTES) return void sock.end(JSON.stringify({ error: 'request too long' }) + '\n');
    const nl = buf.indexOf('\n');
    if (nl < 0) return;
    sock.off('data', onData);
    let reply: unknown;
    try {
      reply = handle(JSON.parse(buf.slice(0, nl)) as AdminRequest);
    } catch (e) {
      reply = { error: (e as Error).message };
    }
    if (reply instanceof Promise) {
      // A command that answers once the host confirmed it (flush of kernel pinholes): the
      // socket's 5 s timeout still bounds the wait.
      reply.then((r: unknown) => sock.end(JSON.stringify(r) + '\n'), (e: unknown) => sock.end(JSON.stringify({ error: (e as Error).message }) + '\n'));
      return;
    }
    if (!isStream(reply)) return void sock.end(JSON.stringify(reply) + '\n');
    sock.setTimeout(0);
    const stop = reply.stream((rec) => {
      if (sock.destroyed) return;
      if (sock.writableLength > MAX_STREAM_BACKLOG_BYTES) return void sock.destroy();
      sock.write(JSON.stringify(rec) + '\n');
    });
    sock.on('close', stop);
    sock.resume(); // EOF from the client ends the stream
  };
  sock.on('data', onData);
}

function listen(server: net.Server, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    server.once('error', onError);
    server.listen(socketPath, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** Does a daemon answer on `socketPath`? false for a stale socket file (ECONNREFUSED) or none. */
function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection(socketPath);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Binds the admin socket (taking the instance lock) and serves `handle`. Throws
 * InstanceLockError when another rpcgw answers there.
 */
export async function serveAdmin(socketPath: string, handle: AdminHandler): Promise<net.Server> {
  mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o700 });
  const server = net.createServer((sock) => connection(sock, handle));
  for (let attempt = 0; ; attempt++) {
    try {
      await listen(server, socketPath);
      break;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EADDRINUSE' || attempt > 0) throw new Error(`admin socket ${socketPath}: ${code ?? (e as Error).message}`);
      if (await answers(socketPath)) {
        throw new InstanceLockError(`another rpcgw is already running with admin socket ${socketPath}; stop it first (systemctl stop rpcgw)`);
      }
      unlinkSync(socketPath); // left by a daemon that died without cleanup
    }
  }
  chmodSync(socketPath, 0o600);
  return server;
}

function socketError(socketPath: string, e: NodeJS.ErrnoException): Error {
  const why = e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? 'is rpcgw running? (no daemon listens there)' : e.code === 'EACCES' ? 'permission denied (root only)' : e.message;
  return new Error(`${socketPath}: ${why}`);
}

/** Sends one request to the daemon and returns its reply. */
export function adminRequest(socketPath: string, req: AdminRequest, timeoutMs = 5000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(socketPath);
    let buf = '';
    sock.setEncoding('utf8');
    sock.setTimeout(timeoutMs, () => {
      sock.destroy();
      reject(new Error(`${socketPath}: no answer from rpcgw within ${timeoutMs} ms`));
    });
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (c: string) => (buf += c));
    sock.on('end', () => {
      try {
        resolve(JSON.parse(buf) as Record<string, unknown>);
      } catch {
        reject(new Error(`${socketPath}: unreadable answer from rpcgw`));
      }
    });
    sock.on('error', (e: NodeJS.ErrnoException) => reject(socketError(socketPath, e)));
  });
}

/**
 * Sends a streaming request and calls `onRecord` for each line until the daemon closes the
 * stream or `signal` aborts. Resolves when the stream ends.
 */
export function adminStream(socketPath: string, req: AdminRequest, onRecord: (rec: Record<string, unknown>) => void, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(socketPath);
    let buf = '';
    sock.setEncoding('utf8');
    signal?.addEventListener('abort', () => sock.end(), { once: true });
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (c: string) => {
      buf += c;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          onRecord(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // a line cut by the daemon going away
        }
      }
    });
    sock.on('close', () => resolve());
    sock.on('error', (e: NodeJS.ErrnoException) => reject(socketError(socketPath, e)));
  });
}

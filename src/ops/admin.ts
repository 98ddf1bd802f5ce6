/**
 * The admin socket: a Unix socket that only root can open (mode 0600, daemon runs as root),
 * one JSON request line in, one JSON response line out. `rpcgw mappings` and `rpcgw flush`
 * are its clients.
 */
import net from 'node:net';
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';

export interface AdminRequest {
  cmd: 'mappings' | 'connections' | 'flush' | 'status';
  rule?: string;
  client?: string;
}

export type AdminHandler = (req: AdminRequest) => unknown;

/** Bound on one request line: a request is a few dozen bytes. */
const MAX_REQUEST_BYTES = 4096;

export function serveAdmin(socketPath: string, handle: AdminHandler): Promise<net.Server> {
  mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o700 });
  if (existsSync(socketPath)) unlinkSync(socketPath); // stale: the caller holds the instance lock
  const server = net.createServer((sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.setTimeout(5000, () => sock.destroy());
    sock.on('error', () => sock.destroy());
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_REQUEST_BYTES) return sock.end(JSON.stringify({ error: 'request too long' }) + '\n');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      let reply: unknown;
      try {
        reply = handle(JSON.parse(buf.slice(0, nl)) as AdminRequest);
      } catch (e) {
        reply = { error: (e as Error).message };
      }
      sock.end(JSON.stringify(reply) + '\n');
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`admin socket ${socketPath}: ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
    server.listen(socketPath, () => {
      chmodSync(socketPath, 0o600);
      resolve(server);
    });
  });
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
    sock.on('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? 'is rpcgw running? (no daemon listens there)' : e.code === 'EACCES' ? 'permission denied (root only)' : e.message;
      reject(new Error(`${socketPath}: ${why}`));
    });
  });
}

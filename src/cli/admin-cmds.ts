/** `rpcgw mappings` and `rpcgw flush`: clients of the running daemon's admin socket. */
import { adminRequest } from '../ops/admin.js';
import { readRulesFile } from './rules-file.js';
import type { ConnectionListing, MappingListing } from '../engine/records.js';

export const DEFAULT_ADMIN_SOCKET = '/run/rpcgw/admin.sock';

/** The socket: --socket, else the one the rules file names, else the default. */
export function adminSocketOf(a: { socket?: string | undefined; rules?: string | undefined }): string {
  if (a.socket) return a.socket;
  if (a.rules) return readRulesFile(a.rules).rules.gateway.adminSocket;
  return DEFAULT_ADMIN_SOCKET;
}

function secs(ms: number | null): string {
  return ms === null ? '-' : `${Math.round(ms / 1000)}s`;
}

export async function runMappings(a: { socket?: string; rules?: string; json: boolean; connections: boolean }, write: (l: string) => void): Promise<number> {
  const sock = adminSocketOf(a);
  const reply = await adminRequest(sock, { cmd: 'mappings' });
  if (typeof reply.error === 'string') throw new Error(`rpcgw: ${reply.error}`);
  const maps = reply.mappings as MappingListing[];
  let conns: ConnectionListing[] = [];
  if (a.connections) {
    const r2 = await adminRequest(sock, { cmd: 'connections' });
    conns = r2.connections as ConnectionListing[];
  }
  if (a.json) {
    for (const m of maps) write(JSON.stringify({ type: 'pinhole', ...m }));
    for (const c of conns) write(JSON.stringify({ type: 'connection', ...c }));
    return 0;
  }
  for (const m of maps) {
    write(
      `pinhole rule=${m.rule} client=${m.client} external=${m.external} server=${m.server} age=${secs(m.ageMs)} idle=${secs(m.idleMs)} ` +
        `connections=${m.connections} expires=${secs(m.expiresInMs)}`,
    );
  }
  for (const c of conns) {
    write(`${c.kind} rule=${c.rule} client=${c.client} external=${c.external} gateway=${c.gateway} server=${c.server} age=${secs(c.ageMs)} idle=${secs(c.idleMs)}`);
  }
  write(`${maps.length} pinhole(s)${a.connections ? `, ${conns.length} connection(s)` : ''}`);
  return 0;
}

export async function runFlush(a: { socket?: string; rules?: string; rule?: string; client?: string }, write: (l: string) => void): Promise<number> {
  const reply = await adminRequest(adminSocketOf(a), { cmd: 'flush', ...(a.rule ? { rule: a.rule } : {}), ...(a.client ? { client: a.client } : {}) });
  if (typeof reply.error === 'string') throw new Error(`rpcgw: ${reply.error}`);
  const f = reply.flushed as { mappings: number; connections: number };
  write(`flushed ${f.mappings} pinhole(s) and ${f.connections} connection(s)`);
  return 0;
}

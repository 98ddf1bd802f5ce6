/**
 * Clients of the running daemon's admin socket: `rpcgw mappings`, `flush`, `reload`, `status`,
 * `events`, `explain`. A daemon's error reply becomes a CliError (exit 65 for a refused reload
 * or a bad argument); no daemon on the socket is exit 69.
 */
import { adminRequest, adminStream, type AdminRequest } from '../ops/admin.js';
import { readRulesFile } from './rules-file.js';
import { CliError, EXIT_DATAERR, EXIT_UNAVAILABLE } from './errors.js';
import type { ConnectionListing, MappingListing } from '../engine/records.js';
import type { ReloadResult } from './run.js';
import type { Explanation } from './admin-view.js';

export const DEFAULT_ADMIN_SOCKET = '/run/rpcgw/admin.sock';

type Write = (l: string) => void;

export interface AdminArgs {
  socket?: string | undefined;
  rules?: string | undefined;
}

/** The socket: --socket, else the one the rules file names, else the default. */
export function adminSocketOf(a: AdminArgs): string {
  if (a.socket) return a.socket;
  if (a.rules) return readRulesFile(a.rules).rules.gateway.adminSocket;
  return DEFAULT_ADMIN_SOCKET;
}

/** One request; a transport failure is exit 69, an error reply exit 65. */
async function ask(a: AdminArgs, req: AdminRequest, timeoutMs?: number): Promise<Record<string, unknown>> {
  let reply: Record<string, unknown>;
  try {
    reply = await adminRequest(adminSocketOf(a), req, timeoutMs);
  } catch (e) {
    throw new CliError((e as Error).message, EXIT_UNAVAILABLE);
  }
  if (typeof reply.error === 'string') throw new CliError(reply.error, EXIT_DATAERR);
  return reply;
}

function secs(ms: number | null): string {
  return ms === null ? '-' : `${Math.round(ms / 1000)}s`;
}

type ConnectionRow = ConnectionListing & { stateName?: string; packetsFromClient?: number; bytesFromClient?: number; packetsFromServer?: number; bytesFromServer?: number };

export async function runMappings(a: AdminArgs & { json: boolean; connections: boolean; rule?: string; client?: string }, write: Write): Promise<number> {
  const filter = { ...(a.rule !== undefined ? { rule: a.rule } : {}), ...(a.client !== undefined ? { client: a.client } : {}) };
  const reply = await ask(a, { cmd: 'mappings', ...filter });
  const maps = reply.mappings as MappingListing[];
  // "kernel" rules: the pinholes as nftables holds them, their connections as conntrack does.
  const kPins = (reply.kernelPinholes ?? []) as { rule: string; client: string; external: string; server: string; expiresInSeconds: number }[];
  const kConns = (reply.kernelConnections ?? []) as { rule: string; state: string; client: string; external: string; server: string; packets: number; bytes: number }[];
  const conns = a.connections ? ((await ask(a, { cmd: 'connections', ...filter })).connections as ConnectionRow[]) : [];
  if (a.json) {
    for (const m of maps) write(JSON.stringify({ type: 'pinhole', ...m }));
    for (const c of conns) write(JSON.stringify({ type: 'connection', ...c }));
    for (const p of kPins) write(JSON.stringify({ type: 'kernel-pinhole', ...p }));
    for (const c of kConns) write(JSON.stringify({ type: 'kernel-connection', ...c }));
    return 0;
  }
  for (const m of maps) {
    write(
      `pinhole rule=${m.rule} client=${m.client} external=${m.external} server=${m.server} age=${secs(m.ageMs)} idle=${secs(m.idleMs)} ` +
        `connections=${m.connections} expires=${secs(m.expiresInMs)}${m.direction === 'outbound' ? ' direction=outbound' : ''}`,
    );
  }
  for (const c of conns) {
    write(
      `${c.kind} ${c.stateName ?? c.state} rule=${c.rule} client=${c.client} external=${c.external} gateway=${c.gateway} server=${c.server} age=${secs(c.ageMs)} idle=${secs(c.idleMs)}` +
        (c.packetsFromClient !== undefined ? ` packets=${c.packetsFromClient}/${c.packetsFromServer} bytes=${c.bytesFromClient}/${c.bytesFromServer}` : '') +
        (c.direction === 'outbound' ? ' direction=outbound' : ''),
    );
  }
  for (const p of kPins) write(`kernel-pinhole rule=${p.rule} client=${p.client} external=${p.external} server=${p.server} expires=${p.expiresInSeconds}s`);
  for (const c of kConns) write(`kernel-connection ${c.state} rule=${c.rule} client=${c.client} external=${c.external} server=${c.server} packets=${c.packets} bytes=${c.bytes}`);
  write(`${maps.length} pinhole(s)${a.connections ? `, ${conns.length} connection(s)` : ''}` +
    (kPins.length + kConns.length > 0 ? `; in the kernel: ${kPins.length} pinhole(s), ${kConns.length} connection(s)` : ''));
  return 0;
}

export async function runFlush(a: AdminArgs & { rule?: string; client?: string }, write: Write): Promise<number> {
  const reply = await ask(a, { cmd: 'flush', ...(a.rule ? { rule: a.rule } : {}), ...(a.client ? { client: a.client } : {}) });
  const f = reply.flushed as { mappings: number; connections: number };
  const k = reply.flushedKernel as { pinholes: number; connections: number } | undefined;
  write(`flushed ${f.mappings} pinhole(s) and ${f.connections} connection(s)` +
    (k !== undefined && k.pinholes + k.connections > 0 ? `; in the kernel: ${k.pinholes} pinhole(s) and ${k.connections} connection(s)` : ''));
  return 0;
}

/** `rpcgw reload`: the daemon re-reads its rules file; prints what changed; exit 65 when refused. */
export async function runReload(a: AdminArgs & { json: boolean }, write: Write, err: Write): Promise<number> {
  let r: ReloadResult;
  try {
    r = (await adminRequest(adminSocketOf(a), { cmd: 'reload' }, 30_000)) as unknown as ReloadResult;
  } catch (e) {
    throw new CliError((e as Error).message, EXIT_UNAVAILABLE);
  }
  if (a.json) write(JSON.stringify(r));
  if (!r.ok) {
    if (!a.json) {
      err(`rpcgw: reload refused; the rules in force are unchanged:`);
      for (const p of r.problems ?? [(r as { error?: string }).error ?? 'unknown']) err(`rpcgw:   ${p}`);
    }
    return EXIT_DATAERR;
  }
  if (a.json) return 0;
  const list = (xs: string[] | undefined): string => (xs === undefined || xs.length === 0 ? 'none' : xs.join(', '));
  write(`reloaded ${r.file}`);
  write(`  rules added: ${list(r.rulesAdded)}; removed: ${list(r.rulesRemoved)}; changed: ${list(r.rulesChanged)}`);
  if ((r.applied ?? []).length > 0) write(`  gateway settings applied: ${list(r.applied)}`);
  write(`  pinholes kept: ${r.pinholesKept}, dropped: ${r.pinholesDropped}; connections kept: ${r.connectionsKept}, closed: ${r.connectionsClosed}`);
  for (const w of r.warnings ?? []) write(`  warning: ${w}`);
  return 0;
}

interface StatusReply {
  version: string;
  pid: number;
  uptimeMs: number;
  rulesFile: string;
  rulesSha256: string;
  rules: { rule: string; enabled: boolean; pinholes: number; connections: number; refusals: number }[];
  pinholes: number;
  connections: number;
  guardPresent: boolean;
  guardRepairs: number;
  offloadsChanged: Record<string, string[]>;
  capture: { truncated: number; undecodable: number };
  packetsIn: number;
  packetsOut: number;
  drops: number;
  sendErrors: number;
  reloads: number;
  reloadFailures: number;
}

export async function runStatus(a: AdminArgs & { json: boolean }, write: Write): Promise<number> {
  const s = (await ask(a, { cmd: 'status' })) as unknown as StatusReply;
  if (a.json) {
    write(JSON.stringify(s));
    return 0;
  }
  write(`rpcgw ${s.version}, pid ${s.pid}, up ${secs(s.uptimeMs)}`);
  write(`rules: ${s.rulesFile} (sha256 ${s.rulesSha256.slice(0, 16)}...), reloads ${s.reloads}, refused ${s.reloadFailures}`);
  write(`kernel guard: ${s.guardPresent ? 'present' : 'MISSING'} (repaired ${s.guardRepairs} time(s))`);
  const off = Object.entries(s.offloadsChanged).map(([i, f]) => `${i}: ${f.length > 0 ? f.join(', ') : 'none'}`);
  write(`offloads turned off: ${off.join('; ')}`);
  write(`capture: truncated ${s.capture.truncated}, undecodable ${s.capture.undecodable}; packets in ${s.packetsIn}, out ${s.packetsOut}, dropped ${s.drops}, send errors ${s.sendErrors}`);
  write(`pinholes ${s.pinholes}, connections ${s.connections}`);
  for (const r of s.rules) write(`  rule ${r.rule}${r.enabled ? '' : ' (disabled)'}: pinholes ${r.pinholes}, connections ${r.connections}, refusals ${r.refusals}`);
  return 0;
}

/** `rpcgw events`: the firewall log as it happens (like conntrack -E), until interrupted. */
export async function runEvents(a: AdminArgs & { rule?: string; client?: string; type?: string; json: boolean }, write: Write, signal?: AbortSignal): Promise<number> {
  const req: AdminRequest = { cmd: 'events', ...(a.rule ? { rule: a.rule } : {}), ...(a.client ? { client: a.client } : {}), ...(a.type ? { type: a.type } : {}) };
  let failure: string | null = null;
  try {
    await adminStream(adminSocketOf(a), req, (rec) => {
      if (typeof rec.error === 'string') {
        failure = rec.error;
        return;
      }
      if (a.json) return write(JSON.stringify(rec));
      const t = new Date(typeof rec.time === 'number' ? rec.time : Date.now()).toISOString();
      const who = ['rule', 'client', 'external', 'server', 'reason'].filter((k) => rec[k] !== undefined && rec[k] !== null).map((k) => `${k}=${String(rec[k])}`);
      write(`${t} [${String(rec.event)}] ${who.join(' ')} ${String(rec.msg ?? '')}`.trimEnd());
    }, signal);
  } catch (e) {
    throw new CliError((e as Error).message, EXIT_UNAVAILABLE);
  }
  if (failure !== null) throw new CliError(failure, EXIT_DATAERR);
  return 0;
}

export function printExplanation(x: Explanation, write: Write): void {
  write(`client ${x.client}${x.port !== null ? ` to port ${x.port}` : ''}: ${x.verdict}`);
  for (const a of x.addresses) {
    write(`  on ${a.external}: ${a.rule === null ? 'no rule' : `rule ${a.rule}`}`);
    for (const l of a.lines) write(`    ${l}`);
  }
}

/**
 * `rpcgw explain --client IP [--port P]`: from the running daemon (its rules and live pinholes),
 * or offline from `--rules F` when `--offline` is given.
 */
export async function runExplain(a: AdminArgs & { client: string; port?: number; offline: boolean; json: boolean }, write: Write): Promise<number> {
  let x: Explanation;
  if (a.offline) {
    if (!a.rules) throw new CliError('explain --offline needs --rules', 64);
    const { parseIpv4 } = await import('../wire/addr.js');
    const { explainClient } = await import('./admin-view.js');
    const ip = parseIpv4(a.client);
    if (ip < 0) throw new CliError(`client: not an IPv4 address: ${a.client}`, 64);
    x = explainClient(readRulesFile(a.rules).rules, ip, a.port ?? null);
  } else {
    x = (await ask(a, { cmd: 'explain', client: a.client, ...(a.port !== undefined ? { port: a.port } : {}) })) as unknown as Explanation;
  }
  if (a.json) write(JSON.stringify(x));
  else printExplanation(x, write);
  return 0;
}

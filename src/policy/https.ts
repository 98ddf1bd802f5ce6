/**
 * The rules file's HTTPS sections: `httpsListeners` (TLS + Basic pre-authentication),
 * `rpcOverHttp` (the inspecting RPC proxy) and `webPublishing` (SSL bridging). Semantic checks
 * JSON Schema cannot express (unique names, listener references, port lists, CIDRs, address and
 * port clashes) and their compilation. Files (certificates, keys, htpasswd, CA) are not read here:
 * the policy layer is pure; `rpcgw check` and the daemon read them (src/https/).
 */
import type { ProblemSink } from './document.js';
import { isObject, prop, show } from './document.js';
import { checkClientNets, EPM_PORT } from './fields.js';
import { parseCidr4, parseIpv4 } from '../wire/addr.js';

export interface HttpsListenerDocument {
  name: string;
  address: string;
  port: number;
  certificates: { cert: string; key: string; serverNames?: string[] }[];
  users: string;
  realm: string;
  tlsMaxVersion: '1.2' | '1.3';
  headersTimeoutSeconds: number;
  maxConnections: number;
}

export interface ValidPortsDocument {
  remoteNames: string[];
  server: string;
  ports: string;
  endpointMapperPort: number;
}

export interface RpcOverHttpDocument {
  name: string;
  listener: string;
  path: string;
  validPorts: ValidPortsDocument[];
  interfaces: string[];
  requireEncryption: boolean;
  clients: string[];
  receiveWindowBytes: number;
  keepAliveSeconds: number;
  idleTimeoutSeconds: number;
  maxVirtualConnections: number;
  maxVirtualConnectionsPerClient: number;
  enabled: boolean;
}

export interface WebPublishingDocument {
  name: string;
  listener: string;
  paths: string[];
  backend: string;
  backendCa: string;
  backendServerName?: string;
  requireAuthentication: boolean;
  enabled: boolean;
}

/** The remote port that names the endpoint mapper over HTTP (MS-RPCH 2.1). */
export const RPCH_EPM_PORT = 593;

/** "6001-6002,6004" as inclusive ranges; null if a part is not a port or range 1..65535 with lo <= hi. */
export function parsePortList(text: string): { lo: number; hi: number }[] | null {
  const out: { lo: number; hi: number }[] = [];
  for (const part of text.split(',')) {
    const m = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(part);
    if (m === null) return null;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo < 1 || hi > 65535 || lo > hi) return null;
    out.push({ lo, hi });
  }
  return out;
}

function checkNames(sink: ProblemSink, section: string, list: unknown[]): Set<string> {
  const seen = new Set<string>();
  list.forEach((e, i) => {
    const name = prop(e, 'name');
    if (typeof name !== 'string') return;
    if (seen.has(name)) sink.error(`/${section}/${i}/name`, `expected a name not used by another ${section} entry, found ${show(name)}`);
    seen.add(name);
  });
  return seen;
}

function checkListenerRef(sink: ProblemSink, path: string, v: unknown, listeners: Set<string>): void {
  if (typeof v !== 'string' || listeners.has(v)) return;
  const known = [...listeners].map((n) => JSON.stringify(n)).join(', ');
  sink.error(path, `expected the name of an httpsListeners entry (${known === '' ? 'there is none' : known}), found ${show(v)}`);
}

/** Semantic checks of the three sections (after the schema filled defaults). */
export function checkHttpsSections(doc: unknown, sink: ProblemSink): void {
  if (!isObject(doc)) return;
  const listeners = Array.isArray(doc.httpsListeners) ? doc.httpsListeners : [];
  const proxies = Array.isArray(doc.rpcOverHttp) ? doc.rpcOverHttp : [];
  const webs = Array.isArray(doc.webPublishing) ? doc.webPublishing : [];
  const names = checkNames(sink, 'httpsListeners', listeners);
  checkNames(sink, 'rpcOverHttp', proxies);
  checkNames(sink, 'webPublishing', webs);
  const endpoints = new Map<string, number>();
  listeners.forEach((l, i) => {
    const a = prop(l, 'address');
    const p = prop(l, 'port');
    if (typeof a !== 'string' || typeof p !== 'number') return;
    const key = `${a}:${p}`;
    const before = endpoints.get(key);
    if (before !== undefined) sink.error(`/httpsListeners/${i}/port`, `expected an address and port no other listener uses, found ${key} (also httpsListeners/${before})`);
    endpoints.set(key, i);
    if (p === EPM_PORT) sink.error(`/httpsListeners/${i}/port`, `expected a port other than ${EPM_PORT} (the endpoint mapper the gateway publishes), found ${EPM_PORT}`);
  });
  const pathsByListener = new Map<string, string>();
  proxies.forEach((r, i) => {
    const base = `/rpcOverHttp/${i}`;
    checkListenerRef(sink, `${base}/listener`, prop(r, 'listener'), names);
    const vp = prop(r, 'validPorts');
    if (Array.isArray(vp)) {
      vp.forEach((v, j) => {
        const ports = prop(v, 'ports');
        if (typeof ports === 'string' && parsePortList(ports) === null) {
          sink.error(`${base}/validPorts/${j}/ports`, `expected ports 1..65535 or ranges LO-HI with LO <= HI, separated by commas, found ${show(ports)}`);
        }
      });
    }
    checkClientNets(sink, `${base}/clients`, prop(r, 'clients'));
    const perClient = prop(r, 'maxVirtualConnectionsPerClient');
    const total = prop(r, 'maxVirtualConnections');
    if (typeof perClient === 'number' && typeof total === 'number' && perClient > total) {
      sink.warn(`${base}/maxVirtualConnectionsPerClient`, `above maxVirtualConnections (${total}): the total limit is reached first`);
    }
    const l = prop(r, 'listener');
    const p = prop(r, 'path');
    if (typeof l === 'string' && typeof p === 'string') pathsByListener.set(`${l} ${p.toLowerCase()}`, base);
  });
  webs.forEach((w, i) => {
    const base = `/webPublishing/${i}`;
    checkListenerRef(sink, `${base}/listener`, prop(w, 'listener'), names);
    const backend = prop(w, 'backend');
    if (typeof backend === 'string') {
      try {
        const u = new URL(backend);
        if (u.protocol !== 'https:' || u.hostname === '') throw new Error('not https');
      } catch {
        sink.error(`${base}/backend`, `expected an https:// URL with a host, found ${show(backend)}`);
      }
    }
    const l = prop(w, 'listener');
    const paths = prop(w, 'paths');
    if (typeof l === 'string' && Array.isArray(paths)) {
      paths.forEach((p, j) => {
        if (typeof p !== 'string') return;
        const clash = pathsByListener.get(`${l} ${p.toLowerCase()}`);
        if (clash !== undefined) sink.error(`${base}/paths/${j}`, `expected a path not already served on listener ${JSON.stringify(l)}, found ${show(p)} (also ${clash})`);
        pathsByListener.set(`${l} ${p.toLowerCase()}`, `${base}/paths/${j}`);
      });
    }
  });
}

// ---- compiled ---------------------------------------------------------------------------------

export interface CompiledValidPorts {
  /** Lower-case names the client may give as RemoteName. */
  remoteNames: string[];
  serverIp: number;
  server: string;
  ranges: { lo: number; hi: number }[];
  endpointMapperPort: number;
}

export interface CompiledRpcOverHttp {
  name: string;
  listener: string;
  path: string;
  validPorts: CompiledValidPorts[];
  /** The interfaces allow-list in the shape policy/match's interfaceAllowed reads. */
  anyInterface: boolean;
  ifUuid: Uint8Array;
  ifMajor: Int32Array;
  ifMinor: Int32Array;
  ifLabel: string[];
  requireEncryption: boolean;
  clientNet: Uint32Array;
  clientMask: Uint32Array;
  receiveWindowBytes: number;
  keepAliveMs: number;
  idleTimeoutMs: number;
  maxVirtualConnections: number;
  maxVirtualConnectionsPerClient: number;
  enabled: boolean;
}

export interface CompiledHttpsListener {
  name: string;
  address: string;
  port: number;
  certificates: { cert: string; key: string; serverNames: string[] }[];
  users: string;
  realm: string;
  tlsMaxVersion: 'TLSv1.2' | 'TLSv1.3';
  headersTimeoutMs: number;
  maxConnections: number;
}

export interface CompiledWebPublishing {
  name: string;
  listener: string;
  /** Lower-case prefixes without a trailing "/". */
  paths: string[];
  backend: URL;
  backendCa: string;
  backendServerName: string;
  requireAuthentication: boolean;
  enabled: boolean;
}

export interface CompiledHttps {
  listeners: CompiledHttpsListener[];
  rpcOverHttp: CompiledRpcOverHttp[];
  webPublishing: CompiledWebPublishing[];
}

/** The interfaces list compiled the way a publishing rule's is (compile.ts). */
export interface CompiledInterfaces {
  anyInterface: boolean;
  ifUuid: Uint8Array;
  ifMajor: Int32Array;
  ifMinor: Int32Array;
  ifLabel: string[];
}

export function compileHttps(
  doc: Record<string, unknown>,
  interfaces: (list: string[]) => CompiledInterfaces,
  clients: (list: string[]) => { clientNet: Uint32Array; clientMask: Uint32Array },
): CompiledHttps {
  const listeners = (doc.httpsListeners ?? []) as HttpsListenerDocument[];
  const proxies = (doc.rpcOverHttp ?? []) as RpcOverHttpDocument[];
  const webs = (doc.webPublishing ?? []) as WebPublishingDocument[];
  return {
    listeners: listeners.map((l) => ({
      name: l.name, address: l.address, port: l.port, users: l.users, realm: l.realm,
      tlsMaxVersion: l.tlsMaxVersion === '1.2' ? 'TLSv1.2' : 'TLSv1.3',
      headersTimeoutMs: l.headersTimeoutSeconds * 1000, maxConnections: l.maxConnections,
      certificates: l.certificates.map((c) => ({ cert: c.cert, key: c.key, serverNames: c.serverNames ?? [] })),
    })),
    rpcOverHttp: proxies.map((r) => {
      return {
        name: r.name, listener: r.listener, path: r.path,
        validPorts: r.validPorts.map((v) => ({
          remoteNames: v.remoteNames.map((n) => n.toLowerCase()),
          server: v.server,
          serverIp: parseIpv4(v.server) >>> 0,
          ranges: parsePortList(v.ports) ?? [],
          endpointMapperPort: v.endpointMapperPort,
        })),
        ...interfaces(r.interfaces),
        requireEncryption: r.requireEncryption,
        ...clients(r.clients),
        receiveWindowBytes: r.receiveWindowBytes,
        keepAliveMs: r.keepAliveSeconds * 1000,
        idleTimeoutMs: r.idleTimeoutSeconds * 1000,
        maxVirtualConnections: r.maxVirtualConnections,
        maxVirtualConnectionsPerClient: r.maxVirtualConnectionsPerClient,
        enabled: r.enabled,
      };
    }),
    webPublishing: webs.map((w) => {
      const backend = new URL(w.backend);
      return {
        name: w.name, listener: w.listener,
        paths: w.paths.map((p) => (p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p).toLowerCase()),
        backend, backendCa: w.backendCa,
        backendServerName: w.backendServerName ?? backend.hostname,
        requireAuthentication: w.requireAuthentication, enabled: w.enabled,
      };
    }),
  };
}

/** A compiled entry as JSON, typed arrays as plain arrays: equal texts, same entry (reload comparisons). */
export function comparableEntry(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (ArrayBuffer.isView(x) ? Array.from(x as Uint32Array) : x));
}

/** The validPorts entry that allows RemoteName:port (name compared without case), or null. */
export function findValidPort(r: CompiledRpcOverHttp, remoteName: string, port: number): CompiledValidPorts | null {
  const name = remoteName.toLowerCase();
  for (const v of r.validPorts) {
    if (!v.remoteNames.includes(name)) continue;
    for (const x of v.ranges) if (port >= x.lo && port <= x.hi) return v;
  }
  return null;
}

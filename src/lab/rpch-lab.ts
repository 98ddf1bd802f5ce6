/**
 * RPC over HTTPS in the lab: a test CA and a certificate for the gateway (openssl), the lab user
 * in an htpasswd -B file (the same password as Samba's, as Outlook sends the same credentials to
 * the proxy and to Exchange), the rules file's httpsListeners + rpcOverHttp sections, and
 * Impacket's ncacn_http client (lab/rpch_client.py) in the client namespace.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LAB, exec, execOk, runOk } from './netns.js';

/** A test CA and a certificate it signed for `name` (DNS) and `ip`; files in `dir`. */
export async function makeCertificates(dir: string, name: string, ip: string): Promise<{ ca: string; cert: string; key: string }> {
  const p = (f: string): string => path.join(dir, f);
  await runOk(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=rpcgw test CA ${name}`,
    '-keyout', p(`${name}-ca.key`), '-out', p(`${name}-ca.pem`)]);
  await runOk(['openssl', 'req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`)]);
  writeFileSync(p(`${name}.ext`), `subjectAltName=DNS:${name},IP:${ip}\n`);
  await runOk(['openssl', 'x509', '-req', '-in', p(`${name}.csr`), '-CA', p(`${name}-ca.pem`), '-CAkey', p(`${name}-ca.key`), '-CAcreateserial',
    '-days', '2', '-extfile', p(`${name}.ext`), '-out', p(`${name}.pem`)]);
  return { ca: p(`${name}-ca.pem`), cert: p(`${name}.pem`), key: p(`${name}.key`) };
}

export const SAMR_UUID = '12345778-1234-abcd-ef00-0123456789ac';
/** The RemoteName the lab's validPorts accept for the server. */
export const RPCH_REMOTE = 'server.lab';

export interface RpchLabFiles {
  cert: string;
  key: string;
  ca: string;
  users: string;
}

/** Certificates and users for the lab's HTTPS listener (`htpasswd -B` with the Samba user). */
export async function rpchLabFiles(dir: string, user: string, password: string): Promise<RpchLabFiles> {
  const { cert, key, ca } = await makeCertificates(dir, 'mail.lab', LAB.gatewayExt);
  const users = path.join(dir, 'htpasswd');
  await runOk(['htpasswd', '-B', '-C', '5', '-b', '-c', users, user, password]);
  return { cert, key, ca, users };
}

/** The TLS 1.2-only listener of the lab, for Samba's own ncacn_http client (see tlsMaxVersion). */
export const RPCH_TLS12_PORT = 8443;

/**
 * Adds HTTPS listeners on the gateway's external address (443, and RPCH_TLS12_PORT capped at
 * TLS 1.2) with the same RPC proxy for samr on each, to the rules file.
 */
export function addRpchSections(rulesPath: string, f: RpchLabFiles, extra: Record<string, unknown> = {}): void {
  const doc = JSON.parse(readFileSync(rulesPath, 'utf8')) as Record<string, unknown>;
  const listener = { address: LAB.gatewayExt, certificates: [{ cert: f.cert, key: f.key }], users: f.users, ...(extra.listener as object | undefined) };
  doc.httpsListeners = [{ name: 'mail', port: 443, ...listener }, { name: 'mail-tls12', port: RPCH_TLS12_PORT, tlsMaxVersion: '1.2', ...listener }];
  const proxy = (name: string, on: string): Record<string, unknown> => ({
    name, listener: on,
    validPorts: [
      { remoteNames: [RPCH_REMOTE, 'rpcgwlab'], server: LAB.server, ports: '49152-49200' },
      // The endpoint mapper over HTTP: Samba has no 593 listener, its endpoint mapper is on 135.
      { remoteNames: [RPCH_REMOTE], server: LAB.server, ports: '593', endpointMapperPort: 135 },
    ],
    interfaces: [`${SAMR_UUID}@1.0`], requireEncryption: true,
  });
  doc.rpcOverHttp = [proxy('outlook-anywhere', 'mail'), proxy('samba-clients', 'mail-tls12')];
  for (const [k, v] of Object.entries(extra)) if (k !== 'listener') doc[k] = v;
  writeFileSync(rulesPath, JSON.stringify(doc, null, 2));
}

/** samr's dynamic port, asked from the gateway namespace straight to the server's endpoint mapper. */
export async function samrPort(gatewayNs: string): Promise<number> {
  const out = await execOk(gatewayNs, ['/usr/bin/python3', '-c',
    `from impacket.dcerpc.v5 import epm, samr; print(epm.hept_map('${LAB.server}', samr.MSRPC_UUID_SAMR, protocol='ncacn_ip_tcp'))`]);
  const m = /\[(\d+)\]/.exec(out);
  if (m === null) throw new Error(`no samr port in ${JSON.stringify(out)}`);
  return Number(m[1]);
}

export interface RpchClientResult {
  ok: boolean;
  bound: boolean;
  result?: unknown;
  error?: string;
}

/** lab/rpch_client.py in the client namespace: ncacn_http through the gateway's RPC proxy. */
export async function rpchClient(
  repoRoot: string, clientNs: string,
  o: { user: string; password: string; port: number; iface?: 'samr' | 'lsarpc' | 'epm'; level?: number; remote?: string },
): Promise<RpchClientResult> {
  const r = await exec(clientNs, ['/usr/bin/python3', path.join(repoRoot, 'lab', 'rpch_client.py'), '--proxy', LAB.gatewayExt,
    '--remote', o.remote ?? RPCH_REMOTE, '--port', String(o.port), '--iface', o.iface ?? 'samr', '--auth-level', String(o.level ?? 6),
    '--user', o.user, '--password', o.password], { timeoutMs: 60_000 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as RpchClientResult;
  } catch {
    return { ok: false, bound: false, error: `rpch_client printed no JSON (exit ${r.code}): ${(r.stdout + r.stderr).slice(-300)}` };
  }
}

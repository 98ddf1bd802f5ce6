/**
 * A listener's certificates: PEM files read into TLS secure contexts (TLS 1.2+), chosen by SNI
 * against each certificate's names (or the configured serverNames), the first being the default.
 * `checkCertificates` is what `rpcgw check` prints: key/certificate match and expiry.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { CompiledHttpsListener } from '../policy/https.js';

export const EXPIRY_WARNING_DAYS = 30;
const DAY_MS = 86_400_000;

export interface LoadedCert {
  cert: string;
  key: string;
  names: string[];
  context: tls.SecureContext;
  notAfter: Date;
}

/** DNS names of a certificate: subjectAltName DNS entries, else its CN. */
function certNames(x: X509Certificate): string[] {
  const out: string[] = [];
  for (const part of (x.subjectAltName ?? '').split(',')) {
    const m = /^\s*DNS:(.+)$/.exec(part);
    if (m?.[1] !== undefined) out.push(m[1].trim().toLowerCase());
  }
  if (out.length === 0) {
    const cn = /(?:^|\n)CN=([^\n]+)/.exec(x.subject);
    if (cn?.[1] !== undefined) out.push(cn[1].trim().toLowerCase());
  }
  return out;
}

/** Reads, parses and pairs each certificate with its key; throws an Error naming the file on any problem. */
export function loadCertificates(l: CompiledHttpsListener): LoadedCert[] {
  return l.certificates.map((c) => {
    let certPem: string;
    let keyPem: string;
    try {
      certPem = readFileSync(c.cert, 'utf8');
    } catch (e) {
      throw new Error(`listener "${l.name}": cannot read certificate ${c.cert}: ${(e as Error).message}`);
    }
    try {
      keyPem = readFileSync(c.key, 'utf8');
    } catch (e) {
      throw new Error(`listener "${l.name}": cannot read key ${c.key}: ${(e as Error).message}`);
    }
    let x: X509Certificate;
    try {
      x = new X509Certificate(certPem);
    } catch (e) {
      throw new Error(`listener "${l.name}": ${c.cert} is not a PEM certificate: ${(e as Error).message}`);
    }
    let matches: boolean;
    try {
      matches = x.checkPrivateKey(createPrivateKey(keyPem));
    } catch (e) {
      throw new Error(`listener "${l.name}": ${c.key} is not a PEM private key: ${(e as Error).message}`);
    }
    if (!matches) throw new Error(`listener "${l.name}": key ${c.key} does not match certificate ${c.cert}`);
    const context = tls.createSecureContext({ cert: certPem, key: keyPem, minVersion: 'TLSv1.2', maxVersion: l.tlsMaxVersion });
    const names = c.serverNames.length > 0 ? c.serverNames.map((n) => n.toLowerCase()) : certNames(x);
    return { cert: c.cert, key: c.key, names, context, notAfter: new Date(x.validTo) };
  });
}

/** The context for an SNI name: exact name, then a "*.domain" wildcard, then the first certificate. */
export function pickContext(certs: readonly LoadedCert[], servername: string): tls.SecureContext | undefined {
  const name = servername.toLowerCase();
  for (const c of certs) if (c.names.includes(name)) return c.context;
  const dot = name.indexOf('.');
  if (dot > 0) {
    const wild = `*${name.slice(dot)}`;
    for (const c of certs) if (c.names.includes(wild)) return c.context;
  }
  return certs[0]?.context;
}

/** Lines for `rpcgw check`: errors (the daemon would refuse to start) and warnings (expiry). */
export function checkCertificates(l: CompiledHttpsListener, nowMs: number): { errors: string[]; warnings: string[]; info: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  const info: string[] = [];
  let certs: LoadedCert[] = [];
  try {
    certs = loadCertificates(l);
  } catch (e) {
    errors.push((e as Error).message);
  }
  for (const c of certs) {
    const days = Math.floor((c.notAfter.getTime() - nowMs) / DAY_MS);
    info.push(`listener ${l.name}: ${c.cert} for ${c.names.join(', ') || '(no names)'}, key matches, expires ${c.notAfter.toISOString()} (${days} days)`);
    if (days < 0) errors.push(`listener "${l.name}": certificate ${c.cert} expired on ${c.notAfter.toISOString()}`);
    else if (days < EXPIRY_WARNING_DAYS) warnings.push(`listener "${l.name}": certificate ${c.cert} expires in ${days} days (${c.notAfter.toISOString()})`);
  }
  return { errors, warnings, info };
}

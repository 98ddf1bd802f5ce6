/**
 * What `rpcgw check` says about the HTTPS sections' files, without listening: each certificate
 * parses and its key matches (error otherwise), expiry within 30 days (warning) or past (error),
 * the users file has bcrypt entries, each backendCa parses.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { CompiledHttps } from '../policy/https.js';
import { checkCertificates } from './certs.js';
import { parseHtpasswd } from './users.js';

export interface HttpsCheck {
  errors: string[];
  warnings: string[];
  /** One line per listener, RPC proxy and published path: what would be served. */
  info: string[];
}

export function checkHttpsFiles(h: CompiledHttps | undefined, nowMs: number): HttpsCheck {
  const out: HttpsCheck = { errors: [], warnings: [], info: [] };
  if (h === undefined) return out;
  for (const l of h.listeners) {
    const c = checkCertificates(l, nowMs);
    out.errors.push(...c.errors);
    out.warnings.push(...c.warnings);
    out.info.push(...c.info);
    try {
      const u = parseHtpasswd(readFileSync(l.users, 'utf8'));
      for (const s of u.skipped) out.warnings.push(`listener "${l.name}": ${l.users} ${s}`);
      if (u.users.size === 0) out.errors.push(`listener "${l.name}": ${l.users} has no bcrypt user (create one with htpasswd -B)`);
      else out.info.push(`listener ${l.name}: ${u.users.size} user(s) in ${l.users}`);
    } catch (e) {
      out.errors.push(`listener "${l.name}": cannot read users file ${l.users}: ${(e as Error).message}`);
    }
  }
  for (const r of h.rpcOverHttp) {
    const ports = r.validPorts.map((v) => `${v.remoteNames.join('|')}:${v.ranges.map((x) => (x.lo === x.hi ? `${x.lo}` : `${x.lo}-${x.hi}`)).join(',')} -> ${v.server}`);
    out.info.push(`rpcOverHttp ${r.name}${r.enabled ? '' : ' (disabled)'} on ${r.listener}${r.path}: ${ports.join('; ')}; ${r.anyInterface ? 'any interface' : r.ifLabel.join(', ')}${r.requireEncryption ? '; packet privacy required' : ''}`);
  }
  for (const w of h.webPublishing) {
    try {
      new X509Certificate(readFileSync(w.backendCa, 'utf8'));
      out.info.push(`webPublishing ${w.name}${w.enabled ? '' : ' (disabled)'} on ${w.listener}: ${w.paths.join(', ')} -> ${w.backend.origin} (certificate checked against ${w.backendCa} for ${w.backendServerName})`);
    } catch (e) {
      out.errors.push(`webPublishing "${w.name}": backendCa ${w.backendCa} is not a readable PEM certificate: ${(e as Error).message}`);
    }
  }
  return out;
}

/**
 * The TLS side of an HTTPS listener on loopback: SNI among several certificates, the first as the
 * default, TLS 1.2 as the floor (and tlsMaxVersion as the ceiling), certificates re-read by
 * reloadCertificates (what SIGHUP calls), a broken file keeping the old ones.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import bcrypt from 'bcryptjs';
import { HttpsFrontend } from '../../src/https/frontend.js';
import { freeLoopbackPorts } from '../helpers/free-ports.js';
import { loadDoc, minimalDoc } from '../policy/helpers.js';

const haveOpenssl = spawnSync('openssl', ['version']).status === 0;
// Two listeners' ports, drawn in beforeAll: see free-ports.ts.
let PORT = 0;
let OLD_PORT = 0;
const records: { event?: string }[] = [];
const log = {
  info: (o: object) => records.push(o),
  warn: (o: object) => records.push(o),
  error: (o: object) => records.push(o),
  debug: () => {},
};

function handshake(opts: tls.ConnectionOptions): Promise<{ cn: string; fingerprint: string; protocol: string } | { error: string }> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', rejectUnauthorized: false, ...opts }, () => {
      const c = s.getPeerCertificate();
      resolve({ cn: String(c.subject?.CN ?? ''), fingerprint: c.fingerprint256, protocol: s.getProtocol() ?? '' });
      s.destroy();
    });
    s.on('error', (e) => resolve({ error: e.message }));
  });
}

describe.skipIf(!haveOpenssl)('HTTPS listener TLS: SNI, versions, reload', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rpcgw-https-tls-'));
  const p = (f: string): string => path.join(dir, f);
  const cert = (name: string, file: string): void => {
    spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-subj', `/CN=${name}`,
      '-addext', `subjectAltName=DNS:${name}`, '-keyout', p(`${file}.key`), '-out', p(`${file}.pem`)]);
  };
  let fe: HttpsFrontend;

  beforeAll(async () => {
    [PORT, OLD_PORT] = (await freeLoopbackPorts(2)) as [number, number];
    cert('a.test', 'a');
    cert('b.test', 'b');
    cert('a.test', 'a2');
    writeFileSync(p('users'), `u:${bcrypt.hashSync('pw', 4)}\n`);
    const doc = {
      ...minimalDoc(),
      httpsListeners: [
        { name: 'l', address: '127.0.0.1', port: PORT, users: p('users'),
          certificates: [{ cert: p('a.pem'), key: p('a.key') }, { cert: p('b.pem'), key: p('b.key') }] },
        { name: 'old', address: '127.0.0.1', port: OLD_PORT, users: p('users'), tlsMaxVersion: '1.2',
          certificates: [{ cert: p('b.pem'), key: p('b.key') }] },
      ],
    };
    fe = new HttpsFrontend(loadDoc(doc).rules.https!, log);
    await fe.start();
  });

  afterAll(async () => {
    await fe?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('picks the certificate by SNI, the first without SNI; TLS 1.1 is refused, 1.3 offered unless capped', async () => {
    expect(await handshake({ port: PORT, servername: 'b.test' })).toMatchObject({ cn: 'b.test', protocol: 'TLSv1.3' });
    expect(await handshake({ port: PORT, servername: 'a.test' })).toMatchObject({ cn: 'a.test' });
    expect(await handshake({ port: PORT })).toMatchObject({ cn: 'a.test' });
    expect(await handshake({ port: PORT, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' })).toHaveProperty('error');
    expect(await handshake({ port: OLD_PORT, servername: 'b.test' })).toMatchObject({ cn: 'b.test', protocol: 'TLSv1.2' });
  });

  it('reloadCertificates serves the new files; a broken file keeps the old certificates and is logged', async () => {
    const before = await handshake({ port: PORT, servername: 'a.test' });
    copyFileSync(p('a2.pem'), p('a.pem'));
    copyFileSync(p('a2.key'), p('a.key'));
    fe.reloadCertificates();
    const after = await handshake({ port: PORT, servername: 'a.test' });
    expect('fingerprint' in after && 'fingerprint' in before && after.fingerprint !== before.fingerprint).toBe(true);
    expect(records.some((r) => r.event === 'certificates-reloaded')).toBe(true);
    writeFileSync(p('a.pem'), 'not a certificate\n');
    fe.reloadCertificates();
    expect(records.some((r) => r.event === 'certificates-reload-refused')).toBe(true);
    expect(await handshake({ port: PORT, servername: 'a.test' })).toMatchObject({ fingerprint: (after as { fingerprint: string }).fingerprint });
  });
});
